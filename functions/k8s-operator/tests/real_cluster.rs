//! The same gray-rollout scenario against the cluster in `KUBECONFIG` (see README.md). Ignored by
//! default: it needs a real cluster, creates `boreas-e2e-web` in `BOREAS_TEST_NAMESPACE`
//! (default `default`) and deletes it afterwards. AWS calls go to the local emulator.

use std::sync::Arc;
use std::time::Duration;

use boreas_aws::orchestrator::SfnOrchestrator;
use boreas_aws::queues::{Queues, SqsQueues};
use boreas_core::command::{Action, Command, ErrorType, K8sWorkload, SCHEMA_VERSION, Workload};
use boreas_k8s_operator::{Ctx, Delivery, Outcome, handle_command};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

const NAME: &str = "boreas-e2e-web";

fn command(id: &str, action: Action) -> Command {
    Command {
        schema_version: SCHEMA_VERSION,
        command_id: id.into(),
        environment: "test".into(),
        target: "real".into(),
        task_token: None,
        heartbeat_seconds: Some(30),
        timeout_seconds: None,
        action,
    }
}

fn workload(ns: &str, image: &str) -> Workload {
    Workload::K8s(K8sWorkload {
        namespace: ns.into(),
        deployment: NAME.into(),
        container: "web".into(),
        image: image.into(),
    })
}

#[tokio::test]
#[ignore = "needs a Kubernetes cluster in KUBECONFIG"]
async fn gray_rollout_and_rollback_on_the_cluster_in_kubeconfig() {
    let ns = std::env::var("BOREAS_TEST_NAMESPACE").unwrap_or_else(|_| "default".into());
    let client = kube::Client::try_default()
        .await
        .expect("a cluster in KUBECONFIG");
    let api: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    for name in [NAME.to_owned(), format!("{NAME}-canary")] {
        let _ = api.delete(&name, &DeleteParams::default()).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stable: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": ns},
        "spec": {"replicas": 4, "progressDeadlineSeconds": 30, "selector": {"matchLabels": {"app": NAME}},
                 "template": {"metadata": {"labels": {"app": NAME}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}
    }))
    .unwrap();
    api.create(&PostParams::default(), &stable).await.unwrap();

    let emulator = boreas_aws::emulator::shared().await;
    let config = boreas_aws::sdk_config(Some(emulator.endpoint())).await;
    let queues = SqsQueues::from_config(&config);
    let events = queues
        .ensure_queue("boreas-real-cluster-events")
        .await
        .unwrap();
    let ctx = Ctx {
        cluster: "real".into(),
        client,
        orchestrator: Arc::new(SfnOrchestrator::from_config(&config, "", "")),
        queues: Arc::new(queues),
        inventory_queue_url: events,
        rollout_timeout: Duration::from_secs(300),
    };
    let deploy = |dep: &str, weight: u8, image: &str| {
        command(
            &format!("{dep}:{weight}"),
            Action::Deploy {
                deployment_id: dep.into(),
                app: "web".into(),
                batch: 0,
                version: image.rsplit(':').next().unwrap().into(),
                workload: workload(&ns, image),
                weight: Some(weight),
                attempt: 0,
            },
        )
    };
    for (weight, canary) in [(10, Some(1)), (50, Some(2)), (100, None)] {
        let outcome = handle_command(
            &ctx,
            deploy("e2e-1", weight, "nginx:1.28"),
            Delivery::default(),
        )
        .await;
        assert!(
            matches!(outcome, Outcome::Succeeded(_)),
            "{weight}%: {outcome:?}"
        );
        let c = api.get_opt(&format!("{NAME}-canary")).await.unwrap();
        assert_eq!(c.and_then(|c| c.spec.replicas), canary, "{weight}%");
    }
    // An image that never pulls: the progress deadline fails the step, the rollback restores.
    let outcome = handle_command(
        &ctx,
        deploy("e2e-2", 50, "nginx:does-not-exist-boreas"),
        Delivery::default(),
    )
    .await;
    let Outcome::Failed(f) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(f.error_type, ErrorType::RolloutTimeout, "{}", f.cause);
    let rollback = command(
        "e2e-2:rollback",
        Action::Rollback {
            deployment_id: "e2e-2".into(),
            app: "web".into(),
            batch: 0,
            from_version: "does-not-exist-boreas".into(),
            to_version: Some("1.28".into()),
            workload: Some(workload(&ns, "nginx:1.28")),
        },
    );
    let outcome = handle_command(&ctx, rollback, Delivery::default()).await;
    assert!(matches!(outcome, Outcome::Succeeded(_)), "{outcome:?}");
    let d = api.get(NAME).await.unwrap();
    assert_eq!(d.spec.replicas, Some(4));
    assert_eq!(
        d.spec.template.spec.unwrap().containers[0].image.as_deref(),
        Some("nginx:1.28")
    );
    assert!(
        api.get_opt(&format!("{NAME}-canary"))
            .await
            .unwrap()
            .is_none()
    );
    api.delete(NAME, &DeleteParams::default()).await.unwrap();
}
