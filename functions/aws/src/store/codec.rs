//! Items ⇄ records: how each record of the single table (see the parent module) is written as a
//! DynamoDB item and read back. Every decoding error names the item and the attribute.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use boreas_core::analysis::Outcome;
use boreas_core::deployment::DeploymentStatus;
use boreas_core::notify::DeliveryState;
use boreas_core::plan::Plan;
use boreas_core::role::Role;
use boreas_core::status::{
    AppStatus, BatchStatus, FailureAction, GateStatus, TargetStatus, VersionStatus,
};
use boreas_core::version::{CommitId, Version, VersionState};
use boreas_core::webhook::Provider;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::plan_record::StoredPlan;
use super::{
    Agent, AnalysisRecord, ApiToken, AppEnvironment, AppOnHost, AppProgress, AppRecords,
    AuditEntry, BatchProgress, Deployment, Gate, GitCredential, Hold, HostDecision, LastDelivery,
    NewDeployment, Notification, NotificationDefaults, PreviousSecret, Progress, Release,
    Repository, StoredReview, TargetProgress, TaskOutput, VersionRecord, deployment_order,
    version_list_key,
};
use crate::Error;

/// One DynamoDB item.
pub(super) type Item = HashMap<String, AttributeValue>;

/// Partition key of a repository and its versions.
pub(super) fn repo_pk(repo: &str) -> AttributeValue {
    s(format!("REPO#{repo}"))
}

/// Partition key of a deployment and its progress records.
pub(super) fn deployment_pk(id: &str) -> AttributeValue {
    s(format!("DEP#{id}"))
}

/// Partition key of a run lock.
pub(super) fn lock_pk(env: &str, app: &str) -> AttributeValue {
    s(format!("LOCK#{env}#{app}"))
}

/// Partition key of an api token.
pub(super) fn token_pk(secret: &str) -> AttributeValue {
    token_hash_pk(&super::token_hash(secret))
}

/// Partition key of an api token by the SHA-256 hex of its secret.
pub(super) fn token_hash_pk(hash: &str) -> AttributeValue {
    s(format!("TOKEN#{hash}"))
}

/// Partition key of the record that holds a token name.
pub(super) fn token_name_pk(name: &str) -> AttributeValue {
    s(format!("TOKENNAME#{name}"))
}

/// Sort key of a repository's last delivery.
pub(super) const LAST_DELIVERY: &str = "LAST_DELIVERY";

/// Partition key of a webhook delivery.
pub(super) fn delivery_pk(provider: Provider, delivery_id: &str) -> AttributeValue {
    s(format!("DELIVERY#{provider}#{delivery_id}"))
}

/// `gsi2pk` of the versions of `repo`.
pub(crate) fn versions_of(repo: &str) -> AttributeValue {
    s(format!("VERSIONS#{repo}"))
}

/// `gsi2pk` of the deployments to `env`.
pub(crate) fn deployments_to(env: &str) -> AttributeValue {
    s(format!("DEPLOYMENTS#ENV#{env}"))
}

/// Partition of everything recorded about an app.
pub(super) fn app_pk(app: &str) -> AttributeValue {
    s(format!("APP#{app}"))
}

/// `gsi2pk` of the releases of `repo`.
pub(super) fn releases_of(repo: &str) -> AttributeValue {
    s(format!("RELEASES#{repo}"))
}

/// Sort key of an app's record for `env`.
pub(super) fn app_env_sk(env: &str) -> String {
    format!("ENV#{env}")
}

/// Sort key of an app's record on `host` of `env`.
pub(super) fn app_host_sk(env: &str, host: &str) -> String {
    format!("HOST#{env}#{host}")
}

/// `gsi4pk` of the deployments of `repo`.
pub(crate) fn deployments_of(repo: &str) -> AttributeValue {
    s(format!("DEPLOYMENTS#REPO#{repo}"))
}

/// `gsi3pk` of the deployments in `status`.
pub(crate) fn deployments_in(status: DeploymentStatus) -> AttributeValue {
    s(format!("DEPLOYMENTS#STATUS#{}", status.as_str()))
}

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn strings(list: &[String]) -> AttributeValue {
    AttributeValue::L(list.iter().cloned().map(AttributeValue::S).collect())
}

/// A value stored as a JSON string attribute.
pub(super) fn json<T: Serialize>(what: &str, v: &T) -> Result<AttributeValue, Error> {
    serde_json::to_string(v)
        .map(AttributeValue::S)
        .map_err(|e| Error::invalid_input(format!("{what} does not serialise: {e}")))
}

/// The `plan` attribute of deployment `id`.
pub(super) fn plan_value(id: &str, plan: &Plan) -> Result<AttributeValue, Error> {
    Ok(match StoredPlan::encode(id, plan)? {
        StoredPlan::Json(json) => AttributeValue::S(json),
        StoredPlan::Compressed(bytes) => AttributeValue::B(Blob::new(bytes)),
    })
}

fn put_opt(item: &mut Item, name: &str, v: Option<&String>) {
    if let Some(v) = v {
        item.insert(name.to_owned(), s(v.clone()));
    }
}

/// The record name of a [`VersionState`].
pub(super) fn version_state_str(state: VersionState) -> &'static str {
    match state {
        VersionState::Normal => "normal",
        VersionState::Revert => "revert",
    }
}

fn parse_version_state(s: &str) -> Option<VersionState> {
    match s {
        "normal" => Some(VersionState::Normal),
        "revert" => Some(VersionState::Revert),
        _ => None,
    }
}

/// Reads the attributes of one item, naming the item in every error.
struct Rec<'a> {
    item: &'a Item,
    what: String,
}

impl<'a> Rec<'a> {
    fn new(item: &'a Item, what: impl Into<String>) -> Self {
        Self {
            item,
            what: what.into(),
        }
    }

    fn err(&self, message: String) -> Error {
        Error::malformed(self.what.clone(), message)
    }

    fn opt_s(&self, name: &str) -> Result<Option<String>, Error> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v.clone())),
            Some(_) => Err(self.err(format!("attribute {name} is not a string"))),
        }
    }

    fn s(&self, name: &str) -> Result<String, Error> {
        self.opt_s(name)?
            .ok_or_else(|| self.err(format!("attribute {name} is missing")))
    }

    fn opt_i64(&self, name: &str) -> Result<Option<i64>, Error> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) => v
                .parse()
                .map(Some)
                .map_err(|_| self.err(format!("attribute {name} is not a whole number: {v}"))),
            Some(_) => Err(self.err(format!("attribute {name} is not a number"))),
        }
    }

    fn u32(&self, name: &str) -> Result<u32, Error> {
        match self.item.get(name) {
            // The state machine may write numbers either way.
            Some(AttributeValue::N(v) | AttributeValue::S(v)) => v
                .parse()
                .map_err(|_| self.err(format!("attribute {name} is not a whole number: {v}"))),
            _ => Err(self.err(format!("attribute {name} is missing or not a number"))),
        }
    }

    fn bool(&self, name: &str) -> Result<bool, Error> {
        match self.item.get(name) {
            None => Ok(false),
            Some(AttributeValue::Bool(b)) => Ok(*b),
            Some(_) => Err(self.err(format!("attribute {name} is not a boolean"))),
        }
    }

    fn strings(&self, name: &str) -> Result<Vec<String>, Error> {
        match self.item.get(name) {
            None => Ok(Vec::new()),
            Some(AttributeValue::L(list)) => list
                .iter()
                .map(|v| {
                    v.as_s()
                        .cloned()
                        .map_err(|_| self.err(format!("attribute {name} holds a non-string")))
                })
                .collect(),
            Some(_) => Err(self.err(format!("attribute {name} is not a list"))),
        }
    }

    fn parsed<T>(&self, name: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, Error> {
        let v = self.s(name)?;
        parse(&v).ok_or_else(|| self.err(format!("attribute {name} has unknown value {v:?}")))
    }

    /// A string attribute holding JSON of `T`.
    fn json<T: DeserializeOwned>(&self, name: &str) -> Result<T, Error> {
        let v = self.s(name)?;
        serde_json::from_str(&v).map_err(|e| self.err(format!("attribute {name}: {e}")))
    }

    /// The `plan` attribute: JSON text, or compressed JSON text ([`StoredPlan`]).
    fn plan(&self) -> Result<Plan, Error> {
        let json = match self.item.get("plan") {
            Some(AttributeValue::B(bytes)) => StoredPlan::inflate(bytes.as_ref())
                .map_err(|e| self.err(format!("attribute plan {e}")))?,
            _ => self.s("plan")?,
        };
        serde_json::from_str(&json).map_err(|e| self.err(format!("attribute plan: {e}")))
    }

    /// The part of a key attribute after `prefix`.
    fn key_rest(&self, name: &str, prefix: &str) -> Result<String, Error> {
        let v = self.s(name)?;
        v.strip_prefix(prefix)
            .map(str::to_owned)
            .ok_or_else(|| self.err(format!("{name} {v:?} does not start with {prefix}")))
    }
}

pub(super) fn repository_item(r: &Repository) -> Result<Item, Error> {
    let mut item = HashMap::from([
        ("pk".into(), repo_pk(&r.id)),
        ("sk".into(), s("META")),
        ("gsi1pk".into(), s("REPOSITORIES")),
        ("gsi1sk".into(), s(&r.id)),
        ("full_name".into(), s(&r.full_name)),
        ("host".into(), s(&r.host)),
        ("clone_url".into(), s(&r.clone_url)),
        ("provider".into(), s(r.provider.as_str())),
        ("secret_param".into(), s(&r.secret_param)),
        ("triggers".into(), strings(&r.triggers)),
        ("created_at".into(), s(&r.created_at)),
    ]);
    if let Some(p) = &r.previous_secret {
        item.insert(
            "previous_secret_version".into(),
            AttributeValue::N(p.version.to_string()),
        );
        item.insert("previous_secret_until".into(), s(&p.until));
    }
    if let Some(c) = &r.credential {
        item.insert("credential".into(), json("the repository's credential", c)?);
    }
    Ok(item)
}

pub(super) fn repository_from(item: &Item) -> Result<Repository, Error> {
    let mut rec = Rec::new(item, "repository");
    let id = rec.key_rest("pk", "REPO#")?;
    rec.what = format!("repository {id}");
    let previous_secret = match rec.opt_i64("previous_secret_version")? {
        Some(version) => Some(PreviousSecret {
            version,
            until: rec.s("previous_secret_until")?,
        }),
        None => None,
    };
    let credential = match rec.opt_s("credential")? {
        Some(_) => Some(rec.json::<GitCredential>("credential")?),
        None => None,
    };
    Ok(Repository {
        full_name: rec.s("full_name")?,
        host: rec.s("host")?,
        clone_url: rec.s("clone_url")?,
        provider: rec.parsed("provider", Provider::parse)?,
        secret_param: rec.s("secret_param")?,
        previous_secret,
        credential,
        triggers: rec.strings("triggers")?,
        created_at: rec.s("created_at")?,
        id,
    })
}

pub(super) fn last_delivery_item(id: &str, d: &LastDelivery) -> Item {
    let mut item = HashMap::from([
        ("pk".into(), repo_pk(id)),
        ("sk".into(), s(LAST_DELIVERY)),
        ("at".into(), s(&d.at)),
        ("status".into(), n(u64::from(d.status))),
        ("outcome".into(), s(&d.outcome)),
        ("message".into(), s(&d.message)),
    ]);
    put_opt(&mut item, "event", d.event.as_ref());
    put_opt(&mut item, "delivery_id", d.delivery_id.as_ref());
    item
}

pub(super) fn last_delivery_from(item: &Item) -> Result<(String, LastDelivery), Error> {
    let rec = Rec::new(item, "last delivery");
    let id = rec.key_rest("pk", "REPO#")?;
    let status = u16::try_from(rec.u32("status")?)
        .map_err(|_| rec.err("attribute status is not an HTTP status".to_owned()))?;
    Ok((
        id,
        LastDelivery {
            at: rec.s("at")?,
            event: rec.opt_s("event")?,
            delivery_id: rec.opt_s("delivery_id")?,
            status,
            outcome: rec.s("outcome")?,
            message: rec.s("message")?,
        },
    ))
}

pub(super) fn version_item(v: &VersionRecord) -> Item {
    let (repo, name) = (&v.version.repository, &v.version.name);
    let newest_first = s(version_list_key(v));
    let mut item = HashMap::from([
        ("pk".into(), repo_pk(repo)),
        ("sk".into(), s(format!("VERSION#{name}"))),
        ("gsi1pk".into(), s("VERSIONS")),
        ("gsi1sk".into(), newest_first.clone()),
        ("gsi2pk".into(), versions_of(repo)),
        ("gsi2sk".into(), newest_first),
        ("repository".into(), s(repo)),
        ("name".into(), s(name)),
        ("commit".into(), s(&v.version.commit.0)),
        ("state".into(), s(version_state_str(v.version.state))),
        ("status".into(), s(v.status.as_str())),
        ("diverged".into(), AttributeValue::Bool(v.diverged)),
        ("errors".into(), strings(&v.errors)),
        ("received_at".into(), s(&v.received_at)),
    ]);
    put_opt(&mut item, "pushed_by", v.pushed_by.as_ref());
    item
}

pub(super) fn version_from(item: &Item) -> Result<VersionRecord, Error> {
    let rec = Rec::new(item, "version");
    Ok(VersionRecord {
        version: Version {
            repository: rec.key_rest("pk", "REPO#")?,
            name: rec.key_rest("sk", "VERSION#")?,
            commit: CommitId(rec.s("commit")?),
            state: rec.parsed("state", parse_version_state)?,
        },
        status: rec.parsed("status", VersionStatus::parse)?,
        diverged: rec.bool("diverged")?,
        errors: rec.strings("errors")?,
        received_at: rec.s("received_at")?,
        pushed_by: rec.opt_s("pushed_by")?,
    })
}

pub(super) fn version_config_item(repo: &str, name: &str, source: &str) -> Item {
    HashMap::from([
        ("pk".into(), repo_pk(repo)),
        ("sk".into(), s(format!("CONFIG#{name}"))),
        ("source".into(), s(source)),
    ])
}

pub(super) fn version_config_from(item: &Item) -> Result<String, Error> {
    Rec::new(item, "version config").s("source")
}

/// The item of a deployment as created: `planned`.
pub(super) fn new_deployment_item(new: &NewDeployment) -> Result<Item, Error> {
    let newest_first = s(deployment_order(&new.created_at, &new.id));
    Ok(HashMap::from([
        ("pk".into(), deployment_pk(&new.id)),
        ("sk".into(), s("META")),
        ("gsi1pk".into(), s("DEPLOYMENTS")),
        ("gsi1sk".into(), newest_first.clone()),
        ("gsi2pk".into(), deployments_to(&new.environment)),
        ("gsi2sk".into(), newest_first.clone()),
        ("gsi3pk".into(), deployments_in(DeploymentStatus::Planned)),
        ("gsi3sk".into(), newest_first.clone()),
        ("gsi4pk".into(), deployments_of(&new.repository)),
        ("gsi4sk".into(), newest_first),
        ("id".into(), s(&new.id)),
        ("repository".into(), s(&new.repository)),
        ("version".into(), s(&new.version)),
        ("environment".into(), s(&new.environment)),
        ("status".into(), s(DeploymentStatus::Planned.as_str())),
        ("plan".into(), plan_value(&new.id, &new.plan)?),
        ("created_at".into(), s(&new.created_at)),
        ("revert".into(), AttributeValue::Bool(new.revert)),
    ]))
}

pub(super) fn deployment_from(item: &Item) -> Result<Deployment, Error> {
    let id = Rec::new(item, "deployment").key_rest("pk", "DEP#")?;
    let rec = Rec::new(item, format!("deployment {id}"));
    Ok(Deployment {
        repository: rec.s("repository")?,
        version: rec.s("version")?,
        environment: rec.s("environment")?,
        status: rec.parsed("status", DeploymentStatus::parse)?,
        plan: rec.plan()?,
        created_at: rec.s("created_at")?,
        started_at: rec.opt_s("started_at")?,
        ended_at: rec.opt_s("ended_at")?,
        failed_target: rec.opt_s("failed_target")?,
        error: rec.opt_s("error")?,
        confirmed_by: rec.opt_s("confirmed_by")?,
        revert: rec.bool("revert")?,
        id,
    })
}

pub(super) fn review_pk(id: &str) -> AttributeValue {
    s(format!("REVIEW#{id}"))
}

/// The review's two items: its reasons as JSON, and its proposal as a plan is stored
/// (compressed when large), each within an item's bound.
pub(super) fn review_items(id: &str, r: &StoredReview) -> Result<[Item; 2], Error> {
    let reasons = record_item(review_pk(id), "REVIEW", "the review", &r.review)?;
    let proposal = HashMap::from([
        ("pk".into(), review_pk(id)),
        ("sk".into(), s("PROPOSAL")),
        ("plan".into(), plan_value(id, &r.proposal)?),
    ]);
    Ok([reasons, proposal])
}

/// The review from its partition's items; `None` until both are written.
pub(super) fn review_from(items: &[Item]) -> Result<Option<StoredReview>, Error> {
    let sk = |item: &Item| item.get("sk").and_then(|v| v.as_s().ok()).cloned();
    let find = |name: &str| items.iter().find(|i| sk(i).as_deref() == Some(name));
    let (Some(reasons), Some(proposal)) = (find("REVIEW"), find("PROPOSAL")) else {
        return Ok(None);
    };
    Ok(Some(StoredReview {
        review: record_from(reasons, "review")?,
        proposal: Rec::new(proposal, "review proposal").plan()?,
    }))
}

pub(super) fn app_runs_pk(app: &str) -> AttributeValue {
    s(format!("RUNS#{app}"))
}

pub(super) fn host_runs_pk(environment: &str, host: &str) -> AttributeValue {
    s(format!("HOSTRUNS#{environment}#{host}"))
}

pub(super) fn app_progress_item(id: &str, p: &AppProgress) -> Item {
    let mut item = HashMap::from([
        ("pk".into(), deployment_pk(id)),
        ("sk".into(), s(format!("APP#{}", p.app))),
        ("status".into(), s(p.status.as_str())),
    ]);
    put_opt(&mut item, "started_at", p.started_at.as_ref());
    put_opt(&mut item, "ended_at", p.ended_at.as_ref());
    item
}

pub(super) fn batch_progress_item(id: &str, p: &BatchProgress) -> Item {
    let mut item = HashMap::from([
        ("pk".into(), deployment_pk(id)),
        ("sk".into(), s(format!("BATCH#{}#{:04}", p.app, p.index))),
        ("status".into(), s(p.status.as_str())),
    ]);
    put_opt(&mut item, "started_at", p.started_at.as_ref());
    put_opt(&mut item, "ended_at", p.ended_at.as_ref());
    item
}

pub(super) fn target_progress_item(id: &str, p: &TargetProgress) -> Item {
    let mut item = HashMap::from([
        ("pk".into(), deployment_pk(id)),
        ("sk".into(), s(format!("TARGET#{}#{}", p.app, p.target))),
        ("status".into(), s(p.status.as_str())),
        ("batch".into(), n(u64::from(p.batch))),
        ("updated_at".into(), s(&p.updated_at)),
    ]);
    put_opt(&mut item, "error_type", p.error_type.as_ref());
    put_opt(&mut item, "error", p.error.as_ref());
    item
}

pub(super) fn gate_from(item: &Item) -> Result<Gate, Error> {
    let rec = Rec::new(item, "gate");
    Ok(Gate {
        gate: rec.key_rest("sk", "GATE#")?,
        task_token: rec.s("task_token")?,
        status: rec.parsed("status", GateStatus::parse)?,
        comment: rec.opt_s("comment")?,
        by: rec.opt_s("by")?,
    })
}

pub(super) fn host_decision_sk(app: &str, target: &str) -> String {
    format!("DECISION#{app}#{target}")
}

pub(super) fn host_decision_item(id: &str, d: &HostDecision) -> Item {
    let mut item = HashMap::from([
        ("pk".into(), deployment_pk(id)),
        ("sk".into(), s(host_decision_sk(&d.app, &d.target))),
        ("task_token".into(), s(&d.task_token)),
        ("batch".into(), n(u64::from(d.batch))),
        ("attempt".into(), n(u64::from(d.attempt))),
    ]);
    if let Some(a) = d.action {
        item.insert("action".into(), s(a.as_str()));
    }
    put_opt(&mut item, "comment", d.comment.as_ref());
    put_opt(&mut item, "by", d.by.as_ref());
    item
}

pub(super) fn host_decision_from(item: &Item) -> Result<HostDecision, Error> {
    let rec = Rec::new(item, "host decision");
    let sk = rec.s("sk")?;
    let (app, target) = sk
        .strip_prefix("DECISION#")
        .and_then(|rest| rest.split_once('#'))
        .ok_or_else(|| rec.err(format!("sort key {sk:?} is not DECISION#app#target")))?;
    Ok(HostDecision {
        app: app.to_owned(),
        target: target.to_owned(),
        batch: rec.u32("batch")?,
        attempt: rec.u32("attempt")?,
        task_token: rec.s("task_token")?,
        action: rec
            .opt_s("action")?
            .map(|a| {
                FailureAction::parse(&a)
                    .ok_or_else(|| rec.err(format!("attribute action has unknown value {a:?}")))
            })
            .transpose()?,
        comment: rec.opt_s("comment")?,
        by: rec.opt_s("by")?,
    })
}

/// Adds one record of a deployment's partition to `progress`, by its sort key.
pub(super) fn add_progress(progress: &mut Progress, item: &Item) -> Result<(), Error> {
    let rec = Rec::new(item, "progress record");
    let sk = rec.s("sk")?;
    if let Some(app) = sk.strip_prefix("APP#") {
        progress.apps.push(AppProgress {
            app: app.to_owned(),
            status: rec.parsed("status", AppStatus::parse)?,
            started_at: rec.opt_s("started_at")?,
            ended_at: rec.opt_s("ended_at")?,
        });
    } else if let Some(rest) = sk.strip_prefix("BATCH#") {
        let (app, index) = rest
            .rsplit_once('#')
            .and_then(|(a, i)| Some((a, i.parse().ok()?)))
            .ok_or_else(|| rec.err(format!("sort key {sk:?} is not BATCH#app#index")))?;
        progress.batches.push(BatchProgress {
            app: app.to_owned(),
            index,
            status: rec.parsed("status", BatchStatus::parse)?,
            started_at: rec.opt_s("started_at")?,
            ended_at: rec.opt_s("ended_at")?,
        });
    } else if let Some(rest) = sk.strip_prefix("TARGET#") {
        let (app, target) = rest
            .split_once('#')
            .ok_or_else(|| rec.err(format!("sort key {sk:?} is not TARGET#app#target")))?;
        progress.targets.push(TargetProgress {
            app: app.to_owned(),
            target: target.to_owned(),
            status: rec.parsed("status", TargetStatus::parse)?,
            batch: rec.u32("batch")?,
            updated_at: rec.s("updated_at")?,
            error_type: rec.opt_s("error_type")?,
            error: rec.opt_s("error")?,
        });
    } else if sk.starts_with("GATE#") {
        progress.gates.push(gate_from(item)?);
    } else if sk.starts_with("DECISION#") {
        progress.decisions.push(host_decision_from(item)?);
    }
    Ok(())
}

pub(super) fn lock_holder_from(item: &Item, env: &str, app: &str) -> Result<String, Error> {
    Rec::new(item, format!("run lock {env}/{app}")).s("deployment_id")
}

pub(super) fn agent_item(agent: &Agent) -> Item {
    let mut item = HashMap::from([
        (
            "pk".into(),
            s(format!("AGENT#{}#{}", agent.env, agent.host)),
        ),
        ("sk".into(), s("META")),
        ("gsi1pk".into(), s("AGENTS")),
        ("gsi1sk".into(), s(format!("{}#{}", agent.env, agent.host))),
        ("env".into(), s(&agent.env)),
        ("host".into(), s(&agent.host)),
        ("group".into(), s(&agent.group)),
        ("last_seen".into(), s(&agent.last_seen)),
        ("observed_at".into(), s(&agent.observed_at)),
        ("apps".into(), s(agent.apps.to_string())),
    ]);
    put_opt(&mut item, "live_until", agent.live_until.as_ref());
    item
}

pub(super) fn agent_from(item: &Item) -> Result<Agent, Error> {
    let rec = Rec::new(item, "agent");
    Ok(Agent {
        env: rec.s("env")?,
        host: rec.s("host")?,
        group: rec.s("group")?,
        last_seen: rec.s("last_seen")?,
        // Records from before observations were kept: their report time stands in.
        observed_at: match rec.opt_s("observed_at")? {
            Some(at) => at,
            None => rec.s("last_seen")?,
        },
        live_until: rec.opt_s("live_until")?,
        apps: rec.json("apps")?,
    })
}

/// Adds the record `item` of `app`'s partition to `records` (the `META` item adds nothing; a
/// host that stopped reporting the app is left out).
pub(super) fn add_app_record(
    records: &mut AppRecords,
    item: &Item,
    app: &str,
) -> Result<(), Error> {
    let rec = Rec::new(item, format!("app {app}"));
    let sk = rec.s("sk")?;
    if sk.starts_with("ENV#") {
        let release = match rec.opt_s("deployment")? {
            Some(deployment) => Some(Release {
                repository: rec.s("repository")?,
                version: rec.s("version")?,
                deployment,
                targets: rec.strings("targets")?,
            }),
            None => None,
        };
        records.environments.push(AppEnvironment {
            env: rec.key_rest("sk", "ENV#")?,
            release,
        });
    } else if sk.starts_with("HOST#") && rec.bool("present")? {
        records.hosts.push(AppOnHost {
            env: rec.s("env")?,
            host: rec.s("host")?,
            version: rec.opt_s("version")?,
        });
    }
    Ok(())
}

/// Partition key of a deployment's hook outputs.
/// Partition of a deployment's notification deliveries.
/// The partition of installation-wide settings.
pub(super) const SETTINGS: &str = "SETTINGS";
/// The sort key of the default notification rules.
pub(super) const NOTIFY_DEFAULTS: &str = "NOTIFY_DEFAULTS";

/// The partition of a deployment's waivers, override and hold.
pub(super) fn policy_pk(id: &str) -> AttributeValue {
    s(format!("POLICY#{id}"))
}
/// The sort key of a deployment's hold in its policy partition.
pub(super) const HOLD: &str = "HOLD";
/// The deployment id and hold of a [`HOLD`] item of a policy partition (`None` once cleared).
pub(super) fn hold_from(item: &Item) -> Result<(String, Option<Hold>), Error> {
    let id = Rec::new(item, "hold").key_rest("pk", "POLICY#")?;
    let hold = record_from(item, &format!("hold of {id}"))?;
    Ok((id, hold))
}
/// The partition of the managed freeze windows.
pub(super) const FREEZES: &str = "FREEZES";

/// An item whose body is one JSON `record`.
pub(super) fn record_item<T: Serialize>(
    pk: AttributeValue,
    sk: &str,
    what: &str,
    record: &T,
) -> Result<Item, Error> {
    Ok(HashMap::from([
        ("pk".into(), pk),
        ("sk".into(), s(sk)),
        ("record".into(), json(what, record)?),
    ]))
}

/// The JSON `record` of an item written by [`record_item`].
pub(super) fn record_from<T: DeserializeOwned>(item: &Item, what: &str) -> Result<T, Error> {
    Rec::new(item, what).json("record")
}

pub(super) fn analysis_pk(id: &str) -> AttributeValue {
    s(format!("ANALYSIS#{id}"))
}

pub(super) fn analysis_item(id: &str, r: &AnalysisRecord) -> Result<Item, Error> {
    let mut item = HashMap::from([
        ("pk".into(), analysis_pk(id)),
        (
            "sk".into(),
            s(format!("{}#{:04}#{}", r.app, r.batch, r.check)),
        ),
        ("app".into(), s(&r.app)),
        ("batch".into(), n(u64::from(r.batch))),
        ("check".into(), s(&r.check)),
        ("condition".into(), s(&r.condition)),
        ("measured".into(), n(r.measurements.len() as u64)),
        (
            "measurements".into(),
            json("the analysis measurements", &r.measurements)?,
        ),
        ("updated_at".into(), s(&r.updated_at)),
    ]);
    if let Some(v) = r.verdict {
        item.insert("verdict".into(), s(v.as_str()));
    }
    put_opt(&mut item, "message", r.message.as_ref());
    Ok(item)
}

pub(super) fn analysis_from(item: &Item) -> Result<AnalysisRecord, Error> {
    let rec = Rec::new(item, "analysis check");
    Ok(AnalysisRecord {
        app: rec.s("app")?,
        batch: rec.u32("batch")?,
        check: rec.s("check")?,
        condition: rec.s("condition")?,
        measurements: rec.json("measurements")?,
        verdict: rec
            .opt_s("verdict")?
            .map(|v| Outcome::parse(&v).ok_or_else(|| rec.err(format!("unknown verdict {v:?}"))))
            .transpose()?,
        message: rec.opt_s("message")?,
        updated_at: rec.s("updated_at")?,
    })
}

pub(super) fn notification_defaults_item(d: &NotificationDefaults) -> Result<Item, Error> {
    Ok(HashMap::from([
        ("pk".into(), s(SETTINGS)),
        ("sk".into(), s(NOTIFY_DEFAULTS)),
        (
            "rules".into(),
            json("the default notification rules", &d.rules)?,
        ),
        ("updated_at".into(), s(&d.updated_at)),
        ("updated_by".into(), s(&d.updated_by)),
    ]))
}

pub(super) fn notification_defaults_from(item: &Item) -> Result<NotificationDefaults, Error> {
    let rec = Rec::new(item, "notification defaults");
    Ok(NotificationDefaults {
        rules: rec.json("rules")?,
        updated_at: rec.s("updated_at")?,
        updated_by: rec.s("updated_by")?,
    })
}

pub(super) fn notify_pk(id: &str) -> AttributeValue {
    s(format!("NOTIFY#{id}"))
}

/// Sort key of one delivery.
pub(super) fn notify_sk(sink: &str, event: &str) -> AttributeValue {
    s(format!("{sink}#{event}"))
}

pub(super) fn notification_from(item: &Item) -> Result<Notification, Error> {
    let rec = Rec::new(item, "notification");
    let state = rec.s("state")?;
    Ok(Notification {
        sink: rec.s("sink")?,
        event: rec.s("event")?,
        state: DeliveryState::parse(&state)
            .ok_or_else(|| rec.err(format!("unknown delivery state {state:?}")))?,
        attempts: rec.u32("attempts")?,
        updated_at: rec.s("updated_at")?,
        summary: rec.s("summary")?,
        error: rec.opt_s("error")?,
        remote_id: rec
            .opt_i64("remote_id")?
            .map(|v| u64::try_from(v).map_err(|_| rec.err(format!("remote_id {v} is negative"))))
            .transpose()?,
    })
}

pub(super) fn output_pk(id: &str) -> AttributeValue {
    s(format!("OUTPUT#{id}"))
}

pub(super) fn task_output_item(id: &str, o: &TaskOutput) -> Item {
    HashMap::from([
        ("pk".into(), output_pk(id)),
        (
            "sk".into(),
            s(format!("{}#{}#{}", o.app, o.target, o.action)),
        ),
        ("app".into(), s(&o.app)),
        ("target".into(), s(&o.target)),
        ("action".into(), s(&o.action)),
        ("output".into(), s(&o.output)),
        ("truncated".into(), AttributeValue::Bool(o.truncated)),
        ("at".into(), s(&o.at)),
    ])
}

pub(super) fn task_output_from(item: &Item) -> Result<TaskOutput, Error> {
    let rec = Rec::new(item, "task output");
    Ok(TaskOutput {
        app: rec.s("app")?,
        target: rec.s("target")?,
        action: rec.s("action")?,
        output: rec.s("output")?,
        truncated: matches!(item.get("truncated"), Some(AttributeValue::Bool(true))),
        at: rec.s("at")?,
    })
}

pub(super) fn api_token_item(secret: &str, token: &ApiToken) -> Item {
    let mut item = HashMap::from([
        ("pk".into(), token_pk(secret)),
        ("sk".into(), s("META")),
        ("gsi1pk".into(), s("TOKENS")),
        ("gsi1sk".into(), s(&token.name)),
        ("role".into(), s(token.role.as_str())),
        ("name".into(), s(&token.name)),
        ("created_at".into(), s(&token.created_at)),
    ]);
    put_opt(&mut item, "expires", token.expires.as_ref());
    put_opt(&mut item, "last_used", token.last_used.as_ref());
    item
}

pub(super) fn token_name_item(secret: &str, name: &str) -> Item {
    HashMap::from([
        ("pk".into(), token_name_pk(name)),
        ("sk".into(), s("META")),
        ("token_hash".into(), s(super::token_hash(secret))),
    ])
}

pub(super) fn token_hash_from(item: &Item, name: &str) -> Result<String, Error> {
    Rec::new(item, format!("api token name {name}")).s("token_hash")
}

pub(super) fn api_token_from(item: &Item) -> Result<ApiToken, Error> {
    let rec = Rec::new(item, "api token");
    Ok(ApiToken {
        name: rec.s("name")?,
        role: rec.parsed("role", Role::parse)?,
        created_at: rec.s("created_at")?,
        expires: rec.opt_s("expires")?,
        last_used: rec.opt_s("last_used")?,
    })
}

pub(super) fn audit_item(entry: &AuditEntry) -> Item {
    HashMap::from([
        ("pk".into(), s("AUDIT")),
        ("sk".into(), s(format!("{}#{}", entry.at, entry.id))),
        ("at".into(), s(&entry.at)),
        ("id".into(), s(&entry.id)),
        ("who".into(), s(&entry.who)),
        ("action".into(), s(&entry.action)),
        ("target".into(), s(&entry.target)),
        ("detail".into(), strings(&entry.detail)),
    ])
}

pub(super) fn audit_from(item: &Item) -> Result<AuditEntry, Error> {
    let rec = Rec::new(item, "audit entry");
    Ok(AuditEntry {
        at: rec.s("at")?,
        id: rec.s("id")?,
        who: rec.s("who")?,
        action: rec.s("action")?,
        target: rec.s("target")?,
        detail: rec.strings("detail")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            environment: "prod".to_owned(),
            version: "v1".to_owned(),
            stages: Vec::new(),
            skipped: Vec::new(),
        }
    }

    fn new_deployment() -> NewDeployment {
        NewDeployment {
            id: "dep-1".to_owned(),
            repository: "shop".to_owned(),
            version: "v1".to_owned(),
            environment: "prod".to_owned(),
            plan: plan(),
            created_at: "2026-11-29T10:00:00.000Z".to_owned(),
            revert: false,
        }
    }

    #[test]
    fn deployments_round_trip_with_their_plan() {
        let item = new_deployment_item(&new_deployment()).unwrap();
        let d = deployment_from(&item).unwrap();
        assert_eq!(d.id, "dep-1");
        assert_eq!(d.status, DeploymentStatus::Planned);
        assert_eq!(d.plan, plan());
        assert_eq!(
            item["plan"].as_s().unwrap(),
            &serde_json::to_string(&plan()).unwrap(),
            "the plan is stored as its JSON text"
        );
        assert!(!d.revert);
        let revert = NewDeployment {
            revert: true,
            ..new_deployment()
        };
        assert!(
            deployment_from(&new_deployment_item(&revert).unwrap())
                .unwrap()
                .revert
        );
        // Written before the flag existed: not a revert.
        let mut older = item;
        older.remove("revert");
        assert!(!deployment_from(&older).unwrap().revert);
    }

    /// One mapping for every plan that cannot be read: malformed, naming deployment and attribute.
    #[test]
    fn an_unreadable_plan_is_a_malformed_record_naming_the_deployment() {
        for bad in ["{not json", r#"{"stages":[1]}"#, "[]"] {
            let mut item = new_deployment_item(&new_deployment()).unwrap();
            item.insert("plan".into(), s(bad));
            let err = deployment_from(&item).unwrap_err();
            assert_eq!(err.error_type(), "Malformed", "{bad}: {err}");
            let text = err.to_string();
            assert!(
                text.starts_with("malformed record deployment dep-1: attribute plan: "),
                "{text}"
            );
        }
        let mut item = new_deployment_item(&new_deployment()).unwrap();
        item.remove("plan");
        let err = deployment_from(&item).unwrap_err();
        assert_eq!(
            err.to_string(),
            "malformed record deployment dep-1: attribute plan is missing"
        );
    }

    fn repository() -> Repository {
        Repository {
            id: "gitlab.example.com/group/sub/shop".to_owned(),
            full_name: "Group/Sub/Shop".to_owned(),
            host: "gitlab.example.com".to_owned(),
            clone_url: "https://gitlab.example.com/Group/Sub/Shop.git".to_owned(),
            provider: Provider::GitLab,
            secret_param: "/boreas/webhook-secrets/shop".to_owned(),
            previous_secret: None,
            credential: None,
            triggers: vec!["refs/tags/v*".to_owned()],
            created_at: "2026-11-29T10:00:00.000Z".to_owned(),
        }
    }

    #[test]
    fn repositories_keep_their_provider_and_refuse_unknown_ones() {
        let repo = repository();
        let mut item = repository_item(&repo).unwrap();
        assert_eq!(item["provider"].as_s().unwrap(), "gitlab");
        assert_eq!(
            item["pk"].as_s().unwrap(),
            "REPO#gitlab.example.com/group/sub/shop"
        );
        assert_eq!(repository_from(&item).unwrap(), repo);
        item.insert("provider".into(), s("bitbucket"));
        let err = repository_from(&item).unwrap_err();
        assert_eq!(
            err.to_string(),
            "malformed record repository gitlab.example.com/group/sub/shop: attribute provider \
             has unknown value \"bitbucket\""
        );
    }

    #[test]
    fn credentials_are_stored_by_reference_and_previous_secrets_by_version() {
        let mut repo = repository();
        repo.credential = Some(GitCredential::GithubApp {
            app_id: 42,
            key_param: "/boreas/git-credentials/k".to_owned(),
            api_url: "https://api.github.com".to_owned(),
        });
        repo.previous_secret = Some(PreviousSecret {
            version: 3,
            until: "2026-12-01T00:00:00.000Z".to_owned(),
        });
        let item = repository_item(&repo).unwrap();
        assert_eq!(
            item["credential"].as_s().unwrap(),
            r#"{"kind":"github_app","app_id":42,"key_param":"/boreas/git-credentials/k","api_url":"https://api.github.com"}"#
        );
        assert_eq!(item["previous_secret_version"].as_n().unwrap(), "3");
        assert_eq!(repository_from(&item).unwrap(), repo);
        assert_eq!(
            repo.previous_secret_param("2026-11-30T00:00:00.000Z")
                .as_deref(),
            Some("/boreas/webhook-secrets/shop:3")
        );
        assert_eq!(repo.previous_secret_param("2026-12-01T00:00:00.000Z"), None);
    }

    #[test]
    fn tokens_round_trip_without_their_secret() {
        let mut token = ApiToken::new("ci", Role::Deployer, "2026-11-29T10:00:00.000Z");
        token.expires = Some("2027-02-27T10:00:00.000Z".to_owned());
        let item = api_token_item("s3cret", &token);
        assert!(
            item.values()
                .all(|v| v.as_s().map_or(true, |s| !s.contains("s3cret"))),
            "{item:?}"
        );
        assert_eq!(api_token_from(&item).unwrap(), token);
        assert!(token.expired("2027-02-27T10:00:00.000Z"));
        assert!(!token.expired("2027-02-27T09:59:59.999Z"));
    }
}
