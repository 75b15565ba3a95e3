//! `environments`: the list of environments, their names and `auto_confirm`.

use std::collections::HashMap;

use crate::config::model::{DurationSpec, Environment, Promotion};
use crate::config::parse::decoder::{Decoder, did_you_mean, index};
use crate::config::yaml::{Node, Value};

/// The items of a `promotion` mapping's `after` list, for positions.
fn after_items(promotion: &Node) -> &[Node] {
    let Value::Mapping(entries) = &promotion.value else {
        return &[];
    };
    match entries
        .iter()
        .find(|e| e.key == "after")
        .map(|e| &e.value.value)
    {
        Some(Value::Sequence(items)) => items,
        _ => &[],
    }
}

impl Decoder {
    /// The environments (`None` entries failed) and the declared names, unless one of them is
    /// unreadable (then checking `pm.hosts` keys against them would mislead).
    #[allow(clippy::type_complexity)]
    pub(super) fn environments(
        &mut self,
        node: &Node,
        path: &str,
    ) -> Option<(Vec<Option<Environment>>, Option<Vec<String>>)> {
        let items = self.nonempty_list(
            node,
            path,
            "a list of environments",
            "at least one environment is required",
        )?;
        let mut seen = HashMap::new();
        let mut out = Vec::new();
        let mut names = Some(Vec::new());
        let mut upstreams = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = index(path, i);
            let Some(f) = self.fields(item, &path, &["name", "auto_confirm", "promotion"]) else {
                out.push(None);
                names = None;
                continue;
            };
            let node = self.required(&f, "name");
            let name = node.and_then(|n| self.name(n, &f.path("name"), "environment name"));
            if name.is_none() {
                names = None;
            }
            // A repeated name is still declared; only its second declaration is wrong.
            let name = name.zip(node).filter(|(name, n)| {
                self.unique(&mut seen, name, n.pos, &f.path("name"), "environment name")
            });
            let name = name.map(|(name, _)| name);
            if let (Some(name), Some(names)) = (&name, &mut names) {
                names.push(name.clone());
            }
            let auto_confirm = match f.get("auto_confirm") {
                Some(n) => self.boolean(n, &f.path("auto_confirm")),
                None => Some(false),
            };
            let promotion = match f.get("promotion") {
                Some(n) => {
                    let (after, soak) = self.promotion(n, &f.path("promotion"));
                    // Upstream names are checked even when `soak` is wrong.
                    if let Some(after) = &after {
                        upstreams.push((name.clone(), n, f.path("promotion.after"), after.clone()));
                    }
                    after
                        .zip(soak)
                        .map(|(after, soak)| Some(Promotion { after, soak }))
                }
                None => Some(None),
            };
            out.push(match (name, auto_confirm, promotion) {
                (Some(name), Some(auto_confirm), Some(promotion)) => Some(Environment {
                    name,
                    auto_confirm,
                    promotion,
                }),
                _ => None,
            });
        }
        if let Some(names) = &names {
            self.promotion_graph(names, &upstreams);
        }
        Some((out, names))
    }

    /// `after` and `soak`, each `None` when it failed.
    #[allow(clippy::type_complexity)]
    fn promotion(
        &mut self,
        node: &Node,
        path: &str,
    ) -> (Option<Vec<String>>, Option<Option<DurationSpec>>) {
        let Some(f) = self.fields(node, path, &["after", "soak"]) else {
            return (None, None);
        };
        let after = self.required(&f, "after").and_then(|n| {
            let path = f.path("after");
            let items = self.nonempty_list(
                n,
                &path,
                "a list of environment names",
                "list the environments a version must succeed in first, or remove `promotion`",
            )?;
            let mut seen = HashMap::new();
            self.each(items, &path, |d, item, path| {
                let name = d.name(item, path, "environment name")?;
                d.unique(&mut seen, &name, item.pos, path, "environment")
                    .then_some(name)
            })
        });
        let soak = match f.get("soak") {
            Some(n) => self.duration(n, &f.path("soak")).map(Some),
            None => Some(None),
        };
        (after, soak)
    }

    /// Upstream environments must be declared, other than the environment itself, and must not
    /// lead back to it.
    fn promotion_graph(
        &mut self,
        names: &[String],
        upstreams: &[(Option<String>, &Node, String, Vec<String>)],
    ) {
        let mut known = true;
        for (env, node, path, after) in upstreams {
            let items = after_items(node);
            for (i, upstream) in after.iter().enumerate() {
                let at = items.get(i).map_or(node.pos, |n| n.pos);
                let path = index(path, i);
                if Some(upstream) == env.as_ref() {
                    self.error(at, &path, format!("{upstream:?} cannot come after itself"));
                    known = false;
                } else if !names.contains(upstream) {
                    let hint = did_you_mean(upstream, names.iter().map(String::as_str));
                    self.error(
                        at,
                        &path,
                        format!(
                            "{upstream:?} is not a declared environment{hint}; declared: {}",
                            names.join(", ")
                        ),
                    );
                    known = false;
                }
            }
        }
        if !known {
            return;
        }
        // Depth-first search from each environment along `after`; a path back to an environment
        // on the stack is a cycle, reported once, at the environment that closes it.
        let after_of = |env: &str| {
            upstreams
                .iter()
                .find(|(e, ..)| e.as_deref() == Some(env))
                .map(|(_, node, path, after)| (*node, path.as_str(), after))
        };
        let mut done: Vec<&str> = Vec::new();
        for start in names {
            let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
            while let Some((env, next)) = stack.last().copied() {
                let Some((node, path, after)) = after_of(env) else {
                    done.push(env);
                    stack.pop();
                    continue;
                };
                let Some(upstream) = after.get(next) else {
                    done.push(env);
                    stack.pop();
                    continue;
                };
                if let Some(top) = stack.last_mut() {
                    top.1 += 1;
                }
                if done.contains(&upstream.as_str()) {
                    continue;
                }
                if let Some(at) = stack.iter().position(|(e, _)| *e == upstream) {
                    let mut cycle: Vec<&str> = stack[at..].iter().map(|(e, _)| *e).collect();
                    cycle.push(upstream);
                    let pos = after_items(node).get(next).map_or(node.pos, |n| n.pos);
                    self.error(
                        pos,
                        &index(path, next),
                        format!("promotion cycle: {}", cycle.join(" → ")),
                    );
                    return;
                }
                stack.push((upstream, 0));
            }
        }
    }
}
