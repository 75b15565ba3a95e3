//! The API client commands (`versions`, `deployments`, `show` and `show --plan`, `history`,
//! `watch`, `approve`, `cancel`, `revert`, the environment policy's `envs`, `waive`, `override`
//! and `freeze`) against the real
//! api handler served over HTTP on 127.0.0.1, over the in-memory store: every field the tables
//! and the tree show comes from the typed answer, an error prints the api's `{error, message}`,
//! and `watch` exits by the deployment's outcome.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::process::Output;
use std::sync::Arc;

use boreas_api::{Api, ApiRequest};
use boreas_api_types::{DeploymentDetail, EnvironmentView, List};
use boreas_aws::names::Names;
use boreas_aws::orchestrator::SfnOrchestrator;
use boreas_aws::secrets::MemorySecrets;
use boreas_aws::store::{
    ApiToken, AppProgress, Deployment, HostDecision, MemoryStore, NewDeployment, Repository, Store,
    StoredReview, TargetProgress, TaskOutput, Transition, VersionRecord,
};
use boreas_core::adjust::{self, Adjustment};
use boreas_core::config::BatchSize;
use boreas_core::deployment::DeploymentStatus;
use boreas_core::history::{AppRun, HostRun, RunGate};
use boreas_core::planner::{PlanInput, plan_with_reasons};
use boreas_core::review::{CommitSummary, Review, Running};
use boreas_core::role::Role;
use boreas_core::status::{AppStatus, GateStatus, TargetStatus, VersionStatus};
use boreas_core::version::VersionState;
use boreas_test_support::records::{self, at, example_plan, new_deployment};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const TOKEN: &str = "client-test-token";

async fn deployment(store: &MemoryStore, id: &str, version: &str, second: u32) {
    store
        .create_deployment(&NewDeployment {
            created_at: at(second),
            ..new_deployment(id, example_plan("staging", version))
        })
        .await
        .unwrap();
}

/// A store with a version and deployments in each state the commands show.
async fn store() -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    store
        .put_api_token(
            TOKEN,
            &ApiToken::new("cli", Role::Admin, "2026-11-29T09:00:00.000Z"),
        )
        .await
        .unwrap();
    store
        .put_version(&VersionRecord {
            status: VersionStatus::Planned,
            diverged: true,
            received_at: at(1),
            pushed_by: Some("octo".into()),
            ..records::version("shop", "v1", "0123456789abcdef0123")
        })
        .await
        .unwrap();
    // d-ok deploys another version, so that v1 runs nowhere and reverting it plans nothing.
    for (id, version, second) in [
        ("d-run", "v1", 2),
        ("d-plan", "v1", 3),
        ("d-ok", "v0", 4),
        ("d-bad", "v1", 5),
    ] {
        deployment(&store, id, version, second).await;
    }
    for id in ["d-run", "d-ok", "d-bad"] {
        store
            .transition_deployment(id, &Transition::to(DeploymentStatus::Running, at(6)))
            .await
            .unwrap();
    }
    store
        .transition_deployment("d-ok", &Transition::to(DeploymentStatus::Succeeded, at(7)))
        .await
        .unwrap();
    let failed = Transition {
        failed_target: Some("api-staging-1".into()),
        error: Some("health check failed".into()),
        ..Transition::to(DeploymentStatus::Failed, at(7))
    };
    store.transition_deployment("d-bad", &failed).await.unwrap();
    store
        .put_target_progress(
            "d-bad",
            &TargetProgress {
                app: "api".into(),
                target: "api-staging-1".into(),
                status: TargetStatus::RolledBack,
                batch: 0,
                updated_at: at(7),
                error_type: Some("Boreas.HookFailed".into()),
                error: Some("hook validate exited 3".into()),
            },
        )
        .await
        .unwrap();
    store
        .put_task_output(
            "d-bad",
            &TaskOutput {
                app: "api".into(),
                target: "api-staging-1".into(),
                action: "deploy".into(),
                output: "checking /health\n\u{1b}[2Jexpected 200, got 503\n".into(),
                truncated: true,
                at: at(7),
            },
        )
        .await
        .unwrap();
    store
        .put_target_progress(
            "d-ok",
            &TargetProgress {
                app: "api".into(),
                target: "api-staging-2".into(),
                status: TargetStatus::Skipped,
                batch: 0,
                updated_at: at(7),
                error_type: Some("Boreas.AgentUnreachable".into()),
                error: Some("the agent of api-staging-2 has not reported".into()),
            },
        )
        .await
        .unwrap();
    store
        .put_app_progress(
            "d-run",
            &AppProgress {
                app: "db-migrate".into(),
                status: AppStatus::Succeeded,
                started_at: Some(at(6)),
                ended_at: Some(at(7)),
            },
        )
        .await
        .unwrap();
    store
        .put_target_progress(
            "d-run",
            &TargetProgress {
                app: "db-migrate".into(),
                target: "db-staging-1".into(),
                status: TargetStatus::Succeeded,
                batch: 0,
                updated_at: at(7),
                error_type: None,
                error: None,
            },
        )
        .await
        .unwrap();
    store
        .put_gate("d-run", "api.0", "task-token")
        .await
        .unwrap();
    store
        .put_gate("d-plan", "api.0", "task-token")
        .await
        .unwrap();
    for id in ["d-run", "d-plan"] {
        store
            .put_host_decision(
                id,
                &HostDecision::waiting("db-migrate", "db-staging-2", 0, 1, "task-token"),
            )
            .await
            .unwrap();
    }
    // The first batch of db-migrate was judged by its analysis.
    let judged = boreas_aws::store::AnalysisRecord {
        app: "db-migrate".into(),
        batch: 0,
        check: "error-rate".into(),
        condition: "< 0.01".into(),
        measurements: vec![boreas_core::analysis::run::Taken {
            at: at(4),
            measurement: boreas_core::analysis::Measurement::Value {
                value: 0.002,
                samples: None,
            },
            outcome: boreas_core::analysis::Outcome::Pass,
        }],
        verdict: Some(boreas_core::analysis::Outcome::Pass),
        message: Some("check error-rate passed".into()),
        updated_at: at(4),
    };
    assert!(store.put_analysis("d-run", &judged, 0).await.unwrap());
    store
}

/// The api over `store` and `secrets`; its orchestrator answers nothing (no test starts one).
async fn api(store: Arc<MemoryStore>, secrets: Arc<MemorySecrets>) -> Api {
    let config = boreas_aws::sdk_config(Some("http://127.0.0.1:9")).await;
    Api::new(
        store,
        Arc::new(SfnOrchestrator::from_config(
            &config,
            "arn:aws:states:us-east-1:123456789012:stateMachine:cli-deployment",
            "cli-plans",
        )),
        secrets,
        &Names::new("cli"),
    )
}

/// The api handler behind HTTP on 127.0.0.1, until the returned task is aborted.
async fn serve(api: Api) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api", listener.local_addr().unwrap());
    let api = Arc::new(api);
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let api = Arc::clone(&api);
            tokio::spawn(async move {
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let api = Arc::clone(&api);
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.map(|b| b.to_bytes().to_vec());
                        let answer = boreas_api::handle(
                            &api,
                            ApiRequest::from_http(&parts, body.unwrap_or_default()),
                        )
                        .await
                        .into_http();
                        Ok::<_, Infallible>(answer.map(|b| Full::new(Bytes::from(b))))
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, server)
}

struct Cli {
    url: String,
    state_dir: PathBuf,
}

impl Cli {
    async fn run(&self, args: &[&str]) -> Output {
        self.run_as(TOKEN, args, "").await
    }

    /// Runs `boreas` with this token, `stdin` as its standard input.
    async fn run_as(&self, token: &str, args: &[&str], stdin: &str) -> Output {
        use tokio::io::AsyncWriteExt;
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_boreas"))
            .args(args)
            .args(["--api", &self.url, "--token", token, "--state-dir"])
            .arg(&self.state_dir)
            .env_remove("BOREAS_API")
            .env_remove("BOREAS_TOKEN")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        drop(input);
        child.wait_with_output().await.unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_commands_render_the_typed_answers() {
    let store = store().await;
    let (url, server) = serve(api(store.clone(), Arc::new(MemorySecrets::new())).await).await;
    let state_dir = std::env::temp_dir().join(format!("boreas-client-{}", std::process::id()));
    let cli = Cli { url, state_dir };

    let out = cli.run(&["versions"]).await;
    assert!(out.status.success(), "{out:?}");
    let table = text(&out.stdout);
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        row,
        [
            "shop",
            "v1",
            "0123456789ab",
            "normal",
            "planned",
            "yes",
            &at(1)
        ],
        "{table}"
    );

    let out = cli.run(&["deployments", "--status", "failed"]).await;
    assert!(out.status.success(), "{out:?}");
    let table = text(&out.stdout);
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{table}");
    let row: Vec<&str> = rows[0].split_whitespace().collect();
    assert_eq!(
        row[..5],
        ["d-bad", "staging", "v1", "failed", &at(5)],
        "{table}"
    );
    assert!(rows[0].ends_with("health check failed"), "{table}");
    for (repo, want) in [("shop", 1), ("cart", 0)] {
        let out = cli
            .run(&["deployments", "--status", "failed", "--repo", repo])
            .await;
        assert!(out.status.success(), "{out:?}");
        let listed = text(&out.stdout).lines().skip(1).count();
        assert_eq!(listed, want, "--repo {repo}: {out:?}");
    }

    let out = cli.run(&["show", "d-run"]).await;
    assert!(out.status.success(), "{out:?}");
    let tree = text(&out.stdout);
    for line in [
        "d-run  shop v1 → staging  [running]",
        "├─ stage 1",
        "db-migrate (pm)  [succeeded]",
        "db-staging-1  [succeeded]",
        "analysis error-rate < 0.01  [pass]  measured: 0.002  (check error-rate passed)",
        "api (pm)  [pending]",
        ", then gate api.0 [waiting]",
    ] {
        assert!(tree.contains(line), "{line:?} not in\n{tree}");
    }
    assert!(!tree.contains(" - ") && !tree.contains("[-]"), "{tree}");
    // A failed target's hook output follows the tree, its escape sequences made harmless.
    let out = cli.run(&["show", "d-bad"]).await;
    assert!(out.status.success(), "{out:?}");
    let tree = text(&out.stdout);
    assert!(
        tree.ends_with(
            "\noutput of api on api-staging-1 (deploy, last 64 KiB; all of it is in the host's hook log):\n\
             \x20 | checking /health\n\
             \x20 | \u{fffd}[2Jexpected 200, got 503\n"
        ),
        "{tree}"
    );
    assert!(
        tree.contains("api-staging-1  [rolled_back]  hook validate exited 3"),
        "{tree}"
    );
    // A host skipped as unreachable is listed; it ran no hooks, so no output is fetched.
    let out = cli.run(&["show", "d-ok"]).await;
    assert!(out.status.success(), "{out:?}");
    let tree = text(&out.stdout);
    assert!(
        tree.contains("api-staging-2  [skipped]  the agent of api-staging-2 has not reported"),
        "{tree}"
    );
    assert!(
        tree.contains(
            "unreachable, skipped: api-staging-2 (sent nothing; they keep the version they ran)"
        ),
        "{tree}"
    );
    assert!(!tree.contains("output of"), "{tree}");
    let out = cli.run(&["show", "d-run", "--json"]).await;
    let detail: DeploymentDetail = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(detail.progress.gates[0].gate, "api.0");
    assert_eq!(detail.progress.decisions[0].attempt, 1);
    let out = cli.run(&["show", "d-run"]).await;
    let tree = text(&out.stdout);
    assert!(
        tree.contains(
            "failed, waiting for a decision: db-staging-2 of db-migrate (batch 0, attempt 1): boreas decide d-run db-migrate db-staging-2 retry|skip|rollback"
        ),
        "{tree}"
    );
    let out = cli
        .run(&["decide", "d-run", "db-migrate", "db-staging-2", "explode"])
        .await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        text(&out.stderr).contains("[possible values: retry, skip, rollback]"),
        "{out:?}"
    );
    let out = cli
        .run(&["decide", "d-plan", "db-migrate", "db-staging-2", "skip"])
        .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text(&out.stderr).starts_with("boreas: 409 (not_running): deployment d-plan is planned"),
        "{out:?}"
    );
    let out = cli
        .run(&["decide", "d-plan", "db-migrate", "db-staging-9", "skip"])
        .await;
    assert!(text(&out.stderr).contains("404"), "{out:?}");

    let out = cli.run(&["watch", "d-ok", "--interval", "0.1"]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = cli.run(&["watch", "d-bad", "--interval", "0.1"]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text(&out.stderr).contains("deployment d-bad ended failed: health check failed"),
        "{out:?}"
    );
    assert!(text(&out.stdout).contains("error: health check failed (target api-staging-1)"));

    let out = cli.run(&["approve", "d-plan", "api.0"]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text(&out.stderr).starts_with("boreas: 409 (not_running): deployment d-plan is planned"),
        "{out:?}"
    );
    let out = cli.run(&["cancel", "d-plan"]).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out.stdout), "deployment d-plan cancelled\n");

    let out = cli.run(&["revert", "v1", "--reason", "bad"]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text(&out.stderr).contains("no repository is registered"),
        "{out:?}"
    );
    let out = cli
        .run(&["revert", "v1", "--reason", "bad", "--repo", "shop"])
        .await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out.stdout), "version shop/v1 marked revert\n");
    let reverted = store.get_version("shop", "v1").await.unwrap().unwrap();
    assert_eq!(reverted.version.state, VersionState::Revert);

    server.abort();
}

/// `boreas repo …` and `boreas token …` against the api: registration prints the webhook URL,
/// the secret once and the provider's settings; names are taken as typed (full names with `/`,
/// nested GitLab groups); a token is created, used, listed without its secret and revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repo_and_token_commands_drive_the_api() {
    let store = Arc::new(MemoryStore::new());
    store
        .put_api_token(
            TOKEN,
            &ApiToken::new("cli", Role::Admin, "2026-11-29T09:00:00.000Z"),
        )
        .await
        .unwrap();
    let secrets = Arc::new(MemorySecrets::new());
    let (url, server) = serve(api(store.clone(), secrets.clone()).await).await;
    let state_dir = std::env::temp_dir().join(format!("boreas-admin-{}", std::process::id()));
    let cli = Cli { url, state_dir };

    let add = [
        "repo",
        "add",
        "Acme/Shop",
        "--provider",
        "github",
        "--clone-url",
        "https://github.com/Acme/Shop.git",
        "--trigger",
        "refs/tags/v*",
        "--token-stdin",
    ];
    let out = cli.run_as(TOKEN, &add, "github_pat_0123456789\n").await;
    assert!(out.status.success(), "{out:?}");
    let printed = text(&out.stdout);
    let secret_line = printed
        .lines()
        .find_map(|l| l.strip_prefix("Webhook secret: "))
        .unwrap_or_else(|| panic!("{printed}"));
    assert_eq!(secret_line.len(), 64, "{printed}");
    for line in [
        "repository github.com/acme/shop registered",
        "/webhooks/github",
        "Content type: application/json",
        "Which events would you like to trigger this webhook?: Just the push event",
    ] {
        assert!(printed.contains(line), "{line:?} not in\n{printed}");
    }
    assert!(
        secrets
            .values()
            .contains(&"github_pat_0123456789".to_owned()),
        "the token is in SSM"
    );
    assert!(!printed.contains("github_pat_0123456789"));

    let out = cli
        .run(&[
            "repo",
            "add",
            "group/sub/app",
            "--provider",
            "gitlab",
            "--clone-url",
            "https://gitlab.example.com/group/sub/app.git",
            "--json",
        ])
        .await;
    assert!(out.status.success(), "{out:?}");
    let added: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(added["id"], "gitlab.example.com/group/sub/app");

    let out = cli
        .run(&[
            "repo",
            "add",
            "shop",
            "--provider",
            "github",
            "--clone-url",
            "git@x:y.git",
        ])
        .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let refused = text(&out.stderr);
    assert!(
        refused.contains("400") && refused.contains("full_name") && refused.contains("clone_url"),
        "{refused}"
    );

    let out = cli.run(&["repo", "list"]).await;
    let listed = text(&out.stdout);
    assert!(
        listed.contains("github.com/acme/shop")
            && listed.contains("gitlab.example.com/group/sub/app"),
        "{listed}"
    );
    let out = cli.run(&["repo", "show", "group/sub/app"]).await;
    assert!(out.status.success(), "{out:?}");
    assert!(text(&out.stdout).contains("id:          gitlab.example.com/group/sub/app"));

    let out = cli
        .run(&["repo", "rotate-secret", "acme/shop", "--grace", "1h"])
        .await;
    assert!(out.status.success(), "{out:?}");
    let rotated = text(&out.stdout);
    assert!(!rotated.contains(secret_line), "a new secret");
    assert!(
        rotated.contains("The old secret is accepted until"),
        "{rotated}"
    );

    let out = cli.run(&["repo", "remove", "github.com/acme/shop"]).await;
    assert!(out.status.success(), "{out:?}");
    assert!(
        store
            .get_repository("github.com/acme/shop")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !secrets
            .values()
            .contains(&"github_pat_0123456789".to_owned())
    );

    let out = cli
        .run(&[
            "token",
            "create",
            "ci",
            "--role",
            "viewer",
            "--expires",
            "90d",
            "--json",
        ])
        .await;
    assert!(out.status.success(), "{out:?}");
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ci = created["token"].as_str().unwrap().to_owned();
    assert!(created["expires_at"].is_string());
    let out = cli.run_as(&ci, &["versions"], "").await;
    assert!(out.status.success(), "{out:?}");
    let out = cli.run(&["token", "list"]).await;
    let tokens = text(&out.stdout);
    assert!(tokens.lines().any(|l| l.starts_with("ci ")), "{tokens}");
    assert!(!tokens.contains(&ci), "{tokens}");
    let out = cli.run(&["token", "revoke", "ci"]).await;
    assert!(out.status.success(), "{out:?}");
    let out = cli.run_as(&ci, &["versions"], "").await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stderr).contains("401"), "{out:?}");

    // The installation's default notification rules: set from standard input, shown, checked
    // by the api, cleared.
    let out = cli.run(&["notify-defaults", "show"]).await;
    assert!(out.status.success(), "{out:?}");
    assert!(text(&out.stdout).contains("never set"), "{out:?}");
    let rules = r#"[{"sink": "team-chat", "events": ["gate_waiting", "failed"], "environments": ["prod"]}, {"sink": "git"}]"#;
    let out = cli
        .run_as(TOKEN, &["notify-defaults", "set", "-"], rules)
        .await;
    assert!(out.status.success(), "{out:?}");
    let shown = text(&out.stdout);
    assert!(
        shown.lines().any(|l| l.starts_with("team-chat")
            && l.contains("gate_waiting,failed")
            && l.contains("prod")),
        "{shown}"
    );
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("git ") && l.contains("default")),
        "{shown}"
    );
    assert!(shown.contains("set by cli at"), "{shown}");
    assert_eq!(
        store
            .notification_defaults()
            .await
            .unwrap()
            .unwrap()
            .rules
            .len(),
        2
    );
    let out = cli
        .run_as(
            TOKEN,
            &["notify-defaults", "set", "-"],
            r#"[{"sink": "Team Chat"}]"#,
        )
        .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text(&out.stderr).contains("rules[0].sink: \"Team Chat\" is not a valid sink name"),
        "{out:?}"
    );
    let out = cli
        .run_as(
            TOKEN,
            &["notify-defaults", "set", "-"],
            "[\n  {\"sink\": git}]",
        )
        .await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        text(&out.stderr).contains("-: line 2, column 12: not a JSON list of notification rules"),
        "{out:?}"
    );
    let out = cli.run_as(&ci, &["notify-defaults", "clear"], "").await;
    assert_eq!(out.status.code(), Some(1), "a revoked token: {out:?}");
    let out = cli.run(&["notify-defaults", "clear", "--json"]).await;
    assert!(out.status.success(), "{out:?}");
    let cleared: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cleared["rules"], serde_json::json!([]));

    server.abort();
}

/// The shop's example with an environment policy (prod after staging with a 1h soak, a weekend
/// freeze) recorded for v1 of a registered repository, and a planned prod deployment of it.
async fn policy_store() -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    store
        .put_api_token(
            TOKEN,
            &ApiToken::new("cli", Role::Admin, "2026-11-29T09:00:00.000Z"),
        )
        .await
        .unwrap();
    store
        .put_repository(&Repository {
            id: "shop".into(),
            full_name: "acme/shop".into(),
            host: "github.com".into(),
            clone_url: "https://github.com/acme/shop.git".into(),
            provider: boreas_core::webhook::Provider::GitHub,
            secret_param: "/cli/webhook-secrets/shop".into(),
            previous_secret: None,
            credential: None,
            triggers: Vec::new(),
            created_at: at(0),
        })
        .await
        .unwrap();
    store
        .put_version(&VersionRecord {
            status: VersionStatus::Planned,
            received_at: at(1),
            ..records::version("shop", "v1", "c1")
        })
        .await
        .unwrap();
    store
        .put_version_config("shop", "v1", &records::example("environment-policy.yaml"))
        .await
        .unwrap();
    store
        .create_deployment(&NewDeployment {
            created_at: at(2),
            ..new_deployment("dep-prod", example_plan("prod", "v1"))
        })
        .await
        .unwrap();
    store
}

/// `boreas confirm` of a deployment prod's promotion holds says why, and `show` lists the
/// reasons; `waive` lifts one condition (an unknown one refused by the api, a malformed one by
/// the command line); `freeze add` refuses a bad recurrence with its field, then adds, lists and
/// removes a window; `override` lets the deployment through the windows; `envs` shows it all and
/// `watch` says why the deployment waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_commands_drive_the_api() {
    let store = policy_store().await;
    let (url, server) = serve(api(store, Arc::new(MemorySecrets::new())).await).await;
    let state_dir = std::env::temp_dir().join(format!("boreas-policy-{}", std::process::id()));
    let cli = Cli { url, state_dir };

    let out = cli.run(&["confirm", "dep-prod"]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text(&out.stderr).starts_with(
            "boreas: 409 (held): deployment dep-prod waits: waits for staging: not deployed there yet"
        ),
        "{out:?}"
    );
    let out = cli.run(&["show", "dep-prod"]).await;
    assert!(out.status.success(), "{out:?}");
    let tree = text(&out.stdout);
    assert!(
        tree.starts_with("dep-prod  shop v1 → prod  [planned]\n  waiting (as of "),
        "{tree}"
    );
    assert!(
        tree.contains("):\n    waits for staging: not deployed there yet\n"),
        "{tree}"
    );

    let out = cli
        .run(&["waive", "dep-prod", "soak:qa", "--reason", "x"])
        .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        text(&out.stderr),
        "boreas: 422 (unknown_condition): soak:qa is not a condition of prod's promotion; its conditions: after:staging, soak:staging\n"
    );
    let out = cli
        .run(&["waive", "dep-prod", "during:staging", "--reason", "x"])
        .await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        text(&out.stderr).contains("is not a promotion condition"),
        "{out:?}"
    );
    let waive = [
        "waive",
        "dep-prod",
        "after:staging",
        "--reason",
        "staging is down; verified by hand",
    ];
    let out = cli.run(&waive).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        text(&out.stdout),
        "after:staging waived for deployment dep-prod\n"
    );
    let out = cli.run(&waive).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text(&out.stderr).starts_with("boreas: 409 (already_waived): "),
        "{out:?}"
    );

    let out = cli
        .run(&[
            "freeze",
            "add",
            "incident",
            "--env",
            "prod",
            "--reason",
            "INC-7",
            "--rrule",
            "FREQ=WEEKLY",
            "--duration",
            "1h",
        ])
        .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text(&out.stderr)
            .starts_with("boreas: 422 (invalid_freeze): rrule: FREQ=WEEKLY needs BYDAY"),
        "{out:?}"
    );
    // The shape of a window is the command line's to check: a schedule, a recurrence with its
    // duration, a one-off window with both ends.
    for shapeless in [
        &["--reason", "INC-7"][..],
        &["--reason", "INC-7", "--cron", "0 16 * * FRI"],
        &["--reason", "INC-7", "--from", "2026-12-23T18:00"],
        &[
            "--reason",
            "INC-7",
            "--from",
            "2026-12-23T18:00",
            "--until",
            "2026-12-24T08:00",
            "--duration",
            "1h",
        ],
        &[
            "--reason",
            "INC-7",
            "--cron",
            "0 16 * * FRI",
            "--duration",
            "1h",
            "--blocks",
            "deploys",
        ],
    ] {
        let args = [
            &["freeze", "add", "incident", "--env", "prod"][..],
            shapeless,
        ]
        .concat();
        let out = cli.run(&args).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    }
    let out = cli
        .run(&[
            "freeze",
            "add",
            "fridays",
            "--env",
            "qa",
            "--reason",
            "release train",
            "--cron",
            "0 16 * * FRI",
            "--duration",
            "1h",
            "--blocks",
            "start",
            "--running",
            "pause",
        ])
        .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text(&out.stderr).starts_with(
            "boreas: 422 (invalid_freeze): running: running deployments stop only at batch boundaries"
        ),
        "{out:?}"
    );
    let fridays = [
        "freeze",
        "add",
        "fridays",
        "--env",
        "qa",
        "--app",
        "api",
        "--reason",
        "release train",
        "--cron",
        "0 16 * * FRI",
        "--duration",
        "1h",
        "--timezone",
        "Europe/Berlin",
    ];
    let out = cli.run(&fridays).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        text(&out.stdout),
        "freeze window fridays added: qa, cron 0 16 * * FRI for 1h (Europe/Berlin)\n"
    );
    let out = cli.run(&fridays).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text(&out.stderr).contains("409 (already_exists)"),
        "{out:?}"
    );
    // In force from long ago to long after the test.
    let out = cli
        .run(&[
            "freeze",
            "add",
            "incident",
            "--env",
            "prod",
            "--reason",
            "INC-7",
            "--from",
            "2020-01-01T00:00:00Z",
            "--until",
            "2099-12-31T00:00:00Z",
            "--blocks",
            "start",
        ])
        .await;
    assert!(out.status.success(), "{out:?}");
    let out = cli.run(&["freeze", "list"]).await;
    assert!(out.status.success(), "{out:?}");
    let table = text(&out.stdout);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 3, "{table}");
    assert_eq!(rows[0][0], "NAME", "{table}");
    let row = |name: &str| {
        rows.iter()
            .find(|r| r[0] == name)
            .unwrap_or_else(|| panic!("no {name} in\n{table}"))
    };
    assert_eq!(
        row("fridays")[1..6],
        [
            "qa",
            "api",
            "cron 0 16 * * FRI for 1h (Europe/Berlin)",
            "start,batches",
            "pause"
        ],
        "{table}"
    );
    assert!(row("fridays")[6].starts_with("cli "), "{table}");
    assert_eq!(row("fridays")[7], "release train", "{table}");
    assert_eq!(
        row("incident")[1..6],
        [
            "prod",
            "all",
            "from 2020-01-01T00:00:00Z until 2099-12-31T00:00:00Z (UTC)",
            "start",
            "finish"
        ],
        "{table}"
    );

    // The window holds it too now, recorded as its hold.
    let out = cli.run(&["confirm", "dep-prod"]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text(&out.stderr).contains("frozen by incident until 2099-12-31 00:00 UTC: INC-7"),
        "{out:?}"
    );

    let out = cli
        .run(&[
            "override",
            "dep-prod",
            "--reason",
            "fix for INC-7",
            "--for",
            "7h",
        ])
        .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text(&out.stderr).starts_with("boreas: 400 (")
            && text(&out.stderr).contains("at most 6h, found 7h"),
        "{out:?}"
    );
    let out = cli
        .run(&["override", "dep-prod", "--reason", "fix", "--for", "soon"])
        .await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = cli
        .run(&[
            "override",
            "dep-prod",
            "--reason",
            "fix for INC-7",
            "--for",
            "2h",
        ])
        .await;
    assert!(out.status.success(), "{out:?}");
    assert!(
        text(&out.stdout).starts_with("deployment dep-prod passes the freeze windows until "),
        "{out:?}"
    );

    let out = cli.run(&["show", "dep-prod"]).await;
    assert!(out.status.success(), "{out:?}");
    let tree = text(&out.stdout);
    for line in [
        "\n    waits for staging: no success there to soak from\n",
        "\n    frozen by incident until 2099-12-31 00:00 UTC: INC-7\n",
        "\n  waived after:staging by cli at ",
        ": staging is down; verified by hand\n",
        "\n  freeze windows overridden until ",
        ": fix for INC-7\n├─ stage 1\n",
    ] {
        assert!(tree.contains(line), "{line:?} not in\n{tree}");
    }

    let out = cli.run(&["envs"]).await;
    assert!(out.status.success(), "{out:?}");
    let envs = text(&out.stdout);
    for line in [
        "prod: frozen until 2099-12-31T00:00:00",
        "\n  shop v1: after staging, soak 1h\n  window weekend (shop): Weekend: nobody on call to watch a release\n",
        "; blocks start and batches for every app; running deployments pause at their next batch\n",
        "\n  window incident (api): INC-7\n    in force until 2099-12-31T00:00:00",
        "; blocks start for every app; running deployments finish\n",
        "\n  waiting:\n    dep-prod  shop v1  (as of ",
        "\n      waits for staging: no success there to soak from\n",
        "\n      frozen by incident until 2099-12-31 00:00 UTC: INC-7\n",
        // Scoped to an app, it does not freeze the environment for every app.
        "\n\nqa: open\n  window fridays (api): release train\n",
        "; blocks start and batches for api; running deployments pause at their next batch\n",
        "\n\nstaging: open\n  shop v1: no promotion, auto-confirm\n",
    ] {
        assert!(envs.contains(line), "{line:?} not in\n{envs}");
    }
    let out = cli.run(&["envs", "--json"]).await;
    assert!(out.status.success(), "{out:?}");
    let listed: List<EnvironmentView> = serde_json::from_slice(&out.stdout).unwrap();
    let prod = listed.items.iter().find(|e| e.name == "prod").unwrap();
    assert_eq!(prod.waiting[0].id, "dep-prod");
    assert_eq!(prod.windows.len(), 2);
    assert!(listed.items.iter().any(|e| e.name == "qa"));

    // A planned deployment never ends by itself: `watch` says why it waits, then times out.
    let out = cli
        .run(&["watch", "dep-prod", "--interval", "0.1", "--timeout", "1"])
        .await;
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        text(&out.stderr).contains(
            "dep-prod waits: waits for staging: no success there to soak from; frozen by "
        ),
        "{out:?}"
    );

    let out = cli.run(&["freeze", "remove", "incident"]).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out.stdout), "freeze window incident removed\n");
    let out = cli.run(&["freeze", "list", "--json"]).await;
    let left: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(left["items"].as_array().unwrap().len(), 1, "{left}");
    assert_eq!(left["items"][0]["freeze"]["name"], "fridays");
    let out = cli.run(&["freeze", "remove", "incident"]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        text(&out.stderr),
        "boreas: 404 (not_found): no freeze window named incident\n"
    );

    server.abort();
}

/// A planned prod deployment of v1.5.0 of the example whose review the planner recorded: v1.4.0
/// runs there; migrations and web changed, so db-migrate and web are in, api follows db-migrate,
/// worker changed but already runs v1.5.0; 3 of 12 commits listed; a person set api's batches.
async fn review_store() -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    store
        .put_api_token(
            TOKEN,
            &ApiToken::new("cli", Role::Admin, "2026-11-29T09:00:00.000Z"),
        )
        .await
        .unwrap();
    let config = boreas_core::config::parse(&records::example_yaml()).unwrap();
    let names = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    let targets = BTreeMap::from([
        ("db-migrate".to_owned(), names(&["db-1"])),
        (
            "api".to_owned(),
            names(&["api-canary-1", "api-eu-1", "api-eu-2", "api-us-1"]),
        ),
        ("worker".to_owned(), names(&["worker-1", "worker-2"])),
        ("web".to_owned(), names(&["prod-eu-1", "prod-us-1"])),
    ]);
    let changed = names(&[
        "migrations/0042_orders.sql",
        "worker/src/queue.rs",
        "web/src/cart.tsx",
        "README.md",
    ]);
    let current = BTreeMap::from([
        ("db-migrate".to_owned(), "v1.4.0".to_owned()),
        ("api".to_owned(), "v1.4.0".to_owned()),
        ("worker".to_owned(), "v1.5.0".to_owned()),
        ("web".to_owned(), "v1.4.0".to_owned()),
    ]);
    let (proposal, reasons) = plan_with_reasons(&PlanInput {
        config: &config,
        environment: "prod",
        version: "v1.5.0",
        changed_paths: Some(&changed),
        targets: &targets,
        current_versions: &current,
    })
    .unwrap();
    let plan = adjust::apply(
        &proposal,
        &[Adjustment::SetBatches {
            app: "api".into(),
            batches: vec![
                BatchSize::Count(1),
                BatchSize::Percent(50),
                BatchSize::Percent(100),
            ],
        }],
    )
    .unwrap();
    store
        .create_deployment(&NewDeployment {
            created_at: at(10),
            ..new_deployment("d-review", plan)
        })
        .await
        .unwrap();
    let commit = |id: &str, subject: &str, author: &str| CommitSummary {
        id: id.into(),
        subject: subject.into(),
        author: author.into(),
        at: at(9),
    };
    let review = Review {
        running: Some(Running {
            version: "v1.4.0".into(),
            commit: "abc1234def5678900000".into(),
        }),
        commits: vec![
            commit("f00ba12aaaa", "Show the cart total", "Grace Hopper"),
            commit("e11ed23bbbb", "Add the orders table", "Ada Lovelace"),
            commit("d22fe34cccc", "Retry queue reads \u{1b}[2J", "Alan Turing"),
        ],
        more_commits: 9,
        changed_paths: Some(4),
        apps: reasons,
    };
    store
        .put_review("d-review", &StoredReview { review, proposal })
        .await
        .unwrap();
    store
}

/// A succeeded run of `app`: a history record as the recorder writes it.
fn app_run(app: &str, d: &Deployment, started: u32, ended: u32) -> AppRun {
    AppRun {
        app: app.into(),
        deployment_id: d.id.clone(),
        repository: "shop".into(),
        version: d.version.clone(),
        environment: d.environment.clone(),
        outcome: DeploymentStatus::Succeeded,
        app_status: Some(AppStatus::Succeeded),
        started_at: Some(at(started)),
        ended_at: Some(at(ended)),
        confirmed_by: None,
        gates: Vec::new(),
        revert: false,
        targets: 1,
        failed_target: None,
    }
}

fn host_run(host: &str, d: &Deployment, status: TargetStatus, ended: u32) -> HostRun {
    HostRun {
        host: host.into(),
        environment: d.environment.clone(),
        app: "api".into(),
        deployment_id: d.id.clone(),
        version: d.version.clone(),
        outcome: d.status,
        status: Some(status),
        ended_at: at(ended),
    }
}

fn gate(gate: &str, status: GateStatus, by: &str) -> RunGate {
    RunGate {
        gate: gate.into(),
        status,
        by: Some(by.into()),
    }
}

/// Ended deployments of api (one in staging, three in prod, the last a revert) with their host
/// runs, and 130 runs of worker in staging.
async fn record_history(store: &MemoryStore) {
    let mut ended = Vec::new();
    for (id, env, version, second, outcome) in [
        (
            "d-h1",
            "staging",
            "v1.4.0",
            100,
            DeploymentStatus::Succeeded,
        ),
        ("d-h2", "prod", "v1.4.0", 200, DeploymentStatus::Succeeded),
        ("d-h3", "prod", "v1.5.0", 600, DeploymentStatus::RolledBack),
        (
            "revert-h4",
            "prod",
            "v1.4.0",
            700,
            DeploymentStatus::Succeeded,
        ),
    ] {
        store
            .create_deployment(&NewDeployment {
                created_at: at(second),
                ..new_deployment(id, example_plan(env, version))
            })
            .await
            .unwrap();
        store
            .transition_deployment(id, &Transition::to(DeploymentStatus::Running, at(second)))
            .await
            .unwrap();
        store.set_confirmed_by(id, "alice").await.unwrap();
        let d = store
            .transition_deployment(id, &Transition::to(outcome, at(second + 90)))
            .await
            .unwrap();
        ended.push(d);
    }
    let [h1, h2, h3, h4] = &ended[..] else {
        unreachable!()
    };
    let runs = [
        (
            h1,
            AppRun {
                confirmed_by: Some("boreas".into()),
                ..app_run("api", h1, 100, 190)
            },
        ),
        (
            h2,
            AppRun {
                confirmed_by: Some("alice".into()),
                gates: vec![
                    gate("api.0", GateStatus::Approved, "bob"),
                    gate("api.1", GateStatus::Approved, "carol"),
                ],
                ..app_run("api", h2, 200, 500)
            },
        ),
        (
            h3,
            AppRun {
                outcome: DeploymentStatus::RolledBack,
                app_status: Some(AppStatus::RolledBack),
                confirmed_by: Some("alice".into()),
                gates: vec![
                    gate("api.0", GateStatus::Approved, "bob"),
                    gate("api.1", GateStatus::Rejected, "dave"),
                ],
                failed_target: Some("api-eu-1".into()),
                ..app_run("api", h3, 600, 660)
            },
        ),
        (
            h4,
            AppRun {
                confirmed_by: Some("alice".into()),
                revert: true,
                ..app_run("api", h4, 700, 730)
            },
        ),
    ];
    for (d, run) in runs {
        let hosts = if d.environment == "prod" {
            let status = match d.status {
                DeploymentStatus::Succeeded => TargetStatus::Succeeded,
                _ => TargetStatus::RolledBack,
            };
            vec![
                host_run("api-eu-1", d, status, 0),
                host_run("api-us-1", d, status, 0),
            ]
        } else {
            Vec::new()
        };
        let hosts: Vec<HostRun> = hosts
            .into_iter()
            .map(|h| HostRun {
                ended_at: d.ended_at.clone().unwrap(),
                ..h
            })
            .collect();
        store.record_runs(d, &[run], &hosts).await.unwrap();
    }
    for i in 0..130u32 {
        let d = Deployment {
            id: format!("w-{i:03}"),
            created_at: at(1000 + i),
            environment: "staging".into(),
            ..h1.clone()
        };
        let run = app_run("worker", &d, 1000 + i, 1001 + i);
        store.record_runs(&d, &[run], &[]).await.unwrap();
    }
}

/// The cells of a table's lines (columns are two spaces apart at least).
fn cells(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

/// `boreas show ID --plan` prints the planner's review: what runs now, the commits since (those
/// beyond the listed counted), the changed paths, per stage and app its reason and every batch's
/// targets in order with the app's current version, the skipped apps and the adjustments;
/// without a review it says so. `show` names who confirmed a deployment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_plan_prints_the_review() {
    let store = review_store().await;
    record_history(&store).await;
    let (url, server) = serve(api(store, Arc::new(MemorySecrets::new())).await).await;
    let state_dir = std::env::temp_dir().join(format!("boreas-review-{}", std::process::id()));
    let cli = Cli { url, state_dir };

    let out = cli.run(&["show", "d-review", "--plan"]).await;
    assert!(out.status.success(), "{out:?}");
    let review = text(&out.stdout);
    let expected = "\
d-review  shop v1.5.0 → prod  [planned]
runs in prod now: v1.4.0 (abc1234)
12 commits since v1.4.0 (abc1234), newest first:
  f00ba12  Show the cart total  (Grace Hopper)
  e11ed23  Add the orders table  (Ada Lovelace)
  d22fe34  Retry queue reads \u{fffd}[2J  (Alan Turing)
  … and 9 more
4 paths changed

Stage 1 (1 app, 1 at a time)
  db-migrate (pm, 1 host, now v1.4.0)
    why: changed (1 path)
    paths: migrations/0042_orders.sql
    batch 0: db-1

Stage 2 (1 app, 1 at a time)
  api (pm, 4 hosts, now v1.4.0)
    why: follows db-migrate, which changed
    batch 0: api-canary-1, then gate api.0
    batch 1: api-eu-1, then gate api.1
    batch 2: api-eu-2, api-us-1

Stage 3 (1 app, 1 at a time)
  web (k8s, 2 clusters, now v1.4.0)
    why: changed (1 path)
    paths: web/src/cart.tsx
    batch 0: weight 10% on prod-eu-1, prod-us-1, then wait 10m
    batch 1: weight 50% on prod-eu-1, prod-us-1, then wait 10m
    batch 2: weight 100% on prod-eu-1, prod-us-1

Skipped
  worker: changed (1 path), but already runs this version

Adjustments to the planner's proposal
  api: batches [1, 25%, 100%] -> [1, 50%, 100%]
";
    assert_eq!(review, expected);

    // Without --plan, `show` keeps its tree; it names who confirmed the deployment.
    let out = cli.run(&["show", "d-h2"]).await;
    assert!(out.status.success(), "{out:?}");
    let tree = text(&out.stdout);
    assert!(
        tree.starts_with(
            "d-h2  shop v1.4.0 → prod  [succeeded]\n  confirmed by alice\n├─ stage 1\n"
        ),
        "{tree}"
    );
    let out = cli.run(&["show", "d-review"]).await;
    let tree = text(&out.stdout);
    assert!(
        !tree.contains("confirmed by") && !tree.contains("commits"),
        "{tree}"
    );

    // A deployment planned before reviews were recorded: its plan, without reasons.
    let out = cli.run(&["show", "d-h1", "--plan"]).await;
    assert!(out.status.success(), "{out:?}");
    let review = text(&out.stdout);
    assert!(
        review.starts_with(
            "d-h1  shop v1.4.0 → staging  [succeeded]\n  confirmed by alice\nno review recorded: planned before Boreas recorded the planner's reasons\n\nStage 1 (1 app, 1 at a time)\n  db-migrate (pm, 1 host, no version known to run here)\n    batch 0: db-staging-1\n"
        ),
        "{review}"
    );
    assert!(
        review
            .contains("    batch 0: api-staging-1, then gate api.0\n    batch 1: api-staging-2\n"),
        "{review}"
    );
    assert!(
        !review.contains("why:") && !review.contains("Adjustments"),
        "{review}"
    );

    let out = cli.run(&["show", "d-review", "--plan", "--json"]).await;
    assert!(out.status.success(), "{out:?}");
    let detail: DeploymentDetail = serde_json::from_slice(&out.stdout).unwrap();
    let review = detail.review.unwrap();
    assert_eq!(review.review.more_commits, 9);
    assert_eq!(review.adjustments.len(), 1);

    let out = cli.run(&["show", "d-nope", "--plan"]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text(&out.stderr).starts_with("boreas: 404 (not_found): "),
        "{out:?}"
    );

    server.abort();
}

/// `boreas history APP [--env ENV]` lists an app's runs newest first, following the api's pages
/// up to --limit; `boreas history --host HOST --env ENV` a host's last deployments; an unknown
/// app is the api's 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_lists_runs_of_an_app_and_a_host() {
    let store = review_store().await;
    record_history(&store).await;
    let (url, server) = serve(api(store, Arc::new(MemorySecrets::new())).await).await;
    let state_dir = std::env::temp_dir().join(format!("boreas-history-{}", std::process::id()));
    let cli = Cli { url, state_dir };

    let out = cli.run(&["history", "api", "--env", "prod"]).await;
    assert!(out.status.success(), "{out:?}");
    let table = text(&out.stdout);
    let rows = cells(&table);
    assert_eq!(
        rows,
        [
            vec![
                "WHEN",
                "ENV",
                "VERSION",
                "DEPLOYMENT",
                "OUTCOME",
                "DURATION",
                "CONFIRMED BY",
                "GATES",
                "REVERT"
            ],
            vec![
                &at(700),
                "prod",
                "v1.4.0",
                "revert-h4",
                "succeeded",
                "30s",
                "alice",
                "-",
                "yes"
            ],
            vec![
                &at(600),
                "prod",
                "v1.5.0",
                "d-h3",
                "rolled_back (failed on api-eu-1)",
                "1m",
                "alice",
                "api.0 by bob, api.1 rejected by dave",
            ],
            vec![
                &at(200),
                "prod",
                "v1.4.0",
                "d-h2",
                "succeeded",
                "5m",
                "alice",
                "api.0 by bob, api.1 by carol",
            ],
        ],
        "{table}"
    );
    // Every environment without --env.
    let out = cli.run(&["history", "api"]).await;
    assert!(out.status.success(), "{out:?}");
    let rows = cells(&text(&out.stdout));
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert_eq!(
        rows[4][..8],
        [
            &at(100),
            "staging",
            "v1.4.0",
            "d-h1",
            "succeeded",
            "1m30s",
            "boreas",
            "-"
        ],
        "{rows:?}"
    );
    let out = cli.run(&["history", "api", "--env", "qa"]).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out.stdout), "app api has no ended deployment in qa\n");

    // Beyond a page: the command follows the cursor up to --limit, newest first.
    let out = cli.run(&["history", "worker", "--limit", "120"]).await;
    assert!(out.status.success(), "{out:?}");
    let rows = cells(&text(&out.stdout));
    assert_eq!(rows.len(), 121);
    assert_eq!(rows[1][3], "w-129");
    assert_eq!(rows[120][3], "w-010");
    let listed: Vec<&str> = rows[1..].iter().map(|r| r[3].as_str()).collect();
    let mut newest_first = listed.clone();
    newest_first.sort_unstable_by(|a, b| b.cmp(a));
    newest_first.dedup();
    assert_eq!(listed, newest_first, "no run twice, none out of order");
    let out = cli.run(&["history", "worker"]).await;
    assert_eq!(cells(&text(&out.stdout)).len(), 51, "50 by default");
    let out = cli
        .run(&["history", "worker", "--limit", "120", "--json"])
        .await;
    assert!(out.status.success(), "{out:?}");
    let runs: List<AppRun> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs.items.len(), 120);
    assert!(runs.next_cursor.is_some(), "10 runs are left");
    let out = cli
        .run(&["history", "worker", "--limit", "200", "--json"])
        .await;
    let runs: List<AppRun> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs.items.len(), 130);
    assert_eq!(runs.next_cursor, None);

    let out = cli
        .run(&["history", "--host", "api-eu-1", "--env", "prod"])
        .await;
    assert!(out.status.success(), "{out:?}");
    let table = text(&out.stdout);
    assert_eq!(
        cells(&table),
        [
            vec!["ENDED", "APP", "VERSION", "DEPLOYMENT", "OUTCOME", "HOST"],
            vec![
                &at(790),
                "api",
                "v1.4.0",
                "revert-h4",
                "succeeded",
                "succeeded"
            ],
            vec![
                &at(690),
                "api",
                "v1.5.0",
                "d-h3",
                "rolled_back",
                "rolled_back"
            ],
            vec![&at(290), "api", "v1.4.0", "d-h2", "succeeded", "succeeded"],
        ],
        "{table}"
    );
    let out = cli
        .run(&[
            "history", "--host", "api-eu-1", "--env", "prod", "--limit", "1",
        ])
        .await;
    assert_eq!(cells(&text(&out.stdout)).len(), 2, "{out:?}");
    let out = cli
        .run(&["history", "--host", "api-eu-9", "--env", "prod"])
        .await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        text(&out.stdout),
        "no ended deployment has changed api-eu-9 in prod\n"
    );

    let out = cli.run(&["history", "nosuch"]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        text(&out.stderr),
        "boreas: 404 (not_found): app nosuch never ran and no inventory lists it\n"
    );
    assert!(out.stdout.is_empty(), "{out:?}");

    // The shape is the command line's to check.
    for bad in [
        &["history"][..],
        &["history", "--host", "api-eu-1"],
        &["history", "api", "--host", "api-eu-1", "--env", "prod"],
        &["history", "api", "--limit", "0"],
    ] {
        let out = cli.run(bad).await;
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {out:?}");
    }

    server.abort();
}
