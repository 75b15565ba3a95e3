//! The in-cluster way: long-poll the cluster's queue and hand each command to the same handler.

use std::sync::Arc;
use std::time::Duration;

use boreas_aws::queues::{Message, ReceiveOptions};
use tokio::sync::{Semaphore, watch};

use crate::handler::Delivery;
use crate::operator::{CONCURRENT_COMMANDS, Operator};

/// How the poller polls.
#[derive(Debug, Clone)]
pub struct PollOptions {
    /// URL of the cluster's command queue.
    pub queue_url: String,
    /// Long-poll wait (at most 20 s).
    pub wait: Duration,
    /// How long a received message stays hidden; renewed at half of it while its command runs,
    /// so a crashed poller's message comes back after at most this long.
    pub lease: Duration,
    /// Commands handled at the same time (apps of one stage roll out in parallel).
    pub concurrency: usize,
}

impl PollOptions {
    /// Defaults for `queue_url`: 20 s polls, 60 s leases, [`CONCURRENT_COMMANDS`] at a time.
    pub fn new(queue_url: impl Into<String>) -> Self {
        Self {
            queue_url: queue_url.into(),
            wait: Duration::from_secs(20),
            lease: Duration::from_secs(60),
            concurrency: CONCURRENT_COMMANDS.get(),
        }
    }
}

/// Polls until `shutdown` turns true, then waits for the commands in hand to finish.
pub async fn run(
    operator: Arc<Operator>,
    options: PollOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    while !*shutdown.borrow() {
        let receive = ReceiveOptions {
            wait: options.wait,
            max_messages: u8::try_from(permits.available_permits().clamp(1, 10)).unwrap_or(1),
            visibility: Some(options.lease),
        };
        let messages = tokio::select! {
            _ = shutdown.changed() => break,
            r = operator.queues.receive(&options.queue_url, &receive) => r,
        };
        let messages = match messages {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "receiving commands failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for message in messages {
            let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                break;
            };
            let operator = Arc::clone(&operator);
            let options = options.clone();
            tasks.spawn(async move {
                handle(&operator, &options, message).await;
                drop(permit);
            });
        }
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

async fn handle(operator: &Operator, options: &PollOptions, message: Message) {
    // No end of its own: the lease is renewed while the command runs.
    let delivery = Delivery {
        first_received: message.first_received,
        until: None,
    };
    let lease = async {
        let mut every = tokio::time::interval(options.lease / 2);
        every.tick().await;
        loop {
            every.tick().await;
            if let Err(e) = operator
                .queues
                .change_visibility(&options.queue_url, &message.receipt_handle, options.lease)
                .await
            {
                tracing::warn!(error = %e, "renewing the message lease failed");
            }
        }
    };
    let outcome = tokio::select! {
        o = operator.handle_message(&message.body, delivery) => o,
        () = lease => unreachable!("the lease loop never ends"),
    };
    if outcome.settled() {
        if let Err(e) = operator
            .queues
            .delete(&options.queue_url, &message.receipt_handle)
            .await
        {
            tracing::warn!(error = %e, "deleting a handled command failed; it will come again and be checked");
        }
    } else {
        tracing::warn!(?outcome, "command left on the queue for another delivery");
    }
}
