//! Warm intake handler time per request: a signed GitHub tag push (the published GHES example,
//! a new tag each request) through `boreas_intake::handle`, after warm-up requests.
//!
//! Two set-ups, printed one after the other:
//! - `memory`: `MemoryStore`, a fixed in-process secret and an in-process queue, real HMAC and
//!   JSON work: the handler's own cost.
//! - `emulator`: DynamoDB, SSM (cached after the first request, as in a warm Lambda) and SQS on the
//!   local moto emulator over loopback: four service round trips per request (read repository,
//!   put version, send plan job, record delivery).
//!
//! Run: `cargo bench -p boreas-intake --bench intake`

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use boreas_aws::BoxFuture;
use boreas_aws::names::Names;
use boreas_aws::queues::{Message, Queues, ReceiveOptions, SqsQueues};
use boreas_aws::secrets::{MemorySecrets, Secrets, SsmSecrets};
use boreas_aws::store::{MemoryStore, Repository, Store};
use boreas_core::webhook::Provider;
use boreas_intake::{Intake, WebhookRequest, handle};
use boreas_test_support::emulator::Prefix;
use boreas_test_support::webhook::{signed_headers, tag_push};
use http::{HeaderMap, HeaderValue};

const WARMUP: usize = 20;
const RUNS: usize = 300;
const REPO: &str = "Codertocat/Hello-World";
/// The host of the fixture's `repository.html_url`.
const HOST: &str = "octocoders.github.io";

/// Keeps sent bodies; only `send` is used by intake.
#[derive(Debug, Default)]
struct VecQueue(Mutex<Vec<String>>);

impl Queues for VecQueue {
    fn send<'a>(
        &'a self,
        _queue_url: &'a str,
        body: &'a str,
        _attributes: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, String> {
        Box::pin(async move {
            let mut sent = self.0.lock().unwrap();
            sent.push(body.to_owned());
            Ok(sent.len().to_string())
        })
    }
    fn send_delayed<'a>(
        &'a self,
        queue_url: &'a str,
        body: &'a str,
        _delay: Duration,
    ) -> BoxFuture<'a, String> {
        Box::pin(async move { self.send(queue_url, body, &BTreeMap::new()).await })
    }
    fn receive<'a>(&'a self, _: &'a str, _: &'a ReceiveOptions) -> BoxFuture<'a, Vec<Message>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn delete<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }
    fn change_visibility<'a>(&'a self, _: &'a str, _: &'a str, _: Duration) -> BoxFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }
    fn ensure_queue<'a>(&'a self, name: &'a str) -> BoxFuture<'a, String> {
        Box::pin(async move { Ok(name.to_owned()) })
    }
    fn queue_url<'a>(&'a self, name: &'a str) -> BoxFuture<'a, String> {
        Box::pin(async move { Ok(name.to_owned()) })
    }
}

/// Request `i`: the published tag push, for tag `v0.0.{i}` at a distinct commit, signed.
fn request(secret: &str, i: usize) -> WebhookRequest {
    let commit = format!("{:040x}", i + 1);
    let payload = tag_push(Provider::GitHub, REPO, &format!("v0.0.{i}"), &commit);
    let body = serde_json::to_vec(&payload).expect("serialise");
    let mut headers = HeaderMap::new();
    let delivery = format!("bench-{i}");
    for (name, value) in signed_headers(Provider::GitHub, "push", &delivery, &body, secret) {
        headers.insert(name, HeaderValue::from_str(&value).unwrap());
    }
    WebhookRequest {
        provider: "github".into(),
        headers,
        body,
    }
}

async fn measure(label: &str, intake: &Intake, secret: &str) {
    let requests: Vec<WebhookRequest> = (0..WARMUP + RUNS).map(|i| request(secret, i)).collect();
    let body_len = requests[0].body.len();
    let mut times = Vec::with_capacity(RUNS);
    for (i, req) in requests.into_iter().enumerate() {
        let start = Instant::now();
        let resp = handle(intake, req).await;
        let elapsed = start.elapsed();
        assert_eq!(resp.status, 202, "{}", resp.body.message);
        if i >= WARMUP {
            times.push(elapsed);
        }
    }
    times.sort();
    let pct = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    println!(
        "{label:<9} body {body_len} B, {RUNS} requests after {WARMUP} warm-up: min {:?}  median {:?}  p95 {:?}  max {:?}",
        times[0],
        pct(50),
        pct(95),
        times[times.len() - 1]
    );
}

fn repository(secret_param: &str) -> Repository {
    Repository {
        id: boreas_core::repository::repository_id(HOST, REPO),
        full_name: REPO.into(),
        host: HOST.into(),
        clone_url: "https://git.example.com/Codertocat/Hello-World.git".into(),
        provider: Provider::GitHub,
        secret_param: secret_param.into(),
        previous_secret: None,
        credential: None,
        triggers: vec!["refs/tags/v*".into()],
        created_at: "2026-11-29T09:00:00.000Z".into(),
    }
}

#[tokio::main]
async fn main() {
    // memory
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    store
        .put_repository(&repository("/bench/secret"))
        .await
        .unwrap();
    let secret = "bench-secret-0123456789abcdef";
    let intake = Intake::new(
        store,
        Arc::new(MemorySecrets::with([("/bench/secret", secret)])),
        Arc::new(VecQueue::default()),
        "plan",
    );
    measure("memory", &intake, secret).await;

    // emulator
    let emulator = boreas_aws::emulator::Emulator::start()
        .await
        .expect("start the emulator");
    let prefix = Prefix::provision(emulator.endpoint(), Names::new("bench-intake")).await;
    let param = prefix
        .names
        .webhook_secret_param(boreas_aws::provision::DEMO_REPOSITORY);
    let secrets = Arc::new(SsmSecrets::from_config(&prefix.sdk));
    let secret = secrets.get(&param).await.unwrap().expose().to_owned();
    let store: Arc<dyn Store> = Arc::new(prefix.store());
    store.put_repository(&repository(&param)).await.unwrap();
    let intake = Intake::new(
        store,
        secrets,
        Arc::new(SqsQueues::from_config(&prefix.sdk)),
        prefix.queue_url("plan"),
    );
    measure("emulator", &intake, &secret).await;
    emulator.stop().await.expect("stop the emulator");
}
