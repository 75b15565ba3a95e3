//! Freeze windows and promotion as pure functions: worked examples (daylight-saving changes,
//! midnight and year ends, overlaps) and properties checked against brute-force enumeration.

use jiff::civil::{Date, date};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::*;
use crate::config::{DurationSpec, Freeze, FreezeBlock, OnRunning, Promotion};
use crate::deployment::DeploymentStatus;

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn recurring(rule: &str, zone_name: &str, hours: i64) -> Schedule {
    let recurrence = if rule.contains('=') {
        Recurrence::rrule(rule)
    } else {
        Recurrence::cron(rule)
    }
    .unwrap_or_else(|e| panic!("{rule}: {e}"));
    Schedule::Recurring {
        recurrence,
        zone: zone(zone_name).unwrap_or_else(|e| panic!("{e}")),
        duration: SignedDuration::from_hours(hours),
    }
}

fn span(start: &str, end: &str) -> Option<Interval> {
    Some(Interval {
        start: ts(start),
        end: ts(end),
    })
}

fn window(name: &str, schedule: Schedule, on_running: OnRunning) -> Window {
    Window {
        name: name.to_owned(),
        reason: format!("{name} reason"),
        environments: vec!["prod".to_owned()],
        apps: Vec::new(),
        blocks_start: true,
        blocks_batches: on_running != OnRunning::Finish,
        on_running,
        schedule,
    }
}

// ---- recurrences ----

#[test]
fn cron_reads_names_ranges_steps_and_macros() {
    let r = Recurrence::cron("0 16 * * FRI").unwrap();
    assert!(r.matches_date(date(2026, 12, 4)), "a Friday");
    assert!(!r.matches_date(date(2026, 12, 5)));
    assert_eq!(r.times().collect::<Vec<_>>(), vec![(16, 0)]);

    let r = Recurrence::cron("*/20 9-10 * * 1-5").unwrap();
    assert_eq!(
        r.times().collect::<Vec<_>>(),
        vec![(9, 0), (9, 20), (9, 40), (10, 0), (10, 20), (10, 40)]
    );
    assert!(r.matches_date(date(2026, 12, 7)), "Monday");
    assert!(!r.matches_date(date(2026, 12, 6)), "Sunday");

    // Sunday is 0 and 7.
    for sunday in ["0 0 * * 0", "0 0 * * 7", "0 0 * * sun", "@weekly"] {
        let r = Recurrence::cron(sunday).unwrap();
        assert!(r.matches_date(date(2026, 12, 6)), "{sunday}");
        assert!(!r.matches_date(date(2026, 12, 7)), "{sunday}");
    }
    let r = Recurrence::cron("0 0 24-31 DEC *").unwrap();
    assert!(r.matches_date(date(2026, 12, 24)) && !r.matches_date(date(2026, 11, 24)));
}

#[test]
fn cron_with_both_day_fields_matches_either_as_cron_does() {
    // The 1st of the month or any Monday.
    let r = Recurrence::cron("0 0 1 * MON").unwrap();
    assert!(r.matches_date(date(2026, 12, 1)), "the 1st, a Tuesday");
    assert!(r.matches_date(date(2026, 12, 7)), "a Monday");
    assert!(!r.matches_date(date(2026, 12, 8)));
}

#[test]
fn bad_cron_expressions_say_what_is_wrong() {
    let e = |t: &str| Recurrence::cron(t).unwrap_err();
    assert_eq!(e("61 * * * *"), "minute field: 61 is out of range 0-59");
    assert!(e("0 0 * *").contains("5 fields"), "{}", e("0 0 * *"));
    assert!(e("0 0 30 2 *").contains("never matches a real date"));
    assert!(e("@fortnightly").contains("unknown cron macro"));
    assert!(e("0 17-9 * * *").contains("runs backwards"));
    assert!(e("*/0 * * * *").contains("step"));
    assert!(e("0 0 * * FUN").contains("day-of-week field"));
    // 29 February exists.
    assert!(Recurrence::cron("0 0 29 2 *").is_ok());
}

#[test]
fn rrules_need_what_dtstart_would_give_and_refuse_counting_rules() {
    let r = Recurrence::rrule("RRULE:FREQ=WEEKLY;BYDAY=FR,SA;BYHOUR=16;BYMINUTE=30").unwrap();
    assert!(r.matches_date(date(2026, 12, 4)) && r.matches_date(date(2026, 12, 5)));
    assert!(!r.matches_date(date(2026, 12, 6)));
    assert_eq!(r.times().collect::<Vec<_>>(), vec![(16, 30)]);
    // BYHOUR and BYMINUTE default to midnight; HOURLY to every hour on the minute.
    assert_eq!(Recurrence::rrule("FREQ=DAILY").unwrap().times().count(), 1);
    assert_eq!(
        Recurrence::rrule("FREQ=HOURLY;BYMINUTE=5")
            .unwrap()
            .times()
            .count(),
        24
    );
    let e = |t: &str| Recurrence::rrule(t).unwrap_err();
    assert!(e("FREQ=WEEKLY").contains("needs BYDAY"));
    assert!(e("FREQ=MONTHLY;BYHOUR=3").contains("needs BYMONTHDAY or BYDAY"));
    assert!(e("FREQ=YEARLY;BYMONTHDAY=1").contains("needs BYMONTH"));
    assert!(e("FREQ=WEEKLY;BYDAY=FR;INTERVAL=2").contains("INTERVAL above 1"));
    assert!(e("FREQ=DAILY;COUNT=3").contains("COUNT is not supported"));
    assert!(e("FREQ=MONTHLY;BYDAY=-1FR").contains("ordinal BYDAY"));
    assert!(e("FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=31").contains("never matches"));
    assert!(e("FREQ=DAILY;BYHOUR=24").contains("BYHOUR: 24 is out of range 0-23"));
    assert!(e("BYDAY=FR").contains("needs FREQ"));
    assert!(e("FREQ=MINUTELY").contains("too frequent"));
    assert!(e("FREQ=DAILY;FREQ=DAILY").contains("twice"));
    assert!(e("FREQ=DAILY;BYDAY=XX").contains("not a weekday"));
}

// ---- windows in time ----

#[test]
fn a_weekend_freeze_in_berlin_starts_at_local_evening_and_lasts_elapsed_time() {
    let s = recurring("FREQ=WEEKLY;BYDAY=FR;BYHOUR=18", "Europe/Berlin", 62);
    // Winter: 18:00 CET is 17:00Z; 62 hours later is Monday 08:00 CET.
    let weekend = span("2026-12-04T17:00:00Z", "2026-12-07T07:00:00Z");
    assert_eq!(s.covering(ts("2026-12-04T17:00:00Z")), weekend);
    assert_eq!(s.covering(ts("2026-12-06T12:00:00Z")), weekend);
    assert_eq!(s.covering(ts("2026-12-04T16:59:59Z")), None);
    assert_eq!(
        s.covering(ts("2026-12-07T07:00:00Z")),
        None,
        "the end is open"
    );
    assert_eq!(
        s.next_start(ts("2026-12-04T17:00:00Z")),
        Some(ts("2026-12-11T17:00:00Z"))
    );
    // Over the spring change (29 March 2027) the end is 62 elapsed hours: 09:00 CEST.
    assert_eq!(
        s.covering(ts("2027-03-28T12:00:00Z")),
        span("2027-03-26T17:00:00Z", "2027-03-29T07:00:00Z")
    );
    // In summer 18:00 CEST is 16:00Z.
    assert_eq!(
        s.next_start(ts("2027-06-01T00:00:00Z")),
        Some(ts("2027-06-04T16:00:00Z"))
    );
}

#[test]
fn a_start_skipped_by_the_clocks_moving_forward_starts_when_they_have_and_a_repeated_one_at_the_first()
 {
    let s = recurring("30 2 * * *", "Europe/Berlin", 1);
    // 28 March 2027: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist and becomes 03:30 CEST.
    assert_eq!(
        s.next_start(ts("2027-03-28T00:00:00Z")),
        Some(ts("2027-03-28T01:30:00Z"))
    );
    // 25 October 2026: 02:30 happens twice; the window starts at the first (CEST, 00:30Z).
    assert_eq!(
        s.next_start(ts("2026-10-25T00:00:00Z")),
        Some(ts("2026-10-25T00:30:00Z"))
    );
    assert_eq!(
        s.covering(ts("2026-10-25T01:15:00Z")),
        span("2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z")
    );
    // The southern hemisphere changes the other way round: Sydney moves forward on 4 October 2026.
    let s = recurring("30 2 * * *", "Australia/Sydney", 1);
    assert_eq!(
        s.next_start(ts("2026-10-03T14:00:00Z")),
        Some(ts("2026-10-03T16:30:00Z")),
        "02:30 AEST does not exist; 03:30 AEDT is 16:30Z"
    );
}

#[test]
fn windows_cross_midnight_and_the_year_end() {
    let s = recurring("0 22 * * *", "UTC", 4);
    assert_eq!(
        s.covering(ts("2026-12-08T01:00:00Z")),
        span("2026-12-07T22:00:00Z", "2026-12-08T02:00:00Z")
    );
    assert_eq!(s.covering(ts("2026-12-08T02:00:00Z")), None);

    // New Year's Eve from 22:00 in New York, for 14 days, into next year.
    let s = recurring(
        "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=31;BYHOUR=22",
        "America/New_York",
        14 * 24,
    );
    let new_year = span("2027-01-01T03:00:00Z", "2027-01-15T03:00:00Z");
    assert_eq!(s.covering(ts("2027-01-01T04:00:00Z")), new_year);
    assert_eq!(s.covering(ts("2027-01-10T00:00:00Z")), new_year);
    assert_eq!(
        s.next_start(ts("2027-01-10T00:00:00Z")),
        Some(ts("2028-01-01T03:00:00Z"))
    );
    // A leap day is found four years on.
    let s = recurring("0 0 29 2 *", "UTC", 24);
    assert_eq!(
        s.next_start(ts("2028-03-01T00:00:00Z")),
        Some(ts("2032-02-29T00:00:00Z"))
    );
}

#[test]
fn overlapping_and_chained_windows_open_when_the_last_has_ended() {
    let morning = window(
        "morning",
        recurring("0 9 * * *", "UTC", 3),
        OnRunning::Pause,
    );
    let noon = window("noon", recurring("0 11 * * *", "UTC", 3), OnRunning::Pause);
    // Back to back with `noon`: starts when it ends.
    let afternoon = window(
        "afternoon",
        recurring("0 14 * * *", "UTC", 1),
        OnRunning::Pause,
    );
    let all = [morning, noon, afternoon];
    let c = closed(
        &all,
        "prod",
        &["api"],
        Step::Start,
        ts("2026-12-07T10:00:00Z"),
    )
    .unwrap();
    assert_eq!(
        c.by.iter()
            .map(|(w, _)| w.name.as_str())
            .collect::<Vec<_>>(),
        ["morning"]
    );
    assert_eq!(c.opens_at, Some(ts("2026-12-07T15:00:00Z")));
    let c = closed(
        &all,
        "prod",
        &["api"],
        Step::Start,
        ts("2026-12-07T11:30:00Z"),
    )
    .unwrap();
    assert_eq!(c.by.len(), 2, "both morning and noon");
    assert_eq!(
        closed(
            &all,
            "prod",
            &["api"],
            Step::Start,
            ts("2026-12-07T15:00:00Z")
        ),
        None
    );
    assert_eq!(
        closed(
            &all,
            "staging",
            &["api"],
            Step::Start,
            ts("2026-12-07T10:00:00Z")
        ),
        None
    );
    let (next, at) = next_closing(
        &all,
        "prod",
        &["api"],
        Step::Start,
        ts("2026-12-07T15:00:00Z"),
    )
    .unwrap();
    assert_eq!(
        (next.name.as_str(), at),
        ("morning", ts("2026-12-08T09:00:00Z"))
    );
}

#[test]
fn an_app_scoped_window_closes_only_deployments_that_change_its_apps() {
    let mut w = window("api-only", recurring("@daily", "UTC", 24), OnRunning::Pause);
    w.apps = vec!["api".to_owned()];
    let all = [w];
    let t = ts("2026-12-07T10:00:00Z");
    assert!(closed(&all, "prod", &["web", "api"], Step::Start, t).is_some());
    assert!(closed(&all, "prod", &["web"], Step::Start, t).is_none());
    assert_eq!(at_batch(&all, "prod", "web", t, None), AtBatch::Proceed);
}

#[test]
fn at_a_batch_abort_wins_over_pause_finish_never_stops_and_an_override_lets_it_through() {
    let t = ts("2026-12-07T10:00:00Z");
    let pause = window("pause", recurring("0 9 * * *", "UTC", 2), OnRunning::Pause);
    let abort = window("abort", recurring("0 10 * * *", "UTC", 1), OnRunning::Abort);
    let finish = window(
        "finish",
        recurring("0 8 * * *", "UTC", 8),
        OnRunning::Finish,
    );

    let only_finish = [finish.clone()];
    assert_eq!(
        at_batch(&only_finish, "prod", "api", t, None),
        AtBatch::Proceed
    );

    let paused = [finish.clone(), pause.clone()];
    match at_batch(&paused, "prod", "api", t, None) {
        AtBatch::Pause { windows, until } => {
            assert_eq!(
                windows.iter().map(|w| w.name.as_str()).collect::<Vec<_>>(),
                ["pause"]
            );
            // The `finish` window does not hold a running deployment back.
            assert_eq!(until, Some(ts("2026-12-07T11:00:00Z")));
        }
        other => panic!("{other:?}"),
    }
    let all = [finish, pause, abort];
    assert!(matches!(
        at_batch(&all, "prod", "api", t, None),
        AtBatch::Abort { window } if window.name == "abort"
    ));
    assert_eq!(
        at_batch(&all, "prod", "api", t, Some(ts("2026-12-07T10:00:01Z"))),
        AtBatch::Proceed
    );
    assert!(
        matches!(
            at_batch(&all, "prod", "api", t, Some(t)),
            AtBatch::Abort { .. }
        ),
        "an override that has expired lets nothing through"
    );
}

#[test]
fn a_window_that_never_lets_go_has_no_opening_in_reach() {
    let always = window("always", recurring("* * * * *", "UTC", 1), OnRunning::Pause);
    let all = [always];
    let c = closed(
        &all,
        "prod",
        &["api"],
        Step::Start,
        ts("2026-12-07T10:00:00Z"),
    )
    .unwrap();
    assert_eq!(c.opens_at, None);
}

// ---- declared windows ----

fn freeze() -> Freeze {
    Freeze {
        name: "year-end".to_owned(),
        reason: "year-end".to_owned(),
        environments: vec!["prod".to_owned()],
        apps: Vec::new(),
        timezone: "Europe/Berlin".to_owned(),
        rrule: None,
        cron: None,
        duration: None,
        from: Some("2026-12-23T18:00".to_owned()),
        until: Some("2027-01-04T08:00:00+01:00".to_owned()),
        blocks: vec![FreezeBlock::Start, FreezeBlock::Batches],
        running: None,
    }
}

#[test]
fn a_one_off_window_reads_local_times_in_its_zone_and_offsets_as_written() {
    let w = freeze().window().unwrap();
    assert_eq!(
        w.schedule,
        Schedule::Once(Interval {
            start: ts("2026-12-23T17:00:00Z"),
            end: ts("2027-01-04T07:00:00Z"),
        })
    );
    assert_eq!(
        w.on_running,
        OnRunning::Pause,
        "the default when batches are blocked"
    );
    let mut start_only = freeze();
    start_only.blocks = vec![FreezeBlock::Start];
    assert_eq!(start_only.window().unwrap().on_running, OnRunning::Finish);
}

#[test]
fn contradictory_or_incomplete_windows_name_the_field_at_fault() {
    let err = |edit: fn(&mut Freeze)| {
        let mut f = freeze();
        edit(&mut f);
        let e = f.window().unwrap_err();
        format!("{}: {}", e.field, e.message)
    };
    assert!(
        err(|f| f.timezone = "Europe/Berln".into())
            .starts_with("timezone: \"Europe/Berln\" is not an IANA time zone")
    );
    // The database's names are matched without regard to case.
    assert!(zone("europe/berlin").is_ok());
    assert!(
        err(|f| f.until = Some("2026-12-01T00:00".into()))
            .starts_with("until: \"2026-12-01T00:00\" is not after `from`")
    );
    assert!(
        err(|f| f.from = Some("next friday".into()))
            .starts_with("from: \"next friday\" is not a date and time")
    );
    assert!(err(|f| f.until = None).starts_with("until: give `rrule` or `cron`"));
    assert!(err(|f| f.rrule = Some("FREQ=DAILY".into())).starts_with("from: a recurring window"));
    assert!(err(|f| f.duration = Some(DurationSpec(60))).starts_with("duration: a one-off window"));
    assert!(
        err(|f| {
            f.from = None;
            f.until = None;
            f.cron = Some("0 18 * * 5".into());
        })
        .starts_with("duration: a recurring window needs a `duration`")
    );
    assert!(
        err(|f| {
            f.from = None;
            f.until = None;
            f.cron = Some("0 18 * * 5".into());
            f.rrule = Some("FREQ=DAILY".into());
        })
        .starts_with("cron: give either")
    );
    assert!(
        err(|f| {
            f.from = None;
            f.until = None;
            f.rrule = Some("FREQ=WEEKLY".into());
            f.duration = Some(DurationSpec(60));
        })
        .starts_with("rrule: FREQ=WEEKLY needs BYDAY")
    );
    assert!(
        err(|f| {
            f.blocks = vec![FreezeBlock::Start];
            f.running = Some(OnRunning::Abort);
        })
        .starts_with("running: running deployments stop only at batch boundaries")
    );
    assert!(err(|f| f.running = Some(OnRunning::Finish)).starts_with("running: `running: finish`"));
}

// ---- promotion ----

fn run(
    env: &str,
    version: &str,
    status: DeploymentStatus,
    started: &str,
    finished: Option<&str>,
) -> Run {
    Run {
        environment: env.to_owned(),
        version: version.to_owned(),
        status,
        started_at: Some(ts(started)),
        finished_at: finished.map(ts),
    }
}

fn after(envs: &[&str], soak_secs: Option<u64>) -> Promotion {
    Promotion {
        after: envs.iter().map(|e| (*e).to_owned()).collect(),
        soak: soak_secs.map(DurationSpec),
    }
}

fn reasons(e: &Eligibility) -> Vec<String> {
    match e {
        Eligibility::Waiting(w) => w.iter().map(|w| format!("{}: {w}", w.condition)).collect(),
        other => vec![format!("{other:?}")],
    }
}

#[test]
fn prod_waits_for_staging_to_run_succeed_and_soak() {
    use DeploymentStatus::*;
    let policy = after(&["staging"], Some(3600));
    let now = ts("2026-12-07T13:30:00Z");
    let e = |runs: &[Run]| eligibility(&policy, "v2", false, runs, &[], now);
    assert_eq!(
        reasons(&e(&[])),
        [
            "after:staging: waits for staging: not deployed there yet",
            "soak:staging: waits for staging: no success there to soak from"
        ]
    );
    let running = run("staging", "v2", Running, "2026-12-07T13:00:00Z", None);
    assert_eq!(
        reasons(&e(&[running]))[0],
        "after:staging: waits for staging: running"
    );
    let ok = run(
        "staging",
        "v2",
        Succeeded,
        "2026-12-07T13:00:00Z",
        Some("2026-12-07T13:05:00Z"),
    );
    let soaking = e(std::slice::from_ref(&ok));
    assert_eq!(
        reasons(&soaking),
        ["soak:staging: soaking in staging until 2026-12-07 14:05 UTC"]
    );
    assert_eq!(soaking.ready_at(), Some(ts("2026-12-07T14:05:00Z")));
    assert_eq!(
        eligibility(
            &policy,
            "v2",
            false,
            std::slice::from_ref(&ok),
            &[],
            ts("2026-12-07T14:05:00Z")
        ),
        Eligibility::Eligible
    );
    // Another version went out to staging during the soak: v2 did not stay.
    let v3 = run("staging", "v3", Running, "2026-12-07T13:20:00Z", None);
    assert_eq!(
        reasons(&e(&[ok.clone(), v3])),
        ["soak:staging: blocked by staging: v3 replaced it there before its soak ended"]
    );
    // A later rollback of v2 in staging takes back its success.
    let rolled = run(
        "staging",
        "v2",
        RolledBack,
        "2026-12-07T13:10:00Z",
        Some("2026-12-07T13:12:00Z"),
    );
    assert_eq!(
        reasons(&e(&[ok.clone(), rolled]))[0],
        "after:staging: blocked by staging: rolled_back there"
    );
    assert_eq!(
        eligibility(&policy, "v2", true, &[ok], &[], now),
        Eligibility::Reverted
    );
}

#[test]
fn a_waiver_lifts_exactly_the_condition_it_names() {
    use DeploymentStatus::*;
    let policy = after(&["staging", "qa"], Some(3600));
    let now = ts("2026-12-07T13:30:00Z");
    let runs = [
        run(
            "staging",
            "v2",
            Succeeded,
            "2026-12-07T13:00:00Z",
            Some("2026-12-07T13:05:00Z"),
        ),
        run(
            "qa",
            "v2",
            Failed,
            "2026-12-07T13:00:00Z",
            Some("2026-12-07T13:05:00Z"),
        ),
    ];
    let soak: Condition = "soak:staging".parse().unwrap();
    let e = eligibility(
        &policy,
        "v2",
        false,
        &runs,
        std::slice::from_ref(&soak),
        now,
    );
    assert_eq!(
        reasons(&e),
        [
            "after:qa: blocked by qa: failed there",
            "soak:qa: waits for qa: no success there to soak from"
        ]
    );
    assert_eq!(e.ready_at(), None, "waiting for an event, not a timer");
    assert!("soak:Staging".parse::<Condition>().is_err());
    assert!("during:staging".parse::<Condition>().is_err());
}

fn arb_status() -> impl Strategy<Value = DeploymentStatus> {
    prop::sample::select(DeploymentStatus::ALL.to_vec())
}

fn arb_run() -> impl Strategy<Value = Run> {
    (
        prop::sample::select(vec!["staging", "qa", "prod"]),
        prop::sample::select(vec!["v1", "v2", "v3"]),
        arb_status(),
        0i64..20_000,
        0i64..20_000,
    )
        .prop_map(|(env, version, status, start, took)| {
            let started = Timestamp::from_second(1_800_000_000 + start).unwrap();
            let finished = started
                .checked_add(SignedDuration::from_secs(took))
                .unwrap();
            Run {
                environment: env.to_owned(),
                version: version.to_owned(),
                status,
                started_at: (status != DeploymentStatus::Planned).then_some(started),
                finished_at: (!matches!(
                    status,
                    DeploymentStatus::Planned | DeploymentStatus::Running
                ))
                .then_some(finished),
            }
        })
}

fn arb_condition() -> impl Strategy<Value = Condition> {
    (any::<bool>(), prop::sample::select(vec!["staging", "qa"])).prop_map(|(soak, env)| {
        if soak {
            Condition::Soaked(env.to_owned())
        } else {
            Condition::Succeeded(env.to_owned())
        }
    })
}

proptest! {
    #[test]
    fn waivers_remove_only_what_they_name_and_eligibility_rests_on_a_soaked_success(
        runs in prop::collection::vec(arb_run(), 0..12),
        waived in prop::collection::vec(arb_condition(), 0..3),
        soak in prop::option::of(0u64..5000),
        at in 0i64..40_000,
    ) {
        let policy = after(&["staging", "qa"], soak);
        let now = Timestamp::from_second(1_800_000_000 + at).unwrap();
        // History as recorded by `now`, so that "nothing else happening" holds from there on.
        let runs: Vec<Run> = runs
            .into_iter()
            .filter(|r| r.started_at.is_none_or(|s| s <= now))
            .map(|mut r| {
                if r.finished_at.is_some_and(|f| f > now) {
                    r.finished_at = None;
                    r.status = DeploymentStatus::Running;
                }
                r
            })
            .collect();
        let all = eligibility(&policy, "v2", false, &runs, &[], now);
        let lifted = eligibility(&policy, "v2", false, &runs, &waived, now);
        let unmet = |e: &Eligibility| match e {
            Eligibility::Waiting(w) => w.clone(),
            _ => Vec::new(),
        };
        let expected: Vec<Waiting> = unmet(&all).into_iter().filter(|w| !waived.contains(&w.condition)).collect();
        prop_assert_eq!(unmet(&lifted), expected);
        if all == Eligibility::Eligible {
            for env in ["staging", "qa"] {
                let success = runs.iter().filter(|r| r.environment == env && r.version == "v2" && r.status == DeploymentStatus::Succeeded)
                    .filter_map(|r| r.finished_at)
                    .max();
                prop_assert!(success.is_some(), "eligible without a success in {}", env);
                let soak = SignedDuration::from_secs(i64::try_from(soak.unwrap_or(0)).unwrap());
                prop_assert!(success.unwrap().checked_add(soak).unwrap() <= now);
                // Nothing of v2 failed there after that success.
                prop_assert!(!runs.iter().any(|r| r.environment == env && r.version == "v2"
                    && matches!(r.status, DeploymentStatus::Failed | DeploymentStatus::RolledBack)
                    && r.finished_at > success));
            }
        }
        // A timer answer is a promise: with nothing else happening it is eligible then, not before.
        if let Some(ready) = all.ready_at() {
            prop_assert!(ready > now);
            prop_assert_eq!(eligibility(&policy, "v2", false, &runs, &[], ready), Eligibility::Eligible);
            let before = ready.checked_sub(SignedDuration::from_secs(1)).unwrap();
            prop_assert!(eligibility(&policy, "v2", false, &runs, &[], before) != Eligibility::Eligible);
        }
    }
}

// ---- windows against brute force ----

const ZONES: [&str; 7] = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "Europe/Dublin",
];

fn values(max: u32, most: usize) -> impl Strategy<Value = Vec<u32>> {
    prop::collection::btree_set(0..=max, 1..=most).prop_map(|s| s.into_iter().collect())
}

fn list(vs: &[u32]) -> String {
    vs.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// A cron expression over explicit value lists, and the sets it stands for.
#[derive(Debug, Clone)]
struct Cron {
    text: String,
    month_days: Option<Vec<u32>>,
    months: Option<Vec<u32>>,
    weekdays: Option<Vec<u32>>,
}

fn arb_cron() -> impl Strategy<Value = Cron> {
    (
        values(59, 2),
        values(23, 2),
        prop::option::of(values(30, 3)),
        prop::option::of(values(11, 3)),
        prop::option::of(values(6, 3)),
    )
        .prop_filter_map("never occurs", |(ms, hs, days, months, weekdays)| {
            let days = days.map(|d| d.iter().map(|d| d + 1).collect::<Vec<_>>());
            let months = months.map(|m| m.iter().map(|m| m + 1).collect::<Vec<_>>());
            let field = |v: &Option<Vec<u32>>| v.as_deref().map_or("*".to_owned(), list);
            let text = format!(
                "{} {} {} {} {}",
                list(&ms),
                list(&hs),
                field(&days),
                field(&months),
                field(&weekdays)
            );
            Recurrence::cron(&text).ok().map(|_| Cron {
                text,
                month_days: days,
                months,
                weekdays,
            })
        })
}

fn arb_instant() -> impl Strategy<Value = Timestamp> {
    // 2020 to 2035.
    (1_577_836_800i64..2_082_758_400).prop_map(|s| Timestamp::from_second(s).unwrap())
}

/// Every start on the local days from `first` to `last`, by direct enumeration.
fn starts(r: &Recurrence, zone: &TimeZone, first: Date, last: Date) -> Vec<Timestamp> {
    let mut out = Vec::new();
    let mut day = first;
    while day <= last {
        if r.matches_date(day) {
            for h in 0..24 {
                for m in 0..60 {
                    if r.times().any(|t| t == (h, m)) {
                        out.push(
                            zone.to_ambiguous_timestamp(day.at(h, m, 0, 0))
                                .compatible()
                                .unwrap(),
                        );
                    }
                }
            }
        }
        day = day.tomorrow().unwrap();
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn cron_days_follow_the_fields_with_either_day_when_both_are_set(
        cron in arb_cron(),
        days in 0i64..3000,
    ) {
        let r = Recurrence::cron(&cron.text).unwrap();
        let d = date(2024, 1, 1).checked_add(jiff::Span::new().days(days)).unwrap();
        let has = |set: &Option<Vec<u32>>, v: u32| set.as_ref().is_none_or(|s| s.contains(&v));
        let weekday = u32::try_from(d.weekday().to_sunday_zero_offset()).unwrap();
        let month = has(&cron.months, u32::try_from(d.month()).unwrap());
        let day = has(&cron.month_days, u32::try_from(d.day()).unwrap());
        let dow = has(&cron.weekdays, weekday);
        let expected = month && if cron.month_days.is_some() && cron.weekdays.is_some() {
            day || dow
        } else {
            day && dow
        };
        prop_assert_eq!(r.matches_date(d), expected, "{} on {}", cron.text, d);
    }

    #[test]
    fn covering_and_next_start_agree_with_every_start_enumerated(
        cron in arb_cron(),
        zone_name in prop::sample::select(ZONES.to_vec()),
        minutes in 1i64..(72 * 60),
        t in arb_instant(),
    ) {
        let zone = zone(zone_name).unwrap();
        let recurrence = Recurrence::cron(&cron.text).unwrap();
        let duration = SignedDuration::from_mins(minutes);
        let schedule = Schedule::Recurring { recurrence: recurrence.clone(), zone: zone.clone(), duration };
        let day = |x: Timestamp| x.to_zoned_datetime(zone.clone()).date();
        let all = starts(
            &recurrence,
            &zone,
            day(t.checked_sub(duration).unwrap()).checked_sub(jiff::Span::new().days(3)).unwrap(),
            day(t).tomorrow().unwrap(),
        );
        let expected = all
            .iter()
            .filter(|s| **s <= t && t < s.checked_add(duration).unwrap())
            .max()
            .map(|s| Interval { start: *s, end: s.checked_add(duration).unwrap() });
        prop_assert_eq!(schedule.covering(t), expected);

        if let Some(next) = schedule.next_start(t) {
            prop_assert!(next > t);
            let between = starts(&recurrence, &zone, day(t).yesterday().unwrap(), day(next).tomorrow().unwrap());
            prop_assert_eq!(between.iter().filter(|s| **s > t).min(), Some(&next));
        }
    }

    #[test]
    fn a_closed_step_stays_closed_until_it_opens_and_is_open_then(
        crons in prop::collection::vec((arb_cron(), 1i64..(30 * 60)), 1..4),
        zone_name in prop::sample::select(ZONES.to_vec()),
        t in arb_instant(),
    ) {
        let windows: Vec<Window> = crons
            .iter()
            .enumerate()
            .map(|(i, (c, minutes))| Window {
                name: format!("w{i}"),
                reason: String::new(),
                environments: vec!["prod".to_owned()],
                apps: Vec::new(),
                blocks_start: true,
                blocks_batches: true,
                on_running: OnRunning::Pause,
                schedule: Schedule::Recurring {
                    recurrence: Recurrence::cron(&c.text).unwrap(),
                    zone: zone(zone_name).unwrap(),
                    duration: SignedDuration::from_mins(*minutes),
                },
            })
            .collect();
        let covered = |at: Timestamp| windows.iter().any(|w| w.schedule.covering(at).is_some());
        match closed(&windows, "prod", &["api"], Step::Start, t) {
            None => prop_assert!(!covered(t)),
            Some(c) => {
                prop_assert!(!c.by.is_empty());
                for (_, i) in &c.by {
                    prop_assert!(i.contains(t));
                }
                let Some(opens) = c.opens_at else {
                    // Windows that overlap for ever: then every moment ahead is covered.
                    for k in 0..200 {
                        let at = t.checked_add(SignedDuration::from_hours(k * 4)).unwrap();
                        prop_assert!(covered(at), "no opening found, but open at {}", at);
                    }
                    return Ok(());
                };
                prop_assert!(opens > t);
                prop_assert!(!covered(opens));
                let length = opens.duration_since(t).as_secs();
                for k in 0..50 {
                    let at = t.checked_add(SignedDuration::from_secs(length * k / 50)).unwrap();
                    prop_assert!(covered(at), "open at {} before {}", at, opens);
                }
                let just_before = opens.checked_sub(SignedDuration::from_secs(1)).unwrap();
                prop_assert!(covered(just_before));
            }
        }
    }
}

#[test]
fn rechecks_read_back_and_are_told_from_plan_jobs() {
    let r = Recheck::new("github.com/acme/shop", "prod", true);
    assert_eq!(Recheck::from_json(&r.to_json()), Some(Ok(r)));
    assert_eq!(
        Recheck::from_json(r#"{"schema_version":1,"repository":"x"}"#),
        None
    );
    assert_eq!(Recheck::from_json("not json"), None);
    let other = r#"{"recheck":{"schema_version":99,"repository":"x","environment":"prod"}}"#;
    assert!(
        Recheck::from_json(other)
            .unwrap()
            .unwrap_err()
            .contains("schema_version is 99")
    );
    let bad = r#"{"recheck":{"schema_version":1,"repository":"x"}}"#;
    assert!(
        Recheck::from_json(bad)
            .unwrap()
            .unwrap_err()
            .contains("environment")
    );
}
