//! `apps[].pm.hooks`, `apps[].pm.release_hooks`, `run_as` and the release file's `hooks`.

use std::collections::HashMap;

use crate::config::hooks::{HookName, HookSpec, Hooks, is_valid_user};
use crate::config::parse::decoder::{Decoder, index};
use crate::config::yaml::{Node, Value};

const HOOK_FIELDS: [&str; 6] = [
    "command",
    "timeout",
    "retries",
    "grace",
    "run_as",
    "working_dir",
];

impl Decoder {
    /// A mapping from hook names to hooks; a `start` hook needs a `stop` hook, since the agent
    /// cannot stop what it did not start itself.
    pub(in crate::config::parse) fn hooks(&mut self, node: &Node, path: &str) -> Option<Hooks> {
        let names: Vec<&str> = HookName::ALL.iter().map(|n| n.as_str()).collect();
        let f = self.fields(node, path, &names)?;
        let mut hooks = Hooks::default();
        let mut ok = true;
        for &name in HookName::ALL {
            if let Some(n) = f.get(name.as_str()) {
                match self.hook(n, &f.path(name.as_str())) {
                    Some(h) => hooks.set(name, Some(h)),
                    None => ok = false,
                }
            }
        }
        if ok && hooks.start.is_some() && hooks.stop.is_none() {
            let pos = f.key_pos("start").unwrap_or(f.pos);
            self.error(
                pos,
                &f.path("start"),
                "a `start` hook needs a `stop` hook: the agent cannot stop what it did not start",
            );
            return None;
        }
        ok.then_some(hooks)
    }

    fn hook(&mut self, node: &Node, path: &str) -> Option<HookSpec> {
        let f = self.fields(node, path, &HOOK_FIELDS)?;
        let command = self
            .required(&f, "command")
            .and_then(|n| self.command(n, &f.path("command")));
        let timeout = match f.get("timeout") {
            Some(n) => self.duration(n, &f.path("timeout")),
            None => Some(HookSpec::default_timeout()),
        };
        let retries = match f.get("retries") {
            Some(n) => self.count(n, &f.path("retries"), 0),
            None => Some(0),
        };
        let grace = match f.get("grace") {
            Some(n) => self.duration(n, &f.path("grace")),
            None => Some(HookSpec::default_grace()),
        };
        let run_as = f.get("run_as").map(|n| self.user(n, &f.path("run_as")));
        let working_dir = f
            .get("working_dir")
            .map(|n| self.working_dir(n, &f.path("working_dir")));
        Some(HookSpec {
            command: command?,
            timeout: timeout?,
            retries: retries?,
            grace: grace?,
            run_as: run_as.map_or(Some(None), |u| u.map(Some))?,
            working_dir: working_dir.map_or(Some(None), |w| w.map(Some))?,
        })
    }

    /// A Unix user name.
    pub(super) fn user(&mut self, node: &Node, path: &str) -> Option<String> {
        let text = self.string(node, path)?;
        if is_valid_user(&text) {
            return Some(text);
        }
        self.error(
            node.pos,
            path,
            format!(
                "{text:?} is not a valid user name: 1 to 32 lowercase letters, digits, '_' and '-', starting with a letter or '_'"
            ),
        );
        None
    }

    /// A directory: absolute, or relative to the release without leaving it.
    fn working_dir(&mut self, node: &Node, path: &str) -> Option<String> {
        let text = self.string(node, path)?;
        let problem = if text.is_empty() {
            Some("must not be empty".to_owned())
        } else if text.contains('\0') {
            Some("must not contain a NUL character".to_owned())
        } else if !text.starts_with('/') && text.split('/').any(|c| c == "..") {
            Some(format!(
                "{text:?} leaves the release directory; use an absolute path for a directory outside it"
            ))
        } else {
            None
        };
        match problem {
            Some(message) => {
                self.error(node.pos, path, message);
                None
            }
            None => Some(text),
        }
    }

    /// The hooks a release file may replace.
    pub(super) fn release_hooks(&mut self, node: &Node, path: &str) -> Option<Vec<HookName>> {
        let items = self.list(node, path, "a list of hook names")?;
        let mut seen = HashMap::new();
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let path = index(path, i);
            match self.choice(item, &path, HookName::ALL, HookName::as_str) {
                Some(name) if self.unique(&mut seen, name.as_str(), item.pos, &path, "hook") => {
                    out.push(name);
                }
                _ => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// The whole release file: `hooks` and nothing else.
    pub(in crate::config::parse) fn release_file(
        &mut self,
        root: &Node,
    ) -> Option<crate::config::hooks::ReleaseFile> {
        if !matches!(root.value, Value::Mapping(_)) {
            self.expected(root, "", "a mapping with `hooks`");
            return None;
        }
        let f = self.fields(root, "", &["hooks"])?;
        let hooks = match f.get("hooks") {
            Some(n) => self.hooks(n, "hooks")?,
            None => Hooks::default(),
        };
        Some(crate::config::hooks::ReleaseFile { hooks })
    }
}
