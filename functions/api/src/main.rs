//! The api as a Lambda function: configuration from the environment, `boreas_api::handle` per event.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    boreas_aws::logging::init_lambda_tracing();
    let api = Arc::new(boreas_api::Api::from_env(&boreas_aws::env::Env::process()).await?);
    lambda_http::run(lambda_http::service_fn(move |req| {
        let api = Arc::clone(&api);
        async move { boreas_api::handle_lambda(&api, req).await }
    }))
    .await
}
