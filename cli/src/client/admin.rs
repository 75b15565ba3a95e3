//! `boreas repo add|list|show|rotate-secret|remove`, `boreas token create|list|revoke` and
//! `boreas notify-defaults show|set|clear`: the operator's commands, through the api (admin role;
//! `notify-defaults show`: any).

use std::io::Read;
use std::path::PathBuf;

use boreas_api_types::{
    CredentialRequest, List, NewToken, NotificationDefaults, NotificationDefaultsRequest,
    RegisteredRepository, Repository, RepositoryRequest, RotateSecretRequest, Token, TokenRequest,
};
use boreas_core::config::NotificationRule;
use boreas_core::role::Role;
use boreas_core::webhook::Provider;

use super::commands::{done, print_json};
use super::{Client, Conn, Failure, segment};

/// `boreas repo …`
#[derive(Debug, clap::Subcommand)]
pub(crate) enum RepoCommand {
    /// Register a repository: prints its webhook URL, its secret (once) and what to enter on the
    /// provider.
    Add {
        #[command(flatten)]
        conn: Conn,
        /// The full name its provider's payloads carry (`owner/name`, GitLab `group/sub/name`).
        name: String,
        /// github, gitlab or gitea.
        #[arg(long)]
        provider: String,
        /// The https clone URL (no credentials in it).
        #[arg(long)]
        clone_url: String,
        /// The host its webhooks name it under [default: the clone URL's].
        #[arg(long)]
        host: Option<String>,
        /// A ref that makes versions (`refs/tags/<glob>`, `refs/heads/<branch>`); repeat for more
        /// [default: every tag].
        #[arg(long = "trigger")]
        triggers: Vec<String>,
        /// Read an HTTPS access token for a private repository from standard input.
        #[arg(long, conflicts_with = "github_app_id")]
        token_stdin: bool,
        /// The user name sent with the token [default: x-access-token on GitHub, oauth2 elsewhere].
        #[arg(long, requires = "token_stdin")]
        username: Option<String>,
        /// A GitHub App's id: installation tokens are minted from its private key.
        #[arg(long, requires = "github_app_key")]
        github_app_id: Option<u64>,
        /// The GitHub App's private key (PEM file).
        #[arg(long, requires = "github_app_id")]
        github_app_key: Option<PathBuf>,
    },
    /// List registered repositories with their last delivery.
    List {
        #[command(flatten)]
        conn: Conn,
    },
    /// Show one repository (by id `host/full_name`, or by full name when that is unambiguous).
    Show {
        #[command(flatten)]
        conn: Conn,
        name: String,
    },
    /// Replace the webhook secret; the old one keeps working for the grace period.
    RotateSecret {
        #[command(flatten)]
        conn: Conn,
        name: String,
        /// How long the old secret is still accepted (`90s`, `30m`, `24h`, `7d`) [default: 24h].
        #[arg(long)]
        grace: Option<String>,
    },
    /// Stop watching a repository; its versions and deployments stay readable.
    Remove {
        #[command(flatten)]
        conn: Conn,
        name: String,
    },
}

/// `boreas token …`
#[derive(Debug, clap::Subcommand)]
pub(crate) enum TokenCommand {
    /// Create an API token; it is printed once.
    Create {
        #[command(flatten)]
        conn: Conn,
        name: String,
        /// viewer, deployer, approver or admin.
        #[arg(long)]
        role: String,
        /// Lifetime (`90d`, `12h`, …) [default: never expires].
        #[arg(long)]
        expires: Option<String>,
    },
    /// List tokens: names, roles, created, last used, expiry (never a token).
    List {
        #[command(flatten)]
        conn: Conn,
    },
    /// Revoke a token: refused from its next request on.
    Revoke {
        #[command(flatten)]
        conn: Conn,
        name: String,
    },
}

/// `boreas notify-defaults …`
#[derive(Debug, clap::Subcommand)]
pub(crate) enum NotifyDefaultsCommand {
    /// Show the installation's default notification rules (those of every version whose
    /// boreas.yaml has no `notifications` section).
    Show {
        #[command(flatten)]
        conn: Conn,
    },
    /// Replace them with the rules of FILE: a JSON list of rules, each as in boreas.yaml
    /// (`sink`, `events`, `environments`, `apps`); `-` reads standard input.
    Set {
        #[command(flatten)]
        conn: Conn,
        file: PathBuf,
    },
    /// Remove every default rule.
    Clear {
        #[command(flatten)]
        conn: Conn,
    },
}

impl NotifyDefaultsCommand {
    pub(crate) fn conn(&self) -> &Conn {
        match self {
            Self::Show { conn } | Self::Set { conn, .. } | Self::Clear { conn } => conn,
        }
    }
}

impl RepoCommand {
    pub(crate) fn conn(&self) -> &Conn {
        match self {
            Self::Add { conn, .. }
            | Self::List { conn }
            | Self::Show { conn, .. }
            | Self::RotateSecret { conn, .. }
            | Self::Remove { conn, .. } => conn,
        }
    }
}

impl TokenCommand {
    pub(crate) fn conn(&self) -> &Conn {
        match self {
            Self::Create { conn, .. } | Self::List { conn } | Self::Revoke { conn, .. } => conn,
        }
    }
}

/// Seconds in `90s`, `30m`, `24h`, `7d` or a plain number of seconds.
pub(crate) fn parse_duration(text: &str) -> Result<u64, Failure> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let factor = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => 0,
    };
    match number.parse::<u64>() {
        Ok(n) if factor > 0 => Ok(n.saturating_mul(factor)),
        _ => Err(Failure::new(
            format!("{text:?} is not a duration like 90s, 30m, 24h or 90d"),
            2,
        )),
    }
}

/// The id of the repository an operator names: its id, or a full name registered once.
async fn resolve(client: &Client, name: &str) -> Result<String, Failure> {
    let list: List<Repository> = client.get("/repositories?limit=1000").await?;
    let wanted = name.to_ascii_lowercase();
    if list.items.iter().any(|r| r.id == wanted) {
        return Ok(wanted);
    }
    let matching: Vec<&Repository> = list
        .items
        .iter()
        .filter(|r| r.full_name.eq_ignore_ascii_case(name))
        .collect();
    match matching.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => Err(Failure::new(
            format!("no repository {name:?} is registered (see boreas repo list)"),
            1,
        )),
        many => Err(Failure::new(
            format!(
                "{name:?} is registered on several hosts ({}); name one by its id",
                many.iter()
                    .map(|r| r.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            2,
        )),
    }
}

fn print_registered(r: &RegisteredRepository, what: &str) {
    println!("repository {} {what}", r.repository.id);
    println!();
    println!("Webhook URL:    {}", r.repository.webhook_url);
    println!("Webhook secret: {}", r.webhook_secret);
    println!("(the secret is shown only now; store it in the provider's webhook form)");
    println!();
    println!("On {}: {}", r.repository.provider, r.setup.location);
    for f in &r.setup.fields {
        println!("  {}: {}", f.field, f.value);
    }
}

fn print_repository(r: &Repository) {
    println!("id:          {}", r.id);
    println!("full name:   {}", r.full_name);
    println!("provider:    {} ({})", r.provider, r.host);
    println!("clone URL:   {}", r.clone_url);
    println!("webhook URL: {}", r.webhook_url);
    let triggers = if r.triggers.is_empty() {
        "every tag".to_owned()
    } else {
        r.triggers.join(", ")
    };
    println!("triggers:    {triggers}");
    if let Some(c) = &r.credential {
        println!("credential:  {} ({})", c.kind.as_str(), c.param);
    }
    if let Some(until) = &r.previous_secret_until {
        println!("old secret accepted until {until}");
    }
    match &r.last_delivery {
        Some(d) => println!(
            "last delivery: {} {} → {} {}: {}",
            d.at,
            d.event.as_deref().unwrap_or("-"),
            d.status,
            d.outcome,
            d.message
        ),
        None => println!("last delivery: none yet"),
    }
}

pub(crate) async fn repo(
    client: &Client,
    json: bool,
    command: &RepoCommand,
) -> Result<(), Failure> {
    match command {
        RepoCommand::Add {
            name,
            provider,
            clone_url,
            host,
            triggers,
            token_stdin,
            username,
            github_app_id,
            github_app_key,
            ..
        } => {
            let provider = Provider::parse(provider).ok_or_else(|| {
                Failure::new(
                    format!("--provider {provider:?} is not github, gitlab or gitea"),
                    2,
                )
            })?;
            let credential = if *token_stdin {
                let mut token = String::new();
                std::io::stdin()
                    .read_to_string(&mut token)
                    .map_err(|e| Failure::new(format!("reading the token from stdin: {e}"), 1))?;
                Some(CredentialRequest::Token {
                    token: token.trim().to_owned(),
                    username: username.clone(),
                })
            } else if let (Some(app_id), Some(key)) = (github_app_id, github_app_key) {
                let private_key = std::fs::read_to_string(key).map_err(|e| {
                    Failure::new(format!("reading the App's key {}: {e}", key.display()), 1)
                })?;
                Some(CredentialRequest::GithubApp {
                    app_id: *app_id,
                    private_key,
                    api_url: None,
                })
            } else {
                None
            };
            let request = RepositoryRequest {
                full_name: name.clone(),
                provider,
                clone_url: clone_url.clone(),
                host: host.clone(),
                triggers: triggers.clone(),
                webhook_secret: None,
                credential,
            };
            let registered: RegisteredRepository = client.post("/repositories", &request).await?;
            if json {
                print_json(&registered);
            } else {
                print_registered(&registered, "registered");
            }
        }
        RepoCommand::List { .. } => {
            let list: List<Repository> = client.get("/repositories?limit=1000").await?;
            if json {
                print_json(&list);
            } else {
                println!("{:<50} {:<8} LAST DELIVERY", "ID", "PROVIDER");
                for r in &list.items {
                    let last = r.last_delivery.as_ref().map_or_else(
                        || "-".to_owned(),
                        |d| format!("{} {} {}", d.at, d.status, d.outcome),
                    );
                    println!("{:<50} {:<8} {last}", r.id, r.provider.as_str());
                }
            }
        }
        RepoCommand::Show { name, .. } => {
            let id = resolve(client, name).await?;
            let r: Repository = client
                .get(&format!("/repositories/{}", segment(&id)))
                .await?;
            if json {
                print_json(&r);
            } else {
                print_repository(&r);
            }
        }
        RepoCommand::RotateSecret { name, grace, .. } => {
            let grace_seconds = grace.as_deref().map(parse_duration).transpose()?;
            let id = resolve(client, name).await?;
            let rotated: RegisteredRepository = client
                .post(
                    &format!("/repositories/{}/rotate-secret", segment(&id)),
                    &RotateSecretRequest { grace_seconds },
                )
                .await?;
            if json {
                print_json(&rotated);
            } else {
                print_registered(&rotated, "has a new webhook secret");
                if let Some(until) = &rotated.repository.previous_secret_until {
                    println!();
                    println!("The old secret is accepted until {until}.");
                }
            }
        }
        RepoCommand::Remove { name, .. } => {
            let id = resolve(client, name).await?;
            let removed: Repository = client
                .delete(&format!("/repositories/{}", segment(&id)))
                .await?;
            done(
                json,
                &removed,
                &format!("repository {id} removed; its versions and deployments stay readable"),
            );
        }
    }
    Ok(())
}

pub(crate) async fn token(
    client: &Client,
    json: bool,
    command: &TokenCommand,
) -> Result<(), Failure> {
    match command {
        TokenCommand::Create {
            name,
            role,
            expires,
            ..
        } => {
            let role = Role::parse(role).ok_or_else(|| {
                Failure::new(
                    format!("--role {role:?} is not viewer, deployer, approver or admin"),
                    2,
                )
            })?;
            let expires_in_seconds = expires.as_deref().map(parse_duration).transpose()?;
            let created: NewToken = client
                .post(
                    "/tokens",
                    &TokenRequest {
                        name: name.clone(),
                        role,
                        expires_in_seconds,
                    },
                )
                .await?;
            if json {
                print_json(&created);
            } else {
                println!(
                    "token {} ({}) created; it is shown only now:",
                    created.name, created.role
                );
                println!("{}", created.token);
                if let Some(at) = &created.expires_at {
                    println!("expires {at}");
                }
            }
        }
        TokenCommand::List { .. } => {
            let list: List<Token> = client.get("/tokens?limit=1000").await?;
            if json {
                print_json(&list);
            } else {
                println!(
                    "{:<24} {:<9} {:<25} {:<25} EXPIRES",
                    "NAME", "ROLE", "CREATED", "LAST USED"
                );
                for t in &list.items {
                    let expires = match (&t.expires_at, t.expired) {
                        (Some(at), true) => format!("{at} (expired)"),
                        (Some(at), false) => at.clone(),
                        (None, _) => "never".to_owned(),
                    };
                    println!(
                        "{:<24} {:<9} {:<25} {:<25} {expires}",
                        t.name,
                        t.role.as_str(),
                        t.created_at,
                        t.last_used.as_deref().unwrap_or("never")
                    );
                }
            }
        }
        TokenCommand::Revoke { name, .. } => {
            let revoked: Token = client.delete(&format!("/tokens/{}", segment(name))).await?;
            done(json, &revoked, &format!("token {name} revoked"));
        }
    }
    Ok(())
}

pub(crate) async fn notify_defaults(
    client: &Client,
    json: bool,
    command: &NotifyDefaultsCommand,
) -> Result<(), Failure> {
    const PATH: &str = "/notifications/defaults";
    let defaults: NotificationDefaults = match command {
        NotifyDefaultsCommand::Show { .. } => client.get(PATH).await?,
        NotifyDefaultsCommand::Set { file, .. } => {
            let mut text = String::new();
            let read = if file.as_os_str() == "-" {
                std::io::stdin().read_to_string(&mut text).map(drop)
            } else {
                std::fs::read_to_string(file).map(|t| text = t)
            };
            read.map_err(|e| Failure::new(format!("{}: {e}", file.display()), 2))?;
            let rules: Vec<NotificationRule> = serde_json::from_str(&text).map_err(|e| {
                Failure::new(
                    format!(
                        "{}: line {}, column {}: not a JSON list of notification rules: {e}",
                        file.display(),
                        e.line(),
                        e.column()
                    ),
                    2,
                )
            })?;
            client
                .put(PATH, &NotificationDefaultsRequest { rules })
                .await?
        }
        NotifyDefaultsCommand::Clear { .. } => {
            client
                .put(PATH, &NotificationDefaultsRequest { rules: Vec::new() })
                .await?
        }
    };
    if json {
        print_json(&defaults);
        return Ok(());
    }
    let all = |names: &[String]| {
        if names.is_empty() {
            "all".to_owned()
        } else {
            names.join(",")
        }
    };
    println!(
        "{:<24} {:<40} {:<20} APPS",
        "SINK", "EVENTS", "ENVIRONMENTS"
    );
    for rule in &defaults.rules {
        let events = rule.events.as_ref().map_or_else(
            || "default".to_owned(),
            |e| e.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(","),
        );
        println!(
            "{:<24} {events:<40} {:<20} {}",
            rule.sink,
            all(&rule.environments),
            all(&rule.apps)
        );
    }
    match (&defaults.updated_by, &defaults.updated_at) {
        (Some(by), Some(at)) => println!("set by {by} at {at}"),
        _ => println!("never set: versions without a notifications section notify nobody"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("90d").unwrap(), 90 * 86_400);
        assert_eq!(parse_duration("12h").unwrap(), 43_200);
        assert_eq!(parse_duration("30m").unwrap(), 1800);
        assert_eq!(parse_duration("45").unwrap(), 45);
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("d").is_err());
    }
}
