//! The dashboard publisher as the Lambda behind the template's `Custom::DashboardSite` resource.

use boreas_dashboard_publisher::{Publisher, budget, handle, site_dir_from_env};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    boreas_aws::logging::init_lambda_tracing();
    let (publisher, site) = (
        Publisher::connect(None).await?,
        site_dir_from_env(&boreas_aws::env::Env::process())?,
    );
    let (publisher, site) = (&publisher, site.as_path());
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        let time = budget(event.context.deadline());
        handle(publisher, event.payload, site, time).await.map(drop)
    }))
    .await
}
