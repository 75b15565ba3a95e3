//! The recorder function as a Lambda with the events queue as its event source.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use boreas_recorder::{Recorder, handle};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    boreas_aws::logging::init_lambda_tracing();
    let recorder = Recorder::from_env(&boreas_aws::env::Env::process()).await?;
    let recorder = &recorder;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, lambda_runtime::Error>(handle(recorder, event.payload).await)
    }))
    .await
}
