//! `apps[].k8s`: clusters per environment and the Deployment, container and image to set.

use std::collections::HashMap;

use crate::config::model::K8sSpec;
use crate::config::parse::decoder::{Decoder, is_label};
use crate::config::yaml::Node;

impl Decoder {
    pub(super) fn k8s(
        &mut self,
        node: &Node,
        path: &str,
        environments: Option<&[String]>,
    ) -> Option<K8sSpec> {
        let f = self.fields(
            node,
            path,
            &["clusters", "namespace", "deployment", "container", "image"],
        )?;
        let clusters = self.required(&f, "clusters").and_then(|n| {
            self.per_environment(
                n,
                &f.path("clusters"),
                environments,
                "clusters",
                Self::clusters,
            )
        });
        let namespace = match f.get("namespace") {
            Some(n) => self.k8s_name(n, &f.path("namespace"), "namespace", 63),
            None => Some(K8sSpec::default_namespace()),
        };
        let deployment = self
            .required(&f, "deployment")
            .and_then(|n| self.k8s_name(n, &f.path("deployment"), "Deployment name", 253));
        let container = self
            .required(&f, "container")
            .and_then(|n| self.k8s_name(n, &f.path("container"), "container name", 63));
        let image = self.required(&f, "image").and_then(|n| {
            let path = f.path("image");
            let image = self.word(n, &path)?;
            self.template(n, &path, &image).then_some(image)
        });
        Some(K8sSpec {
            clusters: clusters?,
            namespace: namespace?,
            deployment: deployment?,
            container: container?,
            image: image?,
        })
    }

    fn clusters(&mut self, items: &[Node], path: &str) -> Option<Vec<String>> {
        let mut seen = HashMap::new();
        self.each(items, path, |d, item, path| {
            let name = d.name(item, path, "cluster name")?;
            d.unique(&mut seen, &name, item.pos, path, "cluster")
                .then_some(name)
        })
    }

    /// A Kubernetes object name: DNS-1123 labels (joined by dots when `max` > 63).
    fn k8s_name(&mut self, node: &Node, path: &str, what: &str, max: usize) -> Option<String> {
        let name = self.string(node, path)?;
        let valid = if max > 63 {
            name.len() <= max && name.split('.').all(|label| is_label(label, 63))
        } else {
            is_label(&name, max)
        };
        if valid {
            return Some(name);
        }
        let rule = if max > 63 {
            "lowercase letters, digits, '-' and '.'"
        } else {
            "lowercase letters, digits and '-'"
        };
        self.error(node.pos, path, format!("{name:?} is not a valid Kubernetes {what}: up to {max} {rule}, starting and ending with a letter or digit"));
        None
    }
}
