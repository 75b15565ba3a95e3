//! **TEST FIXTURE** — a stand-in Kubernetes API server for the operator's tests. It is not Kubernetes.
//!
//! No real kube-apiserver can be installed where Boreas is tested, so this crate serves the part of
//! the Kubernetes HTTP API the operator uses, over real HTTP on 127.0.0.1, so that kube-rs talks to
//! it through a kubeconfig exactly as to a cluster:
//!
//! - apps/v1 Deployments: GET, LIST and WATCH (`?watch=true`, one JSON event per line, resuming from
//!   `resourceVersion`, `labelSelector`, `fieldSelector` on name and namespace, `timeoutSeconds`),
//!   server-side apply (`PATCH` with `application/apply-patch+yaml`, read as JSON as kube-rs sends it,
//!   `fieldManager` required, conflicts answered 409 unless `force=true`, fields a manager stops
//!   applying removed, `managedFields` in `fieldsV1` form), JSON merge patch, DELETE, and the
//!   `/status` subresource;
//! - `metadata.generation` bumped on every spec change, `resourceVersion` on every change;
//! - bearer-token authentication and per-namespace 403s, to exercise credentials and RBAC errors;
//! - a simulated Deployment controller that moves `status` forward one pod per tick and can be told
//!   that an image never becomes ready, after which `Progressing` turns `False` with reason
//!   `ProgressDeadlineExceeded` once [`FixtureOptions::progress_deadline`] has passed, or that its
//!   pods take a while to start.
//!
//! What it simplifies: only `name`-keyed lists merge item by item (as containers, env and ports do);
//! other lists are atomic; no pods or ReplicaSets exist as objects; the progress deadline is the
//! fixture's option, not `spec.progressDeadlineSeconds`; YAML apply bodies are refused.

mod controller;
mod server;
mod store;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use controller::Startup;
pub use store::ApiError;
use store::{Store, Write};

/// How the fixture behaves.
#[derive(Debug, Clone)]
pub struct FixtureOptions {
    /// How often the simulated controller moves each Deployment one pod forward.
    pub tick: Duration,
    /// How long a rollout of a never-ready image progresses before `ProgressDeadlineExceeded`.
    pub progress_deadline: Duration,
    /// The bearer token every request must carry; `None` accepts anonymous requests.
    pub token: Option<String>,
}

impl Default for FixtureOptions {
    fn default() -> Self {
        Self {
            tick: Duration::from_millis(50),
            progress_deadline: Duration::from_secs(2),
            token: Some("fixture-token".to_owned()),
        }
    }
}

/// One request as the fixture saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// `Content-Type` header, empty when absent.
    pub content_type: String,
}

#[derive(Debug)]
pub(crate) struct Shared {
    store: Arc<Mutex<Store>>,
    pub(crate) token: Option<String>,
    forbidden: Mutex<HashSet<String>>,
    requests: Mutex<Vec<Recorded>>,
    pub(crate) stop: tokio::sync::watch::Sender<bool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    pub(crate) fn is_forbidden(&self, ns: &str) -> bool {
        lock(&self.forbidden).contains(ns)
    }

    pub(crate) fn record(&self, method: &str, uri: &str, content_type: &str) {
        lock(&self.requests).push(Recorded {
            method: method.to_owned(),
            uri: uri.to_owned(),
            content_type: content_type.to_owned(),
        });
    }
}

/// A running fixture cluster; stop it with [`FixtureCluster::stop`] (dropping it stops it too).
#[derive(Debug)]
pub struct FixtureCluster {
    addr: SocketAddr,
    shared: Arc<Shared>,
    startups: Arc<Mutex<HashMap<String, Startup>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl FixtureCluster {
    /// Starts the server on a free 127.0.0.1 port with default options.
    pub async fn start() -> Self {
        Self::start_with(FixtureOptions::default()).await
    }

    /// Starts the server on a free 127.0.0.1 port.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start_with(options: FixtureOptions) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the fixture API server");
        let addr = listener
            .local_addr()
            .expect("a bound socket has an address");
        let store = Arc::new(Mutex::new(Store::new()));
        let startups = Arc::new(Mutex::new(HashMap::new()));
        let shared = Arc::new(Shared {
            store: Arc::clone(&store),
            token: options.token.clone(),
            forbidden: Mutex::new(HashSet::new()),
            requests: Mutex::new(Vec::new()),
            stop: tokio::sync::watch::channel(false).0,
        });
        let server = {
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let shared = Arc::clone(&shared);
                    tokio::spawn(async move {
                        let service =
                            service_fn(move |req| server::handle(Arc::clone(&shared), req));
                        // A client hanging up mid-watch ends the connection; nothing to report.
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            })
        };
        let controller = controller::spawn(
            store,
            Arc::clone(&startups),
            options.tick,
            options.progress_deadline,
        );
        Self {
            addr,
            shared,
            startups,
            tasks: vec![server, controller],
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig (YAML) whose current context points at this server with its token and `namespace`.
    pub fn kubeconfig(&self, namespace: &str) -> String {
        let user = match &self.shared.token {
            Some(token) => format!("    token: {token}\n"),
            None => "    {}\n".to_owned(),
        };
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fixture\n  cluster:\n    server: {}\n\
             contexts:\n- name: fixture\n  context:\n    cluster: fixture\n    user: fixture\n    namespace: {namespace}\n\
             current-context: fixture\nusers:\n- name: fixture\n  user:\n{user}",
            self.url()
        )
    }

    /// Creates a Deployment as `kubectl create` would (manager `kubectl-create` owns every field it set).
    ///
    /// # Errors
    /// What the API would answer: an invalid object, a name already taken.
    pub fn create(&self, object: &Value) -> Result<Value, ApiError> {
        let ns = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default");
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let mut store = self.shared.store();
        if store.get(ns, name).is_ok() {
            return Err(ApiError {
                code: 409,
                reason: "AlreadyExists",
                message: format!("deployments.apps \"{name}\" already exists"),
            });
        }
        store.write(
            ns,
            name,
            object,
            &Write::Update {
                manager: "kubectl-create",
            },
            false,
        )
    }

    /// The Deployment as the API serves it, if it exists.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Value> {
        self.shared.store().get(namespace, name).ok()
    }

    /// `namespace/name` of every Deployment.
    pub fn names(&self) -> Vec<String> {
        self.shared
            .store()
            .keys()
            .into_iter()
            .map(|(ns, n)| format!("{ns}/{n}"))
            .collect()
    }

    /// Pods of this image never become ready: rollouts to it stall and then exceed their deadline.
    pub fn never_ready(&self, image: &str) {
        lock(&self.startups).insert(image.to_owned(), Startup::Never);
    }

    /// Pods of this image become ready only `startup` after their rollout began (a slow image
    /// pull or warm-up), then one per tick.
    pub fn ready_after(&self, image: &str, startup: Duration) {
        lock(&self.startups).insert(image.to_owned(), Startup::After(startup));
    }

    /// Every request to `namespace` is answered 403 Forbidden from now on.
    pub fn forbid(&self, namespace: &str) {
        lock(&self.shared.forbidden).insert(namespace.to_owned());
    }

    /// Every request served so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.requests).clone()
    }

    /// Stops the server, the controller and every open watch.
    pub async fn stop(mut self) {
        self.shutdown();
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }

    fn shutdown(&self) {
        let _ = self.shared.stop.send(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Drop for FixtureCluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}
