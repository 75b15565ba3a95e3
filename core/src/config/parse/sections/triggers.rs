//! `triggers`: the tag glob and the branches that start a deployment.

use crate::config::model::Triggers;
use crate::config::parse::decoder::Decoder;
use crate::config::yaml::Node;

impl Decoder {
    pub(super) fn triggers(&mut self, node: &Node, path: &str) -> Option<Triggers> {
        let f = self.fields(node, path, &["tags", "branches"])?;
        let tags = match f.get("tags") {
            Some(n) => self.glob(n, &f.path("tags")).map(Some),
            None => Some(None),
        };
        let branches = match f.get("branches") {
            Some(n) => {
                let path = f.path("branches");
                self.list(n, &path, "a list of branch names")
                    .and_then(|items| self.each(items, &path, |d, item, path| d.branch(item, path)))
            }
            None => Some(Vec::new()),
        };
        Some(Triggers {
            tags: tags?,
            branches: branches?,
        })
    }

    fn branch(&mut self, node: &Node, path: &str) -> Option<String> {
        let name = self.word(node, path)?;
        // The rules of `git check-ref-format` that a typo is likely to break.
        let bad = name.starts_with(['-', '/', '.'])
            || name.ends_with(['/', '.'])
            || name.ends_with(".lock")
            || name.contains("..")
            || name.contains("//")
            || name.contains("@{")
            || name
                .chars()
                .any(|c| c.is_control() || matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\'));
        if bad {
            self.error(
                node.pos,
                path,
                format!("{name:?} is not a valid git branch name"),
            );
            return None;
        }
        Some(name)
    }
}
