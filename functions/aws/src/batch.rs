//! One SQS batch through a function's handler, as Lambda's SQS event source delivers it (and
//! `boreas dev`'s pollers imitate): every record handled, the ones that failed reported by
//! message id in `batchItemFailures`, so SQS deletes the others and delivers those again.

use std::future::Future;
use std::num::NonZeroUsize;
use std::time::{Duration, SystemTime};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;

use crate::queues::{Message, Queues, epoch_millis};

/// The record attribute with the first receive time, as Lambda names it.
const FIRST_RECEIVE: &str = "ApproximateFirstReceiveTimestamp";

/// The Lambda event of `messages` received from the queue `queue_arn`, with the record fields and
/// system attributes Lambda's SQS event source fills in.
pub fn lambda_event(queue_arn: &str, messages: &[Message]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|m| {
            let mut r = SqsMessage::default();
            r.message_id = Some(m.id.clone());
            r.receipt_handle = Some(m.receipt_handle.clone());
            r.body = Some(m.body.clone());
            r.attributes.insert(
                "ApproximateReceiveCount".to_owned(),
                m.receive_count.to_string(),
            );
            if let Some(ms) = m.first_received.and_then(|t| {
                t.duration_since(SystemTime::UNIX_EPOCH)
                    .ok()
                    .map(|d| d.as_millis())
            }) {
                r.attributes
                    .insert(FIRST_RECEIVE.to_owned(), ms.to_string());
            }
            r.event_source = Some("aws:sqs".to_owned());
            r.event_source_arn = Some(queue_arn.to_owned());
            r
        })
        .collect();
    event
}

/// When SQS first handed out the record's message.
pub fn first_received(record: &SqsMessage) -> Option<SystemTime> {
    record
        .attributes
        .get(FIRST_RECEIVE)
        .and_then(|ms| epoch_millis(ms))
}

/// The URL of the queue an SQS record came from, from its `eventSourceARN`
/// (`arn:PARTITION:sqs:REGION:ACCOUNT:NAME`); SQS finds a queue by the URL's account and name.
pub fn queue_url(record: &SqsMessage) -> Option<String> {
    let arn = record.event_source_arn.as_deref()?;
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("sqs"), Some(region), Some(account), Some(name)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let suffix = if partition == "aws-cn" {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    Some(format!("https://sqs.{region}.{suffix}/{account}/{name}"))
}

/// How the records of one batch are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// One after another, in the order of the batch: each starts when the one before finished.
    Sequential,
    /// At most this many at a time.
    Bounded(NonZeroUsize),
}

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Settle {
    /// Handled, or failed for good and recorded as such: SQS may delete it.
    Delete,
    /// Failed in a way another delivery may fix; the handler logged why.
    Redeliver,
}

/// Hands every record of `event` to `handle` and reports the ones it answered
/// [`Settle::Redeliver`] by message id, in the order of the batch.
///
/// A record without a message id is reported with an empty identifier, which Lambda reads as
/// "the whole batch failed": the batch comes again rather than the message being lost.
pub async fn handle_batch<F, Fut>(
    event: SqsEvent,
    concurrency: Concurrency,
    mut handle: F,
) -> SqsBatchResponse
where
    F: FnMut(SqsMessage) -> Fut,
    Fut: Future<Output = Settle>,
{
    let limit = match concurrency {
        Concurrency::Sequential => 1,
        Concurrency::Bounded(n) => n.get(),
    };
    let settled: Vec<(Option<String>, Settle)> = futures::stream::iter(event.records)
        .map(|record| {
            let id = record.message_id.clone();
            let work = handle(record);
            async move { (id, work.await) }
        })
        // `buffered` yields in the order of the batch whatever order the work finishes in.
        .buffered(limit)
        .collect()
        .await;
    let mut response = SqsBatchResponse::default();
    for (id, settle) in settled {
        if settle == Settle::Redeliver {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id.unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// Hides `record` for `delay`, so that the message comes back when its next step is due rather
/// than after the queue's visibility timeout (which brings it back if this fails).
pub async fn hide_for(queues: &dyn Queues, record: &SqsMessage, delay: Duration) {
    let (Some(arn), Some(receipt)) = (
        record.event_source_arn.as_deref(),
        record.receipt_handle.as_deref(),
    ) else {
        return;
    };
    let queue = arn.rsplit(':').next().unwrap_or_default();
    let hidden = match queues.queue_url(queue).await {
        Ok(url) => queues.change_visibility(&url, receipt, delay).await,
        Err(e) => Err(e),
    };
    if let Err(e) = hidden {
        tracing::warn!(queue, error = %e, "cannot delay the message");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// A batch of records `m0`, `m1`, … whose bodies say how long handling takes (ms) and
    /// whether it fails.
    fn batch(bodies: &[&str]) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
                let mut m = SqsMessage::default();
                m.message_id = Some(format!("m{i}"));
                m.body = Some((*body).to_owned());
                m
            })
            .collect();
        event
    }

    fn failed(response: &SqsBatchResponse) -> Vec<&str> {
        response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    /// Sleeps the milliseconds the body starts with; fails when it ends with `fail`.
    async fn work(message: &SqsMessage) -> Settle {
        let body = message.body.as_deref().unwrap_or_default();
        let ms: u64 = body.split(' ').next().unwrap().parse().unwrap();
        tokio::time::sleep(Duration::from_millis(ms)).await;
        if body.ends_with("fail") {
            Settle::Redeliver
        } else {
            Settle::Delete
        }
    }

    #[tokio::test(start_paused = true)]
    async fn only_the_failed_messages_are_reported_by_their_ids() {
        for concurrency in [
            Concurrency::Sequential,
            Concurrency::Bounded(NonZeroUsize::new(3).unwrap()),
        ] {
            let event = batch(&["5", "1 fail", "3", "2 fail", "0"]);
            let response =
                handle_batch(event, concurrency, |m| async move { work(&m).await }).await;
            assert_eq!(failed(&response), ["m1", "m3"], "{concurrency:?}");
        }
        let event = batch(&["0", "0"]);
        let response =
            handle_batch(event, Concurrency::Sequential, |_| async { Settle::Delete }).await;
        assert!(response.batch_item_failures.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn sequential_handles_one_at_a_time_in_batch_order() {
        let started = Mutex::new(Vec::new());
        let running = AtomicUsize::new(0);
        let event = batch(&["30", "10", "20 fail", "0"]);
        let response = handle_batch(event, Concurrency::Sequential, |m| {
            let (started, running) = (&started, &running);
            async move {
                assert_eq!(running.fetch_add(1, Ordering::SeqCst), 0, "one at a time");
                started.lock().unwrap().push(m.message_id.clone().unwrap());
                let settle = work(&m).await;
                running.fetch_sub(1, Ordering::SeqCst);
                settle
            }
        })
        .await;
        assert_eq!(*started.lock().unwrap(), ["m0", "m1", "m2", "m3"]);
        assert_eq!(failed(&response), ["m2"]);
    }

    #[tokio::test(start_paused = true)]
    async fn bounded_runs_up_to_the_bound_and_never_more() {
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let bodies = [
            "40", "10", "30", "20", "10", "50", "10", "20 fail", "30", "10",
        ];
        let event = batch(&bodies);
        let response = handle_batch(
            event,
            Concurrency::Bounded(NonZeroUsize::new(3).unwrap()),
            |m| {
                let (running, most) = (&running, &most);
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    let settle = work(&m).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    settle
                }
            },
        )
        .await;
        assert_eq!(
            most.load(Ordering::SeqCst),
            3,
            "the bound is reached, not passed"
        );
        assert_eq!(failed(&response), ["m7"]);
    }

    #[tokio::test]
    async fn a_failed_record_without_an_id_fails_the_whole_batch() {
        let mut event = batch(&["0"]);
        event.records[0].message_id = None;
        let response = handle_batch(event, Concurrency::Sequential, |_| async {
            Settle::Redeliver
        })
        .await;
        assert_eq!(failed(&response), [""]);
    }

    #[test]
    fn records_carry_the_first_receive_and_name_their_queue() {
        let first = SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_979_200_123);
        let message = Message {
            id: "m0".into(),
            receipt_handle: "r0".into(),
            body: "{}".into(),
            attributes: Default::default(),
            receive_count: 2,
            first_received: Some(first),
        };
        let event = lambda_event(
            "arn:aws:sqs:eu-west-1:123456789012:boreas-k8s-main",
            &[message],
        );
        let record = &event.records[0];
        assert_eq!(
            record.attributes["ApproximateFirstReceiveTimestamp"],
            "1764979200123"
        );
        assert_eq!(record.attributes["ApproximateReceiveCount"], "2");
        assert_eq!(first_received(record), Some(first));
        assert_eq!(
            queue_url(record).as_deref(),
            Some("https://sqs.eu-west-1.amazonaws.com/123456789012/boreas-k8s-main")
        );
        let mut china = record.clone();
        china.event_source_arn = Some("arn:aws-cn:sqs:cn-north-1:123456789012:q".into());
        assert_eq!(
            queue_url(&china).as_deref(),
            Some("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q")
        );
        let mut other = record.clone();
        other.event_source_arn = Some("arn:aws:sns:eu-west-1:123456789012:q".into());
        assert_eq!(queue_url(&other), None);
        other.attributes.clear();
        assert_eq!(first_received(&other), None);
    }
}
