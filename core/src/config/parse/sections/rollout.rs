//! `apps[].rollout`: batches, pauses, parallelism and the task heartbeat and timeout.

use crate::config::model::{
    AppKind, BatchSize, DurationSpec, OnFailure, Pause, Rollout, Unreachable,
};
use crate::config::parse::decoder::{Decoder, Plain, did_you_mean, index, plain_type};
use crate::config::scalar::batch_count;
use crate::config::yaml::{Node, Value};

impl Decoder {
    pub(super) fn rollout(
        &mut self,
        node: &Node,
        path: &str,
        kind: Option<AppKind>,
    ) -> Option<Rollout> {
        let f = self.fields(
            node,
            path,
            &[
                "batches",
                "pause",
                "parallelism",
                "heartbeat",
                "timeout",
                "unreachable",
                "on_failure",
            ],
        )?;
        let defaults = Rollout::default();
        let batches = match f.get("batches") {
            Some(n) => self.batches(n, &f.path("batches"), kind),
            None => Some(defaults.batches),
        };
        let pause = match f.get("pause") {
            Some(n) => self.pause(n, &f.path("pause")),
            None => Some(Pause::None),
        };
        let parallelism = match f.get("parallelism") {
            Some(n) => self.count(n, &f.path("parallelism"), 1),
            None => Some(defaults.parallelism),
        };
        let heartbeat = match f.get("heartbeat") {
            Some(n) => self.duration(n, &f.path("heartbeat")),
            None => Some(defaults.heartbeat),
        };
        let timeout = match f.get("timeout") {
            Some(n) => self.duration(n, &f.path("timeout")),
            None => Some(defaults.timeout),
        };
        let unreachable = match f.get("unreachable") {
            Some(n) => self.unreachable(n, &f.path("unreachable"), kind),
            None => Some(defaults.unreachable),
        };
        let on_failure = match f.get("on_failure") {
            Some(n) => self.on_failure(n, &f.path("on_failure"), kind),
            None => Some(defaults.on_failure),
        };
        if let (Some(h), Some(t)) = (heartbeat, timeout)
            && h >= t
        {
            // Step Functions requires a task's heartbeat to be shorter than its timeout.
            let key = if f.get("heartbeat").is_some() {
                "heartbeat"
            } else {
                "timeout"
            };
            let pos = f.get(key).map_or(f.pos, |n| n.pos);
            self.error(
                pos,
                &f.path(key),
                format!("heartbeat ({h}) must be shorter than timeout ({t})"),
            );
            return None;
        }
        Some(Rollout {
            batches: batches?,
            pause: pause?,
            parallelism: parallelism?,
            heartbeat: heartbeat?,
            timeout: timeout?,
            unreachable: unreachable?,
            on_failure: on_failure?,
        })
    }

    fn on_failure(&mut self, node: &Node, path: &str, kind: Option<AppKind>) -> Option<OnFailure> {
        if kind == Some(AppKind::K8s) {
            self.error(
                node.pos,
                path,
                "only PM hosts wait for a decision when they fail; remove `on_failure` from this k8s app (a failed cluster rolls the app back)",
            );
            return None;
        }
        self.choice(node, path, OnFailure::ALL, OnFailure::as_str)
    }

    fn unreachable(
        &mut self,
        node: &Node,
        path: &str,
        kind: Option<AppKind>,
    ) -> Option<Unreachable> {
        if kind == Some(AppKind::K8s) {
            self.error(
                node.pos,
                path,
                "only PM apps have agents whose reachability decides; remove `unreachable` from this k8s app",
            );
            return None;
        }
        self.choice(node, path, Unreachable::ALL, Unreachable::as_str)
    }

    fn batches(
        &mut self,
        node: &Node,
        path: &str,
        kind: Option<AppKind>,
    ) -> Option<Vec<BatchSize>> {
        let items = self.nonempty_list(
            node,
            path,
            "a list of batch sizes",
            "at least one batch is required; the last must be \"100%\"",
        )?;
        let mut decoded: Vec<Option<BatchSize>> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = index(path, i);
            let size = self.batch(item, &path);
            if let (Some(BatchSize::Count(n)), Some(AppKind::K8s)) = (size, kind) {
                self.error(
                    item.pos,
                    &path,
                    format!("a host count ({n}) makes no sense for a k8s app: its batches set the share of replicas on the new version; use a percentage like \"10%\""),
                );
                decoded.push(None);
                continue;
            }
            decoded.push(size);
        }
        let mut ok = decoded.iter().all(Option::is_some);
        // Batches are cumulative: each must reach further than the one before.
        let mut previous: Option<BatchSize> = None;
        for (i, (size, item)) in decoded.iter().zip(items).enumerate() {
            let Some(size) = *size else { continue };
            let path = index(path, i);
            match (previous, size) {
                (Some(BatchSize::Percent(_)), BatchSize::Count(n)) => {
                    self.error(item.pos, &path, format!("host count {n} follows a percentage; put host counts before percentages (a count cannot be compared with a share of hosts)"));
                    ok = false;
                }
                (Some(BatchSize::Count(a)), BatchSize::Count(b)) if b <= a => {
                    self.error(item.pos, &path, format!("{b} is not more than the batch before it ({a}); batches are cumulative and must increase"));
                    ok = false;
                }
                (Some(BatchSize::Percent(a)), BatchSize::Percent(b)) if b <= a => {
                    self.error(item.pos, &path, format!("\"{b}%\" is not more than the batch before it (\"{a}%\"); batches are cumulative and must increase"));
                    ok = false;
                }
                _ => {}
            }
            previous = Some(size);
        }
        if let (Some(Some(last)), Some(item)) = (decoded.last(), items.last())
            && *last != BatchSize::Percent(100)
        {
            let shown = match last {
                BatchSize::Count(n) => n.to_string(),
                BatchSize::Percent(_) => format!("\"{last}\""),
            };
            self.error(
                item.pos,
                &index(path, items.len() - 1),
                format!("the last batch must be \"100%\", found {shown}"),
            );
            ok = false;
        }
        ok.then(|| decoded.into_iter().flatten().collect())
    }

    fn batch(&mut self, node: &Node, path: &str) -> Option<BatchSize> {
        let result = match &node.value {
            Value::Scalar { text, plain: true } if plain_type(text) == Plain::Int => {
                match text.parse::<u64>() {
                    Ok(n) => batch_count(n),
                    Err(_) if text.starts_with('-') => {
                        Err(format!("{text} is negative: counts start at 1"))
                    }
                    Err(_) => Err(format!("expected a decimal host count, found {text}")),
                }
            }
            Value::Scalar { text, plain }
                if text.ends_with('%') && (!plain || plain_type(text) == Plain::Str) =>
            {
                text.parse::<BatchSize>()
            }
            _ => {
                self.expected(
                    node,
                    path,
                    "a host count like 1 or a percentage like \"25%\"",
                );
                return None;
            }
        };
        result
            .map_err(|message| self.error(node.pos, path, message))
            .ok()
    }

    fn pause(&mut self, node: &Node, path: &str) -> Option<Pause> {
        if let Value::Scalar { text, plain: true } = &node.value
            && plain_type(text) == Plain::Int
        {
            self.error(
                node.pos,
                path,
                format!("{text} has no unit; write it like \"{text}s\" or \"{text}m\""),
            );
            return None;
        }
        let text = self.string(node, path)?;
        match text.parse::<Pause>() {
            Ok(Pause::Wait(DurationSpec(0))) => {
                self.error(
                    node.pos,
                    path,
                    format!("{text:?} pauses for no time; write \"none\" for no pause"),
                );
                None
            }
            Ok(pause) => Some(pause),
            Err(_) => {
                let message = match text.parse::<DurationSpec>() {
                    // The duration's own complaint (too long) is more precise.
                    Err(m) if m.contains("maximum") => m,
                    _ => format!(
                        "expected a duration like \"5m\", \"manual\" or \"none\", found {text:?}{}",
                        did_you_mean(&text, ["manual", "none"])
                    ),
                };
                self.error(node.pos, path, message);
                None
            }
        }
    }
}
