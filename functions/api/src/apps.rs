//! Apps across environments: desired version, coverage and drift.
//!
//! - **Desired version** of an app in an environment: the version of the newest `succeeded`
//!   deployment whose plan deploys the app there (its release, [`Store::record_release`]).
//! - **Targets**: the desired deployment's targets of the app, plus every host of the
//!   environment whose inventory lists the app.
//! - **Reported version** of a target: what its agent's (or operator's) last inventory says.
//! - **Coverage**: the share of targets whose reported version is the desired one or newer.
//! - **Drifted**: targets reporting a version other than the desired one; targets without a
//!   report are listed as `unreported` (and count as not covered).
//!
//! Each app is read from its own partition of the store ([`Store::app_records`]), and the
//! versions compared by a `GetItem` each: no answer reads every deployment, agent or version.
//! "Newer contains older" needs history, and the api has no git: see [`contains`].
//!
//! [`Store::record_release`]: boreas_aws::store::Store::record_release
//! [`Store::app_records`]: boreas_aws::store::Store::app_records

use std::collections::{BTreeMap, HashMap};

use boreas_api_types as wire;
use boreas_aws::store::{AppRecords, VersionRecord};

use crate::call::Call;
use crate::{Api, Error};

/// Whether version `newer` contains version `older`, from what intake recorded: both are bound to
/// the same commit, or `older` was received first and neither is flagged `diverged` (the planner
/// flags a version that does not descend from what runs, so a diverged version's place in
/// history is unknown: it contains only its own commit, and nothing else contains it).
pub(crate) fn contains(newer: &VersionRecord, older: &VersionRecord) -> bool {
    newer.version.commit == older.version.commit
        || (!newer.diverged && !older.diverged && older.received_at < newer.received_at)
}

/// Versions read by name, each once per request.
pub(crate) struct Versions<'a> {
    api: &'a Api,
    read: HashMap<(String, String), Option<VersionRecord>>,
}

impl<'a> Versions<'a> {
    pub(crate) fn new(api: &'a Api) -> Self {
        Self {
            api,
            read: HashMap::new(),
        }
    }

    /// Version `name` of `repo`, if recorded.
    pub(crate) async fn get(
        &mut self,
        repo: &str,
        name: &str,
    ) -> Result<Option<VersionRecord>, Error> {
        let key = (repo.to_owned(), name.to_owned());
        if let Some(v) = self.read.get(&key) {
            return Ok(v.clone());
        }
        let v = self.api.store.get_version(repo, name).await?;
        self.read.insert(key, v.clone());
        Ok(v)
    }

    /// Whether version `newer` of `repo` contains version `older` (unknown names contain
    /// nothing but themselves).
    async fn contains(&mut self, repo: &str, newer: &str, older: &str) -> Result<bool, Error> {
        if newer == older {
            return Ok(true);
        }
        Ok(
            match (self.get(repo, newer).await?, self.get(repo, older).await?) {
                (Some(n), Some(o)) => contains(&n, &o),
                _ => false,
            },
        )
    }
}

/// The view of `app` in each environment of `records`.
async fn app_view(
    versions: &mut Versions<'_>,
    app: &str,
    records: AppRecords,
) -> Result<wire::App, Error> {
    let mut environments = Vec::new();
    for env in records.environments {
        let desired = env.release;
        let mut targets: BTreeMap<String, Option<String>> = BTreeMap::new();
        if let Some(d) = &desired {
            for t in &d.targets {
                targets.insert(t.clone(), None);
            }
        }
        for host in records.hosts.iter().filter(|h| h.env == env.env) {
            targets.insert(host.host.clone(), host.version.clone());
        }
        let (mut drifted, mut unreported, mut covered) = (Vec::new(), Vec::new(), 0u64);
        if let Some(d) = &desired {
            for (target, reported) in &targets {
                match reported {
                    None => unreported.push(target.clone()),
                    Some(v) => {
                        if versions.contains(&d.repository, v, &d.version).await? {
                            covered += 1;
                        }
                        if *v != d.version {
                            drifted.push(wire::Drift {
                                target: target.clone(),
                                version: v.clone(),
                            });
                        }
                    }
                }
            }
        }
        let total = targets.len() as u64;
        environments.push(wire::AppEnvironment {
            environment: env.env,
            coverage: (desired.is_some() && total > 0).then(|| covered as f64 / total as f64),
            repository: desired.as_ref().map(|d| d.repository.clone()),
            desired_version: desired.as_ref().map(|d| d.version.clone()),
            desired_deployment: desired.map(|d| d.deployment),
            targets: total,
            covered,
            drifted,
            unreported,
        });
    }
    Ok(wire::App {
        name: app.to_owned(),
        environments,
    })
}

pub(crate) async fn list(api: &Api, call: &Call<'_>) -> Result<wire::List<wire::App>, Error> {
    let page = call.page()?;
    let names = api.store.app_names(&page).await?;
    let mut versions = Versions::new(api);
    let mut items = Vec::new();
    for app in names.items {
        let records = api.store.app_records(&app).await?;
        items.push(app_view(&mut versions, &app, records).await?);
    }
    Ok(wire::List {
        items,
        next_cursor: names.next,
    })
}

pub(crate) async fn one(api: &Api, call: &Call<'_>) -> Result<wire::App, Error> {
    let name = call.param("name");
    let records = api.store.app_records(name).await?;
    if records.environments.is_empty() {
        return Err(Error::NotFound(format!(
            "app {name} was never released and no inventory lists it"
        )));
    }
    app_view(&mut Versions::new(api), name, records).await
}

#[cfg(test)]
mod tests {
    use boreas_core::status::VersionStatus;
    use boreas_test_support::records::version;

    use super::*;

    fn v(name: &str, commit: &str, at: &str, diverged: bool) -> VersionRecord {
        VersionRecord {
            status: VersionStatus::Planned,
            diverged,
            received_at: at.into(),
            ..version("shop", name, commit)
        }
    }

    #[test]
    fn a_version_contains_what_was_received_before_it_unless_either_diverged() {
        let v1 = v("v1", "a", "2026-01-01T00:00:00.000Z", false);
        let v2 = v("v2", "b", "2026-01-02T00:00:00.000Z", false);
        let side = v("side", "x", "2026-01-03T00:00:00.000Z", true);
        let main_b = v("main-b", "b", "2026-01-04T00:00:00.000Z", false);
        assert!(contains(&v2, &v1));
        assert!(!contains(&v1, &v2));
        assert!(contains(&main_b, &v2), "same commit");
        assert!(contains(&v2, &main_b), "same commit");
        assert!(!contains(&side, &v1), "diverged contains only itself");
        assert!(!contains(&v2, &side));
        assert!(contains(&side, &side));
    }
}
