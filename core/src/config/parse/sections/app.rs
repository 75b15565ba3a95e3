//! `apps[]`: one app's common fields (name, kind, paths, dependencies) and which of the
//! kind's sections (`pm`, `k8s`) it must and must not have.

use std::collections::HashMap;

use crate::config::model::{App, AppKind, Rollout};
use crate::config::parse::decoder::{Decoder, Fields, describe, did_you_mean, index};
use crate::config::parse::graph::AppRefs;
use crate::config::yaml::{Node, Value};

impl Decoder {
    pub(super) fn apps(
        &mut self,
        node: &Node,
        path: &str,
        environments: Option<&[String]>,
    ) -> Option<Vec<App>> {
        let items =
            self.nonempty_list(node, path, "a list of apps", "at least one app is required")?;
        let mut apps = Vec::new();
        let mut refs = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let (app, r) = self.app(item, &index(path, i), environments);
            ok &= app.is_some();
            apps.extend(app);
            refs.push(r);
        }
        self.dependencies(&refs);
        ok.then_some(apps)
    }

    fn app(
        &mut self,
        node: &Node,
        path: &str,
        environments: Option<&[String]>,
    ) -> (Option<App>, AppRefs) {
        let mut refs = AppRefs {
            name: None,
            invalid_name: None,
            depends_on: Vec::new(),
        };
        let Some(f) = self.fields(
            node,
            path,
            &[
                "name",
                "kind",
                "paths",
                "depends_on",
                "follow_dependencies",
                "rollout",
                "pm",
                "k8s",
                "analysis",
            ],
        ) else {
            return (None, refs);
        };
        let name = self
            .required(&f, "name")
            .and_then(|n| self.name(n, &f.path("name"), "app name"));
        match (&name, f.get("name")) {
            (Some(name), Some(n)) => refs.name = Some((name.clone(), n.pos, f.path("name"))),
            (
                None,
                Some(Node {
                    value: Value::Scalar { text, .. },
                    ..
                }),
            ) => {
                refs.invalid_name = Some(text.clone());
            }
            _ => {}
        }
        let kind = self.required(&f, "kind").and_then(|n| {
            let path = f.path("kind");
            match &n.value {
                Value::Scalar { text, .. } if text == "pm" => Some(AppKind::Pm),
                Value::Scalar { text, .. } if text == "k8s" => Some(AppKind::K8s),
                _ => {
                    let hint = match &n.value {
                        Value::Scalar { text, .. } => did_you_mean(text, ["pm", "k8s"]),
                        _ => String::new(),
                    };
                    self.error(
                        n.pos,
                        &path,
                        format!("expected `pm` or `k8s`, found {}{hint}", describe(n)),
                    );
                    None
                }
            }
        });
        let paths = match f.get("paths") {
            Some(n) => {
                let path = f.path("paths");
                self.list(n, &path, "a list of path globs")
                    .and_then(|items| {
                        self.each(items, &path, |d, item, path| d.path_glob(item, path))
                    })
            }
            None => Some(Vec::new()),
        };
        let depends_on = match f.get("depends_on") {
            Some(n) => self.depends_on(n, &f.path("depends_on"), name.as_deref(), &mut refs),
            None => Some(Vec::new()),
        };
        let follow_dependencies = match f.get("follow_dependencies") {
            Some(n) => self.boolean(n, &f.path("follow_dependencies")),
            None => Some(false),
        };
        let rollout = match f.get("rollout") {
            Some(n) => self.rollout(n, &f.path("rollout"), kind),
            None => Some(Rollout::default()),
        };
        let pm = f
            .get("pm")
            .map(|n| self.pm(n, &f.path("pm"), name.as_deref(), environments));
        let k8s = f
            .get("k8s")
            .map(|n| self.k8s(n, &f.path("k8s"), environments));
        let analysis = match f.get("analysis") {
            Some(n) => self.analysis(
                n,
                &f.path("analysis"),
                rollout.as_ref().map(|r| r.batches.len()),
            ),
            None => Some(Vec::new()),
        };
        let sections_ok = match kind {
            Some(kind) => self.sections(&f, kind),
            None => false,
        };
        let app = Some(()).and_then(|()| {
            Some(App {
                name: name?,
                kind: kind?,
                paths: paths?,
                depends_on: depends_on?,
                follow_dependencies: follow_dependencies?,
                rollout: rollout?,
                pm: pm.map_or(Some(None), |pm| pm.map(Some))?,
                k8s: k8s.map_or(Some(None), |k8s| k8s.map(Some))?,
                analysis: analysis?,
            })
        });
        (app.filter(|_| sections_ok), refs)
    }

    /// The section named by the kind must be there, the other must not.
    fn sections(&mut self, f: &Fields<'_>, kind: AppKind) -> bool {
        let (own, other) = match kind {
            AppKind::Pm => ("pm", "k8s"),
            AppKind::K8s => ("k8s", "pm"),
        };
        let mut ok = true;
        if f.get(own).is_none() {
            self.error(
                f.pos,
                &f.path(own),
                format!("required field is missing: a `{kind}` app needs a `{own}` section"),
            );
            ok = false;
        }
        if let Some(pos) = f.key_pos(other) {
            self.error(
                pos,
                &f.path(other),
                format!("a `{kind}` app takes no `{other}` section; remove it or change `kind`"),
            );
            ok = false;
        }
        ok
    }

    fn depends_on(
        &mut self,
        node: &Node,
        path: &str,
        own: Option<&str>,
        refs: &mut AppRefs,
    ) -> Option<Vec<String>> {
        let items = self.list(node, path, "a list of app names")?;
        let mut seen = HashMap::new();
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let path = index(path, i);
            let Some(name) = self.string(item, &path) else {
                ok = false;
                continue;
            };
            if own == Some(name.as_str()) {
                self.error(item.pos, &path, format!("app {name:?} depends on itself"));
                ok = false;
            } else if self.unique(&mut seen, &name, item.pos, &path, "dependency") {
                refs.depends_on.push((name.clone(), item.pos, path));
                out.push(name);
            } else {
                ok = false;
            }
        }
        ok.then_some(out)
    }

    fn path_glob(&mut self, node: &Node, path: &str) -> Option<String> {
        let text = self.glob(node, path)?;
        if text.starts_with('/') || text.starts_with("./") {
            self.error(
                node.pos,
                path,
                format!(
                    "{text:?}: paths are relative to the repository root; drop the leading \"{}\"",
                    if text.starts_with('/') { "/" } else { "./" }
                ),
            );
            return None;
        }
        Some(text)
    }
}
