//! Step Functions: starting, stopping and describing deployment executions, and the task-token
//! callbacks workers answer with.

use std::fmt;
use std::sync::Arc;

use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::{ProvideErrorMetadata, SdkError};
use boreas_core::execution::Slices;
use futures::{StreamExt, TryStreamExt};

use crate::artifacts::{Artifacts, S3Artifacts};
use crate::{BoxFuture, Error};

const SERVICE: &str = "stepfunctions";

/// Status of an execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutionStatus {
    /// Still running (or waiting for a task token).
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Ran past its timeout.
    TimedOut,
    /// Stopped by a caller.
    Aborted,
    /// A status this code does not know (kept verbatim).
    Other(String),
}

impl ExecutionStatus {
    fn parse(s: &str) -> Self {
        match s {
            "RUNNING" => Self::Running,
            "SUCCEEDED" => Self::Succeeded,
            "FAILED" => Self::Failed,
            "TIMED_OUT" => Self::TimedOut,
            "ABORTED" => Self::Aborted,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// What starting an execution did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The execution's ARN.
    pub execution_arn: String,
    /// `false` when Step Functions answered that the name was taken and the existing execution has
    /// the same input. AWS answers a repeated start of a still *running* execution with the same
    /// input with plain success, so `true` alone does not prove that a new execution began; either
    /// way at most one execution carries the name.
    pub created: bool,
}

/// An execution as Step Functions describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// The execution's ARN.
    pub arn: String,
    /// Its name (the deployment id).
    pub name: String,
    /// Status.
    pub status: ExecutionStatus,
    /// Input JSON.
    pub input: Option<String>,
    /// Output JSON, once succeeded.
    pub output: Option<String>,
    /// Error name, once failed.
    pub error: Option<String>,
    /// Error cause, once failed.
    pub cause: Option<String>,
}

/// The deployment state machine, as the api and the workers drive it.
pub trait Orchestrator: Send + Sync + fmt::Debug {
    /// Stores the objects of `input` and starts the execution `name` with its input. Starting
    /// again with the same name and input is not an error and starts nothing new (see
    /// [`Started::created`]); the same name with another input is [`Error::AlreadyExists`].
    fn start<'a>(&'a self, name: &'a str, input: &'a Slices) -> BoxFuture<'a, Started>;
    /// Stops the execution `name`, recording `error` and `cause`.
    fn stop<'a>(&'a self, name: &'a str, error: &'a str, cause: &'a str) -> BoxFuture<'a, ()>;
    /// Describes the execution `name`.
    fn describe<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Execution>;
    /// Completes the task waiting on `token` with `output` (JSON).
    fn send_task_success<'a>(&'a self, token: &'a str, output: &'a str) -> BoxFuture<'a, ()>;
    /// Fails the task waiting on `token` with a stable error type and a cause.
    fn send_task_failure<'a>(
        &'a self,
        token: &'a str,
        error_type: &'a str,
        cause: &'a str,
    ) -> BoxFuture<'a, ()>;
    /// Tells the task waiting on `token` that its worker is alive.
    fn send_task_heartbeat<'a>(&'a self, token: &'a str) -> BoxFuture<'a, ()>;
}

/// How often an `InvalidToken` heartbeat is tried before the task counts as gone, and the first
/// pause between tries (doubled each time: about a second and a half in all).
const INVALID_TOKEN_TRIES: u32 = 4;
const INVALID_TOKEN_PAUSE: std::time::Duration = std::time::Duration::from_millis(200);

/// Whether the task that handed out `token` still waits for its answer, found with a heartbeat
/// (which also keeps it alive): `Ok(false)` once it timed out or is unknown, an error when that
/// cannot be told. `TaskTimedOut` is final at once. `InvalidToken` is tried again for a moment
/// first: it is also the answer for a task whose wait is not set up yet, as the emulator answers
/// between sending the command and waiting for it, and a worker that took that for "gone" would
/// drop a live command.
pub async fn task_alive(orchestrator: &dyn Orchestrator, token: &str) -> Result<bool, Error> {
    let mut pause = INVALID_TOKEN_PAUSE;
    for attempt in 1..=INVALID_TOKEN_TRIES {
        match orchestrator.send_task_heartbeat(token).await {
            Ok(()) => return Ok(true),
            Err(Error::TaskTimedOut { .. }) => return Ok(false),
            Err(Error::InvalidTaskToken { .. }) if attempt < INVALID_TOKEN_TRIES => {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            Err(Error::InvalidTaskToken { .. }) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// Objects of one execution's input stored at the same time: thousands of batches start within
/// seconds without a burst S3 would throttle.
const OBJECT_WRITES: usize = 16;

/// The [`Orchestrator`] on one Step Functions state machine.
#[derive(Debug, Clone)]
pub struct SfnOrchestrator {
    client: Client,
    state_machine_arn: String,
    plans: Arc<dyn Artifacts>,
}

impl SfnOrchestrator {
    /// Drives the state machine `state_machine_arn` through `client`, storing the objects of
    /// execution inputs in `plans` (the bucket the definition's `${PlanBucket}` names).
    pub fn new(
        client: Client,
        state_machine_arn: impl Into<String>,
        plans: Arc<dyn Artifacts>,
    ) -> Self {
        Self {
            client,
            state_machine_arn: state_machine_arn.into(),
            plans,
        }
    }

    /// Drives the state machine `state_machine_arn` with clients built from `config`, with the
    /// plans bucket `plans_bucket`.
    pub fn from_config(
        config: &aws_config::SdkConfig,
        state_machine_arn: impl Into<String>,
        plans_bucket: impl Into<String>,
    ) -> Self {
        Self::new(
            Client::new(config),
            state_machine_arn,
            Arc::new(S3Artifacts::from_config(config, plans_bucket)),
        )
    }

    /// The ARN of execution `name`: the state machine's ARN with `execution` for `stateMachine`,
    /// followed by the name.
    pub fn execution_arn(&self, name: &str) -> String {
        format!(
            "{}:{name}",
            self.state_machine_arn
                .replacen(":stateMachine:", ":execution:", 1)
        )
    }
}

/// Maps the errors Step Functions answers a task token with.
fn task_error<E>(err: &SdkError<E, impl fmt::Debug + crate::error::RawStatus>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = err.message().unwrap_or("no message").to_owned();
    match err.code() {
        Some("TaskTimedOut") => Error::TaskTimedOut { message },
        Some("InvalidToken" | "TaskDoesNotExist") => Error::InvalidTaskToken { message },
        Some("InvalidOutput") => Error::invalid_input(format!("task output: {message}")),
        _ => Error::sdk(SERVICE, err),
    }
}

fn same_json(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

impl Orchestrator for SfnOrchestrator {
    fn start<'a>(&'a self, name: &'a str, slices: &'a Slices) -> BoxFuture<'a, Started> {
        Box::pin(async move {
            // Before the start: the execution reads them as soon as it runs.
            let writes: Vec<_> = slices
                .objects
                .iter()
                .map(|o| {
                    self.plans
                        .put(&o.key, o.body.clone().into_bytes(), "application/json")
                })
                .collect();
            futures::stream::iter(writes)
                .buffer_unordered(OBJECT_WRITES)
                .try_collect::<()>()
                .await?;
            let input = slices.input.as_str();
            let result = self
                .client
                .start_execution()
                .state_machine_arn(&self.state_machine_arn)
                .name(name)
                .input(input)
                .send()
                .await;
            match result {
                Ok(out) => {
                    tracing::info!(execution = name, "execution started");
                    Ok(Started {
                        execution_arn: out.execution_arn,
                        created: true,
                    })
                }
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_execution_already_exists()) =>
                {
                    let existing = self.describe(name).await?;
                    if existing
                        .input
                        .as_deref()
                        .is_some_and(|i| same_json(i, input))
                    {
                        tracing::info!(execution = name, "execution already started");
                        Ok(Started {
                            execution_arn: existing.arn,
                            created: false,
                        })
                    } else {
                        Err(Error::AlreadyExists {
                            what: format!("execution {name} with a different input"),
                        })
                    }
                }
                Err(e) => Err(Error::sdk(SERVICE, &e)),
            }
        })
    }

    fn stop<'a>(&'a self, name: &'a str, error: &'a str, cause: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let result = self
                .client
                .stop_execution()
                .execution_arn(self.execution_arn(name))
                .error(error)
                .cause(cause)
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_execution_does_not_exist()) =>
                {
                    Err(Error::not_found(format!("execution {name}")))
                }
                Err(e) => Err(Error::sdk(SERVICE, &e)),
            }
        })
    }

    fn describe<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Execution> {
        Box::pin(async move {
            let result = self
                .client
                .describe_execution()
                .execution_arn(self.execution_arn(name))
                .send()
                .await;
            match result {
                Ok(out) => Ok(Execution {
                    arn: out.execution_arn,
                    name: out.name.unwrap_or_else(|| name.to_owned()),
                    status: ExecutionStatus::parse(out.status.as_str()),
                    input: out.input,
                    output: out.output,
                    error: out.error,
                    cause: out.cause,
                }),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_execution_does_not_exist()) =>
                {
                    Err(Error::not_found(format!("execution {name}")))
                }
                Err(e) => Err(Error::sdk(SERVICE, &e)),
            }
        })
    }

    fn send_task_success<'a>(&'a self, token: &'a str, output: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .send_task_success()
                .task_token(token)
                .output(output)
                .send()
                .await
                .map_err(|e| task_error(&e))?;
            Ok(())
        })
    }

    fn send_task_failure<'a>(
        &'a self,
        token: &'a str,
        error_type: &'a str,
        cause: &'a str,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .send_task_failure()
                .task_token(token)
                .error(error_type)
                .cause(cause)
                .send()
                .await
                .map_err(|e| task_error(&e))?;
            Ok(())
        })
    }

    fn send_task_heartbeat<'a>(&'a self, token: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .send_task_heartbeat()
                .task_token(token)
                .send()
                .await
                .map_err(|e| task_error(&e))?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Answers heartbeats from a script, then `Ok` (a task that waits).
    #[derive(Debug)]
    struct Heartbeats(Mutex<Vec<Error>>);

    impl Orchestrator for Heartbeats {
        fn start<'a>(&'a self, _: &'a str, _: &'a Slices) -> BoxFuture<'a, Started> {
            unreachable!("only heartbeats are sent")
        }
        fn stop<'a>(&'a self, _: &'a str, _: &'a str, _: &'a str) -> BoxFuture<'a, ()> {
            unreachable!("only heartbeats are sent")
        }
        fn describe<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Execution> {
            unreachable!("only heartbeats are sent")
        }
        fn send_task_success<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, ()> {
            unreachable!("only heartbeats are sent")
        }
        fn send_task_failure<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: &'a str,
        ) -> BoxFuture<'a, ()> {
            unreachable!("only heartbeats are sent")
        }
        fn send_task_heartbeat<'a>(&'a self, _: &'a str) -> BoxFuture<'a, ()> {
            let next = self.0.lock().unwrap().pop();
            Box::pin(async move { next.map_or(Ok(()), Err) })
        }
    }

    fn invalid() -> Error {
        Error::InvalidTaskToken {
            message: "not waiting".into(),
        }
    }

    #[tokio::test]
    async fn a_task_is_gone_when_timed_out_or_still_unknown_after_a_moment() {
        let timed_out = Heartbeats(Mutex::new(vec![Error::TaskTimedOut {
            message: "late".into(),
        }]));
        assert!(!task_alive(&timed_out, "t").await.unwrap());
        // Unknown at first, then waiting: the wait was being set up.
        let settling = Heartbeats(Mutex::new(vec![invalid(), invalid()]));
        assert!(task_alive(&settling, "t").await.unwrap());
        assert!(settling.0.lock().unwrap().is_empty());
        let unknown = Heartbeats(Mutex::new(
            (0..INVALID_TOKEN_TRIES).map(|_| invalid()).collect(),
        ));
        assert!(!task_alive(&unknown, "t").await.unwrap());
        let throttled = Heartbeats(Mutex::new(vec![Error::Throttled {
            service: "states",
            message: "slow down".into(),
        }]));
        assert!(task_alive(&throttled, "t").await.is_err());
    }

    #[test]
    fn execution_arns_derive_from_the_state_machine() {
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let orchestrator = SfnOrchestrator::from_config(
            &config,
            "arn:aws:states:us-east-1:123456789012:stateMachine:boreas-deployment",
            "boreas-plans",
        );
        assert_eq!(
            orchestrator.execution_arn("dep-1"),
            "arn:aws:states:us-east-1:123456789012:execution:boreas-deployment:dep-1"
        );
    }

    #[test]
    fn inputs_compare_as_json() {
        assert!(same_json(r#"{"a": 1, "b": [2]}"#, r#"{"b":[2],"a":1}"#));
        assert!(!same_json(r#"{"a": 1}"#, r#"{"a": 2}"#));
    }
}
