//! Freeze windows in time: when one is open, when the next opens, and what a deployment at a
//! given moment may do.
//!
//! A recurring window starts at every local time its [`Recurrence`] matches, in its IANA time
//! zone, and lasts its duration of elapsed time. A local start time that a daylight-saving change
//! skips starts the window when the clocks have moved on (02:30 on a spring-forward night is
//! 03:30 of the new time); one that occurs twice starts at the first. These are RFC 5545's and
//! jiff's "compatible" rules.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::recurrence::Recurrence;
use crate::config::{FreezeBlock, OnRunning};

/// How far ahead a next start is looked for: far enough for 29 February (every 4 years, or 8
/// around a century), short enough to answer at once.
const HORIZON_DAYS: i64 = 8 * 366 + 2;
/// Bound on the walk through back-to-back windows when looking for the next open moment: an
/// hourly window that never lets go is given up on after about six weeks of it.
const MAX_CHAINED: usize = 1_000;

/// One period during which a window is in force: `start <= t < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Interval {
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }
}

/// When a window is in force.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// From every start the recurrence matches in `zone`, for `duration`.
    Recurring {
        recurrence: Recurrence,
        zone: TimeZone,
        duration: SignedDuration,
    },
    /// Once.
    Once(Interval),
}

impl Schedule {
    /// The period in force at `t`, if any (of overlapping ones, the one that ends last).
    pub fn covering(&self, t: Timestamp) -> Option<Interval> {
        match self {
            Self::Once(interval) => interval.contains(t).then_some(*interval),
            Self::Recurring {
                recurrence,
                zone,
                duration,
            } => {
                // Every start has the same duration, so the latest start at or before `t` is the
                // one that reaches furthest; starts before `t - duration` cannot reach `t`. Two
                // days of margin cover any zone's offset change.
                let local_t = t.to_zoned_datetime(zone.clone());
                let last_day = local_t.date();
                let first_day = t
                    .checked_sub(*duration)
                    .map_or(Date::MIN, |s| s.to_zoned_datetime(zone.clone()).date())
                    .checked_sub(jiff::Span::new().days(2))
                    .unwrap_or(Date::MIN);
                let mut day = last_day;
                while day >= first_day {
                    if recurrence.matches_date(day) {
                        // On `t`'s own day, local times well after it cannot start before it:
                        // skipped without converting (the margin covers any offset change).
                        let before = |&(h, m): &(i8, i8)| {
                            day != last_day
                                || i32::from(h) * 60 + i32::from(m)
                                    <= local_minutes(&local_t) + OFFSET_MARGIN_MINUTES
                        };
                        let latest = recurrence
                            .times()
                            .rev()
                            .filter(before)
                            .map(|(h, m)| local(zone, day, h, m))
                            .find(|s| *s <= t);
                        if let Some(start) = latest {
                            let end = start.saturating_add(*duration).ok()?;
                            return (t < end).then_some(Interval { start, end });
                        }
                    }
                    day = day.yesterday().ok()?;
                }
                None
            }
        }
    }

    /// The first start strictly after `t`, if any within eight years.
    pub fn next_start(&self, t: Timestamp) -> Option<Timestamp> {
        match self {
            Self::Once(interval) => (interval.start > t).then_some(interval.start),
            Self::Recurring {
                recurrence, zone, ..
            } => {
                let local_t = t.to_zoned_datetime(zone.clone());
                let first_day = local_t.date();
                let mut day = first_day;
                for _ in 0..HORIZON_DAYS {
                    // On `t`'s own day, local times well before it cannot start after it.
                    let after = |&(h, m): &(i8, i8)| {
                        day != first_day
                            || i32::from(h) * 60 + i32::from(m)
                                >= local_minutes(&local_t) - OFFSET_MARGIN_MINUTES
                    };
                    if recurrence.matches_date(day)
                        && let Some(start) = recurrence
                            .times()
                            .filter(after)
                            .map(|(h, m)| local(zone, day, h, m))
                            .find(|s| *s > t)
                    {
                        return Some(start);
                    }
                    day = day.tomorrow().ok()?;
                }
                None
            }
        }
    }
}

/// More than any offset change moves a local time (2 h, at Troll in Antarctica).
const OFFSET_MARGIN_MINUTES: i32 = 180;

fn local_minutes(z: &jiff::ZonedDateTime) -> i32 {
    i32::from(z.hour()) * 60 + i32::from(z.minute())
}

/// The instant of a local time, by the compatible rule for skipped and repeated times.
fn local(zone: &TimeZone, day: Date, hour: i8, minute: i8) -> Timestamp {
    let time = day.at(hour, minute, 0, 0);
    zone.to_ambiguous_timestamp(time)
        .compatible()
        .unwrap_or_else(|_| {
            time.to_zoned_datetime(TimeZone::UTC)
                .map_or(Timestamp::MIN, |z| z.timestamp())
        })
}

/// A freeze window ready to be evaluated: a declared [`crate::config::Freeze`] or one added
/// through the API, after validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub name: String,
    pub reason: String,
    pub environments: Vec<String>,
    /// Empty: every app.
    pub apps: Vec<String>,
    pub blocks_start: bool,
    pub blocks_batches: bool,
    pub on_running: OnRunning,
    pub schedule: Schedule,
}

/// What is being asked: may a deployment start, or may its next batch start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Start,
    Batch,
}

impl Window {
    /// Whether the window speaks about `step` of a deployment to `environment` that changes
    /// `apps`.
    pub fn applies(&self, environment: &str, apps: &[&str], step: Step) -> bool {
        let blocks = match step {
            Step::Start => self.blocks_start,
            Step::Batch => self.blocks_batches,
        };
        blocks
            && self.environments.iter().any(|e| e == environment)
            && (self.apps.is_empty() || apps.iter().any(|a| self.apps.iter().any(|w| w == a)))
    }

    pub fn blocks(&self, block: FreezeBlock) -> bool {
        match block {
            FreezeBlock::Start => self.blocks_start,
            FreezeBlock::Batches => self.blocks_batches,
        }
    }
}

/// The windows in force for one question at one moment, and when all of them will have ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Closed<'a> {
    /// Each window in force, with its current period.
    pub by: Vec<(&'a Window, Interval)>,
    /// The first moment no window applies, following windows that start as others end; `None`
    /// when none is found within reach (a window that never lets go).
    pub opens_at: Option<Timestamp>,
}

/// The windows that close `step` at `t`, or `None` when it is open.
pub fn closed<'a>(
    windows: &'a [Window],
    environment: &str,
    apps: &[&str],
    step: Step,
    t: Timestamp,
) -> Option<Closed<'a>> {
    let applying: Vec<&Window> = windows
        .iter()
        .filter(|w| w.applies(environment, apps, step))
        .collect();
    closed_by(&applying, t)
}

fn closed_by<'a>(applying: &[&'a Window], t: Timestamp) -> Option<Closed<'a>> {
    let in_force = |at: Timestamp| -> Vec<(&Window, Interval)> {
        applying
            .iter()
            .filter_map(|w| w.schedule.covering(at).map(|i| (*w, i)))
            .collect()
    };
    let by = in_force(t);
    if by.is_empty() {
        return None;
    }
    let mut current = by.clone();
    let mut opens_at = None;
    for _ in 0..MAX_CHAINED {
        // Every period in force ends after `at`, so the walk always moves forward.
        let end = current.iter().map(|(_, i)| i.end).max().unwrap_or(t);
        current = in_force(end);
        if current.is_empty() {
            opens_at = Some(end);
            break;
        }
    }
    Some(Closed { by, opens_at })
}

/// The next window to start after `t` for `step`, with its start.
pub fn next_closing<'a>(
    windows: &'a [Window],
    environment: &str,
    apps: &[&str],
    step: Step,
    t: Timestamp,
) -> Option<(&'a Window, Timestamp)> {
    windows
        .iter()
        .filter(|w| w.applies(environment, apps, step))
        .filter_map(|w| w.schedule.next_start(t).map(|s| (w, s)))
        .min_by_key(|(_, s)| *s)
}

/// What a running deployment does at a batch boundary.
#[derive(Debug, Clone, PartialEq)]
pub enum AtBatch<'a> {
    /// No window stops it (or a break-glass override is in force).
    Proceed,
    /// Wait for the windows to close; `until` is when they will have (`None`: not in reach).
    Pause {
        windows: Vec<&'a Window>,
        until: Option<Timestamp>,
    },
    /// Roll back what it changed.
    Abort { window: &'a Window },
}

/// The decision at the boundary before a batch of `app` at `t`. A break-glass override that
/// has not expired lets it proceed; windows that let running deployments `finish` never stop
/// it. An `abort` window wins over a `pause` one.
pub fn at_batch<'a>(
    windows: &'a [Window],
    environment: &str,
    app: &str,
    t: Timestamp,
    override_until: Option<Timestamp>,
) -> AtBatch<'a> {
    if override_until.is_some_and(|until| t < until) {
        return AtBatch::Proceed;
    }
    let stopping: Vec<&Window> = windows
        .iter()
        .filter(|w| w.on_running != OnRunning::Finish)
        .filter(|w| w.applies(environment, &[app], Step::Batch))
        .collect();
    let Some(closed) = closed_by(&stopping, t) else {
        return AtBatch::Proceed;
    };
    if let Some((window, _)) = closed
        .by
        .iter()
        .find(|(w, _)| w.on_running == OnRunning::Abort)
    {
        return AtBatch::Abort { window };
    }
    AtBatch::Pause {
        windows: closed.by.iter().map(|(w, _)| *w).collect(),
        until: closed.opens_at,
    }
}
