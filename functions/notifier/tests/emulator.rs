//! The notifier against the emulator (DynamoDB, SSM, SQS) and a local server standing in for
//! the git hosts, chat and a webhook receiver: it records every request, and each request to a
//! git host is checked against the host's published request schema.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_lambda_events::sqs::SqsEvent;
use boreas_aws::queues::{Queues, ReceiveOptions, SqsQueues};
use boreas_aws::secrets::{SecretValue, Secrets, SsmSecrets};
use boreas_aws::store::{GitCredential, NotificationDefaults, Repository, Store, rfc3339};
use boreas_core::config::NotificationRule;
use boreas_core::deployment::DeploymentStatus;
use boreas_core::notify::render::webhook_signature;
use boreas_core::notify::{Backoff, DeliveryState, Notice, NoticeEvent, NoticeKind};
use boreas_core::webhook::Provider;
use boreas_notifier::{GITHUB_DEPLOYMENT, GITHUB_SINK, Notifier, Outcome, handle};
use boreas_test_support::emulator::Prefix;
use boreas_test_support::git_hosts::{operation_of, request_problems};
use boreas_test_support::github_app::GithubApp;
use boreas_test_support::http::{RecordingServer, Request, Response};
use boreas_test_support::records::{example_plan, example_yaml, new_deployment, version};
use serde_json::json;

const COMMIT: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
const TOKEN: &str = "glpat-notifier-test-token";
const HOOK_SECRET: &str = "webhook-secret-0123456789";

/// One repository on the local "git host", with its notifications rules, and a deployment of
/// `v1.4.2` of the example configuration to prod.
struct Story {
    notifier: Notifier,
    store: Arc<dyn Store>,
    prefix: Prefix,
    deployment: String,
}

/// The deployment's apps are the example's: db-migrate, api, worker, web.
async fn story(
    provider: Provider,
    server: &RecordingServer,
    rules: &str,
    backoff: Backoff,
) -> Story {
    let prefix = Prefix::shared('n').await;
    let store: Arc<dyn Store> = Arc::new(prefix.store());
    let secrets = Arc::new(SsmSecrets::from_config(&prefix.sdk));
    let host = server.url().trim_start_matches("http://").to_owned();
    let full_name = match provider {
        Provider::GitLab => "acme/platform/shop",
        _ => "acme/shop",
    };
    let repo = format!("{host}/{full_name}");
    let param = prefix.names.git_credential_param(&repo);
    secrets
        .put(&param, &SecretValue::new(TOKEN), true)
        .await
        .unwrap();
    store
        .put_repository(&Repository {
            id: repo.clone(),
            full_name: full_name.to_owned(),
            host: host.clone(),
            clone_url: format!("http://{host}/{full_name}.git"),
            provider,
            secret_param: prefix.names.webhook_secret_param(&repo),
            previous_secret: None,
            credential: Some(GitCredential::Token {
                param,
                username: "oauth2".into(),
            }),
            triggers: vec!["refs/tags/v*".into()],
            created_at: rfc3339(SystemTime::now()),
        })
        .await
        .unwrap();
    store
        .put_version(&version(&repo, "v1.4.2", COMMIT))
        .await
        .unwrap();
    // No rules: no `notifications` section at all.
    let yaml = if rules.is_empty() {
        example_yaml()
    } else {
        format!("{}\nnotifications:\n{rules}", example_yaml())
    };
    store
        .put_version_config(&repo, "v1.4.2", &yaml)
        .await
        .unwrap();
    for (sink, spec) in [
        (
            "team-chat",
            json!({"kind": "slack", "url": format!("{}/chat/T0/B0/xyzzy", server.url())}),
        ),
        (
            "audit-hook",
            json!({"kind": "webhook", "url": format!("{}/hook", server.url()), "secret": HOOK_SECRET}),
        ),
        (
            "broken",
            json!({"kind": "teams", "url": "https://example.com"}),
        ),
    ] {
        secrets
            .put(
                &prefix.names.notification_sink_param(sink),
                &SecretValue::new(spec.to_string()),
                true,
            )
            .await
            .unwrap();
    }
    let deployment = format!("d-{}", prefix.names.prefix());
    let mut new = new_deployment(&deployment, example_plan("prod", "v1.4.2"));
    new.repository = repo;
    store.create_deployment(&new).await.unwrap();
    let notifier = Notifier::new(
        store.clone(),
        secrets,
        Arc::new(SqsQueues::from_config(&prefix.sdk)),
        prefix.names.clone(),
        "https://boreas.example.com/",
        backoff,
    )
    .unwrap();
    Story {
        notifier,
        store,
        prefix,
        deployment,
    }
}

impl Story {
    /// The deployment's repository record.
    async fn repository(&self) -> Repository {
        let deployment = self
            .store
            .get_deployment(&self.deployment)
            .await
            .unwrap()
            .unwrap();
        self.store
            .get_repository(&deployment.repository)
            .await
            .unwrap()
            .unwrap()
    }

    fn notice(&self, event: NoticeEvent) -> Notice {
        Notice::new(&self.deployment, rfc3339(SystemTime::now()), event)
    }

    async fn notify(&self, event: NoticeEvent) -> Vec<Outcome> {
        self.notifier.notify(&self.notice(event)).await.unwrap()
    }

    /// (sink, event, state) of every recorded delivery.
    async fn deliveries(&self) -> Vec<(String, String, DeliveryState)> {
        self.store
            .notifications(&self.deployment)
            .await
            .unwrap()
            .into_iter()
            .map(|n| (n.sink, n.event, n.state))
            .collect()
    }
}

/// A server that answers git hosts as they do (201, a Deployment with an id) and chat and
/// webhooks with 200.
fn host_server() -> RecordingServer {
    RecordingServer::start(|req: &Request| {
        if req.target.ends_with("/deployments") {
            Response::json(201, json!({"id": 4242}))
        } else if req.target.contains("/statuses") {
            Response::json(201, json!({"state": "ok"}))
        } else {
            Response::json(200, json!({}))
        }
    })
}

/// Panics unless every request to a git host follows the host's request schema; returns
/// (operation or path, state or text) of each request in order.
fn checked(server: &RecordingServer) -> Vec<(String, String)> {
    server
        .requests()
        .iter()
        .map(|r| {
            // A GET (a GitHub App's installation) has no body.
            let body = if r.body.is_empty() {
                serde_json::Value::Null
            } else {
                r.json()
            };
            match operation_of(&r.method, &r.target) {
                Some(op) => {
                    let problems = request_problems(op, &body);
                    assert!(
                        problems.is_empty(),
                        "{} {}: {problems:?}",
                        r.method,
                        r.target
                    );
                    let what = body["state"].as_str().unwrap_or("created").to_owned();
                    (op.to_owned(), what)
                }
                None => (
                    r.target.clone(),
                    body["text"]
                        .as_str()
                        .or(body["event"].as_str())
                        .unwrap_or_default()
                        .to_owned(),
                ),
            }
        })
        .collect()
}

fn gate() -> NoticeEvent {
    NoticeEvent::GateWaiting {
        app: "api".into(),
        batch: 0,
        gate: "api.0".into(),
    }
}

fn batch(app: &str, batch: u32) -> NoticeEvent {
    NoticeEvent::BatchFinished {
        app: app.into(),
        batch,
        batches: 3,
    }
}

/// A deployment with a gate, in the order its events happen.
fn lifecycle() -> [NoticeEvent; 5] {
    [
        NoticeEvent::Planned,
        NoticeEvent::Started,
        gate(),
        batch("api", 0),
        NoticeEvent::Succeeded,
    ]
}

#[tokio::test]
async fn a_github_deployment_gets_one_deployment_and_a_status_per_event_each_once() {
    let server = host_server();
    let s = story(
        Provider::GitHub,
        &server,
        "  - sink: git\n    environments: [prod]\n",
        Backoff::DEFAULT,
    )
    .await;
    for event in lifecycle() {
        s.notify(event).await;
    }
    // SQS delivers at least once, and a retried state reports again: nothing is sent twice.
    let again = s.notify(NoticeEvent::Succeeded).await;
    assert!(again.iter().all(|o| o.state.is_none()), "{again:?}");
    // A `started` that arrives after the end must not move the statuses back.
    let late = s.notify(NoticeEvent::Started).await;
    assert!(late.iter().all(|o| o.state.is_none()), "{late:?}");

    let sent = checked(&server);
    let deployment_statuses: Vec<&str> = sent
        .iter()
        .filter(|(op, _)| op == "github/repos_create-deployment-status")
        .map(|(_, state)| state.as_str())
        .collect();
    assert_eq!(
        deployment_statuses,
        [
            "queued",
            "in_progress",
            "in_progress",
            "in_progress",
            "success"
        ]
    );
    let commit_statuses: Vec<&str> = sent
        .iter()
        .filter(|(op, _)| op == "github/repos_create-commit-status")
        .map(|(_, state)| state.as_str())
        .collect();
    assert_eq!(
        commit_statuses,
        ["pending", "pending", "pending", "pending", "success"]
    );
    assert_eq!(
        sent.iter()
            .filter(|(op, _)| op == "github/repos_create-deployment")
            .count(),
        1
    );
    let requests = server.requests();
    let first = &requests[0];
    assert_eq!(first.target, "/api/v3/repos/acme/shop/deployments");
    assert_eq!(first.json()["ref"], COMMIT);
    assert_eq!(first.json()["environment"], "prod");
    assert_eq!(
        first.header("authorization"),
        Some(&*format!("Bearer {TOKEN}"))
    );
    assert_eq!(first.header("x-github-api-version"), Some("2022-11-28"));
    let status = requests
        .iter()
        .find(|r| r.target == "/api/v3/repos/acme/shop/deployments/4242/statuses")
        .expect("statuses go to the Deployment GitHub created");
    assert_eq!(
        status.json()["log_url"],
        format!("https://boreas.example.com/#/deployments/{}", s.deployment)
    );
    let commit = requests
        .iter()
        .find(|r| r.target == format!("/api/v3/repos/acme/shop/statuses/{COMMIT}"))
        .expect("commit statuses name the version's commit");
    assert_eq!(commit.json()["context"], "boreas/prod");

    let recorded = s.deliveries().await;
    assert!(recorded.contains(&(
        GITHUB_SINK.into(),
        GITHUB_DEPLOYMENT.into(),
        DeliveryState::Delivered
    )));
    assert!(recorded.contains(&("git".into(), "started".into(), DeliveryState::Delivered)));
    assert!(recorded.contains(&("git".into(), "succeeded".into(), DeliveryState::Delivered)));
    assert_eq!(recorded.len(), 11, "{recorded:?}");
}

/// A repository that authenticates as a GitHub App: the notifier mints an installation token for
/// that one repository with `statuses` and `deployments` write (nothing else: not the planner's
/// `contents` read), posts with it, and reuses it for the next event.
#[tokio::test]
async fn a_github_app_repository_gets_its_statuses_with_a_token_minted_for_them() {
    const MINTED: &str = "ghs_minted_for_statuses_0123456789";
    let app = GithubApp::generate(4242);
    let answers = app.clone();
    let server = RecordingServer::start(move |r: &Request| {
        if let Some(answer) = answers.answer(r, &["acme/shop"], MINTED) {
            answer
        } else if r.header("authorization") != Some(&*format!("Bearer {MINTED}")) {
            Response::json(401, json!({"message": "Bad credentials"}))
        } else if r.target.ends_with("/deployments") {
            Response::json(201, json!({"id": 4242}))
        } else {
            Response::json(201, json!({"state": "ok"}))
        }
    });
    let s = story(
        Provider::GitHub,
        &server,
        "  - sink: git\n",
        Backoff::DEFAULT,
    )
    .await;
    let secrets = SsmSecrets::from_config(&s.prefix.sdk);
    let mut repo = s.repository().await;
    let key_param = s.prefix.names.git_credential_param(&repo.id);
    secrets
        .put(&key_param, &SecretValue::new(&app.private_key_pem), true)
        .await
        .unwrap();
    repo.credential = Some(GitCredential::GithubApp {
        app_id: app.id,
        key_param,
        api_url: format!("{}/api/v3", server.url()),
    });
    s.store.put_repository(&repo).await.unwrap();

    s.notify(NoticeEvent::Started).await;
    s.notify(NoticeEvent::Succeeded).await;

    let requests = server.requests();
    let asked: Vec<(&str, &str)> = requests
        .iter()
        .map(|r| (r.method.as_str(), r.target.as_str()))
        .collect();
    assert_eq!(
        asked[..2],
        [
            ("GET", "/api/v3/repos/acme/shop/installation"),
            ("POST", "/api/v3/app/installations/77/access_tokens"),
        ],
        "minted once, before the first status: {asked:?}"
    );
    assert_eq!(
        requests[1].json(),
        json!({"repositories": ["shop"], "permissions": {"statuses": "write", "deployments": "write"}})
    );
    assert!(
        asked[2..]
            .iter()
            .all(|(_, target)| !target.contains("/installation")),
        "the token is reused: {asked:?}"
    );
    let sent = checked(&server);
    assert!(
        sent.contains(&("github/repos_create-commit-status".into(), "success".into())),
        "{sent:?}"
    );
    let recorded = s.deliveries().await;
    assert!(
        recorded
            .iter()
            .all(|(_, _, state)| *state == DeliveryState::Delivered),
        "{recorded:?}"
    );
    assert!(recorded.contains(&("git".into(), "succeeded".into(), DeliveryState::Delivered)));
    let text = format!("{recorded:?}");
    assert!(!text.contains(MINTED) && !text.contains("PRIVATE KEY"));
}

/// A repository whose `boreas.yaml` has no `notifications` section follows the installation's
/// default rules; an empty section turns them off for its versions.
#[tokio::test]
async fn a_repository_without_rules_follows_the_installation_defaults() {
    let server = host_server();
    let s = story(Provider::GitHub, &server, "", Backoff::DEFAULT).await;
    assert!(
        s.notify(NoticeEvent::Started).await.is_empty(),
        "no defaults yet"
    );
    s.store
        .put_notification_defaults(&NotificationDefaults {
            rules: vec![NotificationRule {
                sink: "team-chat".into(),
                events: Some(vec![NoticeKind::Started, NoticeKind::Succeeded]),
                environments: vec!["prod".into()],
                apps: Vec::new(),
            }],
            updated_at: rfc3339(SystemTime::now()),
            updated_by: "admin".into(),
        })
        .await
        .unwrap();
    s.notify(NoticeEvent::Started).await;
    let repo = s.repository().await;
    s.store
        .put_version_config(
            &repo.id,
            "v1.4.2",
            &format!("{}\nnotifications: []\n", example_yaml()),
        )
        .await
        .unwrap();
    assert!(s.notify(NoticeEvent::Succeeded).await.is_empty());

    let chat: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(chat.len(), 1, "{chat:?}");
    assert!(chat[0].contains("v1.4.2"), "{chat:?}");
    assert_eq!(
        s.deliveries().await,
        [(
            "team-chat".into(),
            "started".into(),
            DeliveryState::Delivered
        )]
    );
}

#[tokio::test]
async fn gitlab_and_gitea_get_commit_statuses_in_their_own_vocabulary() {
    for (provider, path, operation, auth) in [
        (
            Provider::GitLab,
            format!("/api/v4/projects/acme%2Fplatform%2Fshop/statuses/{COMMIT}"),
            "gitlab/create-commit-status",
            ("private-token", TOKEN.to_owned()),
        ),
        (
            Provider::Gitea,
            format!("/api/v1/repos/acme/shop/statuses/{COMMIT}"),
            "gitea/repoCreateStatus",
            ("authorization", format!("token {TOKEN}")),
        ),
    ] {
        let server = host_server();
        let s = story(provider, &server, "  - sink: git\n", Backoff::DEFAULT).await;
        for event in [
            NoticeEvent::Planned,
            NoticeEvent::Started,
            NoticeEvent::RolledBack {
                failed_target: Some("api-eu-1".into()),
            },
        ] {
            s.notify(event).await;
        }
        let sent = checked(&server);
        let states: Vec<&str> = sent.iter().map(|(_, state)| state.as_str()).collect();
        let expected: &[&str] = match provider {
            Provider::GitLab => &["pending", "running", "failed"],
            _ => &["pending", "pending", "failure"],
        };
        assert_eq!(states, expected, "{provider}");
        for r in server.requests() {
            assert_eq!(r.target, path, "{provider}");
            assert_eq!(operation_of(&r.method, &r.target), Some(operation));
            assert_eq!(r.header(auth.0), Some(auth.1.as_str()), "{provider}");
        }
        let last = server.requests().last().unwrap().json();
        assert_eq!(
            last["description"],
            "v1.4.2 was rolled back in prod after api-eu-1 failed"
        );
    }
}

#[tokio::test]
async fn chat_hears_gates_and_outcomes_and_a_webhook_is_signed() {
    let server = host_server();
    let s = story(
        Provider::GitHub,
        &server,
        "  - sink: team-chat\n  - sink: audit-hook\n    events: [succeeded]\n    apps: [web]\n",
        Backoff::DEFAULT,
    )
    .await;
    for event in lifecycle() {
        s.notify(event).await;
    }
    let sent = checked(&server);
    let link = format!(
        "<https://boreas.example.com/#/deployments/{}|Open in Boreas>",
        s.deployment
    );
    assert_eq!(
        sent,
        [
            (
                "/chat/T0/B0/xyzzy".to_owned(),
                format!("*acme/shop*: v1.4.2 in prod waits for approval at gate api.0 {link}")
            ),
            (
                "/chat/T0/B0/xyzzy".to_owned(),
                format!("*acme/shop*: v1.4.2 is deployed to prod {link}")
            ),
            ("/hook".to_owned(), "succeeded".to_owned()),
        ]
    );
    // The receiver's check: HMAC-SHA256 over "<t>.<body>" with the shared secret.
    let hook = server.requests().pop().unwrap();
    let signature = hook.header("boreas-signature").unwrap().to_owned();
    let t: u64 = signature
        .strip_prefix("t=")
        .and_then(|rest| rest.split(',').next())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        signature,
        webhook_signature(HOOK_SECRET.as_bytes(), t, &hook.body)
    );
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(now.abs_diff(t) < 60);
    assert_eq!(
        hook.header("boreas-delivery"),
        Some(&*format!("{}/succeeded", s.deployment))
    );
    assert_eq!(hook.json()["commit"], COMMIT);
}

#[tokio::test]
async fn an_app_that_did_not_change_sends_nothing() {
    let server = host_server();
    let s = story(
        Provider::GitHub,
        &server,
        "  - sink: team-chat\n    apps: [billing]\n",
        Backoff::DEFAULT,
    )
    .await;
    // `billing` is not an app of the example: the recorded boreas.yaml does not validate, and
    // the notice says so instead of guessing.
    let err = s
        .notifier
        .notify(&s.notice(NoticeEvent::Succeeded))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("notifications[0].apps[0]"), "{err}");

    // A rule for `web` hears a deployment of web; a plan without web sends nothing for it.
    let s = story(
        Provider::GitHub,
        &server,
        "  - sink: team-chat\n    apps: [web]\n",
        Backoff::DEFAULT,
    )
    .await;
    let mut plan = example_plan("prod", "v1.4.2");
    for stage in &mut plan.stages {
        stage.apps.retain(|a| a.app != "web");
    }
    plan.stages.retain(|stage| !stage.apps.is_empty());
    s.store.update_plan(&s.deployment, &plan).await.unwrap();
    assert!(s.notify(NoticeEvent::Succeeded).await.is_empty());
    assert!(s.notify(gate()).await.is_empty());
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_sink_that_is_down_is_retried_and_one_that_refuses_fails_without_touching_the_deployment()
{
    // The chat sink is down for two requests, then up; the webhook always answers 500; GitHub
    // refuses the token.
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let server = RecordingServer::start(move |req: &Request| {
        if req.target.starts_with("/chat") {
            if seen.fetch_add(1, Ordering::SeqCst) < 2 {
                Response::json(503, json!({"message": "over capacity"}))
            } else {
                Response::json(200, json!({}))
            }
        } else if req.target == "/hook" {
            Response::json(500, json!({"message": "receiver crashed"}))
        } else {
            Response::json(401, json!({"message": "Bad credentials"}))
        }
    });
    let backoff = Backoff {
        first: Duration::from_millis(1),
        attempts: 3,
    };
    let s = story(
        Provider::GitHub,
        &server,
        "  - sink: git\n  - sink: team-chat\n  - sink: audit-hook\n  - sink: broken\n  - sink: nowhere\n",
        backoff,
    )
    .await;
    let status = |o: &[Outcome], sink: &str| {
        o.iter()
            .filter(|o| o.sink == sink)
            .map(|o| o.state)
            .collect::<Vec<_>>()
    };
    let first = s.notify(NoticeEvent::Succeeded).await;
    assert_eq!(status(&first, "team-chat"), [Some(DeliveryState::Retrying)]);
    assert_eq!(
        status(&first, "audit-hook"),
        [Some(DeliveryState::Retrying)]
    );
    assert_eq!(status(&first, "git"), [Some(DeliveryState::Failed)]);
    assert_eq!(status(&first, GITHUB_SINK), [Some(DeliveryState::Failed)]);
    assert_eq!(status(&first, "broken"), [Some(DeliveryState::Failed)]);
    assert_eq!(status(&first, "nowhere"), [Some(DeliveryState::Failed)]);
    assert!(
        first
            .iter()
            .any(|o| o.retry_in == Some(Duration::from_millis(1)))
    );

    let second = s.notify(NoticeEvent::Succeeded).await;
    assert_eq!(
        status(&second, "team-chat"),
        [Some(DeliveryState::Retrying)]
    );
    // Refused deliveries are not tried again.
    assert_eq!(status(&second, "git"), [None]);
    let third = s.notify(NoticeEvent::Succeeded).await;
    assert_eq!(
        status(&third, "team-chat"),
        [Some(DeliveryState::Delivered)]
    );
    assert_eq!(status(&third, "audit-hook"), [Some(DeliveryState::Failed)]);
    let fourth = s.notify(NoticeEvent::Succeeded).await;
    assert!(fourth.iter().all(|o| o.state.is_none()), "{fourth:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // GitHub refused the Deployment once: a later event fails at once, without asking again.
    let later = s.notify(NoticeEvent::Cancelled).await;
    assert_eq!(status(&later, GITHUB_SINK), [Some(DeliveryState::Failed)]);
    let creations = server
        .requests()
        .iter()
        .filter(|r| r.target.ends_with("/deployments"))
        .count();
    assert_eq!(creations, 1);

    let errors: Vec<(String, Option<String>)> = s
        .store
        .notifications(&s.deployment)
        .await
        .unwrap()
        .into_iter()
        .map(|n| (n.sink, n.error))
        .collect();
    let error = |sink: &str| {
        errors
            .iter()
            .find(|(s, _)| s == sink)
            .and_then(|(_, e)| e.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        error("audit-hook"),
        "sink \"audit-hook\": HTTP 500: receiver crashed (gave up after 3 attempts)"
    );
    assert!(
        error("git").ends_with("HTTP 401: Bad credentials"),
        "{}",
        error("git")
    );
    assert!(error("broken").starts_with("sink \"broken\": its registration is not a sink"));
    assert!(error("nowhere").contains("is not registered in this installation"));
    // No error or record repeats a credential (the chat URL is one).
    let text = format!("{errors:?}");
    assert!(!text.contains("xyzzy") && !text.contains(TOKEN) && !text.contains(HOOK_SECRET));
    // The deployment is as it was: notifications never write it.
    let d = s
        .store
        .get_deployment(&s.deployment)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.status, DeploymentStatus::Planned);
}

/// An SQS event as Lambda delivers it, from a message received on the notifications queue.
fn lambda_event(queue_arn: &str, id: &str, receipt: &str, body: &str) -> SqsEvent {
    serde_json::from_value(json!({"Records": [{
        "messageId": id,
        "receiptHandle": receipt,
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795971600000"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "us-east-1"
    }]}))
    .unwrap()
}

#[tokio::test]
async fn a_notice_to_retry_comes_back_when_its_retry_is_due() {
    let down = Arc::new(Mutex::new(true));
    let state = Arc::clone(&down);
    let server = RecordingServer::start(move |_req: &Request| {
        if *state.lock().unwrap() {
            Response::json(502, json!({"message": "bad gateway"}))
        } else {
            Response::json(200, json!({}))
        }
    });
    let backoff = Backoff {
        first: Duration::from_secs(2),
        attempts: 5,
    };
    let s = story(Provider::GitHub, &server, "  - sink: team-chat\n", backoff).await;
    let queues = SqsQueues::from_config(&s.prefix.sdk);
    let url = s.prefix.queue_url("notifications").to_owned();
    let arn = format!(
        "arn:aws:sqs:us-east-1:123456789012:{}",
        s.prefix.names.notifications_queue()
    );
    let notice = s.notice(NoticeEvent::Succeeded);
    queues
        .send(&url, &notice.to_json(), &Default::default())
        .await
        .unwrap();
    let quick = ReceiveOptions {
        wait: Duration::from_secs(1),
        max_messages: 1,
        visibility: Some(Duration::from_secs(30)),
    };
    let received = queues.receive(&url, &quick).await.unwrap().remove(0);
    let response = handle(
        &s.notifier,
        lambda_event(&arn, &received.id, &received.receipt_handle, &received.body),
    )
    .await;
    assert_eq!(response.batch_item_failures.len(), 1);
    // Hidden for the retry delay (2 s), not the 30 s it was received with.
    *down.lock().unwrap() = false;
    let again = ReceiveOptions {
        wait: Duration::from_secs(5),
        ..quick.clone()
    };
    let back = queues.receive(&url, &again).await.unwrap().remove(0);
    assert_eq!(back.body, received.body);
    let response = handle(
        &s.notifier,
        lambda_event(&arn, &back.id, &back.receipt_handle, &back.body),
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        s.deliveries().await,
        [(
            "team-chat".into(),
            "succeeded".into(),
            DeliveryState::Delivered
        )]
    );
    // A body that is not a notice is left for the dead-letter queue, with the reason logged.
    let response = handle(
        &s.notifier,
        lambda_event(&arn, "m-bad", "r-bad", "{\"deployment_id\":1}"),
    )
    .await;
    assert_eq!(response.batch_item_failures[0].item_identifier, "m-bad");
}
