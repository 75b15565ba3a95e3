//! Releases on disk:
//!
//! ```text
//! WORK/apps/APP/releases/VERSION/        unpacked release (or the single binary)
//! WORK/apps/APP/releases/VERSION.json    written last: the release is complete (its workload, hash,
//!                                        the hooks in force: the config's and its release file's)
//! WORK/apps/APP/releases/VERSION.env     its variables as resolved at deploy time (mode 0600)
//! WORK/apps/APP/current -> releases/V    switched atomically by renaming a fresh symlink over it
//! WORK/apps/APP/previous -> releases/V   the release that ran before `current`
//! WORK/apps/APP/logs/{stdout,stderr}.log
//! WORK/apps/APP/pid                      process group of the running release (exec manager)
//! WORK/downloads/                        partial downloads
//! WORK/journal/                          one file per command
//! ```

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use std::collections::BTreeMap;

use boreas_core::command::{Hook, PmWorkload};
use boreas_core::config::HookName;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::procenv::AppVars;

/// What is known about an installed release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseMeta {
    /// How it runs and is checked.
    pub workload: PmWorkload,
    /// SHA-256 of the artifact it came from.
    pub sha256: String,
    /// Seconds since the epoch when it was installed (orders pruning).
    pub installed_at: u64,
    /// The hooks in force for this release: the workload's, replaced by its release file's where
    /// the workload allows it. Its `stop`, `drain` and `rollback` run when it is left.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hooks: BTreeMap<HookName, Hook>,
}

/// The work directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Writes `bytes` to `path` through a temporary file renamed over it, so readers see the old or
/// the new content, never a torn one, also after a crash.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(Error::io(&tmp))?;
    file.write_all(bytes).map_err(Error::io(&tmp))?;
    file.sync_all().map_err(Error::io(&tmp))?;
    fs::rename(&tmp, path).map_err(Error::io(path))?;
    sync_dir(path)
}

/// Makes a rename in the directory of `path` durable.
fn sync_dir(path: &Path) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io(dir))
}

/// The file name an artifact URL ends with, without query.
fn url_file_name(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or(path)
}

/// Whether the artifact is a gzip-compressed tar archive.
pub fn is_tar_gz(url: &str) -> bool {
    let name = url_file_name(url);
    name.ends_with(".tar.gz") || name.ends_with(".tgz")
}

impl Layout {
    /// The layout under `root`, creating its directories.
    pub fn create(root: &Path) -> Result<Self, Error> {
        let layout = Self {
            root: root.to_path_buf(),
        };
        for dir in [layout.apps_dir(), layout.downloads_dir()] {
            fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        }
        Ok(layout)
    }

    /// The work directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn apps_dir(&self) -> PathBuf {
        self.root.join("apps")
    }

    /// Where partial downloads live.
    pub fn downloads_dir(&self) -> PathBuf {
        self.root.join("downloads")
    }

    /// The journal directory.
    pub fn journal_dir(&self) -> PathBuf {
        self.root.join("journal")
    }

    /// The directory of `app`.
    pub fn app_dir(&self, app: &str) -> PathBuf {
        self.apps_dir().join(app)
    }

    fn releases_dir(&self, app: &str) -> PathBuf {
        self.app_dir(app).join("releases")
    }

    /// The directory of one release.
    pub fn release_dir(&self, app: &str, version: &str) -> PathBuf {
        self.releases_dir(app).join(version)
    }

    fn meta_path(&self, app: &str, version: &str) -> PathBuf {
        self.releases_dir(app).join(format!("{version}.json"))
    }

    fn env_path(&self, app: &str, version: &str) -> PathBuf {
        self.releases_dir(app).join(format!("{version}.env"))
    }

    /// Records the metadata of an installed release again (its hooks changed).
    pub fn set_meta(&self, app: &str, version: &str, meta: &ReleaseMeta) -> Result<(), Error> {
        let json = serde_json::to_vec_pretty(meta).expect("release metadata serialises");
        write_atomic(&self.meta_path(app, version), &json, 0o644)
    }

    /// Records the variables a release runs with, readable by the agent's user only (no file
    /// when it declares none).
    pub fn set_env(&self, app: &str, version: &str, vars: &AppVars) -> Result<(), Error> {
        let path = self.env_path(app, version);
        if vars.vars.is_empty() {
            return remove_file(&path);
        }
        let json = serde_json::to_vec(vars).expect("variables serialise");
        write_atomic(&path, &json, 0o600)
    }

    /// The variables a release runs with (none recorded: none declared).
    pub fn env(&self, app: &str, version: &str) -> Result<AppVars, Error> {
        let path = self.env_path(app, version);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Io {
                path: path.clone(),
                source: io::Error::new(io::ErrorKind::InvalidData, e),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(AppVars::default()),
            Err(e) => Err(Error::io(&path)(e)),
        }
    }

    /// The log directory of `app`.
    pub fn logs_dir(&self, app: &str) -> PathBuf {
        self.app_dir(app).join("logs")
    }

    /// The pid file of `app` (exec manager).
    pub fn pid_file(&self, app: &str) -> PathBuf {
        self.app_dir(app).join("pid")
    }

    /// Every app with a directory, sorted.
    pub fn apps(&self) -> Result<Vec<String>, Error> {
        let dir = self.apps_dir();
        let mut apps: Vec<String> = fs::read_dir(&dir)
            .map_err(Error::io(&dir))?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        apps.sort();
        Ok(apps)
    }

    fn link_target(&self, app: &str, link: &str) -> Option<String> {
        let target = fs::read_link(self.app_dir(app).join(link)).ok()?;
        target.file_name()?.to_str().map(str::to_owned)
    }

    /// The version `current` points at.
    pub fn current(&self, app: &str) -> Option<String> {
        self.link_target(app, "current")
    }

    /// The version `previous` points at.
    pub fn previous(&self, app: &str) -> Option<String> {
        self.link_target(app, "previous")
    }

    /// The metadata of a complete release, `None` when it is absent or incomplete.
    pub fn installed(&self, app: &str, version: &str) -> Option<ReleaseMeta> {
        let text = fs::read(self.meta_path(app, version)).ok()?;
        let meta = serde_json::from_slice(&text).ok()?;
        self.release_dir(app, version).is_dir().then_some(meta)
    }

    /// Installs a verified artifact as release `version`: unpacks a `.tar.gz` or places a single
    /// file (made executable), in a staging directory renamed into place, then writes the
    /// metadata that marks it complete. Blocking: call from `spawn_blocking`.
    pub fn install(
        &self,
        app: &str,
        version: &str,
        artifact: &Path,
        meta: &ReleaseMeta,
    ) -> Result<(), Error> {
        let releases = self.releases_dir(app);
        fs::create_dir_all(&releases).map_err(Error::io(&releases))?;
        fs::create_dir_all(self.logs_dir(app)).map_err(Error::io(self.logs_dir(app)))?;
        let staging = releases.join(format!(".{version}.staging"));
        remove_all(&staging)?;
        fs::create_dir_all(&staging).map_err(Error::io(&staging))?;
        let url = &meta.workload.artifact_url;
        let unpack_error = |message: String| Error::Download {
            url: url.clone(),
            message,
        };
        if is_tar_gz(url) {
            let file = fs::File::open(artifact).map_err(Error::io(artifact))?;
            let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
            // `unpack` refuses entries that would land outside `staging` (`..`, absolute paths,
            // symlinked parents), keeps the rwx bits but drops setuid/setgid and ownership.
            archive
                .unpack(&staging)
                .map_err(|e| unpack_error(format!("cannot unpack the archive: {e}")))?;
        } else {
            let name = url_file_name(url);
            crate::validate::name("artifact file name", name)
                .map_err(|e| unpack_error(e.to_string()))?;
            let dest = staging.join(name);
            fs::copy(artifact, &dest).map_err(Error::io(&dest))?;
            fs::set_permissions(&dest, fs::Permissions::from_mode(0o755))
                .map_err(Error::io(&dest))?;
        }
        let dir = self.release_dir(app, version);
        remove_all(&dir)?;
        fs::rename(&staging, &dir).map_err(Error::io(&dir))?;
        self.set_meta(app, version, meta)
    }

    /// A fresh [`ReleaseMeta`] for `workload` and `sha256`.
    pub fn meta(workload: &PmWorkload, sha256: &str) -> ReleaseMeta {
        ReleaseMeta {
            workload: workload.clone(),
            sha256: sha256.to_owned(),
            installed_at: now(),
            hooks: workload.hooks.clone(),
        }
    }

    fn set_link(&self, app: &str, link: &str, version: &str) -> Result<(), Error> {
        let path = self.app_dir(app).join(link);
        let tmp = self.app_dir(app).join(format!(".{link}.new"));
        match fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&tmp)(e)),
        }
        let target = Path::new("releases").join(version);
        std::os::unix::fs::symlink(&target, &tmp).map_err(Error::io(&tmp))?;
        // rename(2) replaces the old link in one step: `current` always names a whole release.
        fs::rename(&tmp, &path).map_err(Error::io(&path))?;
        sync_dir(&path)
    }

    /// Points `current` at `version` atomically.
    pub fn switch(&self, app: &str, version: &str) -> Result<(), Error> {
        self.set_link(app, "current", version)
    }

    /// Points `previous` at `version`, or removes it.
    pub fn set_previous(&self, app: &str, version: Option<&str>) -> Result<(), Error> {
        match version {
            Some(v) => self.set_link(app, "previous", v),
            None => remove_link(&self.app_dir(app).join("previous")),
        }
    }

    /// Removes `current` (the app no longer runs here).
    pub fn clear_current(&self, app: &str) -> Result<(), Error> {
        remove_link(&self.app_dir(app).join("current"))
    }

    /// Keeps `keep` releases: `current`, `previous` and the newest others; returns the versions
    /// removed.
    pub fn prune(&self, app: &str, keep: usize) -> Result<Vec<String>, Error> {
        let releases = self.releases_dir(app);
        let mut metas: Vec<(u64, String)> = fs::read_dir(&releases)
            .map_err(Error::io(&releases))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let version = name.strip_suffix(".json")?.to_owned();
                let meta = self.installed(app, &version)?;
                Some((meta.installed_at, version))
            })
            .collect();
        metas.sort_by(|a, b| b.cmp(a));
        let protected = [self.current(app), self.previous(app)];
        let is_protected = |v: &str| protected.iter().flatten().any(|p| p == v);
        // Current and previous always stay; the newest others fill the remaining places.
        let mut room = keep.saturating_sub(metas.iter().filter(|(_, v)| is_protected(v)).count());
        let mut removed = Vec::new();
        for (_, version) in metas {
            if is_protected(&version) {
                continue;
            }
            if room > 0 {
                room -= 1;
                continue;
            }
            // Metadata first: a crash in between leaves a directory that is no longer a release.
            let meta = self.meta_path(app, &version);
            fs::remove_file(&meta).map_err(Error::io(&meta))?;
            remove_file(&self.env_path(app, &version))?;
            remove_all(&self.release_dir(app, &version))?;
            removed.push(version);
        }
        Ok(removed)
    }
}

fn remove_link(path: &Path) -> Result<(), Error> {
    match fs::remove_file(path) {
        Ok(()) => sync_dir(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path)(e)),
    }
}

fn remove_file(path: &Path) -> Result<(), Error> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path)(e)),
    }
}

fn remove_all(path: &Path) -> Result<(), Error> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use boreas_core::command::Health;
    use boreas_core::config::{HealthCheck, RunSpec};

    use super::*;

    fn workload(url: &str) -> PmWorkload {
        PmWorkload {
            artifact_url: url.to_owned(),
            sha256: Some("0".repeat(64)),
            sha256_url: None,
            commit: None,
            run_as: None,
            hooks: Default::default(),
            release_hooks: Vec::new(),
            env: Default::default(),
            run: Some(RunSpec::Command {
                command: vec!["./app".into()],
            }),
            health: Health {
                check: HealthCheck::Tcp {
                    tcp: "127.0.0.1:1".into(),
                },
                timeout_seconds: 1,
                retries: 1,
            },
        }
    }

    #[test]
    fn install_switch_and_prune_keep_current_and_previous() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::create(tmp.path()).unwrap();
        let artifact = tmp.path().join("app");
        fs::write(&artifact, b"#!/bin/sh\n").unwrap();
        for (i, v) in ["v1", "v2", "v3", "v4", "v5"].iter().enumerate() {
            let mut meta = Layout::meta(&workload("file:///x/app?y=1"), "ab");
            meta.installed_at = i as u64;
            layout.install("web", v, &artifact, &meta).unwrap();
            assert_eq!(layout.installed("web", v), Some(meta));
        }
        let placed = layout.release_dir("web", "v3").join("app");
        assert_eq!(
            fs::metadata(&placed).unwrap().permissions().mode() & 0o777,
            0o755
        );
        layout.switch("web", "v1").unwrap();
        layout.set_previous("web", Some("v2")).unwrap();
        layout.switch("web", "v1").unwrap();
        assert_eq!(layout.current("web").as_deref(), Some("v1"));
        assert_eq!(layout.previous("web").as_deref(), Some("v2"));
        let mut removed = layout.prune("web", 3).unwrap();
        removed.sort();
        assert_eq!(removed, ["v3", "v4"]);
        assert!(layout.installed("web", "v3").is_none());
        assert!(!layout.release_dir("web", "v3").exists());
        for kept in ["v1", "v2", "v5"] {
            assert!(layout.installed("web", kept).is_some(), "{kept}");
        }
        layout.clear_current("web").unwrap();
        assert_eq!(layout.current("web"), None);
        assert_eq!(layout.apps().unwrap(), ["web"]);
    }

    #[test]
    fn archives_are_recognised_by_name() {
        assert!(is_tar_gz("s3://b/web/v1.tar.gz"));
        assert!(is_tar_gz("https://x/web-v1.tgz?sig=1"));
        assert!(!is_tar_gz("file:///opt/web"));
    }
}
