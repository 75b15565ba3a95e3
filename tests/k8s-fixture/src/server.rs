//! The HTTP side: the apps/v1 Deployment endpoints of the Kubernetes API, as kube-rs and kubectl call them.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::{Bytes, Frame, Incoming};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::Shared;
use crate::store::{ApiError, WatchEvent, Write};

/// A whole body, or the lines of a watch as they happen.
#[derive(Debug)]
pub(crate) enum Body {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(rx) => rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b)))),
        }
    }
}

fn json_response(code: u16, value: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::Full(Some(Bytes::from(value.to_string()))))
        .expect("static response parts are valid")
}

fn error_response(e: &ApiError) -> Response<Body> {
    json_response(e.code, &e.status())
}

fn query(req: &Request<Incoming>) -> HashMap<String, String> {
    req.uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Percent-decoding of query parameters (`+` is a space in form encoding).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                Err(_) => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A parsed `labelSelector`: `k=v`, `k==v`, `k!=v`, `k`, `!k`, joined by commas.
#[derive(Debug, Default)]
struct Selector {
    labels: Vec<(String, Option<String>, bool)>,
    name: Option<String>,
    namespace: Option<String>,
}

impl Selector {
    fn parse(q: &HashMap<String, String>) -> Result<Self, ApiError> {
        let mut sel = Selector::default();
        for term in q
            .get("labelSelector")
            .map(String::as_str)
            .unwrap_or_default()
            .split(',')
            .filter(|t| !t.is_empty())
        {
            if term.contains(" in ") || term.contains("notin") || term.contains('(') {
                return Err(ApiError::bad_request(format!(
                    "labelSelector term {term:?}: this fixture server supports only =, ==, != and existence terms"
                )));
            }
            let parsed = if let Some((k, v)) = term.split_once("!=") {
                (k.to_owned(), Some(v.to_owned()), false)
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (k.to_owned(), Some(v.to_owned()), true)
            } else if let Some(k) = term.strip_prefix('!') {
                (k.to_owned(), None, false)
            } else {
                (term.to_owned(), None, true)
            };
            sel.labels.push(parsed);
        }
        for term in q
            .get("fieldSelector")
            .map(String::as_str)
            .unwrap_or_default()
            .split(',')
            .filter(|t| !t.is_empty())
        {
            match term.split_once('=') {
                Some(("metadata.name", v)) => sel.name = Some(v.trim_start_matches('=').to_owned()),
                Some(("metadata.namespace", v)) => {
                    sel.namespace = Some(v.trim_start_matches('=').to_owned());
                }
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "fieldSelector term {term:?}: this fixture server supports metadata.name and metadata.namespace equality"
                    )));
                }
            }
        }
        Ok(sel)
    }

    fn matches(&self, object: &Value) -> bool {
        let meta = &object["metadata"];
        if self.name.as_deref().is_some_and(|n| meta["name"] != n)
            || self
                .namespace
                .as_deref()
                .is_some_and(|n| meta["namespace"] != n)
        {
            return false;
        }
        self.labels.iter().all(|(k, v, eq)| {
            let actual = meta["labels"].get(k).and_then(Value::as_str);
            match v {
                Some(v) => (actual == Some(v.as_str())) == *eq,
                None => actual.is_some() == *eq,
            }
        })
    }
}

/// Where a request goes.
enum Route {
    /// `/apis/apps/v1[/namespaces/{ns}]/deployments`
    Collection(Option<String>),
    /// `/apis/apps/v1/namespaces/{ns}/deployments/{name}[/status]`
    Object(String, String, bool),
}

fn route(path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/apis/apps/v1/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["deployments"] => Some(Route::Collection(None)),
        ["namespaces", ns, "deployments"] => Some(Route::Collection(Some((*ns).to_owned()))),
        ["namespaces", ns, "deployments", name] => {
            Some(Route::Object((*ns).to_owned(), (*name).to_owned(), false))
        }
        ["namespaces", ns, "deployments", name, "status"] => {
            Some(Route::Object((*ns).to_owned(), (*name).to_owned(), true))
        }
        _ => None,
    }
}

pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    shared.record(
        req.method().as_str(),
        &req.uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        &content_type,
    );
    if let Some(token) = &shared.token {
        let auth = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if auth != Some(format!("Bearer {token}").as_str()) {
            return Ok(error_response(&ApiError::new(
                401,
                "Unauthorized",
                "Unauthorized",
            )));
        }
    }
    let Some(route) = route(req.uri().path()) else {
        return Ok(error_response(&ApiError::new(
            404,
            "NotFound",
            format!(
                "the server could not find the requested resource ({} {}): this fixture serves apps/v1 Deployments only",
                req.method(),
                req.uri().path()
            ),
        )));
    };
    let ns = match &route {
        Route::Collection(ns) => ns.clone(),
        Route::Object(ns, _, _) => Some(ns.clone()),
    };
    if let Some(ns) = &ns
        && shared.is_forbidden(ns)
    {
        return Ok(error_response(&ApiError::new(
            403,
            "Forbidden",
            format!(
                "deployments.apps is forbidden: User \"system:serviceaccount:boreas:operator\" cannot {} resource \"deployments\" in API group \"apps\" in the namespace \"{ns}\"",
                req.method().as_str().to_lowercase()
            ),
        )));
    }
    let q = query(&req);
    let method = req.method().clone();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Ok(error_response(&ApiError::bad_request(format!(
                "reading the request body: {e}"
            ))));
        }
    };
    let result = match (route, method) {
        (Route::Collection(ns), Method::GET) => {
            let watch = matches!(q.get("watch").map(String::as_str), Some("true" | "1"));
            return Ok(if watch {
                watch_response(&shared, ns.as_deref(), &q)
            } else {
                list(&shared, ns.as_deref(), &q)
            });
        }
        (Route::Object(ns, name, _), Method::GET) => shared.store().get(&ns, &name),
        (Route::Object(ns, name, status), Method::PATCH) => {
            patch(&shared, &ns, &name, status, &content_type, &q, &body)
        }
        (Route::Object(ns, name, true), Method::PUT) => {
            parse(&body).and_then(|v| shared.store().write_status(&ns, &name, &v["status"], false))
        }
        (Route::Object(ns, name, false), Method::DELETE) => shared.store().delete(&ns, &name),
        (_, m) => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{m} is not supported on this path by the fixture server"),
        )),
    };
    Ok(match result {
        Ok(v) => json_response(200, &v),
        Err(e) => error_response(&e),
    })
}

fn parse(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the request body is not JSON ({e}); this fixture reads apply patches written as JSON, as kube-rs sends them"
        ))
    })
}

fn patch(
    shared: &Shared,
    ns: &str,
    name: &str,
    status: bool,
    content_type: &str,
    q: &HashMap<String, String>,
    body: &[u8],
) -> Result<Value, ApiError> {
    let body = parse(body)?;
    let manager = q.get("fieldManager").map(String::as_str);
    let mut store = shared.store();
    match content_type.split(';').next().unwrap_or_default().trim() {
        "application/apply-patch+yaml" => {
            let manager = manager.filter(|m| !m.is_empty()).ok_or_else(|| {
                ApiError::bad_request(
                    "PATCH, fieldManager: Required value: is required for apply patch",
                )
            })?;
            let force = match q.get("force").map(String::as_str) {
                None | Some("false") => false,
                Some("true") => true,
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "force must be true or false, not {other:?}"
                    )));
                }
            };
            if status {
                return store.write_status(ns, name, &body["status"], true);
            }
            store.write(ns, name, &body, &Write::Apply { manager, force }, false)
        }
        "application/merge-patch+json" => {
            if status {
                return store.write_status(ns, name, &body["status"], true);
            }
            let manager = manager.unwrap_or("unknown");
            store.write(ns, name, &body, &Write::Update { manager }, true)
        }
        other => Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format ({other:?}); this fixture accepts application/apply-patch+yaml and application/merge-patch+json"
            ),
        )),
    }
}

fn list(shared: &Shared, ns: Option<&str>, q: &HashMap<String, String>) -> Response<Body> {
    let sel = match Selector::parse(q) {
        Ok(s) => s,
        Err(e) => return error_response(&e),
    };
    let store = shared.store();
    let items: Vec<Value> = store
        .list(ns)
        .into_iter()
        .filter(|o| sel.matches(o))
        .collect();
    json_response(
        200,
        &json!({
            "kind": "DeploymentList", "apiVersion": "apps/v1",
            "metadata": {"resourceVersion": store.resource_version().to_string()},
            "items": items,
        }),
    )
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = json!({"type": kind, "object": object}).to_string();
    line.push('\n');
    Bytes::from(line)
}

/// A watch: the events after `resourceVersion` (or ADDED for every object when it is unset or `0`),
/// then every change as it happens, one JSON object per line, until `timeoutSeconds`.
fn watch_response(
    shared: &Arc<Shared>,
    ns: Option<&str>,
    q: &HashMap<String, String>,
) -> Response<Body> {
    let sel = match Selector::parse(q) {
        Ok(s) => s,
        Err(e) => return error_response(&e),
    };
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .map_or(Duration::from_secs(1800), Duration::from_secs);
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|v| v == "true");
    let (tx, rx) = mpsc::channel(256);
    let (backlog, live, start_rv) = {
        let store = shared.store();
        let live = store.subscribe();
        let since = q
            .get("resourceVersion")
            .filter(|rv| !rv.is_empty() && *rv != "0")
            .map(|rv| rv.parse::<u64>());
        let backlog: Result<Vec<WatchEvent>, ApiError> = match since {
            Some(Ok(rv)) => store.events_since(rv),
            Some(Err(_)) => Err(ApiError::bad_request(
                "resourceVersion must be a number here",
            )),
            None => Ok(store
                .list(ns)
                .into_iter()
                .map(|object| WatchEvent {
                    rv: 0,
                    kind: "ADDED",
                    object,
                })
                .collect()),
        };
        (backlog, live, store.resource_version())
    };
    let backlog = match backlog {
        Ok(b) => b,
        Err(e) => {
            // A watch reports errors in-band as an ERROR event carrying the Status.
            let line = event_line("ERROR", &e.status());
            return Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::Full(Some(line)))
                .expect("static response parts are valid");
        }
    };
    let ns = ns.map(str::to_owned);
    let stop = shared.stop.subscribe();
    tokio::spawn(forward(
        backlog,
        live,
        sel,
        ns,
        tx,
        timeout,
        stop,
        (start_rv, bookmarks),
    ));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::Stream(rx))
        .expect("static response parts are valid")
}

#[allow(clippy::too_many_arguments)] // one watch's whole state, handed to its task
async fn forward(
    backlog: Vec<WatchEvent>,
    mut live: broadcast::Receiver<WatchEvent>,
    sel: Selector,
    ns: Option<String>,
    tx: mpsc::Sender<Bytes>,
    timeout: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    (start_rv, bookmark): (u64, bool),
) {
    let wanted = |e: &WatchEvent| {
        ns.as_deref()
            .is_none_or(|n| e.object["metadata"]["namespace"] == n)
            && sel.matches(&e.object)
    };
    // Live events up to the snapshot's version are already in the backlog.
    let mut last = start_rv;
    for e in backlog.iter().filter(|e| wanted(e)) {
        if tx.send(event_line(e.kind, &e.object)).await.is_err() {
            return;
        }
    }
    if bookmark {
        let object = json!({"kind": "Deployment", "apiVersion": "apps/v1", "metadata": {"resourceVersion": start_rv.to_string()}});
        if tx.send(event_line("BOOKMARK", &object)).await.is_err() {
            return;
        }
    }
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => return,
            _ = stop.changed() => return,
            event = live.recv() => match event {
                Ok(e) if e.rv > last && wanted(&e) => {
                    last = e.rv;
                    if tx.send(event_line(e.kind, &e.object)).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let gone = ApiError::new(410, "Expired", "the watch fell behind; list again");
                    let _ = tx.send(event_line("ERROR", &gone.status())).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}
