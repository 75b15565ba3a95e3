//! `notifications`: which events of which environments and apps go to which sink.

use std::collections::HashMap;

use crate::config::model::NotificationRule;
use crate::config::parse::decoder::{Decoder, Fields, did_you_mean};
use crate::config::yaml::Node;
use crate::notify::NoticeKind;

impl Decoder {
    /// The rules; environment and app names are checked against the declared ones when those
    /// decoded (otherwise the check would mislead).
    pub(super) fn notifications(
        &mut self,
        node: &Node,
        path: &str,
        environments: Option<&[String]>,
        apps: Option<&[String]>,
    ) -> Option<Vec<NotificationRule>> {
        let items = self.list(node, path, "a list of notification rules")?;
        self.each(items, path, |d, item, path| {
            d.notification_rule(item, path, environments, apps)
        })
    }

    fn notification_rule(
        &mut self,
        node: &Node,
        path: &str,
        environments: Option<&[String]>,
        apps: Option<&[String]>,
    ) -> Option<NotificationRule> {
        let f = self.fields(node, path, &["sink", "events", "environments", "apps"])?;
        let sink = self
            .required(&f, "sink")
            .and_then(|n| self.name(n, &f.path("sink"), "sink name"));
        let events = match f.get("events") {
            Some(n) => {
                let path = f.path("events");
                self.nonempty_list(
                    n,
                    &path,
                    "a list of events",
                    "list at least one event, or remove `events` to send the default ones",
                )
                .and_then(|items| {
                    let mut seen = HashMap::new();
                    self.each(items, &path, |d, item, path| {
                        let kind = d.choice(item, path, NoticeKind::ALL, NoticeKind::as_str)?;
                        d.unique(&mut seen, kind.as_str(), item.pos, path, "event")
                            .then_some(kind)
                    })
                })
                .map(Some)
            }
            None => Some(None),
        };
        let environments = self.declared_names(&f, "environments", "environment", environments);
        let apps = self.declared_names(&f, "apps", "app", apps);
        Some(NotificationRule {
            sink: sink?,
            events: events?,
            environments: environments?,
            apps: apps?,
        })
    }

    /// An optional, non-empty list of names, each one of `declared` (when known) and unique.
    pub(super) fn declared_names(
        &mut self,
        f: &Fields<'_>,
        key: &str,
        what: &str,
        declared: Option<&[String]>,
    ) -> Option<Vec<String>> {
        let Some(node) = f.get(key) else {
            return Some(Vec::new());
        };
        let path = f.path(key);
        let items = self.nonempty_list(
            node,
            &path,
            &format!("a list of {what} names"),
            &format!("list at least one {what}, or remove `{key}` for every {what}"),
        )?;
        let mut seen = HashMap::new();
        self.each(items, &path, |d, item, path| {
            let name = d.name(item, path, &format!("{what} name"))?;
            if let Some(declared) = declared
                && !declared.contains(&name)
            {
                let hint = did_you_mean(&name, declared.iter().map(String::as_str));
                d.error(
                    item.pos,
                    path,
                    format!("{name:?} is not a declared {what}{hint}"),
                );
                return None;
            }
            d.unique(&mut seen, &name, item.pos, path, what)
                .then_some(name)
        })
    }
}
