//! The publisher against the emulator's S3, answering a CloudFormation stand-in: a small HTTP server on
//! 127.0.0.1 that records every PUT to the response URL.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use boreas_dashboard_publisher::{
    Error, IMMUTABLE, Publisher, REVALIDATE, Status, handle, site_files,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use boreas_aws::emulator::unique_prefix;

const API_URL: &str = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com";
const BUDGET: Duration = Duration::from_secs(60);

/// One PUT the stand-in received.
#[derive(Debug)]
struct Received {
    request_line: String,
    headers: BTreeMap<String, String>,
    body: Value,
}

/// CloudFormation's side of a custom resource: the pre-signed response URL.
struct CloudFormation {
    url: String,
    received: mpsc::UnboundedReceiver<Received>,
    server: JoinHandle<()>,
}

impl CloudFormation {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, received) = mpsc::unbounded_channel();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, tx.clone()));
            }
        });
        Self {
            url: format!(
                "http://{addr}/cfn-response/DashboardSite?X-Amz-Expires=7200&X-Amz-Signature=abc123"
            ),
            received,
            server,
        }
    }

    /// The next answer, which must come.
    async fn answer(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(10), self.received.recv())
            .await
            .expect("an answer within 10 s")
            .expect("the server is running")
    }

    /// Asserts that nothing (more) was received.
    fn assert_silent(&mut self) {
        assert!(
            self.received.try_recv().is_err(),
            "unexpected answer received"
        );
    }

    fn stop(self) {
        self.server.abort();
    }
}

async fn serve(stream: TcpStream, tx: mpsc::UnboundedSender<Received>) {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).await.unwrap();
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').expect("a header line");
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let length: usize = headers
        .get("content-length")
        .expect("a Content-Length")
        .parse()
        .unwrap();
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.unwrap();
    let mut stream = reader.into_inner();
    stream
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    stream.shutdown().await.unwrap();
    let body = serde_json::from_slice(&body).expect("the answer is JSON");
    tx.send(Received {
        request_line: request_line.trim_end().to_owned(),
        headers,
        body,
    })
    .unwrap();
}

/// A site directory under the test's temporary directory, removed on drop.
struct Site(PathBuf);

impl Site {
    fn new(files: &[(&str, &str)]) -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique_prefix('s'));
        for (path, content) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const INDEX: &str = "<!doctype html><script type=module src=/assets/app-abc123.js></script>";
const SCRIPT: &str = "console.log('boreas');";
const STYLE: &str = "body { margin: 0 }";

fn full_site() -> Site {
    Site::new(&[
        ("index.html", INDEX),
        ("assets/app-abc123.js", SCRIPT),
        ("assets/app-abc123.css", STYLE),
        // The build's local default, which the stack's api URL replaces.
        ("config.json", r#"{"apiUrl": ""}"#),
    ])
}

/// The fixture event, aimed at `url` and `bucket`.
fn event(request_type: &str, url: &str, bucket: &str, physical_id: Option<&str>) -> Value {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("events/create.json");
    let mut event: Value = serde_json::from_slice(&std::fs::read(fixture).unwrap()).unwrap();
    event["RequestType"] = json!(request_type);
    event["ResponseURL"] = json!(url);
    event["ResourceProperties"]["Bucket"] = json!(bucket);
    event["ResourceProperties"]["ApiUrl"] = json!(API_URL);
    if let Some(id) = physical_id {
        event["PhysicalResourceId"] = json!(id);
    }
    event
}

async fn setup() -> (Publisher, String, CloudFormation) {
    let emulator = boreas_aws::emulator::shared().await;
    let publisher = Publisher::connect(Some(emulator.endpoint())).await.unwrap();
    let bucket = format!("{}-dashboard", unique_prefix('d'));
    publisher
        .s3()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    (publisher, bucket, CloudFormation::start().await)
}

/// Every object of the bucket with its ETag.
async fn objects(publisher: &Publisher, bucket: &str) -> BTreeMap<String, String> {
    let out = publisher
        .s3()
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    out.contents()
        .iter()
        .map(|o| {
            (
                o.key().unwrap().to_owned(),
                o.e_tag().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn keys(objects: &BTreeMap<String, String>) -> Vec<&str> {
    objects.keys().map(String::as_str).collect()
}

async fn body_of(publisher: &Publisher, bucket: &str, key: &str) -> Vec<u8> {
    let out = publisher
        .s3()
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

/// Asserts CloudFormation received `status` for `bucket`'s fixture event, echoing its ids.
/// Creates the full site in `bucket` and checks that CloudFormation heard SUCCESS.
async fn publish_full_site(publisher: &Publisher, bucket: &str, cfn: &mut CloudFormation) {
    let site = full_site();
    handle(
        publisher,
        event("Create", &cfn.url, bucket, None),
        &site.0,
        BUDGET,
    )
    .await
    .unwrap();
    assert_answer(&cfn.answer().await, "SUCCESS", bucket);
}

fn assert_answer(received: &Received, status: &str, physical_id: &str) {
    assert!(
        received
            .request_line
            .starts_with("PUT /cfn-response/DashboardSite?"),
        "{}",
        received.request_line
    );
    // The pre-signed URL is signed for an empty content type.
    assert!(
        received
            .headers
            .get("content-type")
            .is_none_or(|v| v.is_empty()),
        "{:?}",
        received.headers
    );
    let body = &received.body;
    assert_eq!(body["Status"], status, "{body}");
    assert_eq!(body["PhysicalResourceId"], physical_id, "{body}");
    assert_eq!(
        body["StackId"],
        "arn:aws:cloudformation:us-east-1:123456789012:stack/boreas/5b1d3a40-8f0e-11ef-9a3c-0a1b2c3d4e5f"
    );
    assert_eq!(body["RequestId"], "2b4f6c1e-3d5a-4b7c-9e8f-0a1b2c3d4e5f");
    assert_eq!(body["LogicalResourceId"], "DashboardSite");
    assert!(
        body["Reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn create_uploads_the_site_with_types_cache_policies_and_the_api_url() {
    let (publisher, bucket, mut cfn) = setup().await;
    let site = full_site();

    let answer = handle(
        &publisher,
        event("Create", &cfn.url, &bucket, None),
        &site.0,
        BUDGET,
    )
    .await
    .unwrap();
    assert_eq!(answer.status, Status::Success, "{answer:?}");
    assert_answer(&cfn.answer().await, "SUCCESS", &bucket);

    let objects = objects(&publisher, &bucket).await;
    assert_eq!(
        keys(&objects),
        [
            "assets/app-abc123.css",
            "assets/app-abc123.js",
            "config.json",
            "index.html"
        ]
    );
    for (key, content_type, cache_control, body) in [
        ("index.html", "text/html; charset=utf-8", REVALIDATE, INDEX),
        (
            "assets/app-abc123.js",
            "text/javascript; charset=utf-8",
            IMMUTABLE,
            SCRIPT,
        ),
        (
            "assets/app-abc123.css",
            "text/css; charset=utf-8",
            IMMUTABLE,
            STYLE,
        ),
    ] {
        let head = publisher
            .s3()
            .head_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_type(), Some(content_type), "{key}");
        assert_eq!(head.cache_control(), Some(cache_control), "{key}");
        assert_eq!(body_of(&publisher, &bucket, key).await, body.as_bytes());
    }

    // The shape dashboard/src/api.ts reads.
    let head = publisher
        .s3()
        .head_object()
        .bucket(&bucket)
        .key("config.json")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("application/json"));
    assert_eq!(head.cache_control(), Some(REVALIDATE));
    let config: Value =
        serde_json::from_slice(&body_of(&publisher, &bucket, "config.json").await).unwrap();
    assert_eq!(config, json!({ "apiUrl": API_URL }));
    cfn.assert_silent();
    cfn.stop();
}

#[tokio::test]
async fn update_with_a_smaller_site_removes_the_stale_files() {
    let (publisher, bucket, mut cfn) = setup().await;
    publish_full_site(&publisher, &bucket, &mut cfn).await;

    // The next build: a new script name, no stylesheet.
    let next = Site::new(&[
        (
            "index.html",
            "<!doctype html><script src=/assets/app-def456.js></script>",
        ),
        ("assets/app-def456.js", "console.log('v2');"),
    ]);
    let answer = handle(
        &publisher,
        event("Update", &cfn.url, &bucket, Some(&bucket)),
        &next.0,
        BUDGET,
    )
    .await
    .unwrap();
    assert_eq!(answer.status, Status::Success, "{answer:?}");
    let received = cfn.answer().await;
    assert_answer(&received, "SUCCESS", &bucket);
    assert!(
        received.body["Reason"]
            .as_str()
            .unwrap()
            .contains("removed 2 stale"),
        "{}",
        received.body
    );
    assert_eq!(
        keys(&objects(&publisher, &bucket).await),
        ["assets/app-def456.js", "config.json", "index.html"]
    );
    assert_eq!(
        body_of(&publisher, &bucket, "index.html").await,
        b"<!doctype html><script src=/assets/app-def456.js></script>"
    );
    cfn.stop();
}

#[tokio::test]
async fn delete_empties_the_bucket() {
    let (publisher, bucket, mut cfn) = setup().await;
    publish_full_site(&publisher, &bucket, &mut cfn).await;
    assert_eq!(objects(&publisher, &bucket).await.len(), 4);

    // Delete needs no site: the function may be a version whose package is gone.
    let missing = Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique_prefix('n'));
    let answer = handle(
        &publisher,
        event("Delete", &cfn.url, &bucket, Some(&bucket)),
        &missing,
        BUDGET,
    )
    .await
    .unwrap();
    assert_eq!(answer.status, Status::Success, "{answer:?}");
    let received = cfn.answer().await;
    assert_answer(&received, "SUCCESS", &bucket);
    assert_eq!(received.body["Reason"], "removed 4 objects");
    assert!(objects(&publisher, &bucket).await.is_empty());

    // Deleting again, or a bucket that is already gone, succeeds.
    publisher
        .s3()
        .delete_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    handle(
        &publisher,
        event("Delete", &cfn.url, &bucket, Some(&bucket)),
        &missing,
        BUDGET,
    )
    .await
    .unwrap();
    assert_answer(&cfn.answer().await, "SUCCESS", &bucket);
    cfn.stop();
}

#[tokio::test]
async fn a_missing_or_empty_site_fails_and_leaves_the_bucket_unchanged() {
    let (publisher, bucket, mut cfn) = setup().await;
    publish_full_site(&publisher, &bucket, &mut cfn).await;
    let before = objects(&publisher, &bucket).await;

    let missing = Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique_prefix('n'));
    let answer = handle(
        &publisher,
        event("Update", &cfn.url, &bucket, Some(&bucket)),
        &missing,
        BUDGET,
    )
    .await
    .unwrap();
    assert_eq!(answer.status, Status::Failed);
    let received = cfn.answer().await;
    assert_answer(&received, "FAILED", &bucket);
    let reason = received.body["Reason"].as_str().unwrap();
    assert!(
        reason.contains(missing.to_str().unwrap()) && reason.contains("does not exist"),
        "{reason}"
    );
    assert_eq!(objects(&publisher, &bucket).await, before);

    let empty = Site::new(&[]);
    handle(
        &publisher,
        event("Update", &cfn.url, &bucket, Some(&bucket)),
        &empty.0,
        BUDGET,
    )
    .await
    .unwrap();
    let received = cfn.answer().await;
    assert_answer(&received, "FAILED", &bucket);
    assert!(
        received.body["Reason"]
            .as_str()
            .unwrap()
            .ends_with("is empty"),
        "{}",
        received.body
    );

    let no_index = Site::new(&[("assets/app.js", SCRIPT)]);
    handle(
        &publisher,
        event("Update", &cfn.url, &bucket, Some(&bucket)),
        &no_index.0,
        BUDGET,
    )
    .await
    .unwrap();
    let received = cfn.answer().await;
    assert!(
        received.body["Reason"]
            .as_str()
            .unwrap()
            .ends_with("has no index.html"),
        "{}",
        received.body
    );
    assert_eq!(objects(&publisher, &bucket).await, before);

    // A Create that fails names no bucket, so rolling it back (a Delete) removes nothing.
    let answer = handle(
        &publisher,
        event("Create", &cfn.url, &bucket, None),
        &missing,
        BUDGET,
    )
    .await
    .unwrap();
    let received = cfn.answer().await;
    assert_eq!(received.body["Status"], "FAILED");
    assert_ne!(answer.physical_resource_id, bucket);
    handle(
        &publisher,
        event(
            "Delete",
            &cfn.url,
            &bucket,
            Some(&answer.physical_resource_id),
        ),
        &missing,
        BUDGET,
    )
    .await
    .unwrap();
    let received = cfn.answer().await;
    assert_answer(&received, "SUCCESS", &answer.physical_resource_id);
    assert_eq!(objects(&publisher, &bucket).await, before);
    cfn.stop();
}

#[tokio::test]
async fn unknown_request_types_and_malformed_events_fail_with_a_clear_reason() {
    let (publisher, bucket, mut cfn) = setup().await;
    let site = full_site();

    let cases: Vec<(Value, &str)> = vec![
        (
            event("Replace", &cfn.url, &bucket, None),
            "unknown RequestType \"Replace\": expected Create, Update or Delete",
        ),
        (
            {
                let mut e = event("Create", &cfn.url, &bucket, None);
                e.as_object_mut().unwrap().remove("RequestType");
                e
            },
            "malformed custom-resource event: RequestType is missing",
        ),
        (
            {
                let mut e = event("Create", &cfn.url, &bucket, None);
                e["ResourceProperties"]
                    .as_object_mut()
                    .unwrap()
                    .remove("Bucket");
                e
            },
            "ResourceProperties.Bucket: is missing",
        ),
        (
            {
                let mut e = event("Create", &cfn.url, &bucket, None);
                e["ResourceProperties"]["ApiUrl"] = json!("a1b2c3.execute-api");
                e
            },
            "ResourceProperties.ApiUrl: \"a1b2c3.execute-api\" is not an http(s) URL",
        ),
        (
            {
                let mut e = event("Create", &cfn.url, &bucket, None);
                e["ResourceProperties"] = json!("Bucket");
                e
            },
            "malformed custom-resource event: ResourceProperties is not an object",
        ),
    ];
    for (event, reason) in cases {
        let answer = handle(&publisher, event, &site.0, BUDGET).await.unwrap();
        assert_eq!(answer.status, Status::Failed);
        let received = cfn.answer().await;
        assert_eq!(received.body["Status"], "FAILED");
        assert_eq!(received.body["Reason"], reason);
        assert_eq!(received.body["LogicalResourceId"], "DashboardSite");
    }
    assert!(objects(&publisher, &bucket).await.is_empty());

    // Without a ResponseURL there is nobody to answer: the invocation fails instead.
    let mut no_url = event("Create", &cfn.url, &bucket, None);
    no_url.as_object_mut().unwrap().remove("ResponseURL");
    let err = handle(&publisher, no_url, &site.0, BUDGET)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Event(_)), "{err}");
    assert_eq!(err.error_type(), "MalformedEvent");
    cfn.assert_silent();
    cfn.stop();
}

#[tokio::test]
async fn an_unreachable_response_url_is_an_error_that_does_not_leak_the_signature() {
    let (publisher, bucket, cfn) = setup().await;
    // A port nothing listens on any more.
    let url = cfn.url.clone();
    cfn.stop();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = url.replace(
        &url["http://".len()..url.find("/cfn-response").unwrap()],
        &addr.to_string(),
    );

    let site = full_site();
    let err = handle(
        &publisher,
        event("Create", &url, &bucket, None),
        &site.0,
        BUDGET,
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "RespondFailed");
    let message = err.to_string();
    assert!(message.contains("after 3 attempts"), "{message}");
    assert!(!message.contains("abc123"), "{message}");
}

#[test]
fn site_files_upload_assets_first_and_index_last() {
    let site = full_site();
    let files = site_files(&site.0, API_URL).unwrap();
    let order: Vec<&str> = files.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(
        order,
        [
            "assets/app-abc123.css",
            "assets/app-abc123.js",
            "config.json",
            "index.html"
        ]
    );
}

#[tokio::test]
async fn running_out_of_time_still_answers_failed() {
    let (publisher, bucket, mut cfn) = setup().await;
    let site = full_site();
    let answer = handle(
        &publisher,
        event("Create", &cfn.url, &bucket, None),
        &site.0,
        Duration::ZERO,
    )
    .await
    .unwrap();
    assert_eq!(answer.status, Status::Failed);
    let received = cfn.answer().await;
    assert_eq!(received.body["Status"], "FAILED");
    assert_eq!(
        received.body["Reason"],
        "publishing did not finish within 0s, the time the invocation had left"
    );
    cfn.stop();
}
