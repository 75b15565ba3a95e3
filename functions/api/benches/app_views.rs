//! Benchmark of the app views and revert on the emulator: `GET /api/apps`, `GET /api/apps/{name}`
//! and `POST /api/versions/{repo}/{name}/revert` through the api, which read each app's own
//! partition and the versions they compare by key, against what the api read for each of them
//! before the app projection (every deployment, every agent and every version of the repository),
//! on the same table in the same run.
//!
//! Requests and items read are counted by a proxy in front of the emulator: they are what DynamoDB
//! bills and waits for, so they carry over to AWS; the wall times are the emulator's (a Python
//! process that sorts the whole table for every index query).
//!
//! Run: `cargo test -p boreas-api --bench app_views` (`BOREAS_BENCH_DEPLOYMENTS`, default 2,000,
//! and `BOREAS_BENCH_VERSIONS`, default 10,000, set the history's size; `cargo bench` runs the
//! same in the release profile). Prints a Markdown section.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use boreas_api::{Api, ApiRequest, handle};
use boreas_aws::emulator::{Emulator, unique_prefix};
use boreas_aws::lifecycle::Lifecycle;
use boreas_aws::names::Names;
use boreas_aws::orchestrator::SfnOrchestrator;
use boreas_aws::provision::provision;
use boreas_aws::secrets::SsmSecrets;
use boreas_aws::store::{
    Agent, ApiToken, DeploymentFilter, DynamoStore, MAX_PAGE, NewDeployment, PageRequest, Store,
    Transition, VersionRecord, rfc3339,
};
use boreas_core::deployment::DeploymentStatus;
use boreas_core::role::Role;
use boreas_core::status::VersionStatus;
use boreas_test_support::http::{DynamoReads, dynamodb_reads};
use boreas_test_support::records;
use futures::StreamExt;
use http::Method;
use serde_json::json;

/// Calls measured per route.
const CALLS: usize = 20;
/// Runs of the previous reads measured (each reads the whole history).
const BASELINE_CALLS: usize = 5;
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

/// A deployment of version `v{version}` to staging, created at second `second`, run to
/// `succeeded` and recorded as its apps' release the way the recorder does.
async fn add_release(store: &dyn Store, id: &str, version: usize, second: usize) {
    let new = NewDeployment {
        created_at: at(second),
        ..records::new_deployment(id, records::example_plan("staging", &format!("v{version}")))
    };
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

async fn call(api: &Api, req: ApiRequest) {
    let path = req.path.clone();
    let res = handle(api, req).await;
    assert!(res.status.is_success(), "{path}: {res:?}");
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

    // History: `versions` versions, the newest `deployments` of them each deployed to staging
    // and succeeded, the hosts reporting the newest.
    let filled = Instant::now();
    futures::stream::iter(0..versions)
        .for_each_concurrent(8, |i| {
            let store = Arc::clone(&store);
            async move {
                add_version(store.as_ref(), i).await;
            }
        })
        .await;
    let first = versions - deployments;
    futures::stream::iter(first..versions)
        .for_each_concurrent(8, |i| {
            let store = Arc::clone(&store);
            async move { add_release(store.as_ref(), &format!("dep-{i:06}"), i, i).await }
        })
        .await;
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

    let mut rows = Vec::new();
    for (route, path) in [
        ("`GET /api/apps`", "/api/apps"),
        ("`GET /api/apps/api`", "/api/apps/api"),
    ] {
        let (mut times, mut costs) = (Vec::new(), Vec::new());
        for _ in 0..CALLS {
            take(&reads);
            let started = Instant::now();
            call(&api, get(path)).await;
            times.push(started.elapsed());
            costs.push(take(&reads));
        }
        rows.push((route, figures(times, &costs)));
    }
    // Each revert withdraws a newly released version: a good version, then a bad one deployed
    // over it, so every call finds the bad one running and rolls back to the good one.
    let (mut times, mut costs) = (Vec::new(), Vec::new());
    for k in 0..CALLS {
        let (good, bad) = (versions + 2 * k, versions + 2 * k + 1);
        add_version(store.as_ref(), good).await;
        add_version(store.as_ref(), bad).await;
        add_release(store.as_ref(), &format!("dep-bad-{k}"), bad, bad).await;
        report(store.as_ref(), bad, bad).await;
        take(&reads);
        let started = Instant::now();
        call(
            &api,
            ApiRequest::new(Method::POST, format!("/api/versions/shop/v{bad}/revert"))
                .bearer(SECRET)
                .json(&json!({"reason": "benchmark"})),
        )
        .await;
        times.push(started.elapsed());
        costs.push(take(&reads));
    }
    rows.push((
        "`POST /api/versions/shop/{v}/revert`",
        figures(times, &costs),
    ));

    let (mut times, mut costs) = (Vec::new(), Vec::new());
    for _ in 0..BASELINE_CALLS {
        take(&reads);
        let started = Instant::now();
        previous_reads(proxied.as_ref()).await;
        times.push(started.elapsed());
        costs.push(take(&reads));
    }
    let before = figures(times, &costs);

    println!("## App views and revert\n");
    println!(
        "Command: `cargo test -p boreas-api --bench app_views` (`functions/api/benches/app_views.rs`; \
         moto emulator, 2 cores). History: {versions} versions of one repository, the newest \
         {deployments} each deployed to staging and succeeded (4 apps each), 4 hosts reporting; \
         filled in {:.0} s. Each route through the api, {CALLS} calls (a revert each time withdraws \
         a newly released version; its figures include its writes), against what the api read for \
         each of these requests before the app projection: every deployment, every agent and every \
         version of the repository, pages of {MAX_PAGE} ({BASELINE_CALLS} runs). Requests and items \
         read, counted by a proxy, are what DynamoDB bills and waits for; the times are the \
         emulator's.\n",
        fill.as_secs_f64()
    );
    println!(
        "| request | now: requests / items read | now: p50 / p99 | before: requests / items read | before: p50 / p99 | items read ratio | p50 ratio |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (route, now) in rows {
        println!(
            "| {route} | {} / {} | {} / {} | {} / {} | {} / {} | {:.0}× | {:.0}× |",
            now.cost.requests,
            now.cost.read,
            ms(now.p50),
            ms(now.p99),
            before.cost.requests,
            before.cost.read,
            ms(before.p50),
            ms(before.p99),
            before.cost.read as f64 / now.cost.read.max(1) as f64,
            before.p50.as_secs_f64() / now.p50.as_secs_f64()
        );
    }
    drop(proxy);
    emulator.stop().await.expect("stop the emulator");
}
