//! A provisioned emulator prefix with the intake over it, and helpers to deliver payloads.

#![allow(dead_code)] // each test file uses a different subset

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use boreas_aws::names::Names;
use boreas_aws::queues::{Queues, ReceiveOptions, SqsQueues};
use boreas_aws::secrets::{Secrets, SsmSecrets};
use boreas_aws::store::{PageRequest, Repository, Store, VersionRecord};
use boreas_core::repository::repository_id;
use boreas_core::webhook::{PlanJob, Provider};
use boreas_intake::{Intake, WebhookRequest, WebhookResponse, handle};
use boreas_test_support::emulator::Prefix;
use boreas_test_support::webhook::signed_headers;
use http::{HeaderMap, HeaderName, HeaderValue};

/// One provisioned prefix on the shared emulator.
pub(crate) struct Env {
    pub(crate) intake: Intake,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) queues: Arc<dyn Queues>,
    pub(crate) plan_queue_url: String,
    pub(crate) names: Names,
    /// The webhook secret every test repository uses.
    pub(crate) secret: String,
    /// SSM, as intake reads it.
    pub(crate) secrets: Arc<SsmSecrets>,
    secret_param: String,
}

impl Env {
    pub(crate) async fn new() -> Env {
        let prefix = Prefix::shared('i').await;
        let store: Arc<dyn Store> = Arc::new(prefix.store());
        let secrets = Arc::new(SsmSecrets::from_config(&prefix.sdk));
        let queues: Arc<dyn Queues> = Arc::new(SqsQueues::from_config(&prefix.sdk));
        let plan_queue_url = prefix.queue_url("plan").to_owned();
        let names = prefix.names;
        // Provisioning generates the demo repository's SecureString; every test repository uses it.
        let secret_param = names.webhook_secret_param(boreas_aws::provision::DEMO_REPOSITORY);
        let secret = secrets
            .get(&secret_param)
            .await
            .expect("read the provisioned webhook secret")
            .expose()
            .to_owned();
        let intake = Intake::new(
            store.clone(),
            secrets.clone(),
            queues.clone(),
            &plan_queue_url,
        );
        Env {
            intake,
            store,
            queues,
            plan_queue_url,
            names,
            secret,
            secrets,
            secret_param,
        }
    }

    /// The record of repository `full_name` on `host` (as its payloads' web URLs name the host),
    /// watched through `provider` with these ref triggers, using the shared test secret.
    pub(crate) fn repository(
        &self,
        host: &str,
        full_name: &str,
        provider: Provider,
        triggers: &[&str],
    ) -> Repository {
        Repository {
            id: repository_id(host, full_name),
            full_name: full_name.to_owned(),
            host: host.to_owned(),
            clone_url: format!("https://{host}/{full_name}.git"),
            provider,
            secret_param: self.secret_param.clone(),
            previous_secret: None,
            credential: None,
            triggers: triggers.iter().map(|t| (*t).to_owned()).collect(),
            created_at: boreas_aws::store::rfc3339(SystemTime::now()),
        }
    }

    /// Registers [`Env::repository`].
    pub(crate) async fn register(
        &self,
        host: &str,
        full_name: &str,
        provider: Provider,
        triggers: &[&str],
    ) {
        let repo = self.repository(host, full_name, provider, triggers);
        self.store.put_repository(&repo).await.expect("register");
    }

    /// Delivers `body` signed with the repository secret.
    pub(crate) async fn deliver(
        &self,
        provider: Provider,
        event: &str,
        delivery: &str,
        body: &[u8],
    ) -> WebhookResponse {
        handle(
            &self.intake,
            signed_request(provider, event, delivery, body, &self.secret),
        )
        .await
    }

    /// Sends a request with exactly these headers.
    pub(crate) async fn send(
        &self,
        provider: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> WebhookResponse {
        handle(&self.intake, request(provider, headers, body)).await
    }

    /// Every version recorded.
    pub(crate) async fn versions(&self) -> Vec<VersionRecord> {
        self.store
            .list_versions(None, &PageRequest::first(1000))
            .await
            .expect("list versions")
            .items
    }

    /// Every plan job waiting on the plan queue (received, so hidden for the visibility timeout).
    pub(crate) async fn plan_jobs(&self) -> Vec<PlanJob> {
        let options = ReceiveOptions {
            wait: Duration::ZERO,
            max_messages: 10,
            visibility: None,
        };
        let mut jobs = Vec::new();
        loop {
            let batch = self
                .queues
                .receive(&self.plan_queue_url, &options)
                .await
                .expect("receive plan jobs");
            if batch.is_empty() {
                return jobs;
            }
            jobs.extend(
                batch
                    .iter()
                    .map(|m| PlanJob::from_json(&m.body).expect("plan job")),
            );
        }
    }

    /// Whether the delivery id was never recorded (recording it now, as a probe).
    pub(crate) async fn delivery_is_new(&self, provider: Provider, delivery: &str) -> bool {
        self.store
            .record_delivery(
                provider,
                delivery,
                SystemTime::now(),
                Duration::from_secs(60),
            )
            .await
            .expect("record delivery")
    }

    /// Asserts that no version, no plan job and not this delivery id were written.
    pub(crate) async fn assert_nothing_written(&self, provider: Provider, delivery: &str) {
        assert_eq!(self.versions().await, Vec::new(), "no version recorded");
        assert_eq!(self.plan_jobs().await, Vec::new(), "no plan job queued");
        assert!(
            self.delivery_is_new(provider, delivery).await,
            "delivery {delivery} not recorded"
        );
    }
}

/// A request with exactly these headers.
pub(crate) fn request(provider: &str, headers: &[(&str, &str)], body: &[u8]) -> WebhookRequest {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    WebhookRequest {
        provider: provider.to_owned(),
        headers: map,
        body: body.to_vec(),
    }
}

/// A delivery of `body` with the provider's headers, signed with `secret`.
pub(crate) fn signed_request(
    provider: Provider,
    event: &str,
    delivery: &str,
    body: &[u8],
    secret: &str,
) -> WebhookRequest {
    let headers = signed_headers(provider, event, delivery, body, secret);
    let headers = headers
        .each_ref()
        .map(|(name, value)| (*name, value.as_str()));
    request(provider.as_str(), &headers, body)
}

/// Asserts status code and outcome (or error code), showing the message on failure.
#[track_caller]
pub(crate) fn expect(resp: &WebhookResponse, status: u16, outcome: &str) {
    let got = resp.body.status.or(resp.body.error).unwrap_or_default();
    assert_eq!(
        (resp.status, got),
        (status, outcome),
        "message: {}",
        resp.body.message
    );
}
