//! The operator inside its cluster: long-polls the cluster's queue with the pod's service-account
//! credentials. `BOREAS_CLUSTER` names the cluster (its queue is `{prefix}-k8s-{cluster}`, or
//! `BOREAS_QUEUE_URL`); see `Operator::from_env` for the rest. Stops on SIGTERM or Ctrl-C after
//! the commands in hand finish.

use std::sync::Arc;

use boreas_k8s_operator::Operator;
use boreas_k8s_operator::poller::{self, PollOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let cluster = std::env::var("BOREAS_CLUSTER")
        .ok()
        .filter(|c| !c.is_empty())
        .ok_or("set BOREAS_CLUSTER to the name of this cluster")?;
    let client = kube::Client::try_default().await?;
    let operator = Arc::new(Operator::from_env(Some((cluster.clone(), client))).await?);
    let queue_url = match std::env::var("BOREAS_QUEUE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(url) => url,
        None => {
            let prefix = std::env::var("BOREAS_PREFIX").unwrap_or_else(|_| "boreas".to_owned());
            let names = boreas_aws::names::Names::new(&prefix);
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
