//! The DynamoDB [`Store`]: the queries and conditional writes on the single table described in
//! the parent module. How records become items and back is [`super::codec`].

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, ReturnValue, TransactWriteItem,
};
use boreas_core::deployment::DeploymentStatus;
use boreas_core::history::{AppRun, HostRun};
use boreas_core::notify::DeliveryState;
use boreas_core::plan::Plan;
use boreas_core::status::{FailureAction, GateStatus, VersionStatus};
use boreas_core::version::VersionState;
use boreas_core::webhook::Provider;
use futures::{StreamExt, TryStreamExt};

use super::codec::{
    FREEZES, HOLD, Item, LAST_DELIVERY, NOTIFY_DEFAULTS, SETTINGS, add_app_record, add_progress,
    agent_from, agent_item, analysis_from, analysis_item, analysis_pk, api_token_from,
    api_token_item, app_env_sk, app_host_sk, app_pk, app_progress_item, app_runs_pk, audit_from,
    audit_item, batch_progress_item, delivery_pk, deployment_from, deployment_pk, deployments_in,
    deployments_of, deployments_to, gate_from, hold_from, host_decision_from, host_decision_item,
    host_decision_sk, host_runs_pk, last_delivery_from, last_delivery_item, lock_holder_from,
    lock_pk, n, new_deployment_item, notification_defaults_from, notification_defaults_item,
    notification_from, notify_pk, notify_sk, output_pk, plan_value, policy_pk, record_from,
    record_item, releases_of, repo_pk, repository_from, repository_item, review_from, review_items,
    review_pk, s, strings, target_progress_item, task_output_from, task_output_item,
    token_hash_from, token_hash_pk, token_name_item, token_name_pk, token_pk, version_config_from,
    version_config_item, version_from, version_item, version_state_str, versions_of,
};
use super::memory::{gate_decided, host_decided, lock_held, no_host_decision, plan_frozen};
use super::{
    Agent, AnalysisRecord, ApiToken, AppProgress, AppRecords, AuditEntry, BatchProgress, Decision,
    Deployment, DeploymentFilter, DeploymentPolicy, Gate, Hold, HostDecision, LastDelivery,
    MAX_PAGE, ManagedFreeze, NewDeployment, Notification, NotificationClaim, NotificationDefaults,
    Override, Page, PageRequest, PreviousSecret, Progress, Repository, Store, StoredReview,
    TargetProgress, TaskOutput, TimeRange, Transition, VersionRecord, Waiver, check_deployment_id,
    check_lock_set, check_released, decode_cursor, deployment_order, encode_cursor, epoch_seconds,
    inventory_versions, lifecycle_times, rfc3339, version_list_key,
};
use crate::provision::{GSI1, GSI2, GSI3, GSI4};
use crate::{BoxFuture, Error};

const SERVICE: &str = "dynamodb";
/// Partition of the marker that says the app projection covers the records before it.
const PROJECTED: &str = "PROJECTION#apps";
const TABLE_KEYS: &[&str] = &["pk", "sk"];
const GSI1_KEYS: &[&str] = &["pk", "sk", "gsi1pk", "gsi1sk"];
const GSI2_KEYS: &[&str] = &["pk", "sk", "gsi2pk", "gsi2sk"];
const GSI3_KEYS: &[&str] = &["pk", "sk", "gsi3pk", "gsi3sk"];
const GSI4_KEYS: &[&str] = &["pk", "sk", "gsi4pk", "gsi4sk"];
/// A status change is retried after a lost race at most this often; the lifecycle is two steps
/// deep, so a writer can lose at most twice before its change becomes illegal.
const TRANSITION_ATTEMPTS: usize = 3;

/// The [`Store`] on one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// Why a conditional write of `d`'s decision was refused: the latest record says.
    async fn decision_refused(&self, id: &str, d: &HostDecision) -> Result<Error, Error> {
        Ok(match self.get_host_decision(id, &d.app, &d.target).await? {
            Some(latest) => host_decided(id, &latest),
            None => no_host_decision(id, &d.app, &d.target),
        })
    }

    /// A store on `table` through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A store on `table` with a client built from `config`.
    pub fn from_config(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(config), table)
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Writes the app projection of a table's records made before the projection existed (the
    /// release of every `succeeded` deployment, the hosts of every inventory), once: a marker
    /// item says it is done. The number of deployments and agents projected. For provisioning,
    /// never a request path; safe beside running writers, as every projection write is
    /// conditional on order.
    pub async fn project_existing(&self) -> Result<usize, Error> {
        let marker = s(PROJECTED);
        if self.get_item(marker.clone(), "META").await?.is_some() {
            return Ok(0);
        }
        let mut projected = 0;
        let succeeded = DeploymentFilter {
            status: Some(DeploymentStatus::Succeeded),
            ..DeploymentFilter::default()
        };
        let mut page = PageRequest::first(MAX_PAGE);
        loop {
            let found = self.list_deployments(&succeeded, &page).await?;
            for d in &found.items {
                self.record_release(d).await?;
                projected += 1;
            }
            match found.next {
                Some(next) => page.cursor = Some(next),
                None => break,
            }
        }
        for agent in self.list_agents(None).await? {
            let apps = inventory_versions(&agent);
            let writes: Vec<_> = apps
                .iter()
                .map(|(app, v)| self.put_app_on_host(&agent, app, Some(v), true))
                .collect();
            all_written(writes).await?;
            projected += 1;
        }
        self.put_item(Item::from([
            ("pk".to_owned(), marker),
            ("sk".to_owned(), s("META")),
            ("at".to_owned(), s(rfc3339(SystemTime::now()))),
        ]))
        .await?;
        Ok(projected)
    }

    /// Sends a conditional update; a refused condition is not an error (the newer record stands).
    async fn update_unless_newer(
        &self,
        update: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    ) -> Result<(), Error> {
        match update.table_name(&self.table).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Ok(()),
            Err(e) => Err(Error::sdk(SERVICE, &e)),
        }
    }

    /// Lists `app` among the apps (idempotent: it sets only the keys).
    async fn list_app(&self, app: &str) -> Result<(), Error> {
        self.update_unless_newer(
            self.client
                .update_item()
                .key("pk", app_pk(app))
                .key("sk", s("META"))
                .update_expression("SET #app = :app, gsi1pk = :apps, gsi1sk = :app")
                .expression_attribute_names("#app", "app")
                .expression_attribute_values(":app", s(app))
                .expression_attribute_values(":apps", s("APPS")),
        )
        .await
    }

    /// Lists `app` among the apps and `env` among its environments (idempotent: it never
    /// touches a release).
    async fn list_app_in(&self, app: &str, env: &str) -> Result<(), Error> {
        self.list_app(app).await?;
        self.update_unless_newer(
            self.client
                .update_item()
                .key("pk", app_pk(app))
                .key("sk", s(app_env_sk(env)))
                .update_expression("SET #env = :env")
                .expression_attribute_names("#env", "env")
                .expression_attribute_values(":env", s(env)),
        )
        .await
    }

    /// Records `d` as the release of `app` (with its `targets`) unless a later one is recorded.
    async fn release_app(
        &self,
        d: &Deployment,
        order: &str,
        app: &str,
        targets: &[String],
    ) -> Result<(), Error> {
        self.list_app(app).await?;
        // Refused for an older release: the environment's record exists then.
        self.update_unless_newer(
            self.client
                .update_item()
                .key("pk", app_pk(app))
                .key("sk", s(app_env_sk(&d.environment)))
                .update_expression(
                    "SET #env = :env, #repo = :repo, #version = :version, #dep = :dep, \
                     #order = :order, #targets = :targets, gsi2pk = :g2pk, gsi2sk = :g2sk",
                )
                .condition_expression("attribute_not_exists(#order) OR #order < :order")
                .expression_attribute_names("#env", "env")
                .expression_attribute_names("#repo", "repository")
                .expression_attribute_names("#version", "version")
                .expression_attribute_names("#dep", "deployment")
                .expression_attribute_names("#order", "release_order")
                .expression_attribute_names("#targets", "targets")
                .expression_attribute_values(":env", s(&d.environment))
                .expression_attribute_values(":repo", s(&d.repository))
                .expression_attribute_values(":version", s(&d.version))
                .expression_attribute_values(":dep", s(&d.id))
                .expression_attribute_values(":order", s(order))
                .expression_attribute_values(":targets", strings(targets))
                .expression_attribute_values(":g2pk", releases_of(&d.repository))
                .expression_attribute_values(":g2sk", s(format!("{app}#{}", d.environment))),
        )
        .await
    }

    /// Records what `agent`'s inventory says of `app` on its host (`None`: it no longer lists
    /// the app), unless a report observed later is recorded; `first` when the host did not list
    /// the app before (the app and its environment are listed).
    async fn put_app_on_host(
        &self,
        agent: &Agent,
        app: &str,
        listed: Option<&Option<String>>,
        first: bool,
    ) -> Result<(), Error> {
        if first {
            self.list_app_in(app, &agent.env).await?;
        }
        let (version_clause, version) = match listed {
            Some(Some(v)) => (", #version = :version", Some(v)),
            _ => ("", None),
        };
        let remove = if version.is_none() {
            " REMOVE #version"
        } else {
            ""
        };
        let mut update = self
            .client
            .update_item()
            .key("pk", app_pk(app))
            .key("sk", s(app_host_sk(&agent.env, &agent.host)))
            .update_expression(format!(
                "SET #env = :env, #host = :host, #at = :at, #present = :present{version_clause}{remove}"
            ))
            .condition_expression("attribute_not_exists(#at) OR #at < :at")
            .expression_attribute_names("#env", "env")
            .expression_attribute_names("#host", "host")
            .expression_attribute_names("#at", "observed_at")
            .expression_attribute_names("#present", "present")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":env", s(&agent.env))
            .expression_attribute_values(":host", s(&agent.host))
            .expression_attribute_values(":at", s(&agent.observed_at))
            .expression_attribute_values(":present", AttributeValue::Bool(listed.is_some()));
        if let Some(v) = version {
            update = update.expression_attribute_values(":version", s(v));
        }
        self.update_unless_newer(update).await
    }

    /// Every item of the table's partition `pk`, in key order (a consistent read).
    async fn partition(&self, pk: AttributeValue) -> Result<Vec<Item>, Error> {
        self.query_all(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p")
                .expression_attribute_values(":p", pk)
                .consistent_read(true),
        )
        .await
    }

    /// A Query of partition `pk` of the table, greatest sort key first.
    fn newest_first(&self, pk: AttributeValue) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", pk)
            .scan_index_forward(false)
    }

    /// A Query of partition `key` of index `index` (`{index}pk = :p`), in key order.
    fn index_query(&self, index: &str, key: AttributeValue) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression(format!("{index}pk = :p"))
            .expression_attribute_values(":p", key)
    }

    /// The agents of `env` (or all), by environment then host.
    fn agents_query(&self, env: Option<&str>) -> QueryFluentBuilder {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .expression_attribute_values(":p", s("AGENTS"));
        match env {
            Some(env) => query
                .key_condition_expression("gsi1pk = :p AND begins_with(gsi1sk, :env)")
                .expression_attribute_values(":env", s(format!("{env}#"))),
            None => query.key_condition_expression("gsi1pk = :p"),
        }
    }

    async fn get_item(&self, pk: AttributeValue, sk: &str) -> Result<Option<Item>, Error> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", pk)
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::sdk(SERVICE, &e))?;
        Ok(out.item)
    }

    /// The items of `keys` (partition, sort key) that exist, read consistently.
    async fn batch_get(
        &self,
        keys: impl Iterator<Item = (AttributeValue, AttributeValue)>,
    ) -> Result<Vec<Item>, Error> {
        let keys: Vec<Item> = keys
            .map(|(pk, sk)| Item::from([("pk".to_owned(), pk), ("sk".to_owned(), sk)]))
            .collect();
        let mut found = Vec::new();
        // BatchGetItem reads at most 100 keys per call, and may leave some for the next.
        for chunk in keys.chunks(100) {
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| Error::invalid_input(format!("batch read: {e}")))?,
            );
            while let Some(keys) = request.take() {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, keys)
                    .send()
                    .await
                    .map_err(|e| Error::sdk(SERVICE, &e))?;
                found.extend(
                    out.responses
                        .and_then(|mut r| r.remove(&self.table))
                        .unwrap_or_default(),
                );
                request = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys.is_empty());
            }
        }
        Ok(found)
    }

    async fn put_item(&self, item: Item) -> Result<(), Error> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| Error::sdk(SERVICE, &e))?;
        Ok(())
    }

    /// Writes `item` unless its key exists; `false` then.
    async fn put_new(&self, item: Item) -> Result<bool, Error> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(Error::sdk(SERVICE, &e)),
        }
    }

    /// Every item a query returns, across pages.
    async fn query_all(&self, query: QueryFluentBuilder) -> Result<Vec<Item>, Error> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = query
                .clone()
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| Error::sdk(SERVICE, &e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }

    /// One page of a query. Filters apply after DynamoDB's own limit, so this keeps reading until
    /// the page is full or the query is exhausted; the cursor is the key of the last item returned.
    async fn query_page(
        &self,
        query: QueryFluentBuilder,
        page: &PageRequest,
        key_attrs: &[&str],
    ) -> Result<Page<Item>, Error> {
        let limit = page.checked_limit()?;
        let mut start = match &page.cursor {
            Some(c) => Some(
                decode_cursor(c)?
                    .into_iter()
                    .map(|(k, v)| (k, AttributeValue::S(v)))
                    .collect::<Item>(),
            ),
            None => None,
        };
        let mut items = Vec::new();
        loop {
            let want = i32::try_from(limit - items.len()).unwrap_or(i32::MAX);
            let out = query
                .clone()
                .limit(want)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| Error::sdk(SERVICE, &e))?;
            let mut got = out.items.unwrap_or_default().into_iter();
            items.extend(got.by_ref().take(limit - items.len()));
            let more = got.next().is_some()
                || out
                    .last_evaluated_key
                    .as_ref()
                    .is_some_and(|k| !k.is_empty());
            if items.len() == limit || !more {
                let next = match items.last() {
                    Some(last) if more => Some(cursor_of(last, key_attrs)?),
                    _ => None,
                };
                return Ok(Page { items, next });
            }
            start = out.last_evaluated_key;
        }
    }
}

/// Writes of one projection update in flight at once.
const PARALLEL_WRITES: usize = 8;

/// Awaits every write of `writes`, [`PARALLEL_WRITES`] at a time; the first error.
async fn all_written(
    writes: impl IntoIterator<Item = impl Future<Output = Result<(), Error>>>,
) -> Result<(), Error> {
    futures::stream::iter(writes)
        .buffer_unordered(PARALLEL_WRITES)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

fn cursor_of(item: &Item, key_attrs: &[&str]) -> Result<String, Error> {
    let mut key = BTreeMap::new();
    for attr in key_attrs {
        let v = item
            .get(*attr)
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| Error::malformed("list item", format!("no string key {attr}")))?;
        key.insert((*attr).to_owned(), v.clone());
    }
    Ok(encode_cursor(&key))
}

fn is_condition_failed<E>(err: &aws_sdk_dynamodb::error::SdkError<E, impl std::fmt::Debug>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

impl Store for DynamoStore {
    fn put_repository<'a>(&'a self, repo: &'a Repository) -> BoxFuture<'a, ()> {
        Box::pin(async move { self.put_item(repository_item(repo)?).await })
    }

    fn create_repository<'a>(&'a self, repo: &'a Repository) -> BoxFuture<'a, bool> {
        Box::pin(async move { self.put_new(repository_item(repo)?).await })
    }

    fn delete_repository<'a>(&'a self, id: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let delete = |sk: &str, must_exist: bool| {
                let mut d = Delete::builder()
                    .table_name(&self.table)
                    .key("pk", repo_pk(id))
                    .key("sk", s(sk));
                if must_exist {
                    d = d.condition_expression("attribute_exists(pk)");
                }
                d.build()
                    .map(|d| TransactWriteItem::builder().delete(d).build())
                    .map_err(|e| Error::invalid_input(format!("delete request: {e}")))
            };
            let result = self
                .client
                .transact_write_items()
                .transact_items(delete("META", true)?)
                .transact_items(delete(LAST_DELIVERY, false)?)
                .send()
                .await;
            match result {
                Ok(_) => Ok(true),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_transaction_canceled_exception()) =>
                {
                    Ok(false)
                }
                Err(e) => Err(Error::sdk(SERVICE, &e)),
            }
        })
    }

    fn set_previous_secret<'a>(
        &'a self,
        id: &'a str,
        previous: &'a PreviousSecret,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", repo_pk(id))
                .key("sk", s("META"))
                .update_expression("SET previous_secret_version = :v, previous_secret_until = :u")
                .condition_expression(
                    "attribute_exists(pk) AND (attribute_not_exists(previous_secret_version) \
                     OR previous_secret_version < :v)",
                )
                .expression_attribute_values(":v", AttributeValue::N(previous.version.to_string()))
                .expression_attribute_values(":u", s(&previous.until))
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                Err(e) if is_condition_failed(&e) => {
                    if self.get_repository(id).await?.is_none() {
                        return Err(Error::not_found(format!("repository {id}")));
                    }
                    // A newer rotation recorded its own previous secret: it stands.
                    Ok(())
                }
                Err(e) => Err(Error::sdk(SERVICE, &e)),
            }
        })
    }

    fn put_last_delivery<'a>(
        &'a self,
        id: &'a str,
        delivery: &'a LastDelivery,
    ) -> BoxFuture<'a, ()> {
        Box::pin(self.put_item(last_delivery_item(id, delivery)))
    }

    fn last_deliveries<'a>(
        &'a self,
        ids: &'a [String],
    ) -> BoxFuture<'a, BTreeMap<String, LastDelivery>> {
        Box::pin(async move {
            let keys = ids.iter().map(|id| (repo_pk(id), s(LAST_DELIVERY)));
            self.batch_get(keys)
                .await?
                .iter()
                .map(last_delivery_from)
                .collect()
        })
    }

    fn get_repository<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<Repository>> {
        Box::pin(async move {
            self.get_item(repo_pk(id), "META")
                .await?
                .as_ref()
                .map(repository_from)
                .transpose()
        })
    }

    fn list_repositories(&self) -> BoxFuture<'_, Vec<Repository>> {
        Box::pin(async move {
            let query = self.index_query(GSI1, s("REPOSITORIES"));
            self.query_all(query)
                .await?
                .iter()
                .map(repository_from)
                .collect()
        })
    }

    fn put_version<'a>(&'a self, version: &'a VersionRecord) -> BoxFuture<'a, bool> {
        Box::pin(async move { self.put_new(version_item(version)).await })
    }

    fn get_version<'a>(
        &'a self,
        repo: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Option<VersionRecord>> {
        Box::pin(async move {
            self.get_item(repo_pk(repo), &format!("VERSION#{name}"))
                .await?
                .as_ref()
                .map(version_from)
                .transpose()
        })
    }

    fn list_versions<'a>(
        &'a self,
        repo: Option<&'a str>,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Page<VersionRecord>> {
        Box::pin(async move {
            // Each repository's versions are a partition of `gsi2`; all of them, of `gsi1`.
            let (index, key, keys) = match repo {
                Some(repo) => (GSI2, versions_of(repo), GSI2_KEYS),
                None => (GSI1, s("VERSIONS"), GSI1_KEYS),
            };
            let query = self.index_query(index, key).scan_index_forward(false);
            let page = self.query_page(query, page, keys).await?;
            page.decoded(version_from)
        })
    }

    fn set_version_status<'a>(
        &'a self,
        repo: &'a str,
        name: &'a str,
        status: VersionStatus,
        diverged: bool,
        errors: &'a [String],
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", repo_pk(repo))
                .key("sk", s(format!("VERSION#{name}")))
                .update_expression("SET #status = :s, diverged = :d, #errors = :e")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#errors", "errors")
                .expression_attribute_values(":s", s(status.as_str()))
                .expression_attribute_values(":d", AttributeValue::Bool(diverged))
                .expression_attribute_values(":e", strings(errors))
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                Err(e) if is_condition_failed(&e) => {
                    Err(Error::not_found(format!("version {repo}/{name}")))
                }
                Err(e) => Err(Error::sdk(SERVICE, &e)),
            }
        })
    }

    fn put_version_config<'a>(
        &'a self,
        repo: &'a str,
        name: &'a str,
        source: &'a str,
    ) -> BoxFuture<'a, ()> {
        Box::pin(self.put_item(version_config_item(repo, name, source)))
    }

    fn get_version_config<'a>(
        &'a self,
        repo: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            self.get_item(repo_pk(repo), &format!("CONFIG#{name}"))
                .await?
                .as_ref()
                .map(version_config_from)
                .transpose()
        })
    }

    fn set_version_state<'a>(
        &'a self,
        repo: &'a str,
        name: &'a str,
        state: VersionState,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", repo_pk(repo))
                .key("sk", s(format!("VERSION#{name}")))
                .update_expression("SET #state = :s")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":s", s(version_state_str(state)))
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                Err(e) if is_condition_failed(&e) => {
                    Err(Error::not_found(format!("version {repo}/{name}")))
                }
                Err(e) => Err(Error::sdk(SERVICE, &e)),
            }
        })
    }

    fn create_deployment<'a>(&'a self, new: &'a NewDeployment) -> BoxFuture<'a, Deployment> {
        Box::pin(async move {
            check_deployment_id(&new.id)?;
            let item = new_deployment_item(new)?;
            let record = deployment_from(&item)?;
            if !self.put_new(item).await? {
                return Err(Error::AlreadyExists {
                    what: format!("deployment {}", new.id),
                });
            }
            Ok(record)
        })
    }

    fn get_deployment<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<Deployment>> {
        Box::pin(async move {
            self.get_item(deployment_pk(id), "META")
                .await?
                .as_ref()
                .map(deployment_from)
                .transpose()
        })
    }

    fn list_deployments<'a>(
        &'a self,
        filter: &'a DeploymentFilter,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Page<Deployment>> {
        Box::pin(async move {
            // A partition per status (`gsi3`), environment (`gsi2`) or repository (`gsi4`).
            // With several filters, the first of those (the smallest for the statuses people
            // filter on: running, planned), filtered by the others.
            let (env, repo) = (&filter.environment, &filter.repository);
            let (index, key, keys, env, repo) = match (filter.status, env, repo) {
                (Some(status), _, _) => (GSI3, deployments_in(status), GSI3_KEYS, env, repo),
                (None, Some(e), _) => (GSI2, deployments_to(e), GSI2_KEYS, &None, repo),
                (None, None, Some(r)) => (GSI4, deployments_of(r), GSI4_KEYS, &None, &None),
                (None, None, None) => (GSI1, s("DEPLOYMENTS"), GSI1_KEYS, &None, &None),
            };
            let mut query = self.index_query(index, key).scan_index_forward(false);
            let mut conditions = Vec::new();
            for (attribute, value) in [("environment", env), ("repository", repo)] {
                if let Some(value) = value {
                    conditions.push(format!("#{attribute} = :{attribute}"));
                    query = query
                        .expression_attribute_names(format!("#{attribute}"), attribute)
                        .expression_attribute_values(format!(":{attribute}"), s(value));
                }
            }
            if !conditions.is_empty() {
                query = query.filter_expression(conditions.join(" AND "));
            }
            let page = self.query_page(query, page, keys).await?;
            page.decoded(deployment_from)
        })
    }

    fn update_plan<'a>(&'a self, id: &'a str, plan: &'a Plan) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let plan = plan_value(id, plan)?;
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", deployment_pk(id))
                .key("sk", s("META"))
                .update_expression("SET #plan = :plan")
                .condition_expression("#status = :planned")
                .expression_attribute_names("#plan", "plan")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":plan", plan)
                .expression_attribute_values(":planned", s(DeploymentStatus::Planned.as_str()))
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                Err(e) if is_condition_failed(&e) => match self.get_deployment(id).await? {
                    Some(d) => Err(plan_frozen(id, d.status)),
                    None => Err(Error::not_found(format!("deployment {id}"))),
                },
                Err(e) => Err(Error::sdk(SERVICE, &e)),
            }
        })
    }

    fn transition_deployment<'a>(
        &'a self,
        id: &'a str,
        change: &'a Transition,
    ) -> BoxFuture<'a, Deployment> {
        Box::pin(async move {
            for _ in 0..TRANSITION_ATTEMPTS {
                let current = self
                    .get_deployment(id)
                    .await?
                    .ok_or_else(|| Error::not_found(format!("deployment {id}")))?;
                if !current.status.can_become(change.to) {
                    return Err(Error::IllegalTransition {
                        id: id.to_owned(),
                        from: current.status,
                        to: change.to,
                    });
                }
                let (starts, ends) = lifecycle_times(change.to);
                // The status's index partition moves with it.
                let mut sets = vec!["#status = :to", "gsi3pk = :g3"];
                let mut update = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .key("pk", deployment_pk(id))
                    .key("sk", s("META"))
                    .condition_expression("#status = :from")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":to", s(change.to.as_str()))
                    .expression_attribute_values(":g3", deployments_in(change.to))
                    .expression_attribute_values(":from", s(current.status.as_str()))
                    .return_values(ReturnValue::AllNew);
                if starts {
                    sets.push("started_at = :at");
                }
                if ends {
                    sets.push("ended_at = :at");
                }
                if starts || ends {
                    update = update.expression_attribute_values(":at", s(&change.at));
                }
                if let Some(t) = &change.failed_target {
                    sets.push("failed_target = :ft");
                    update = update.expression_attribute_values(":ft", s(t));
                }
                if let Some(err) = &change.error {
                    sets.push("#error = :err");
                    update = update
                        .expression_attribute_names("#error", "error")
                        .expression_attribute_values(":err", s(err));
                }
                let result = update
                    .update_expression(format!("SET {}", sets.join(", ")))
                    .send()
                    .await;
                match result {
                    Ok(out) => {
                        tracing::info!(deployment = id, from = %current.status, to = %change.to, "deployment status changed");
                        return deployment_from(&out.attributes.unwrap_or_default());
                    }
                    // Another writer changed the status since it was read: judge again.
                    Err(e) if is_condition_failed(&e) => {}
                    Err(e) => return Err(Error::sdk(SERVICE, &e)),
                }
            }
            Err(Error::Conflict {
                what: format!("deployment {id}"),
                reason: "its status kept changing under concurrent writers".to_owned(),
            })
        })
    }

    fn put_app_progress<'a>(&'a self, id: &'a str, p: &'a AppProgress) -> BoxFuture<'a, ()> {
        Box::pin(self.put_item(app_progress_item(id, p)))
    }

    fn put_batch_progress<'a>(&'a self, id: &'a str, p: &'a BatchProgress) -> BoxFuture<'a, ()> {
        Box::pin(self.put_item(batch_progress_item(id, p)))
    }

    fn put_target_progress<'a>(&'a self, id: &'a str, p: &'a TargetProgress) -> BoxFuture<'a, ()> {
        Box::pin(self.put_item(target_progress_item(id, p)))
    }

    fn progress<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Progress> {
        Box::pin(async move {
            let mut progress = Progress::default();
            for item in self.partition(deployment_pk(id)).await? {
                add_progress(&mut progress, &item)?;
            }
            Ok(progress)
        })
    }

    fn put_gate<'a>(
        &'a self,
        id: &'a str,
        gate: &'a str,
        task_token: &'a str,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", deployment_pk(id))
                .item("sk", s(format!("GATE#{gate}")))
                .item("task_token", s(task_token))
                .item("status", s(GateStatus::Waiting.as_str()))
                .condition_expression("attribute_not_exists(pk) OR #status = :waiting")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":waiting", s(GateStatus::Waiting.as_str()))
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                Err(e) if is_condition_failed(&e) => {
                    let status = self
                        .get_gate(id, gate)
                        .await?
                        .map_or(GateStatus::Waiting, |g| g.status);
                    Err(gate_decided(id, gate, status))
                }
                Err(e) => Err(Error::sdk(SERVICE, &e)),
            }
        })
    }

    fn get_gate<'a>(&'a self, id: &'a str, gate: &'a str) -> BoxFuture<'a, Option<Gate>> {
        Box::pin(async move {
            self.get_item(deployment_pk(id), &format!("GATE#{gate}"))
                .await?
                .as_ref()
                .map(gate_from)
                .transpose()
        })
    }

    fn decide_gate<'a>(
        &'a self,
        id: &'a str,
        gate: &'a str,
        decision: Decision,
        by: &'a str,
        comment: Option<&'a str>,
    ) -> BoxFuture<'a, Gate> {
        Box::pin(async move {
            let mut update = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", deployment_pk(id))
                .key("sk", s(format!("GATE#{gate}")))
                .condition_expression("#status = :waiting")
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#by", "by")
                .expression_attribute_names("#comment", "comment")
                .expression_attribute_values(":waiting", s(GateStatus::Waiting.as_str()))
                .expression_attribute_values(":s", s(decision.status().as_str()))
                .expression_attribute_values(":by", s(by))
                .return_values(ReturnValue::AllNew);
            update = match comment {
                Some(c) => update
                    .update_expression("SET #status = :s, #by = :by, #comment = :c")
                    .expression_attribute_values(":c", s(c)),
                None => update.update_expression("SET #status = :s, #by = :by REMOVE #comment"),
            };
            match update.send().await {
                Ok(out) => gate_from(&out.attributes.unwrap_or_default()),
                Err(e) if is_condition_failed(&e) => match self.get_gate(id, gate).await? {
                    Some(g) => Err(gate_decided(id, gate, g.status)),
                    None => Err(Error::not_found(format!("gate {gate} of deployment {id}"))),
                },
                Err(e) => Err(Error::sdk(SERVICE, &e)),
            }
        })
    }

    fn put_host_decision<'a>(&'a self, id: &'a str, d: &'a HostDecision) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(host_decision_item(id, d)))
                .condition_expression(
                    "attribute_not_exists(pk) OR attempt < :a \
                     OR (attempt = :a AND attribute_not_exists(#action))",
                )
                .expression_attribute_names("#action", "action")
                .expression_attribute_values(":a", n(u64::from(d.attempt)))
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                Err(e) if is_condition_failed(&e) => Err(self.decision_refused(id, d).await?),
                Err(e) => Err(Error::sdk(SERVICE, &e)),
            }
        })
    }

    fn get_host_decision<'a>(
        &'a self,
        id: &'a str,
        app: &'a str,
        target: &'a str,
    ) -> BoxFuture<'a, Option<HostDecision>> {
        Box::pin(async move {
            self.get_item(deployment_pk(id), &host_decision_sk(app, target))
                .await?
                .as_ref()
                .map(host_decision_from)
                .transpose()
        })
    }

    fn decide_host<'a>(
        &'a self,
        id: &'a str,
        d: &'a HostDecision,
        action: FailureAction,
        by: &'a str,
        comment: Option<&'a str>,
    ) -> BoxFuture<'a, HostDecision> {
        Box::pin(async move {
            let mut update = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", deployment_pk(id))
                .key("sk", s(host_decision_sk(&d.app, &d.target)))
                .condition_expression("attempt = :a AND attribute_not_exists(#action)")
                .expression_attribute_names("#action", "action")
                .expression_attribute_names("#by", "by")
                .expression_attribute_names("#comment", "comment")
                .expression_attribute_values(":a", n(u64::from(d.attempt)))
                .expression_attribute_values(":act", s(action.as_str()))
                .expression_attribute_values(":by", s(by))
                .return_values(ReturnValue::AllNew);
            update = match comment {
                Some(c) => update
                    .update_expression("SET #action = :act, #by = :by, #comment = :c")
                    .expression_attribute_values(":c", s(c)),
                None => update.update_expression("SET #action = :act, #by = :by REMOVE #comment"),
            };
            match update.send().await {
                Ok(out) => host_decision_from(&out.attributes.unwrap_or_default()),
                Err(e) if is_condition_failed(&e) => Err(self.decision_refused(id, d).await?),
                Err(e) => Err(Error::sdk(SERVICE, &e)),
            }
        })
    }

    fn acquire_run_locks<'a>(
        &'a self,
        id: &'a str,
        env: &'a str,
        apps: &'a [String],
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            check_lock_set(apps)?;
            let mut tx = self.client.transact_write_items();
            for app in apps {
                let put = Put::builder()
                    .table_name(&self.table)
                    .item("pk", lock_pk(env, app))
                    .item("sk", s("LOCK"))
                    .item("deployment_id", s(id))
                    .condition_expression("attribute_not_exists(pk) OR deployment_id = :id")
                    .expression_attribute_values(":id", s(id))
                    .build()
                    .map_err(|e| Error::invalid_input(format!("run lock request: {e}")))?;
                tx = tx.transact_items(TransactWriteItem::builder().put(put).build());
            }
            let Err(err) = tx.send().await else {
                return Ok(());
            };
            let cancelled = err
                .as_service_error()
                .is_some_and(|e| e.is_transaction_canceled_exception());
            if !cancelled {
                return Err(Error::sdk(SERVICE, &err));
            }
            // Name a lock another deployment holds; if none is held any more the transaction
            // lost a race with a release, which the caller may simply retry.
            for app in apps {
                if let Some(holder) = self.run_lock_holder(env, app).await?
                    && holder != id
                {
                    return Err(lock_held(env, app, &holder));
                }
            }
            Err(Error::Conflict {
                what: format!("run locks in {env}"),
                reason: "another transaction on the same locks ran at the same time".to_owned(),
            })
        })
    }

    fn release_run_locks<'a>(
        &'a self,
        id: &'a str,
        env: &'a str,
        apps: &'a [String],
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            check_lock_set(apps)?;
            for app in apps {
                let result = self
                    .client
                    .delete_item()
                    .table_name(&self.table)
                    .key("pk", lock_pk(env, app))
                    .key("sk", s("LOCK"))
                    .condition_expression("deployment_id = :id")
                    .expression_attribute_values(":id", s(id))
                    .send()
                    .await;
                match result {
                    // Not held, or held by another deployment: nothing of ours to release.
                    Ok(_) => {}
                    Err(e) if is_condition_failed(&e) => {}
                    Err(e) => return Err(Error::sdk(SERVICE, &e)),
                }
            }
            Ok(())
        })
    }

    fn run_lock_holder<'a>(&'a self, env: &'a str, app: &'a str) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            self.get_item(lock_pk(env, app), "LOCK")
                .await?
                .map(|item| lock_holder_from(&item, env, app))
                .transpose()
        })
    }

    fn record_delivery<'a>(
        &'a self,
        provider: Provider,
        delivery_id: &'a str,
        at: SystemTime,
        ttl: Duration,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            // DynamoDB deletes expired items lazily, so an expired record counts as absent.
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", delivery_pk(provider, delivery_id))
                .item("sk", s("DELIVERY"))
                .item("received_at", s(rfc3339(at)))
                .item("expires_at", n(epoch_seconds(at + ttl)))
                .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
                .expression_attribute_values(":now", n(epoch_seconds(at)))
                .send()
                .await;
            match result {
                Ok(_) => Ok(true),
                Err(e) if is_condition_failed(&e) => {
                    tracing::info!(%provider, delivery_id, "webhook delivery seen before");
                    Ok(false)
                }
                Err(e) => Err(Error::sdk(SERVICE, &e)),
            }
        })
    }

    fn upsert_agent<'a>(&'a self, agent: &'a Agent) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let stored = self
                .get_item(
                    s(format!("AGENT#{}#{}", agent.env, agent.host)),
                    "META",
                )
                .await?
                .and_then(|item| match agent_from(&item) {
                    Ok(a) => Some(a),
                    // Replaced by this report; its projection is rewritten in full.
                    Err(e) => {
                        tracing::warn!(env = %agent.env, host = %agent.host, error = %e, "stored agent is malformed");
                        None
                    }
                });
            if stored
                .as_ref()
                .is_some_and(|a| a.observed_at >= agent.observed_at)
            {
                return Ok(false);
            }
            // The projection first: a crash before the agent is written leaves the old
            // inventory in place, so the next report finds the same difference and writes it.
            let before = stored.as_ref().map(inventory_versions).unwrap_or_default();
            let after = inventory_versions(agent);
            let changes: Vec<(&String, Option<&Option<String>>, bool)> = after
                .iter()
                .filter(|(app, v)| before.get(*app) != Some(*v))
                .map(|(app, v)| (app, Some(v), !before.contains_key(app)))
                .chain(
                    before
                        .keys()
                        .filter(|app| !after.contains_key(*app))
                        .map(|app| (app, None, false)),
                )
                .collect();
            let writes: Vec<_> = changes
                .into_iter()
                .map(|(app, listed, first)| self.put_app_on_host(agent, app, listed, first))
                .collect();
            all_written(writes).await?;
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(agent_item(agent)))
                // Inventories of one host may arrive out of order (a standard queue, retries).
                .condition_expression(
                    "attribute_not_exists(pk) OR attribute_not_exists(observed_at) OR observed_at < :o",
                )
                .expression_attribute_values(":o", s(&agent.observed_at))
                .send()
                .await;
            match result {
                Ok(_) => Ok(true),
                Err(e) if is_condition_failed(&e) => Ok(false),
                Err(e) => Err(Error::sdk(SERVICE, &e)),
            }
        })
    }

    fn list_agents<'a>(&'a self, env: Option<&'a str>) -> BoxFuture<'a, Vec<Agent>> {
        Box::pin(async move {
            self.query_all(self.agents_query(env))
                .await?
                .iter()
                .map(agent_from)
                .collect()
        })
    }

    fn agents_page<'a>(
        &'a self,
        env: Option<&'a str>,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Page<Agent>> {
        Box::pin(async move {
            let page = self
                .query_page(self.agents_query(env), page, GSI1_KEYS)
                .await?;
            page.decoded(agent_from)
        })
    }

    fn record_release<'a>(&'a self, deployment: &'a Deployment) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            check_released(deployment)?;
            let order = deployment_order(&deployment.created_at, &deployment.id);
            let writes: Vec<_> = deployment
                .plan
                .apps()
                .map(|a| self.release_app(deployment, &order, &a.app, &a.targets))
                .collect();
            all_written(writes).await
        })
    }

    fn app_names<'a>(&'a self, page: &'a PageRequest) -> BoxFuture<'a, Page<String>> {
        Box::pin(async move {
            let query = self.index_query(GSI1, s("APPS"));
            let page = self.query_page(query, page, GSI1_KEYS).await?;
            page.decoded(|item| {
                item.get("gsi1sk")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .ok_or_else(|| Error::malformed("app", "no gsi1sk"))
            })
        })
    }

    fn app_records<'a>(&'a self, app: &'a str) -> BoxFuture<'a, AppRecords> {
        Box::pin(async move {
            let mut records = AppRecords::default();
            for item in self.partition(app_pk(app)).await? {
                add_app_record(&mut records, &item, app)?;
            }
            Ok(records)
        })
    }

    fn released_apps<'a>(&'a self, repo: &'a str) -> BoxFuture<'a, Vec<String>> {
        Box::pin(async move {
            let query = self
                .index_query(GSI2, releases_of(repo))
                .projection_expression("pk");
            let mut apps = std::collections::BTreeSet::new();
            for item in self.query_all(query).await? {
                let pk = item.get("pk").and_then(|v| v.as_s().ok());
                match pk.and_then(|pk| pk.strip_prefix("APP#")) {
                    Some(app) => apps.insert(app.to_owned()),
                    None => return Err(Error::malformed("release", format!("pk {pk:?}"))),
                };
            }
            Ok(apps.into_iter().collect())
        })
    }

    fn older_versions<'a>(
        &'a self,
        than: &'a VersionRecord,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Page<VersionRecord>> {
        Box::pin(async move {
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI2)
                .key_condition_expression("gsi2pk = :p AND gsi2sk < :below")
                .expression_attribute_values(":p", versions_of(&than.version.repository))
                .expression_attribute_values(":below", s(version_list_key(than)))
                .scan_index_forward(false);
            let page = self.query_page(query, page, GSI2_KEYS).await?;
            page.decoded(version_from)
        })
    }

    fn put_task_output<'a>(&'a self, id: &'a str, output: &'a TaskOutput) -> BoxFuture<'a, ()> {
        Box::pin(self.put_item(task_output_item(id, output)))
    }

    fn task_outputs<'a>(
        &'a self,
        id: &'a str,
        app: &'a str,
        target: &'a str,
    ) -> BoxFuture<'a, Vec<TaskOutput>> {
        Box::pin(async move {
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p AND begins_with(sk, :t)")
                .expression_attribute_values(":p", output_pk(id))
                .expression_attribute_values(":t", s(format!("{app}#{target}#")));
            self.query_all(query)
                .await?
                .iter()
                .map(task_output_from)
                .collect()
        })
    }

    fn claim_notification<'a>(
        &'a self,
        id: &'a str,
        claim: &'a NotificationClaim,
    ) -> BoxFuture<'a, Option<Notification>> {
        Box::pin(async move {
            // The rule of `super::claimable`, as a condition.
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", notify_pk(id))
                .key("sk", notify_sk(&claim.sink, &claim.event))
                .update_expression(
                    "SET sink = :sink, event = :event, #state = :sending, \
                     attempts = if_not_exists(attempts, :zero) + :one, updated_at = :at, \
                     summary = :summary",
                )
                .condition_expression(
                    "attribute_not_exists(pk) OR #state = :retrying \
                     OR (#state = :sending AND updated_at < :stale)",
                )
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":sink", s(&claim.sink))
                .expression_attribute_values(":event", s(&claim.event))
                .expression_attribute_values(":sending", s(DeliveryState::Sending.as_str()))
                .expression_attribute_values(":retrying", s(DeliveryState::Retrying.as_str()))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":at", s(&claim.at))
                .expression_attribute_values(":summary", s(&claim.summary))
                .expression_attribute_values(":stale", s(&claim.stale_before))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match result {
                Ok(out) => notification_from(&out.attributes.unwrap_or_default()).map(Some),
                Err(e) if is_condition_failed(&e) => Ok(None),
                Err(e) => Err(Error::sdk(SERVICE, &e)),
            }
        })
    }

    fn settle_notification<'a>(
        &'a self,
        id: &'a str,
        settled: &'a Notification,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let mut set = vec!["#state = :state", "updated_at = :at"];
            let mut remove = Vec::new();
            let mut update = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", notify_pk(id))
                .key("sk", notify_sk(&settled.sink, &settled.event))
                .condition_expression("#state = :sending AND attempts = :attempts")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":state", s(settled.state.as_str()))
                .expression_attribute_values(":at", s(&settled.updated_at))
                .expression_attribute_values(":sending", s(DeliveryState::Sending.as_str()))
                .expression_attribute_values(":attempts", n(u64::from(settled.attempts)));
            match &settled.error {
                Some(error) => {
                    set.push("#error = :error");
                    update = update.expression_attribute_values(":error", s(error));
                }
                None => remove.push("#error"),
            }
            update = update.expression_attribute_names("#error", "error");
            if let Some(remote) = settled.remote_id {
                set.push("remote_id = :remote");
                update = update.expression_attribute_values(":remote", n(remote));
            }
            let mut expression = format!("SET {}", set.join(", "));
            if !remove.is_empty() {
                expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
            }
            match update.update_expression(expression).send().await {
                Ok(_) => Ok(true),
                Err(e) if is_condition_failed(&e) => Ok(false),
                Err(e) => Err(Error::sdk(SERVICE, &e)),
            }
        })
    }

    fn notifications<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Vec<Notification>> {
        Box::pin(async move {
            self.partition(notify_pk(id))
                .await?
                .iter()
                .map(notification_from)
                .collect()
        })
    }

    fn note_deployment_error<'a>(&'a self, id: &'a str, error: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", deployment_pk(id))
                .key("sk", s("META"))
                .update_expression("SET #error = :error")
                .condition_expression("attribute_not_exists(#error) AND #status = :running")
                .expression_attribute_names("#error", "error")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":error", s(error))
                .expression_attribute_values(":running", s(DeploymentStatus::Running.as_str()))
                .send()
                .await;
            match result {
                Ok(_) => Ok(true),
                Err(e) if is_condition_failed(&e) => Ok(false),
                Err(e) => Err(Error::sdk(SERVICE, &e)),
            }
        })
    }

    fn put_analysis<'a>(
        &'a self,
        id: &'a str,
        record: &'a AnalysisRecord,
        previous: usize,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(analysis_item(id, record)?));
            let put = if previous == 0 {
                put.condition_expression("attribute_not_exists(pk)")
            } else {
                put.condition_expression("measured = :previous")
                    .expression_attribute_values(":previous", n(previous as u64))
            };
            match put.send().await {
                Ok(_) => Ok(true),
                Err(e) if is_condition_failed(&e) => Ok(false),
                Err(e) => Err(Error::sdk(SERVICE, &e)),
            }
        })
    }

    fn analyses<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Vec<AnalysisRecord>> {
        Box::pin(async move {
            self.partition(analysis_pk(id))
                .await?
                .iter()
                .map(analysis_from)
                .collect()
        })
    }

    fn put_waiver<'a>(&'a self, id: &'a str, waiver: &'a Waiver) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let sk = format!("WAIVER#{}", waiver.condition);
            self.put_new(record_item(policy_pk(id), &sk, "the waiver", waiver)?)
                .await
        })
    }

    fn put_override<'a>(&'a self, id: &'a str, grant: &'a Override) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.put_item(record_item(
                policy_pk(id),
                "OVERRIDE",
                "the override",
                grant,
            )?)
            .await
        })
    }

    fn set_hold<'a>(&'a self, id: &'a str, hold: Option<&'a Hold>) -> BoxFuture<'a, ()> {
        // Cleared by writing `null`, so that the writers need no DeleteItem.
        Box::pin(async move {
            self.put_item(record_item(policy_pk(id), HOLD, "the hold", &hold)?)
                .await
        })
    }

    fn put_supersedes<'a>(&'a self, id: &'a str, older: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let sk = format!("SUPERSEDES#{older}");
            self.put_item(record_item(
                policy_pk(id),
                &sk,
                "the deferred supersede",
                &older,
            )?)
            .await
        })
    }

    fn deployment_policy<'a>(&'a self, id: &'a str) -> BoxFuture<'a, DeploymentPolicy> {
        Box::pin(async move {
            let mut policy = DeploymentPolicy::default();
            for item in self.partition(policy_pk(id)).await? {
                let sk = item
                    .get("sk")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                match sk.as_str() {
                    "OVERRIDE" => policy.override_ = Some(record_from(&item, "override")?),
                    HOLD => policy.hold = record_from(&item, "hold")?,
                    sk if sk.starts_with("SUPERSEDES#") => {
                        policy
                            .supersedes
                            .push(record_from(&item, "deferred supersede")?);
                    }
                    _ => policy.waivers.push(record_from(&item, "waiver")?),
                }
            }
            Ok(policy)
        })
    }

    fn holds<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, BTreeMap<String, Hold>> {
        Box::pin(async move {
            let keys = ids.iter().map(|id| (policy_pk(id), s(HOLD)));
            let mut found = BTreeMap::new();
            for item in self.batch_get(keys).await? {
                if let (id, Some(hold)) = hold_from(&item)? {
                    found.insert(id, hold);
                }
            }
            Ok(found)
        })
    }

    fn put_freeze<'a>(&'a self, freeze: &'a ManagedFreeze) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let item = record_item(s(FREEZES), &freeze.freeze.name, "the freeze window", freeze)?;
            self.put_new(item).await
        })
    }

    fn delete_freeze<'a>(&'a self, name: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let out = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(FREEZES))
                .key("sk", s(name))
                .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
                .send()
                .await
                .map_err(|e| Error::sdk(SERVICE, &e))?;
            Ok(out.attributes.is_some_and(|a| !a.is_empty()))
        })
    }

    fn freezes(&self) -> BoxFuture<'_, Vec<ManagedFreeze>> {
        Box::pin(async move {
            self.partition(s(FREEZES))
                .await?
                .iter()
                .map(|item| record_from(item, "freeze window"))
                .collect()
        })
    }

    fn put_review<'a>(&'a self, id: &'a str, review: &'a StoredReview) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            // The proposal first: a review is read only once both are there.
            let [reasons, proposal] = review_items(id, review)?;
            self.put_item(proposal).await?;
            self.put_item(reasons).await
        })
    }

    fn review<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<StoredReview>> {
        Box::pin(async move { review_from(&self.partition(review_pk(id)).await?) })
    }

    fn set_confirmed_by<'a>(&'a self, id: &'a str, by: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let out = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", deployment_pk(id))
                .key("sk", s("META"))
                .update_expression("SET confirmed_by = :by")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":by", s(by))
                .send()
                .await;
            match out {
                Ok(_) => Ok(()),
                Err(e) if is_condition_failed(&e) => {
                    Err(Error::not_found(format!("deployment {id}")))
                }
                Err(e) => Err(Error::sdk(SERVICE, &e)),
            }
        })
    }

    fn record_runs<'a>(
        &'a self,
        deployment: &'a Deployment,
        apps: &'a [AppRun],
        hosts: &'a [HostRun],
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let order = deployment_order(&deployment.created_at, &deployment.id);
            let mut items = Vec::with_capacity(apps.len() + hosts.len());
            for run in apps {
                let mut item = record_item(app_runs_pk(&run.app), &order, "the app's run", run)?;
                item.insert("env".into(), s(&run.environment));
                items.push(item);
            }
            for run in hosts {
                let pk = host_runs_pk(&run.environment, &run.host);
                let sk = format!("{order}#{}", run.app);
                items.push(record_item(pk, &sk, "the host's run", run)?);
            }
            all_written(items.into_iter().map(|item| self.put_item(item))).await
        })
    }

    fn app_runs<'a>(
        &'a self,
        app: &'a str,
        environment: Option<&'a str>,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Page<AppRun>> {
        Box::pin(async move {
            let mut query = self.newest_first(app_runs_pk(app));
            // Few environments: a filtered page reads at most a few times what it returns.
            if let Some(env) = environment {
                query = query
                    .filter_expression("env = :e")
                    .expression_attribute_values(":e", s(env));
            }
            let page = self.query_page(query, page, &["pk", "sk"]).await?;
            page.decoded(|item| record_from(item, "app run"))
        })
    }

    fn host_runs<'a>(
        &'a self,
        environment: &'a str,
        host: &'a str,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Page<HostRun>> {
        Box::pin(async move {
            let query = self.newest_first(host_runs_pk(environment, host));
            let page = self.query_page(query, page, &["pk", "sk"]).await?;
            page.decoded(|item| record_from(item, "host run"))
        })
    }

    fn notification_defaults(&self) -> BoxFuture<'_, Option<NotificationDefaults>> {
        Box::pin(async move {
            self.get_item(s(SETTINGS), NOTIFY_DEFAULTS)
                .await?
                .as_ref()
                .map(notification_defaults_from)
                .transpose()
        })
    }

    fn put_notification_defaults<'a>(
        &'a self,
        defaults: &'a NotificationDefaults,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move { self.put_item(notification_defaults_item(defaults)?).await })
    }

    fn put_api_token<'a>(&'a self, secret: &'a str, token: &'a ApiToken) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let put = |item: Item| {
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .map(|p| TransactWriteItem::builder().put(p).build())
                    .map_err(|e| Error::invalid_input(format!("token request: {e}")))
            };
            let result = self
                .client
                .transact_write_items()
                .transact_items(put(token_name_item(secret, &token.name))?)
                .transact_items(put(api_token_item(secret, token))?)
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_transaction_canceled_exception()) =>
                {
                    Err(Error::AlreadyExists {
                        what: format!("api token {}", token.name),
                    })
                }
                Err(e) => Err(Error::sdk(SERVICE, &e)),
            }
        })
    }

    fn list_api_tokens(&self) -> BoxFuture<'_, Vec<ApiToken>> {
        Box::pin(async move {
            let query = self.index_query(GSI1, s("TOKENS"));
            self.query_all(query)
                .await?
                .iter()
                .map(api_token_from)
                .collect()
        })
    }

    fn revoke_api_token<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Option<ApiToken>> {
        Box::pin(async move {
            let Some(item) = self.get_item(token_name_pk(name), "META").await? else {
                return Ok(None);
            };
            let hash = token_hash_from(&item, name)?;
            let grant = self
                .get_item(token_hash_pk(&hash), "META")
                .await?
                .as_ref()
                .map(api_token_from)
                .transpose()?;
            let delete = |pk: AttributeValue| {
                Delete::builder()
                    .table_name(&self.table)
                    .key("pk", pk)
                    .key("sk", s("META"))
                    .build()
                    .map(|d| TransactWriteItem::builder().delete(d).build())
                    .map_err(|e| Error::invalid_input(format!("revoke request: {e}")))
            };
            self.client
                .transact_write_items()
                .transact_items(delete(token_name_pk(name))?)
                .transact_items(delete(token_hash_pk(&hash))?)
                .send()
                .await
                .map_err(|e| Error::sdk(SERVICE, &e))?;
            Ok(grant)
        })
    }

    fn touch_api_token<'a>(
        &'a self,
        secret: &'a str,
        at: &'a str,
        unless_since: &'a str,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", token_pk(secret))
                .key("sk", s("META"))
                .update_expression("SET last_used = :at")
                .condition_expression(
                    "attribute_exists(pk) AND (attribute_not_exists(last_used) OR last_used < :since)",
                )
                .expression_attribute_values(":at", s(at))
                .expression_attribute_values(":since", s(unless_since))
                .send()
                .await;
            match result {
                Ok(_) => Ok(true),
                Err(e) if is_condition_failed(&e) => Ok(false),
                Err(e) => Err(Error::sdk(SERVICE, &e)),
            }
        })
    }

    fn get_api_token<'a>(&'a self, secret: &'a str) -> BoxFuture<'a, Option<ApiToken>> {
        Box::pin(async move {
            self.get_item(token_pk(secret), "META")
                .await?
                .as_ref()
                .map(api_token_from)
                .transpose()
        })
    }

    fn append_audit<'a>(&'a self, entry: &'a AuditEntry) -> BoxFuture<'a, ()> {
        Box::pin(self.put_item(audit_item(entry)))
    }

    fn list_audit<'a>(
        &'a self,
        range: &'a TimeRange,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Page<AuditEntry>> {
        Box::pin(async move {
            // The range is a key condition on `{at}#{id}`: `{until}#…` sorts after `{until}`,
            // so BETWEEN leaves out what happened at `until` itself.
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_values(":p", s("AUDIT"))
                .scan_index_forward(false);
            query = match (&range.since, &range.until) {
                (None, None) => query.key_condition_expression("pk = :p"),
                (Some(a), None) => query
                    .key_condition_expression("pk = :p AND sk >= :a")
                    .expression_attribute_values(":a", s(a)),
                (None, Some(b)) => query
                    .key_condition_expression("pk = :p AND sk < :b")
                    .expression_attribute_values(":b", s(b)),
                (Some(a), Some(b)) => query
                    .key_condition_expression("pk = :p AND sk BETWEEN :a AND :b")
                    .expression_attribute_values(":a", s(a))
                    .expression_attribute_values(":b", s(b)),
            };
            let page = self.query_page(query, page, TABLE_KEYS).await?;
            page.decoded(audit_from)
        })
    }
}
