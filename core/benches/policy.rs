//! Environment policy benchmark: what the api, the planner and the freeze worker pay per
//! question.
//!
//! Run: `cargo bench -p boreas-core --bench policy`. Prints min/median/max microseconds of
//! - `closed` for a weekly window in Europe/Berlin (64 h from Friday 16:00), at 200 instants
//!   spread over a year, against a naive scan that converts every minute of the past 64 h to
//!   local time (the obvious alternative) at the same instants, as a ratio;
//! - `closed` for a window that never lets go (`* * * * *`, 1 h), which walks its 1,000
//!   back-to-back periods before it gives up: the worst case;
//! - `eligibility` of a version against 1,000 recorded deployments in two upstream environments.

use std::hint::black_box;
use std::time::Instant;

use boreas_core::config::{DurationSpec, OnRunning, Promotion};
use boreas_core::deployment::DeploymentStatus;
use boreas_core::policy::{Recurrence, Run, Schedule, Step, Window, closed, eligibility, zone};
use jiff::{SignedDuration, Timestamp};

const RUNS: usize = 25;

fn window(rule: &str, minutes: i64) -> Window {
    let recurrence = if rule.contains('=') {
        Recurrence::rrule(rule)
    } else {
        Recurrence::cron(rule)
    }
    .expect("a valid rule");
    Window {
        name: "w".into(),
        reason: "bench".into(),
        environments: vec!["prod".into()],
        apps: Vec::new(),
        blocks_start: true,
        blocks_batches: true,
        on_running: OnRunning::Pause,
        schedule: Schedule::Recurring {
            recurrence,
            zone: zone("Europe/Berlin").expect("a zone"),
            duration: SignedDuration::from_mins(minutes),
        },
    }
}

/// Microseconds per call of `f` over `instants`: min, median, max of [`RUNS`] rounds.
fn measure(instants: &[Timestamp], mut f: impl FnMut(Timestamp)) -> (f64, f64, f64) {
    let mut us: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            for t in instants {
                f(*t);
            }
            start.elapsed().as_secs_f64() * 1e6 / instants.len() as f64
        })
        .collect();
    us.sort_by(f64::total_cmp);
    (us[0], us[us.len() / 2], us[us.len() - 1])
}

fn report(label: &str, (min, median, max): (f64, f64, f64)) {
    println!("{label:<58} min {min:>9.1} µs   median {median:>9.1} µs   max {max:>9.1} µs");
}

fn main() {
    let start = Timestamp::from_second(1_798_761_600).expect("2027-01-01");
    let instants: Vec<Timestamp> = (0..200)
        .map(|i| start + SignedDuration::from_secs(i * 157_680 + 3_600 * (i % 24)))
        .collect();
    let weekend = [window("FREQ=WEEKLY;BYDAY=FR;BYHOUR=16", 64 * 60)];
    let ours = measure(&instants, |t| {
        black_box(closed(&weekend, "prod", &["api"], Step::Start, t));
    });
    report("closed, weekly window (Europe/Berlin, 64 h)", ours);
    // The naive alternative: is any minute of the last 64 h a local Friday 16:00?
    let berlin = zone("Europe/Berlin").expect("a zone");
    let naive = measure(&instants, |t| {
        let hit = (0..64 * 60).any(|m| {
            let local = (t - SignedDuration::from_mins(m)).to_zoned_datetime(berlin.clone());
            local.weekday() == jiff::civil::Weekday::Friday
                && local.hour() == 16
                && local.minute() == 0
        });
        black_box(hit);
    });
    report("naive minute scan of the same window", naive);
    println!("ratio naive / closed (median): {:.0}", naive.1 / ours.1);

    let never = [window("* * * * *", 60)];
    report(
        "closed, a window that never lets go (1,000 periods)",
        measure(&instants[..20], |t| {
            black_box(closed(&never, "prod", &["api"], Step::Start, t));
        }),
    );

    let promotion = Promotion {
        after: vec!["staging".into(), "qa".into()],
        soak: Some(DurationSpec(3600)),
    };
    let runs: Vec<Run> = (0..1_000)
        .map(|i: i64| Run {
            environment: if i % 2 == 0 { "staging" } else { "qa" }.into(),
            version: format!("v{}", i % 50),
            status: DeploymentStatus::ALL[usize::try_from(i % 7).expect("small")],
            started_at: Some(start + SignedDuration::from_mins(i)),
            finished_at: Some(start + SignedDuration::from_mins(i + 5)),
        })
        .collect();
    report(
        "eligibility against 1,000 recorded deployments",
        measure(&instants, |t| {
            black_box(eligibility(&promotion, "v7", false, &runs, &[], t));
        }),
    );
}
