//! The rollout maths and the server-side apply documents: pure functions over Deployments.
//!
//! Field ownership matters here: with server-side apply, a field the `boreas` manager applied before
//! and leaves out of a later apply is removed. So every apply of the stable Deployment carries the
//! same set of fields (annotations, labels, replicas, the container's image and, once known, the
//! version labels), with their current values when a step does not change them.

use k8s_openapi::api::apps::v1::Deployment;
use serde_json::{Value, json};

/// Who manages what Boreas applies.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "boreas");
/// `stable` or `canary`.
pub const TRACK: &str = "boreas.io/track";
/// The version, made a valid label value (see [`label_value`]); the exact one is an annotation.
pub const VERSION: &str = "boreas.io/version";
/// The app name.
pub const APP: &str = "boreas.io/app";
/// Annotation: the deployment id of the rollout that recorded [`REPLICAS`] and [`ORIGINAL_IMAGE`].
pub const ROLLOUT: &str = "boreas.io/rollout";
/// Annotation: R, the stable replica count when the rollout began.
pub const REPLICAS: &str = "boreas.io/stable-replicas";
/// Annotation: the stable container image when the rollout began (what a rollback without a
/// previous version restores).
pub const ORIGINAL_IMAGE: &str = "boreas.io/original-image";

/// The field manager of every change.
pub const FIELD_MANAGER: &str = "boreas";

/// The canary Deployment's name for stable Deployment `name`.
pub fn canary_name(name: &str) -> String {
    format!("{name}-canary")
}

/// Replicas on the new version at `weight` percent of `r`: `ceil(r × weight / 100)`.
pub fn canary_replicas(r: i32, weight: u8) -> i32 {
    let (r, w) = (i64::from(r.max(0)), i64::from(weight.min(100)));
    i32::try_from((r * w + 99) / 100).unwrap_or(i32::MAX)
}

/// `version` as a label value: characters other than letters, digits, `-`, `_` and `.` become `_`,
/// at most 63 characters, starting and ending with a letter or digit.
pub fn label_value(version: &str) -> String {
    let mapped: String = version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    mapped
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

/// What the rollout recorded on the stable Deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Deployment id of the rollout.
    pub rollout: String,
    /// R.
    pub replicas: i32,
    /// The image before the rollout.
    pub original_image: String,
}

/// An annotation of `d`.
pub fn annotation<'a>(d: &'a Deployment, key: &str) -> Option<&'a str> {
    d.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

/// The record on `stable`, if a complete one is there.
pub fn record(stable: &Deployment) -> Option<Record> {
    Some(Record {
        rollout: annotation(stable, ROLLOUT)?.to_owned(),
        replicas: annotation(stable, REPLICAS)?.parse().ok()?,
        original_image: annotation(stable, ORIGINAL_IMAGE)?.to_owned(),
    })
}

/// The image of `container` in `d`.
pub fn image<'a>(d: &'a Deployment, container: &str) -> Option<&'a str> {
    d.spec
        .template
        .spec
        .as_ref()?
        .containers
        .iter()
        .find(|c| c.name == container)?
        .image
        .as_deref()
}

/// The record for rollout `id`: the one on the Deployment when it is this rollout's, or when an
/// earlier rollout left its canary behind (the stable is still scaled down, so its replica count
/// is not R); otherwise a new one from the stable Deployment as it is now.
pub fn record_for(
    id: &str,
    stable: &Deployment,
    canary_exists: bool,
    current_image: &str,
) -> Record {
    match record(stable) {
        Some(r) if r.rollout == id => r,
        Some(r) if canary_exists => Record {
            rollout: id.to_owned(),
            ..r
        },
        _ => Record {
            rollout: id.to_owned(),
            replicas: stable.spec.replicas.unwrap_or(1),
            original_image: current_image.to_owned(),
        },
    }
}

/// The apply document of the stable Deployment: only the fields Boreas owns.
pub fn stable_apply(
    stable: &Deployment,
    app: &str,
    container: &str,
    record: &Record,
    replicas: i32,
    image: &str,
    version: Option<&str>,
) -> Value {
    let mut labels = json!({
        MANAGED_BY.0: MANAGED_BY.1, APP: app, TRACK: "stable",
    });
    let mut annotations = json!({
        ROLLOUT: record.rollout, REPLICAS: record.replicas.to_string(),
        ORIGINAL_IMAGE: record.original_image,
    });
    let mut template = json!({"spec": {"containers": [{"name": container, "image": image}]}});
    if let Some(v) = version {
        labels[VERSION] = json!(label_value(v));
        annotations[VERSION] = json!(v);
        template["metadata"] = json!({"labels": {VERSION: label_value(v)}});
    }
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": stable.metadata.name, "namespace": stable.metadata.namespace,
            "labels": labels, "annotations": annotations,
        },
        "spec": {"replicas": replicas, "template": template},
    })
}

/// The version Boreas recorded on `d`, if any.
pub fn version(d: &Deployment) -> Option<&str> {
    annotation(d, VERSION)
}

/// The canary Deployment: the stable's pod template with the new image and the canary labels, its
/// selector narrowed to canary pods (which still carry the app's selector labels, so the app's
/// Service sends them their share of traffic).
pub fn canary_apply(
    stable: &Deployment,
    app: &str,
    container: &str,
    replicas: i32,
    image: &str,
    version: &str,
) -> Value {
    let name = stable.metadata.name.as_deref().unwrap_or_default();
    let spec = &stable.spec;
    let mut selector = serde_json::to_value(&spec.selector).unwrap_or_else(|_| json!({}));
    selector["matchLabels"][TRACK] = json!("canary");
    let mut template = serde_json::to_value(&spec.template).unwrap_or_else(|_| json!({}));
    template["metadata"]["labels"][TRACK] = json!("canary");
    template["metadata"]["labels"][VERSION] = json!(label_value(version));
    if let Some(containers) = template
        .pointer_mut("/spec/containers")
        .and_then(Value::as_array_mut)
    {
        for c in containers.iter_mut().filter(|c| c["name"] == container) {
            c["image"] = json!(image);
        }
    }
    let mut out = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": canary_name(name), "namespace": stable.metadata.namespace,
            "labels": {
                MANAGED_BY.0: MANAGED_BY.1, APP: app, TRACK: "canary", VERSION: label_value(version),
            },
            "annotations": {VERSION: version},
        },
        "spec": {"replicas": replicas, "selector": selector, "template": template},
    });
    if let Some(deadline) = spec.progress_deadline_seconds {
        out["spec"]["progressDeadlineSeconds"] = json!(deadline);
    }
    out
}

/// Where a Deployment's rollout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Observed, updated, ready and available at the desired count.
    Ready,
    /// Still moving.
    Progressing,
    /// `Progressing` is `False` with `ProgressDeadlineExceeded`; the condition's message.
    DeadlineExceeded(String),
}

/// The rollout state of `d`.
pub fn health(d: &Deployment) -> Health {
    let desired = d.spec.replicas.unwrap_or(1);
    let generation = d.metadata.generation.unwrap_or(0);
    let Some(status) = d.status.as_ref() else {
        return Health::Progressing;
    };
    if let Some(c) = status.conditions.iter().flatten().find(|c| {
        c.type_.as_deref() == Some("Progressing")
            && c.status.as_deref() == Some("False")
            && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    }) {
        return Health::DeadlineExceeded(
            c.message
                .clone()
                .unwrap_or_else(|| "ProgressDeadlineExceeded".to_owned()),
        );
    }
    let observed = status.observed_generation.unwrap_or(0) >= generation;
    let counts = [
        status.updated_replicas,
        status.ready_replicas,
        status.available_replicas,
    ];
    if observed && counts.iter().all(|c| c.unwrap_or(0) == desired) {
        Health::Ready
    } else {
        Health::Progressing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(value: Value) -> Deployment {
        serde_json::from_value(value).unwrap()
    }

    fn stable() -> Deployment {
        deployment(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "generation": 3},
            "spec": {
                "replicas": 10, "progressDeadlineSeconds": 120,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [
                        {"name": "web", "image": "shop/web:v1", "env": [{"name": "MODE", "value": "prod"}]},
                        {"name": "proxy", "image": "envoy:1"}
                    ]}
                }
            }
        }))
    }

    #[test]
    fn canary_replicas_round_up() {
        assert_eq!(canary_replicas(10, 10), 1);
        assert_eq!(canary_replicas(10, 15), 2);
        assert_eq!(canary_replicas(4, 50), 2);
        assert_eq!(canary_replicas(3, 50), 2);
        assert_eq!(canary_replicas(1, 1), 1);
        assert_eq!(canary_replicas(7, 100), 7);
        assert_eq!(canary_replicas(0, 50), 0);
    }

    #[test]
    fn versions_become_valid_label_values() {
        assert_eq!(label_value("v1.4.0"), "v1.4.0");
        assert_eq!(label_value("1.0.0+build.7"), "1.0.0_build.7");
        assert_eq!(label_value("-x-"), "x");
        assert_eq!(label_value(&"a".repeat(80)).len(), 63);
    }

    #[test]
    fn the_record_survives_retries_and_abandoned_canaries() {
        let mut d = stable();
        let fresh = record_for("dep-1", &d, false, "shop/web:v1");
        assert_eq!(fresh.replicas, 10);
        assert_eq!(fresh.original_image, "shop/web:v1");
        // The stable is scaled down by the first step and the record written.
        d.spec.replicas = Some(9);
        d.metadata.annotations = Some(
            [
                (ROLLOUT.to_owned(), "dep-1".to_owned()),
                (REPLICAS.to_owned(), "10".to_owned()),
                (ORIGINAL_IMAGE.to_owned(), "shop/web:v1".to_owned()),
            ]
            .into(),
        );
        assert_eq!(record_for("dep-1", &d, true, "shop/web:v1"), fresh);
        assert_eq!(record_for("dep-1", &d, false, "shop/web:v2"), fresh);
        // Another rollout over an abandoned canary keeps R.
        let next = record_for("dep-2", &d, true, "shop/web:v1");
        assert_eq!((next.rollout.as_str(), next.replicas), ("dep-2", 10));
        // Without a canary, the stable's replica count is R again.
        assert_eq!(record_for("dep-2", &d, false, "shop/web:v2").replicas, 9);
    }

    #[test]
    fn the_stable_apply_carries_only_boreas_fields() {
        let d = stable();
        let r = record_for("dep-1", &d, false, "shop/web:v1");
        let doc = stable_apply(&d, "web", "web", &r, 9, "shop/web:v1", None);
        assert_eq!(
            doc,
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {
                    "name": "web", "namespace": "shop",
                    "labels": {"app.kubernetes.io/managed-by": "boreas", "boreas.io/app": "web", "boreas.io/track": "stable"},
                    "annotations": {"boreas.io/rollout": "dep-1", "boreas.io/stable-replicas": "10", "boreas.io/original-image": "shop/web:v1"},
                },
                "spec": {"replicas": 9, "template": {"spec": {"containers": [{"name": "web", "image": "shop/web:v1"}]}}},
            })
        );
        let doc = stable_apply(&d, "web", "web", &r, 10, "shop/web:v2", Some("v2"));
        assert_eq!(doc["spec"]["template"]["metadata"]["labels"][VERSION], "v2");
        assert_eq!(doc["metadata"]["annotations"][VERSION], "v2");
    }

    #[test]
    fn the_canary_copies_the_template_with_the_new_image() {
        let doc = canary_apply(&stable(), "web", "web", 1, "shop/web:v2", "v2");
        assert_eq!(doc["metadata"]["name"], "web-canary");
        assert_eq!(doc["spec"]["replicas"], 1);
        assert_eq!(
            doc["spec"]["selector"],
            json!({"matchLabels": {"app": "web", "boreas.io/track": "canary"}})
        );
        let template = &doc["spec"]["template"];
        assert_eq!(template["metadata"]["labels"]["app"], "web");
        assert_eq!(template["metadata"]["labels"][TRACK], "canary");
        assert_eq!(template["spec"]["containers"][0]["image"], "shop/web:v2");
        assert_eq!(template["spec"]["containers"][0]["env"][0]["value"], "prod");
        assert_eq!(template["spec"]["containers"][1]["image"], "envoy:1");
        assert_eq!(doc["spec"]["progressDeadlineSeconds"], 120);
        // The document is a valid Deployment.
        let parsed = deployment(doc);
        assert_eq!(image(&parsed, "web"), Some("shop/web:v2"));
    }

    #[test]
    fn health_follows_generation_counts_and_the_deadline() {
        let mut d = stable();
        assert_eq!(health(&d), Health::Progressing);
        let status = |observed: i64, n: i32, conditions: Value| {
            serde_json::from_value(json!({
                "observedGeneration": observed, "replicas": n, "updatedReplicas": n,
                "readyReplicas": n, "availableReplicas": n, "conditions": conditions,
            }))
            .unwrap()
        };
        d.status = Some(status(2, 10, json!([])));
        assert_eq!(health(&d), Health::Progressing, "generation 3 not observed");
        d.status = Some(status(3, 9, json!([])));
        assert_eq!(health(&d), Health::Progressing, "9 of 10");
        d.status = Some(status(3, 10, json!([])));
        assert_eq!(health(&d), Health::Ready);
        d.status = Some(status(
            3,
            9,
            json!([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                    "message": "ReplicaSet \"web-7f\" has timed out progressing."}]),
        ));
        assert_eq!(
            health(&d),
            Health::DeadlineExceeded("ReplicaSet \"web-7f\" has timed out progressing.".into())
        );
    }
}
