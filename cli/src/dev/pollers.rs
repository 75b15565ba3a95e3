//! SQS pollers: what Lambda's SQS event source does on AWS. Each long-polls its queue, hands a batch
//! to the function's handler as an `SqsEvent`, deletes the messages the handler did not report
//! failed, and leaves the failed ones for redelivery: after a short local backoff instead of the
//! queue's full visibility timeout, so a retry comes within seconds, unless the handler schedules
//! its messages itself ([`Redelivery::Handler`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use boreas_aws::batch::lambda_event;
use boreas_aws::queues::{Queues, ReceiveOptions};
use tokio::sync::watch;

/// How long a failed message stays hidden before it is received again.
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// The pause after a receive error (the emulator restarting, a network hiccup).
const ERROR_PAUSE: Duration = Duration::from_secs(1);
/// Long-poll wait: short enough that a stop is noticed promptly even without the stop signal.
const WAIT: Duration = Duration::from_secs(10);

/// When a message the handler reported failed comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Redelivery {
    /// After [`RETRY_AFTER`].
    Soon,
    /// When the handler hid it for (the analysis worker hides a request until its next
    /// measurement is due, and a failed one for a few seconds), as on AWS.
    Handler,
}

/// A function's handler over one SQS batch.
pub(crate) type Handler =
    Arc<dyn Fn(SqsEvent) -> Pin<Box<dyn Future<Output = SqsBatchResponse> + Send>> + Send + Sync>;

/// Polls `queue_url` until `stop` turns true, handing each batch to `handler`.
pub(crate) async fn run(
    name: &'static str,
    queues: Arc<dyn Queues>,
    queue_url: String,
    handler: Handler,
    redelivery: Redelivery,
    mut stop: watch::Receiver<bool>,
) {
    let options = ReceiveOptions {
        wait: WAIT,
        max_messages: 10,
        visibility: None,
    };
    // The ARN ends with the queue's name, as Lambda's does: the recorder tells its channels apart
    // by it.
    let queue_name = queue_url.rsplit('/').next().unwrap_or_default();
    let arn = format!("arn:aws:sqs:local:000000000000:{queue_name}");
    loop {
        let received = tokio::select! {
            r = queues.receive(&queue_url, &options) => r,
            _ = stop.changed() => return,
        };
        let messages = match received {
            Ok(m) => m,
            Err(e) => {
                if *stop.borrow() {
                    return;
                }
                tracing::warn!(poller = name, error = %e, "receive failed");
                tokio::time::sleep(ERROR_PAUSE).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let response = handler(lambda_event(&arn, &messages)).await;
        for m in &messages {
            let failed = response
                .batch_item_failures
                .iter()
                .any(|f| f.item_identifier == m.id);
            let result = match (failed, redelivery) {
                (false, _) => queues.delete(&queue_url, &m.receipt_handle).await,
                (true, Redelivery::Soon) => {
                    queues
                        .change_visibility(&queue_url, &m.receipt_handle, RETRY_AFTER)
                        .await
                }
                (true, Redelivery::Handler) => Ok(()),
            };
            if let Err(e) = result {
                tracing::warn!(poller = name, message_id = %m.id, failed, error = %e, "cannot settle a message");
            }
        }
    }
}
