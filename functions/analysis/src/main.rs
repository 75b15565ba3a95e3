//! The analysis worker as a Lambda with the analysis queue as its event source.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use boreas_analysis::{Analyst, handle};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    boreas_aws::logging::init_lambda_tracing();
    let analyst = Analyst::from_env(&boreas_aws::env::Env::process()).await?;
    let analyst = &analyst;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, lambda_runtime::Error>(handle(analyst, event.payload).await)
    }))
    .await
}
