//! `<state-dir>/dev.json`: what a running `boreas dev` tells people, `boreas demo` and the client
//! commands, and what a second `boreas dev` on the same directory resumes from.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file name inside the state directory.
pub(crate) const FILE: &str = "dev.json";

/// One local PM agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AgentInfo {
    pub(crate) host: String,
    pub(crate) environment: String,
    pub(crate) group: String,
    pub(crate) work_dir: PathBuf,
    /// The port each demo app listens on, on this host (also in `<work_dir>/demo-ports.json`).
    pub(crate) ports: BTreeMap<String, u16>,
}

/// A simulated Kubernetes cluster (the fixture API server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ClusterInfo {
    pub(crate) name: String,
    pub(crate) api_url: String,
}

/// The contents of `dev.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DevState {
    pub(crate) api_url: String,
    pub(crate) dashboard_url: String,
    pub(crate) webhook_url: String,
    /// The admin API token (also kept in SSM; restored there on resume).
    pub(crate) api_token: String,
    /// The demo repository's webhook secret (also kept in SSM; restored there on resume).
    pub(crate) webhook_secret: String,
    /// The demo repository's name as Boreas knows it.
    pub(crate) repository: String,
    pub(crate) demo_repo: PathBuf,
    /// Where `boreas demo tag` writes release artifacts (`file://` URLs in `boreas.yaml`).
    pub(crate) artifacts_dir: PathBuf,
    pub(crate) prefix: String,
    pub(crate) emulator_endpoint: String,
    /// Process id of the `boreas dev` that wrote this file.
    pub(crate) pid: u32,
    pub(crate) agents: Vec<AgentInfo>,
    /// Simulated Kubernetes clusters, one per environment: NOT Kubernetes, a fixture API server.
    #[serde(default)]
    pub(crate) simulated_clusters: Vec<ClusterInfo>,
    /// The Prometheus scraping the demo apps, when one is installed (its URL is in the demo's
    /// `boreas.yaml`, so it keeps its port across restarts).
    #[serde(default)]
    pub(crate) prometheus_url: Option<String>,
}

impl DevState {
    /// Reads `<state_dir>/dev.json`, saying what is wrong and where.
    pub(crate) fn load(state_dir: &Path) -> Result<Self, String> {
        let path = state_dir.join(FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "{}: cannot read ({e}); is `boreas dev` running with this state directory?",
                path.display()
            )
        })?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Writes `<state_dir>/dev.json` atomically.
    pub(crate) fn save(&self, state_dir: &Path) -> Result<(), String> {
        let path = state_dir.join(FILE);
        let json = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        crate::cmd::provision::write_atomically(&path, &json)
            .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
        // It holds the admin token: readable by its owner only.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("{}: {e}", path.display()))
    }
}
