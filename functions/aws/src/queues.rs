//! SQS: the command and event queues workers pull from.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};

use crate::names::Names;
use crate::{BoxFuture, Error};

const SERVICE: &str = "sqs";
/// SQS's longest long poll.
pub const MAX_WAIT: Duration = Duration::from_secs(20);
/// SQS's longest visibility timeout (12 hours).
pub const MAX_VISIBILITY: Duration = Duration::from_secs(43_200);

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// SQS message id.
    pub id: String,
    /// Handle to delete it or change its visibility.
    pub receipt_handle: String,
    /// Body.
    pub body: String,
    /// String message attributes.
    pub attributes: BTreeMap<String, String>,
    /// How often it has been received, this time included.
    pub receive_count: u32,
    /// When it was first received (SQS's `ApproximateFirstReceiveTimestamp`): work that spans
    /// several deliveries counts its time limits from here.
    pub first_received: Option<SystemTime>,
}

/// How to receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiveOptions {
    /// Long-poll up to this long (at most [`MAX_WAIT`], whole seconds).
    pub wait: Duration,
    /// At most this many messages, 1 to 10.
    pub max_messages: u8,
    /// Hide received messages this long instead of the queue's default.
    pub visibility: Option<Duration>,
}

impl Default for ReceiveOptions {
    fn default() -> Self {
        Self {
            wait: MAX_WAIT,
            max_messages: 10,
            visibility: None,
        }
    }
}

/// Queues, as workers and functions use them.
pub trait Queues: Send + Sync + fmt::Debug {
    /// Sends `body` with string `attributes`; returns the message id.
    fn send<'a>(
        &'a self,
        queue_url: &'a str,
        body: &'a str,
        attributes: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, String>;
    /// Sends `body` to be delivered after `delay` (at most 15 minutes, SQS's limit).
    fn send_delayed<'a>(
        &'a self,
        queue_url: &'a str,
        body: &'a str,
        delay: Duration,
    ) -> BoxFuture<'a, String>;
    /// Long-polls: returns as soon as messages arrive, or empty after `options.wait`.
    fn receive<'a>(
        &'a self,
        queue_url: &'a str,
        options: &'a ReceiveOptions,
    ) -> BoxFuture<'a, Vec<Message>>;
    /// Deletes a received message.
    fn delete<'a>(&'a self, queue_url: &'a str, receipt_handle: &'a str) -> BoxFuture<'a, ()>;
    /// Hides a received message for `visibility` from now (extends the work lease).
    fn change_visibility<'a>(
        &'a self,
        queue_url: &'a str,
        receipt_handle: &'a str,
        visibility: Duration,
    ) -> BoxFuture<'a, ()>;
    /// The URL of queue `name`, creating it if absent, with a dead-letter queue (`<name>-dlq`)
    /// that takes a message after [`crate::provision::MAX_RECEIVE_COUNT`] receives (a dead-letter
    /// queue itself has none). Idempotent, also under concurrent callers.
    fn ensure_queue<'a>(&'a self, name: &'a str) -> BoxFuture<'a, String>;
    /// The URL of queue `name`; [`Error::NotFound`] if it does not exist.
    fn queue_url<'a>(&'a self, name: &'a str) -> BoxFuture<'a, String>;
}

/// A time SQS gives as milliseconds since the Unix epoch (`ApproximateFirstReceiveTimestamp`,
/// `SentTimestamp`), in the text form both the SQS API and Lambda's SQS records use.
pub fn epoch_millis(text: &str) -> Option<SystemTime> {
    let ms: u64 = text.parse().ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(ms))
}

/// The [`Queues`] on SQS.
#[derive(Debug, Clone)]
pub struct SqsQueues {
    client: Client,
}

impl SqsQueues {
    /// The redrive policy of a new queue `name`, creating its dead-letter queue; `None` for a
    /// dead-letter queue.
    async fn dead_letter_redrive(&self, name: &str) -> Result<Option<String>, Error> {
        if name.ends_with(&Names::dlq("")) {
            return Ok(None);
        }
        let dlq = Names::dlq(name);
        let created = self
            .client
            .create_queue()
            .queue_name(&dlq)
            .attributes(
                QueueAttributeName::MessageRetentionPeriod,
                crate::provision::DLQ_RETENTION_SECS.to_string(),
            )
            .send()
            .await;
        let url = match created {
            Ok(out) => out
                .queue_url
                .ok_or_else(|| Error::malformed("CreateQueue response", "no queue URL"))?,
            Err(e) if code_is(&e, &["QueueAlreadyExists", "QueueNameExists"]) => {
                self.queue_url(&dlq).await?
            }
            Err(e) => return Err(Error::sdk(SERVICE, &e)),
        };
        let arn = self
            .client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| Error::sdk(SERVICE, &e))?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .ok_or_else(|| Error::malformed(&url, "no QueueArn attribute"))?;
        Ok(Some(
            serde_json::json!({
                "deadLetterTargetArn": arn,
                "maxReceiveCount": crate::provision::MAX_RECEIVE_COUNT,
            })
            .to_string(),
        ))
    }

    /// Queues through `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Queues with a client built from `config`.
    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        Self::new(Client::new(config))
    }
}

fn seconds(d: Duration, what: &str, max: Duration) -> Result<i32, Error> {
    if d > max {
        return Err(Error::invalid_input(format!(
            "{what} {d:?} is longer than the SQS maximum {max:?}"
        )));
    }
    i32::try_from(d.as_secs()).map_err(|_| Error::invalid_input(format!("{what} {d:?}")))
}

fn code_is<E: aws_sdk_sqs::error::ProvideErrorMetadata>(
    err: &aws_sdk_sqs::error::SdkError<E, impl fmt::Debug>,
    codes: &[&str],
) -> bool {
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|c| codes.contains(&c))
}

/// The longest delivery delay SQS allows.
pub const MAX_DELAY_SECS: u64 = 900;

/// SQS answers a missing queue with one of these codes depending on the protocol in use.
const NO_QUEUE: &[&str] = &[
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
];

/// Sends a SendMessage request; the message id.
async fn sent(
    request: aws_sdk_sqs::operation::send_message::builders::SendMessageFluentBuilder,
    queue_url: &str,
) -> Result<String, Error> {
    let out = request.send().await.map_err(|e| {
        if code_is(&e, NO_QUEUE) {
            Error::not_found(format!("queue {queue_url}"))
        } else {
            Error::sdk(SERVICE, &e)
        }
    })?;
    out.message_id
        .ok_or_else(|| Error::malformed("SendMessage response", "no message id"))
}

impl Queues for SqsQueues {
    fn send_delayed<'a>(
        &'a self,
        queue_url: &'a str,
        body: &'a str,
        delay: Duration,
    ) -> BoxFuture<'a, String> {
        Box::pin(async move {
            let seconds = i32::try_from(delay.as_secs().min(MAX_DELAY_SECS)).unwrap_or(0);
            let request = self
                .client
                .send_message()
                .queue_url(queue_url)
                .message_body(body)
                .delay_seconds(seconds);
            sent(request, queue_url).await
        })
    }

    fn send<'a>(
        &'a self,
        queue_url: &'a str,
        body: &'a str,
        attributes: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, String> {
        Box::pin(async move {
            let mut request = self
                .client
                .send_message()
                .queue_url(queue_url)
                .message_body(body);
            for (name, value) in attributes {
                let value = MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(value)
                    .build()
                    .map_err(|e| Error::invalid_input(format!("message attribute {name}: {e}")))?;
                request = request.message_attributes(name, value);
            }
            sent(request, queue_url).await
        })
    }

    fn receive<'a>(
        &'a self,
        queue_url: &'a str,
        options: &'a ReceiveOptions,
    ) -> BoxFuture<'a, Vec<Message>> {
        Box::pin(async move {
            if !(1..=10).contains(&options.max_messages) {
                return Err(Error::invalid_input(format!(
                    "receive at most 1 to 10 messages, not {}",
                    options.max_messages
                )));
            }
            let mut request = self
                .client
                .receive_message()
                .queue_url(queue_url)
                .wait_time_seconds(seconds(options.wait, "wait", MAX_WAIT)?)
                .max_number_of_messages(i32::from(options.max_messages))
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .message_system_attribute_names(
                    MessageSystemAttributeName::ApproximateFirstReceiveTimestamp,
                );
            if let Some(v) = options.visibility {
                request = request.visibility_timeout(seconds(v, "visibility", MAX_VISIBILITY)?);
            }
            let out = request.send().await.map_err(|e| {
                if code_is(&e, NO_QUEUE) {
                    Error::not_found(format!("queue {queue_url}"))
                } else {
                    Error::sdk(SERVICE, &e)
                }
            })?;
            out.messages
                .unwrap_or_default()
                .into_iter()
                .map(|m| {
                    let id = m.message_id.unwrap_or_default();
                    let receipt_handle = m.receipt_handle.ok_or_else(|| {
                        Error::malformed(format!("message {id}"), "no receipt handle")
                    })?;
                    let attributes = m
                        .message_attributes
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|(k, v)| Some((k, v.string_value?)))
                        .collect();
                    let system = |name| m.attributes.as_ref().and_then(|a| a.get(&name));
                    let receive_count = system(MessageSystemAttributeName::ApproximateReceiveCount)
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(1);
                    let first_received =
                        system(MessageSystemAttributeName::ApproximateFirstReceiveTimestamp)
                            .and_then(|ms| epoch_millis(ms));
                    Ok(Message {
                        id,
                        receipt_handle,
                        body: m.body.unwrap_or_default(),
                        attributes,
                        receive_count,
                        first_received,
                    })
                })
                .collect()
        })
    }

    fn delete<'a>(&'a self, queue_url: &'a str, receipt_handle: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .delete_message()
                .queue_url(queue_url)
                .receipt_handle(receipt_handle)
                .send()
                .await
                .map_err(|e| Error::sdk(SERVICE, &e))?;
            Ok(())
        })
    }

    fn change_visibility<'a>(
        &'a self,
        queue_url: &'a str,
        receipt_handle: &'a str,
        visibility: Duration,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .change_message_visibility()
                .queue_url(queue_url)
                .receipt_handle(receipt_handle)
                .visibility_timeout(seconds(visibility, "visibility", MAX_VISIBILITY)?)
                .send()
                .await
                .map_err(|e| Error::sdk(SERVICE, &e))?;
            Ok(())
        })
    }

    fn ensure_queue<'a>(&'a self, name: &'a str) -> BoxFuture<'a, String> {
        Box::pin(async move {
            match self.queue_url(name).await {
                Err(Error::NotFound { .. }) => {}
                found => return found,
            }
            let mut create = self.client.create_queue().queue_name(name);
            if let Some(redrive) = self.dead_letter_redrive(name).await? {
                create = create.attributes(QueueAttributeName::RedrivePolicy, redrive);
            }
            let result = create.send().await;
            match result {
                Ok(out) => {
                    tracing::info!(queue = name, "queue created");
                    out.queue_url
                        .ok_or_else(|| Error::malformed("CreateQueue response", "no queue URL"))
                }
                // Created meanwhile by another caller with other attributes: use it.
                Err(e) if code_is(&e, &["QueueAlreadyExists", "QueueNameExists"]) => {
                    self.queue_url(name).await
                }
                Err(e) => Err(Error::sdk(SERVICE, &e)),
            }
        })
    }

    fn queue_url<'a>(&'a self, name: &'a str) -> BoxFuture<'a, String> {
        Box::pin(async move {
            let result = self.client.get_queue_url().queue_name(name).send().await;
            match result {
                Ok(out) => out
                    .queue_url
                    .ok_or_else(|| Error::malformed("GetQueueUrl response", "no queue URL")),
                Err(e) if code_is(&e, NO_QUEUE) => Err(Error::not_found(format!("queue {name}"))),
                Err(e) => Err(Error::sdk(SERVICE, &e)),
            }
        })
    }
}
