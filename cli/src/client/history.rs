//! `boreas history APP [--env ENV]`: an app's runs, newest first (when, where, which version, how
//! it ended, how long it took, who confirmed it and approved its gates); `boreas history --host
//! HOST --env ENV`: the last deployments that changed a host. Both follow the api's pages up to
//! `--limit`.

use std::time::Duration;

use boreas_api_types::{AppRun, HostRun, List};
use boreas_aws::store::parse_rfc3339;
use boreas_core::config::DurationSpec;
use boreas_core::status::GateStatus;
use serde::de::DeserializeOwned;

use super::commands::print_json;
use super::{Client, Conn, Failure, render, segment};

/// Items asked for per request; a longer `--limit` follows the cursor.
const PAGE: usize = 100;

/// The arguments of `boreas history`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("subject").args(["app", "host"]).required(true)))]
pub(crate) struct HistoryArgs {
    #[command(flatten)]
    pub(crate) conn: Conn,
    /// The app whose runs to list.
    #[arg(conflicts_with = "host")]
    app: Option<String>,
    /// A host instead of an app: the deployments that changed it (needs --env).
    #[arg(long, requires = "env")]
    host: Option<String>,
    /// Only this environment (an app's runs); the host's environment (with --host).
    #[arg(long)]
    env: Option<String>,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    limit: u32,
}

pub(crate) async fn history(
    client: &Client,
    json: bool,
    args: &HistoryArgs,
) -> Result<(), Failure> {
    let limit = usize::try_from(args.limit).unwrap_or(usize::MAX);
    match (&args.app, &args.host, &args.env) {
        (_, Some(host), Some(env)) => {
            let path = format!("/hosts/{}/{}/history?", segment(env), segment(host));
            let runs: List<HostRun> = pages(client, &path, limit).await?;
            if json {
                print_json(&runs);
            } else if runs.items.is_empty() {
                println!("no ended deployment has changed {host} in {env}");
            } else {
                host_runs(&runs.items);
            }
        }
        (Some(app), None, env) => {
            let mut path = format!("/apps/{}/history?", segment(app));
            if let Some(e) = env {
                path.push_str(&format!("env={}&", segment(e)));
            }
            let runs: List<AppRun> = pages(client, &path, limit).await?;
            if json {
                print_json(&runs);
            } else if runs.items.is_empty() {
                let place = env.as_ref().map(|e| format!(" in {e}")).unwrap_or_default();
                println!("app {app} has no ended deployment{place}");
            } else {
                app_runs(&runs.items);
            }
        }
        // clap requires an app or a host, a host with an environment.
        _ => {
            return Err(Failure::new(
                "name an app, or a host with --host HOST --env ENV",
                2,
            ));
        }
    }
    Ok(())
}

/// Up to `limit` items of a paged list, following its cursor; `path` ends in `?` or `&`. The
/// answer's `next_cursor` continues after the last item returned.
async fn pages<T: DeserializeOwned>(
    client: &Client,
    path: &str,
    limit: usize,
) -> Result<List<T>, Failure> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let want = (limit - items.len()).min(PAGE);
        let mut page_path = format!("{path}limit={want}");
        if let Some(c) = &cursor {
            page_path.push_str(&format!("&cursor={}", segment(c)));
        }
        let page: List<T> = client.get(&page_path).await?;
        items.extend(page.items);
        let next = page.next_cursor;
        // A cursor that does not move would loop forever.
        if next.is_none() || next == cursor || items.len() >= limit {
            cursor = next.filter(|n| Some(n) != cursor.as_ref());
            break;
        }
        cursor = next;
    }
    Ok(List {
        items,
        next_cursor: cursor,
    })
}

/// How long from `start` to `end` (`1m30s`); `-` when either is unknown.
fn duration(start: Option<&str>, end: Option<&str>) -> String {
    let (Some(start), Some(end)) = (start.and_then(parse_rfc3339), end.and_then(parse_rfc3339))
    else {
        return "-".to_owned();
    };
    let took = end.duration_since(start).unwrap_or(Duration::ZERO);
    DurationSpec(took.as_secs()).to_string()
}

/// The deployment's outcome, with the app's own end when it differs and the target that failed.
fn outcome(run: &AppRun) -> String {
    let mut details = Vec::new();
    match run.app_status {
        Some(s) if s.as_str() != run.outcome.as_str() => details.push(format!("app {s}")),
        Some(_) => {}
        None => details.push("app never started".to_owned()),
    }
    if let Some(t) = &run.failed_target {
        details.push(format!("failed on {t}"));
    }
    if details.is_empty() {
        run.outcome.to_string()
    } else {
        format!("{} ({})", run.outcome, details.join(", "))
    }
}

/// Who decided each gate reached: `api.0 by alice`, `api.1 rejected by bob`, `api.2 waiting`.
fn gates(run: &AppRun) -> String {
    if run.gates.is_empty() {
        return "-".to_owned();
    }
    let decided: Vec<String> = run
        .gates
        .iter()
        .map(|g| {
            let by = g.by.as_deref().unwrap_or("?");
            match g.status {
                GateStatus::Approved => format!("{} by {by}", g.gate),
                GateStatus::Rejected => format!("{} rejected by {by}", g.gate),
                GateStatus::Waiting => format!("{} waiting", g.gate),
            }
        })
        .collect();
    decided.join(", ")
}

fn app_runs(runs: &[AppRun]) {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.started_at
                    .clone()
                    .or_else(|| r.ended_at.clone())
                    .unwrap_or_else(|| "-".to_owned()),
                r.environment.clone(),
                r.version.clone(),
                r.deployment_id.clone(),
                outcome(r),
                duration(r.started_at.as_deref(), r.ended_at.as_deref()),
                r.confirmed_by.clone().unwrap_or_else(|| "-".to_owned()),
                gates(r),
                if r.revert { "yes" } else { "" }.to_owned(),
            ]
        })
        .collect();
    render::table(
        &[
            "WHEN",
            "ENV",
            "VERSION",
            "DEPLOYMENT",
            "OUTCOME",
            "DURATION",
            "CONFIRMED BY",
            "GATES",
            "REVERT",
        ],
        &rows,
    );
}

fn host_runs(runs: &[HostRun]) {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.ended_at.clone(),
                r.app.clone(),
                r.version.clone(),
                r.deployment_id.clone(),
                r.outcome.to_string(),
                r.status.map_or("not reached".to_owned(), |s| s.to_string()),
            ]
        })
        .collect();
    render::table(
        &["ENDED", "APP", "VERSION", "DEPLOYMENT", "OUTCOME", "HOST"],
        &rows,
    );
}
