//! The planner function as a Lambda: plan-queue SQS events in, partial batch failures out.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    boreas_aws::logging::init_lambda_tracing();
    let planner = boreas_planner::Planner::from_env(&boreas_aws::env::Env::process()).await?;
    let planner = &planner;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, lambda_runtime::Error>(
            boreas_planner::handle(planner, event.payload).await,
        )
    }))
    .await
}
