//! The `lambda_http` adapter: API Gateway events in, JSON responses out.

use crate::{Api, ApiRequest, handle};

impl ApiRequest {
    /// Converts a `lambda_http` request (API Gateway HTTP API v2, REST API or a function URL).
    pub fn from_lambda(req: lambda_http::Request) -> Self {
        let (parts, body) = req.into_parts();
        Self::from_http(&parts, body.as_ref().to_vec())
    }
}

/// Answers one Lambda HTTP event.
pub async fn handle_lambda(
    api: &Api,
    req: lambda_http::Request,
) -> Result<lambda_http::Response<lambda_http::Body>, lambda_http::Error> {
    let response = handle(api, ApiRequest::from_lambda(req)).await.into_http();
    Ok(response.map(lambda_http::Body::from))
}
