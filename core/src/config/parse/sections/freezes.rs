//! `freezes`: windows during which deployments do not start or go on.

use std::collections::HashMap;

use crate::config::model::{Freeze, FreezeBlock, OnRunning};
use crate::config::parse::decoder::Decoder;
use crate::config::yaml::{Node, Pos};
use crate::policy;

const FIELDS: &[&str] = &[
    "name",
    "reason",
    "environments",
    "apps",
    "timezone",
    "rrule",
    "cron",
    "duration",
    "from",
    "until",
    "blocks",
    "running",
];

impl Decoder {
    /// The windows; environment and app names are checked against the declared ones when those
    /// decoded.
    pub(super) fn freezes(
        &mut self,
        node: &Node,
        path: &str,
        environments: Option<&[String]>,
        apps: Option<&[String]>,
    ) -> Option<Vec<Freeze>> {
        let items = self.list(node, path, "a list of freeze windows")?;
        let mut names = HashMap::new();
        self.each(items, path, |d, item, path| {
            d.freeze(item, path, environments, apps, &mut names)
        })
    }

    fn freeze(
        &mut self,
        node: &Node,
        path: &str,
        environments: Option<&[String]>,
        apps: Option<&[String]>,
        names: &mut HashMap<String, Pos>,
    ) -> Option<Freeze> {
        let f = self.fields(node, path, FIELDS)?;
        let name = self.required(&f, "name").and_then(|n| {
            let path = f.path("name");
            let name = self.name(n, &path, "freeze name")?;
            self.unique(names, &name, n.pos, &path, "freeze name")
                .then_some(name)
        });
        let reason = self.required(&f, "reason").and_then(|n| {
            let path = f.path("reason");
            let text = self.string(n, &path)?;
            if text.trim().is_empty() {
                self.error(
                    n.pos,
                    &path,
                    "say why deployments wait; it is shown wherever the window is",
                );
                return None;
            }
            Some(text)
        });
        let envs = match f.get("environments") {
            Some(_) => self.declared_names(&f, "environments", "environment", environments),
            None => {
                self.required(&f, "environments");
                None
            }
        };
        let apps = self.declared_names(&f, "apps", "app", apps);
        let timezone = match f.get("timezone") {
            Some(n) => {
                let path = f.path("timezone");
                self.string(n, &path).and_then(|z| match policy::zone(&z) {
                    Ok(_) => Some(z),
                    Err(message) => {
                        self.error(n.pos, &path, message);
                        None
                    }
                })
            }
            None => Some("UTC".to_owned()),
        };
        let mut text = |key: &str| match f.get(key) {
            Some(n) => self.word_or_text(n, &f.path(key)).map(Some),
            None => Some(None),
        };
        let (rrule, cron, from, until) = (text("rrule"), text("cron"), text("from"), text("until"));
        let duration = match f.get("duration") {
            Some(n) => self.duration(n, &f.path("duration")).map(Some),
            None => Some(None),
        };
        let blocks = match f.get("blocks") {
            Some(n) => {
                let path = f.path("blocks");
                self.nonempty_list(
                    n,
                    &path,
                    "a list of `start` and `batches`",
                    "block at least one of `start` and `batches`",
                )
                .and_then(|items| {
                    let mut seen = HashMap::new();
                    self.each(items, &path, |d, item, path| {
                        let block = d.choice(item, path, FreezeBlock::ALL, FreezeBlock::as_str)?;
                        d.unique(&mut seen, block.as_str(), item.pos, path, "block")
                            .then_some(block)
                    })
                })
            }
            None => Some(vec![FreezeBlock::Start, FreezeBlock::Batches]),
        };
        let running = match f.get("running") {
            Some(n) => self
                .choice(n, &f.path("running"), OnRunning::ALL, OnRunning::as_str)
                .map(Some),
            None => Some(None),
        };
        let freeze = Freeze {
            name: name?,
            reason: reason?,
            environments: envs?,
            apps: apps?,
            timezone: timezone?,
            rrule: rrule?,
            cron: cron?,
            duration: duration?,
            from: from?,
            until: until?,
            blocks: blocks?,
            running: running?,
        };
        // The rules that span fields, and the texts of the schedule, are the ones the API applies
        // to a window added there; here they get a position.
        if let Err(e) = freeze.window() {
            let at = f.get(e.field).map_or(f.pos, |n| n.pos);
            self.error(at, &f.path(e.field), e.message);
            return None;
        }
        Some(freeze)
    }

    /// A string whose surrounding whitespace is insignificant, which must say something.
    fn word_or_text(&mut self, node: &Node, path: &str) -> Option<String> {
        let text = self.string(node, path)?;
        if text.trim().is_empty() {
            self.error(node.pos, path, "must not be empty");
            return None;
        }
        Some(text.trim().to_owned())
    }
}
