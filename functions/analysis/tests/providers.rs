//! The providers against real parts: a real Prometheus (Debian's) scraping a local exporter, the
//! emulator's CloudWatch (PutMetricData, GetMetricData, alarms), and a local HTTP server.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, MetricDatum, StateValue, Statistic,
};
use boreas_analysis::providers::{
    CloudWatch, MetricQuery, MetricsCredential, SdkCloudWatch, http_json, prometheus,
};
use boreas_core::analysis::run::Subject;
use boreas_core::analysis::{Condition, Limits, Measurement, Outcome, judge};
use boreas_test_support::http::{RecordingServer, Response};
use boreas_test_support::prometheus::Prometheus;
use serde_json::json;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn value(m: &Measurement) -> f64 {
    match m {
        Measurement::Value { value, .. } => *value,
        other => panic!("expected a value, got {other}"),
    }
}

fn error_text(m: &Measurement) -> &str {
    match m {
        Measurement::Error { message } => message,
        other => panic!("expected an error, got {other}"),
    }
}

/// Queries until `wanted` holds of the answer (Prometheus scrapes every second).
async fn until(
    http: &reqwest::Client,
    server: &str,
    query: &str,
    wanted: impl Fn(&Measurement) -> bool,
) -> Measurement {
    let mut last = Measurement::NoData;
    for _ in 0..150 {
        last = prometheus(http, server, query, None).await;
        if wanted(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{query}: never as wanted; last {last}");
}

#[tokio::test]
async fn prometheus_values_no_data_errors_and_placeholders() {
    let ratio = Arc::new(Mutex::new(0.002_f64));
    let exporter = {
        let ratio = Arc::clone(&ratio);
        RecordingServer::start(move |_| {
            let r = *ratio.lock().unwrap_or_else(PoisonError::into_inner);
            Response::text(
                200,
                "text/plain; version=0.0.4",
                &format!("# TYPE demo_error_ratio gauge\ndemo_error_ratio{{app=\"api\"}} {r}\n"),
            )
        })
    };
    let target = exporter.url().trim_start_matches("http://").to_owned();
    let server = Prometheus::start(std::slice::from_ref(&target));
    let (http, url) = (client(), server.url());

    let good = until(&http, &url, r#"demo_error_ratio{app="api"}"#, |m| {
        matches!(m, Measurement::Value { .. })
    })
    .await;
    assert_eq!(value(&good), 0.002);
    let condition = Condition::Below(0.01);
    assert_eq!(judge(&good, condition, &Limits::default()), Outcome::Pass);

    // `{targets}` is the hosts as a regex alternation: the instance label matches it.
    let targets = [target.clone()];
    let subject = Subject {
        app: "api",
        version: "v2",
        environment: "prod",
        targets: &targets,
        batch: 0,
    };
    let query = subject.fill(r#"demo_error_ratio{app="{app}",instance=~"{targets}"}"#);
    assert_eq!(value(&prometheus(&http, &url, &query, None).await), 0.002);

    *ratio.lock().unwrap() = 0.05;
    let bad = until(
        &http,
        &url,
        r#"demo_error_ratio{app="api"}"#,
        |m| matches!(m, Measurement::Value { value, .. } if *value > 0.01),
    )
    .await;
    assert_eq!(judge(&bad, condition, &Limits::default()), Outcome::Fail);

    let none = prometheus(&http, &url, r#"demo_error_ratio{app="other"}"#, None).await;
    assert_eq!(none, Measurement::NoData);
    // A rate over no traffic is NaN: no data, judged inconclusive by default, never a pass.
    let nan = prometheus(&http, &url, "0/0", None).await;
    assert_eq!(
        judge(&nan, condition, &Limits::default()),
        Outcome::Inconclusive
    );
    let wrong = prometheus(&http, &url, "sum(", None).await;
    assert!(
        error_text(&wrong).contains("bad_data"),
        "the error names Prometheus's error: {wrong}"
    );
    let matrix = prometheus(&http, &url, "demo_error_ratio[1m]", None).await;
    assert!(error_text(&matrix).contains("gives a matrix"), "{matrix}");

    drop(server);
    let down = prometheus(&http, &url, "up", None).await;
    assert!(error_text(&down).contains("cannot reach"), "{down}");
    assert_eq!(judge(&down, condition, &Limits::default()), Outcome::Error);
}

#[tokio::test]
async fn a_prometheus_credential_is_presented_to_its_own_server_only() {
    let server = RecordingServer::start(|_| {
        Response::json(
            200,
            json!({"status": "success", "data": {"resultType": "scalar", "result": [1.0, "1"]}}),
        )
    });
    let credential = MetricsCredential::parse(&format!(
        r#"{{"url": "{}", "bearer_token": "s3cret"}}"#,
        server.url()
    ))
    .unwrap();
    assert!(credential.belongs_to(&server.url()));
    assert!(credential.belongs_to(&format!("{}/prom", server.url())));
    assert!(!credential.belongs_to(&format!("{}0", server.url())));
    assert!(!credential.belongs_to("http://elsewhere.example"));
    assert!(!format!("{credential:?}").contains("s3cret"));
    let m = prometheus(&client(), &server.url(), "up", Some(&credential)).await;
    assert_eq!(value(&m), 1.0);
    let seen = server.requests();
    assert_eq!(seen[0].header("authorization"), Some("Bearer s3cret"));
    assert!(
        seen[0].target.starts_with("/api/v1/query?query=up"),
        "{}",
        seen[0].target
    );

    for refused in [
        r#"{"url": "http://x", "bearer_token": "t", "username": "u", "password": "p"}"#,
        r#"{"url": "http://x", "username": "u"}"#,
        r#"{"url": "http://x", "token": "t"}"#,
    ] {
        assert!(MetricsCredential::parse(refused).is_err(), "{refused}");
    }
    let basic =
        MetricsCredential::parse(r#"{"url": "http://x", "username": "u", "password": "p"}"#);
    assert!(basic.is_ok());
}

#[tokio::test]
async fn http_json_reads_the_number_at_its_path() {
    let server = RecordingServer::start(|r| match r.target.as_str() {
        "/ok" => Response::json(200, json!({"data": {"series": [{"ratio": 0.2}]}})),
        "/text" => Response::text(200, "text/plain", "fine"),
        _ => Response::json(503, json!({"error": "down"})),
    });
    let http = client();
    let url = |p: &str| format!("{}{p}", server.url());
    let ok = http_json(&http, &url("/ok"), "$.data.series[0].ratio").await;
    assert_eq!(value(&ok), 0.2);
    let missing = http_json(&http, &url("/ok"), "$.data.series[1].ratio").await;
    assert!(error_text(&missing).contains("nothing at $.data.series[1].ratio"));
    let down = http_json(&http, &url("/down"), "$.x").await;
    assert_eq!(error_text(&down), "HTTP 503 Service Unavailable");
    let text = http_json(&http, &url("/text"), "$.x").await;
    assert!(error_text(&text).contains("not JSON"), "{text}");
}

#[tokio::test]
async fn cloudwatch_statistics_and_alarms_on_the_emulator() {
    let emulator = boreas_aws::emulator::shared().await;
    let sdk = boreas_aws::sdk_config(Some(emulator.endpoint())).await;
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    let namespace = format!("Boreas/Test{}", std::process::id());
    let dimension = Dimension::builder().name("App").value("api").build();
    for v in [2.0, 4.0, 6.0] {
        cw.put_metric_data()
            .namespace(&namespace)
            .metric_data(
                MetricDatum::builder()
                    .metric_name("Latency")
                    .dimensions(dimension.clone())
                    .value(v)
                    .timestamp(SystemTime::now().into())
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    let provider = SdkCloudWatch::from_config(&sdk);
    let query = MetricQuery {
        namespace: namespace.clone(),
        metric: "Latency".to_owned(),
        dimensions: [("App".to_owned(), "api".to_owned())].into(),
        statistic: "Average".to_owned(),
        period: 60,
    };
    let later = SystemTime::now() + Duration::from_secs(1);
    let m = provider.statistic(&query, later).await;
    assert_eq!(
        m,
        Measurement::Value {
            value: 4.0,
            samples: Some(3)
        }
    );
    let other = MetricQuery {
        dimensions: [("App".to_owned(), "web".to_owned())].into(),
        ..query.clone()
    };
    assert_eq!(provider.statistic(&other, later).await, Measurement::NoData);

    let alarm = format!("boreas-test-{}", std::process::id());
    cw.put_metric_alarm()
        .alarm_name(&alarm)
        .namespace(&namespace)
        .metric_name("Latency")
        .statistic(Statistic::Average)
        .period(60)
        .evaluation_periods(1)
        .threshold(100.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    for (state, wanted) in [
        (
            StateValue::Ok,
            Measurement::Value {
                value: 0.0,
                samples: None,
            },
        ),
        (
            StateValue::Alarm,
            Measurement::Value {
                value: 1.0,
                samples: None,
            },
        ),
        (StateValue::InsufficientData, Measurement::NoData),
    ] {
        cw.set_alarm_state()
            .alarm_name(&alarm)
            .state_value(state.clone())
            .state_reason("test")
            .send()
            .await
            .unwrap();
        assert_eq!(provider.alarm(&alarm).await, wanted, "{state:?}");
    }
    let missing = provider.alarm("no-such-alarm").await;
    assert!(error_text(&missing).contains("no CloudWatch alarm named no-such-alarm"));
}
