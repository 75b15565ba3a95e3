//! The CLI for people: commands that talk to any Boreas API (local or on AWS).
//!
//! The API comes from `--api`, else `$BOREAS_API`, else `<state-dir>/dev.json` of a running
//! `boreas dev`; the token likewise from `--token`, `$BOREAS_TOKEN` or that file.

mod admin;
pub(crate) mod commands;
mod history;
mod policy;
mod render;

use std::path::PathBuf;
use std::time::Duration;

use boreas_api_types::ErrorBody;
use boreas_aws::env::Env;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::dev::state::DevState;

/// Options every client command takes.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Conn {
    /// Base URL of the API, e.g. https://boreas.example.com/api [env: BOREAS_API; default: from .boreas/dev.json].
    #[arg(long)]
    api: Option<String>,
    /// Bearer token [env: BOREAS_TOKEN; default: from .boreas/dev.json].
    #[arg(long)]
    token: Option<String>,
    /// State directory of a local `boreas dev`, for the defaults above.
    #[arg(long, default_value = ".boreas")]
    state_dir: PathBuf,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub(crate) json: bool,
}

/// A failed call: what to print and the exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) code: u8,
}

impl Failure {
    pub(crate) fn new(message: impl Into<String>, code: u8) -> Self {
        Self {
            message: message.into(),
            code,
        }
    }
}

/// A connection to one API.
#[derive(Debug)]
pub(crate) struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// Resolves the API URL and token (flags, environment, dev.json).
    pub(crate) fn new(conn: &Conn) -> Result<Self, Failure> {
        let env = Env::process();
        let var = |name: &str| env.get(name).map_err(|e| Failure::new(e.to_string(), 2));
        let local = DevState::load(&conn.state_dir).ok();
        let base = conn
            .api
            .clone()
            .or(var("BOREAS_API")?)
            .or_else(|| local.as_ref().map(|s| s.api_url.clone()))
            .ok_or_else(|| {
                Failure::new(
                    format!(
                        "no API to talk to: pass --api URL, set BOREAS_API, or run `boreas dev` (no {} found)",
                        conn.state_dir.join(crate::dev::state::FILE).display()
                    ),
                    2,
                )
            })?;
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Failure::new(
                format!("--api {base:?} is not an http:// or https:// URL"),
                2,
            ));
        }
        let token = conn
            .token
            .clone()
            .or(var("BOREAS_TOKEN")?)
            .or_else(|| local.map(|s| s.api_token));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Failure::new(format!("cannot build an HTTP client: {e}"), 1))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            http,
        })
    }

    /// `GET {api}{path}`, answering a `T`.
    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        self.send(self.http.get(format!("{}{path}", self.base)), path)
            .await
    }

    /// `POST {api}{path}` with a JSON body, answering a `T`.
    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, Failure> {
        self.send_json(reqwest::Method::POST, path, body).await
    }

    /// `PUT {api}{path}` with a JSON body, answering a `T`.
    pub(crate) async fn put<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, Failure> {
        self.send_json(reqwest::Method::PUT, path, body).await
    }

    async fn send_json<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, Failure> {
        let body = serde_json::to_string(body)
            .map_err(|e| Failure::new(format!("{path}: encoding the request: {e}"), 1))?;
        let req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        self.send(req, path).await
    }

    /// `DELETE {api}{path}`, answering a `T`.
    pub(crate) async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        self.send(self.http.delete(format!("{}{path}", self.base)), path)
            .await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        mut req: reqwest::RequestBuilder,
        path: &str,
    ) -> Result<T, Failure> {
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let url = format!("{}{path}", self.base);
        let resp = req
            .send()
            .await
            .map_err(|e| Failure::new(format!("{url}: {e}"), 1))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| Failure::new(format!("{url}: reading the answer: {e}"), 1))?;
        if status.is_success() {
            return serde_json::from_str(&text).map_err(|e| {
                Failure::new(
                    format!("{url}: the answer is not what this boreas expects ({e}): {text}"),
                    1,
                )
            });
        }
        let message = match serde_json::from_str::<ErrorBody>(&text) {
            Ok(e) => format!("{} ({}): {}", status.as_u16(), e.error, e.message),
            Err(_) => format!("{}: {text}", status.as_u16()),
        };
        Err(Failure::new(message, 1))
    }
}

/// A path segment, percent-encoded (a `/` in a tag name travels as `%2F`).
pub(crate) fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
