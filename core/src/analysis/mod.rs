//! Analysis of a batch by metrics: how one measurement is judged against its check's condition,
//! and how a check's measurements add up to its verdict.
//!
//! A check measures `count` times. Each measurement is a value (with the number of samples
//! behind it when the provider says), no data, or a provider error, and is judged
//! [`Outcome::Pass`], [`Outcome::Fail`], [`Outcome::Inconclusive`] or [`Outcome::Error`]:
//! - a value that is not a number (Prometheus's `NaN` when a rate has no traffic), or one from
//!   fewer than `min_samples` samples, is no data;
//! - no data is judged by the check's [`NoData`] policy, inconclusive by default: a canary whose
//!   traffic stopped does not advance;
//! - a provider error is never a pass.
//!
//! The verdict stops early as soon as a limit is passed (more fails than `failure_limit`, more
//! inconclusives than `inconclusive_limit`, more errors in a row than `consecutive_error_limit`),
//! and otherwise comes after the last measurement: a pass needs at least one measured pass, so
//! a run in which every measurement errored or had no data never passes. A `dry_run` check
//! measures and records its verdict but never stops a rollout ([`Decision`]).

use std::fmt;

use serde::{Deserialize, Serialize};

pub mod run;
#[cfg(test)]
mod tests;

/// What a measured value must satisfy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Condition {
    /// `< x`
    Below(f64),
    /// `<= x`
    AtMost(f64),
    /// `> x`
    Above(f64),
    /// `>= x`
    AtLeast(f64),
    /// `== x`
    Equal(f64),
    /// `a..b`: from `a` to `b`, both included.
    Within(f64, f64),
}

// Conditions are made of finite numbers only (`parse` refuses the others), so equality is total.
impl Eq for Condition {}

impl Condition {
    /// Reads `< 0.01`, `<= 0.5`, `> 1`, `>= 0.99`, `== 0` or `0.9..1.0` (spaces optional).
    ///
    /// # Errors
    /// What is wrong with the text, to be shown with where it was written.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let number = |s: &str| -> Result<f64, String> {
            let s = s.trim();
            match s.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ => Err(format!("{s:?} is not a finite number")),
            }
        };
        for (op, make) in [
            ("<=", Self::AtMost as fn(f64) -> Self),
            (">=", Self::AtLeast),
            ("==", Self::Equal),
            ("<", Self::Below),
            (">", Self::Above),
        ] {
            if let Some(rest) = text.strip_prefix(op) {
                return number(rest).map(make);
            }
        }
        if let Some((low, high)) = text.split_once("..") {
            let (low, high) = (number(low)?, number(high)?);
            if low > high {
                return Err(format!(
                    "the range {low}..{high} is empty: put the lower bound first"
                ));
            }
            return Ok(Self::Within(low, high));
        }
        Err(format!(
            "{text:?} is not a condition: write `< x`, `<= x`, `> x`, `>= x`, `== x` or `a..b`"
        ))
    }

    /// Whether `value` satisfies it; never for a value that is not a number.
    pub fn holds(self, value: f64) -> bool {
        match self {
            Self::Below(x) => value < x,
            Self::AtMost(x) => value <= x,
            Self::Above(x) => value > x,
            Self::AtLeast(x) => value >= x,
            Self::Equal(x) => value == x,
            Self::Within(a, b) => (a..=b).contains(&value),
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Below(x) => write!(f, "< {x}"),
            Self::AtMost(x) => write!(f, "<= {x}"),
            Self::Above(x) => write!(f, "> {x}"),
            Self::AtLeast(x) => write!(f, ">= {x}"),
            Self::Equal(x) => write!(f, "== {x}"),
            Self::Within(a, b) => write!(f, "{a}..{b}"),
        }
    }
}

impl From<Condition> for String {
    fn from(c: Condition) -> Self {
        c.to_string()
    }
}

impl TryFrom<String> for Condition {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text)
    }
}

string_enum! {
    /// How a measurement without data is judged.
    NoData {
        /// As a failure.
        Fail => "fail",
        /// As inconclusive: a person decides at a gate (the default).
        Inconclusive => "inconclusive",
        /// As a pass.
        Pass => "pass",
    }
}

string_enum! {
    /// How one measurement, or a whole check, was judged.
    Outcome {
        /// The condition held.
        Pass => "pass",
        /// The condition did not hold.
        Fail => "fail",
        /// There was nothing to judge (and the policy says so): a person decides.
        Inconclusive => "inconclusive",
        /// The provider could not be asked or answered an error.
        Error => "error",
    }
}

/// The limits of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Measurements to take (at least 1).
    pub count: u32,
    /// Fails tolerated; one more and the check fails.
    pub failure_limit: u32,
    /// Inconclusive measurements tolerated; one more and the check is inconclusive.
    pub inconclusive_limit: u32,
    /// Provider errors in a row tolerated; one more and the check errs.
    pub consecutive_error_limit: u32,
    /// How a measurement without data is judged.
    pub no_data: NoData,
    /// Fewer samples than this behind a value count as no data.
    pub min_samples: Option<u64>,
    /// Measure and record, never stop a rollout.
    pub dry_run: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            count: 1,
            failure_limit: 0,
            inconclusive_limit: 0,
            consecutive_error_limit: 4,
            no_data: NoData::Inconclusive,
            min_samples: None,
            dry_run: false,
        }
    }
}

/// What one measurement gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Measurement {
    /// A value, and the samples behind it when the provider says.
    Value {
        /// The value.
        value: f64,
        /// Samples behind it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        samples: Option<u64>,
    },
    /// The query answered nothing.
    NoData,
    /// The provider could not be asked or answered an error.
    Error {
        /// What went wrong.
        message: String,
    },
}

impl fmt::Display for Measurement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Value {
                value,
                samples: Some(n),
            } => write!(f, "{value} ({n} samples)"),
            Self::Value { value, .. } => write!(f, "{value}"),
            Self::NoData => f.write_str("no data"),
            Self::Error { message } => write!(f, "error: {message}"),
        }
    }
}

/// Judges one measurement against `condition` under `limits`.
pub fn judge(measurement: &Measurement, condition: Condition, limits: &Limits) -> Outcome {
    let no_data = match limits.no_data {
        NoData::Fail => Outcome::Fail,
        NoData::Inconclusive => Outcome::Inconclusive,
        NoData::Pass => Outcome::Pass,
    };
    match measurement {
        Measurement::Error { .. } => Outcome::Error,
        Measurement::NoData => no_data,
        Measurement::Value { value, .. } if !value.is_finite() => no_data,
        Measurement::Value {
            samples: Some(n), ..
        } if limits.min_samples.is_some_and(|min| *n < min) => no_data,
        Measurement::Value { value, .. } if condition.holds(*value) => Outcome::Pass,
        Measurement::Value { .. } => Outcome::Fail,
    }
}

/// Where a check stands after some measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// More measurements are due.
    Measuring,
    /// The check is decided.
    Decided(Outcome),
}

/// The outcomes of a check's measurements so far, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Measurements taken.
    pub measured: u32,
    /// Passes.
    pub passes: u32,
    /// Fails.
    pub fails: u32,
    /// Inconclusive ones.
    pub inconclusives: u32,
    /// Errors.
    pub errors: u32,
    /// Errors since the last measurement that was not one.
    pub errors_in_a_row: u32,
}

impl Tally {
    /// Counts `outcome` in.
    #[must_use]
    pub fn with(mut self, outcome: Outcome) -> Self {
        self.measured += 1;
        match outcome {
            Outcome::Pass => self.passes += 1,
            Outcome::Fail => self.fails += 1,
            Outcome::Inconclusive => self.inconclusives += 1,
            Outcome::Error => self.errors += 1,
        }
        self.errors_in_a_row = if outcome == Outcome::Error {
            self.errors_in_a_row + 1
        } else {
            0
        };
        self
    }

    /// Where the check stands under `limits`.
    pub fn standing(&self, limits: &Limits) -> Standing {
        if self.fails > limits.failure_limit {
            return Standing::Decided(Outcome::Fail);
        }
        if self.errors_in_a_row > limits.consecutive_error_limit {
            return Standing::Decided(Outcome::Error);
        }
        if self.inconclusives > limits.inconclusive_limit {
            return Standing::Decided(Outcome::Inconclusive);
        }
        if self.measured < limits.count.max(1) {
            return Standing::Measuring;
        }
        // Nothing measured passed: errors and missing data are never a pass.
        Standing::Decided(match (self.passes, self.errors) {
            (0, 0) => Outcome::Inconclusive,
            (0, _) => Outcome::Error,
            _ => Outcome::Pass,
        })
    }
}

/// What the rollout does with a check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go on to the next batch.
    Proceed,
    /// Wait at a gate for a person, who sees the measured values.
    AskPerson,
    /// Roll the app back as a failed host does.
    RollBack,
}

/// The decision on `verdict`: a failed or erring check rolls back, an inconclusive one waits for
/// a person; a dry run always proceeds.
pub fn decision(verdict: Outcome, limits: &Limits) -> Decision {
    match verdict {
        _ if limits.dry_run => Decision::Proceed,
        Outcome::Pass => Decision::Proceed,
        Outcome::Inconclusive => Decision::AskPerson,
        Outcome::Fail | Outcome::Error => Decision::RollBack,
    }
}

/// The sentence a verdict is reported with: the check, its last measurement, the condition and
/// the counts, e.g. `check error-rate failed: 0.042, wanted < 0.01 (2 of 3 measurements failed)`.
pub fn verdict_message(
    check: &str,
    verdict: Outcome,
    last: &Measurement,
    condition: Condition,
    tally: &Tally,
) -> String {
    let (what, count, counted) = match verdict {
        Outcome::Pass => ("passed", tally.passes, "passed"),
        Outcome::Fail => ("failed", tally.fails, "failed"),
        Outcome::Inconclusive => ("is inconclusive", tally.inconclusives, "inconclusive"),
        Outcome::Error => ("could not measure", tally.errors, "erred"),
    };
    format!(
        "check {check} {what}: {last}, wanted {condition} ({count} of {} measurements {counted})",
        tally.measured
    )
}
