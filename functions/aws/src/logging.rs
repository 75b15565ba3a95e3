//! Logging set-up shared by the Lambda functions.

/// JSON logs for CloudWatch, filtered by `RUST_LOG` (default `info`). Lambda stamps every line
/// itself, so the time is left out.
pub fn init_lambda_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .without_time()
        .init();
}
