//! What ran where: an app's runs (per environment or all), and a host's last deployments, newest
//! first, a page at a time from the records the recorder writes when a deployment ends.

use boreas_api_types as wire;
use boreas_aws::store::PageRequest;

use crate::call::Call;
use crate::{Api, Error};

pub(crate) async fn app(api: &Api, call: &Call<'_>) -> Result<wire::List<wire::AppRun>, Error> {
    let name = call.param("name");
    let page = call.page()?;
    let runs = api.store.app_runs(name, call.query("env"), &page).await?;
    // An app that never ran and that no inventory names is a mistyped name, not an empty past.
    if runs.items.is_empty() && page.cursor.is_none() && !known(api, name).await? {
        return Err(Error::NotFound(format!(
            "app {name} never ran and no inventory lists it"
        )));
    }
    Ok(wire::List {
        items: runs.items,
        next_cursor: runs.next,
    })
}

/// Whether `app` ran anywhere or an inventory lists it.
async fn known(api: &Api, app: &str) -> Result<bool, Error> {
    let ran = api
        .store
        .app_runs(app, None, &PageRequest::first(1))
        .await?;
    Ok(!ran.items.is_empty() || !api.store.app_records(app).await?.environments.is_empty())
}

pub(crate) async fn host(api: &Api, call: &Call<'_>) -> Result<wire::List<wire::HostRun>, Error> {
    let (env, host) = (call.param("env"), call.param("host"));
    let page = call.page()?;
    let runs = api.store.host_runs(env, host, &page).await?;
    Ok(wire::List {
        items: runs.items,
        next_cursor: runs.next,
    })
}
