//! The operator inside its cluster: long-polls the cluster's queue with the pod's service-account
//! credentials. `BOREAS_CLUSTER` names the cluster (its queue is `{prefix}-k8s-{cluster}`, or
//! `BOREAS_QUEUE_URL`); see `Operator::from_env` for the rest. Stops on SIGTERM or Ctrl-C after
//! the commands in hand finish.

use std::sync::Arc;

use boreas_aws::env::Env;
use boreas_k8s_operator::Operator;
use boreas_k8s_operator::poller::{self, PollOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let env = Env::process();
    let cluster = env.require("BOREAS_CLUSTER", "it names this cluster")?;
    let names = env.names()?;
    let queue_url = env.get("BOREAS_QUEUE_URL")?;
    let client = kube::Client::try_default().await?;
    let operator = Arc::new(Operator::from_env(&env, Some((cluster.clone(), client))).await?);
    let queue_url = match queue_url {
        Some(url) => url,
        None => {
            operator
                .queues
                .queue_url(&names.k8s_queue(&cluster))
                .await?
        }
    };
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install the SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        let _ = stop.send(true);
    });
    poller::run(operator, PollOptions::new(queue_url), shutdown).await;
    Ok(())
}
