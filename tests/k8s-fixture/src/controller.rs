//! A simulated Deployment controller: moves each Deployment's status towards its spec one pod per
//! tick, the way a rolling update looks from the API (new pods come up, old ones go away), stalls
//! on images the test declared never-ready until the progress deadline passes, and holds back the
//! pods of slow-starting images until their start-up time has passed.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::store::Store;

/// How the pods of an image the test singled out start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Startup {
    /// Never ready: the rollout stalls until the progress deadline passes.
    Never,
    /// Ready only this long after their rollout began, then one per tick as usual.
    After(Duration),
}

/// Pods of one Deployment, as the simulation counts them.
#[derive(Debug, Clone)]
struct Pods {
    template: u64,
    /// Pods of the current template.
    new: u32,
    /// Ready pods of older templates.
    old: u32,
    /// Whether the current template's pods become ready (its images are not never-ready).
    healthy: bool,
    since: Instant,
}

#[derive(Debug, Default)]
pub(crate) struct Controller {
    pods: HashMap<(String, String), Pods>,
}

fn template_hash(object: &Value) -> u64 {
    let mut h = DefaultHasher::new();
    object
        .pointer("/spec/template")
        .map(Value::to_string)
        .hash(&mut h);
    h.finish()
}

fn images(object: &Value) -> Vec<String> {
    object
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("image").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn condition(kind: &str, ok: bool, reason: &str, message: &str) -> Value {
    json!({
        "type": kind, "status": if ok { "True" } else { "False" },
        "reason": reason, "message": message,
    })
}

impl Controller {
    /// One step of every Deployment.
    pub(crate) fn tick(
        &mut self,
        store: &Mutex<Store>,
        startups: &Mutex<HashMap<String, Startup>>,
        deadline: Duration,
    ) {
        let snapshot = store.lock().unwrap_or_else(|e| e.into_inner()).snapshot();
        self.pods.retain(|k, _| snapshot.contains_key(k));
        let startups = startups.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for (key, object) in snapshot {
            let desired = object
                .pointer("/spec/replicas")
                .and_then(Value::as_u64)
                .and_then(|r| u32::try_from(r).ok())
                .unwrap_or(1);
            let hash = template_hash(&object);
            let startup: Vec<Startup> = images(&object)
                .iter()
                .filter_map(|i| startups.get(i).copied())
                .collect();
            let healthy = !startup.contains(&Startup::Never);
            let pods = self.pods.entry(key.clone()).or_insert(Pods {
                template: hash,
                new: 0,
                old: 0,
                healthy,
                since: Instant::now(),
            });
            if pods.template != hash {
                // A new ReplicaSet: the ready pods of the old one keep serving until replaced.
                pods.old += if pods.healthy { pods.new } else { 0 };
                pods.new = 0;
                pods.template = hash;
                pods.since = Instant::now();
            }
            pods.healthy = healthy;
            let starting = startup
                .iter()
                .any(|s| matches!(s, Startup::After(d) if pods.since.elapsed() < *d));
            // maxSurge 25% (at least one) above the desired count while old pods remain.
            let surge = desired.div_ceil(4).max(1);
            if starting {
                // Still starting: no pod of the new template is up yet.
            } else if healthy {
                if pods.new < desired {
                    pods.new += 1;
                }
                pods.new = pods.new.min(desired);
                pods.old = pods.old.min(desired.saturating_sub(pods.new));
            } else {
                pods.new = (pods.new + 1).min(surge).min(desired);
                pods.old = pods.old.min(desired);
            }
            let ready = pods.old + if healthy { pods.new } else { 0 };
            let total = pods.old + pods.new;
            let complete = healthy && pods.new == desired && pods.old == 0;
            let progressing = if complete {
                condition(
                    "Progressing",
                    true,
                    "NewReplicaSetAvailable",
                    &format!("ReplicaSet \"{}\" has successfully progressed.", key.1),
                )
            } else if !healthy && pods.since.elapsed() > deadline {
                condition(
                    "Progressing",
                    false,
                    "ProgressDeadlineExceeded",
                    &format!("ReplicaSet \"{}\" has timed out progressing.", key.1),
                )
            } else {
                condition(
                    "Progressing",
                    true,
                    "ReplicaSetUpdated",
                    &format!("ReplicaSet \"{}\" is progressing.", key.1),
                )
            };
            let available = if ready >= desired {
                condition(
                    "Available",
                    true,
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.",
                )
            } else {
                condition(
                    "Available",
                    false,
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.",
                )
            };
            let mut status = json!({
                "observedGeneration": object.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
                "replicas": total, "updatedReplicas": pods.new,
                "readyReplicas": ready, "availableReplicas": ready,
                "conditions": [available, progressing],
            });
            if total > ready {
                status["unavailableReplicas"] = json!(total - ready);
            }
            if object.get("status") != Some(&status) {
                let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
                // The object may have changed or gone since the snapshot; the next tick catches up.
                let current = store.get(&key.0, &key.1).ok();
                if current.as_ref().is_some_and(|c| {
                    c.pointer("/metadata/generation") == object.pointer("/metadata/generation")
                        && template_hash(c) == hash
                }) {
                    let _ = store.write_status(&key.0, &key.1, &status, false);
                }
            }
        }
    }
}

/// Runs the controller every `tick` until the returned handle is aborted.
pub(crate) fn spawn(
    store: Arc<Mutex<Store>>,
    startups: Arc<Mutex<HashMap<String, Startup>>>,
    tick: Duration,
    deadline: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut controller = Controller::default();
        let mut interval = tokio::time::interval(tick);
        loop {
            interval.tick().await;
            controller.tick(&store, &startups, deadline);
        }
    })
}
