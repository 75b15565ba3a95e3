//! Why a plan is what it is, for the person who confirms it: what runs in the environment now,
//! the commits since, and for every app of the config why it is in the plan or left out.
//!
//! The planner decides the reasons ([`crate::planner::plan_with_reasons`]); the planner function
//! adds what git says (the commits) and records the review with the deployment, together with
//! its proposal, so the api can show what a person's adjustments changed.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::plan::SkipReason;

/// Commits listed in a review; the rest are counted.
pub const COMMITS_SHOWN: usize = 50;

/// Changed paths listed per app; the rest are counted.
pub const PATHS_SHOWN: usize = 20;

/// What a reviewer needs besides the plan itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Review {
    /// What ran in the environment before (the newest succeeded deployment of the repository
    /// there); `None` for the first deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<Running>,
    /// The commits from the running version's to the new one, newest first: at most
    /// [`COMMITS_SHOWN`].
    #[serde(default)]
    pub commits: Vec<CommitSummary>,
    /// Commits beyond those listed.
    #[serde(default)]
    pub more_commits: u32,
    /// How many paths changed since the running version; `None` when unknown (nothing ran
    /// there, or its commit can no longer be fetched), which makes every app affected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_paths: Option<u32>,
    /// Every app of the config, by name: why it is in the plan or left out.
    pub apps: Vec<AppReason>,
}

/// A version running in an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Running {
    /// Version name.
    pub version: String,
    /// Its commit id.
    pub commit: String,
}

/// One commit between the running version and the new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CommitSummary {
    /// Commit id.
    pub id: String,
    /// First line of its message.
    pub subject: String,
    /// Author's name.
    pub author: String,
    /// Author date, RFC 3339 (UTC).
    pub at: String,
}

/// Why the planner proposed an app, or left it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AppReason {
    /// App name.
    pub app: String,
    /// What the change means for the app.
    pub why: Why,
    /// Why the app is left out although [`AppReason::why`] wanted it (`up_to_date`,
    /// `no_targets`), or `not_affected`; `None` when it is in the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<SkipReason>,
    /// Changed paths that match the app's `paths` (every changed path for an app without
    /// `paths`): at most [`PATHS_SHOWN`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// How many changed paths match in all.
    #[serde(default)]
    pub matched_paths: u32,
}

/// What the change means for one app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Why {
    /// Nothing is known to run in the environment: every app is deployed.
    FirstDeployment,
    /// A changed path matches its `paths` (an app without `paths` takes every change).
    Changed,
    /// It sets `follow_dependencies` and `dependency`, somewhere down its `depends_on`, changed.
    Follows {
        /// The changed app it follows.
        dependency: String,
    },
    /// No changed path matches, and it follows no changed dependency.
    Unchanged,
}

impl Review {
    /// Shortens the lists until the review's JSON takes at most `max_bytes` (a store's item
    /// bound): each app's paths first, halved until none are listed, then the commits. The
    /// counts stay whole, so the review still says how many paths and commits there are.
    pub fn fit(&mut self, max_bytes: usize) {
        let size = |r: &Review| serde_json::to_vec(r).map_or(usize::MAX, |v| v.len());
        let mut keep = PATHS_SHOWN;
        while size(self) > max_bytes && keep > 0 {
            keep /= 2;
            for app in &mut self.apps {
                app.paths.truncate(keep);
            }
        }
        while size(self) > max_bytes && !self.commits.is_empty() {
            let dropped = self.commits.len().div_ceil(2);
            self.commits.truncate(self.commits.len() - dropped);
            self.more_commits = self
                .more_commits
                .saturating_add(u32::try_from(dropped).unwrap_or(u32::MAX));
        }
    }
}

impl AppReason {
    /// A sentence for people: `changed (3 paths)`, `follows db, which changed`, `changed, but
    /// already runs this version`.
    pub fn describe(&self) -> String {
        let why = match &self.why {
            Why::FirstDeployment => "first deployment to the environment".to_owned(),
            Why::Changed if self.matched_paths == 1 => "changed (1 path)".to_owned(),
            Why::Changed => format!("changed ({} paths)", self.matched_paths),
            Why::Follows { dependency } => format!("follows {dependency}, which changed"),
            Why::Unchanged => return SkipReason::NotAffected.describe().to_owned(),
        };
        match self.skipped {
            Some(skipped) => format!("{why}, but {}", skipped.describe()),
            None => why,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_review_too_large_for_its_record_lists_less_and_keeps_the_counts() {
        let mut review = Review {
            running: None,
            commits: (0..COMMITS_SHOWN)
                .map(|i| CommitSummary {
                    id: format!("{i:040}"),
                    subject: format!("change {i}"),
                    author: "Ada".into(),
                    at: "2026-01-01T00:00:00Z".into(),
                })
                .collect(),
            more_commits: 5,
            changed_paths: Some(40_000),
            apps: (0..2000)
                .map(|a| AppReason {
                    app: format!("app-{a:04}"),
                    why: Why::Changed,
                    skipped: None,
                    paths: (0..PATHS_SHOWN)
                        .map(|p| format!("services/app-{a:04}/src/file-{p:02}.rs"))
                        .collect(),
                    matched_paths: 20,
                })
                .collect(),
        };
        let small = review.clone();
        review.fit(usize::MAX);
        assert_eq!(review, small, "one that fits is left alone");
        review.fit(300 * 1024);
        assert!(serde_json::to_vec(&review).unwrap().len() <= 300 * 1024);
        assert!(review.apps.iter().all(|a| a.paths.len() < PATHS_SHOWN));
        assert!(review.apps.iter().all(|a| a.matched_paths == 20));
        assert_eq!(review.commits.len(), COMMITS_SHOWN, "paths go first");
        // Too small even for the app names: the commits go too, and are counted.
        review.fit(100 * 1024);
        assert!(review.apps.iter().all(|a| a.paths.is_empty()));
        assert_eq!(
            review.commits.len() + review.more_commits as usize,
            COMMITS_SHOWN + 5
        );
    }
}
