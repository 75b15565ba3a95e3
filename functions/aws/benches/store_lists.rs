//! Benchmark of the filtered lists on the emulator: deployments by status and by environment, and
//! versions by repository, each read from its own index partition, against the way the store read
//! them before those indexes (the one `DEPLOYMENTS` / `VERSIONS` partition of `gsi1`, filtered by a
//! FilterExpression, a page at a time until the page is full), on the same table in the same run.
//!
//! What DynamoDB bills and waits for is requests and items read, so those are the figures that
//! carry over to AWS; the wall times are the emulator's (a Python process that sorts the whole
//! table for every index query, which exaggerates the cost of many requests).
//!
//! Run: `cargo test -p boreas-aws --bench store_lists` (`BOREAS_BENCH_DEPLOYMENTS` and
//! `BOREAS_BENCH_VERSIONS`, default 10,000 each, set the table's size; `cargo bench` runs the same
//! in the release profile, which changes nothing measurable). Prints a Markdown section.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use boreas_aws::emulator::{Emulator, unique_prefix};
use boreas_aws::names::Names;
use boreas_aws::provision::{GSI1, GSI2, GSI3, provision};
use boreas_aws::store::{DeploymentFilter, DynamoStore, PageRequest, Store, Transition};
use boreas_core::deployment::DeploymentStatus;
use boreas_test_support::lists::{ListCost, list_page};
use boreas_test_support::records::{self, at};
use futures::StreamExt;

/// Environments the deployments go to.
const ENVIRONMENTS: [&str; 4] = ["dev", "staging", "prod", "prod-eu"];
/// Repositories the versions belong to.
const REPOSITORIES: usize = 20;
/// Deployments left running (what `?status=running` finds).
const RUNNING: usize = 20;
/// Calls measured per list.
const CALLS: usize = 3;
/// The page size the dashboard asks for.
const PAGE: u32 = 50;

fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Median wall time of `CALLS` runs of `call`, and its cost (the same every run).
async fn measure<F, Fut>(mut call: F) -> (Duration, ListCost)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ListCost>,
{
    let mut times = Vec::new();
    let mut cost = ListCost::default();
    for _ in 0..CALLS {
        let started = Instant::now();
        cost = call().await;
        times.push(started.elapsed());
    }
    times.sort();
    (times[times.len() / 2], cost)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let deployments = count("BOREAS_BENCH_DEPLOYMENTS", 10_000);
    let versions = count("BOREAS_BENCH_VERSIONS", 10_000);
    let emulator = Emulator::start().await.expect("start the emulator");
    let config = boreas_aws::sdk_config(Some(emulator.endpoint())).await;
    let names = Names::new(&unique_prefix('b'));
    let asl =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../statemachine/deployment.asl.json");
    provision(&config, &names, &asl).await.expect("provision");
    let store: Arc<dyn Store> = Arc::new(DynamoStore::from_config(&config, names.table()));

    let filled = Instant::now();
    futures::stream::iter(0..versions)
        .for_each_concurrent(8, |i| {
            let store = Arc::clone(&store);
            async move {
                let mut v = records::version(
                    &format!("repo-{}", i % REPOSITORIES),
                    &format!("v{i}"),
                    &format!("{i:040x}"),
                );
                v.received_at = at(u32::try_from(i).unwrap());
                store.put_version(&v).await.expect("put version");
            }
        })
        .await;
    futures::stream::iter(0..deployments)
        .for_each_concurrent(8, |i| {
            let store = Arc::clone(&store);
            async move {
                let env = ENVIRONMENTS[i % ENVIRONMENTS.len()];
                let plan = boreas_core::plan::Plan {
                    environment: env.to_owned(),
                    version: format!("v{i}"),
                    stages: Vec::new(),
                    skipped: Vec::new(),
                };
                let mut new = records::new_deployment(&format!("dep-{i:06}"), plan);
                new.created_at = at(u32::try_from(i).unwrap());
                store.create_deployment(&new).await.expect("create");
                // The oldest few are still running; the rest stay planned.
                if i < RUNNING {
                    store
                        .transition_deployment(
                            &new.id,
                            &Transition::to(DeploymentStatus::Running, at(1_000_000)),
                        )
                        .await
                        .expect("start");
                }
            }
        })
        .await;
    let fill = filled.elapsed();

    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = names.table();
    let page = PageRequest::first(PAGE);
    // The store answers each list with exactly the page the keyed Query gives.
    let running = DeploymentFilter {
        status: Some(DeploymentStatus::Running),
        ..DeploymentFilter::default()
    };
    let prod = DeploymentFilter {
        environment: Some("prod".to_owned()),
        ..DeploymentFilter::default()
    };
    assert_eq!(
        store
            .list_deployments(&running, &page)
            .await
            .unwrap()
            .items
            .len(),
        RUNNING
    );
    assert_eq!(
        store
            .list_deployments(&prod, &page)
            .await
            .unwrap()
            .items
            .len(),
        PAGE as usize
    );
    assert_eq!(
        store
            .list_versions(Some("repo-0"), &page)
            .await
            .unwrap()
            .items
            .len(),
        PAGE as usize
    );
    let cases = [
        (
            "deployments, `?status=running`",
            (GSI3, "DEPLOYMENTS#STATUS#running", None),
            ("DEPLOYMENTS", ("status", "running")),
        ),
        (
            "deployments, `?env=prod`",
            (GSI2, "DEPLOYMENTS#ENV#prod", None),
            ("DEPLOYMENTS", ("environment", "prod")),
        ),
        (
            "versions, `?repo=repo-0`",
            (GSI2, "VERSIONS#repo-0", None),
            ("VERSIONS", ("repository", "repo-0")),
        ),
    ];
    println!("## Store lists\n");
    println!(
        "Command: `cargo test -p boreas-aws --bench store_lists` (`functions/aws/benches/store_lists.rs`; \
         moto emulator, 2 cores). Table: {deployments} deployments over {} environments ({RUNNING} \
         running, the oldest; the rest planned), {versions} versions over {REPOSITORIES} repositories \
         (interleaved); filled in {:.0} s. One page of {PAGE} (the dashboard's), median of {CALLS} \
         calls: the list's own index partition (`gsi2`, `gsi3`) against the previous read of the one \
         `gsi1` partition with a FilterExpression, same table, same run. Requests and items read are \
         what DynamoDB bills and waits for; the times are the emulator's.\n",
        ENVIRONMENTS.len(),
        fill.as_secs_f64()
    );
    println!(
        "| list | items | keyed: requests / items read / time | filtered: requests / items read / time | items read ratio | time ratio |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for (name, (index, key, filter), (partition, old_filter)) in cases {
        let (new_time, new) =
            measure(|| list_page(&client, &table, index, key, filter, PAGE as usize)).await;
        let (old_time, old) = measure(|| {
            list_page(
                &client,
                &table,
                GSI1,
                partition,
                Some(old_filter),
                PAGE as usize,
            )
        })
        .await;
        assert_eq!(new.items, old.items, "{name}: both ways find the same page");
        println!(
            "| {name} | {} | {} / {} / {} | {} / {} / {} | {:.0}× | {:.1}× |",
            new.items,
            new.requests,
            new.read,
            ms(new_time),
            old.requests,
            old.read,
            ms(old_time),
            old.read as f64 / new.read as f64,
            old_time.as_secs_f64() / new_time.as_secs_f64()
        );
    }
    emulator.stop().await.expect("stop the emulator");
}
