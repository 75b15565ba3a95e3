//! The intake function as a Lambda behind API Gateway.

use boreas_intake::{Intake, handle, request_from_lambda, response_to_lambda};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    boreas_aws::logging::init_lambda_tracing();
    let intake = Intake::from_env(&boreas_aws::env::Env::process()).await?;
    let intake = &intake;
    lambda_http::run(lambda_http::service_fn(|req| async move {
        let resp = handle(intake, request_from_lambda(req)).await;
        Ok::<_, lambda_http::Error>(response_to_lambda(&resp))
    }))
    .await
}
