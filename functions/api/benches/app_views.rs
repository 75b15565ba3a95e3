//! Benchmark of the app views and revert on the emulator: `GET /api/apps`, `GET /api/apps/{name}`
//! and `POST /api/versions/{repo}/{name}/revert` through the api, which read each app's own
//! partition and the versions they compare by key, against what the api read for each of them
//! before the app projection (every deployment, every agent and every version of the repository),
//! and `GET /api/deployments?status=running` (its `gsi3` partition) against the read of the one
//! `gsi1` partition with a FilterExpression it made before, on the same table in the same run.
//!
//! The history is filled fast enough for the size (100,000 versions, 10,000 deployments)
//! without writing other items than the store's: the store encodes versions and deployments
//! against an endpoint that accepts every write and keeps the `PutItem`s' items, which are then
//! written to the emulator 25 a `BatchWriteItem`. Deployments are run to `succeeded` the way the
//! store's lifecycle does it, checked against the newest ones, which run through the store on the
//! emulator (and so write the app projection: an older release's projection write is refused).
//!
//! Requests and items read are counted by a proxy in front of the emulator: they are what DynamoDB
//! bills and waits for, so they carry over to AWS; the wall times are the emulator's (a Python
//! process that sorts the whole table for every index query).
//!
//! Run: `cargo test -p boreas-api --bench app_views` (`BOREAS_BENCH_DEPLOYMENTS`, default 2,000,
//! and `BOREAS_BENCH_VERSIONS`, default 10,000, set the history's size; `BOREAS_BENCH_CALLS`,
//! default 20, the calls per route, and `BOREAS_BENCH_BASELINE_CALLS`, default 5, the runs of each
//! previous read, which read the whole history each; `cargo bench` runs the same in the release
//! profile). Prints a Markdown section.

use std::collections::BTreeSet;
use std::future::Future;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use boreas_api::{Api, ApiRequest, handle};
use boreas_aws::emulator::{Emulator, unique_prefix};
use boreas_aws::lifecycle::Lifecycle;
use boreas_aws::names::Names;
use boreas_aws::orchestrator::SfnOrchestrator;
use boreas_aws::provision::{GSI1, provision};
use boreas_aws::secrets::SsmSecrets;
use boreas_aws::store::{
    Agent, ApiToken, DeploymentFilter, DynamoStore, MAX_PAGE, NewDeployment, PageRequest, Store,
    Transition, VersionRecord, rfc3339,
};
use boreas_core::deployment::DeploymentStatus;
use boreas_core::role::Role;
use boreas_core::status::VersionStatus;
use boreas_test_support::http::{
    DynamoReads, RecordingServer, Request, Response, dynamodb_reads, forward,
};
use boreas_test_support::lists::list_page;
use boreas_test_support::records;
use futures::StreamExt;
use http::Method;
use serde_json::{Map, Value, json};

/// The oldest deployments, left running (what `?status=running` finds).
const RUNNING: usize = 20;
/// The newest releases, run through the store on the emulator.
const STORED_RELEASES: usize = 20;
/// The page `?status=running` asks for (the dashboard's).
const PAGE: usize = 50;
/// Versions or deployments encoded per capture (it keeps every request until it is dropped).
const CHUNK: usize = 5_000;
/// Items per `BatchWriteItem` (DynamoDB's limit).
const BATCH: usize = 25;
/// The staging hosts of the example config, which report what they run.
const HOSTS: [&str; 4] = [
    "db-staging-1",
    "api-staging-1",
    "api-staging-2",
    "worker-staging-1",
];
const SECRET: &str = "bench-admin-secret";

fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Requests and items read by one call.
#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    requests: usize,
    read: u64,
}

fn take(reads: &DynamoReads) -> Cost {
    let seen = std::mem::take(&mut *reads.lock().unwrap());
    Cost {
        requests: seen.len(),
        read: seen.iter().map(|(_, items)| items).sum(),
    }
}

/// p50 and p99 of `times`, and the largest cost seen.
struct Figures {
    p50: Duration,
    p99: Duration,
    cost: Cost,
}

fn figures(mut times: Vec<Duration>, costs: &[Cost]) -> Figures {
    times.sort();
    let quantile = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    Figures {
        p50: quantile(0.5),
        p99: quantile(0.99),
        cost: costs
            .iter()
            .copied()
            .max_by_key(|c| c.read)
            .unwrap_or_default(),
    }
}

/// The instant `i` seconds into the history, RFC 3339 (the order of versions and deployments).
fn at(i: usize) -> String {
    rfc3339(UNIX_EPOCH + Duration::from_secs(1_790_000_000 + i as u64))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Version `v{i}` of `shop`, planned, received at second `i`, with the example config.
async fn add_version(store: &dyn Store, i: usize) -> VersionRecord {
    let name = format!("v{i}");
    let v = VersionRecord {
        status: VersionStatus::Planned,
        received_at: at(i),
        ..records::version("shop", &name, &format!("{i:040x}"))
    };
    store.put_version(&v).await.expect("put version");
    store
        .put_version_config("shop", &name, &records::example_yaml())
        .await
        .expect("put config");
    v
}

/// A deployment of version `v{version}` to staging, created at second `second`.
fn deployment(id: &str, version: usize, second: usize) -> NewDeployment {
    NewDeployment {
        created_at: at(second),
        ..records::new_deployment(id, records::example_plan("staging", &format!("v{version}")))
    }
}

/// The deployment of version `v{i}`, created at second `i`.
fn deployment_of(i: usize) -> NewDeployment {
    deployment(&format!("dep-{i:06}"), i, i)
}

/// Started: `running`.
async fn start(store: &dyn Store, new: &NewDeployment) {
    store.create_deployment(new).await.expect("create");
    store
        .transition_deployment(
            &new.id,
            &Transition::to(DeploymentStatus::Running, new.created_at.clone()),
        )
        .await
        .expect("start");
}

/// A deployment of version `v{version}` to staging, created at second `second`, run to
/// `succeeded` and recorded as its apps' release the way the recorder does.
async fn add_release(store: &dyn Store, id: &str, version: usize, second: usize) {
    let new = deployment(id, version, second);
    store.create_deployment(&new).await.expect("create");
    store
        .transition_deployment(
            id,
            &Transition::to(DeploymentStatus::Running, new.created_at),
        )
        .await
        .expect("start");
    Lifecycle::new(store)
        .finish(id, DeploymentStatus::Succeeded, None)
        .await
        .expect("finish");
}

/// The staging hosts report version `v{version}` of every app, observed at `second`.
async fn report(store: &dyn Store, version: usize, second: usize) {
    let apps = ["db-migrate", "api", "worker", "web"]
        .map(|app| json!({"app": app, "version": format!("v{version}"), "healthy": true}));
    for host in HOSTS {
        store
            .upsert_agent(&Agent {
                observed_at: at(second),
                apps: json!(apps),
                ..records::agent("staging", host, "app")
            })
            .await
            .expect("report");
    }
}

/// What the api read for each app view and revert before the app projection: every deployment,
/// every agent, and every version of the repository (pages of the largest size).
async fn previous_reads(store: &dyn Store) -> usize {
    let mut items = 0;
    let mut page = PageRequest::first(MAX_PAGE);
    loop {
        let found = store
            .list_deployments(&DeploymentFilter::default(), &page)
            .await
            .expect("deployments");
        items += found.items.len();
        match found.next {
            Some(next) => page.cursor = Some(next),
            None => break,
        }
    }
    items += store.list_agents(None).await.expect("agents").len();
    let mut page = PageRequest::first(MAX_PAGE);
    loop {
        let found = store
            .list_versions(Some("shop"), &page)
            .await
            .expect("versions");
        items += found.items.len();
        match found.next {
            Some(next) => page.cursor = Some(next),
            None => return items,
        }
    }
}

/// The times and costs of the calls measured for one row.
#[derive(Default)]
struct Samples {
    times: Vec<Duration>,
    costs: Vec<Cost>,
}

impl Samples {
    /// Awaits `work`, recording its time and what it read through the proxy.
    async fn measure<T>(&mut self, reads: &DynamoReads, work: impl Future<Output = T>) -> T {
        take(reads);
        let started = Instant::now();
        let out = work.await;
        self.times.push(started.elapsed());
        self.costs.push(take(reads));
        out
    }

    fn figures(self) -> Figures {
        figures(self.times, &self.costs)
    }
}

async fn call(api: &Api, req: ApiRequest) -> Value {
    let path = req.path.clone();
    let res = handle(api, req).await;
    assert!(res.status.is_success(), "{path}: {res:?}");
    res.body
}

/// DynamoDB called over plain HTTP, signed as the store signed its requests (the emulator reads
/// its region from the signature and checks no more), so that items go as the store encoded them.
struct Raw {
    endpoint: String,
    headers: Vec<(String, String)>,
}

impl Raw {
    async fn call(&self, operation: &str, body: &Value) -> Value {
        let mut headers = self.headers.clone();
        headers.push((
            "x-amz-target".to_owned(),
            format!("DynamoDB_20120810.{operation}"),
        ));
        let request = Request {
            method: "POST".to_owned(),
            target: "/".to_owned(),
            headers,
            body: serde_json::to_vec(body).unwrap(),
        };
        let endpoint = self.endpoint.clone();
        let res = tokio::task::spawn_blocking(move || forward(&endpoint, &request))
            .await
            .unwrap();
        assert_eq!(res.status, 200, "{operation}: {}", res.body);
        res.body
    }

    /// Writes `items` to `table`, 25 a request, several requests in flight.
    async fn put_all(&self, table: &str, items: &[Map<String, Value>]) {
        futures::stream::iter(items.chunks(BATCH))
            .map(|chunk| {
                let puts: Vec<Value> = chunk
                    .iter()
                    .map(|item| json!({"PutRequest": {"Item": item}}))
                    .collect();
                async move {
                    let res = self
                        .call("BatchWriteItem", &json!({"RequestItems": {table: puts}}))
                        .await;
                    let unprocessed = res["UnprocessedItems"].as_object();
                    assert!(unprocessed.is_none_or(Map::is_empty), "unprocessed: {res}");
                }
            })
            .buffer_unordered(4)
            .collect::<Vec<()>>()
            .await;
    }
}

/// The items of the `PutItem`s `write` sends for each of `indices` through a store whose endpoint
/// accepts every write and keeps it (DynamoDB JSON, exactly as the store encoded them), and the
/// headers of one of its requests.
async fn captured<F, Fut>(
    config: &aws_config::SdkConfig,
    indices: Range<usize>,
    write: F,
) -> (Vec<Map<String, Value>>, Vec<(String, String)>)
where
    F: Fn(Arc<dyn Store>, usize) -> Fut,
    Fut: Future<Output = ()>,
{
    let server = RecordingServer::start(|_| Response::json(200, json!({})));
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(config)
            .endpoint_url(server.url())
            .build(),
    );
    let store: Arc<dyn Store> = Arc::new(DynamoStore::new(client, "captured"));
    futures::stream::iter(indices)
        .map(|i| write(Arc::clone(&store), i))
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    let requests = server.requests();
    let headers = requests
        .first()
        .map(|r| {
            r.headers
                .iter()
                .filter(|(k, _)| k != "x-amz-target")
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let items = requests
        .iter()
        .map(|r| {
            assert_eq!(
                r.header("x-amz-target"),
                Some("DynamoDB_20120810.PutItem"),
                "only PutItems are captured"
            );
            match r.json()["Item"].clone() {
                Value::Object(item) => item,
                other => panic!("PutItem without an item: {other}"),
            }
        })
        .collect();
    (items, headers)
}

/// What the store's lifecycle sets on a deployment that `add_release` runs to `succeeded`, from
/// one it ran on the emulator (`finished`) against its item as created: the status, its `gsi3`
/// partition, when it started (when created) and ended. Checks that nothing else changes.
fn succeeded(
    created: &Map<String, Value>,
    finished: &Map<String, Value>,
) -> impl Fn(&mut Map<String, Value>) + use<> {
    let changed: BTreeSet<&str> = finished
        .iter()
        .filter(|(k, v)| created.get(*k) != Some(v))
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        changed,
        BTreeSet::from(["status", "gsi3pk", "started_at", "ended_at"])
    );
    assert!(created.keys().all(|k| finished.contains_key(k)));
    assert_eq!(finished["started_at"], finished["created_at"]);
    let (status, partition, ended) = (
        finished["status"].clone(),
        finished["gsi3pk"].clone(),
        finished["ended_at"].clone(),
    );
    move |item| {
        let created = item["created_at"].clone();
        item.insert("started_at".to_owned(), created);
        item.insert("status".to_owned(), status.clone());
        item.insert("gsi3pk".to_owned(), partition.clone());
        item.insert("ended_at".to_owned(), ended.clone());
    }
}

/// Indices `range` in chunks of `CHUNK`.
fn chunks(range: Range<usize>) -> impl Iterator<Item = Range<usize>> {
    range
        .clone()
        .step_by(CHUNK)
        .map(move |start| start..(start + CHUNK).min(range.end))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let deployments = count("BOREAS_BENCH_DEPLOYMENTS", 2_000);
    let versions = count("BOREAS_BENCH_VERSIONS", 10_000).max(deployments + 1);
    let emulator = Emulator::start().await.expect("start the emulator");
    let config = boreas_aws::sdk_config(Some(emulator.endpoint())).await;
    let names = Names::new(&unique_prefix('b'));
    let asl =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../statemachine/deployment.asl.json");
    let provisioned = provision(&config, &names, &asl).await.expect("provision");
    let store: Arc<dyn Store> = Arc::new(DynamoStore::from_config(&config, names.table()));
    store
        .put_api_token(
            SECRET,
            &ApiToken::new("bench", Role::Admin, "2026-12-06T00:00:00.000Z"),
        )
        .await
        .unwrap();

    // History: `versions` versions, the newest `deployments` of them each deployed to staging,
    // the oldest `RUNNING` of those left running and the rest succeeded, the hosts reporting the
    // newest.
    let filled = Instant::now();
    let table = names.table();
    let mut raw = Raw {
        endpoint: emulator.endpoint().to_owned(),
        headers: Vec::new(),
    };
    for chunk in chunks(0..versions) {
        let (items, headers) = captured(&config, chunk, |store, i| async move {
            add_version(store.as_ref(), i).await;
        })
        .await;
        raw.headers = headers;
        raw.put_all(&table, &items).await;
    }
    let first = versions - deployments;
    let stored = versions - STORED_RELEASES.min(deployments - RUNNING.min(deployments));
    for i in first..(first + RUNNING).min(stored) {
        start(store.as_ref(), &deployment_of(i)).await;
    }
    futures::stream::iter(stored..versions)
        .for_each_concurrent(8, |i| {
            let store = Arc::clone(&store);
            async move { add_release(store.as_ref(), &format!("dep-{i:06}"), i, i).await }
        })
        .await;
    let create = |store: Arc<dyn Store>, i: usize| async move {
        store
            .create_deployment(&deployment_of(i))
            .await
            .expect("create");
    };
    let (reference, _) = captured(&config, versions - 1..versions, create).await;
    let key = json!({"pk": reference[0]["pk"], "sk": reference[0]["sk"]});
    let found = raw
        .call(
            "GetItem",
            &json!({"TableName": table, "Key": key, "ConsistentRead": true}),
        )
        .await;
    let finish = succeeded(&reference[0], found["Item"].as_object().expect("released"));
    for chunk in chunks((first + RUNNING).min(stored)..stored) {
        let (mut items, _) = captured(&config, chunk, create).await;
        items.iter_mut().for_each(&finish);
        raw.put_all(&table, &items).await;
    }
    report(store.as_ref(), versions - 1, versions).await;
    let fill = filled.elapsed();

    let (proxy, reads) = dynamodb_reads(emulator.endpoint());
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .endpoint_url(proxy.url())
            .build(),
    );
    let proxied: Arc<dyn Store> = Arc::new(DynamoStore::new(client, names.table()));
    let api = Api::new(
        proxied.clone(),
        Arc::new(SfnOrchestrator::from_config(
            &config,
            &provisioned.state_machine_arn,
            provisioned.buckets["plans"].clone(),
        )),
        Arc::new(SsmSecrets::from_config(&config)),
        &names,
    );
    let get = |path: &str| ApiRequest::new(Method::GET, path).bearer(SECRET);

    let calls = count("BOREAS_BENCH_CALLS", 20).max(1);
    let baseline_calls = count("BOREAS_BENCH_BASELINE_CALLS", 5).max(1);
    let mut rows = Vec::new();
    for (route, path) in [
        ("`GET /api/apps`", "/api/apps"),
        ("`GET /api/apps/api`", "/api/apps/api"),
    ] {
        let mut samples = Samples::default();
        for _ in 0..calls {
            samples.measure(&reads, call(&api, get(path))).await;
        }
        rows.push((route, samples.figures(), None));
    }
    // Each revert withdraws a newly released version: a good version, then a bad one deployed
    // over it, so every call finds the bad one running and rolls back to the good one.
    let mut samples = Samples::default();
    for k in 0..calls {
        let (good, bad) = (versions + 2 * k, versions + 2 * k + 1);
        add_version(store.as_ref(), good).await;
        add_version(store.as_ref(), bad).await;
        add_release(store.as_ref(), &format!("dep-bad-{k}"), bad, bad).await;
        report(store.as_ref(), bad, bad).await;
        let revert = ApiRequest::new(Method::POST, format!("/api/versions/shop/v{bad}/revert"))
            .bearer(SECRET)
            .json(&json!({"reason": "benchmark"}));
        samples.measure(&reads, call(&api, revert)).await;
    }
    rows.push((
        "`POST /api/versions/shop/{v}/revert`",
        samples.figures(),
        None,
    ));

    // `?status=running` through the api (its own `gsi3` partition), and as it was read before
    // (the whole `gsi1` partition of deployments, filtered): both find the running ones.
    let list = get("/api/deployments")
        .param("status", "running")
        .param("limit", &PAGE.to_string());
    let mut samples = Samples::default();
    for _ in 0..calls {
        let found = samples.measure(&reads, call(&api, list.clone())).await;
        assert_eq!(found["items"].as_array().map(Vec::len), Some(RUNNING));
    }
    let now = samples.figures();
    let unproxied = aws_sdk_dynamodb::Client::new(&config);
    let (mut times, mut costs) = (Vec::new(), Vec::new());
    for _ in 0..baseline_calls {
        let started = Instant::now();
        let cost = list_page(
            &unproxied,
            &table,
            GSI1,
            "DEPLOYMENTS",
            Some(("status", "running")),
            PAGE,
        )
        .await;
        times.push(started.elapsed());
        assert_eq!(cost.items, RUNNING);
        costs.push(Cost {
            requests: cost.requests,
            read: cost.read as u64,
        });
    }
    rows.push((
        "`GET /api/deployments?status=running`",
        now,
        Some(figures(times, &costs)),
    ));

    let mut samples = Samples::default();
    for _ in 0..baseline_calls {
        samples
            .measure(&reads, previous_reads(proxied.as_ref()))
            .await;
    }
    let before = samples.figures();

    println!("## App views and revert\n");
    println!(
        "Command: `BOREAS_BENCH_VERSIONS={versions} BOREAS_BENCH_DEPLOYMENTS={deployments} \
         BOREAS_BENCH_CALLS={calls} BOREAS_BENCH_BASELINE_CALLS={baseline_calls} cargo test -p \
         boreas-api --bench app_views` (`functions/api/benches/app_views.rs`; moto emulator, 2 \
         cores). History: {versions} versions of one repository, the newest {deployments} each \
         deployed to staging ({RUNNING}, the oldest, left running; the rest succeeded; 4 apps \
         each), 4 hosts reporting; filled in {:.0} s (the store's items, written 25 a \
         `BatchWriteItem`). Each route through the api, {calls} calls (a revert each time \
         withdraws a newly released version; its figures include its writes), against what the \
         api read for each of these requests before the app projection: every deployment, every \
         agent and every version of the repository, pages of {MAX_PAGE} ({baseline_calls} runs); \
         `?status=running` (a page of {PAGE}) against its read before, the one `gsi1` partition of \
         deployments with a FilterExpression ({baseline_calls} runs). Requests and items read, \
         counted by a proxy (for the filtered read, `ScannedCount`), are what DynamoDB bills and \
         waits for; the times are the emulator's.\n",
        fill.as_secs_f64()
    );
    println!(
        "| request | now: requests / items read | now: p50 / p99 | before: requests / items read | before: p50 / p99 | items read ratio | p50 ratio | p99 ratio |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (route, now, own) in rows {
        let before = own.as_ref().unwrap_or(&before);
        println!(
            "| {route} | {} / {} | {} / {} | {} / {} | {} / {} | {:.0}× | {:.0}× | {:.0}× |",
            now.cost.requests,
            now.cost.read,
            ms(now.p50),
            ms(now.p99),
            before.cost.requests,
            before.cost.read,
            ms(before.p50),
            ms(before.p99),
            before.cost.read as f64 / now.cost.read.max(1) as f64,
            before.p50.as_secs_f64() / now.p50.as_secs_f64(),
            before.p99.as_secs_f64() / now.p99.as_secs_f64()
        );
    }
    drop(proxy);
    emulator.stop().await.expect("stop the emulator");
}
