//! The local HTTP front door: what API Gateway and CloudFront do on AWS. `POST /webhooks/{provider}`
//! goes to the intake handler, `/api/*` to the api handler, everything else to the dashboard files.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use boreas_api::{Api, ApiRequest};
use boreas_intake::{Intake, WebhookRequest};
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Bodies larger than this are refused before a handler sees them (both handlers allow 1 MiB).
const MAX_BODY: usize = 2 << 20;

/// What the server routes to.
#[derive(Debug)]
pub(crate) struct Routes {
    pub(crate) intake: Intake,
    pub(crate) api: Api,
    /// The built dashboard (`dashboard/dist`), if present.
    pub(crate) dashboard: Option<PathBuf>,
}

/// Serves `listener` until `stop` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    routes: Arc<Routes>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let (stream, _) = match accepted {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let routes = Arc::clone(&routes);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let routes = Arc::clone(&routes);
                async move { Ok::<_, Infallible>(route(&routes, req).await) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}

type Body = Full<Bytes>;

fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Full::new(body.into()))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn json_error(status: StatusCode, error: &str, message: &str) -> Response<Body> {
    let body = boreas_api_types::ErrorBody {
        error: error.to_owned(),
        message: message.to_owned(),
    };
    respond(
        status,
        "application/json",
        serde_json::to_string(&body).unwrap_or_default(),
    )
}

async fn route(routes: &Routes, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let is_api = path == "/api" || path.starts_with("/api/");
    let webhook_provider = path.strip_prefix("/webhooks/").map(str::to_owned);
    if !is_api && webhook_provider.is_none() {
        return dashboard(routes.dashboard.as_deref(), &parts.method, &path).await;
    }
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(e) => {
            return json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                &format!("cannot read the body: {e}"),
            );
        }
    };
    if let Some(provider) = webhook_provider {
        if parts.method != Method::POST {
            let mut r = json_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "webhooks are delivered with POST",
            );
            r.headers_mut()
                .insert(header::ALLOW, http::HeaderValue::from_static("POST"));
            return r;
        }
        let answer = boreas_intake::handle(
            &routes.intake,
            WebhookRequest {
                provider,
                headers: parts.headers,
                body,
            },
        )
        .await;
        let status =
            StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return respond(status, "application/json", answer.body_json());
    }
    // As a proxy in front of the api would: the api builds the URLs it answers from these.
    let mut parts = parts;
    parts
        .headers
        .insert("x-forwarded-proto", http::HeaderValue::from_static("http"));
    let answer = boreas_api::handle(&routes.api, ApiRequest::from_http(&parts, body))
        .await
        .into_http();
    answer.map(|b| Full::new(Bytes::from(b)))
}

/// Shown at `/` when the dashboard has not been built.
const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>Boreas</title>
<h1>Boreas is running</h1>
<p>The dashboard has not been built. Build it with
<code>npm ci --prefix dashboard &amp;&amp; npm run build --prefix dashboard</code>
and reload this page (no restart needed).</p>
<p>The API answers at <a href=\"/api/health\">/api/health</a>; its OpenAPI document is
<a href=\"/api/openapi.json\">/api/openapi.json</a>.</p>
";

/// Serves a file of the built dashboard; unknown paths get `index.html` (the app routes itself).
async fn dashboard(dist: Option<&Path>, method: &Method, path: &str) -> Response<Body> {
    if method != Method::GET && method != Method::HEAD {
        return json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "only GET",
        );
    }
    let Some(dist) = dist.filter(|d| d.join("index.html").is_file()) else {
        return respond(StatusCode::OK, "text/html; charset=utf-8", NOT_BUILT);
    };
    let relative = path.trim_start_matches('/');
    // Never leave the dist directory.
    let safe = !relative
        .split('/')
        .any(|s| s == ".." || s.starts_with('.') || s.contains('\\'));
    let candidate = dist.join(relative);
    let file = if safe && !relative.is_empty() && candidate.is_file() {
        candidate
    } else {
        dist.join("index.html")
    };
    match tokio::fs::read(&file).await {
        Ok(bytes) => respond(StatusCode::OK, content_type(&file), bytes),
        Err(e) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &format!("{}: {e}", file.display()),
        ),
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
