//! Router tests over the in-memory store. Step Functions is never reached here (the routes that
//! reach it are tested against the emulator in `tests/emulator.rs`); its client points at a
//! closed port so that an accidental call fails loudly.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use boreas_api_types as wire;
use boreas_aws::lifecycle::Lifecycle;
use boreas_aws::names::Names;
use boreas_aws::orchestrator::SfnOrchestrator;
use boreas_aws::secrets::{MemorySecrets, Secrets};
use boreas_aws::store::{
    Agent, ApiToken, MemoryStore, NewDeployment, PageRequest, Store, TargetProgress, TaskOutput,
    Transition, VersionRecord, rfc3339,
};
use boreas_core::deployment::DeploymentStatus;
use boreas_core::plan::{Plan, Stage};
use boreas_core::role::Role;
use boreas_core::status::{TargetStatus, VersionStatus};
use boreas_test_support::records::{agent, at, example_plan, fleet_plan, new_deployment, version};
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::routes::ROUTES;
use crate::{Api, ApiRequest, ApiResponse, handle};

const ADMIN_SECRET: &str = "bootstrap-admin-secret";

struct Fixture {
    api: Api,
    store: Arc<MemoryStore>,
    secrets: Arc<MemorySecrets>,
}

fn token(role: Role) -> String {
    format!("token-{role}")
}

async fn fixture() -> Fixture {
    let store = Arc::new(MemoryStore::new());
    for role in [Role::Viewer, Role::Deployer, Role::Approver, Role::Admin] {
        store
            .put_api_token(
                &token(role),
                &ApiToken::new(format!("{role}-bot"), role, "2026-11-29T09:00:00.000Z"),
            )
            .await
            .unwrap();
    }
    let names = Names::new("unit");
    let secrets = Arc::new(MemorySecrets::with([(
        names.admin_token_param().as_str(),
        ADMIN_SECRET,
    )]));
    let config = boreas_aws::sdk_config(Some("http://127.0.0.1:9")).await;
    let orchestrator = SfnOrchestrator::from_config(
        &config,
        "arn:aws:states:us-east-1:123456789012:stateMachine:unit-deployment",
        "unit-plans",
    );
    let api = Api::new(
        store.clone(),
        Arc::new(orchestrator),
        secrets.clone(),
        &names,
    );
    Fixture {
        api,
        store,
        secrets,
    }
}

async fn add_version(store: &MemoryStore, name: &str, commit: &str, second: u32) {
    store
        .put_version(&VersionRecord {
            status: VersionStatus::Planned,
            received_at: at(second),
            pushed_by: Some("octo".into()),
            ..version("shop", name, commit)
        })
        .await
        .unwrap();
}

async fn add_deployment(store: &MemoryStore, id: &str, version: &str, second: u32) {
    store
        .create_deployment(&NewDeployment {
            created_at: at(second),
            ..new_deployment(id, example_plan("staging", version))
        })
        .await
        .unwrap();
}

/// Answers `req`, holding the answer to the OpenAPI document.
async fn call(api: &Api, req: ApiRequest) -> ApiResponse {
    let res = handle(api, req.clone()).await;
    crate::conformance::check(&req, &res);
    res
}

fn get(path: &str, role: Role) -> ApiRequest {
    ApiRequest::new(Method::GET, path).bearer(&token(role))
}

async fn audit_len(store: &MemoryStore) -> usize {
    store
        .list_audit(&Default::default(), &PageRequest::first(1000))
        .await
        .unwrap()
        .items
        .len()
}

/// The newest audit entry: who, action, target.
async fn last_audit(store: &MemoryStore) -> (String, String, String) {
    let entry = store
        .list_audit(&Default::default(), &PageRequest::first(1))
        .await
        .unwrap()
        .items
        .remove(0);
    (entry.who, entry.action, entry.target)
}

/// A concrete path for a route template.
fn concrete(path: &str) -> String {
    path.replace("{repo}", "shop")
        .replace("{name}", "nothing")
        .replace("{id}", "no-such-deployment")
        .replace("{gate}", "api.0")
        .replace("{app}", "api")
        .replace("{target}", "web-1")
}

#[tokio::test]
async fn every_route_refuses_missing_wrong_and_insufficient_credentials() {
    let f = fixture().await;
    for route in ROUTES {
        let method = Method::from_bytes(route.method.as_bytes()).unwrap();
        let path = concrete(route.path);
        let Some(needed) = route.role else {
            let r = call(&f.api, ApiRequest::new(method, &path)).await;
            assert_eq!(r.status, StatusCode::OK, "{path} is public");
            continue;
        };
        let r = call(&f.api, ApiRequest::new(method.clone(), &path)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path} without token");
        assert_eq!(r.body["error"], "unauthorized");
        let r = call(
            &f.api,
            ApiRequest::new(method.clone(), &path).bearer("nope"),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{path} with a wrong token"
        );
        let mut basic = ApiRequest::new(method.clone(), &path);
        basic
            .headers
            .insert("authorization", "Basic dXNlcjpwdw==".parse().unwrap());
        assert_eq!(call(&f.api, basic).await.status, StatusCode::UNAUTHORIZED);
        for role in [Role::Viewer, Role::Deployer, Role::Approver, Role::Admin] {
            let r = call(
                &f.api,
                ApiRequest::new(method.clone(), &path).bearer(&token(role)),
            )
            .await;
            if role < needed {
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{path} as {role}");
                assert!(
                    r.body["message"]
                        .as_str()
                        .unwrap()
                        .contains(needed.as_str())
                );
            } else {
                assert!(
                    ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&r.status),
                    "{path} as {role}: {r:?}"
                );
            }
        }
        let r = call(&f.api, ApiRequest::new(method, &path).bearer(ADMIN_SECRET)).await;
        assert!(
            ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&r.status),
            "{path} with the bootstrap admin token: {r:?}"
        );
    }
    assert_eq!(audit_len(&f.store).await, 0, "refused calls write nothing");
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let f = fixture().await;
    let r = call(&f.api, get("/api/nothing", Role::Admin)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["error"], "not_found");
    let r = call(
        &f.api,
        ApiRequest::new(Method::DELETE, "/api/deployments/x").bearer(&token(Role::Admin)),
    )
    .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers, vec![("allow", "GET".to_owned())]);
    let http = r.into_http();
    assert_eq!(http.headers()["content-type"], "application/json");
    assert_eq!(http.headers()["allow"], "GET");
}

#[tokio::test]
async fn health_and_openapi_are_public() {
    let f = fixture().await;
    let r = call(&f.api, ApiRequest::new(Method::GET, "/api/health")).await;
    assert_eq!(r.body, json!({"status": "ok", "store": "ok"}));
    let r = call(&f.api, ApiRequest::new(Method::GET, "/api/openapi.json")).await;
    assert_eq!(r.body["openapi"], "3.1.0");
}

#[tokio::test]
async fn versions_list_in_pages_and_read_one() {
    let f = fixture().await;
    for i in 0..5 {
        add_version(&f.store, &format!("v{i}"), &format!("c{i}"), i).await;
    }
    let mut seen = Vec::new();
    let mut req = get("/api/versions", Role::Viewer).param("limit", "2");
    loop {
        let r = call(&f.api, req.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        seen.extend(
            r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["name"].as_str().unwrap().to_owned()),
        );
        match r.body["next_cursor"].as_str() {
            Some(c) => {
                req = get("/api/versions", Role::Viewer)
                    .param("limit", "2")
                    .param("cursor", c);
            }
            None => break,
        }
    }
    assert_eq!(seen, ["v4", "v3", "v2", "v1", "v0"]);
    let r = call(&f.api, get("/api/versions/shop/v2", Role::Viewer)).await;
    assert_eq!(r.body["commit"], "c2");
    assert_eq!(r.body["state"], "normal");
    assert_eq!(r.body["pushed_by"], "octo");
    let r = call(&f.api, get("/api/versions/shop/v9", Role::Viewer)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    for (name, value) in [
        ("limit", "0"),
        ("limit", "1001"),
        ("limit", "x"),
        ("cursor", "zz"),
    ] {
        let r = call(
            &f.api,
            get("/api/versions", Role::Viewer).param(name, value),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}={value}");
    }
    let r = call(
        &f.api,
        get("/api/versions", Role::Viewer).param("sort", "asc"),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["message"].as_str().unwrap().contains("\"sort\""));
}

#[tokio::test]
async fn deployments_filter_and_show_progress_without_task_tokens() {
    let f = fixture().await;
    add_deployment(&f.store, "d1", "v1", 1).await;
    add_deployment(&f.store, "d2", "v2", 2).await;
    f.store
        .transition_deployment("d2", &Transition::to(DeploymentStatus::Running, at(3)))
        .await
        .unwrap();
    f.store
        .put_target_progress(
            "d2",
            &TargetProgress {
                app: "db-migrate".into(),
                target: "db-staging-1".into(),
                status: TargetStatus::Succeeded,
                batch: 0,
                updated_at: at(4),
                error_type: None,
                error: None,
            },
        )
        .await
        .unwrap();
    f.store
        .put_gate("d2", "api.0", "secret-task-token")
        .await
        .unwrap();

    let r = call(
        &f.api,
        get("/api/deployments", Role::Viewer).param("status", "running"),
    )
    .await;
    let ids: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["d2"]);
    let r = call(
        &f.api,
        get("/api/deployments", Role::Viewer).param("env", "prod"),
    )
    .await;
    assert_eq!(r.body["items"], json!([]));
    let r = call(
        &f.api,
        get("/api/deployments", Role::Viewer).param("status", "done"),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["message"].as_str().unwrap().contains("planned"));

    let measured = boreas_aws::store::AnalysisRecord {
        app: "api".into(),
        batch: 0,
        check: "error-rate".into(),
        condition: "< 0.01".into(),
        measurements: vec![boreas_core::analysis::run::Taken {
            at: at(5),
            measurement: boreas_core::analysis::Measurement::Value {
                value: 0.042,
                samples: Some(120),
            },
            outcome: boreas_core::analysis::Outcome::Fail,
        }],
        verdict: Some(boreas_core::analysis::Outcome::Fail),
        message: Some("check error-rate failed: 0.042, wanted < 0.01".into()),
        updated_at: at(5),
    };
    assert!(f.store.put_analysis("d2", &measured, 0).await.unwrap());

    let r = call(&f.api, get("/api/deployments/d2", Role::Viewer)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body["analyses"],
        json!([{
            "app": "api",
            "batch": 0,
            "check": "error-rate",
            "condition": "< 0.01",
            "measurements": [{
                "at": at(5),
                "measurement": {"kind": "value", "value": 0.042, "samples": 120},
                "outcome": "fail",
            }],
            "verdict": "fail",
            "message": "check error-rate failed: 0.042, wanted < 0.01",
            "updated_at": at(5),
        }]),
        "every measurement is served with its batch"
    );
    assert_eq!(r.body["plan"]["environment"], "staging");
    assert_eq!(r.body["progress"]["targets"][0]["target"], "db-staging-1");
    assert_eq!(r.body["progress"]["gates"][0]["status"], "waiting");
    assert!(
        !r.body.to_string().contains("secret-task-token"),
        "task tokens never leave the api"
    );
    let r = call(&f.api, get("/api/deployments/nope", Role::Viewer)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_target_shows_what_its_hooks_printed_per_command() {
    let f = fixture().await;
    add_deployment(&f.store, "d1", "v1", 1).await;
    let output = |action: &str, text: &str, truncated: bool| TaskOutput {
        app: "api".into(),
        target: "web-1".into(),
        action: action.into(),
        output: text.into(),
        truncated,
        at: at(5),
    };
    for o in [
        output("deploy", "migrate: relation \"users\" exists\n", true),
        output("rollback", "stopped\n", false),
    ] {
        f.store.put_task_output("d1", &o).await.unwrap();
    }

    let r = call(
        &f.api,
        get("/api/deployments/d1/targets/api/web-1/output", Role::Viewer),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body["outputs"],
        json!([
            {"app": "api", "target": "web-1", "action": "deploy",
             "output": "migrate: relation \"users\" exists\n", "truncated": true, "at": at(5)},
            {"app": "api", "target": "web-1", "action": "rollback",
             "output": "stopped\n", "truncated": false, "at": at(5)},
        ])
    );
    // Another target of the same deployment printed nothing.
    let r = call(
        &f.api,
        get("/api/deployments/d1/targets/api/web-2/output", Role::Viewer),
    )
    .await;
    assert_eq!((r.status, &r.body["outputs"]), (StatusCode::OK, &json!([])));
    let r = call(
        &f.api,
        get(
            "/api/deployments/nope/targets/api/web-1/output",
            Role::Viewer,
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// A 1,000-app plan read a page at a time gives back every app once, in plan order; a stage
/// filter, a stage that does not exist and a stale cursor answer as documented.
#[tokio::test]
async fn a_large_plan_is_read_a_page_at_a_time() {
    let f = fixture().await;
    let mut fleet = fleet_plan("staging", 1000, 10);
    let second = fleet.stages[0].apps.split_off(600);
    fleet.stages.push(Stage {
        parallelism: 4,
        apps: second,
    });
    f.store
        .create_deployment(&new_deployment("big", fleet.clone()))
        .await
        .unwrap();

    let mut read = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut req = get("/api/deployments/big/plan/apps", Role::Viewer).param("limit", "300");
        if let Some(c) = &cursor {
            req = req.param("cursor", c);
        }
        let r = call(&f.api, req).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        let page: wire::List<wire::PlannedApp> = serde_json::from_value(r.body).unwrap();
        assert!(page.items.len() <= 300);
        pages += 1;
        read.extend(page.items.into_iter().map(|a| (a.stage, a.plan)));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let expected: Vec<_> = (0u32..)
        .zip(&fleet.stages)
        .flat_map(|(i, s)| s.apps.iter().map(move |a| (i, a.clone())))
        .collect();
    assert_eq!(pages, 4);
    assert_eq!(
        read, expected,
        "every app once, in plan order, with its stage"
    );

    let r = call(
        &f.api,
        get("/api/deployments/big/plan/apps", Role::Viewer)
            .param("stage", "1")
            .param("limit", "1000"),
    )
    .await;
    let page: wire::List<wire::PlannedApp> = serde_json::from_value(r.body).unwrap();
    assert_eq!(page.items.len(), 400);
    assert_eq!(page.items[0].plan.app, "app0600");
    assert_eq!(page.next_cursor, None);

    for (name, value, says) in [
        (
            "stage",
            "2",
            "stage 2 does not exist: the plan has 2 stage(s)",
        ),
        ("stage", "x", "stage \"x\" is not a whole number"),
        (
            "cursor",
            "app9999",
            "cursor \"app9999\" names no app of this plan",
        ),
    ] {
        let req = get("/api/deployments/big/plan/apps", Role::Viewer).param(name, value);
        let r = call(&f.api, req).await;
        let query = format!("{name}={value}");
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {r:?}");
        assert_eq!(r.body["error"], "bad_query");
        assert!(r.body["message"].as_str().unwrap().contains(says), "{r:?}");
    }
    let r = call(&f.api, get("/api/deployments/nope/plan/apps", Role::Viewer)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

fn plan_put(id: &str, body: &Value) -> ApiRequest {
    ApiRequest::new(Method::PUT, format!("/api/deployments/{id}/plan"))
        .bearer(&token(Role::Deployer))
        .json(body)
}

async fn stored_plan(store: &MemoryStore, id: &str) -> Plan {
    store.get_deployment(id).await.unwrap().unwrap().plan
}

#[tokio::test]
async fn plan_adjustments_are_validated_and_audited() {
    let f = fixture().await;
    add_deployment(&f.store, "d1", "v1", 1).await;
    let before = stored_plan(&f.store, "d1").await;

    // A rule violation: 422 naming the rule, nothing written.
    let bad = json!({"adjustments": [{"op": "move_app", "app": "web", "stage": 1}]});
    let r = call(&f.api, plan_put("d1", &bad)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    assert_eq!(r.body["error"], "dependency_order");
    assert!(r.body["message"].as_str().unwrap().contains("adjustment 0"));
    assert_eq!(stored_plan(&f.store, "d1").await, before);

    // Malformed JSON and unknown shapes: 400 naming the problem, nothing written.
    let mut req = plan_put("d1", &json!({}));
    req.body = b"{\"adjustments\": [".to_vec();
    let r = call(&f.api, req).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_json"))
    );
    assert!(r.body["message"].as_str().unwrap().contains("line 1"));
    let r = call(
        &f.api,
        plan_put("d1", &json!({"adjustments": [{"op": "paint"}]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["message"].as_str().unwrap().contains("paint"));
    let r = call(&f.api, plan_put("d1", &json!({"something": 1}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(stored_plan(&f.store, "d1").await, before);
    assert_eq!(audit_len(&f.store).await, 0);

    // A valid adjustment.
    let good = json!({"adjustments": [{"op": "set_pause", "app": "worker", "pause": "30s"}]});
    let r = call(&f.api, plan_put("d1", &good)).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let (_, worker) = serde_json::from_value::<Plan>(r.body["plan"].clone())
        .unwrap()
        .find_app("worker")
        .map(|(s, a)| (s, a.clone()))
        .unwrap();
    assert_eq!(worker.pause.to_string(), "30s");
    assert_eq!(
        last_audit(&f.store).await,
        (
            "deployer-bot".into(),
            "deployment.adjust".into(),
            "d1".into()
        )
    );

    // A whole plan: it may rebatch but not retarget.
    let mut whole: Plan = stored_plan(&f.store, "d1").await;
    whole.environment = "prod".into();
    let r = call(
        &f.api,
        plan_put("d1", &serde_json::to_value(&whole).unwrap()),
    )
    .await;
    assert_eq!(r.body["error"], "plan_identity");
    let mut whole: Plan = stored_plan(&f.store, "d1").await;
    whole.stages[0].parallelism = 0;
    let r = call(
        &f.api,
        plan_put("d1", &serde_json::to_value(&whole).unwrap()),
    )
    .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("parallelism"))
    );
    let unchanged: Plan = stored_plan(&f.store, "d1").await;
    let r = call(
        &f.api,
        plan_put("d1", &serde_json::to_value(&unchanged).unwrap()),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);

    // Only while planned.
    f.store
        .transition_deployment("d1", &Transition::to(DeploymentStatus::Cancelled, at(9)))
        .await
        .unwrap();
    let r = call(&f.api, plan_put("d1", &good)).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (StatusCode::CONFLICT, Some("illegal_transition"))
    );
    let r = call(&f.api, plan_put("nope", &good)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// A manual gate is an approver's decision: a deployer who turns one into a wait (or merges
/// batches so gates disappear) is refused, through adjustments and through a whole plan alike,
/// and nothing is written; an approver may, and the audit entry says what changed.
/// The planner's review is served with the deployment, with what a person's adjustments changed
/// against the proposal; an app's and a host's history are paged newest first.
#[tokio::test]
async fn a_review_shows_what_adjustments_changed_and_histories_page() {
    use boreas_aws::store::StoredReview;
    use boreas_core::review::{AppReason, Review, Why};
    let f = fixture().await;
    add_deployment(&f.store, "d1", "v1", 1).await;
    let r = call(&f.api, get("/api/deployments/d1", Role::Viewer)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.get("review").is_none(),
        "planned before reviews: {}",
        r.body
    );

    let proposal = stored_plan(&f.store, "d1").await;
    let apps: Vec<String> = proposal.apps().map(|a| a.app.clone()).collect();
    let review = Review {
        running: None,
        commits: Vec::new(),
        more_commits: 0,
        changed_paths: None,
        apps: apps
            .iter()
            .map(|app| AppReason {
                app: app.clone(),
                why: Why::FirstDeployment,
                skipped: None,
                paths: Vec::new(),
                matched_paths: 0,
            })
            .collect(),
    };
    let stored = StoredReview {
        review: review.clone(),
        proposal,
    };
    f.store.put_review("d1", &stored).await.unwrap();
    let r = call(&f.api, get("/api/deployments/d1", Role::Viewer)).await;
    let served: wire::PlanReview = serde_json::from_value(r.body["review"].clone()).unwrap();
    assert_eq!(served.review, review);
    assert_eq!(served.adjustments, Vec::<String>::new(), "not adjusted");

    // A person drops an app: the review says so against the proposal.
    let dropped = apps.last().unwrap().clone();
    let body = json!({"adjustments": [{"op": "drop_app", "app": dropped}]});
    let r = call(&f.api, plan_put("d1", &body)).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let r = call(&f.api, get("/api/deployments/d1", Role::Viewer)).await;
    let adjustments = r.body["review"]["adjustments"].as_array().unwrap();
    assert!(
        adjustments
            .iter()
            .any(|a| a.as_str() == Some(&format!("{dropped}: dropped"))),
        "{adjustments:?}"
    );

    // History: what the recorder wrote, newest first; an unknown app is 404.
    let d = f.store.get_deployment("d1").await.unwrap().unwrap();
    let (app_runs, host_runs) = boreas_aws::history::runs(&d, &Default::default());
    f.store
        .record_runs(&d, &app_runs, &host_runs)
        .await
        .unwrap();
    let first = &apps[0];
    let staging = get(&format!("/api/apps/{first}/history"), Role::Viewer)
        .param("env", "staging")
        .param("limit", "1");
    let r = call(&f.api, staging).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["items"][0]["deployment_id"], "d1");
    assert_eq!(r.body["items"][0]["version"], "v1");
    let r = call(
        &f.api,
        get(&format!("/api/apps/{first}/history"), Role::Viewer).param("env", "prod"),
    )
    .await;
    assert_eq!(r.body["items"], json!([]), "another environment");
    let r = call(&f.api, get("/api/apps/nothing/history", Role::Viewer)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body["message"].as_str().unwrap().contains("nothing"));
    let host = host_runs.first().expect("a PM host").clone();
    let r = call(
        &f.api,
        get(
            &format!("/api/hosts/staging/{}/history", host.host),
            Role::Viewer,
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["items"][0]["app"], host.app.as_str());
}

#[tokio::test]
async fn only_approvers_lift_manual_gates_and_the_audit_records_the_change() {
    let f = fixture().await;
    add_deployment(&f.store, "d1", "v1", 1).await;
    let before = stored_plan(&f.store, "d1").await;
    let as_role = |role: Role, body: &Value| {
        ApiRequest::new(Method::PUT, "/api/deployments/d1/plan")
            .bearer(&token(role))
            .json(body)
    };
    let lift = json!({"adjustments": [{"op": "set_pause", "app": "api", "pause": "1s"}]});
    let merge = json!({"adjustments": [{"op": "set_batches", "app": "api", "batches": ["100%"]}]});
    let mut whole = before.clone();
    for stage in &mut whole.stages {
        for app in stage.apps.iter_mut().filter(|a| a.app == "api") {
            app.pause = boreas_core::config::Pause::Wait(boreas_core::config::DurationSpec(1));
            let last = app.batches.len() - 1;
            for batch in &mut app.batches[..last] {
                batch.pause = boreas_core::plan::PausePlan::Wait { seconds: 1 };
            }
        }
    }
    let whole = serde_json::to_value(&whole).unwrap();
    for body in [&lift, &merge, &whole] {
        let r = call(&f.api, as_role(Role::Deployer, body)).await;
        assert_eq!(
            (r.status, r.body["error"].as_str()),
            (StatusCode::FORBIDDEN, Some("forbidden")),
            "{body}: {r:?}"
        );
        let message = r.body["message"].as_str().unwrap();
        assert!(message.contains("needs approver"), "{message}");
        assert!(message.contains("app \"api\""), "{message}");
    }
    assert_eq!(stored_plan(&f.store, "d1").await, before);
    assert_eq!(audit_len(&f.store).await, 0);

    // Adding a gate is any deployer's right.
    let add = json!({"adjustments": [{"op": "set_pause", "app": "worker", "pause": "manual"}]});
    let r = call(&f.api, as_role(Role::Deployer, &add)).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");

    let r = call(&f.api, as_role(Role::Approver, &lift)).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let audit = f
        .store
        .list_audit(&Default::default(), &PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(audit[0].action, "deployment.adjust");
    assert_eq!(audit[0].detail, ["api: pause manual -> 1s"]);
    assert_eq!(audit[1].detail, ["worker: pause 5m -> manual"]);
    let listed = call(&f.api, get("/api/audit", Role::Admin)).await;
    assert_eq!(
        listed.body["items"][0]["detail"],
        json!(["api: pause manual -> 1s"])
    );
    // By time: everything so far is before a minute from now, nothing after it.
    let later = rfc3339(SystemTime::now() + Duration::from_secs(60));
    let before = call(
        &f.api,
        get("/api/audit", Role::Viewer).param("until", &later),
    )
    .await;
    assert_eq!(before.body["items"], listed.body["items"]);
    let after = call(
        &f.api,
        get("/api/audit", Role::Viewer).param("since", &later),
    )
    .await;
    assert_eq!(after.body["items"], json!([]));
    for (name, value, says) in [
        ("since", "yesterday", "is not an RFC 3339 date-time"),
        (
            "until",
            "2026-02-30T00:00:00Z",
            "is not an RFC 3339 date-time",
        ),
    ] {
        let r = call(&f.api, get("/api/audit", Role::Viewer).param(name, value)).await;
        assert_eq!(r.body["error"], "bad_query", "{r:?}");
        assert!(r.body["message"].as_str().unwrap().contains(says), "{r:?}");
    }
    let r = call(
        &f.api,
        get("/api/audit", Role::Viewer)
            .param("since", &later)
            .param("until", &later),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body["message"].as_str().unwrap().contains("is empty"),
        "{r:?}"
    );
}

#[tokio::test]
async fn cancelling_a_planned_deployment_and_illegal_cancels() {
    let f = fixture().await;
    add_deployment(&f.store, "d1", "v1", 1).await;
    let cancel = || {
        ApiRequest::new(Method::POST, "/api/deployments/d1/cancel").bearer(&token(Role::Deployer))
    };
    let r = call(&f.api, cancel()).await;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (StatusCode::OK, Some("cancelled"))
    );
    let r = call(&f.api, cancel()).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(audit_len(&f.store).await, 1);
}

#[tokio::test]
async fn failed_hosts_of_a_deployment_that_is_not_running_are_not_decided() {
    let f = fixture().await;
    add_deployment(&f.store, "d1", "v1", 1).await;
    f.store
        .put_host_decision(
            "d1",
            &boreas_aws::store::HostDecision::waiting("api", "h1", 0, 0, "tok"),
        )
        .await
        .unwrap();
    let r = call(
        &f.api,
        ApiRequest::new(Method::POST, "/api/deployments/d1/targets/api/h1/decision")
            .bearer(&token(Role::Approver))
            .json(&json!({"action": "skip"})),
    )
    .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (StatusCode::CONFLICT, Some("not_running"))
    );
    let stored = f.store.get_host_decision("d1", "api", "h1").await.unwrap();
    assert_eq!(stored.unwrap().action, None, "nothing decided");
    assert_eq!(audit_len(&f.store).await, 0);
}

/// Step Functions cannot be reached when an approver answers: the answer is recorded (and
/// audited once) but not delivered, so the same answer again is sent again instead of being
/// refused as already decided; another answer is refused.
#[tokio::test]
async fn an_answer_that_did_not_reach_the_execution_is_sent_again_when_repeated() {
    let f = fixture().await;
    add_deployment(&f.store, "d1", "v1", 1).await;
    f.store
        .transition_deployment("d1", &Transition::to(DeploymentStatus::Running, at(2)))
        .await
        .unwrap();
    f.store.put_gate("d1", "api.0", "gate-token").await.unwrap();
    f.store
        .put_host_decision(
            "d1",
            &boreas_aws::store::HostDecision::waiting("api", "h1", 0, 0, "decision-token"),
        )
        .await
        .unwrap();
    let post = |path: &str, body: Value| {
        ApiRequest::new(Method::POST, path)
            .bearer(&token(Role::Approver))
            .json(&body)
    };
    let retry = || {
        post(
            "/api/deployments/d1/targets/api/h1/decision",
            json!({"action": "retry"}),
        )
    };
    let approve = || post("/api/deployments/d1/gates/api.0/approve", json!({}));
    for (first, again) in [(retry(), retry()), (approve(), approve())] {
        // Step Functions (127.0.0.1:9) refuses the connection: not delivered.
        let r = call(&f.api, first).await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{r:?}");
        let r = call(&f.api, again).await;
        assert_eq!(
            r.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "sent again, not refused: {r:?}"
        );
    }
    let r = call(
        &f.api,
        post(
            "/api/deployments/d1/targets/api/h1/decision",
            json!({"action": "skip"}),
        ),
    )
    .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (StatusCode::CONFLICT, Some("decided"))
    );
    let r = call(
        &f.api,
        post("/api/deployments/d1/gates/api.0/reject", json!({})),
    )
    .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (StatusCode::CONFLICT, Some("gate_decided"))
    );
    let decision = f.store.get_host_decision("d1", "api", "h1").await.unwrap();
    assert_eq!(
        decision.unwrap().action,
        Some(boreas_core::status::FailureAction::Retry)
    );
    let actions: Vec<String> = f
        .store
        .list_audit(&Default::default(), &PageRequest::first(10))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(
        actions,
        ["gate.approve", "target.retry"],
        "audited once each"
    );
}

#[tokio::test]
async fn gates_of_a_deployment_that_is_not_running_are_not_decided() {
    let f = fixture().await;
    add_deployment(&f.store, "d1", "v1", 1).await;
    f.store.put_gate("d1", "api.0", "tok").await.unwrap();
    let approve = |gate: &str| {
        ApiRequest::new(
            Method::POST,
            format!("/api/deployments/d1/gates/{gate}/approve"),
        )
        .bearer(&token(Role::Approver))
        .json(&json!({"comment": "fine"}))
    };
    let r = call(&f.api, approve("api.0")).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (StatusCode::CONFLICT, Some("not_running"))
    );
    let r = call(&f.api, approve("api.9")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = call(&f.api, approve("api.0").json(&json!({"comment": 5}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let gate = f.store.get_gate("d1", "api.0").await.unwrap().unwrap();
    assert_eq!(gate.status.as_str(), "waiting", "nothing decided");
}

#[tokio::test]
async fn tokens_are_created_once_and_work_with_their_role() {
    let f = fixture().await;
    let create = |body: Value| {
        ApiRequest::new(Method::POST, "/api/tokens")
            .bearer(ADMIN_SECRET)
            .json(&body)
    };
    let r = call(&f.api, create(json!({"name": "ci", "role": "deployer"}))).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let secret = r.body["token"].as_str().unwrap().to_owned();
    let grant = f.store.get_api_token(&secret).await.unwrap().unwrap();
    assert_eq!((grant.name.as_str(), grant.role), ("ci", Role::Deployer));
    let r = call(
        &f.api,
        get("/api/deployments", Role::Viewer).bearer(&secret),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(
        &f.api,
        create(json!({"name": "x", "role": "root"})).bearer(&secret),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let before = audit_len(&f.store).await;
    for bad in [
        json!({"name": "x", "role": "root"}),
        json!({"name": "", "role": "viewer"}),
        json!({"role": "viewer"}),
    ] {
        let r = call(&f.api, create(bad.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(audit_len(&f.store).await, before);
    let audit = f
        .store
        .list_audit(&Default::default(), &PageRequest::first(1))
        .await
        .unwrap()
        .items;
    assert_eq!(
        (audit[0].who.as_str(), audit[0].action.as_str()),
        ("admin", "token.create")
    );
    assert!(!audit[0].target.contains(&secret));
}

fn register(body: &Value) -> ApiRequest {
    ApiRequest::new(Method::POST, "/api/repositories")
        .bearer(&token(Role::Admin))
        .json(body)
}

/// A GitHub, a nested GitLab and a GitHub Enterprise repository of the same full name as the
/// first: each registered under its provider's full name and host, found again through its
/// percent-encoded id, its secret and token in SSM only; removal keeps its versions.
#[tokio::test]
async fn repositories_register_under_their_full_name_and_host() {
    let f = fixture().await;
    let shop = json!({
        "full_name": "Acme/Shop", "provider": "github",
        "clone_url": "https://github.com/Acme/Shop.git", "triggers": ["refs/tags/v*"],
        "credential": {"kind": "token", "token": "github_pat_SECRET0123456789"}
    });
    let mut req = register(&shop);
    req.headers
        .insert(http::header::HOST, "abc.example.com".parse().unwrap());
    let r = call(&f.api, req).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["id"], "github.com/acme/shop");
    assert_eq!(r.body["full_name"], "Acme/Shop");
    assert_eq!(
        r.body["webhook_url"],
        "https://abc.example.com/webhooks/github"
    );
    let secret = r.body["webhook_secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 64, "32 random bytes, hex");
    assert!(
        r.body["setup"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["field"] == "Content type" && f["value"] == "application/json"),
        "{}",
        r.body
    );
    assert_eq!(r.body["credential"]["username"], "x-access-token");
    let param = r.body["secret_param"].as_str().unwrap();
    let cred_param = r.body["credential"]["param"].as_str().unwrap();
    let stored = |name: &str| {
        let secrets = f.secrets.clone();
        let name = name.to_owned();
        async move { secrets.get(&name).await.unwrap().expose().to_owned() }
    };
    assert_eq!(stored(param).await, secret);
    assert_eq!(stored(cred_param).await, "github_pat_SECRET0123456789");
    let record = f
        .store
        .get_repository("github.com/acme/shop")
        .await
        .unwrap()
        .unwrap();
    let record_text = format!("{record:?}");
    assert!(!record_text.contains(&secret) && !record_text.contains("SECRET0123"));

    let nested = json!({
        "full_name": "group/sub/sub2/app", "provider": "gitlab",
        "clone_url": "https://gitlab.example.com/group/sub/sub2/app.git"
    });
    let r = call(&f.api, register(&nested)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["id"], "gitlab.example.com/group/sub/sub2/app");
    let ghes = json!({
        "full_name": "Acme/Shop", "provider": "github",
        "clone_url": "https://ghe.example.com/Acme/Shop.git"
    });
    let r = call(&f.api, register(&ghes)).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "another host, another repository"
    );
    assert_ne!(r.body["webhook_secret"].as_str(), Some(secret.as_str()));
    let r = call(&f.api, register(&shop)).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(
        stored(param).await,
        secret,
        "a refused registration changes nothing"
    );

    let one = "/api/repositories/gitlab.example.com%2Fgroup%2Fsub%2Fsub2%2Fapp";
    let r = call(&f.api, get(one, Role::Viewer)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["full_name"], "group/sub/sub2/app");
    assert!(r.body.get("webhook_secret").is_none());
    let r = call(&f.api, get("/api/repositories", Role::Viewer)).await;
    let ids: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "ghe.example.com/acme/shop",
            "github.com/acme/shop",
            "gitlab.example.com/group/sub/sub2/app"
        ]
    );
    assert!(!r.body.to_string().contains(&secret));

    add_version(&f.store, "v1", "c1", 1).await;
    let version_before = f.store.get_version("shop", "v1").await.unwrap();
    let r = call(
        &f.api,
        ApiRequest::new(Method::DELETE, "/api/repositories/github.com%2Facme%2Fshop")
            .bearer(&token(Role::Admin)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!f.secrets.contains(param) && !f.secrets.contains(cred_param));
    assert!(
        f.store
            .get_repository("github.com/acme/shop")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        f.store.get_version("shop", "v1").await.unwrap(),
        version_before
    );
    let r = call(
        &f.api,
        ApiRequest::new(Method::DELETE, "/api/repositories/github.com%2Facme%2Fshop")
            .bearer(&token(Role::Admin)),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = call(&f.api, register(&shop).bearer(&token(Role::Deployer))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

/// Every invalid registration is 400 naming the field, and stores nothing.
#[tokio::test]
async fn registration_refuses_invalid_fields_naming_them() {
    let f = fixture().await;
    let base = json!({
        "full_name": "acme/shop", "provider": "github",
        "clone_url": "https://github.com/acme/shop.git"
    });
    let with = |field: &str, value: Value| {
        let mut v = base.clone();
        v[field] = value;
        v
    };
    let cases = [
        (with("provider", json!("svn")), "provider"),
        (with("full_name", json!("shop")), "full_name"),
        (with("full_name", json!("a/b/c")), "full_name"),
        (with("full_name", json!("acme/sh op")), "full_name"),
        (
            with("clone_url", json!("git@github.com:acme/shop.git")),
            "clone_url",
        ),
        (
            with("clone_url", json!("https://u:p@github.com/acme/shop.git")),
            "clone_url",
        ),
        (
            with("clone_url", json!("http://github.com/acme/shop.git")),
            "clone_url",
        ),
        (with("host", json!("not a host")), "host"),
        (with("triggers", json!(["v*"])), "triggers[0]"),
        (
            with("triggers", json!(["refs/tags/v1", "refs/tags/v["])),
            "triggers[1]",
        ),
        (with("triggers", json!(["refs/heads/a..b"])), "triggers[0]"),
        (with("webhook_secret", json!("short")), "webhook_secret"),
        (
            with("credential", json!({"kind": "token", "token": ""})),
            "credential.token",
        ),
        (
            with(
                "credential",
                json!({"kind": "github_app", "app_id": 1, "private_key": "not a key"}),
            ),
            "credential.private_key",
        ),
        (with("extra", json!(1)), "extra"),
    ];
    for (body, field) in cases {
        let r = call(&f.api, register(&body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        let message = r.body["message"].as_str().unwrap();
        assert!(message.contains(field), "{field}: {message}");
        assert!(!message.contains("github_pat"), "{message}");
    }
    let gitlab_app = json!({
        "full_name": "g/app", "provider": "gitlab", "clone_url": "https://gitlab.com/g/app.git",
        "credential": {"kind": "github_app", "app_id": 1, "private_key": "x"}
    });
    let r = call(&f.api, register(&gitlab_app)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("credential.kind")
    );
    assert!(f.store.list_repositories().await.unwrap().is_empty());
    assert_eq!(f.secrets.values(), [ADMIN_SECRET], "no parameter written");
    assert_eq!(audit_len(&f.store).await, 0);
}

/// Rotation answers a new secret once, keeps the old one's version for the grace period asked,
/// and refuses a grace period over 30 days.
#[tokio::test]
async fn rotation_records_the_previous_secret_for_its_grace_period() {
    let f = fixture().await;
    let body = json!({
        "full_name": "acme/shop", "provider": "gitea",
        "clone_url": "https://gitea.example.com/acme/shop.git"
    });
    let r = call(&f.api, register(&body)).await;
    let first = r.body["webhook_secret"].as_str().unwrap().to_owned();
    let param = r.body["secret_param"].as_str().unwrap().to_owned();
    let rotate = |grace: Value| {
        ApiRequest::new(
            Method::POST,
            "/api/repositories/gitea.example.com%2Facme%2Fshop/rotate-secret",
        )
        .bearer(&token(Role::Admin))
        .json(&grace)
    };
    let r = call(&f.api, rotate(json!({"grace_seconds": 3600}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let second = r.body["webhook_secret"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert!(r.body["previous_secret_until"].is_string());
    assert_eq!(f.secrets.get(&param).await.unwrap().expose(), second);
    let record = f
        .store
        .get_repository("gitea.example.com/acme/shop")
        .await
        .unwrap()
        .unwrap();
    let old = record
        .previous_secret_param(&rfc3339(SystemTime::now()))
        .unwrap();
    assert_eq!(f.secrets.get(&old).await.unwrap().expose(), first);
    let later = rfc3339(SystemTime::now() + Duration::from_secs(3601));
    assert_eq!(record.previous_secret_param(&later), None);

    let r = call(&f.api, rotate(json!({"grace_seconds": 2_592_001}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(f.secrets.get(&param).await.unwrap().expose(), second);
    let r = call(&f.api, rotate(json!({"grace_seconds": 0}))).await;
    assert_eq!(r.status, StatusCode::OK);
    let record = f
        .store
        .get_repository("gitea.example.com/acme/shop")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.previous_secret_param(&rfc3339(SystemTime::now())),
        None
    );
}

/// A token is created once, used, listed without its secret, and refused once expired or
/// revoked.
#[tokio::test]
async fn tokens_are_listed_expire_and_are_revoked() {
    let f = fixture().await;
    let admin = |req: ApiRequest| req.bearer(ADMIN_SECRET);
    let r = call(
        &f.api,
        admin(ApiRequest::new(Method::POST, "/api/tokens"))
            .json(&json!({"name": "ci", "role": "viewer", "expires_in_seconds": 7_776_000})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let secret = r.body["token"].as_str().unwrap().to_owned();
    assert!(r.body["expires_at"].is_string());
    let r = call(
        &f.api,
        get("/api/deployments", Role::Viewer).bearer(&secret),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(&f.api, admin(ApiRequest::new(Method::GET, "/api/tokens"))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.body.to_string().contains(&secret));
    let ci = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ci")
        .unwrap()
        .clone();
    assert_eq!(ci["role"], "viewer");
    assert!(ci["last_used"].is_string(), "{ci}");
    assert_eq!(ci["expired"], false);

    let r = call(
        &f.api,
        admin(ApiRequest::new(Method::POST, "/api/tokens"))
            .json(&json!({"name": "ci", "role": "admin"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    let mut expired = ApiToken::new("old", Role::Admin, at(1));
    expired.expires = Some(at(2));
    f.store.put_api_token("old-secret", &expired).await.unwrap();
    let r = call(
        &f.api,
        get("/api/deployments", Role::Viewer).bearer("old-secret"),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body["message"].as_str().unwrap().contains("expired"));

    let r = call(
        &f.api,
        admin(ApiRequest::new(Method::DELETE, "/api/tokens/ci")),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = call(
        &f.api,
        get("/api/deployments", Role::Viewer).bearer(&secret),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "revoked at the next request"
    );
    let r = call(
        &f.api,
        admin(ApiRequest::new(Method::DELETE, "/api/tokens/ci")),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

fn inventory(apps: &[(&str, &str)]) -> Value {
    Value::Array(
        apps.iter()
            .map(|(app, v)| json!({"app": app, "version": v, "healthy": true}))
            .collect(),
    )
}

async fn add_agent(store: &MemoryStore, host: &str, last_seen: SystemTime, apps: &[(&str, &str)]) {
    store
        .upsert_agent(&Agent {
            last_seen: rfc3339(last_seen),
            observed_at: rfc3339(last_seen),
            // A 30 s heartbeat: two intervals and the slack.
            live_until: Some(rfc3339(last_seen + Duration::from_secs(75))),
            apps: inventory(apps),
            ..agent("staging", host, "g")
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn apps_show_desired_version_coverage_and_drift() {
    let f = fixture().await;
    add_version(&f.store, "v1", "c1", 1).await;
    add_version(&f.store, "v2", "c2", 2).await;
    add_version(&f.store, "v3", "c3", 3).await;
    add_deployment(&f.store, "d1", "v1", 1).await;
    add_deployment(&f.store, "d2", "v2", 2).await;
    add_deployment(&f.store, "d3", "v3", 3).await;
    // The outcomes arrive out of order: d1's success never replaces d2's.
    for id in ["d2", "d1"] {
        f.store
            .transition_deployment(id, &Transition::to(DeploymentStatus::Running, at(5)))
            .await
            .unwrap();
        Lifecycle::new(f.store.as_ref())
            .finish(id, DeploymentStatus::Succeeded, None)
            .await
            .unwrap();
    }
    let now = SystemTime::now();
    add_agent(&f.store, "api-staging-1", now, &[("api", "v2")]).await;
    add_agent(&f.store, "api-staging-2", now, &[("api", "v1")]).await;
    add_agent(
        &f.store,
        "api-staging-3",
        now - Duration::from_secs(3600),
        &[("api", "v3")],
    )
    .await;

    let r = call(&f.api, get("/api/apps/api", Role::Viewer)).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let env = &r.body["environments"][0];
    assert_eq!(env["environment"], "staging");
    assert_eq!(
        env["desired_version"], "v2",
        "newest succeeded, not the planned v3"
    );
    assert_eq!(env["desired_deployment"], "d2");
    assert_eq!(env["targets"], 3);
    assert_eq!(env["covered"], 2, "v2 and the newer v3");
    assert!((env["coverage"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(
        env["drifted"],
        json!([{"target": "api-staging-2", "version": "v1"}, {"target": "api-staging-3", "version": "v3"}])
    );
    assert_eq!(env["unreported"], json!([]));

    let r = call(&f.api, get("/api/apps/web", Role::Viewer)).await;
    let env = &r.body["environments"][0];
    assert_eq!(
        (env["targets"].as_u64(), env["covered"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(env["unreported"], json!(["staging-eu"]));
    assert_eq!(env["coverage"], 0.0);

    let r = call(&f.api, get("/api/apps/nothing", Role::Viewer)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = call(&f.api, get("/api/apps", Role::Viewer).param("limit", "3")).await;
    let names: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["api", "db-migrate", "web"]);
    let cursor = r.body["next_cursor"].as_str().unwrap();
    let r = call(
        &f.api,
        get("/api/apps", Role::Viewer)
            .param("limit", "3")
            .param("cursor", cursor),
    )
    .await;
    let names: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["worker"]);
    assert_eq!(r.body["next_cursor"], Value::Null);

    let r = call(&f.api, get("/api/agents", Role::Viewer)).await;
    let stale: Vec<(&str, bool, bool)> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["host"].as_str().unwrap(),
                a["stale"].as_bool().unwrap(),
                a["unreachable"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        stale,
        [
            ("api-staging-1", false, false),
            ("api-staging-2", false, false),
            ("api-staging-3", true, true)
        ]
    );
    assert_eq!(r.body["items"][0]["apps"][0]["version"], "v2");
    // Paged by the store, in the same order.
    let first = call(&f.api, get("/api/agents", Role::Viewer).param("limit", "2")).await;
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let rest = call(
        &f.api,
        get("/api/agents", Role::Viewer)
            .param("limit", "2")
            .param("cursor", cursor),
    )
    .await;
    let hosts: Vec<&Value> = [&first, &rest]
        .iter()
        .flat_map(|r| r.body["items"].as_array().unwrap())
        .map(|a| &a["host"])
        .collect();
    assert_eq!(hosts, ["api-staging-1", "api-staging-2", "api-staging-3"]);
    assert_eq!(rest.body["next_cursor"], Value::Null);
    let r = call(
        &f.api,
        get("/api/agents", Role::Viewer).param("env", "prod"),
    )
    .await;
    assert_eq!(r.body["items"], json!([]));
}

#[tokio::test]
async fn queries_decode_and_lambda_style_requests_convert() {
    let (parts, ()) = http::Request::builder()
        .method("GET")
        .uri("/api/versions/shop/release%2F1.0?limit=5&repo=my+shop&cursor=a%3Db")
        .header("authorization", "Bearer t")
        .body(())
        .unwrap()
        .into_parts();
    let req = ApiRequest::from_http(&parts, Vec::new());
    assert_eq!(req.path, "/api/versions/shop/release%2F1.0");
    assert_eq!(
        req.query,
        [
            ("limit".into(), "5".into()),
            ("repo".into(), "my shop".into()),
            ("cursor".into(), "a=b".into())
        ]
    );
    let f = fixture().await;
    f.store
        .put_version(&VersionRecord {
            received_at: at(1),
            ..version("shop", "release/1.0", "c")
        })
        .await
        .unwrap();
    let (parts, body) = http::Request::builder()
        .uri("/api/versions/shop/release%2F1.0")
        .header("authorization", format!("Bearer {}", token(Role::Viewer)))
        .body(lambda_http::Body::Empty)
        .unwrap()
        .into_parts();
    let response = crate::handle_lambda(&f.api, http::Request::from_parts(parts, body))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    assert_eq!(body["name"], "release/1.0");
}

#[test]
#[should_panic(expected = "does not list")]
fn the_conformance_check_refuses_an_undocumented_status() {
    let req = ApiRequest::new(Method::GET, "/api/versions/shop/v1");
    let res = ApiResponse::with_status(
        StatusCode::CONFLICT,
        json!({"error": "conflict", "message": "m"}),
    );
    crate::conformance::check(&req, &res);
}

#[test]
#[should_panic(expected = "does not describe")]
fn the_conformance_check_refuses_a_body_unlike_the_schema() {
    let req = ApiRequest::new(Method::GET, "/api/health");
    let res = ApiResponse::ok(json!({"status": "ok", "storage": "ok"}));
    crate::conformance::check(&req, &res);
}

#[tokio::test]
async fn every_route_refuses_a_query_parameter_it_does_not_take() {
    let f = fixture().await;
    add_deployment(&f.store, "d1", "v1", 1).await;
    let r = call(
        &f.api,
        get("/api/deployments/d1", Role::Viewer).param("verbose", "1"),
    )
    .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_query"))
    );
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .ends_with("this route takes no query parameters"),
        "{r:?}"
    );
    let r = call(
        &f.api,
        ApiRequest::new(Method::POST, "/api/deployments/d1/cancel")
            .bearer(&token(Role::Deployer))
            .param("force", "true"),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let d = f.store.get_deployment("d1").await.unwrap().unwrap();
    assert_eq!(d.status, DeploymentStatus::Planned, "nothing was done");
    let r = call(
        &f.api,
        get("/api/agents", Role::Viewer).param("repo", "shop"),
    )
    .await;
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .ends_with("this route takes env, limit, cursor"),
        "{r:?}"
    );
}

/// A failing AWS call is logged, not shown: the caller (here unauthenticated, on the health check,
/// and authenticated, on a read) gets the code and a short message, no SDK detail.
#[tokio::test]
async fn server_errors_answer_a_code_and_a_short_message_without_aws_detail() {
    let f = fixture().await;
    let config = boreas_aws::sdk_config(Some("http://127.0.0.1:9")).await;
    let store = Arc::new(boreas_aws::store::DynamoStore::from_config(
        &config,
        "unit-unreachable".to_owned(),
    ));
    let api = Api::new(
        store,
        Arc::new(SfnOrchestrator::from_config(
            &config,
            "arn:aws:states:us-east-1:123456789012:stateMachine:unit-deployment",
            "unit-plans",
        )),
        f.secrets.clone(),
        &Names::new("unit"),
    );
    for req in [
        ApiRequest::new(Method::GET, "/api/health"),
        get("/api/deployments", Role::Viewer),
    ] {
        let r = call(&api, req).await;
        assert!(r.status.is_server_error(), "{r:?}");
        let message = r.body["message"].as_str().unwrap();
        for detail in [
            "127.0.0.1",
            "dispatch",
            "connect",
            "unit-unreachable",
            "dynamodb",
        ] {
            assert!(!message.to_lowercase().contains(detail), "{message}");
        }
        assert!(
            r.body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{r:?}"
        );
    }
}

#[tokio::test]
async fn notification_defaults_are_read_by_anyone_and_replaced_by_an_admin_only() {
    let f = fixture().await;
    let path = "/api/notifications/defaults";
    let put = |role: Role, body: &Value| {
        ApiRequest::new(Method::PUT, path)
            .bearer(&token(role))
            .json(body)
    };
    let r = call(&f.api, get(path, Role::Viewer)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body,
        json!({"rules": [], "updated_at": null, "updated_by": null})
    );

    let rules = json!({"rules": [
        {"sink": "team-chat", "events": ["gate_waiting", "failed"], "environments": ["prod"]},
        {"sink": "git"},
    ]});
    let r = call(&f.api, put(Role::Approver, &rules)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let before = audit_len(&f.store).await;
    for (bad, says) in [
        (
            json!({"rules": [{"sink": "Team Chat"}]}),
            "rules[0].sink: \"Team Chat\" is not a valid sink name",
        ),
        (
            json!({"rules": [{"sink": "git", "events": []}]}),
            "rules[0].events: list at least one event",
        ),
        (
            json!({"rules": [{"sink": "git"}, {"sink": "git"}]}),
            "rules[1]: the same as an earlier rule",
        ),
        (
            json!({"rules": [{"sink": "git", "events": ["succeded"]}]}),
            "succeded",
        ),
        (
            json!({"rules": [{"sink": "git", "channel": "x"}]}),
            "channel",
        ),
        (json!({"rule": []}), "rule"),
        (
            json!({"rules": [{"sink": "git", "events": null}]}),
            "expected a sequence",
        ),
        (
            json!({"rules": [{"sink": "git", "environments": []}]}),
            "list at least one",
        ),
    ] {
        let r = call(&f.api, put(Role::Admin, &bad)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
        assert!(
            r.body["message"].as_str().unwrap().contains(says),
            "{bad}: {}",
            r.body
        );
    }
    assert_eq!(audit_len(&f.store).await, before, "refusals change nothing");
    assert_eq!(f.store.notification_defaults().await.unwrap(), None);

    let r = call(&f.api, put(Role::Admin, &rules)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["rules"], rules["rules"]);
    assert_eq!(r.body["updated_by"], "admin-bot");
    let stored = f.store.notification_defaults().await.unwrap().unwrap();
    assert_eq!(stored.rules.len(), 2);
    assert_eq!(stored.rules[0].environments, ["prod"]);
    let r = call(&f.api, get(path, Role::Viewer)).await;
    assert_eq!(r.body["rules"], rules["rules"]);
    assert_eq!(
        last_audit(&f.store).await,
        (
            "admin-bot".into(),
            "notify.defaults".into(),
            "2 rules: team-chat, git".into()
        )
    );
    // An empty list clears them.
    let r = call(&f.api, put(Role::Admin, &json!({"rules": []}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        f.store
            .notification_defaults()
            .await
            .unwrap()
            .unwrap()
            .rules
            .is_empty()
    );
}

/// The shop's example with prod after staging (1h soak) and a weekend freeze, recorded for v1;
/// one planned prod deployment of it.
async fn policy_fixture() -> Fixture {
    use boreas_aws::store::Repository;
    let f = fixture().await;
    f.store
        .put_repository(&Repository {
            id: "shop".into(),
            full_name: "acme/shop".into(),
            host: "github.com".into(),
            clone_url: "https://github.com/acme/shop.git".into(),
            provider: boreas_core::webhook::Provider::GitHub,
            secret_param: "/unit/webhook-secrets/shop".into(),
            previous_secret: None,
            credential: None,
            triggers: Vec::new(),
            created_at: at(0),
        })
        .await
        .unwrap();
    add_version(&f.store, "v1", "c1", 1).await;
    let source = boreas_test_support::records::example("environment-policy.yaml");
    f.store
        .put_version_config("shop", "v1", &source)
        .await
        .unwrap();
    f.store
        .create_deployment(&NewDeployment {
            created_at: at(2),
            ..new_deployment("dep-prod", example_plan("prod", "v1"))
        })
        .await
        .unwrap();
    f
}

fn post(path: &str, role: Role, body: &Value) -> ApiRequest {
    ApiRequest::new(Method::POST, path)
        .bearer(&token(role))
        .json(body)
}

#[tokio::test]
async fn a_held_confirm_says_why_and_approvers_waive_conditions_one_at_a_time() {
    let f = policy_fixture().await;
    let r = call(
        &f.api,
        post(
            "/api/deployments/dep-prod/confirm",
            Role::Deployer,
            &json!({}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{r:?}");
    assert_eq!(r.body["error"], "held");
    let message = r.body["message"].as_str().unwrap();
    assert!(
        message.contains("waits for staging: not deployed there yet"),
        "{message}"
    );
    let detail = call(&f.api, get("/api/deployments/dep-prod", Role::Viewer)).await;
    assert_eq!(detail.body["status"], "planned");
    assert_eq!(
        detail.body["policy"]["hold"]["reasons"][0],
        "waits for staging: not deployed there yet"
    );

    let waive = |condition: &str, reason: &str| {
        post(
            "/api/deployments/dep-prod/waivers",
            Role::Approver,
            &json!({"condition": condition, "reason": reason}),
        )
    };
    let r = call(&f.api, waive("soak:qa", "x")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["error"], "unknown_condition");
    assert_eq!(
        r.body["message"],
        "soak:qa is not a condition of prod's promotion; its conditions: after:staging, soak:staging"
    );
    assert_eq!(
        call(&f.api, waive("during:staging", "x")).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        call(&f.api, waive("after:staging", "  ")).await.status,
        StatusCode::BAD_REQUEST
    );
    let r = call(
        &f.api,
        waive("after:staging", "staging is down; verified by hand"),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.body["by"], "approver-bot");
    assert_eq!(
        call(&f.api, waive("after:staging", "again")).await.body["error"],
        "already_waived"
    );
    assert_eq!(
        last_audit(&f.store).await,
        (
            "approver-bot".into(),
            "deployment.waive".into(),
            "dep-prod: after:staging: staging is down; verified by hand".into()
        )
    );
    // The soak still holds it: a waiver lifts only what it names.
    let r = call(
        &f.api,
        post(
            "/api/deployments/dep-prod/confirm",
            Role::Deployer,
            &json!({}),
        ),
    )
    .await;
    assert_eq!(r.body["error"], "held");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("no success there to soak from")
    );
    let detail = call(&f.api, get("/api/deployments/dep-prod", Role::Viewer)).await;
    assert_eq!(
        detail.body["policy"]["waivers"][0]["condition"],
        "after:staging"
    );
}

#[tokio::test]
async fn freeze_windows_are_added_listed_overridden_and_removed_with_an_audit() {
    let f = policy_fixture().await;
    let r = call(
        &f.api,
        post(
            "/api/freezes",
            Role::Deployer,
            &json!({"name": "incident", "reason": "INC-7", "environments": ["prod"], "rrule": "FREQ=WEEKLY", "duration": "1h"}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["error"], "invalid_freeze");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .starts_with("rrule: FREQ=WEEKLY needs BYDAY")
    );
    let incident = json!({
        "name": "incident", "reason": "INC-7", "environments": ["prod"],
        "timezone": "Europe/Berlin", "cron": "* * * * *", "duration": "1h", "blocks": ["start"]
    });
    let r = call(&f.api, post("/api/freezes", Role::Deployer, &incident)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.body["added_by"], "deployer-bot");
    assert_eq!(
        call(&f.api, post("/api/freezes", Role::Deployer, &incident))
            .await
            .status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        call(&f.api, get("/api/freezes", Role::Viewer)).await.body["items"][0]["freeze"]["name"],
        "incident"
    );

    let r = call(
        &f.api,
        post(
            "/api/deployments/dep-prod/confirm",
            Role::Deployer,
            &json!({}),
        ),
    )
    .await;
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("frozen by incident no end in sight: INC-7"),
        "{r:?}"
    );

    let envs = call(&f.api, get("/api/environments", Role::Viewer)).await;
    assert_eq!(envs.status, StatusCode::OK, "{envs:?}");
    let prod = envs.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "prod")
        .unwrap()
        .clone();
    assert_eq!(
        prod["repositories"][0]["promotion"],
        json!({"after": ["staging"], "soak": "1h"})
    );
    assert_eq!(prod["frozen"], true);
    let sources: Vec<(&str, &str)> = prod["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["name"].as_str().unwrap(), w["source"].as_str().unwrap()))
        .collect();
    assert_eq!(sources, [("weekend", "shop"), ("incident", "api")]);
    assert!(prod["windows"][1]["active_until"].is_string());
    assert_eq!(prod["waiting"][0]["id"], "dep-prod");
    let staging = envs.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "staging")
        .unwrap()
        .clone();
    assert_eq!(
        (staging["frozen"].clone(), staging["windows"].clone()),
        (json!(false), json!([]))
    );

    let grant = |expires_in: &str| {
        post(
            "/api/deployments/dep-prod/override",
            Role::Approver,
            &json!({"reason": "fix for INC-7", "expires_in": expires_in}),
        )
    };
    assert_eq!(
        call(&f.api, grant("7h")).await.status,
        StatusCode::BAD_REQUEST
    );
    let r = call(&f.api, grant("2h")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let detail = call(&f.api, get("/api/deployments/dep-prod", Role::Viewer)).await;
    assert_eq!(detail.body["policy"]["override"]["reason"], "fix for INC-7");
    // The window no longer holds it; the promotion still does.
    let r = call(
        &f.api,
        post(
            "/api/deployments/dep-prod/confirm",
            Role::Deployer,
            &json!({}),
        ),
    )
    .await;
    assert!(
        !r.body["message"].as_str().unwrap().contains("frozen"),
        "{r:?}"
    );

    let r = call(
        &f.api,
        ApiRequest::new(Method::DELETE, "/api/freezes/incident").bearer(&token(Role::Approver)),
    )
    .await;
    assert_eq!(
        (r.status, r.body["items"].clone()),
        (StatusCode::OK, json!([]))
    );
    assert_eq!(
        last_audit(&f.store).await,
        (
            "approver-bot".into(),
            "freeze.remove".into(),
            "incident".into()
        )
    );
    let r = call(
        &f.api,
        ApiRequest::new(Method::DELETE, "/api/freezes/incident").bearer(&token(Role::Approver)),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
