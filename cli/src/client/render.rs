//! Human output: tables of versions and deployments, a deployment as a tree, per-app progress.

use std::fmt::Write as _;

use serde_json::Value;

/// A string field, or `-`.
pub(crate) fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("-")
}

fn items(v: &Value) -> &[Value] {
    v.get("items")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Prints rows with columns padded to their widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                let _ = write!(out, "{cell:<w$}  ");
            }
        }
        println!("{}", out.trim_end());
    };
    line(header.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(row.clone());
    }
}

pub(crate) fn versions(v: &Value) {
    let rows: Vec<Vec<String>> = items(v)
        .iter()
        .map(|x| {
            let commit = s(x, "commit");
            vec![
                s(x, "repository").to_owned(),
                s(x, "name").to_owned(),
                commit.chars().take(12).collect(),
                s(x, "state").to_owned(),
                s(x, "status").to_owned(),
                if x.get("diverged").and_then(Value::as_bool) == Some(true) {
                    "yes".into()
                } else {
                    String::new()
                },
                s(x, "received_at").to_owned(),
            ]
        })
        .collect();
    table(
        &[
            "REPOSITORY",
            "VERSION",
            "COMMIT",
            "STATE",
            "STATUS",
            "DIVERGED",
            "RECEIVED",
        ],
        &rows,
    );
}

pub(crate) fn deployments(v: &Value) {
    let rows: Vec<Vec<String>> = items(v)
        .iter()
        .map(|x| {
            vec![
                s(x, "id").to_owned(),
                s(x, "environment").to_owned(),
                s(x, "version").to_owned(),
                s(x, "status").to_owned(),
                s(x, "created_at").to_owned(),
                x.get("error")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            ]
        })
        .collect();
    table(
        &["ID", "ENV", "VERSION", "STATUS", "CREATED", "ERROR"],
        &rows,
    );
}

/// The progress record of `kind` (`apps`, `batches`, `targets`, `gates`) matching `pred`.
fn progress<'a>(v: &'a Value, kind: &str, pred: impl Fn(&Value) -> bool) -> Option<&'a Value> {
    v.get("progress")?
        .get(kind)?
        .as_array()?
        .iter()
        .find(|x| pred(x))
}

fn stages(v: &Value) -> &[Value] {
    v.get("plan")
        .and_then(|p| p.get("stages"))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A deployment (plan and progress, as `GET /api/deployments/{id}` answers) as a tree.
pub(crate) fn tree(v: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}  {} {} → {}  [{}]",
        s(v, "id"),
        s(v, "repository"),
        s(v, "version"),
        s(v, "environment"),
        s(v, "status")
    );
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        let _ = writeln!(out, "  error: {e} (target {})", s(v, "failed_target"));
    }
    let stages = stages(v);
    for (si, stage) in stages.iter().enumerate() {
        let last_stage = si + 1 == stages.len();
        let (branch, pad) = if last_stage {
            ("└─", "   ")
        } else {
            ("├─", "│  ")
        };
        let _ = writeln!(out, "{branch} stage {}", si + 1);
        let apps = list(stage, "apps");
        for (ai, app) in apps.iter().enumerate() {
            let name = s(app, "app");
            let last_app = ai + 1 == apps.len();
            let (abranch, apad) = if last_app {
                ("└─", "   ")
            } else {
                ("├─", "│  ")
            };
            let status =
                progress(v, "apps", |p| s(p, "app") == name).map_or("pending", |p| s(p, "status"));
            let _ = writeln!(
                out,
                "{pad}{abranch} {name} ({})  [{status}]",
                s(app, "kind")
            );
            let batches = list(app, "batches");
            for (bi, batch) in batches.iter().enumerate() {
                let index = batch.get("index").and_then(Value::as_u64).unwrap_or(0);
                let last_batch = bi + 1 == batches.len();
                let (bbranch, bpad) = if last_batch {
                    ("└─", "   ")
                } else {
                    ("├─", "│  ")
                };
                let bstatus = progress(v, "batches", |p| {
                    s(p, "app") == name && p.get("index").and_then(Value::as_u64) == Some(index)
                })
                .map_or("pending", |p| s(p, "status"));
                let pause = batch
                    .get("pause")
                    .map_or(String::new(), |p| match s(p, "type") {
                        "gate" => {
                            let gate = s(p, "gate");
                            let g = progress(v, "gates", |x| s(x, "gate") == gate);
                            format!(
                                ", then gate {gate} [{}]",
                                g.map_or("not reached", |g| s(g, "status"))
                            )
                        }
                        "wait" => format!(
                            ", then wait {}s",
                            p.get("seconds").map_or_else(String::new, Value::to_string)
                        ),
                        _ => String::new(),
                    });
                let _ = writeln!(
                    out,
                    "{pad}{apad}{bbranch} batch {index}  [{bstatus}]{pause}"
                );
                let targets = list(batch, "targets");
                for (ti, t) in targets.iter().enumerate() {
                    let target = t.as_str().unwrap_or("-");
                    let tbranch = if ti + 1 == targets.len() {
                        "└─"
                    } else {
                        "├─"
                    };
                    let tp = progress(v, "targets", |p| {
                        s(p, "app") == name && s(p, "target") == target
                    });
                    let tstatus = tp.map_or("pending", |p| s(p, "status"));
                    let err = tp
                        .and_then(|p| p.get("error"))
                        .and_then(Value::as_str)
                        .map(|e| format!("  {e}"))
                        .unwrap_or_default();
                    let _ = writeln!(out, "{pad}{apad}{bpad}{tbranch} {target}  [{tstatus}]{err}");
                }
            }
        }
    }
    for skipped in list(v.get("plan").unwrap_or(&Value::Null), "skipped") {
        let _ = writeln!(
            out,
            "   skipped: {} ({})",
            s(skipped, "app"),
            skipped
                .get("reason")
                .map_or_else(String::new, Value::to_string)
        );
    }
    out
}

/// One app's progress for `watch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AppProgress {
    pub(crate) name: String,
    pub(crate) total: u64,
    pub(crate) done: u64,
    pub(crate) message: String,
}

/// Per app of the plan: targets in the plan, targets that succeeded, and its status (with a
/// waiting gate named).
pub(crate) fn app_progress(v: &Value) -> Vec<AppProgress> {
    let mut out = Vec::new();
    for stage in stages(v) {
        for app in list(stage, "apps") {
            let name = s(app, "app").to_owned();
            let total = list(app, "batches")
                .iter()
                .map(|b| list(b, "targets").len() as u64)
                .sum();
            let done = v
                .get("progress")
                .and_then(|p| p.get("targets"))
                .and_then(Value::as_array)
                .map_or(0, |ts| {
                    ts.iter()
                        .filter(|t| s(t, "app") == name && s(t, "status") == "succeeded")
                        .count() as u64
                });
            let mut message = progress(v, "apps", |p| s(p, "app") == name)
                .map_or("pending", |p| s(p, "status"))
                .to_owned();
            for gate in v
                .get("progress")
                .and_then(|p| p.get("gates"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if s(gate, "status") == "waiting"
                    && s(gate, "gate").starts_with(&format!("{name}."))
                {
                    let _ = write!(message, ", gate {} waiting for approval", s(gate, "gate"));
                }
            }
            out.push(AppProgress {
                name,
                total,
                done,
                message,
            });
        }
    }
    out
}
