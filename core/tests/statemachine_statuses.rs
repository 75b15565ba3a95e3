//! The state machine writes status names into the same records the functions read: every status it
//! writes must be a variant of the core enum of that record, so renaming a variant (or a status in
//! the definition) breaks this test instead of the records.

use boreas_core::deployment::DeploymentStatus;
use boreas_core::status::{AppStatus, BatchStatus, GateStatus, TargetStatus};
use serde_json::Value;

const DEFINITION: &str = include_str!("../../statemachine/deployment.asl.json");

/// The record a DynamoDB task writes, told by its sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Record {
    Deployment,
    App,
    Batch,
    Target,
    Gate,
}

impl Record {
    fn of(sk: &Value) -> Option<Self> {
        if sk.get("S").and_then(Value::as_str) == Some("META") {
            return Some(Self::Deployment);
        }
        let format = sk.get("S.$")?.as_str()?;
        [
            ("'APP#", Self::App),
            ("'BATCH#", Self::Batch),
            ("'TARGET#", Self::Target),
            ("'GATE#", Self::Gate),
        ]
        .into_iter()
        .find(|(prefix, _)| format.contains(prefix))
        .map(|(_, record)| record)
    }

    fn is_status(self, name: &str) -> bool {
        match self {
            Self::Deployment => DeploymentStatus::parse(name).is_some(),
            Self::App => AppStatus::parse(name).is_some(),
            Self::Batch => BatchStatus::parse(name).is_some(),
            Self::Target => TargetStatus::parse(name).is_some(),
            Self::Gate => GateStatus::parse(name).is_some(),
        }
    }
}

/// One literal status the definition writes or compares against.
#[derive(Debug)]
struct Written {
    state: String,
    record: Record,
    status: String,
}

/// Every state of the definition, nested Maps and Parallels included.
fn states<'a>(states: &'a Value, out: &mut Vec<(&'a str, &'a Value)>) {
    for (name, state) in states.as_object().expect("States is an object") {
        out.push((name, state));
        for nested in ["ItemProcessor", "Iterator"] {
            if let Some(inner) = state.get(nested) {
                self::states(&inner["States"], out);
            }
        }
        for branch in state["Branches"].as_array().into_iter().flatten() {
            self::states(&branch["States"], out);
        }
    }
}

/// The expression placeholders (`#s`) that name the `status` attribute.
fn status_names(params: &Value) -> Vec<&str> {
    params["ExpressionAttributeNames"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, attr)| attr.as_str() == Some("status"))
        .map(|(placeholder, _)| placeholder.as_str())
        .collect()
}

/// Whether `expression` has `name = value` (the only way the definition reads or writes statuses).
fn assigns(expression: &str, name: &str, value: &str) -> bool {
    let compact: String = expression.split_whitespace().collect();
    compact
        .split(',')
        .flat_map(|part| part.split("AND"))
        .any(|part| part.ends_with(&format!("{name}={value}")))
}

fn written_statuses() -> Vec<Written> {
    let definition: Value = serde_json::from_str(DEFINITION).expect("the definition is JSON");
    let mut all = Vec::new();
    states(&definition["States"], &mut all);
    let mut written = Vec::new();
    for (name, state) in all {
        let resource = state["Resource"].as_str().unwrap_or_default();
        // A read writes nothing, and what it reads (an agent's `live_until`, a target's
        // `error_type`) is no status.
        if resource.ends_with(":dynamodb:getItem") {
            continue;
        }
        if resource.contains(":dynamodb:") {
            assert!(
                resource.ends_with(":dynamodb:updateItem"),
                "{name}: {resource} is not read by this test yet; extend it"
            );
            let params = &state["Parameters"];
            let sk = params["Key"]
                .get("sk")
                .unwrap_or_else(|| panic!("{name}: an update without a sort key"));
            let record = Record::of(sk)
                .unwrap_or_else(|| panic!("{name}: sort key {sk} names no known record"));
            let expressions = [
                params["UpdateExpression"].as_str().unwrap_or_default(),
                params["ConditionExpression"].as_str().unwrap_or_default(),
            ];
            let names = status_names(params);
            let values = params["ExpressionAttributeValues"].as_object();
            let literal_of = |placeholder: &str| {
                values
                    .and_then(|v| v.get(placeholder))
                    .and_then(|v| v.get("S"))
                    .and_then(Value::as_str)
            };
            // Every write of a deployment's status moves its status index key with it.
            let sets_status = values
                .into_iter()
                .flatten()
                .any(|(p, _)| names.iter().any(|n| assigns(expressions[0], n, p)));
            if record == Record::Deployment && sets_status {
                assert!(
                    expressions[0].contains("gsi3pk"),
                    "{name}: sets the status but not its index key: {}",
                    expressions[0]
                );
            }
            for (placeholder, value) in values.into_iter().flatten() {
                let Some(literal) = value.get("S").and_then(Value::as_str) else {
                    continue;
                };
                // The status index's key moves with the status: it names the status this same
                // write sets (the lists by status read it).
                if assigns(expressions[0], "gsi3pk", placeholder) {
                    let set = values.into_iter().flatten().find_map(|(p, _)| {
                        names
                            .iter()
                            .any(|n| assigns(expressions[0], n, p))
                            .then(|| literal_of(p))
                            .flatten()
                    });
                    assert_eq!(record, Record::Deployment, "{name}: gsi3pk on {record:?}");
                    assert_eq!(
                        Some(literal),
                        set.map(|s| format!("DEPLOYMENTS#STATUS#{s}")).as_deref(),
                        "{name}: the status index key does not name the status written"
                    );
                    continue;
                }
                // A literal string is a status name unless it is used for another attribute.
                let is_status = names.iter().any(|n| {
                    expressions
                        .iter()
                        .any(|e| assigns(e, n, placeholder.as_str()))
                });
                assert!(
                    is_status,
                    "{name}: literal {literal:?} ({placeholder}) is not a status; extend this test \
                     to check what it is"
                );
                written.push(Written {
                    state: name.to_owned(),
                    record,
                    status: literal.to_owned(),
                });
            }
        }
        // Events to the recorder: `deployment_finished` carries a deployment status.
        if resource.contains(":sqs:")
            && let Some(status) = state["Parameters"]["MessageBody"].get("status")
        {
            written.push(Written {
                state: name.to_owned(),
                record: Record::Deployment,
                status: status.as_str().unwrap_or_default().to_owned(),
            });
        }
    }
    written
}

#[test]
fn every_status_the_state_machine_writes_is_a_core_variant() {
    let written = written_statuses();
    for w in &written {
        assert!(
            w.record.is_status(&w.status),
            "state {} writes {:?} to a {:?} record, which is no variant of its core status enum",
            w.state,
            w.status,
            w.record
        );
    }
    // The walk found what the definition is known to write, so the check above is not empty.
    let mut records: Vec<Record> = written.iter().map(|w| w.record).collect();
    records.sort();
    records.dedup();
    assert_eq!(
        records,
        [
            Record::Deployment,
            Record::App,
            Record::Batch,
            Record::Target
        ]
    );
    for (record, status) in [
        (Record::Deployment, "succeeded"),
        (Record::Deployment, "rolled_back"),
        (Record::Deployment, "failed"),
        (Record::App, "rolling_back"),
        (Record::Target, "rollback_failed"),
        (Record::Target, "skipped"),
        (Record::Batch, "failed"),
    ] {
        assert!(
            written
                .iter()
                .any(|w| w.record == record && w.status == status),
            "{record:?} {status} not found: {written:?}"
        );
    }
}

#[test]
fn a_renamed_status_is_caught() {
    assert!(!Record::Target.is_status("rollbackfailed"));
    assert!(!Record::App.is_status("rolling-back"));
    assert!(!Record::Deployment.is_status("success"));
    assert!(assigns("SET #s = :s, started_at = :now", "#s", ":s"));
    assert!(assigns("#s = :running", "#s", ":running"));
    assert!(!assigns("SET failed_app = :a", "#s", ":a"));
}
