//! Local provisioning: creates, through plain SDK calls, every resource of `infra/template.yaml` that an
//! emulator can host — the table (keys, GSI, TTL, point-in-time recovery), the queues with their
//! dead-letter queues, the SSM SecureStrings, the buckets and the deployment state machine — with the
//! names of [`Names`].
//!
//! It is idempotent: what exists and matches is left alone, what drifted (queue attributes, the state
//! machine definition) is updated, and a second run reports no changes. SecureStrings are generated
//! only when absent, so their values survive re-provisioning. The state machine is created through the
//! Step Functions API because moto does not execute state machines created through CloudFormation.
//!
//! The IAM role of the state machine is not created: emulators accept any role ARN, so the state
//! machine gets `arn:aws:iam::ACCOUNT:role/{prefix}-deployment` ([`state_machine_role_arn`]). Real
//! accounts are provisioned with the SAM template, which creates the role.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType,
    PointInTimeRecoverySpecification, PointInTimeRecoveryStatus, Projection, ProjectionType,
    ScalarAttributeType, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_s3::types::{
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_ssm::types::ParameterType;
use boreas_core::deployment::DeploymentStatus;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::names::{DEFAULT_K8S_CLUSTER, Names};
use crate::store::{DynamoStore, deployments_in, deployments_of, deployments_to, versions_of};

/// The full name of the local platform's demo repository, as its webhooks carry it.
pub const DEMO_FULL_NAME: &str = "boreas/demo";
/// The host of the demo repository: its payloads' web URLs are `file://` URLs of this machine.
pub const DEMO_HOST: &str = "localhost";
/// The id of the demo repository, whose webhook secret is generated for local use
/// (`host/full_name`, see [`boreas_core::repository`]).
pub const DEMO_REPOSITORY: &str = "localhost/boreas/demo";

/// Name of the table's one global secondary index.
pub const GSI1: &str = "gsi1";
/// Versions by repository, deployments by environment, releases by repository (see
/// [`crate::store`]).
pub const GSI2: &str = "gsi2";
/// Deployments by status.
pub const GSI3: &str = "gsi3";
/// Deployments by repository.
pub const GSI4: &str = "gsi4";
/// Every global secondary index of the table, each on `{name}pk`/`{name}sk`, projection ALL.
pub const INDEXES: [&str; 4] = [GSI1, GSI2, GSI3, GSI4];
/// The TTL attribute (epoch seconds) that expires webhook deliveries.
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// Receives before a message moves to its dead-letter queue (the template's `maxReceiveCount`).
pub const MAX_RECEIVE_COUNT: u32 = 5;
/// How long dead letters are kept: 14 days, the SQS maximum.
pub const DLQ_RETENTION_SECS: u32 = 1_209_600;

/// The substitution keys of the state machine definition, shared with the template.
pub const SUBSTITUTION_KEYS: [&str; 6] = [
    "TableName",
    "EventsQueueUrl",
    "NotificationsQueueUrl",
    "AnalysisQueueUrl",
    "QueueUrlPrefix",
    "PlanBucket",
];

/// Bytes of randomness in each generated secret (hex encoded).
const SECRET_BYTES: usize = 32;

/// Receives of a cluster-queue message before its dead-letter queue: the Lambda operator hands a
/// command still rolling out back to the queue at the end of each invocation, so a 900 s rollout
/// under its 60 s timeout takes up to 17 receives, plus the [`MAX_RECEIVE_COUNT`] of any command.
pub const K8S_MAX_RECEIVE_COUNT: u32 = 25;

/// A queue with a dead-letter queue, as the template declares it.
#[derive(Debug, Clone, Copy)]
struct QueueSpec {
    key: &'static str,
    /// Six times the timeout of the function that consumes it (the template says the same).
    visibility_timeout_secs: u32,
    /// Receives before the dead-letter queue.
    max_receive_count: u32,
}

/// Receives of a notice before its dead-letter queue: every retry of a sink is a receive
/// ([`boreas_core::notify::Backoff::DEFAULT`]), plus the [`MAX_RECEIVE_COUNT`] of any message.
pub const NOTIFY_MAX_RECEIVE_COUNT: u32 =
    boreas_core::notify::Backoff::DEFAULT.attempts + MAX_RECEIVE_COUNT;

/// Receives of an analysis request before its dead-letter queue: the request comes back for each
/// measurement and at least every [`ANALYSIS_WAKE_SECS`], so this is the SQS maximum.
pub const ANALYSIS_MAX_RECEIVE_COUNT: u32 = 1000;

/// The longest an analysis request waits between two receives (the worker's heartbeat).
pub const ANALYSIS_WAKE_SECS: u64 = 300;

const QUEUES: [QueueSpec; 6] = [
    QueueSpec {
        key: "plan",
        visibility_timeout_secs: 720,
        max_receive_count: MAX_RECEIVE_COUNT,
    },
    QueueSpec {
        key: "events",
        visibility_timeout_secs: 180,
        max_receive_count: MAX_RECEIVE_COUNT,
    },
    QueueSpec {
        key: "inventory",
        visibility_timeout_secs: 180,
        max_receive_count: MAX_RECEIVE_COUNT,
    },
    QueueSpec {
        key: "notifications",
        visibility_timeout_secs: 180,
        max_receive_count: NOTIFY_MAX_RECEIVE_COUNT,
    },
    QueueSpec {
        key: "analysis",
        visibility_timeout_secs: 720,
        max_receive_count: ANALYSIS_MAX_RECEIVE_COUNT,
    },
    QueueSpec {
        key: "k8s",
        visibility_timeout_secs: 360,
        max_receive_count: K8S_MAX_RECEIVE_COUNT,
    },
];

/// A queue and its dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionedQueue {
    pub name: String,
    pub url: String,
    pub visibility_timeout_secs: u32,
    /// Receives before a message moves to the dead-letter queue.
    pub max_receive_count: u32,
    pub dlq_name: String,
    pub dlq_url: String,
}

/// What provisioning created or found: printed as JSON by `boreas provision`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provisioned {
    pub prefix: String,
    pub table: String,
    /// Global secondary indexes of the table.
    pub indexes: Vec<String>,
    /// By role: `plan`, `events`, `inventory`, `notifications`, `analysis`, `k8s` (the command queue of the cluster [`DEFAULT_K8S_CLUSTER`]).
    pub queues: BTreeMap<String, ProvisionedQueue>,
    pub state_machine_arn: String,
    /// SSM SecureString names by role (`admin_token`, `webhook_secret:<repo>`); never their values.
    pub parameters: BTreeMap<String, String>,
    /// By role: `dashboard`, `artifacts`.
    pub buckets: BTreeMap<String, String>,
    /// The definition substitutions applied to the state machine.
    pub substitutions: BTreeMap<String, String>,
    /// What this run created or updated; empty when everything already matched.
    #[serde(skip)]
    pub changes: Vec<String>,
}

/// Creates every resource for `names` (see the module documentation) from the definition at `asl_path`.
pub async fn provision(
    cfg: &SdkConfig,
    names: &Names,
    asl_path: &Path,
) -> Result<Provisioned, Error> {
    // Check the definition first: a missing or broken file must fail before anything is created.
    let asl = std::fs::read_to_string(asl_path).map_err(|source| Error::Io {
        path: asl_path.to_owned(),
        source,
    })?;
    let placeholder_values: BTreeMap<String, String> = SUBSTITUTION_KEYS
        .iter()
        .map(|k| ((*k).to_owned(), String::new()))
        .collect();
    substitute(&asl, &placeholder_values)
        .map_err(|message| Error::invalid_input(format!("{}: {message}", asl_path.display())))?;
    let mut changes = Vec::new();

    let dynamodb = aws_sdk_dynamodb::Client::new(cfg);
    let table = names.table();
    let indexes = ensure_table(&dynamodb, &table, &mut changes).await?;
    project_existing(&dynamodb, &table, &mut changes).await?;

    let sqs = aws_sdk_sqs::Client::new(cfg);
    let mut queues = BTreeMap::new();
    for spec in QUEUES {
        let name = match spec.key {
            "plan" => names.plan_queue(),
            "events" => names.events_queue(),
            "inventory" => names.inventory_queue(),
            "notifications" => names.notifications_queue(),
            "analysis" => names.analysis_queue(),
            _ => names.k8s_queue(DEFAULT_K8S_CLUSTER),
        };
        let queue = ensure_queue_with_dlq(&sqs, &name, spec, &mut changes).await?;
        queues.insert(spec.key.to_owned(), queue);
    }

    let ssm = aws_sdk_ssm::Client::new(cfg);
    let mut parameters = BTreeMap::new();
    for (role, name) in [
        (
            format!("webhook_secret:{DEMO_REPOSITORY}"),
            names.webhook_secret_param(DEMO_REPOSITORY),
        ),
        ("admin_token".to_owned(), names.admin_token_param()),
    ] {
        ensure_secure_string(&ssm, &name, &mut changes).await?;
        parameters.insert(role, name);
    }

    let s3 = aws_sdk_s3::Client::new(cfg);
    let mut buckets = BTreeMap::new();
    for (role, name) in [
        ("dashboard", names.dashboard_bucket()),
        ("artifacts", names.artifacts_bucket()),
        ("plans", names.plans_bucket()),
    ] {
        ensure_bucket(&s3, cfg, &name, &mut changes).await?;
        buckets.insert(role.to_owned(), name);
    }

    let events = &queues["events"];
    let account = account_of_queue_url(&events.url)?;
    let queue_url_base = events
        .url
        .strip_suffix(&events.name)
        .ok_or_else(|| Error::malformed(&events.url, "queue URL does not end with its name"))?;
    let substitutions: BTreeMap<String, String> = [
        ("TableName", table.clone()),
        ("EventsQueueUrl", events.url.clone()),
        ("NotificationsQueueUrl", queues["notifications"].url.clone()),
        ("AnalysisQueueUrl", queues["analysis"].url.clone()),
        ("QueueUrlPrefix", names.queue_url_prefix(queue_url_base)),
        ("PlanBucket", names.plans_bucket()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let definition = substitute(&asl, &substitutions)
        .map_err(|message| Error::invalid_input(format!("{}: {message}", asl_path.display())))?;
    let sfn = aws_sdk_sfn::Client::new(cfg);
    let state_machine_arn = ensure_state_machine(
        &sfn,
        &names.state_machine(),
        &definition,
        &state_machine_role_arn(&account, names),
        &mut changes,
    )
    .await?;

    Ok(Provisioned {
        prefix: names.prefix().to_owned(),
        table,
        indexes,
        queues,
        state_machine_arn,
        parameters,
        buckets,
        substitutions,
        changes,
    })
}

/// The role ARN given to the state machine on an emulator (which does not check it).
pub fn state_machine_role_arn(account: &str, names: &Names) -> String {
    format!("arn:aws:iam::{account}:role/{}", names.state_machine())
}

/// The account id in a queue URL (`SCHEME://HOST/ACCOUNT/NAME`).
fn account_of_queue_url(url: &str) -> Result<String, Error> {
    let path = url.split("://").nth(1).unwrap_or(url);
    let mut segments = path.split('/').skip(1);
    match (segments.next(), segments.next()) {
        (Some(account), Some(_)) if !account.is_empty() => Ok(account.to_owned()),
        _ => Err(Error::malformed(url, "queue URL has no account segment")),
    }
}

/// Replaces every `${Key}` of `substitutions` in `definition`; fails on placeholders left unknown and
/// on a result that is not JSON.
pub fn substitute(
    definition: &str,
    substitutions: &BTreeMap<String, String>,
) -> Result<String, String> {
    let mut out = definition.to_owned();
    for (key, value) in substitutions {
        out = out.replace(&format!("${{{key}}}"), value);
    }
    let unknown = placeholders(&out);
    if !unknown.is_empty() {
        return Err(format!(
            "unknown substitution placeholder(s) {unknown:?}; provisioning supplies {:?}",
            substitutions.keys().collect::<Vec<_>>()
        ));
    }
    serde_json::from_str::<serde_json::Value>(&out).map_err(|e| {
        format!(
            "not valid JSON after substitution (line {}, column {}): {e}",
            e.line(),
            e.column()
        )
    })?;
    Ok(out)
}

/// The `${Name}` placeholders in a definition, sorted and deduplicated.
pub fn placeholders(definition: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = definition;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        found.push(after[..end].to_owned());
        rest = &after[end + 1..];
    }
    found.sort();
    found.dedup();
    found
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, Error> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| Error::invalid_input(e.to_string()))
}

fn string_attribute(name: &str) -> Result<AttributeDefinition, Error> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| Error::invalid_input(e.to_string()))
}

/// Creates the table unless it exists (then checks its keys), and switches TTL and PITR on.
/// Returns the names of its global secondary indexes.
async fn ensure_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    changes: &mut Vec<String>,
) -> Result<Vec<String>, Error> {
    let exists = match client.describe_table().table_name(table).send().await {
        Ok(_) => true,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            false
        }
        Err(e) => return Err(Error::sdk("dynamodb", &e)),
    };
    if !exists {
        let created = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(
                [string_attribute("pk")?, string_attribute("sk")?]
                    .into_iter()
                    .chain(index_attributes(&INDEXES)?)
                    .collect(),
            ))
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .set_global_secondary_indexes(Some(
                INDEXES.iter().map(|i| index(i)).collect::<Result<_, _>>()?,
            ))
            .send()
            .await;
        match created {
            Ok(_) => changes.push(format!("created table {table}")),
            // Another provisioner won the race; the checks below still apply.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) => {}
            Err(e) => return Err(Error::sdk("dynamodb", &e)),
        }
    }
    let description = wait_for_active_table(client, table).await?;

    let keys: Vec<(String, KeyType)> = description
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name().to_owned(), k.key_type().clone()))
        .collect();
    let want = vec![
        ("pk".to_owned(), KeyType::Hash),
        ("sk".to_owned(), KeyType::Range),
    ];
    if keys != want {
        return Err(Error::Conflict {
            what: format!("table {table}"),
            reason: format!("it exists with key schema {keys:?}, Boreas needs {want:?}"),
        });
    }
    let mut indexes: Vec<String> = description
        .global_secondary_indexes()
        .iter()
        .filter_map(|g| g.index_name().map(str::to_owned))
        .collect();
    // A table made before an index existed gets it, one at a time (DynamoDB's rule). Its items
    // get the index keys first: should a run stop half-way, an index is still missing and the
    // next run gives the keys again (idempotently) before adding it.
    let missing: Vec<&str> = INDEXES
        .into_iter()
        .filter(|i| !indexes.iter().any(|have| have == i))
        .collect();
    if exists && !missing.is_empty() {
        let indexed = index_existing_items(client, table).await?;
        if indexed > 0 {
            changes.push(format!(
                "gave {indexed} existing items of table {table} their index keys"
            ));
        }
    }
    for name in &missing {
        client
            .update_table()
            .table_name(table)
            .set_attribute_definitions(Some(index_attributes(&[name])?))
            .global_secondary_index_updates(
                GlobalSecondaryIndexUpdate::builder()
                    .create(create_index(name)?)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| Error::sdk("dynamodb", &e))?;
        wait_for_active_table(client, table).await?;
        changes.push(format!("added index {name} to table {table}"));
        indexes.push((*name).to_owned());
    }

    let ttl = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|e| Error::sdk("dynamodb", &e))?;
    let ttl = ttl.time_to_live_description();
    let status = ttl.and_then(|t| t.time_to_live_status());
    let attribute = ttl.and_then(|t| t.attribute_name());
    match status {
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
            if attribute == Some(TTL_ATTRIBUTE) => {}
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling) => {
            return Err(Error::Conflict {
                what: format!("table {table}"),
                reason: format!(
                    "its TTL attribute is {attribute:?}, Boreas needs {TTL_ATTRIBUTE:?}"
                ),
            });
        }
        _ => {
            client
                .update_time_to_live()
                .table_name(table)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(TTL_ATTRIBUTE)
                        .enabled(true)
                        .build()
                        .map_err(|e| Error::invalid_input(e.to_string()))?,
                )
                .send()
                .await
                .map_err(|e| Error::sdk("dynamodb", &e))?;
            changes.push(format!("enabled TTL on {table}.{TTL_ATTRIBUTE}"));
        }
    }

    let backups = client
        .describe_continuous_backups()
        .table_name(table)
        .send()
        .await
        .map_err(|e| Error::sdk("dynamodb", &e))?;
    let pitr = backups
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .and_then(|p| p.point_in_time_recovery_status());
    if pitr != Some(&PointInTimeRecoveryStatus::Enabled) {
        client
            .update_continuous_backups()
            .table_name(table)
            .point_in_time_recovery_specification(
                PointInTimeRecoverySpecification::builder()
                    .point_in_time_recovery_enabled(true)
                    .build()
                    .map_err(|e| Error::invalid_input(e.to_string()))?,
            )
            .send()
            .await
            .map_err(|e| Error::sdk("dynamodb", &e))?;
        changes.push(format!("enabled point-in-time recovery on {table}"));
    }
    Ok(indexes)
}

/// Polls until the table and its indexes are ACTIVE (at once on an emulator; seconds on AWS,
/// longer for an index added to a large table).
async fn wait_for_active_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<aws_sdk_dynamodb::types::TableDescription, Error> {
    const ATTEMPTS: u32 = 120;
    for _ in 0..ATTEMPTS {
        let described = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| Error::sdk("dynamodb", &e))?;
        // An index being added answers queries only once it is ACTIVE too.
        if let Some(description) = described.table
            && description.table_status() == Some(&TableStatus::Active)
            && description
                .global_secondary_indexes()
                .iter()
                .all(|i| i.index_status().is_none_or(|s| *s == IndexStatus::Active))
        {
            return Ok(description);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    Err(Error::Conflict {
        what: format!("table {table}"),
        reason: format!("not ACTIVE after {ATTEMPTS} checks"),
    })
}

/// The index `name` on `{name}pk`/`{name}sk`, projection ALL.
fn index(name: &str) -> Result<GlobalSecondaryIndex, Error> {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(&format!("{name}pk"), KeyType::Hash)?)
        .key_schema(key(&format!("{name}sk"), KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(|e| Error::invalid_input(e.to_string()))
}

/// The action that adds index `name` to an existing table.
fn create_index(name: &str) -> Result<CreateGlobalSecondaryIndexAction, Error> {
    let index = index(name)?;
    CreateGlobalSecondaryIndexAction::builder()
        .index_name(name)
        .set_key_schema(Some(index.key_schema))
        .set_projection(index.projection)
        .build()
        .map_err(|e| Error::invalid_input(e.to_string()))
}

/// The attribute definitions of the keys of `indexes`.
fn index_attributes(indexes: &[&str]) -> Result<Vec<AttributeDefinition>, Error> {
    indexes
        .iter()
        .flat_map(|i| [format!("{i}pk"), format!("{i}sk")])
        .map(|a| string_attribute(&a))
        .collect()
}

/// Brings the records of an existing table up to this release where another tool manages the
/// table (the SAM stack creates its indexes): gives versions and deployments the index keys they
/// lack and projects the app views, idempotently; what it changed. It scans the table once, so it
/// is a one-off step after a deploy, never a request path. [`Error::NotFound`] for a missing table,
/// [`Error::Conflict`] for a missing index (deploy the stack of this release first).
pub async fn upgrade_table(cfg: &SdkConfig, table: &str) -> Result<Vec<String>, Error> {
    let client = aws_sdk_dynamodb::Client::new(cfg);
    match client.describe_table().table_name(table).send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Err(Error::not_found(format!("table {table}")));
        }
        Err(e) => return Err(Error::sdk("dynamodb", &e)),
    }
    let description = wait_for_active_table(&client, table).await?;
    for index in INDEXES {
        if !description
            .global_secondary_indexes()
            .iter()
            .any(|i| i.index_name() == Some(index))
        {
            return Err(Error::Conflict {
                what: format!("table {table}"),
                reason: format!("it has no index {index}: deploy the stack of this release first"),
            });
        }
    }
    let mut changes = Vec::new();
    let indexed = index_existing_items(&client, table).await?;
    if indexed > 0 {
        changes.push(format!(
            "gave {indexed} existing items of table {table} their index keys"
        ));
    }
    project_existing(&client, table, &mut changes).await?;
    Ok(changes)
}

/// Projects the app views of a table's records from before the projection, once.
async fn project_existing(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    changes: &mut Vec<String>,
) -> Result<(), Error> {
    let projected = DynamoStore::new(client.clone(), table)
        .project_existing()
        .await?;
    if projected > 0 {
        changes.push(format!(
            "projected {projected} existing deployments and agents of table {table} for the app views"
        ));
    }
    Ok(())
}

/// Gives versions and deployments written before `gsi2` to `gsi4` existed their keys of those
/// indexes (see [`crate::store`]); the number given. A Scan, run while provisioning adds an index
/// or by [`upgrade_table`], never on a request path. A deployment whose status changed meanwhile
/// keeps what its transition wrote.
async fn index_existing_items(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<usize, Error> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let s = |v: String| AttributeValue::S(v);
    let mut start = None;
    let mut indexed = 0;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .filter_expression(
                "(gsi1pk = :v OR gsi1pk = :d) AND (attribute_not_exists(gsi2pk) OR \
                 (gsi1pk = :d AND (attribute_not_exists(gsi3pk) OR attribute_not_exists(gsi4pk))))",
            )
            .expression_attribute_values(":v", s("VERSIONS".into()))
            .expression_attribute_values(":d", s("DEPLOYMENTS".into()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| Error::sdk("dynamodb", &e))?;
        for item in out.items() {
            let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
            let (Some(pk), Some(sk), Some(order)) =
                (item.get("pk"), item.get("sk"), text("gsi1sk"))
            else {
                continue;
            };
            let update = client
                .update_item()
                .table_name(table)
                .key("pk", pk.clone())
                .key("sk", sk.clone())
                .expression_attribute_values(":order", s(order));
            let update = if text("gsi1pk").as_deref() == Some("VERSIONS") {
                let Some(repo) = text("repository") else {
                    continue;
                };
                update
                    .update_expression("SET gsi2pk = :g2, gsi2sk = :order")
                    .condition_expression("attribute_exists(pk)")
                    .expression_attribute_values(":g2", versions_of(&repo))
            } else {
                let (Some(env), Some(repo), Some(status)) = (
                    text("environment"),
                    text("repository"),
                    text("status").and_then(|t| DeploymentStatus::parse(&t)),
                ) else {
                    continue;
                };
                update
                    .update_expression(
                        "SET gsi2pk = :g2, gsi2sk = :order, gsi3pk = :g3, gsi3sk = :order, \
                         gsi4pk = :g4, gsi4sk = :order",
                    )
                    .condition_expression("#status = :status")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":g2", deployments_to(&env))
                    .expression_attribute_values(":g3", deployments_in(status))
                    .expression_attribute_values(":g4", deployments_of(&repo))
                    .expression_attribute_values(":status", s(status.as_str().to_owned()))
            };
            match update.send().await {
                Ok(_) => indexed += 1,
                // Changed meanwhile by a writer that sets the keys itself.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                Err(e) => return Err(Error::sdk("dynamodb", &e)),
            }
        }
        match out.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(indexed),
        }
    }
}

/// The URL of `name`, or `None` when the queue does not exist.
async fn queue_url(client: &aws_sdk_sqs::Client, name: &str) -> Result<Option<String>, Error> {
    match client.get_queue_url().queue_name(name).send().await {
        Ok(out) => Ok(out.queue_url),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_queue_does_not_exist()) =>
        {
            Ok(None)
        }
        Err(e) => Err(Error::sdk("sqs", &e)),
    }
}

/// Makes queue `name` exist with exactly `wanted` attributes (creating it or correcting drift).
async fn ensure_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    wanted: &BTreeMap<QueueAttributeName, String>,
    changes: &mut Vec<String>,
) -> Result<String, Error> {
    if let Some(url) = queue_url(client, name).await? {
        let current = client
            .get_queue_attributes()
            .queue_url(&url)
            .set_attribute_names(Some(wanted.keys().cloned().collect()))
            .send()
            .await
            .map_err(|e| Error::sdk("sqs", &e))?
            .attributes
            .unwrap_or_default();
        let drifted: BTreeMap<QueueAttributeName, String> = wanted
            .iter()
            .filter(|(k, v)| !attribute_matches(k, current.get(*k), v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !drifted.is_empty() {
            let what: Vec<String> = drifted.keys().map(|k| k.as_str().to_owned()).collect();
            client
                .set_queue_attributes()
                .queue_url(&url)
                .set_attributes(Some(drifted.into_iter().collect()))
                .send()
                .await
                .map_err(|e| Error::sdk("sqs", &e))?;
            changes.push(format!("updated {} of queue {name}", what.join(", ")));
        }
        return Ok(url);
    }
    let url = client
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(wanted.clone().into_iter().collect()))
        .send()
        .await
        .map_err(|e| Error::sdk("sqs", &e))?
        .queue_url
        .ok_or_else(|| Error::malformed(name, "CreateQueue returned no URL"))?;
    changes.push(format!("created queue {name}"));
    Ok(url)
}

/// Compares attribute values semantically: a redrive policy is JSON whose count may be a string.
fn attribute_matches(name: &QueueAttributeName, current: Option<&String>, wanted: &str) -> bool {
    let Some(current) = current else {
        return false;
    };
    if *name != QueueAttributeName::RedrivePolicy {
        return current == wanted;
    }
    let normalise = |text: &str| -> Option<(String, String)> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        let arn = v["deadLetterTargetArn"].as_str()?.to_owned();
        let count = match &v["maxReceiveCount"] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Some((arn, count))
    };
    normalise(current).is_some() && normalise(current) == normalise(wanted)
}

async fn ensure_queue_with_dlq(
    client: &aws_sdk_sqs::Client,
    name: &str,
    spec: QueueSpec,
    changes: &mut Vec<String>,
) -> Result<ProvisionedQueue, Error> {
    let dlq_name = Names::dlq(name);
    let dlq_attributes = BTreeMap::from([(
        QueueAttributeName::MessageRetentionPeriod,
        DLQ_RETENTION_SECS.to_string(),
    )]);
    let dlq_url = ensure_queue(client, &dlq_name, &dlq_attributes, changes).await?;
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| Error::sdk("sqs", &e))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| Error::malformed(&dlq_url, "the queue has no QueueArn attribute"))?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": spec.max_receive_count,
    });
    let attributes = BTreeMap::from([
        (
            QueueAttributeName::VisibilityTimeout,
            spec.visibility_timeout_secs.to_string(),
        ),
        (QueueAttributeName::RedrivePolicy, redrive.to_string()),
    ]);
    let url = ensure_queue(client, name, &attributes, changes).await?;
    Ok(ProvisionedQueue {
        name: name.to_owned(),
        url,
        visibility_timeout_secs: spec.visibility_timeout_secs,
        max_receive_count: spec.max_receive_count,
        dlq_name,
        dlq_url,
    })
}

/// A hex string of fresh random bytes from the operating system.
fn random_secret() -> Result<String, Error> {
    let path = Path::new("/dev/urandom");
    let mut bytes = [0u8; SECRET_BYTES];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Creates SecureString `name` with a generated value unless it exists; an existing value is kept.
async fn ensure_secure_string(
    client: &aws_sdk_ssm::Client,
    name: &str,
    changes: &mut Vec<String>,
) -> Result<(), Error> {
    match client.get_parameter().name(name).send().await {
        Ok(_) => return Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_parameter_not_found()) => {}
        Err(e) => return Err(Error::sdk("ssm", &e)),
    }
    let put = client
        .put_parameter()
        .name(name)
        .r#type(ParameterType::SecureString)
        .value(random_secret()?)
        .overwrite(false)
        .description("Generated by boreas provision")
        .send()
        .await;
    match put {
        Ok(_) => {
            changes.push(format!("created SecureString {name}"));
            Ok(())
        }
        // Created concurrently by another provisioner: its value stands.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_parameter_already_exists()) =>
        {
            Ok(())
        }
        Err(e) => Err(Error::sdk("ssm", &e)),
    }
}

/// Creates bucket `name` (public access blocked, encrypted) unless it exists.
async fn ensure_bucket(
    client: &aws_sdk_s3::Client,
    cfg: &SdkConfig,
    name: &str,
    changes: &mut Vec<String>,
) -> Result<(), Error> {
    match client.head_bucket().bucket(name).send().await {
        Ok(_) => return Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {}
        Err(e) => return Err(Error::sdk("s3", &e)),
    }
    let mut create = client.create_bucket().bucket(name);
    // us-east-1 is the one region that rejects an explicit location constraint.
    if let Some(region) = cfg.region().map(|r| r.as_ref().to_owned())
        && region != "us-east-1"
    {
        create = create.create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                    region.as_str(),
                ))
                .build(),
        );
    }
    match create.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_bucket_already_owned_by_you()) =>
        {
            return Ok(());
        }
        Err(e) => return Err(Error::sdk("s3", &e)),
    }
    client
        .put_public_access_block()
        .bucket(name)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .block_public_policy(true)
                .ignore_public_acls(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(|e| Error::sdk("s3", &e))?;
    client
        .put_bucket_encryption()
        .bucket(name)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::Aes256)
                                .build()
                                .map_err(|e| Error::invalid_input(e.to_string()))?,
                        )
                        .build(),
                )
                .build()
                .map_err(|e| Error::invalid_input(e.to_string()))?,
        )
        .send()
        .await
        .map_err(|e| Error::sdk("s3", &e))?;
    changes.push(format!("created bucket {name}"));
    Ok(())
}

/// Creates state machine `name`, or updates it when its definition or role differ. Returns its ARN.
async fn ensure_state_machine(
    client: &aws_sdk_sfn::Client,
    name: &str,
    definition: &str,
    role_arn: &str,
    changes: &mut Vec<String>,
) -> Result<String, Error> {
    let mut existing = None;
    let mut pages = client.list_state_machines().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| Error::sdk("sfn", &e))?;
        if let Some(found) = page.state_machines().iter().find(|m| m.name() == name) {
            existing = Some(found.state_machine_arn().to_owned());
            break;
        }
    }
    let Some(arn) = existing else {
        let arn = client
            .create_state_machine()
            .name(name)
            .definition(definition)
            .role_arn(role_arn)
            .r#type(aws_sdk_sfn::types::StateMachineType::Standard)
            .send()
            .await
            .map_err(|e| Error::sdk("sfn", &e))?
            .state_machine_arn;
        changes.push(format!("created state machine {name}"));
        return Ok(arn);
    };
    let current = client
        .describe_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .map_err(|e| Error::sdk("sfn", &e))?;
    if current.definition() != definition || current.role_arn() != role_arn {
        client
            .update_state_machine()
            .state_machine_arn(&arn)
            .definition(definition)
            .role_arn(role_arn)
            .send()
            .await
            .map_err(|e| Error::sdk("sfn", &e))?;
        changes.push(format!("updated state machine {name}"));
    }
    Ok(arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_id_is_its_host_and_full_name() {
        assert_eq!(
            DEMO_REPOSITORY,
            boreas_core::repository::repository_id(DEMO_HOST, DEMO_FULL_NAME)
        );
    }

    fn subs() -> BTreeMap<String, String> {
        SUBSTITUTION_KEYS
            .iter()
            .map(|k| ((*k).to_owned(), format!("<{k}>")))
            .collect()
    }

    #[test]
    fn substitute_replaces_every_known_key() {
        let asl = r#"{"a":"${TableName}","b":"${EventsQueueUrl}","c":"${QueueUrlPrefix}agent-{}"}"#;
        let out = substitute(asl, &subs()).unwrap();
        assert_eq!(
            out,
            r#"{"a":"<TableName>","b":"<EventsQueueUrl>","c":"<QueueUrlPrefix>agent-{}"}"#
        );
    }

    #[test]
    fn substitute_names_unknown_placeholders() {
        let err = substitute(r#"{"a":"${Nope}","b":"${TableName}"}"#, &subs()).unwrap_err();
        assert!(err.contains("\"Nope\""), "{err}");
    }

    #[test]
    fn substitute_rejects_a_definition_that_is_not_json() {
        let err = substitute("{\"a\":\n  ${TableName}}", &subs()).unwrap_err();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn placeholders_are_found_once_each() {
        assert_eq!(
            placeholders("${B} ${A} ${B} $notone {C}"),
            vec!["A".to_owned(), "B".to_owned()]
        );
    }

    #[test]
    fn account_comes_from_the_queue_url() {
        assert_eq!(
            account_of_queue_url("http://127.0.0.1:5000/123456789012/p-events").unwrap(),
            "123456789012"
        );
        assert_eq!(
            account_of_queue_url("https://sqs.eu-west-1.amazonaws.com/999/p-events").unwrap(),
            "999"
        );
        assert!(account_of_queue_url("http://host/p-events").is_err());
    }

    #[test]
    fn redrive_policies_compare_by_meaning() {
        let name = QueueAttributeName::RedrivePolicy;
        let wanted = r#"{"deadLetterTargetArn":"arn:x","maxReceiveCount":5}"#;
        let current = r#"{"maxReceiveCount": "5", "deadLetterTargetArn": "arn:x"}"#.to_owned();
        assert!(attribute_matches(&name, Some(&current), wanted));
        let other = r#"{"deadLetterTargetArn":"arn:y","maxReceiveCount":5}"#.to_owned();
        assert!(!attribute_matches(&name, Some(&other), wanted));
        assert!(!attribute_matches(&name, None, wanted));
    }
}
