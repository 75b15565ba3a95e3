//! The notifier function as a Lambda with the notifications queue as its event source.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use boreas_notifier::{Notifier, handle};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    boreas_aws::logging::init_lambda_tracing();
    let notifier = Notifier::from_env(&boreas_aws::env::Env::process()).await?;
    let notifier = &notifier;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, lambda_runtime::Error>(handle(notifier, event.payload).await)
    }))
    .await
}
