//! The operator as a Lambda: cluster-queue SQS events in, partial batch failures out. Cluster
//! credentials come from each cluster's kubeconfig SecureString in SSM.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    boreas_aws::logging::init_lambda_tracing();
    let operator =
        boreas_k8s_operator::Operator::from_env(&boreas_aws::env::Env::process(), None).await?;
    let operator = &operator;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let until = boreas_k8s_operator::operator::wait_until(event.context.deadline);
        Ok::<SqsBatchResponse, lambda_runtime::Error>(
            operator.handle_sqs(event.payload, Some(until)).await,
        )
    }))
    .await
}
