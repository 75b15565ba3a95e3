//! The fixture's object store: apps/v1 Deployments as JSON, `resourceVersion`, `generation`, field
//! ownership for server-side apply, and the event log watches replay from.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

/// Events kept for watches that resume from an older `resourceVersion`; older ones answer 410 Gone.
const LOG_LIMIT: usize = 20_000;

/// One step of a field path: an object key, or the item of a list keyed by its `name`
/// (containers, env, ports: the lists whose merge key is `name` in the Deployment schema).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Seg {
    Key(String),
    Item(String),
}

pub(crate) type Path = Vec<Seg>;

/// Why a request was refused, as the Kubernetes `Status` it becomes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// Kubernetes `reason` (`NotFound`, `Conflict`, `Invalid`, …).
    pub reason: &'static str,
    /// Human-readable message.
    pub message: String,
}

impl ApiError {
    pub(crate) fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
        }
    }

    pub(crate) fn not_found(ns: &str, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("deployments.apps \"{name}\" not found in namespace \"{ns}\""),
        )
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    fn invalid(name: &str, message: impl std::fmt::Display) -> Self {
        Self::new(
            422,
            "Invalid",
            format!("Deployment.apps \"{name}\" is invalid: {message}"),
        )
    }

    /// The JSON `Status` body.
    pub(crate) fn status(&self) -> Value {
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": self.message, "reason": self.reason, "code": self.code,
        })
    }
}

/// A watch event as sent on the wire.
#[derive(Debug, Clone)]
pub(crate) struct WatchEvent {
    pub(crate) rv: u64,
    pub(crate) kind: &'static str,
    pub(crate) object: Value,
}

#[derive(Debug, Clone)]
struct Stored {
    object: Value,
    /// Field paths owned per manager, with the operation that last set them.
    managers: BTreeMap<String, (&'static str, BTreeSet<Path>)>,
}

/// All Deployments of the fixture cluster.
#[derive(Debug)]
pub(crate) struct Store {
    rv: u64,
    uid: u64,
    objects: BTreeMap<(String, String), Stored>,
    log: Vec<WatchEvent>,
    events: broadcast::Sender<WatchEvent>,
}

fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    // Civil date from days since the epoch (Howard Hinnant's algorithm), to print RFC 3339 without a date crate.
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The leaf paths of `v` below `prefix`.
fn leaves(v: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                prefix.push(Seg::Key(k.clone()));
                leaves(x, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) if keyed(a) => {
            for item in a {
                prefix.push(Seg::Item(item_name(item).to_owned()));
                leaves(item, prefix, out);
                prefix.pop();
            }
        }
        _ => {
            out.insert(prefix.clone());
        }
    }
}

fn keyed(a: &[Value]) -> bool {
    !a.is_empty()
        && a.iter()
            .all(|e| e.get("name").and_then(Value::as_str).is_some())
}

fn item_name(v: &Value) -> &str {
    v.get("name").and_then(Value::as_str).unwrap_or_default()
}

/// The fields of an object that writers own: labels, annotations and spec (identity, server-set
/// metadata and status are not owned through the main resource).
fn owned_paths(object: &Value) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    let mut prefix = Vec::new();
    for key in ["labels", "annotations"] {
        if let Some(v) = object.pointer(&format!("/metadata/{key}")) {
            prefix.extend([Seg::Key("metadata".into()), Seg::Key(key.into())]);
            leaves(v, &mut prefix, &mut out);
            prefix.clear();
        }
    }
    if let Some(spec) = object.get("spec") {
        prefix.push(Seg::Key("spec".into()));
        leaves(spec, &mut prefix, &mut out);
    }
    out
}

fn get<'a>(v: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, seg| match seg {
        Seg::Key(k) => v.get(k),
        Seg::Item(n) => v.as_array()?.iter().find(|e| item_name(e) == n),
    })
}

/// Removes the field at `path`; removing a keyed item's `name` removes the item.
fn remove(v: &mut Value, path: &[Seg]) {
    let (parent_path, last) = match path {
        [rest @ .., Seg::Item(n), Seg::Key(k)] if k == "name" => (rest, Seg::Item(n.clone())),
        [rest @ .., last] => (rest, last.clone()),
        [] => return,
    };
    let mut cur = v;
    for seg in parent_path {
        let next = match seg {
            Seg::Key(k) => cur.get_mut(k),
            Seg::Item(n) => cur
                .as_array_mut()
                .and_then(|a| a.iter_mut().find(|e| item_name(e) == n)),
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match last {
        Seg::Key(k) => {
            if let Some(m) = cur.as_object_mut() {
                m.remove(&k);
            }
        }
        Seg::Item(n) => {
            if let Some(a) = cur.as_array_mut() {
                a.retain(|e| item_name(e) != n);
            }
        }
    }
}

/// Merges `applied` into `live`: objects key by key, `name`-keyed lists item by item, the rest replaced.
fn merge(live: &mut Value, applied: &Value) {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) => {
            for (k, v) in a {
                match l.get_mut(k) {
                    Some(lv) => merge(lv, v),
                    None => {
                        l.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(l), Value::Array(a)) if keyed(a) && (l.is_empty() || keyed(l)) => {
            for item in a {
                match l.iter_mut().find(|e| item_name(e) == item_name(item)) {
                    Some(lv) => merge(lv, item),
                    None => l.push(item.clone()),
                }
            }
        }
        (l, a) => *l = a.clone(),
    }
}

/// The `managedFields` `fieldsV1` form of a path set.
fn fields_v1(paths: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for path in paths {
        let mut cur = &mut root;
        for seg in path {
            let key = match seg {
                Seg::Key(k) => format!("f:{k}"),
                Seg::Item(n) => format!("k:{}", json!({ "name": n })),
            };
            let entry = cur.entry(key).or_insert_with(|| Value::Object(Map::new()));
            cur = entry.as_object_mut().expect("fieldsV1 nodes are objects");
            if matches!(seg, Seg::Item(_)) {
                cur.entry(".").or_insert_with(|| json!({}));
            }
        }
    }
    Value::Object(root)
}

fn path_text(path: &[Seg]) -> String {
    path.iter()
        .map(|s| match s {
            Seg::Key(k) => format!(".{k}"),
            Seg::Item(n) => format!("[name=\"{n}\"]"),
        })
        .collect()
}

/// The checks the real API server makes that matter here.
fn validate(name: &str, object: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    let selector = object.pointer("/spec/selector");
    let Some(match_labels) = selector
        .and_then(|s| s.get("matchLabels"))
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
    else {
        return Err(ApiError::invalid(
            name,
            "spec.selector.matchLabels: Required value",
        ));
    };
    let labels = object.pointer("/spec/template/metadata/labels");
    for (k, v) in match_labels {
        if labels.and_then(|l| l.get(k)) != Some(v) {
            return Err(ApiError::invalid(
                name,
                format!(
                    "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels` (missing {k}={v})"
                ),
            ));
        }
    }
    let containers = object
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::invalid(name, "spec.template.spec.containers: Required value"))?;
    for (i, c) in containers.iter().enumerate() {
        if c.get("image")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(ApiError::invalid(
                name,
                format!("spec.template.spec.containers[{i}].image: Required value"),
            ));
        }
    }
    if let Some(old) = old
        && old.pointer("/spec/selector") != selector
    {
        return Err(ApiError::invalid(
            name,
            "spec.selector: Invalid value: field is immutable",
        ));
    }
    if object
        .pointer("/spec/replicas")
        .is_some_and(|r| r.as_i64().is_none_or(|r| r < 0))
    {
        return Err(ApiError::invalid(
            name,
            "spec.replicas: Invalid value: must be a non-negative integer",
        ));
    }
    Ok(())
}

/// Server-side defaults of a new Deployment.
fn default_spec(object: &mut Value) {
    if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
        spec.entry("replicas").or_insert(json!(1));
        spec.entry("progressDeadlineSeconds").or_insert(json!(600));
        spec.entry("revisionHistoryLimit").or_insert(json!(10));
        spec.entry("strategy").or_insert(json!({
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}
        }));
    }
}

/// How a write changes ownership.
pub(crate) enum Write<'a> {
    /// Server-side apply by `manager`.
    Apply { manager: &'a str, force: bool },
    /// A create, update or merge patch by `manager`: it owns what it set.
    Update { manager: &'a str },
}

impl Store {
    pub(crate) fn new() -> Self {
        Self {
            rv: 1,
            uid: 0,
            objects: BTreeMap::new(),
            log: Vec::new(),
            events: broadcast::channel(4096).0,
        }
    }

    pub(crate) fn resource_version(&self) -> u64 {
        self.rv
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<WatchEvent> {
        self.events.subscribe()
    }

    /// Events after `rv`, or 410 Gone when the log no longer reaches back that far.
    pub(crate) fn events_since(&self, rv: u64) -> Result<Vec<WatchEvent>, ApiError> {
        if let Some(first) = self.log.first()
            && rv + 1 < first.rv
        {
            return Err(ApiError::new(
                410,
                "Expired",
                format!("too old resource version: {rv} ({})", first.rv - 1),
            ));
        }
        Ok(self.log.iter().filter(|e| e.rv > rv).cloned().collect())
    }

    fn emit(&mut self, kind: &'static str, object: Value) {
        let event = WatchEvent {
            rv: self.rv,
            kind,
            object,
        };
        if self.log.len() >= LOG_LIMIT {
            self.log.drain(..LOG_LIMIT / 2);
        }
        self.log.push(event.clone());
        // Nobody listening is fine.
        let _ = self.events.send(event);
    }

    /// The object as served: with `resourceVersion` and `managedFields`.
    fn render(stored: &Stored) -> Value {
        let mut object = stored.object.clone();
        let managed: Vec<Value> = stored
            .managers
            .iter()
            .filter(|(_, (_, paths))| !paths.is_empty())
            .map(|(manager, (operation, paths))| {
                json!({
                    "manager": manager, "operation": operation, "apiVersion": "apps/v1",
                    "fieldsType": "FieldsV1", "fieldsV1": fields_v1(paths),
                })
            })
            .collect();
        object["metadata"]["managedFields"] = Value::Array(managed);
        object
    }

    pub(crate) fn get(&self, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.objects
            .get(&(ns.to_owned(), name.to_owned()))
            .map(Self::render)
            .ok_or_else(|| ApiError::not_found(ns, name))
    }

    /// Objects in `ns` (all namespaces when `None`), in name order.
    pub(crate) fn list(&self, ns: Option<&str>) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|((n, _), _)| ns.is_none_or(|ns| ns == n))
            .map(|(_, s)| Self::render(s))
            .collect()
    }

    pub(crate) fn keys(&self) -> Vec<(String, String)> {
        self.objects.keys().cloned().collect()
    }

    /// Writes the main resource: `body` is a whole object (apply, create) or a merge patch.
    pub(crate) fn write(
        &mut self,
        ns: &str,
        name: &str,
        body: &Value,
        how: &Write<'_>,
        merge_patch: bool,
    ) -> Result<Value, ApiError> {
        if !merge_patch {
            for (field, want) in [("apiVersion", "apps/v1"), ("kind", "Deployment")] {
                if body.get(field).and_then(Value::as_str) != Some(want) {
                    return Err(ApiError::bad_request(format!(
                        "{field} must be {want:?} (this server serves apps/v1 Deployments only)"
                    )));
                }
            }
            let body_name = body.pointer("/metadata/name").and_then(Value::as_str);
            if body_name != Some(name) {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    body_name.unwrap_or("<none>")
                )));
            }
            if let Some(body_ns) = body.pointer("/metadata/namespace").and_then(Value::as_str)
                && body_ns != ns
            {
                return Err(ApiError::bad_request(format!(
                    "the namespace of the object ({body_ns}) does not match the namespace on the URL ({ns})"
                )));
            }
        }
        let key = (ns.to_owned(), name.to_owned());
        let existing = self.objects.get(&key).cloned();
        if existing.is_none() && matches!(how, Write::Update { .. }) && merge_patch {
            return Err(ApiError::not_found(ns, name));
        }
        let mut stored = existing.clone().unwrap_or_else(|| {
            self.uid += 1;
            Stored {
                object: json!({
                    "apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {
                        "name": name, "namespace": ns, "uid": format!("fixture-uid-{}", self.uid),
                        "generation": 1, "creationTimestamp": now_rfc3339(),
                    },
                    "spec": {}, "status": {},
                }),
                managers: BTreeMap::new(),
            }
        });
        let mut applied = json!({});
        for key in ["labels", "annotations"] {
            if let Some(v) = body.pointer(&format!("/metadata/{key}")) {
                applied["metadata"][key] = v.clone();
            }
        }
        if let Some(spec) = body.get("spec") {
            applied["spec"] = spec.clone();
        }
        let paths = owned_paths(&applied);
        match how {
            Write::Apply { manager, force } => {
                let mut conflicts = Vec::new();
                for (other, (_, owned)) in &stored.managers {
                    if other == manager {
                        continue;
                    }
                    for p in owned.intersection(&paths) {
                        if get(&stored.object, p) != get(&applied, p) {
                            conflicts.push(format!("conflict with \"{other}\": {}", path_text(p)));
                        }
                    }
                }
                if !conflicts.is_empty() && !force {
                    return Err(ApiError::new(
                        409,
                        "Conflict",
                        format!(
                            "Apply failed with {} conflict{}: {}",
                            conflicts.len(),
                            if conflicts.len() == 1 { "" } else { "s" },
                            conflicts.join(", ")
                        ),
                    ));
                }
                if *force {
                    for (other, (_, owned)) in stored.managers.iter_mut() {
                        if other != manager {
                            owned.retain(|p| {
                                !paths.contains(p) || get(&stored.object, p) == get(&applied, p)
                            });
                        }
                    }
                }
                let previous = stored
                    .managers
                    .get(*manager)
                    .map(|(_, p)| p.clone())
                    .unwrap_or_default();
                // Fields this manager applied before and dropped now go away unless someone else owns them.
                let mut dropped: Vec<&Path> = previous.difference(&paths).collect();
                dropped.sort_by_key(|p| std::cmp::Reverse(p.len()));
                for p in dropped {
                    let shared = stored
                        .managers
                        .iter()
                        .any(|(m, (_, owned))| m != manager && owned.contains(p));
                    if !shared {
                        remove(&mut stored.object, p);
                    }
                }
                merge(&mut stored.object, &applied);
                stored
                    .managers
                    .insert((*manager).to_owned(), ("Apply", paths));
            }
            Write::Update { manager } => {
                for (other, (_, owned)) in stored.managers.iter_mut() {
                    if other != manager {
                        owned.retain(|p| !paths.contains(p));
                    }
                }
                if merge_patch {
                    merge_patch_into(&mut stored.object, &applied);
                } else {
                    merge(&mut stored.object, &applied);
                }
                let entry = stored
                    .managers
                    .entry((*manager).to_owned())
                    .or_insert(("Update", BTreeSet::new()));
                entry.1.extend(paths);
            }
        }
        if existing.is_none() {
            default_spec(&mut stored.object);
        }
        validate(name, &stored.object, existing.as_ref().map(|e| &e.object))?;
        if let Some(old) = &existing {
            if old.object == stored.object && old.managers == stored.managers {
                return Ok(Self::render(old));
            }
            if old.object.get("spec") != stored.object.get("spec") {
                let generation = old.object["metadata"]["generation"].as_i64().unwrap_or(1);
                stored.object["metadata"]["generation"] = json!(generation + 1);
            }
        }
        self.rv += 1;
        stored.object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let rendered = Self::render(&stored);
        self.objects.insert(key, stored);
        self.emit(
            if existing.is_none() {
                "ADDED"
            } else {
                "MODIFIED"
            },
            rendered.clone(),
        );
        Ok(rendered)
    }

    /// Replaces or merges `status` (the status subresource); the rest of `body` is ignored.
    pub(crate) fn write_status(
        &mut self,
        ns: &str,
        name: &str,
        status: &Value,
        merge_patch: bool,
    ) -> Result<Value, ApiError> {
        let key = (ns.to_owned(), name.to_owned());
        let stored = self
            .objects
            .get_mut(&key)
            .ok_or_else(|| ApiError::not_found(ns, name))?;
        let mut next = stored.object["status"].clone();
        if merge_patch {
            merge_patch_into(&mut next, status);
        } else {
            next = status.clone();
        }
        if next == stored.object["status"] {
            return Ok(Self::render(stored));
        }
        stored.object["status"] = next;
        self.rv += 1;
        stored.object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let rendered = Self::render(stored);
        self.emit("MODIFIED", rendered.clone());
        Ok(rendered)
    }

    pub(crate) fn delete(&mut self, ns: &str, name: &str) -> Result<Value, ApiError> {
        let stored = self
            .objects
            .remove(&(ns.to_owned(), name.to_owned()))
            .ok_or_else(|| ApiError::not_found(ns, name))?;
        self.rv += 1;
        let mut rendered = Self::render(&stored);
        rendered["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.emit("DELETED", rendered.clone());
        Ok(rendered)
    }

    /// Spec and status of every object, for the simulated controller.
    pub(crate) fn snapshot(&self) -> HashMap<(String, String), Value> {
        self.objects
            .iter()
            .map(|(k, s)| (k.clone(), s.object.clone()))
            .collect()
    }
}

/// RFC 7386 JSON merge patch.
fn merge_patch_into(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().expect("made an object above");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch_into(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}
