//! `apps[].pm`: hosts per environment, the artifact, how it runs and its health probe (hooks and
//! variables have their own modules).

use std::collections::{BTreeMap, HashMap};

use crate::config::hooks::Hooks;
use crate::config::model::{ArtifactSpec, HealthCheck, HealthSpec, HostRef, PmSpec, RunSpec};
use crate::config::parse::decoder::{Decoder, index};
use crate::config::yaml::{Node, Value};

impl Decoder {
    pub(super) fn pm(
        &mut self,
        node: &Node,
        path: &str,
        app: Option<&str>,
        environments: Option<&[String]>,
    ) -> Option<PmSpec> {
        let f = self.fields(
            node,
            path,
            &[
                "hosts",
                "artifact",
                "run",
                "health",
                "run_as",
                "hooks",
                "release_hooks",
                "env",
            ],
        )?;
        let hosts = self.required(&f, "hosts").and_then(|n| {
            self.per_environment(n, &f.path("hosts"), environments, "hosts", Self::hosts)
        });
        let artifact = self
            .required(&f, "artifact")
            .and_then(|n| self.artifact(n, &f.path("artifact")));
        let hooks = match f.get("hooks") {
            Some(n) => self.hooks(n, &f.path("hooks")),
            None => Some(Hooks::default()),
        };
        // `run` may be left out only when a `start` hook starts the app.
        let run = match f.get("run") {
            Some(n) => self.run(n, &f.path("run")).map(Some),
            None if hooks.as_ref().is_some_and(|h| h.start.is_some()) => Some(None),
            None if hooks.is_none() => None,
            None => {
                self.error(
                    f.pos,
                    &f.path("run"),
                    "required field is missing: give `run` (or a `hooks.start` that starts the app)",
                );
                None
            }
        };
        let health = self
            .required(&f, "health")
            .and_then(|n| self.health(n, &f.path("health")));
        let run_as = f.get("run_as").map(|n| self.user(n, &f.path("run_as")));
        let release_hooks = match f.get("release_hooks") {
            Some(n) => self.release_hooks(n, &f.path("release_hooks")),
            None => Some(Vec::new()),
        };
        let env = match f.get("env") {
            Some(n) => self.env(n, &f.path("env"), app, environments),
            None => Some(BTreeMap::new()),
        };
        Some(PmSpec {
            hosts: hosts?,
            artifact: artifact?,
            run: run?,
            health: health?,
            run_as: run_as.map_or(Some(None), |u| u.map(Some))?,
            hooks: hooks?,
            release_hooks: release_hooks?,
            env: env?,
        })
    }

    fn hosts(&mut self, items: &[Node], path: &str) -> Option<Vec<HostRef>> {
        let mut seen = HashMap::new();
        let mut ok = true;
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = index(path, i);
            let host = match &item.value {
                Value::Mapping(_) => self.fields(item, &path, &["group"]).and_then(|f| {
                    let group = self.required(&f, "group")?;
                    let name = self.name(group, &f.path("group"), "group name")?;
                    self.unique(
                        &mut seen,
                        &format!("group {name}"),
                        item.pos,
                        &path,
                        "entry",
                    )
                    .then_some(HostRef::Group { group: name })
                }),
                Value::Scalar { .. } => self.name(item, &path, "host name").and_then(|name| {
                    self.unique(&mut seen, &name, item.pos, &path, "host")
                        .then_some(HostRef::Host(name))
                }),
                Value::Sequence(_) => {
                    self.expected(item, &path, "a host name or {group: NAME}");
                    None
                }
            };
            match host {
                Some(host) => out.push(host),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn artifact(&mut self, node: &Node, path: &str) -> Option<ArtifactSpec> {
        let f = self.fields(node, path, &["url", "sha256", "sha256_url"])?;
        let url = self
            .required(&f, "url")
            .and_then(|n| self.url_template(n, &f.path("url")));
        let sha256 = f.get("sha256").map(|n| {
            let path = f.path("sha256");
            let text = self.string(n, &path)?;
            if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                Some(text.to_ascii_lowercase())
            } else {
                self.error(
                    n.pos,
                    &path,
                    format!(
                        "must be 64 hexadecimal characters (a SHA-256 digest), found {} characters",
                        text.chars().count()
                    ),
                );
                None
            }
        });
        let sha256_url = f
            .get("sha256_url")
            .map(|n| self.url_template(n, &f.path("sha256_url")));
        let exactly_one = match (&sha256, &sha256_url) {
            (Some(_), Some(_)) => {
                let pos = f.key_pos("sha256_url").unwrap_or(f.pos);
                self.error(
                    pos,
                    &f.path("sha256_url"),
                    "give either `sha256` or `sha256_url`, not both",
                );
                false
            }
            (None, None) => {
                self.error(f.pos, &f.path("sha256"), "required field is missing: give `sha256` or `sha256_url` so the download can be verified");
                false
            }
            _ => true,
        };
        let sha256 = sha256.map_or(Some(None), |s| s.map(Some))?;
        let sha256_url = sha256_url.map_or(Some(None), |s| s.map(Some))?;
        exactly_one.then_some(ArtifactSpec {
            url: url?,
            sha256,
            sha256_url,
        })
    }

    /// A URL template: an allowed scheme and `{version}`, and no other placeholder.
    fn url_template(&mut self, node: &Node, path: &str) -> Option<String> {
        let url = self.word(node, path)?;
        const SCHEMES: [&str; 4] = ["s3://", "https://", "http://", "file://"];
        let mut ok = true;
        match SCHEMES.iter().find(|s| url.starts_with(*s)) {
            Some(scheme) if url.len() > scheme.len() => {}
            Some(_) => {
                self.error(
                    node.pos,
                    path,
                    format!("{url:?} has nothing after the scheme"),
                );
                ok = false;
            }
            None => {
                self.error(
                    node.pos,
                    path,
                    format!("{url:?} must start with s3://, https://, http:// or file://"),
                );
                ok = false;
            }
        }
        ok &= self.template(node, path, &url);
        ok.then_some(url)
    }

    fn run(&mut self, node: &Node, path: &str) -> Option<RunSpec> {
        let f = self.fields(node, path, &["command", "systemd"])?;
        match (f.get("command"), f.get("systemd")) {
            (Some(_), Some(_)) => {
                let pos = f.key_pos("systemd").unwrap_or(f.pos);
                self.error(
                    pos,
                    &f.path("systemd"),
                    "give either `command` or `systemd`, not both",
                );
                None
            }
            (None, None) => {
                self.error(
                    f.pos,
                    path,
                    "give `command` (a list: program and arguments) or `systemd` (a unit name)",
                );
                None
            }
            (Some(n), None) => self
                .command(n, &f.path("command"))
                .map(|command| RunSpec::Command { command }),
            (None, Some(n)) => {
                let path = f.path("systemd");
                let unit = self.word(n, &path)?;
                let valid = unit.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.' | '@' | '\\')
                });
                if !valid || unit.starts_with('.') {
                    self.error(
                        n.pos,
                        &path,
                        format!("{unit:?} is not a valid systemd unit name"),
                    );
                    return None;
                }
                Some(RunSpec::Systemd { systemd: unit })
            }
        }
    }

    pub(super) fn command(&mut self, node: &Node, path: &str) -> Option<Vec<String>> {
        let items = self.nonempty_list(
            node,
            path,
            "a list: the program and its arguments",
            "must list at least the program to run",
        )?;
        let args = self.each(items, path, |d, item, path| d.string(item, path))?;
        if args[0].is_empty() {
            self.error(
                items[0].pos,
                &index(path, 0),
                "the program must not be empty",
            );
            return None;
        }
        Some(args)
    }

    fn health(&mut self, node: &Node, path: &str) -> Option<HealthSpec> {
        let f = self.fields(
            node,
            path,
            &["http", "tcp", "command", "timeout", "retries"],
        )?;
        let mut probes: Vec<&str> = ["http", "tcp", "command"]
            .into_iter()
            .filter(|k| f.get(k).is_some())
            .collect();
        // The probe written second is the one reported as extra.
        probes.sort_by_key(|k| f.key_pos(k));
        let check = match (f.get("http"), f.get("tcp"), f.get("command")) {
            (None, None, None) => {
                self.error(
                    f.pos,
                    path,
                    "give one probe: `http` (a URL), `tcp` (host:port) or `command` (a list)",
                );
                None
            }
            (Some(n), None, None) => self
                .http_url(n, &f.path("http"))
                .map(|http| HealthCheck::Http { http }),
            (None, Some(n), None) => self
                .tcp_address(n, &f.path("tcp"))
                .map(|tcp| HealthCheck::Tcp { tcp }),
            (None, None, Some(n)) => self
                .command(n, &f.path("command"))
                .map(|command| HealthCheck::Command { command }),
            _ => {
                let second = probes[1];
                let pos = f.key_pos(second).unwrap_or(f.pos);
                self.error(
                    pos,
                    &f.path(second),
                    format!("give exactly one probe, found {}", probes.join(" and ")),
                );
                None
            }
        };
        let timeout = match f.get("timeout") {
            Some(n) => self.duration(n, &f.path("timeout")),
            None => Some(HealthSpec::default_timeout()),
        };
        let retries = match f.get("retries") {
            Some(n) => self.count(n, &f.path("retries"), 1),
            None => Some(HealthSpec::default_retries()),
        };
        Some(HealthSpec {
            check: check?,
            timeout: timeout?,
            retries: retries?,
        })
    }

    pub(super) fn http_url(&mut self, node: &Node, path: &str) -> Option<String> {
        let url = self.word(node, path)?;
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        match rest {
            Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Some(url),
            _ => {
                self.error(
                    node.pos,
                    path,
                    format!("{url:?} must be an http:// or https:// URL with a host"),
                );
                None
            }
        }
    }

    fn tcp_address(&mut self, node: &Node, path: &str) -> Option<String> {
        let address = self.word(node, path)?;
        let valid = address.rsplit_once(':').is_some_and(|(host, port)| {
            let host_ok = match host.strip_prefix('[') {
                Some(v6) => v6.strip_suffix(']').is_some_and(|v6| !v6.is_empty()),
                None => !host.is_empty() && !host.contains(':'),
            };
            host_ok && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !valid {
            self.error(
                node.pos,
                path,
                format!(
                    "{address:?} must be host:port with a port from 1 to 65535, like 127.0.0.1:5432"
                ),
            );
            return None;
        }
        Some(address)
    }
}
