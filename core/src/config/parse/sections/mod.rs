//! The schema walk: one module per section of `boreas.yaml`, each an `impl Decoder` block that
//! checks its section's fields and decodes them with the shared rules of [`super::decoder`].
//!
//! A new top-level section gets its own module here and one line in [`Decoder::config`]; a new
//! field of an app goes into the module of the section that holds it (`app` for the common
//! fields). Checks that span several sections or apps belong in [`super::graph`].

mod analysis;
mod app;
mod env;
mod environments;
mod freezes;
mod hooks;
mod k8s;
mod notifications;
mod pm;
mod rollout;
mod triggers;

use crate::config::model::{Config, Triggers};
use crate::config::parse::decoder::Decoder;
use crate::config::yaml::{Node, Value};

impl Decoder {
    /// The whole file: a mapping of the top-level sections.
    pub(super) fn config(&mut self, root: &Node) -> Option<Config> {
        if !matches!(root.value, Value::Mapping(_)) {
            self.expected(root, "", "a mapping with `environments` and `apps`");
            return None;
        }
        let f = self.fields(
            root,
            "",
            &[
                "environments",
                "triggers",
                "apps",
                "notifications",
                "freezes",
            ],
        )?;
        let environments = match self.required(&f, "environments") {
            Some(node) => self.environments(node, "environments"),
            None => None,
        };
        // Host and cluster keys are checked against the environments that decoded, if the list did.
        let env_names: Option<Vec<String>> =
            environments.as_ref().and_then(|(_, names)| names.clone());
        let triggers = match f.get("triggers") {
            Some(node) => self.triggers(node, "triggers"),
            None => Some(Triggers::default()),
        };
        let apps = match self.required(&f, "apps") {
            Some(node) => self.apps(node, "apps", env_names.as_deref()),
            None => None,
        };
        let app_names: Option<Vec<String>> = apps
            .as_ref()
            .map(|apps| apps.iter().map(|a| a.name.clone()).collect());
        let notifications = match f.get("notifications") {
            Some(node) => self
                .notifications(
                    node,
                    "notifications",
                    env_names.as_deref(),
                    app_names.as_deref(),
                )
                .map(Some),
            None => Some(None),
        };
        let freezes = match f.get("freezes") {
            Some(node) => self.freezes(node, "freezes", env_names.as_deref(), app_names.as_deref()),
            None => Some(Vec::new()),
        };
        Some(Config {
            environments: environments?.0.into_iter().collect::<Option<Vec<_>>>()?,
            triggers: triggers?,
            apps: apps?,
            notifications: notifications?,
            freezes: freezes?,
        })
    }
}
