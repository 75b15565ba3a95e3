//! `environments`: the list of environments, their names and `auto_confirm`.

use std::collections::HashMap;

use crate::config::model::Environment;
use crate::config::parse::decoder::{Decoder, index};
use crate::config::yaml::Node;

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
        for (i, item) in items.iter().enumerate() {
            let path = index(path, i);
            let Some(f) = self.fields(item, &path, &["name", "auto_confirm"]) else {
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
            out.push(
                name.zip(auto_confirm)
                    .map(|(name, auto_confirm)| Environment { name, auto_confirm }),
            );
        }
        Some((out, names))
    }
}
