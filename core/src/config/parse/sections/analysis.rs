//! `apps[].analysis`: the metric checks measured after each batch of the app.

use std::collections::{BTreeMap, HashMap};

use crate::analysis::{Condition, NoData};
use crate::config::model::{
    ANALYSIS_PLACEHOLDERS, AnalysisCheck, CloudWatchQuery, HttpQuery, PrometheusQuery,
};
use crate::config::parse::decoder::Decoder;
use crate::config::yaml::{Node, Value};

/// The sources a check takes its value from: exactly one per check.
const SOURCES: [&str; 3] = ["prometheus", "cloudwatch", "http"];

impl Decoder {
    /// `batches` is how many batches the app's rollout declares, when it parsed.
    pub(super) fn analysis(
        &mut self,
        node: &Node,
        path: &str,
        batches: Option<usize>,
    ) -> Option<Vec<AnalysisCheck>> {
        let items = self.nonempty_list(
            node,
            path,
            "a list of checks",
            "list at least one check, or remove `analysis`",
        )?;
        let mut seen = HashMap::new();
        self.each(items, path, |d, item, path| {
            let check = d.check(item, path, batches)?;
            let pos = item.pos;
            d.unique(
                &mut seen,
                &check.name,
                pos,
                &format!("{path}.name"),
                "check",
            )
            .then_some(check)
        })
    }

    fn check(&mut self, node: &Node, path: &str, batches: Option<usize>) -> Option<AnalysisCheck> {
        let f = self.fields(
            node,
            path,
            &[
                "name",
                "prometheus",
                "cloudwatch",
                "http",
                "condition",
                "initial_delay",
                "interval",
                "count",
                "failure_limit",
                "inconclusive_limit",
                "consecutive_error_limit",
                "no_data",
                "min_samples",
                "dry_run",
                "batches",
            ],
        )?;
        let name = self
            .required(&f, "name")
            .and_then(|n| self.name(n, &f.path("name"), "check name"));
        let given: Vec<&str> = SOURCES.into_iter().filter(|s| f.get(s).is_some()).collect();
        if given.len() != 1 {
            let pos = given.get(1).and_then(|s| f.key_pos(s)).unwrap_or(f.pos);
            self.error(
                pos,
                path,
                format!(
                    "a check takes its value from exactly one of `prometheus`, `cloudwatch` and \
                     `http`; found {}",
                    if given.is_empty() {
                        "none".to_owned()
                    } else {
                        given.join(" and ")
                    }
                ),
            );
            return None;
        }
        let prometheus = f
            .get("prometheus")
            .map(|n| self.prometheus(n, &f.path("prometheus")));
        let cloudwatch = f
            .get("cloudwatch")
            .map(|n| self.cloudwatch(n, &f.path("cloudwatch")));
        let http = f.get("http").map(|n| self.http_query(n, &f.path("http")));
        // Read from the source, so that a broken `cloudwatch` section adds no error here.
        let alarm = f.get("cloudwatch").is_some_and(|n| {
            matches!(&n.value, Value::Mapping(entries) if entries.iter().any(|e| e.key == "alarm"))
        });
        let condition = match (f.get("condition"), alarm) {
            (Some(n), true) => {
                self.error(
                    n.pos,
                    &f.path("condition"),
                    "an alarm check takes no condition: it fails while the alarm is in ALARM",
                );
                None
            }
            (Some(n), false) => self.condition(n, &f.path("condition")).map(Some),
            (None, true) => Some(None),
            (None, false) => {
                self.required(&f, "condition");
                None
            }
        };
        let duration = |d: &mut Self, key: &str| match f.get(key) {
            Some(n) => d.duration(n, &f.path(key)).map(Some),
            None => Some(None),
        };
        let initial_delay = duration(self, "initial_delay");
        let interval = duration(self, "interval");
        let number = |d: &mut Self, key: &str, min: u32, default: u32| match f.get(key) {
            Some(n) => d.count(n, &f.path(key), min),
            None => Some(default),
        };
        let defaults = crate::analysis::Limits::default();
        let count = number(self, "count", 1, defaults.count);
        let failure_limit = number(self, "failure_limit", 0, defaults.failure_limit);
        let inconclusive_limit = number(self, "inconclusive_limit", 0, defaults.inconclusive_limit);
        let consecutive_error_limit = number(
            self,
            "consecutive_error_limit",
            0,
            defaults.consecutive_error_limit,
        );
        let no_data = match f.get("no_data") {
            Some(n) => self.choice(n, &f.path("no_data"), NoData::ALL, NoData::as_str),
            None => Some(defaults.no_data),
        };
        let min_samples = match f.get("min_samples") {
            Some(n) => self
                .count(n, &f.path("min_samples"), 1)
                .map(|n| Some(u64::from(n))),
            None => Some(None),
        };
        let dry_run = match f.get("dry_run") {
            Some(n) => self.boolean(n, &f.path("dry_run")),
            None => Some(false),
        };
        let after = match f.get("batches") {
            Some(n) => self.after_batches(n, &f.path("batches"), batches),
            None => Some(Vec::new()),
        };
        Some(AnalysisCheck {
            name: name?,
            prometheus: prometheus.map_or(Some(None), |q| q.map(Some))?,
            cloudwatch: cloudwatch.map_or(Some(None), |q| q.map(Some))?,
            http: http.map_or(Some(None), |q| q.map(Some))?,
            condition: condition?,
            initial_delay: initial_delay?,
            interval: interval?.unwrap_or(AnalysisCheck::DEFAULT_INTERVAL),
            count: count?,
            failure_limit: failure_limit?,
            inconclusive_limit: inconclusive_limit?,
            consecutive_error_limit: consecutive_error_limit?,
            no_data: no_data?,
            min_samples: min_samples?,
            dry_run: dry_run?,
            batches: after?,
        })
    }

    /// `batches: [1, 3]`: the batches, counted from 1, after which a check measures; each at
    /// most the number the rollout declares, and each once.
    fn after_batches(
        &mut self,
        node: &Node,
        path: &str,
        declared: Option<usize>,
    ) -> Option<Vec<u32>> {
        let items = self.nonempty_list(
            node,
            path,
            "a list of batch numbers",
            "list the batches (from 1) the check follows, or remove `batches` to follow every one",
        )?;
        let mut seen = HashMap::new();
        self.each(items, path, |d, item, path| {
            let n = d.count(item, path, 1)?;
            if let Some(declared) = declared
                && usize::try_from(n).is_ok_and(|n| n > declared)
            {
                d.error(
                    item.pos,
                    path,
                    format!("there is no batch {n}: the rollout declares {declared}"),
                );
                return None;
            }
            d.unique(&mut seen, &n.to_string(), item.pos, path, "batch")
                .then_some(n)
        })
    }

    fn condition(&mut self, node: &Node, path: &str) -> Option<Condition> {
        // `< 0.01` reads as a string; a bare number is not a condition.
        let text = match &node.value {
            Value::Scalar { text, .. } => text.clone(),
            _ => {
                self.expected(node, path, "a condition like \"< 0.01\" or \"0.9..1\"");
                return None;
            }
        };
        match Condition::parse(&text) {
            Ok(c) => Some(c),
            Err(message) => {
                self.error(node.pos, path, message);
                None
            }
        }
    }

    fn prometheus(&mut self, node: &Node, path: &str) -> Option<PrometheusQuery> {
        let f = self.fields(node, path, &["url", "query", "credential"])?;
        let url = self
            .required(&f, "url")
            .and_then(|n| self.http_url(n, &f.path("url")));
        let query = self
            .required(&f, "query")
            .and_then(|n| self.placeholders(n, &f.path("query")));
        let credential = match f.get("credential") {
            Some(n) => self
                .name(n, &f.path("credential"), "credential name")
                .map(Some),
            None => Some(None),
        };
        Some(PrometheusQuery {
            url: url?,
            query: query?,
            credential: credential?,
        })
    }

    fn cloudwatch(&mut self, node: &Node, path: &str) -> Option<CloudWatchQuery> {
        let f = self.fields(
            node,
            path,
            &[
                "alarm",
                "namespace",
                "metric",
                "dimensions",
                "statistic",
                "period",
            ],
        )?;
        let text = |d: &mut Self, key: &str| match f.get(key) {
            Some(n) => d.word(n, &f.path(key)).map(Some),
            None => Some(None),
        };
        let alarm = text(self, "alarm");
        let namespace = text(self, "namespace");
        let metric = text(self, "metric");
        let statistic = text(self, "statistic");
        let period = match f.get("period") {
            Some(n) => self.duration(n, &f.path("period")).map(Some),
            None => Some(None),
        };
        let dimensions = match f.get("dimensions") {
            Some(n) => self.dimensions(n, &f.path("dimensions")),
            None => Some(BTreeMap::new()),
        };
        let metric_keys = ["namespace", "metric", "dimensions", "statistic", "period"];
        if f.get("alarm").is_some() {
            if let Some(key) = metric_keys.into_iter().find(|k| f.get(k).is_some()) {
                self.error(
                    f.key_pos(key).unwrap_or(f.pos),
                    &f.path(key),
                    "an alarm check takes the alarm's name only; its metric is the alarm's",
                );
                return None;
            }
        } else {
            let mut ok = true;
            for key in ["namespace", "metric", "statistic"] {
                if f.get(key).is_none() {
                    self.error(
                        f.pos,
                        &f.path(key),
                        "required field is missing: a metric check names `namespace`, `metric` \
                         and `statistic` (or give an `alarm`)",
                    );
                    ok = false;
                }
            }
            if !ok {
                return None;
            }
        }
        Some(CloudWatchQuery {
            alarm: alarm?,
            namespace: namespace?,
            metric: metric?,
            dimensions: dimensions?,
            statistic: statistic?,
            period: period?,
        })
    }

    fn dimensions(&mut self, node: &Node, path: &str) -> Option<BTreeMap<String, String>> {
        let entries = self.mapping(node, path, "a mapping of dimension names to values")?;
        let mut out = BTreeMap::new();
        let mut ok = true;
        for entry in entries {
            let path = format!("{path}.{}", entry.key);
            match self.placeholders(&entry.value, &path) {
                Some(v) => {
                    out.insert(entry.key.clone(), v);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn http_query(&mut self, node: &Node, path: &str) -> Option<HttpQuery> {
        let f = self.fields(node, path, &["url", "json_path"])?;
        let url = self.required(&f, "url").and_then(|n| {
            let url = self.http_url(n, &f.path("url"))?;
            self.placeholders(n, &f.path("url")).map(|_| url)
        });
        let json_path = self
            .required(&f, "json_path")
            .and_then(|n| self.json_path(n, &f.path("json_path")));
        Some(HttpQuery {
            url: url?,
            json_path: json_path?,
        })
    }

    fn json_path(&mut self, node: &Node, path: &str) -> Option<String> {
        let text = self.word(node, path)?;
        let valid = text.strip_prefix('$').is_some_and(|mut rest| {
            while !rest.is_empty() {
                if let Some(after) = rest.strip_prefix('.') {
                    let end = after.find(['.', '[']).unwrap_or(after.len());
                    let key = &after[..end];
                    if key.is_empty()
                        || !key
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    {
                        return false;
                    }
                    rest = &after[end..];
                } else if let Some(after) = rest.strip_prefix('[') {
                    let Some(end) = after.find(']') else {
                        return false;
                    };
                    if end == 0 || !after[..end].chars().all(|c| c.is_ascii_digit()) {
                        return false;
                    }
                    rest = &after[end + 1..];
                } else {
                    return false;
                }
            }
            true
        });
        if valid {
            Some(text)
        } else {
            self.error(
                node.pos,
                path,
                format!("{text:?} is not a JSON path like `$.status.ratio` or `$.items[0].value`"),
            );
            None
        }
    }

    /// A string whose `{word}` placeholders are all known ones. PromQL's own braces
    /// (`{app="api"}`) hold more than a word and are left alone.
    fn placeholders(&mut self, node: &Node, path: &str) -> Option<String> {
        let text = self.string(node, path)?;
        if text.trim().is_empty() {
            self.error(node.pos, path, "must not be empty");
            return None;
        }
        let mut rest = text.as_str();
        while let Some(start) = rest.find('{') {
            // Each `{` is looked at on its own: PromQL's braces may hold a placeholder.
            let after = &rest[start + 1..];
            rest = after;
            let Some(end) = after.find(|c: char| !(c.is_ascii_lowercase() || c == '_')) else {
                break;
            };
            let word = &after[..end];
            if !word.is_empty()
                && after[end..].starts_with('}')
                && !ANALYSIS_PLACEHOLDERS.contains(&word)
            {
                self.error(
                    node.pos,
                    path,
                    format!(
                        "unknown placeholder {{{word}}}; known: {}",
                        ANALYSIS_PLACEHOLDERS
                            .iter()
                            .map(|p| format!("{{{p}}}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                return None;
            }
        }
        Some(text)
    }
}
