//! What a deployed process (an app, a hook, a health command) gets from the agent: an environment
//! built from nothing — a minimal `PATH`/`HOME`/`LANG`, Boreas's own `BOREAS_*` variables and the
//! variables its app declares — and the user it runs as. Nothing else of the agent's environment
//! (its AWS credentials, its `RUST_LOG`, whatever its unit or shell set) reaches it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::Error;

/// `PATH` when the agent has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// `LANG` when the agent has none.
pub const DEFAULT_LANG: &str = "C.UTF-8";

/// A Unix user a process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// User name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory (`HOME`).
    pub home: PathBuf,
}

impl RunAs {
    /// Looks `name` up in the user database. Refused when the agent is not root and `name` is
    /// not the agent's own user: only root can start a process as someone else.
    pub fn lookup(name: &str) -> Result<Self, Error> {
        let user = nix::unistd::User::from_name(name)
            .map_err(|e| Error::RunAs {
                user: name.to_owned(),
                message: format!("cannot read the user database: {e}"),
            })?
            .ok_or_else(|| Error::RunAs {
                user: name.to_owned(),
                message: "no such user on this host".to_owned(),
            })?;
        let me = nix::unistd::geteuid();
        if !me.is_root() && me != user.uid {
            return Err(Error::RunAs {
                user: name.to_owned(),
                message: "the agent must run as root to start processes as another user".to_owned(),
            });
        }
        Ok(Self {
            name: user.name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            home: user.dir,
        })
    }
}

/// Boreas's own variables for one process.
#[derive(Debug, Clone, Default)]
pub struct BoreasVars {
    /// `BOREAS_APP`.
    pub app: String,
    /// `BOREAS_VERSION`: the version being deployed (for a rollback: the one returned to).
    pub version: String,
    /// `BOREAS_COMMIT`.
    pub commit: Option<String>,
    /// `BOREAS_PREVIOUS_VERSION`: what ran before (for a rollback: the version being left).
    pub previous_version: Option<String>,
    /// `BOREAS_ENVIRONMENT`.
    pub environment: String,
    /// `BOREAS_DEPLOYMENT_ID` (hooks only).
    pub deployment_id: Option<String>,
    /// `BOREAS_BATCH` (hooks only).
    pub batch: Option<u32>,
    /// `BOREAS_HOST`.
    pub host: String,
}

impl BoreasVars {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            ("BOREAS_APP", self.app.clone()),
            ("BOREAS_VERSION", self.version.clone()),
            ("BOREAS_ENVIRONMENT", self.environment.clone()),
            ("BOREAS_HOST", self.host.clone()),
        ];
        let optional = [
            ("BOREAS_COMMIT", self.commit.clone()),
            ("BOREAS_PREVIOUS_VERSION", self.previous_version.clone()),
            ("BOREAS_DEPLOYMENT_ID", self.deployment_id.clone()),
            ("BOREAS_BATCH", self.batch.map(|b| b.to_string())),
        ];
        out.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
        out
    }
}

/// The variables an app declared, resolved: literal values and the values of its `ssm:`
/// parameters. Its `Debug` form shows names only.
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AppVars {
    /// Name → value.
    pub vars: BTreeMap<String, String>,
    /// The names whose values came from SSM (secrets: redacted from hook output).
    pub secret: Vec<String>,
}

impl fmt::Debug for AppVars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppVars")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .field("secret", &self.secret)
            .finish()
    }
}

impl AppVars {
    /// The values that came from SSM, longest first (so a value containing another is redacted
    /// whole).
    pub fn secret_values(&self) -> Vec<String> {
        let mut values: Vec<String> = self
            .secret
            .iter()
            .filter_map(|k| self.vars.get(k).cloned())
            .filter(|v| !v.is_empty())
            .collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        values
    }
}

/// A process's complete environment and user.
#[derive(Clone, Default)]
pub struct ProcessEnv {
    vars: Vec<(String, String)>,
    user: Option<RunAs>,
}

impl fmt::Debug for ProcessEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessEnv")
            .field(
                "names",
                &self.vars.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("user", &self.user.as_ref().map(|u| &u.name))
            .finish()
    }
}

impl ProcessEnv {
    /// `PATH` and `LANG` as the agent has them (or defaults), `HOME` of `user` (or the agent's),
    /// then `boreas`, then `app` (which may replace `PATH`, `HOME` and `LANG`, never `BOREAS_*`).
    pub fn new(user: Option<RunAs>, boreas: &BoreasVars, app: &AppVars) -> Self {
        let inherited = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let home = match &user {
            Some(u) => u.home.display().to_string(),
            None => inherited("HOME", "/"),
        };
        let mut vars: BTreeMap<String, String> = BTreeMap::from([
            ("PATH".to_owned(), inherited("PATH", DEFAULT_PATH)),
            ("HOME".to_owned(), home),
            ("LANG".to_owned(), inherited("LANG", DEFAULT_LANG)),
        ]);
        vars.extend(
            app.vars
                .iter()
                .filter(|(k, _)| !k.starts_with(boreas_core::config::RESERVED_ENV_PREFIX))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        vars.extend(boreas.pairs().into_iter().map(|(k, v)| (k.to_owned(), v)));
        Self {
            vars: vars.into_iter().collect(),
            user,
        }
    }

    /// Runs the process as `user` instead (its `HOME` too).
    pub fn set_user(&mut self, user: RunAs) {
        let home = user.home.display().to_string();
        if let Some(slot) = self.vars.iter_mut().find(|(k, _)| k == "HOME") {
            slot.1 = home;
        }
        self.user = Some(user);
    }

    /// The user the process runs as, when not the agent's.
    pub fn user(&self) -> Option<&RunAs> {
        self.user.as_ref()
    }

    /// Every variable, sorted by name.
    pub fn vars(&self) -> &[(String, String)] {
        &self.vars
    }

    /// Gives `command` exactly this environment and user.
    pub fn apply(&self, command: &mut tokio::process::Command) {
        command.env_clear();
        command.envs(self.vars.iter().map(|(k, v)| (k, v)));
        if let Some(user) = &self.user {
            // std drops the supplementary groups too when root switches user.
            command.uid(user.uid).gid(user.gid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_minimal_boreas_and_declared_variables() {
        let boreas = BoreasVars {
            app: "web".into(),
            version: "v2".into(),
            commit: Some("abc".into()),
            previous_version: Some("v1".into()),
            environment: "prod".into(),
            deployment_id: Some("d-1".into()),
            batch: Some(0),
            host: "h1".into(),
        };
        let app = AppVars {
            vars: BTreeMap::from([
                ("DATABASE_URL".into(), "postgres://secret@db".into()),
                ("LANG".into(), "de_DE.UTF-8".into()),
                ("BOREAS_APP".into(), "forged".into()),
            ]),
            secret: vec!["DATABASE_URL".into()],
        };
        let env = ProcessEnv::new(None, &boreas, &app);
        let names: Vec<&str> = env.vars().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "BOREAS_APP",
                "BOREAS_BATCH",
                "BOREAS_COMMIT",
                "BOREAS_DEPLOYMENT_ID",
                "BOREAS_ENVIRONMENT",
                "BOREAS_HOST",
                "BOREAS_PREVIOUS_VERSION",
                "BOREAS_VERSION",
                "DATABASE_URL",
                "HOME",
                "LANG",
                "PATH"
            ]
        );
        let get = |k: &str| env.vars().iter().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(get("BOREAS_APP"), "web");
        assert_eq!(get("LANG"), "de_DE.UTF-8");
        let shown = format!("{env:?} {app:?}");
        assert!(!shown.contains("postgres://"), "{shown}");
        assert_eq!(app.secret_values(), ["postgres://secret@db"]);
    }

    #[test]
    fn unknown_users_are_refused_by_name() {
        let err = RunAs::lookup("no-such-user-here").unwrap_err();
        assert!(err.to_string().contains("no such user"), "{err}");
    }
}
