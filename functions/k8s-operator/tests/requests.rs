//! The requests the operator sends, checked at the HTTP level with kube-rs's `tower-test` mock
//! service (no server at all): server-side apply by `boreas` with force, only Boreas's fields, and
//! the stable error types of API refusals.

use std::sync::Arc;
use std::time::Duration;

use boreas_aws::orchestrator::SfnOrchestrator;
use boreas_aws::queues::SqsQueues;
use boreas_core::command::{Action, Command, ErrorType, K8sWorkload, SCHEMA_VERSION, Workload};
use boreas_k8s_operator::{Ctx, Delivery, Outcome, handle_command};
use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};

fn deploy(weight: u8) -> Command {
    Command {
        schema_version: SCHEMA_VERSION,
        command_id: "d-1:web:0:c1:deploy".into(),
        environment: "prod".into(),
        target: "c1".into(),
        task_token: None,
        heartbeat_seconds: Some(10),
        timeout_seconds: None,
        action: Action::Deploy {
            deployment_id: "d-1".into(),
            app: "web".into(),
            batch: 0,
            version: "v2".into(),
            workload: Workload::K8s(K8sWorkload {
                namespace: "shop".into(),
                deployment: "web".into(),
                container: "web".into(),
                image: "shop/web:v2".into(),
            }),
            weight: Some(weight),
            attempt: 0,
        },
    }
}

fn status(code: u16, reason: &str) -> Response<Body> {
    let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code, "message": format!("{reason} by the test")});
    Response::builder()
        .status(code)
        .body(Body::from(body.to_string().into_bytes()))
        .unwrap()
}

fn ok(value: &Value) -> Response<Body> {
    Response::builder()
        .body(Body::from(value.to_string().into_bytes()))
        .unwrap()
}

async fn ctx(client: kube::Client) -> Ctx {
    // Never contacted: these commands carry no task token and fail before any inventory is sent.
    let config = boreas_aws::sdk_config(Some("http://127.0.0.1:9")).await;
    Ctx {
        cluster: "c1".into(),
        client,
        orchestrator: Arc::new(SfnOrchestrator::from_config(
            &config,
            "arn:aws:states:us-east-1:123456789012:stateMachine:x",
            "",
        )),
        queues: Arc::new(SqsQueues::from_config(&config)),
        inventory_queue_url: "http://127.0.0.1:9/123456789012/x-events".into(),
        rollout_timeout: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn a_gray_step_applies_the_stable_as_boreas_with_force_and_only_its_fields() {
    let (mock, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(mock, "default");
    let ctx = ctx(client).await;
    let run =
        tokio::spawn(async move { handle_command(&ctx, deploy(10), Delivery::default()).await });
    let stable = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "generation": 1},
        "spec": {"replicas": 10, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "shop/web:v1"}]}}}
    });

    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(
        (req.method().as_str(), req.uri().to_string().as_str()),
        ("GET", "/apis/apps/v1/namespaces/shop/deployments/web")
    );
    send.send_response(ok(&stable));
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(
        req.uri().path(),
        "/apis/apps/v1/namespaces/shop/deployments/web-canary"
    );
    send.send_response(status(404, "NotFound"));

    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req.method(), "PATCH");
    assert_eq!(
        req.uri().path(),
        "/apis/apps/v1/namespaces/shop/deployments/web"
    );
    let query = req.uri().query().unwrap().to_owned();
    assert!(
        query.contains("fieldManager=boreas") && query.contains("force=true"),
        "{query}"
    );
    assert_eq!(
        req.headers()["content-type"],
        "application/apply-patch+yaml"
    );
    let body = req.into_body().collect_bytes().await.unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body["spec"],
        json!({"replicas": 9, "template": {"spec": {"containers": [{"name": "web", "image": "shop/web:v1"}]}}}),
        "R - ceil(10% of 10), image unchanged"
    );
    assert_eq!(
        body["metadata"]["annotations"]["boreas.io/stable-replicas"],
        "10"
    );
    assert!(
        body["spec"].get("selector").is_none(),
        "the user's selector is not Boreas's"
    );
    // RBAC says no: the command fails with the stable Forbidden type.
    send.send_response(status(403, "Forbidden"));
    // The inventory after the command is refused too.
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req.uri().path(), "/apis/apps/v1/deployments");
    assert!(
        req.uri().query().unwrap().contains(
            "labelSelector=app.kubernetes.io%2Fmanaged-by%3Dboreas%2Cboreas.io%2Fapp%3Dweb"
        ),
        "{:?}",
        req.uri()
    );
    send.send_response(status(403, "Forbidden"));

    let Outcome::Failed(failure) = run.await.unwrap() else {
        panic!("the command must fail")
    };
    assert_eq!(failure.error_type, ErrorType::Forbidden);
    assert!(
        failure.cause.contains("shop/web") && failure.cause.contains("403"),
        "{}",
        failure.cause
    );
}

#[tokio::test]
async fn a_missing_deployment_is_workload_not_found() {
    let (mock, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let ctx = ctx(kube::Client::new(mock, "default")).await;
    let run =
        tokio::spawn(async move { handle_command(&ctx, deploy(100), Delivery::default()).await });
    let (_, send) = handle.next_request().await.unwrap();
    send.send_response(status(404, "NotFound"));
    let (_, send) = handle.next_request().await.unwrap();
    send.send_response(status(503, "ServiceUnavailable"));
    let Outcome::Failed(failure) = run.await.unwrap() else {
        panic!("the command must fail")
    };
    assert_eq!(failure.error_type, ErrorType::WorkloadNotFound);
    assert!(failure.cause.contains("shop/web"), "{}", failure.cause);
}
