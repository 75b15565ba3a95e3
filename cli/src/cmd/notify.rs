//! `boreas notify add|test|remove NAME [--endpoint URL] [--prefix NAME]`: the chat and webhook
//! sinks of an installation, which `boreas.yaml` rules name (`notifications: - sink: NAME`). A
//! sink is an SSM SecureString (`/<prefix>/notification-sinks/<name>`): a chat webhook's URL is a
//! credential, so `add` reads it from standard input, and a webhook's signing secret is generated
//! and printed once. Uses the standard AWS credentials and region unless `--endpoint` is given.

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use boreas_aws::names::Names;
use boreas_aws::queues::SqsQueues;
use boreas_aws::secrets::{SecretValue, Secrets, SsmSecrets};
use boreas_aws::store::DynamoStore;
use boreas_core::config::{NotificationRule, is_valid_name};
use boreas_core::notify::{Backoff, SinkSpec};
use boreas_notifier::Notifier;

use crate::cmd::Installation;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Register (or replace) a sink; its URL is read from standard input.
    Add {
        /// The name rules use.
        name: String,
        /// `slack` (any Slack-compatible incoming webhook) or `webhook` (signed JSON).
        #[arg(long, value_parser = ["slack", "webhook"])]
        kind: String,
        #[command(flatten)]
        at: Installation,
    },
    /// Send a test message through a registered sink.
    Test {
        /// The sink.
        name: String,
        #[command(flatten)]
        at: Installation,
    },
    /// Remove a sink; rules that name it record their deliveries failed.
    Remove {
        /// The sink.
        name: String,
        #[command(flatten)]
        at: Installation,
    },
}

/// Bytes of randomness in a generated webhook secret (hex encoded).
const SECRET_BYTES: usize = 32;

/// Exit 0 on success, 1 when the sink or AWS refused, 2 for bad arguments or input.
pub(crate) fn run(args: &Args) -> ExitCode {
    let (name, at) = match &args.action {
        Action::Add { name, at, .. } | Action::Test { name, at } | Action::Remove { name, at } => {
            (name, at)
        }
    };
    if let Err(code) = at.check() {
        return code;
    }
    if !is_valid_name(name) || name == NotificationRule::GIT {
        eprintln!(
            "{name:?} is not a sink name: use 1 to 40 lowercase letters, digits and '-' (`git` \
             is the repository's own git host)"
        );
        return ExitCode::from(2);
    }
    let runtime = match super::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let names = Names::new(&at.prefix);
    let param = names.notification_sink_param(name);
    runtime.block_on(async {
        let cfg = boreas_aws::sdk_config(at.endpoint.as_deref()).await;
        let secrets = Arc::new(SsmSecrets::from_config(&cfg));
        match &args.action {
            Action::Add { kind, .. } => add(secrets.as_ref(), &param, name, kind).await,
            Action::Test { .. } => {
                let notifier = Notifier::new(
                    Arc::new(DynamoStore::from_config(&cfg, names.table())),
                    secrets,
                    Arc::new(SqsQueues::from_config(&cfg)),
                    names.clone(),
                    "",
                    Backoff::DEFAULT,
                );
                match notifier {
                    Ok(n) => match n.test_sink(name).await {
                        Ok(()) => {
                            eprintln!("sent a test message through sink {name}");
                            ExitCode::SUCCESS
                        }
                        Err(why) => {
                            eprintln!("{why}");
                            ExitCode::from(1)
                        }
                    },
                    Err(e) => {
                        eprintln!("{e}");
                        ExitCode::from(1)
                    }
                }
            }
            Action::Remove { .. } => match secrets.delete(&param).await {
                Ok(true) => {
                    eprintln!("removed sink {name}");
                    ExitCode::SUCCESS
                }
                Ok(false) => {
                    eprintln!("sink {name} is not registered");
                    ExitCode::from(1)
                }
                Err(e) => {
                    eprintln!("removing sink {name}: {e}");
                    ExitCode::from(1)
                }
            },
        }
    })
}

async fn add(secrets: &dyn Secrets, param: &str, name: &str, kind: &str) -> ExitCode {
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("cannot read the URL from standard input: {e}");
        return ExitCode::from(2);
    }
    let url = input.trim().to_owned();
    let spec = if kind == "slack" {
        SinkSpec::Slack { url }
    } else {
        let mut random = [0u8; SECRET_BYTES];
        if let Err(e) = getrandom::fill(&mut random) {
            eprintln!("no randomness for a secret: {e}");
            return ExitCode::from(1);
        }
        let secret: String = random.iter().map(|b| format!("{b:02x}")).collect();
        SinkSpec::Webhook { url, secret }
    };
    if let Err(why) = spec.check() {
        eprintln!("{why}");
        return ExitCode::from(2);
    }
    let value = match serde_json::to_string(&spec) {
        Ok(v) => SecretValue::new(v),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = secrets.put(param, &value, true).await {
        eprintln!("storing sink {name}: {e}");
        return ExitCode::from(1);
    }
    eprintln!("registered {kind} sink {name}");
    if let SinkSpec::Webhook { secret, .. } = &spec {
        // Printed once, for the receiver to verify signatures with; not kept anywhere else.
        println!("{secret}");
    }
    ExitCode::SUCCESS
}
