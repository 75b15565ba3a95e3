//! The `lambda_http` adapter: an API Gateway HTTP API (v2) event becomes the delivery the handler
//! reads, and an answer becomes a JSON response.

use boreas_intake::{ResponseBody, WebhookResponse, request_from_lambda, response_to_lambda};

/// An API Gateway v2 event for `POST /webhooks/{provider}` with a base64 body, as API Gateway
/// sends it for a non-text content type.
const EVENT: &str = r#"{
  "version": "2.0",
  "routeKey": "POST /webhooks/{provider}",
  "rawPath": "/webhooks/gitlab",
  "rawQueryString": "",
  "headers": {
    "content-type": "application/octet-stream",
    "x-gitlab-event": "Tag Push Hook",
    "x-gitlab-token": "t0ken",
    "x-gitlab-event-uuid": "9cd4ff8b-6a40-4b3c-8f67-4b7c5d1e7a10"
  },
  "requestContext": {
    "accountId": "123456789012",
    "apiId": "api",
    "domainName": "api.example.com",
    "domainPrefix": "api",
    "http": {"method": "POST", "path": "/webhooks/gitlab", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "GitLab/17.0"},
    "requestId": "r1",
    "routeKey": "POST /webhooks/{provider}",
    "stage": "$default",
    "time": "29/Nov/2026:17:00:00 +0000",
    "timeEpoch": 1795971600000
  },
  "pathParameters": {"provider": "gitlab"},
  "body": "eyJyZWYiOiJyZWZzL3RhZ3MvdjEifQ==",
  "isBase64Encoded": true
}"#;

#[test]
fn an_http_api_event_becomes_a_delivery() {
    let req = lambda_http::request::from_str(EVENT).expect("an API Gateway v2 event");
    let delivery = request_from_lambda(req);
    assert_eq!(delivery.provider, "gitlab");
    assert_eq!(delivery.body, br#"{"ref":"refs/tags/v1"}"#);
    assert_eq!(delivery.headers["X-Gitlab-Token"], "t0ken");
    assert_eq!(
        delivery.headers["X-Gitlab-Event-UUID"],
        "9cd4ff8b-6a40-4b3c-8f67-4b7c5d1e7a10"
    );
}

#[test]
fn the_provider_falls_back_to_the_last_path_segment() {
    let event = EVENT.replace(r#""pathParameters": {"provider": "gitlab"},"#, "");
    let req = lambda_http::request::from_str(&event).expect("an API Gateway v2 event");
    assert_eq!(request_from_lambda(req).provider, "gitlab");
}

#[test]
fn answers_are_json_responses() {
    let resp = WebhookResponse {
        status: 401,
        body: ResponseBody {
            error: Some("unauthorized"),
            status: None,
            message: "header X-Gitlab-Token is missing".into(),
        },
    };
    let http = response_to_lambda(&resp);
    assert_eq!(http.status(), 401);
    assert_eq!(http.headers()["content-type"], "application/json");
    let lambda_http::Body::Text(text) = http.body() else {
        panic!("a text body");
    };
    assert_eq!(
        text,
        r#"{"error":"unauthorized","message":"header X-Gitlab-Token is missing"}"#
    );
}
