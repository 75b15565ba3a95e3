//! One SQS batch through a function's handler, as Lambda's SQS event source delivers it (and
//! `boreas dev`'s pollers imitate): every record handled, the ones that failed reported by
//! message id in `batchItemFailures`, so SQS deletes the others and delivers those again.

use std::future::Future;
use std::num::NonZeroUsize;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;

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
}
