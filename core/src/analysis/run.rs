//! One analysis run: what the state machine asks the analysis worker after a batch, what a check's
//! placeholders are filled with, when each measurement is due, and what is recorded of it.

use serde::{Deserialize, Serialize};

use super::{Condition, Decision, Measurement, Outcome, Standing, Tally, decision, judge};
use crate::command::{SCHEMA_VERSION, WireError, decode, encode};
use crate::config::AnalysisCheck;

/// The message the state machine sends the analysis worker after a batch whose app has checks:
/// one per (deployment, app, batch), answered through its task token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Deployment id.
    pub deployment_id: String,
    /// The app whose batch finished.
    pub app: String,
    /// The batch's index, from 0.
    pub batch: u32,
    /// The task token to answer.
    pub task_token: String,
    /// What is asked: the analysis after the batch (the default), or the freeze windows
    /// before it.
    #[serde(default, skip_serializing_if = "BoundaryCheck::is_analysis")]
    pub check: BoundaryCheck,
}

/// What the state machine asks the batch-boundary worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoundaryCheck {
    /// Judge the batch that finished by the app's analysis checks.
    #[default]
    Analysis,
    /// May the batch start, or does a freeze window pause or abort the deployment first.
    Freeze,
}

impl BoundaryCheck {
    fn is_analysis(&self) -> bool {
        *self == Self::Analysis
    }
}

impl Request {
    /// A request of this build's schema version.
    pub fn new(deployment_id: &str, app: &str, batch: u32, task_token: &str) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            deployment_id: deployment_id.to_owned(),
            app: app.to_owned(),
            batch,
            task_token: task_token.to_owned(),
            check: BoundaryCheck::Analysis,
        }
    }

    /// Reads a request, refusing one written for another schema version.
    pub fn from_json(json: &str) -> Result<Self, WireError> {
        decode("analysis request", json)
    }

    /// The request as the JSON message body.
    pub fn to_json(&self) -> String {
        encode(self)
    }
}

/// What a check's placeholders stand for in one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject<'a> {
    /// `{app}`
    pub app: &'a str,
    /// `{version}`
    pub version: &'a str,
    /// `{environment}`
    pub environment: &'a str,
    /// `{targets}`: the hosts (or clusters) of the app's batches so far, which run the version.
    pub targets: &'a [String],
    /// `{batch}`: the batch's index, from 0.
    pub batch: u32,
}

impl Subject<'_> {
    /// `template` with its placeholders replaced. `{targets}` becomes a regular-expression
    /// alternation of the target names, each escaped as a PromQL string holds it
    /// (`web\\.1|web-2`), for a `=~` matcher; an unknown `{name}` stays as written (PromQL's
    /// own braces are left alone).
    pub fn fill(&self, template: &str) -> String {
        let targets = self
            .targets
            .iter()
            .map(|t| regex_escape(t))
            .collect::<Vec<_>>()
            .join("|");
        let batch = self.batch.to_string();
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let value = after.find('}').and_then(|close| {
                let value = match &after[..close] {
                    "app" => self.app,
                    "version" => self.version,
                    "environment" => self.environment,
                    "targets" => &targets,
                    "batch" => &batch,
                    _ => return None,
                };
                Some((value, close))
            });
            match value {
                Some((value, close)) => {
                    out.push_str(value);
                    rest = &after[close + 1..];
                }
                None => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// `text` with the characters a regular expression gives a meaning escaped, the escape written
/// twice as it is inside a PromQL string (where `\\` stands for one backslash).
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push_str("\\\\");
        }
        out.push(c);
    }
    out
}

/// Seconds after the run started at which measurement `k` (from 0) of `check` is due.
pub fn due_after(check: &AnalysisCheck, k: u32) -> u64 {
    let delay = check.initial_delay.map_or(0, |d| d.seconds());
    delay.saturating_add(u64::from(k).saturating_mul(check.interval.seconds()))
}

/// What a check's value must satisfy: its condition, or `== 0` for a CloudWatch alarm (whose
/// measurement is 0 while it is `OK` and 1 in `ALARM`).
pub fn condition_of(check: &AnalysisCheck) -> Condition {
    check.condition.unwrap_or(Condition::Equal(0.0))
}

/// One measurement as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Taken {
    /// When it was taken (RFC 3339).
    pub at: String,
    /// What it gave.
    pub measurement: Measurement,
    /// How it was judged.
    pub outcome: Outcome,
}

/// The tally of `taken`.
pub fn tally(taken: &[Taken]) -> Tally {
    taken
        .iter()
        .fold(Tally::default(), |tally, t| tally.with(t.outcome))
}

/// Judges `measurement`, taken at `at`, by `check`.
pub fn take(check: &AnalysisCheck, measurement: Measurement, at: String) -> Taken {
    let outcome = judge(&measurement, condition_of(check), &check.limits());
    Taken {
        at,
        measurement,
        outcome,
    }
}

/// Where `check` stands after `taken`.
pub fn standing(check: &AnalysisCheck, taken: &[Taken]) -> Standing {
    tally(taken).standing(&check.limits())
}

/// The message of `check`'s verdict after `taken` (see [`super::verdict_message`]).
pub fn message(check: &AnalysisCheck, verdict: Outcome, taken: &[Taken]) -> String {
    let last = taken
        .last()
        .map_or(Measurement::NoData, |t| t.measurement.clone());
    let mut text = super::verdict_message(
        &check.name,
        verdict,
        &last,
        condition_of(check),
        &tally(taken),
    );
    if check.dry_run && verdict != Outcome::Pass {
        text.push_str(" (dry run: the rollout goes on)");
    }
    text
}

/// What the run as a whole decides, from each decided check's decision: any roll-back wins, then
/// any question for a person; otherwise the rollout proceeds.
pub fn overall(decisions: impl IntoIterator<Item = Decision>) -> Decision {
    decisions
        .into_iter()
        .fold(Decision::Proceed, |acc, d| match (acc, d) {
            (Decision::RollBack, _) | (_, Decision::RollBack) => Decision::RollBack,
            (Decision::AskPerson, _) | (_, Decision::AskPerson) => Decision::AskPerson,
            _ => Decision::Proceed,
        })
}

/// The decision on a decided `check`.
pub fn decision_of(check: &AnalysisCheck, verdict: Outcome) -> Decision {
    decision(verdict, &check.limits())
}

/// The value at `path` (`$`, `$.a.b`, `$.a[0].c`) in `value`; `None` where the path leads nowhere.
pub fn json_path<'v>(value: &'v serde_json::Value, path: &str) -> Option<&'v serde_json::Value> {
    let mut rest = path.strip_prefix('$')?;
    let mut at = value;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            at = at.get(&after[..end])?;
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let close = after.find(']')?;
            at = at.get(after[..close].parse::<usize>().ok()?)?;
            rest = &after[close + 1..];
        } else {
            return None;
        }
    }
    Some(at)
}

/// A JSON value as a measurement: a number, or a string holding one (Prometheus writes its
/// sample values as strings); `null` or a missing value is no data; anything else an error.
pub fn measure_json(value: Option<&serde_json::Value>) -> Measurement {
    match value {
        None | Some(serde_json::Value::Null) => Measurement::NoData,
        Some(serde_json::Value::Number(n)) => match n.as_f64() {
            Some(value) => Measurement::Value {
                value,
                samples: None,
            },
            None => Measurement::Error {
                message: format!("{n} is not a number this worker can read"),
            },
        },
        Some(serde_json::Value::String(s)) => match s.trim().parse::<f64>() {
            Ok(value) => Measurement::Value {
                value,
                samples: None,
            },
            Err(_) => Measurement::Error {
                message: format!("{s:?} is not a number"),
            },
        },
        Some(other) => Measurement::Error {
            message: format!("expected a number, found {other}"),
        },
    }
}
