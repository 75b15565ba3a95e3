//! Environment policy: promotion between environments and freeze windows.
//!
//! - [`recurrence`]: cron expressions and RFC 5545 rules as sets of local start times;
//! - [`window`]: when windows are in force, when they open again, and what a deployment may do;
//! - [`promotion`]: whether an environment may take a version, from recorded history;
//! - [`records`]: what people grant (waivers, overrides, windows) and why a deployment waits.
//!
//! Everything is a pure function of its inputs and of the moment it is given; time zones come
//! from the IANA database bundled with jiff, so the answer is the same on every machine.

pub mod promotion;
pub mod records;
pub mod recurrence;
pub mod window;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

pub use promotion::{Condition, Eligibility, Run, Unmet, Waiting, eligibility};
pub use records::{Hold, ManagedFreeze, Override, Recheck, Waiver};
pub use recurrence::Recurrence;
pub use window::{
    AtBatch, Closed, Interval, Schedule, Step, Window, at_batch, closed, next_closing,
};

use crate::config::{Freeze, FreezeBlock, OnRunning};

/// An IANA time zone by name (`Europe/Berlin`, `UTC`).
pub fn zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|_| {
        format!("{name:?} is not an IANA time zone; write one like \"Europe/Berlin\", \"America/New_York\" or \"UTC\"")
    })
}

/// A moment written as RFC 3339 with an offset (`2026-12-23T17:00:00Z`) or as a local date
/// and time (`2026-12-23T18:00`, `2026-12-23 18:00`) in `zone`.
pub fn instant(text: &str, zone: &TimeZone) -> Result<Timestamp, String> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    let local: DateTime = text.parse().map_err(|_| {
        format!("{text:?} is not a date and time; write \"2026-12-23T18:00\" (in the window's time zone) or \"2026-12-23T17:00:00Z\"")
    })?;
    zone.to_ambiguous_timestamp(local)
        .compatible()
        .map_err(|e| format!("{text:?} is out of range: {e}"))
}

/// Why a freeze window cannot be used, and which field says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreezeError {
    pub field: &'static str,
    pub message: String,
}

fn fail<T>(field: &'static str, message: impl Into<String>) -> Result<T, FreezeError> {
    Err(FreezeError {
        field,
        message: message.into(),
    })
}

impl Freeze {
    /// Checks the rules that span fields and reads the window's schedule.
    pub fn window(&self) -> Result<Window, FreezeError> {
        let zone = zone(&self.timezone).or_else(|m| fail("timezone", m))?;
        let schedule = match (&self.rrule, &self.cron) {
            (Some(_), Some(_)) => return fail("cron", "give either `rrule` or `cron`, not both"),
            (Some(_), None) | (None, Some(_)) => {
                if self.from.is_some() || self.until.is_some() {
                    return fail(
                        if self.from.is_some() { "from" } else { "until" },
                        "a recurring window (`rrule` or `cron`) has no `from` or `until`; its `duration` says how long each lasts",
                    );
                }
                let recurrence = match (&self.rrule, &self.cron) {
                    (Some(r), _) => Recurrence::rrule(r).or_else(|m| fail("rrule", m))?,
                    (_, c) => Recurrence::cron(c.as_deref().unwrap_or_default())
                        .or_else(|m| fail("cron", m))?,
                };
                let Some(duration) = self.duration else {
                    return fail(
                        "duration",
                        "a recurring window needs a `duration`, for example \"64h\"",
                    );
                };
                Schedule::Recurring {
                    recurrence,
                    zone,
                    duration: SignedDuration::from_secs(
                        i64::try_from(duration.seconds()).unwrap_or(i64::MAX),
                    ),
                }
            }
            (None, None) => {
                if self.duration.is_some() {
                    return fail(
                        "duration",
                        "a one-off window is `from` … `until`; `duration` is for `rrule` or `cron`",
                    );
                }
                let (Some(from), Some(until)) = (&self.from, &self.until) else {
                    return fail(
                        if self.from.is_none() { "from" } else { "until" },
                        "give `rrule` or `cron` with a `duration`, or both `from` and `until`",
                    );
                };
                let start = instant(from, &zone).or_else(|m| fail("from", m))?;
                let end = instant(until, &zone).or_else(|m| fail("until", m))?;
                if end <= start {
                    return fail("until", format!("{until:?} is not after `from` ({from:?})"));
                }
                Schedule::Once(Interval { start, end })
            }
        };
        let blocks_batches = self.blocks.contains(&FreezeBlock::Batches);
        let on_running = self.on_running();
        match (blocks_batches, on_running) {
            (false, OnRunning::Pause | OnRunning::Abort) => {
                return fail(
                    "running",
                    format!(
                        "running deployments stop only at batch boundaries: `running: {on_running}` needs `batches` in `blocks`"
                    ),
                );
            }
            (true, OnRunning::Finish) => {
                return fail(
                    "running",
                    "`running: finish` lets running deployments start their next batches, which `blocks: [batches]` forbids; choose one",
                );
            }
            _ => {}
        }
        Ok(Window {
            name: self.name.clone(),
            reason: self.reason.clone(),
            environments: self.environments.clone(),
            apps: self.apps.clone(),
            blocks_start: self.blocks.contains(&FreezeBlock::Start),
            blocks_batches,
            on_running,
            schedule,
        })
    }
}

#[cfg(test)]
mod tests;
