//! A small HTTP(S) client for artifact downloads and HTTP health checks: hyper with rustls, the
//! stack the AWS SDK already brings, built on first use so an idle agent does not load the system
//! trust store.

use std::sync::OnceLock;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 5;

type Inner = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// A lazily built HTTP(S) client.
#[derive(Debug, Default)]
pub struct HttpClient {
    inner: OnceLock<Result<Inner, String>>,
}

/// A response whose status has not been judged yet.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: http::StatusCode,
    /// Response headers.
    pub headers: http::HeaderMap,
    /// The body, read frame by frame.
    pub body: Incoming,
}

impl HttpClient {
    fn client(&self) -> Result<&Inner, String> {
        self.inner
            .get_or_init(|| {
                let https = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_native_roots()
                    .map_err(|e| format!("cannot load the system's trusted certificates: {e}"))?
                    .https_or_http()
                    .enable_http1()
                    .build();
                Ok(Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(Duration::from_secs(30))
                    .build(https))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// GET `url` with optional extra headers, following redirects; the whole exchange up to the
    /// response head must finish within `timeout`.
    pub async fn get(
        &self,
        url: &str,
        headers: &[(http::HeaderName, String)],
        timeout: Duration,
    ) -> Result<Response, String> {
        let client = self.client()?;
        let mut url = url.to_owned();
        for _ in 0..=MAX_REDIRECTS {
            let uri: http::Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
            let mut request = http::Request::get(uri.clone());
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let request = request
                .body(Empty::new())
                .map_err(|e| format!("bad request: {e}"))?;
            let response = tokio::time::timeout(timeout, client.request(request))
                .await
                .map_err(|_| format!("no response within {} s", timeout.as_secs()))?
                .map_err(|e| format!("request failed: {e}"))?;
            let (parts, body) = response.into_parts();
            if parts.status.is_redirection()
                && let Some(location) = parts.headers.get(http::header::LOCATION)
            {
                let location = location
                    .to_str()
                    .map_err(|_| "redirect location is not text".to_owned())?;
                url = resolve(&uri, location)?;
                continue;
            }
            return Ok(Response {
                status: parts.status,
                headers: parts.headers,
                body,
            });
        }
        Err(format!("more than {MAX_REDIRECTS} redirects"))
    }
}

impl Response {
    /// The next chunk of the body, `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, String> {
        loop {
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(format!("reading the body failed: {e}")),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }
}

/// A redirect target: absolute, or a path on the same origin.
fn resolve(base: &http::Uri, location: &str) -> Result<String, String> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return Ok(location.to_owned());
    }
    if location.starts_with('/') {
        let scheme = base.scheme_str().unwrap_or("http");
        let authority = base.authority().map(|a| a.as_str()).unwrap_or_default();
        return Ok(format!("{scheme}://{authority}{location}"));
    }
    Err(format!("unsupported redirect location {location:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_resolve_against_the_origin() {
        let base: http::Uri = "https://a.example:8443/x/y?z".parse().unwrap();
        assert_eq!(
            resolve(&base, "/r/v2.tar.gz").unwrap(),
            "https://a.example:8443/r/v2.tar.gz"
        );
        assert_eq!(
            resolve(&base, "http://b.example/f").unwrap(),
            "http://b.example/f"
        );
        assert!(resolve(&base, "relative").is_err());
    }
}
