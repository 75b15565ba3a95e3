//! `boreas envs`, `boreas waive`, `boreas override` and `boreas freeze add|list|remove`: the
//! environment policy through the api (waive, override and freeze remove: approver; freeze add:
//! deployer; envs and freeze list: any).

use std::fmt::Write as _;

use boreas_api_types::{
    EnvironmentOfRepository, EnvironmentView, Freeze, List, ManagedFreeze, Override,
    OverrideRequest, Waiver, WaiverRequest, WindowView,
};
use boreas_core::config::{DurationSpec, FreezeBlock, OnRunning};
use boreas_core::policy::Condition;
use clap::builder::{PossibleValuesParser, TypedValueParser};

use super::commands::{done, print_json};
use super::{Client, Conn, Failure, render, segment};

/// `boreas freeze …`
#[derive(Debug, clap::Subcommand)]
pub(crate) enum FreezeCommand {
    /// Add a freeze window without a commit (an incident freeze): a recurrence (`--rrule` or
    /// `--cron`) with a `--duration`, or a one-off `--from` … `--until`.
    Add(Box<NewFreeze>),
    /// List the freeze windows added through the API (those of boreas.yaml: `boreas envs`).
    List {
        #[command(flatten)]
        conn: Conn,
    },
    /// Remove a freeze window added through the API.
    Remove {
        #[command(flatten)]
        conn: Conn,
        name: String,
    },
}

/// The arguments of `boreas freeze add`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("when").args(["rrule", "cron", "from"]).required(true)))]
pub(crate) struct NewFreeze {
    #[command(flatten)]
    conn: Conn,
    /// Its name (lowercase letters, digits and '-').
    name: String,
    /// An environment it freezes; repeat for more.
    #[arg(long = "env", value_name = "ENV", required = true)]
    environments: Vec<String>,
    /// An app it freezes; repeat for more [default: every app].
    #[arg(long = "app", value_name = "APP")]
    apps: Vec<String>,
    /// Why deployments wait, shown wherever the window is.
    #[arg(long)]
    reason: String,
    /// RFC 5545 recurrence rule of its starts, e.g. `FREQ=WEEKLY;BYDAY=FR;BYHOUR=16`.
    #[arg(long, requires = "duration")]
    rrule: Option<String>,
    /// Cron expression (five fields) of its starts, e.g. `0 16 * * FRI`.
    #[arg(long, requires = "duration")]
    cron: Option<String>,
    /// How long each recurring window lasts (`30m`, `64h`, `1h30m`).
    #[arg(long, conflicts_with = "from")]
    duration: Option<DurationSpec>,
    /// IANA time zone of the recurrence and of times written without an offset.
    #[arg(long, default_value = "UTC")]
    timezone: String,
    /// Start of a one-off window: `2026-12-23T18:00` in the time zone, or RFC 3339 with an
    /// offset.
    #[arg(long, requires = "until")]
    from: Option<String>,
    /// End of a one-off window, in the same forms as `--from`.
    #[arg(long, requires = "from")]
    until: Option<String>,
    /// What it blocks.
    #[arg(
        long,
        value_delimiter = ',',
        value_parser = names(FreezeBlock::ALL, FreezeBlock::as_str),
        default_values = ["start", "batches"]
    )]
    blocks: Vec<FreezeBlock>,
    /// What a deployment running when it opens does [default: pause when it blocks batches,
    /// finish otherwise].
    #[arg(long, value_parser = names(OnRunning::ALL, OnRunning::as_str))]
    running: Option<OnRunning>,
}

impl FreezeCommand {
    pub(crate) fn conn(&self) -> &Conn {
        match self {
            Self::Add(new) => &new.conn,
            Self::List { conn } | Self::Remove { conn, .. } => conn,
        }
    }
}

/// A parser of a string enum's names (`start`, `pause`, …), which `--help` lists.
fn names<T: Copy + Send + Sync + 'static>(
    all: &'static [T],
    name: fn(T) -> &'static str,
) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(all.iter().map(|&v| name(v))).map(move |s| {
        all.iter()
            .copied()
            .find(|&v| name(v) == s)
            .expect("clap admits only the listed names")
    })
}

pub(crate) async fn freeze(
    client: &Client,
    json: bool,
    command: &FreezeCommand,
) -> Result<(), Failure> {
    match command {
        FreezeCommand::Add(new) => {
            let NewFreeze {
                name,
                environments,
                apps,
                reason,
                rrule,
                cron,
                duration,
                timezone,
                from,
                until,
                blocks,
                running,
                ..
            } = new.as_ref();
            let request = Freeze {
                name: name.clone(),
                reason: reason.clone(),
                environments: environments.clone(),
                apps: apps.clone(),
                timezone: timezone.clone(),
                rrule: rrule.clone(),
                cron: cron.clone(),
                duration: *duration,
                from: from.clone(),
                until: until.clone(),
                blocks: blocks.clone(),
                running: *running,
            };
            let added: ManagedFreeze = client.post("/freezes", &request).await?;
            done(
                json,
                &added,
                &format!(
                    "freeze window {name} added: {}, {}",
                    added.freeze.environments.join(", "),
                    when(&added.freeze)
                ),
            );
        }
        FreezeCommand::List { .. } => {
            let list: List<ManagedFreeze> = client.get("/freezes").await?;
            if json {
                print_json(&list);
            } else {
                freezes(&list);
            }
        }
        FreezeCommand::Remove { name, .. } => {
            let left: List<ManagedFreeze> = client
                .delete(&format!("/freezes/{}", segment(name)))
                .await?;
            done(json, &left, &format!("freeze window {name} removed"));
        }
    }
    Ok(())
}

/// A window's schedule and time zone, as it was written.
fn when(f: &Freeze) -> String {
    let duration = f.duration.map(|d| d.to_string()).unwrap_or_default();
    let schedule = match (&f.rrule, &f.cron) {
        (Some(rule), _) => format!("rrule {rule} for {duration}"),
        (None, Some(cron)) => format!("cron {cron} for {duration}"),
        (None, None) => format!(
            "from {} until {}",
            f.from.as_deref().unwrap_or_default(),
            f.until.as_deref().unwrap_or_default()
        ),
    };
    format!("{schedule} ({})", f.timezone)
}

fn joined(blocks: &[FreezeBlock]) -> String {
    blocks
        .iter()
        .map(|b| b.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn freezes(list: &List<ManagedFreeze>) {
    let rows: Vec<Vec<String>> = list
        .items
        .iter()
        .map(|m| {
            let f = &m.freeze;
            vec![
                f.name.clone(),
                f.environments.join(","),
                if f.apps.is_empty() {
                    "all".to_owned()
                } else {
                    f.apps.join(",")
                },
                when(f),
                joined(&f.blocks),
                f.on_running().to_string(),
                format!("{} {}", m.added_by, m.added_at),
                render::plain(&f.reason),
            ]
        })
        .collect();
    render::table(
        &[
            "NAME",
            "ENVIRONMENTS",
            "APPS",
            "WHEN",
            "BLOCKS",
            "RUNNING",
            "ADDED",
            "REASON",
        ],
        &rows,
    );
}

pub(crate) async fn waive(
    client: &Client,
    json: bool,
    deployment: &str,
    condition: &Condition,
    reason: &str,
) -> Result<(), Failure> {
    let waived: Waiver = client
        .post(
            &format!("/deployments/{}/waivers", segment(deployment)),
            &WaiverRequest {
                condition: condition.clone(),
                reason: reason.to_owned(),
            },
        )
        .await?;
    done(
        json,
        &waived,
        &format!("{} waived for deployment {deployment}", waived.condition),
    );
    Ok(())
}

pub(crate) async fn override_freezes(
    client: &Client,
    json: bool,
    deployment: &str,
    reason: &str,
    expires_in: DurationSpec,
) -> Result<(), Failure> {
    let granted: Override = client
        .post(
            &format!("/deployments/{}/override", segment(deployment)),
            &OverrideRequest {
                reason: reason.to_owned(),
                expires_in,
            },
        )
        .await?;
    done(
        json,
        &granted,
        &format!(
            "deployment {deployment} passes the freeze windows until {}",
            granted.expires_at
        ),
    );
    Ok(())
}

pub(crate) async fn envs(client: &Client, json: bool) -> Result<(), Failure> {
    let list: List<EnvironmentView> = client.get("/environments").await?;
    if json {
        print_json(&list);
    } else {
        print!("{}", environments(&list));
    }
    Ok(())
}

/// Each environment: whether it is frozen, each repository's promotion, its windows, and the
/// deployments waiting with their reasons; a blank line between environments.
fn environments(list: &List<EnvironmentView>) -> String {
    let mut out = String::new();
    for (i, e) in list.items.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let state = match (e.frozen, &e.opens_at) {
            (false, _) => "open".to_owned(),
            (true, Some(at)) => format!("frozen until {at}"),
            (true, None) => "frozen, no end in sight".to_owned(),
        };
        let _ = writeln!(out, "{}: {state}", e.name);
        for r in &e.repositories {
            let _ = writeln!(out, "  {} {}: {}", r.repository, r.version, promotion(r));
        }
        for w in &e.windows {
            let _ = writeln!(
                out,
                "  window {} ({}): {}",
                w.name,
                w.source,
                render::plain(&w.reason)
            );
            let _ = writeln!(out, "    {}", window_state(w));
        }
        if !e.waiting.is_empty() {
            let _ = writeln!(out, "  waiting:");
            for d in &e.waiting {
                let _ = writeln!(
                    out,
                    "    {}  {} {}  ({})",
                    d.id,
                    d.repository,
                    d.version,
                    render::hold_times(&d.hold)
                );
                for reason in &d.hold.reasons {
                    let _ = writeln!(out, "      {}", render::plain(reason));
                }
            }
        }
    }
    out
}

/// `after staging, soak 1h, auto-confirm`.
fn promotion(r: &EnvironmentOfRepository) -> String {
    let mut parts = match &r.promotion {
        Some(p) => {
            let mut parts = vec![format!("after {}", p.after.join(" and "))];
            if let Some(soak) = p.soak {
                parts.push(format!("soak {soak}"));
            }
            parts
        }
        None => vec!["no promotion".to_owned()],
    };
    if r.auto_confirm {
        parts.push("auto-confirm".to_owned());
    }
    parts.join(", ")
}

/// When a window is in force, what it blocks for which apps, and what running deployments do.
fn window_state(w: &WindowView) -> String {
    let when = match (&w.active_until, &w.next_start) {
        (Some(until), _) => format!("in force until {until}"),
        (None, Some(start)) => format!("next start {start}"),
        (None, None) => "no start in reach".to_owned(),
    };
    let blocks: Vec<&str> = w.blocks.iter().map(|b| b.as_str()).collect();
    let apps = if w.apps.is_empty() {
        "every app".to_owned()
    } else {
        w.apps.join(", ")
    };
    let running = match w.running {
        OnRunning::Finish => "running deployments finish",
        OnRunning::Pause => "running deployments pause at their next batch",
        OnRunning::Abort => "running deployments roll back at their next batch",
    };
    format!(
        "{when}; blocks {} for {apps}; {running}",
        blocks.join(" and ")
    )
}
