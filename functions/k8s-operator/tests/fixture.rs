//! The test fixture API server behaves like the Kubernetes API where the operator depends on it,
//! checked with kube-rs over HTTP: apply conflicts and force, field ownership, generation,
//! resourceVersion-resumed watches, the status subresource, credentials.

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams, WatchEvent, WatchParams};
use serde_json::json;

fn web() -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "web:v1", "env": [{"name": "A", "value": "1"}]}]}}}
    })
}

#[tokio::test]
async fn the_fixture_speaks_apply_watch_and_status_like_an_api_server() {
    let cluster = boreas_k8s_fixture::FixtureCluster::start().await;
    cluster.create(&web()).unwrap();
    let client = boreas_k8s_operator::operator::client_from_kubeconfig(
        &cluster.kubeconfig("shop"),
        "fixture",
    )
    .await
    .unwrap();
    let api: Api<Deployment> = Api::namespaced(client, "shop");
    let before = api.get("web").await.unwrap();
    assert_eq!(before.metadata.generation, Some(1));

    // Changing a field another manager owns conflicts unless forced.
    let patch = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:v2"}]}}}});
    let err = api
        .patch("web", &PatchParams::apply("boreas"), &Patch::Apply(&patch))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err}")
    };
    assert_eq!(status.code, 409, "{}", status.message);
    assert!(
        status.message.contains("kubectl-create"),
        "{}",
        status.message
    );

    let rv_before: u64 = before.metadata.resource_version.unwrap().parse().unwrap();
    let params = WatchParams::default().fields("metadata.name=web");
    let mut watch = api
        .watch(&params, &rv_before.to_string())
        .await
        .unwrap()
        .boxed();
    let after = api
        .patch(
            "web",
            &PatchParams::apply("boreas").force(),
            &Patch::Apply(&patch),
        )
        .await
        .unwrap();
    assert_eq!(
        after.metadata.generation,
        Some(2),
        "a spec change bumps generation"
    );
    let container = &after.spec.template.spec.as_ref().unwrap().containers[0];
    assert_eq!(container.image.as_deref(), Some("web:v2"));
    assert_eq!(
        container.env.as_ref().unwrap()[0].name,
        "A",
        "fields of other managers stay"
    );
    let managers: Vec<_> = after
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .map(|m| m.manager.unwrap())
        .collect();
    assert!(
        managers.contains(&"boreas".to_owned()) && managers.contains(&"kubectl-create".to_owned()),
        "{managers:?}"
    );
    // The watch resumed from the old resourceVersion sees the change.
    let event = loop {
        match watch.next().await.unwrap().unwrap() {
            WatchEvent::Bookmark(_) => {}
            other => break other,
        }
    };
    let WatchEvent::Modified(d) = event else {
        panic!("{event:?}")
    };
    assert!(d.metadata.resource_version.unwrap().parse::<u64>().unwrap() > rv_before);

    // The simulated controller reports the rollout through the status subresource.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let d = api.get_status("web").await.unwrap();
        let s = d.status.unwrap_or_default();
        if s.observed_generation == Some(2)
            && s.updated_replicas == Some(2)
            && s.ready_replicas == Some(2)
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{s:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // No token, no access.
    let anonymous = cluster
        .kubeconfig("shop")
        .replace("token: fixture-token", "{}");
    let client = boreas_k8s_operator::operator::client_from_kubeconfig(&anonymous, "anonymous")
        .await
        .unwrap();
    let err = Api::<Deployment>::namespaced(client, "shop")
        .get("web")
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 401),
        "{err}"
    );
    cluster.stop().await;
}
