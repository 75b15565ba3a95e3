//! Where measurements come from: a Prometheus server's instant query, CloudWatch (a metric's
//! statistic or an alarm's state) and a URL answering JSON. Each gives a [`Measurement`]; a
//! provider that cannot be asked, or answers an error, gives [`Measurement::Error`], which is
//! never a pass. An error message says what went wrong without repeating what the provider
//! answered beyond its status and error text: a check's URL comes from a repository.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricStat, ScanBy, StateValue,
};
use boreas_core::analysis::Measurement;
use boreas_core::analysis::run::{json_path, measure_json};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

/// A measurement under way.
pub type Measuring<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Measurement> + Send + 'a>>;

/// How a measurement that went wrong is written.
fn error(message: impl Into<String>) -> Measurement {
    Measurement::Error {
        message: message.into(),
    }
}

/// A metrics credential registered in the installation (an SSM SecureString, JSON): the server
/// it belongs to and how to present it. It is sent only to that server, whatever URL a check
/// names, so a `boreas.yaml` cannot carry it elsewhere.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsCredential {
    /// The server's base URL (`https://prometheus.example.com`); the check's URL must start
    /// with it.
    pub url: String,
    /// A bearer token.
    #[serde(default)]
    pub bearer_token: Option<String>,
    /// A user for basic authentication.
    #[serde(default)]
    pub username: Option<String>,
    /// Its password.
    #[serde(default)]
    pub password: Option<String>,
}

impl fmt::Debug for MetricsCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsCredential")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl MetricsCredential {
    /// Reads a stored credential; what is wrong with it otherwise (never its secret).
    pub fn parse(text: &str) -> Result<Self, String> {
        let c: Self = serde_json::from_str(text).map_err(|e| {
            format!(
                "not a metrics credential (line {}, column {}): expected {{\"url\", \"bearer_token\"}} or {{\"url\", \"username\", \"password\"}}",
                e.line(),
                e.column()
            )
        })?;
        match (&c.bearer_token, &c.username, &c.password) {
            (Some(_), None, None) | (None, Some(_), Some(_)) => Ok(c),
            _ => Err(
                "a metrics credential holds either bearer_token or username and password"
                    .to_owned(),
            ),
        }
    }

    /// Whether it may be sent to `url`: the same scheme, host and port, under its path.
    pub fn belongs_to(&self, url: &str) -> bool {
        let base = self.url.trim_end_matches('/');
        url.strip_prefix(base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
    }

    fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match (&self.bearer_token, &self.username) {
            (Some(token), _) => request.bearer_auth(token),
            (None, Some(user)) => request.basic_auth(user, self.password.as_deref()),
            (None, None) => request,
        }
    }
}

/// Sends `request` and reads its JSON answer; an error measurement otherwise.
async fn get_json(
    request: reqwest::RequestBuilder,
) -> Result<(reqwest::StatusCode, serde_json::Value), Measurement> {
    let response = request
        .send()
        .await
        .map_err(|e| error(format!("cannot reach the server: {}", without_url(&e))))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| {
        error(format!(
            "HTTP {status}, body unreadable: {}",
            without_url(&e)
        ))
    })?;
    match serde_json::from_slice(&body) {
        Ok(json) => Ok((status, json)),
        Err(_) if !status.is_success() => Err(error(format!("HTTP {status}"))),
        Err(e) => Err(error(format!("HTTP {status}, the body is not JSON: {e}"))),
    }
}

/// A reqwest error without its URL (which may hold a query someone else wrote).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_redirect() {
        "redirects are not followed"
    } else if e.is_body() || e.is_decode() {
        "the body could not be read"
    } else {
        "request failed"
    };
    kind.to_owned()
}

/// The value of a Prometheus instant query: the first sample of a vector, or a scalar; an empty
/// vector is no data.
pub async fn prometheus(
    http: &reqwest::Client,
    server: &str,
    query: &str,
    credential: Option<&MetricsCredential>,
) -> Measurement {
    let url = format!(
        "{}/api/v1/query?query={}",
        server.trim_end_matches('/'),
        utf8_percent_encode(query, NON_ALPHANUMERIC)
    );
    let mut request = http.get(&url);
    if let Some(c) = credential {
        request = c.apply(request);
    }
    let (status, body) = match get_json(request).await {
        Ok(answer) => answer,
        Err(e) => return e,
    };
    if body["status"] != "success" {
        let kind = body["errorType"].as_str().unwrap_or("error");
        let text = body["error"].as_str().unwrap_or("no error text");
        return error(format!("Prometheus answered HTTP {status}, {kind}: {text}"));
    }
    let data = &body["data"];
    match data["resultType"].as_str() {
        Some("vector") => match data["result"].as_array() {
            Some(series) if series.is_empty() => Measurement::NoData,
            Some(series) => measure_json(series[0]["value"].get(1)),
            None => error("Prometheus answered a vector without a result"),
        },
        Some("scalar") => measure_json(data["result"].get(1)),
        Some(other) => error(format!(
            "the query gives a {other}; write one that gives a single number (an instant vector or a scalar)"
        )),
        None => error("Prometheus answered no resultType"),
    }
}

/// The number at `path` in the JSON `url` answers.
pub async fn http_json(http: &reqwest::Client, url: &str, path: &str) -> Measurement {
    match get_json(http.get(url)).await {
        Ok((status, _)) if !status.is_success() => error(format!("HTTP {status}")),
        Ok((_, body)) => match json_path(&body, path) {
            None => error(format!("the answer has nothing at {path}")),
            found => measure_json(found),
        },
        Err(e) => e,
    }
}

/// A metric's statistic over the last period (with the samples behind it), or an alarm's state.
pub trait CloudWatch: Send + Sync + fmt::Debug {
    /// The newest value of `statistic` of the metric over `period`, with its sample count.
    fn statistic<'a>(&'a self, metric: &'a MetricQuery, now: SystemTime) -> Measuring<'a>;
    /// 0 while the alarm is `OK`, 1 in `ALARM`, no data while it has too little data.
    fn alarm<'a>(&'a self, name: &'a str) -> Measuring<'a>;
}

/// One CloudWatch metric statistic, placeholders filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricQuery {
    /// Namespace.
    pub namespace: String,
    /// Metric name.
    pub metric: String,
    /// Dimensions.
    pub dimensions: BTreeMap<String, String>,
    /// `Average`, `Sum`, `Minimum`, `Maximum`, `SampleCount` or a percentile (`p99`).
    pub statistic: String,
    /// Seconds.
    pub period: u64,
}

/// [`CloudWatch`] over the SDK.
#[derive(Debug, Clone)]
pub struct SdkCloudWatch {
    client: Client,
}

impl SdkCloudWatch {
    /// Over `config`.
    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: Client::new(config),
        }
    }
}

impl CloudWatch for SdkCloudWatch {
    fn statistic<'a>(&'a self, m: &'a MetricQuery, now: SystemTime) -> Measuring<'a> {
        Box::pin(async move {
            let period = i32::try_from(m.period.max(1)).unwrap_or(i32::MAX);
            let metric = Metric::builder()
                .namespace(&m.namespace)
                .metric_name(&m.metric)
                .set_dimensions(Some(
                    m.dimensions
                        .iter()
                        .map(|(name, value)| Dimension::builder().name(name).value(value).build())
                        .collect(),
                ))
                .build();
            let query = |id: &str, stat: &str| {
                MetricDataQuery::builder()
                    .id(id)
                    .metric_stat(
                        MetricStat::builder()
                            .metric(metric.clone())
                            .period(period)
                            .stat(stat)
                            .build(),
                    )
                    .build()
            };
            // Two periods back, so that the newest complete one is in the answer.
            let start = now - Duration::from_secs(m.period.max(1) * 2);
            let answer = self
                .client
                .get_metric_data()
                .metric_data_queries(query("value", &m.statistic))
                .metric_data_queries(query("samples", "SampleCount"))
                .start_time(DateTime::from(start))
                .end_time(DateTime::from(now))
                .scan_by(ScanBy::TimestampDescending)
                .send()
                .await;
            let answer = match answer {
                Ok(a) => a,
                Err(e) => {
                    return error(format!(
                        "CloudWatch GetMetricData: {}",
                        aws_sdk_cloudwatch::error::DisplayErrorContext(&e)
                    ));
                }
            };
            let newest = |id: &str| {
                answer
                    .metric_data_results()
                    .iter()
                    .find(|r| r.id() == Some(id))
                    .and_then(|r| r.values().first().copied())
            };
            match newest("value") {
                None => Measurement::NoData,
                Some(value) => Measurement::Value {
                    value,
                    samples: newest("samples").map(|n| n.max(0.0) as u64),
                },
            }
        })
    }

    fn alarm<'a>(&'a self, name: &'a str) -> Measuring<'a> {
        Box::pin(async move {
            let answer = self.client.describe_alarms().alarm_names(name).send().await;
            let answer = match answer {
                Ok(a) => a,
                Err(e) => {
                    return error(format!(
                        "CloudWatch DescribeAlarms: {}",
                        aws_sdk_cloudwatch::error::DisplayErrorContext(&e)
                    ));
                }
            };
            let state = answer
                .metric_alarms()
                .iter()
                .find(|a| a.alarm_name() == Some(name))
                .and_then(|a| a.state_value().cloned())
                .or_else(|| {
                    answer
                        .composite_alarms()
                        .iter()
                        .find(|a| a.alarm_name() == Some(name))
                        .and_then(|a| a.state_value().cloned())
                });
            match state {
                None => error(format!("there is no CloudWatch alarm named {name}")),
                Some(StateValue::Ok) => Measurement::Value {
                    value: 0.0,
                    samples: None,
                },
                Some(StateValue::Alarm) => Measurement::Value {
                    value: 1.0,
                    samples: None,
                },
                Some(_) => Measurement::NoData,
            }
        })
    }
}
