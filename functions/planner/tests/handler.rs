//! The plan-queue handler against repositories made with the git CLI (served over file:// and
//! smart HTTP) and the store and state machine on the emulator.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use boreas_aws::artifacts::{Artifacts, S3Artifacts};
use boreas_aws::lifecycle::{Finished, Lifecycle};
use boreas_aws::orchestrator::{Orchestrator, SfnOrchestrator};
use boreas_aws::queues::{Queues, SqsQueues};
use boreas_aws::secrets::MemorySecrets;
use boreas_aws::store::{
    Deployment, DeploymentFilter, GitCredential, PageRequest, Repository, Store, Transition,
    VersionRecord, rfc3339,
};
use boreas_core::deployment::DeploymentStatus;
use boreas_core::plan::{Plan, SkipReason};
use boreas_core::status::VersionStatus;
use boreas_core::version::CommitId;
use boreas_core::webhook::{PlanJob, Provider, RefKind};
use boreas_planner::git::{GixCache, Remote};
use boreas_planner::{Planner, handle};
use boreas_test_support::emulator::Prefix;
use boreas_test_support::git::{GitHttpServer, GitRepo};
use boreas_test_support::github_app::GithubApp;
use boreas_test_support::http::{RecordingServer, Response};
use boreas_test_support::records::{agent, version};

const MAX_RECEIVES: u32 = 5;

struct Ctx {
    prefix: Prefix,
    planner: Planner,
    store: Arc<dyn Store>,
    orchestrator: Arc<SfnOrchestrator>,
    /// The plans bucket the orchestrator stores execution inputs in.
    plans: S3Artifacts,
    tmp: tempfile::TempDir,
}

async fn ctx() -> Ctx {
    let prefix = Prefix::shared('p').await;
    let store: Arc<dyn Store> = Arc::new(prefix.store());
    let orchestrator = Arc::new(SfnOrchestrator::from_config(
        &prefix.sdk,
        prefix.provisioned.state_machine_arn.clone(),
        prefix.names.plans_bucket(),
    ));
    let plans = S3Artifacts::from_config(&prefix.sdk, prefix.names.plans_bucket());
    let tmp = tempfile::tempdir().unwrap();
    let planner = Planner {
        store: Arc::clone(&store),
        orchestrator: Arc::clone(&orchestrator) as Arc<dyn Orchestrator>,
        git: Arc::new(GixCache::new(tmp.path().join("cache"))),
        credentials: Arc::new(boreas_planner::credentials(Arc::new(MemorySecrets::new())).unwrap()),
        notices: prefix.notices(),
        rechecks: prefix.rechecks(),
        max_receives: MAX_RECEIVES,
    };
    Ctx {
        prefix,
        planner,
        store,
        orchestrator,
        plans,
        tmp,
    }
}

fn config_yaml(staging_auto_confirm: bool) -> String {
    format!(
        r#"environments:
  - name: staging
    auto_confirm: {staging_auto_confirm}
  - name: prod
triggers:
  tags: "v*"
apps:
  - name: api
    kind: pm
    paths: ["api/**"]
    rollout:
      batches: [1, "100%"]
      pause: manual
    pm:
      hosts:
        staging: [api-s1]
        prod: [{{group: api-eu}}, api-canary]
      artifact:
        url: "s3://releases/api/{{version}}/api.tar.gz"
        sha256_url: "s3://releases/api/{{version}}/api.tar.gz.sha256"
      run:
        systemd: api.service
      health:
        tcp: "127.0.0.1:8080"
  - name: web
    kind: k8s
    paths: ["web/**"]
    depends_on: [api]
    k8s:
      clusters:
        staging: [stg-eu]
        prod: [prod-eu, prod-us]
      deployment: web
      container: web
      image: "registry.example.com/web:{{version}}"
"#
    )
}

impl Ctx {
    /// The apps of the first stage of an execution `input`, from the plans bucket.
    async fn first_stage_apps(&self, input: &serde_json::Value) -> serde_json::Value {
        let key = input["stages"][0]["apps_key"].as_str().unwrap();
        serde_json::from_slice(&self.plans.get(key).await.unwrap()).unwrap()
    }

    async fn register(&self, repo: &str, url: &str) {
        self.store
            .put_repository(&Repository {
                id: repo.to_owned(),
                full_name: repo.to_owned(),
                host: "localhost".to_owned(),
                clone_url: url.to_owned(),
                provider: Provider::GitHub,
                secret_param: format!("/test/webhook-secrets/{repo}"),
                previous_secret: None,
                credential: None,
                triggers: vec!["refs/tags/v*".into()],
                created_at: rfc3339(SystemTime::now()),
            })
            .await
            .unwrap();
        for (host, group) in [("eu-2", "api-eu"), ("eu-1", "api-eu"), ("us-1", "api-us")] {
            self.store
                .upsert_agent(&agent("prod", host, group))
                .await
                .unwrap();
        }
    }

    /// Records the version as intake does and returns its plan job.
    async fn version(&self, repo: &str, tag: &str, commit: &str) -> PlanJob {
        let recorded = self
            .store
            .put_version(&version(repo, tag, commit))
            .await
            .unwrap();
        assert!(recorded);
        PlanJob {
            schema_version: boreas_core::command::SCHEMA_VERSION,
            repository: repo.to_owned(),
            version: tag.to_owned(),
            commit: commit.to_owned(),
            ref_kind: RefKind::Tag,
            ref_name: tag.to_owned(),
            provider: Provider::GitHub,
            delivery_id: format!("delivery-{tag}"),
        }
    }

    /// Runs the handler on one message; returns whether it failed.
    async fn run(&self, body: &str, receives: u32) -> bool {
        let response = handle(&self.planner, event(&[(body, receives)])).await;
        !response.batch_item_failures.is_empty()
    }

    async fn plan(&self, job: &PlanJob) {
        assert!(!self.run(&job.to_json(), 1).await, "job {job:?} failed");
    }

    async fn version_record(&self, repo: &str, name: &str) -> VersionRecord {
        self.store.get_version(repo, name).await.unwrap().unwrap()
    }

    async fn deployments(&self) -> Vec<Deployment> {
        self.store
            .list_deployments(&DeploymentFilter::default(), &PageRequest::first(100))
            .await
            .unwrap()
            .items
    }

    /// The one deployment of `version` in `env`.
    async fn deployment(&self, version: &str, env: &str) -> Deployment {
        let found: Vec<Deployment> = self
            .deployments()
            .await
            .into_iter()
            .filter(|d| d.version == version && d.environment == env)
            .collect();
        assert_eq!(found.len(), 1, "{version} in {env}: {found:?}");
        found.into_iter().next().unwrap()
    }

    /// Makes the agent queues of `hosts` in `env` exist. Executions started by these tests run
    /// on the emulator; without its hosts' queues one fails them and records its own end within
    /// seconds, racing the outcome the test records. With them it waits for agents that never
    /// answer.
    async fn park(&self, env: &str, hosts: &[&str]) {
        let queues = SqsQueues::from_config(&self.prefix.sdk);
        for host in hosts {
            queues
                .ensure_queue(&self.prefix.names.agent_queue(env, host))
                .await
                .unwrap();
        }
    }

    /// Records the success of a started deployment as the recorder does, and checks that it was
    /// this call that ended it (its execution, [`Ctx::park`]ed, did not).
    async fn finish_succeeded(&self, id: &str) {
        assert_eq!(
            Lifecycle::new(self.store.as_ref())
                .finish(id, DeploymentStatus::Succeeded, None)
                .await
                .unwrap(),
            Finished::Now(DeploymentStatus::Succeeded)
        );
    }

    /// Marks a planned deployment as run to success, as the state machine would.
    async fn succeed(&self, id: &str) {
        for to in [DeploymentStatus::Running, DeploymentStatus::Succeeded] {
            self.store
                .transition_deployment(id, &Transition::to(to, rfc3339(SystemTime::now())))
                .await
                .unwrap();
        }
    }
}

fn event(messages: &[(&str, u32)]) -> SqsEvent {
    let mut event = SqsEvent::default();
    for (i, (body, receives)) in messages.iter().enumerate() {
        let mut m = SqsMessage::default();
        m.message_id = Some(format!("m{i}"));
        m.body = Some((*body).to_owned());
        m.attributes = [("ApproximateReceiveCount".to_owned(), receives.to_string())].into();
        event.records.push(m);
    }
    event
}

/// One planned app: (app, targets, current version).
type PlannedApp = (String, Vec<String>, Option<String>);

/// Stage by stage.
fn stages(plan: &Plan) -> Vec<Vec<PlannedApp>> {
    plan.stages
        .iter()
        .map(|s| {
            s.apps
                .iter()
                .map(|a| (a.app.clone(), a.targets.clone(), a.current_version.clone()))
                .collect()
        })
        .collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// First version: every app everywhere, groups resolved from agents. Then, with v1 deployed to
/// prod, a change under `web/` only plans `web` there, and v2 supersedes v1's planned staging
/// deployment.
async fn first_version_then_one_app(c: &Ctx, repo: &GitRepo, url: &str) {
    let name = "shop";
    c.register(name, url).await;
    let yaml = config_yaml(false);
    let c1 = repo.commit(
        "first",
        &[
            ("boreas.yaml", &yaml),
            ("api/main.rs", "fn main() {}\n"),
            ("web/app.ts", "export {};\n"),
        ],
    );
    repo.tag("v1");
    let job = c.version(name, "v1", &c1).await;
    c.plan(&job).await;

    let v1 = c.version_record(name, "v1").await;
    assert_eq!(v1.status, VersionStatus::Planned);
    assert!(!v1.diverged);
    assert!(v1.errors.is_empty(), "{:?}", v1.errors);
    assert_eq!(
        c.store
            .get_version_config(name, "v1")
            .await
            .unwrap()
            .as_deref(),
        Some(yaml.as_str())
    );
    let prod = c.deployment("v1", "prod").await;
    assert_eq!(prod.status, DeploymentStatus::Planned);
    assert_eq!(prod.repository, name);
    assert_eq!(
        stages(&prod.plan),
        vec![
            vec![("api".into(), strings(&["eu-1", "eu-2", "api-canary"]), None)],
            vec![("web".into(), strings(&["prod-eu", "prod-us"]), None)],
        ]
    );
    let api = prod.plan.find_app("api").unwrap().1.clone();
    assert_eq!(
        api.batches.len(),
        2,
        "1 host, then the rest, with a gate between"
    );
    assert_eq!(api.batches[0].targets, strings(&["eu-1"]));
    let staging_v1 = c.deployment("v1", "staging").await;
    assert_eq!(staging_v1.status, DeploymentStatus::Planned);
    assert_eq!(
        stages(&staging_v1.plan),
        vec![
            vec![("api".into(), strings(&["api-s1"]), None)],
            vec![("web".into(), strings(&["stg-eu"]), None)],
        ]
    );

    c.succeed(&prod.id).await;
    let c2 = repo.commit("web only", &[("web/app.ts", "export const x = 1;\n")]);
    repo.tag("v2");
    let job = c.version(name, "v2", &c2).await;
    c.plan(&job).await;

    let v2_prod = c.deployment("v2", "prod").await.plan;
    assert_eq!(
        stages(&v2_prod),
        vec![vec![(
            "web".into(),
            strings(&["prod-eu", "prod-us"]),
            Some("v1".into())
        )]]
    );
    assert_eq!(v2_prod.skipped.len(), 1);
    assert_eq!(v2_prod.skipped[0].app, "api");
    assert_eq!(v2_prod.skipped[0].reason, SkipReason::NotAffected);
    assert!(!c.version_record(name, "v2").await.diverged);
    // Nothing was deployed to staging: every app again, and v1's plan there is superseded.
    let v2_staging = c.deployment("v2", "staging").await;
    assert_eq!(v2_staging.plan.apps().count(), 2);
    let staging_v1 = c
        .store
        .get_deployment(&staging_v1.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(staging_v1.status, DeploymentStatus::Superseded);
    assert!(
        staging_v1
            .error
            .as_deref()
            .unwrap()
            .contains(&v2_staging.id),
        "{staging_v1:?}"
    );
    // The succeeded prod deployment is history, not superseded.
    let prod = c.store.get_deployment(&prod.id).await.unwrap().unwrap();
    assert_eq!(prod.status, DeploymentStatus::Succeeded);
    // The notifier heard of each plan and of the supersede.
    let v2_prod_id = c.deployment("v2", "prod").await.id;
    let mut expected = vec![
        (prod.id.clone(), "planned".to_owned()),
        (staging_v1.id.clone(), "planned".to_owned()),
        (staging_v1.id.clone(), "superseded".to_owned()),
        (v2_prod_id.clone(), "planned".to_owned()),
        (v2_staging.id.clone(), "planned".to_owned()),
    ];
    expected.sort();
    assert_eq!(c.prefix.take_notices().await, expected);

    // A change outside every app's paths plans nothing in prod and says why.
    c.succeed(&v2_prod_id).await;
    let c3 = repo.commit("docs", &[("docs/readme.md", "hello\n")]);
    repo.tag("v3");
    let job = c.version(name, "v3", &c3).await;
    c.plan(&job).await;
    let v3 = c.version_record(name, "v3").await;
    assert_eq!(v3.status, VersionStatus::Planned);
    assert_eq!(
        v3.errors,
        [
            "prod: nothing to deploy (api: not affected by the change, web: not affected by the change)"
        ]
    );
    assert!(
        c.deployments()
            .await
            .iter()
            .all(|d| d.version != "v3" || d.environment == "staging")
    );
}

/// The review the planner records with each deployment, on a real repository: the first
/// deployment to an environment (every app, nothing known to run), then a version whose commits
/// change one app (changed, with the paths), pull in a follower (follows), leave one out
/// (unchanged), listed newest first and capped with a count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_says_why_each_app_is_in_and_lists_the_commits_since_what_runs() {
    use boreas_core::review::{COMMITS_SHOWN, Why};
    let c = ctx().await;
    let repo = GitRepo::init(c.tmp.path(), "review");
    c.register("review", &repo.file_url()).await;
    let yaml = config_yaml(false).replace(
        "apps:\n",
        "apps:\n  - name: worker\n    kind: pm\n    paths: [\"worker/**\"]\n    depends_on: [api]\n    follow_dependencies: true\n    pm:\n      hosts:\n        prod: [worker-1]\n      artifact:\n        url: \"s3://releases/worker/{version}.tar.gz\"\n        sha256_url: \"s3://releases/worker/{version}.sha256\"\n      run:\n        systemd: worker.service\n      health:\n        tcp: \"127.0.0.1:8081\"\n",
    );
    let c1 = repo.commit(
        "first",
        &[
            ("boreas.yaml", &yaml),
            ("api/main.rs", "fn main() {}\n"),
            ("web/app.ts", "export {};\n"),
        ],
    );
    let job = c.version("review", "v1", &c1).await;
    c.plan(&job).await;
    let v1 = c.deployment("v1", "prod").await;
    let first = c.store.review(&v1.id).await.unwrap().expect("a review");
    assert_eq!(
        first.proposal, v1.plan,
        "the proposal is the plan as planned"
    );
    assert_eq!(first.review.running, None);
    assert_eq!(first.review.commits, []);
    assert_eq!(first.review.changed_paths, None);
    let whys: Vec<(&str, &Why)> = first
        .review
        .apps
        .iter()
        .map(|a| (a.app.as_str(), &a.why))
        .collect();
    assert_eq!(
        whys,
        [
            ("api", &Why::FirstDeployment),
            ("web", &Why::FirstDeployment),
            ("worker", &Why::FirstDeployment)
        ]
    );

    c.succeed(&v1.id).await;
    let c2 = repo.commit(
        "api: answer faster",
        &[
            ("api/main.rs", "fn main() { fast() }\n"),
            ("api/fast.rs", "pub fn fast() {}\n"),
        ],
    );
    let c3 = repo.commit("docs: the readme", &[("docs/readme.md", "hello\n")]);
    let job = c.version("review", "v2", &c3).await;
    c.plan(&job).await;
    let v2 = c.deployment("v2", "prod").await;
    let review = c.store.review(&v2.id).await.unwrap().unwrap().review;
    let running = review.running.as_ref().unwrap();
    assert_eq!(
        (running.version.as_str(), running.commit.as_str()),
        ("v1", c1.as_str())
    );
    let listed: Vec<(&str, &str, &str)> = review
        .commits
        .iter()
        .map(|k| (k.id.as_str(), k.subject.as_str(), k.author.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            (c3.as_str(), "docs: the readme", "Boreas Test"),
            (c2.as_str(), "api: answer faster", "Boreas Test")
        ],
        "newest first"
    );
    assert_eq!(review.commits[0].at, "2026-01-01T00:00:00Z");
    assert_eq!(review.more_commits, 0);
    assert_eq!(review.changed_paths, Some(3));
    let by = |app: &str| review.apps.iter().find(|a| a.app == app).unwrap();
    assert_eq!(by("api").why, Why::Changed);
    assert_eq!(by("api").paths, ["api/fast.rs", "api/main.rs"]);
    assert_eq!(by("api").skipped, None);
    assert_eq!(
        by("worker").why,
        Why::Follows {
            dependency: "api".into()
        }
    );
    assert_eq!(by("worker").describe(), "follows api, which changed");
    assert_eq!(by("web").why, Why::Unchanged);
    assert_eq!(by("web").skipped, Some(SkipReason::NotAffected));
    assert_eq!(
        v2.plan.apps().map(|a| a.app.as_str()).collect::<Vec<_>>(),
        ["api", "worker"],
        "the plan agrees"
    );

    // More commits than a review lists: the newest, and how many more.
    c.succeed(&v2.id).await;
    for i in 0..=COMMITS_SHOWN {
        repo.commit(
            &format!("api: step {i}"),
            &[("api/main.rs", &format!("// {i}\n"))],
        );
    }
    let job = c.version("review", "v3", &repo.head()).await;
    c.plan(&job).await;
    let v3 = c.deployment("v3", "prod").await;
    let review = c.store.review(&v3.id).await.unwrap().unwrap().review;
    assert_eq!(review.commits.len(), COMMITS_SHOWN);
    assert_eq!(review.more_commits, 1);
    assert_eq!(
        review.commits[0].subject,
        format!("api: step {COMMITS_SHOWN}")
    );
    assert_eq!(review.running.unwrap().version, "v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_over_file_urls() {
    let c = ctx().await;
    let repo = GitRepo::init(c.tmp.path(), "shop");
    first_version_then_one_app(&c, &repo, &repo.file_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_over_smart_http() {
    let c = ctx().await;
    let repo = GitRepo::init(c.tmp.path(), "shop");
    let server = GitHttpServer::start(c.tmp.path());
    first_version_then_one_app(&c, &repo, &server.url("shop")).await;
    assert!(server.requests() > 0, "the commits came over HTTP");
}

/// A private repository behind basic authentication (as GitHub, GitLab and Gitea serve one over
/// HTTPS) is planned with the token its record names in SSM; with a wrong token the version is
/// `plan_failed` at its first receive (not after the queue's last) with "authentication failed
/// for <clone URL>", the token in no record, and no deployment is planned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_repository_is_fetched_with_its_token_and_a_wrong_one_is_plan_failed() {
    const TOKEN: &str = "glpat-right-token-0123456789";
    const WRONG: &str = "glpat-wrong-token-9876543210";
    let c = ctx().await;
    let server = GitHttpServer::start_with_basic(c.tmp.path(), "oauth2", TOKEN);
    let secrets = Arc::new(MemorySecrets::with([
        ("/test/git-credentials/private", TOKEN),
        ("/test/git-credentials/wrong", WRONG),
    ]));
    let planner = Planner {
        credentials: Arc::new(boreas_planner::credentials(secrets).unwrap()),
        ..c.planner.clone()
    };
    let repo = GitRepo::init(c.tmp.path(), "private");
    let commit = repo.commit(
        "first",
        &[("boreas.yaml", &config_yaml(false)), ("api/main.rs", "1\n")],
    );
    let url = server.url("private");
    for (id, param) in [("private", "private"), ("wrong", "wrong")] {
        c.register(id, &url).await;
        let mut record = c.store.get_repository(id).await.unwrap().unwrap();
        record.credential = Some(GitCredential::Token {
            param: format!("/test/git-credentials/{param}"),
            username: "oauth2".to_owned(),
        });
        c.store.put_repository(&record).await.unwrap();
    }
    // Without a credential the server refuses, as a private repository does.
    c.register("anonymous", &url).await;

    let job = c.version("private", "v1", &commit).await;
    let response = handle(&planner, event(&[(&job.to_json(), 1)])).await;
    assert!(response.batch_item_failures.is_empty());
    let v = c.version_record("private", "v1").await;
    assert_eq!(v.status, VersionStatus::Planned, "{:?}", v.errors);

    for id in ["wrong", "anonymous"] {
        let job = c.version(id, "v1", &commit).await;
        handle(&planner, event(&[(&job.to_json(), 1)])).await;
        let v = c.version_record(id, "v1").await;
        assert_eq!(
            v.status,
            VersionStatus::PlanFailed,
            "{id}: at the first receive"
        );
        assert_eq!(
            v.errors,
            [format!(
                "AuthenticationFailed: authentication failed for {url}"
            )],
            "{id}"
        );
        // A redelivery (bounded by the queue's receive count) changes nothing.
        handle(&planner, event(&[(&job.to_json(), 2)])).await;
        assert_eq!(c.version_record(id, "v1").await, v);
        let text = format!("{v:?}{:?}", c.store.get_repository(id).await.unwrap());
        assert!(!text.contains(TOKEN) && !text.contains(WRONG), "{text}");
    }
    let planned: Vec<String> = c
        .deployments()
        .await
        .into_iter()
        .map(|d| d.repository)
        .collect();
    assert!(planned.iter().all(|r| r == "private"), "{planned:?}");
    assert!(!planned.is_empty());
}

/// The GitHub App path: the planner signs a JWT with the App's key, finds the App's installation
/// on the repository, mints a token for that one repository with read access to its contents
/// (GitHub's `apps/get-repo-installation` and `apps/create-installation-access-token`, answered
/// here by a recording stand-in for its REST API), fetches with it over authenticated smart HTTP
/// and reuses it for the next version. A repository the App is not installed on ends
/// `plan_failed` naming the call and GitHub's answer, at its first receive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_app_repository_is_fetched_with_a_minted_installation_token() {
    const APP_ID: u64 = 4242;
    const MINTED: &str = "ghs_minted0123456789abcdefghijklmnop";
    let c = ctx().await;
    let app = GithubApp::generate(APP_ID);
    let answers = app.clone();
    let github = RecordingServer::start(move |r| {
        answers
            .answer(r, &["acme/shop"], MINTED)
            .unwrap_or_else(|| Response::json(404, serde_json::json!({"message": "Not Found"})))
    });
    let git = GitHttpServer::start_with_basic(c.tmp.path(), "x-access-token", MINTED);
    let secrets = Arc::new(MemorySecrets::with([(
        "/test/git-credentials/app",
        app.private_key_pem.as_str(),
    )]));
    let planner = Planner {
        credentials: Arc::new(boreas_planner::credentials(secrets).unwrap()),
        ..c.planner.clone()
    };
    let repo = GitRepo::init(c.tmp.path(), "shop");
    let first = repo.commit(
        "first",
        &[("boreas.yaml", &config_yaml(false)), ("api/main.rs", "1\n")],
    );
    for name in ["acme/shop", "acme/other"] {
        c.register(name, &git.url("shop")).await;
        let mut record = c.store.get_repository(name).await.unwrap().unwrap();
        record.credential = Some(GitCredential::GithubApp {
            app_id: APP_ID,
            key_param: "/test/git-credentials/app".to_owned(),
            api_url: github.url(),
        });
        c.store.put_repository(&record).await.unwrap();
    }

    let job = c.version("acme/shop", "v1", &first).await;
    let response = handle(&planner, event(&[(&job.to_json(), 1)])).await;
    assert!(response.batch_item_failures.is_empty());
    let v = c.version_record("acme/shop", "v1").await;
    assert_eq!(v.status, VersionStatus::Planned, "{:?}", v.errors);

    let calls = github.requests();
    let asked: Vec<(&str, &str)> = calls
        .iter()
        .map(|r| (r.method.as_str(), r.target.as_str()))
        .collect();
    assert_eq!(
        asked,
        [
            ("GET", "/repos/acme/shop/installation"),
            ("POST", "/app/installations/77/access_tokens")
        ]
    );
    for r in &calls {
        assert_eq!(r.header("accept"), Some("application/vnd.github+json"));
        assert_eq!(r.header("x-github-api-version"), Some("2022-11-28"));
        assert!(
            r.header("user-agent")
                .is_some_and(|u| u.starts_with("boreas-planner/"))
        );
        let jwt = app.claims(r).expect("a JWT the App's public key verifies");
        // GitHub refuses a JWT valid for more than ten minutes.
        assert!(jwt.exp - jwt.iat <= 600, "{jwt:?}");
    }
    assert_eq!(
        calls[1].json(),
        serde_json::json!({"repositories": ["shop"], "permissions": {"contents": "read"}})
    );

    // The next version reuses the minted token: no call to GitHub.
    let second = repo.commit("second", &[("api/main.rs", "2\n")]);
    let job = c.version("acme/shop", "v2", &second).await;
    handle(&planner, event(&[(&job.to_json(), 1)])).await;
    assert_eq!(
        c.version_record("acme/shop", "v2").await.status,
        VersionStatus::Planned
    );
    assert_eq!(github.requests().len(), 2);

    // Not installed on the repository: refused, recorded at the first receive.
    let job = c.version("acme/other", "v1", &first).await;
    handle(&planner, event(&[(&job.to_json(), 1)])).await;
    let v = c.version_record("acme/other", "v1").await;
    assert_eq!(v.status, VersionStatus::PlanFailed);
    assert_eq!(
        v.errors,
        [
            "CredentialUnavailable: repository acme/other: git credential: GitHub App 4242: \
          finding its installation on the repository: /repos/acme/other/installation answered \
          404 Not Found (Not Found)"
        ]
    );
    let text = format!(
        "{v:?}{:?}{:?}",
        c.version_record("acme/shop", "v1").await,
        c.store.get_repository("acme/shop").await.unwrap()
    );
    assert!(
        !text.contains(MINTED) && !text.contains("PRIVATE KEY"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_config_records_every_error_and_plans_nothing() {
    let c = ctx().await;
    let repo = GitRepo::init(c.tmp.path(), "broken");
    c.register("broken", &repo.file_url()).await;
    let broken = config_yaml(false)
        .replace("batches: [1, \"100%\"]", "batches: [\"120%\"]")
        .replace("  - name: prod\n", "  - name: Prod!\n")
        .replace("    depends_on: [api]\n", "    depends_on: [db]\n");
    let commit = repo.commit("broken", &[("boreas.yaml", &broken)]);
    let job = c.version("broken", "v1", &commit).await;
    c.plan(&job).await;

    let v = c.version_record("broken", "v1").await;
    assert_eq!(v.status, VersionStatus::InvalidConfig);
    let expected: Vec<String> = boreas_core::config::parse(&broken)
        .unwrap_err()
        .errors()
        .iter()
        .map(|e| format!("boreas.yaml:{e}"))
        .collect();
    assert!(expected.len() >= 3, "{expected:?}");
    assert_eq!(v.errors, expected);
    assert!(
        v.errors.iter().any(|e| e.contains("120%")),
        "{:?}",
        v.errors
    );
    assert!(c.deployments().await.is_empty());
    assert_eq!(
        c.store.get_version_config("broken", "v1").await.unwrap(),
        None
    );

    // No file at all is an invalid config too.
    repo.git(&["rm", "-q", "boreas.yaml"]);
    let none = repo.commit("removed", &[]);
    let job = c.version("broken", "v2", &none).await;
    c.plan(&job).await;
    let v = c.version_record("broken", "v2").await;
    assert_eq!(v.status, VersionStatus::InvalidConfig);
    assert_eq!(
        v.errors,
        ["boreas.yaml: no such file at the version's commit"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diverged_versions_are_flagged_and_late_older_versions_do_not_supersede() {
    let c = ctx().await;
    let repo = GitRepo::init(c.tmp.path(), "svc");
    c.register("svc", &repo.file_url()).await;
    let yaml = config_yaml(false);
    let c0 = repo.commit("base", &[("boreas.yaml", &yaml), ("api/main.rs", "0\n")]);
    let c1 = repo.commit("v1", &[("api/main.rs", "1\n")]);
    repo.tag("v1");
    c.plan(&c.version("svc", "v1", &c1).await).await;
    c.succeed(&c.deployment("v1", "prod").await.id).await;

    // A hotfix branched before v1: it does not contain what prod runs.
    repo.git(&["checkout", "-q", "-b", "hotfix", &c0]);
    let hotfix = repo.commit("hotfix", &[("web/app.ts", "fix\n")]);
    repo.tag("v1-hotfix");
    repo.git(&["checkout", "-q", "main"]);
    c.plan(&c.version("svc", "v1-hotfix", &hotfix).await).await;
    let v = c.version_record("svc", "v1-hotfix").await;
    assert_eq!(v.status, VersionStatus::Planned);
    assert!(v.diverged, "hotfix does not descend from v1");
    let hotfix_prod = c.deployment("v1-hotfix", "prod").await;
    assert_eq!(hotfix_prod.status, DeploymentStatus::Planned);
    // Changed paths since v1 cover both sides: api/main.rs went back, web/app.ts is new.
    assert_eq!(hotfix_prod.plan.apps().count(), 2);

    // v3 merges a feature branch; v4 descends from v3. v4's job arrives first.
    repo.git(&["checkout", "-q", "-b", "feature", &c1]);
    repo.commit("feature", &[("web/app.ts", "feature\n")]);
    repo.git(&["checkout", "-q", "main"]);
    repo.commit("main work", &[("api/main.rs", "3\n")]);
    repo.git(&["merge", "-q", "--no-ff", "-m", "merge feature", "feature"]);
    let c3 = repo.head();
    repo.tag("v3");
    let c4 = repo.commit("v4", &[("api/main.rs", "4\n")]);
    repo.tag("v4");
    let job3 = c.version("svc", "v3", &c3).await;
    let job4 = c.version("svc", "v4", &c4).await;
    c.plan(&job4).await;
    let v4_prod = c.deployment("v4", "prod").await;
    assert_eq!(v4_prod.status, DeploymentStatus::Planned);
    assert!(!c.version_record("svc", "v4").await.diverged);
    // v4 contains neither the diverged hotfix nor is contained by it: both stay planned.
    assert_eq!(
        c.store
            .get_deployment(&hotfix_prod.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        DeploymentStatus::Planned
    );

    c.plan(&job3).await;
    let v3_prod = c.deployment("v3", "prod").await;
    assert_eq!(
        v3_prod.status,
        DeploymentStatus::Superseded,
        "late and older"
    );
    assert!(v3_prod.error.as_deref().unwrap().contains(&v4_prod.id));
    let v4_prod = c.store.get_deployment(&v4_prod.id).await.unwrap().unwrap();
    assert_eq!(
        v4_prod.status,
        DeploymentStatus::Planned,
        "the newer one stays"
    );
    assert_eq!(
        c.version_record("svc", "v3").await.status,
        VersionStatus::Planned
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_confirm_starts_the_execution_once() {
    let c = ctx().await;
    let repo = GitRepo::init(c.tmp.path(), "auto");
    c.register("auto", &repo.file_url()).await;
    let commit = repo.commit(
        "first",
        &[("boreas.yaml", &config_yaml(true)), ("api/main.rs", "1\n")],
    );
    c.park("staging", &["api-s1"]).await;
    let job = c.version("auto", "v1", &commit).await;
    c.plan(&job).await;

    let staging = c.deployment("v1", "staging").await;
    assert_ne!(staging.status, DeploymentStatus::Planned);
    assert!(staging.started_at.is_some());
    let execution = c.orchestrator.describe(&staging.id).await.unwrap();
    assert_eq!(execution.name, staging.id);
    let input: serde_json::Value =
        serde_json::from_str(execution.input.as_deref().unwrap()).unwrap();
    assert_eq!(input["deployment_id"], staging.id.as_str());
    assert_eq!(input["environment"], "staging");
    // The stage's apps are in the plans bucket, stored before the start.
    let apps = c.first_stage_apps(&input).await;
    assert_eq!(apps[0]["app"], "api");
    assert_eq!(
        apps[0]["workload"]["artifact_url"],
        "s3://releases/api/v1/api.tar.gz"
    );
    // Prod waits for a person.
    let prod = c.deployment("v1", "prod").await;
    assert_eq!(prod.status, DeploymentStatus::Planned);
    assert!(c.orchestrator.describe(&prod.id).await.is_err());

    // A redelivered job plans nothing twice and starts nothing new.
    c.plan(&job).await;
    assert_eq!(c.deployments().await.len(), 2);
    let again = c.orchestrator.describe(&staging.id).await.unwrap();
    assert_eq!(again.arn, execution.arn);

    // v2 moves its artifacts elsewhere; its rollback returns to v1 as v1's own config ran it.
    c.finish_succeeded(&staging.id).await;
    c.orchestrator
        .stop(&staging.id, "Test.Done", "v1 is recorded as succeeded")
        .await
        .unwrap();
    let moved = config_yaml(true).replace("s3://releases/", "s3://releases-2/");
    let second = repo.commit("second", &[("boreas.yaml", &moved), ("api/main.rs", "2\n")]);
    c.plan(&c.version("auto", "v2", &second).await).await;
    let staging = c.deployment("v2", "staging").await;
    let execution = c.orchestrator.describe(&staging.id).await.unwrap();
    let input: serde_json::Value =
        serde_json::from_str(execution.input.as_deref().unwrap()).unwrap();
    let apps = c.first_stage_apps(&input).await;
    let api = &apps[0];
    assert_eq!(
        api["workload"]["artifact_url"],
        "s3://releases-2/api/v2/api.tar.gz"
    );
    assert_eq!(api["rollback"]["to_version"], "v1");
    assert_eq!(
        api["rollback"]["workload"]["artifact_url"],
        "s3://releases/api/v1/api.tar.gz"
    );
}

/// When the execution does not start, an `auto_confirm` deployment ends `failed` with the error
/// and frees its run locks, as a confirm through the api does; a redelivered job leaves it so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_confirm_whose_execution_does_not_start_ends_failed() {
    let c = ctx().await;
    let emulator = boreas_aws::emulator::shared().await;
    let sdk = boreas_aws::sdk_config(Some(emulator.endpoint())).await;
    let planner = Planner {
        orchestrator: Arc::new(SfnOrchestrator::from_config(
            &sdk,
            "arn:aws:states:us-east-1:123456789012:stateMachine:no-such-machine",
            c.plans.bucket(),
        )),
        ..c.planner.clone()
    };
    let repo = GitRepo::init(c.tmp.path(), "nostart");
    c.register("nostart", &repo.file_url()).await;
    let commit = repo.commit(
        "first",
        &[("boreas.yaml", &config_yaml(true)), ("api/main.rs", "1\n")],
    );
    let job = c.version("nostart", "v1", &commit).await;
    for delivery in 1..=2 {
        let response = handle(&planner, event(&[(&job.to_json(), delivery)])).await;
        let staging = c.deployment("v1", "staging").await;
        assert_eq!(
            staging.status,
            DeploymentStatus::Failed,
            "delivery {delivery}"
        );
        let error = staging.error.clone().unwrap_or_default();
        assert!(
            error.starts_with("the execution did not start: "),
            "{error}"
        );
        for app in staging.plan.apps() {
            assert_eq!(
                c.store.run_lock_holder("staging", &app.app).await.unwrap(),
                None,
                "{}",
                app.app
            );
        }
        assert!(
            response.batch_item_failures.is_empty(),
            "the outcome is recorded, nothing to retry"
        );
        let v1 = c.version_record("nostart", "v1").await;
        assert_eq!(v1.status, VersionStatus::Planned);
        // The redelivery finds the deployment ended and has nothing to say about it.
        let noted = v1
            .errors
            .iter()
            .any(|e| e.starts_with("staging: failed: the execution did not start: "));
        assert_eq!(noted, delivery == 1, "{:?}", v1.errors);
    }
    assert_eq!(
        c.deployment("v1", "prod").await.status,
        DeploymentStatus::Planned
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_fail_per_message_and_end_plan_failed() {
    let c = ctx().await;
    let repo = GitRepo::init(c.tmp.path(), "good");
    c.register("good", &repo.file_url()).await;
    let commit = repo.commit("first", &[("boreas.yaml", &config_yaml(false))]);
    let good = c.version("good", "v1", &commit).await;

    // A repository that cannot be reached: retried until the last receive, then plan_failed.
    let gone = c.tmp.path().join("gone");
    let gone_url = format!("file://{}", gone.display());
    c.register("gone", &gone_url).await;
    let lost = c.version("gone", "v1", &commit).await;

    let response = handle(
        &c.planner,
        event(&[("not json", 1), (&good.to_json(), 1), (&lost.to_json(), 1)]),
    )
    .await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m0", "m2"]);
    assert_eq!(
        c.version_record("good", "v1").await.status,
        VersionStatus::Planned
    );
    assert_eq!(
        c.version_record("gone", "v1").await.status,
        VersionStatus::Received,
        "retried first"
    );

    assert!(c.run(&lost.to_json(), MAX_RECEIVES).await);
    let v = c.version_record("gone", "v1").await;
    assert_eq!(v.status, VersionStatus::PlanFailed);
    assert_eq!(v.errors.len(), 1);
    assert!(v.errors[0].starts_with("FetchFailed: "), "{:?}", v.errors);
    assert!(v.errors[0].contains(&gone_url), "{:?}", v.errors);

    // A job of another schema can never be read: plan_failed on the first receive.
    let mut body: serde_json::Value = serde_json::from_str(&good.to_json()).unwrap();
    body["schema_version"] = 99.into();
    let other = c.version("good", "v9", &commit).await;
    body["version"] = other.version.clone().into();
    assert!(c.run(&body.to_string(), 1).await);
    let v = c.version_record("good", "v9").await;
    assert_eq!(v.status, VersionStatus::PlanFailed);
    assert!(v.errors[0].starts_with("InvalidJob: "), "{:?}", v.errors);

    // A job whose commit is not the version's is refused at once, before any git work.
    let mut wrong = c.version("good", "v8", &commit).await;
    wrong.commit = "0".repeat(40);
    assert!(c.run(&wrong.to_json(), 1).await);
    let v = c.version_record("good", "v8").await;
    assert_eq!(v.status, VersionStatus::PlanFailed);
    assert!(
        v.errors[0].starts_with("CommitMismatch: "),
        "{:?}",
        v.errors
    );

    let names: BTreeMap<String, DeploymentStatus> = c
        .deployments()
        .await
        .into_iter()
        .map(|d| {
            (
                format!("{}/{}/{}", d.repository, d.version, d.environment),
                d.status,
            )
        })
        .collect();
    assert_eq!(
        names.keys().map(String::as_str).collect::<Vec<_>>(),
        ["good/v1/prod", "good/v1/staging"]
    );
}

/// A cache whose fetch outlasts the function's deadline: the run is cut off (as Lambda ends a
/// function at its timeout, or an out-of-memory kill ends it) and never answers for the job.
#[derive(Debug)]
struct HangingGit;

/// How long the test lets one attempt run before cutting it off, as the function's timeout.
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(1);

impl boreas_planner::git::Git for HangingGit {
    fn fetch(&self, _: &str, _: &Remote, _: &[CommitId]) -> Result<usize, boreas_planner::Error> {
        std::thread::sleep(DEADLINE * 3);
        Ok(0)
    }
    fn has_commit(&self, _: &str, _: &CommitId) -> Result<bool, boreas_planner::Error> {
        Ok(false)
    }
    fn read_file(
        &self,
        _: &str,
        _: &CommitId,
        _: &str,
    ) -> Result<Option<Vec<u8>>, boreas_planner::Error> {
        Ok(None)
    }
    fn changed_paths(
        &self,
        _: &str,
        _: &CommitId,
        _: &CommitId,
    ) -> Result<Vec<String>, boreas_planner::Error> {
        Ok(Vec::new())
    }
    fn is_ancestor(
        &self,
        _: &str,
        _: &CommitId,
        _: &CommitId,
    ) -> Result<bool, boreas_planner::Error> {
        Ok(false)
    }
    fn commits_between(
        &self,
        _: &str,
        _: &CommitId,
        _: &CommitId,
        _: usize,
    ) -> Result<(Vec<boreas_core::review::CommitSummary>, usize), boreas_planner::Error> {
        Ok((Vec::new(), 0))
    }
}

/// A job that the planner never finishes (cut off at its deadline on every receive) is
/// `plan_failed` before the queue moves it to the dead-letter queue; a job that finishes on its
/// last receive records its real outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_the_planner_never_finishes_is_plan_failed_before_the_dead_letter_queue() {
    let c = ctx().await;
    let repo = GitRepo::init(c.tmp.path(), "crash");
    c.register("crash", &repo.file_url()).await;
    let commit = repo.commit("first", &[("boreas.yaml", &config_yaml(false))]);
    let job = c.version("crash", "v1", &commit).await;
    let hanging = Planner {
        git: Arc::new(HangingGit),
        ..c.planner.clone()
    };
    let cut_off = |receives: u32| {
        let body = job.to_json();
        let planner = &hanging;
        async move {
            tokio::time::timeout(DEADLINE, handle(planner, event(&[(&body, receives)])))
                .await
                .is_err()
        }
    };

    assert!(cut_off(MAX_RECEIVES - 1).await, "the attempt is cut off");
    assert_eq!(
        c.version_record("crash", "v1").await.status,
        VersionStatus::Received,
        "receives before the last one leave it waiting"
    );
    assert!(cut_off(MAX_RECEIVES).await, "the last attempt is cut off");
    let v = c.version_record("crash", "v1").await;
    assert_eq!(v.status, VersionStatus::PlanFailed);
    assert!(
        v.errors[0].starts_with("PlannerDidNotFinish: receive 5 of at most 5"),
        "{:?}",
        v.errors
    );

    // The same job finishing on its last receive is planned after all.
    let late = c.version("crash", "v2", &commit).await;
    assert!(!c.run(&late.to_json(), MAX_RECEIVES).await);
    let v = c.version_record("crash", "v2").await;
    assert_eq!(v.status, VersionStatus::Planned);
}

/// A `boreas.yaml` whose aliases expand one large scalar thousands of times is an invalid config
/// with a clear error, not gigabytes of memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_expanding_past_the_size_bound_is_invalid_config() {
    let c = ctx().await;
    let repo = GitRepo::init(c.tmp.path(), "bomb");
    c.register("bomb", &repo.file_url()).await;
    let big = "x".repeat(512 * 1024);
    let aliases = vec!["*big"; 2000].join(", ");
    let source = format!(
        "{}x-big: &big {big}\nx-refs: [{aliases}]\n",
        config_yaml(false)
    );
    let commit = repo.commit("bomb", &[("boreas.yaml", &source)]);
    let job = c.version("bomb", "v1", &commit).await;
    c.plan(&job).await;
    let v = c.version_record("bomb", "v1").await;
    assert_eq!(v.status, VersionStatus::InvalidConfig);
    assert_eq!(v.errors.len(), 1, "{:?}", v.errors);
    assert!(
        v.errors[0].contains("aliases expand the document past 4194304 bytes of text"),
        "{:?}",
        v.errors
    );
    assert!(c.deployments().await.is_empty());
}

/// Takes the next recheck from the prefix's plan queue, waiting up to `secs` for it (a timer
/// recheck is delayed until its time).
async fn next_recheck(c: &Ctx, secs: u64) -> Option<(boreas_core::policy::Recheck, String)> {
    use boreas_aws::queues::{Queues, ReceiveOptions, SqsQueues};
    let queues = SqsQueues::from_config(&c.prefix.sdk);
    let url = c.prefix.queue_url("plan");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        let options = ReceiveOptions {
            wait: std::time::Duration::from_secs(1),
            ..ReceiveOptions::default()
        };
        for m in queues.receive(url, &options).await.unwrap() {
            queues.delete(url, &m.receipt_handle).await.unwrap();
            if let Some(Ok(r)) = boreas_core::policy::Recheck::from_json(&m.body) {
                return Some((r, m.body));
            }
        }
    }
    None
}

async fn hold_of(c: &Ctx, id: &str) -> Vec<String> {
    c.store
        .deployment_policy(id)
        .await
        .unwrap()
        .hold
        .map(|h| h.reasons)
        .unwrap_or_default()
}

/// Prod comes after staging with a 2 s soak and confirms on its own (staging's outcomes are
/// written to the store as the state machine would, so no execution races them): prod is planned
/// and held while staging has not run; the outcome there (the recorder's recheck) leaves it soaking, with a timer
/// recheck on the plan queue that arrives when the soak ends and starts it. A version that fails
/// in staging never starts in prod, and a newer version replaces the older waiting one only once
/// it may start itself.
#[tokio::test]
async fn promotion_holds_prod_until_staging_succeeded_and_soaked_then_a_recheck_starts_it() {
    use boreas_core::policy::Recheck;
    let c = ctx().await;
    let repo = GitRepo::init(c.tmp.path(), "promo");
    c.register("promo", &repo.file_url()).await;
    let yaml = config_yaml(false).replace(
        "  - name: prod\n",
        "  - name: prod\n    auto_confirm: true\n    promotion: {after: [staging], soak: 2s}\n",
    );
    c.park("prod", &["eu-1", "eu-2", "api-canary"]).await;
    let first = repo.commit("first", &[("boreas.yaml", &yaml), ("api/main.rs", "1\n")]);
    c.plan(&c.version("promo", "v1", &first).await).await;
    let staging = c.deployment("v1", "staging").await;
    let prod = c.deployment("v1", "prod").await;
    assert_eq!(prod.status, DeploymentStatus::Planned);
    assert_eq!(
        hold_of(&c, &prod.id).await,
        [
            "waits for staging: planned there, not started yet",
            "waits for staging: no success there to soak from"
        ]
    );
    assert!(
        next_recheck(&c, 1).await.is_none(),
        "nothing to wait for but an outcome"
    );

    // Staging succeeds; the recorder's recheck finds prod soaking and sets a timer.
    c.succeed(&staging.id).await;
    assert!(
        !c.run(&Recheck::new("promo", "prod", false).to_json(), 1)
            .await
    );
    let reasons = hold_of(&c, &prod.id).await;
    assert!(
        reasons[0].starts_with("soaking in staging until "),
        "{reasons:?}"
    );
    assert_eq!(
        c.deployment("v1", "prod").await.status,
        DeploymentStatus::Planned
    );
    // The timer arrives when the soak is over (one that came early would set the next) and
    // prod starts.
    let mut prod = c.deployment("v1", "prod").await;
    for _ in 0..3 {
        let (timer, body) = next_recheck(&c, 20).await.expect("a timer recheck");
        assert_eq!((timer.environment.as_str(), timer.timer), ("prod", true));
        assert!(!c.run(&body, 1).await);
        prod = c.deployment("v1", "prod").await;
        if prod.status != DeploymentStatus::Planned {
            break;
        }
    }
    assert_eq!(
        prod.status,
        DeploymentStatus::Running,
        "{:?}",
        hold_of(&c, &prod.id).await
    );
    assert!(c.orchestrator.describe(&prod.id).await.is_ok());
    assert_eq!(hold_of(&c, &prod.id).await, Vec::<String>::new());
    c.finish_succeeded(&prod.id).await;

    // v2 fails in staging: prod never starts it.
    let second = repo.commit("second", &[("api/main.rs", "2\n")]);
    c.plan(&c.version("promo", "v2", &second).await).await;
    let staging = c.deployment("v2", "staging").await;
    for to in [DeploymentStatus::Running, DeploymentStatus::RolledBack] {
        c.store
            .transition_deployment(&staging.id, &Transition::to(to, rfc3339(SystemTime::now())))
            .await
            .unwrap();
    }
    assert!(
        !c.run(&Recheck::new("promo", "prod", false).to_json(), 1)
            .await
    );
    let prod_v2 = c.deployment("v2", "prod").await;
    assert_eq!(prod_v2.status, DeploymentStatus::Planned);
    assert_eq!(
        hold_of(&c, &prod_v2.id).await[0],
        "blocked by staging: rolled_back there"
    );

    // v3 does not replace the waiting v2 in prod at once; it does when it may start itself.
    let third = repo.commit("third", &[("api/main.rs", "3\n")]);
    c.plan(&c.version("promo", "v3", &third).await).await;
    assert_eq!(
        c.deployment("v2", "prod").await.status,
        DeploymentStatus::Planned
    );
    let prod_v3 = c.deployment("v3", "prod").await;
    assert_eq!(
        c.store
            .deployment_policy(&prod_v3.id)
            .await
            .unwrap()
            .supersedes,
        std::slice::from_ref(&prod_v2.id)
    );
    c.succeed(&c.deployment("v3", "staging").await.id).await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(
        !c.run(&Recheck::new("promo", "prod", false).to_json(), 1)
            .await
    );
    let prod_v3 = c.deployment("v3", "prod").await;
    assert_eq!(prod_v3.status, DeploymentStatus::Running);
    assert_eq!(
        c.deployment("v2", "prod").await.status,
        DeploymentStatus::Superseded
    );
    c.finish_succeeded(&prod_v3.id).await;

    // v4 failed in staging; an approver waives staging's conditions for its prod deployment one
    // at a time (the api then asks for a recheck): it starts once both are lifted.
    let fourth = repo.commit("fourth", &[("api/main.rs", "4\n")]);
    c.plan(&c.version("promo", "v4", &fourth).await).await;
    let staging = c.deployment("v4", "staging").await;
    for to in [DeploymentStatus::Running, DeploymentStatus::Failed] {
        c.store
            .transition_deployment(&staging.id, &Transition::to(to, rfc3339(SystemTime::now())))
            .await
            .unwrap();
    }
    let prod_v4 = c.deployment("v4", "prod").await;
    for (condition, expected) in [
        ("after:staging", DeploymentStatus::Planned),
        ("soak:staging", DeploymentStatus::Running),
    ] {
        let waiver = boreas_aws::store::Waiver {
            condition: condition.parse().unwrap(),
            reason: "staging is broken; verified by hand".to_owned(),
            by: "lead".to_owned(),
            at: rfc3339(SystemTime::now()),
        };
        assert!(c.store.put_waiver(&prod_v4.id, &waiver).await.unwrap());
        assert!(
            !c.run(&Recheck::new("promo", "prod", false).to_json(), 1)
                .await
        );
        assert_eq!(
            c.deployment("v4", "prod").await.status,
            expected,
            "waived {condition}"
        );
    }
}
