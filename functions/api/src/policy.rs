//! Environment policy routes: waivers and overrides of one deployment, the freeze windows added
//! through the API, and each environment's policy and waiting deployments.

use std::collections::BTreeMap;

use boreas_api_types as wire;
use boreas_aws::policy::{self as rules, stamp};
use boreas_aws::store::{self, PageRequest};
use boreas_core::config::{Config, Freeze, is_valid_name};
use boreas_core::deployment::DeploymentStatus;
use boreas_core::policy::{self as core_policy, ManagedFreeze, Override, Step, Waiver};
use boreas_core::status::VersionStatus;
use jiff::SignedDuration;

use crate::call::Call;
use crate::read::get_deployment;
use crate::routes::Reply;
use crate::{Api, Error};

/// The longest break-glass override: a fix, not a way around the window.
pub(crate) const MAX_OVERRIDE_SECONDS: u64 = 6 * 3600;
/// Planned deployments read when listing who waits.
const WAITING_PAGE: u32 = 100;
/// Versions read per repository looking for its newest recorded `boreas.yaml`.
const VERSIONS_PAGE: u32 = 20;

fn unprocessable(rule: &'static str, message: impl Into<String>) -> Error {
    Error::Unprocessable {
        rule,
        message: message.into(),
    }
}

fn reason(text: &str) -> Result<String, Error> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::bad_request("reason must not be empty"));
    }
    Ok(text.to_owned())
}

/// The deployment's environment's conditions: `after:` and (with a soak) `soak:` of each
/// upstream environment.
fn conditions(config: &Config, environment: &str) -> Vec<core_policy::Condition> {
    let Some(promotion) = config
        .environments
        .iter()
        .find(|e| e.name == environment)
        .and_then(|e| e.promotion.as_ref())
    else {
        return Vec::new();
    };
    promotion
        .after
        .iter()
        .flat_map(|e| {
            let soak = promotion
                .soak
                .map(|_| core_policy::Condition::Soaked(e.clone()));
            std::iter::once(core_policy::Condition::Succeeded(e.clone())).chain(soak)
        })
        .collect()
}

pub(crate) async fn waive(
    api: &Api,
    call: &Call<'_>,
    b: wire::WaiverRequest,
) -> Result<Reply<Waiver>, Error> {
    let (id, who) = (call.param("id"), call.who()?);
    let why = reason(&b.reason)?;
    let d = get_deployment(api, id).await?;
    if d.status != DeploymentStatus::Planned {
        return Err(Error::conflict(
            "illegal_transition",
            format!(
                "deployment {id} is {}; only a planned deployment waits for its promotion",
                d.status
            ),
        ));
    }
    let config = store::deployment_config(api.store.as_ref(), &d)
        .await?
        .map_err(|why| Error::conflict("no_config", why))?;
    let known = conditions(&config, &d.environment);
    if !known.contains(&b.condition) {
        let listed = if known.is_empty() {
            "it has no promotion".to_owned()
        } else {
            let names: Vec<String> = known.iter().map(ToString::to_string).collect();
            format!("its conditions: {}", names.join(", "))
        };
        return Err(unprocessable(
            "unknown_condition",
            format!(
                "{} is not a condition of {}'s promotion; {listed}",
                b.condition, d.environment
            ),
        ));
    }
    let waiver = Waiver {
        condition: b.condition,
        reason: why,
        by: who.name.clone(),
        at: stamp(rules::now()),
    };
    if !api.store.put_waiver(id, &waiver).await? {
        return Err(Error::conflict(
            "already_waived",
            format!("{} is already waived for deployment {id}", waiver.condition),
        ));
    }
    api.audit(
        who,
        "deployment.waive",
        &format!("{id}: {}: {}", waiver.condition, waiver.reason),
    )
    .await?;
    api.rechecks.now(&d.repository, &d.environment).await;
    Ok(Reply::created(waiver))
}

pub(crate) async fn override_freezes(
    api: &Api,
    call: &Call<'_>,
    b: wire::OverrideRequest,
) -> Result<Reply<Override>, Error> {
    let (id, who) = (call.param("id"), call.who()?);
    let why = reason(&b.reason)?;
    if b.expires_in.seconds() == 0 || b.expires_in.seconds() > MAX_OVERRIDE_SECONDS {
        return Err(Error::bad_request(format!(
            "expires_in must be longer than 0s and at most 6h, found {}",
            b.expires_in
        )));
    }
    let d = get_deployment(api, id).await?;
    if d.status.is_terminal() {
        return Err(Error::conflict(
            "illegal_transition",
            format!(
                "deployment {id} is {}; there is nothing left to let through",
                d.status
            ),
        ));
    }
    let now = rules::now();
    let seconds = i64::try_from(b.expires_in.seconds()).unwrap_or(i64::MAX);
    let until = now
        .checked_add(SignedDuration::from_secs(seconds))
        .map_err(|e| Error::bad_request(format!("expires_in: {e}")))?;
    let grant = Override {
        reason: why,
        by: who.name.clone(),
        at: stamp(now),
        expires_at: stamp(until),
    };
    api.store.put_override(id, &grant).await?;
    api.audit(
        who,
        "deployment.override",
        &format!("{id}: until {}: {}", grant.expires_at, grant.reason),
    )
    .await?;
    api.rechecks.now(&d.repository, &d.environment).await;
    Ok(Reply::created(grant))
}

pub(crate) async fn freezes(api: &Api, _: &Call<'_>) -> Result<wire::List<ManagedFreeze>, Error> {
    Ok(wire::List {
        items: api.store.freezes().await?,
        next_cursor: None,
    })
}

/// Checks a window added through the API by the rules `boreas.yaml` follows.
fn check_freeze(f: &Freeze) -> Result<(), Error> {
    let bad_name = |what: &str, name: &str| {
        unprocessable(
            "invalid_freeze",
            format!(
                "{what}: {name:?} is not a valid name: use 1 to 40 lowercase letters, digits and '-'"
            ),
        )
    };
    if !is_valid_name(&f.name) {
        return Err(bad_name("name", &f.name));
    }
    if f.reason.trim().is_empty() {
        return Err(unprocessable(
            "invalid_freeze",
            "reason: say why deployments wait",
        ));
    }
    if f.environments.is_empty() {
        return Err(unprocessable(
            "invalid_freeze",
            "environments: name at least one",
        ));
    }
    for name in f.environments.iter().chain(&f.apps) {
        if !is_valid_name(name) {
            return Err(bad_name("environments/apps", name));
        }
    }
    if f.blocks.is_empty() {
        return Err(unprocessable(
            "invalid_freeze",
            "blocks: block at least one of `start` and `batches`",
        ));
    }
    f.window()
        .map(|_| ())
        .map_err(|e| unprocessable("invalid_freeze", format!("{}: {}", e.field, e.message)))
}

pub(crate) async fn add_freeze(
    api: &Api,
    call: &Call<'_>,
    freeze: Freeze,
) -> Result<Reply<ManagedFreeze>, Error> {
    let who = call.who()?;
    check_freeze(&freeze)?;
    let managed = ManagedFreeze {
        freeze,
        added_by: who.name.clone(),
        added_at: stamp(rules::now()),
    };
    if !api.store.put_freeze(&managed).await? {
        return Err(Error::conflict(
            "already_exists",
            format!("a freeze window named {} exists", managed.freeze.name),
        ));
    }
    api.audit(
        who,
        "freeze.add",
        &format!("{}: {}", managed.freeze.name, managed.freeze.reason),
    )
    .await?;
    Ok(Reply::created(managed))
}

pub(crate) async fn remove_freeze(
    api: &Api,
    call: &Call<'_>,
) -> Result<wire::List<ManagedFreeze>, Error> {
    let (name, who) = (call.param("name"), call.who()?);
    let removed = api
        .store
        .freezes()
        .await?
        .into_iter()
        .find(|m| m.freeze.name == name);
    if !api.store.delete_freeze(name).await? {
        return Err(Error::NotFound(format!("no freeze window named {name}")));
    }
    api.audit(who, "freeze.remove", name).await?;
    // What waited for the window may go now.
    if let Some(removed) = removed {
        for repo in api.store.list_repositories().await? {
            for env in &removed.freeze.environments {
                api.rechecks.now(&repo.id, env).await;
            }
        }
    }
    freezes(api, call).await
}

/// Each repository's newest version with a recorded `boreas.yaml` that validates.
async fn newest_configs(api: &Api) -> Result<Vec<(String, String, Config)>, Error> {
    let mut out = Vec::new();
    for repo in api.store.list_repositories().await? {
        let page = api
            .store
            .list_versions(Some(&repo.id), &PageRequest::first(VERSIONS_PAGE))
            .await?;
        for v in page.items {
            if v.status == VersionStatus::Planned
                && let Some(source) = api
                    .store
                    .get_version_config(&repo.id, &v.version.name)
                    .await?
                && let Ok(config) = boreas_core::config::parse(&source)
            {
                out.push((repo.id.clone(), v.version.name.clone(), config));
                break;
            }
        }
    }
    Ok(out)
}

fn view<'a>(
    views: &'a mut BTreeMap<String, wire::EnvironmentView>,
    name: &str,
) -> &'a mut wire::EnvironmentView {
    views
        .entry(name.to_owned())
        .or_insert_with(|| wire::EnvironmentView {
            name: name.to_owned(),
            repositories: Vec::new(),
            windows: Vec::new(),
            frozen: false,
            opens_at: None,
            waiting: Vec::new(),
        })
}

pub(crate) async fn environments(
    api: &Api,
    _: &Call<'_>,
) -> Result<wire::List<wire::EnvironmentView>, Error> {
    let now = rules::now();
    let configs = newest_configs(api).await?;
    let managed = api.store.freezes().await?;
    let mut views: BTreeMap<String, wire::EnvironmentView> = BTreeMap::new();
    // Each window with where it comes from.
    let mut windows: Vec<(String, Freeze)> = Vec::new();
    for (repository, version, config) in &configs {
        for env in &config.environments {
            view(&mut views, &env.name)
                .repositories
                .push(wire::EnvironmentOfRepository {
                    repository: repository.clone(),
                    version: version.clone(),
                    auto_confirm: env.auto_confirm,
                    promotion: env.promotion.clone(),
                });
        }
        windows.extend(
            config
                .freezes
                .iter()
                .map(|f| (repository.clone(), f.clone())),
        );
    }
    windows.extend(managed.into_iter().map(|m| ("api".to_owned(), m.freeze)));
    let compiled: Vec<(String, Freeze, core_policy::Window)> = windows
        .into_iter()
        .filter_map(|(source, f)| f.window().ok().map(|w| (source, f, w)))
        .collect();
    for (source, freeze, window) in &compiled {
        for env in &freeze.environments {
            view(&mut views, env).windows.push(wire::WindowView {
                name: freeze.name.clone(),
                reason: freeze.reason.clone(),
                source: source.clone(),
                apps: freeze.apps.clone(),
                blocks: freeze.blocks.clone(),
                running: window.on_running,
                active_until: window.schedule.covering(now).map(|i| stamp(i.end)),
                next_start: window.schedule.next_start(now).map(stamp),
            });
        }
    }
    // Frozen for every app: asked for no app, a window scoped to apps does not apply.
    let all: Vec<core_policy::Window> = compiled.into_iter().map(|(_, _, w)| w).collect();
    for (name, v) in &mut views {
        if let Some(closed) = core_policy::closed(&all, name, &[], Step::Start, now) {
            v.frozen = true;
            v.opens_at = closed.opens_at.map(stamp);
        }
    }
    let planned = api
        .store
        .list_deployments(
            &store::DeploymentFilter {
                status: Some(DeploymentStatus::Planned),
                ..Default::default()
            },
            &PageRequest::first(WAITING_PAGE),
        )
        .await?;
    let ids: Vec<String> = planned.items.iter().map(|d| d.id.clone()).collect();
    let mut holds = api.store.holds(&ids).await?;
    for d in planned.items {
        if let Some(hold) = holds.remove(&d.id) {
            view(&mut views, &d.environment)
                .waiting
                .push(wire::WaitingDeployment {
                    id: d.id,
                    repository: d.repository,
                    version: d.version,
                    hold,
                });
        }
    }
    Ok(wire::List {
        items: views.into_values().collect(),
        next_cursor: None,
    })
}
