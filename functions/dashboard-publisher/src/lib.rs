//! The dashboard publisher: the function behind the template's `Custom::DashboardSite` resource.
//!
//! Its package holds the built dashboard under `site/` beside `bootstrap`, so every `sam build` ships
//! the dashboard of that commit and every new function version makes CloudFormation send an Update:
//!
//! - Create/Update: every file of the site goes to the bucket with its content type and cache
//!   policy (`index.html` and `config.json` are revalidated on every load, the content-hashed files
//!   under `assets/` are cached for good), `config.json` is written with the stack's api URL, then
//!   objects that are not part of the new site are deleted. The physical id is the bucket name, so an
//!   update never makes CloudFormation delete the old resource.
//! - Delete: the bucket is emptied, so the stack (or a person) can delete it.
//!
//! CloudFormation waits up to an hour for an answer, so every event that names a `ResponseURL` is
//! answered, SUCCESS or FAILED with a reason that says what failed and where, also when the event is
//! malformed or the work runs out of time. The site is read completely before the bucket is touched:
//! a missing or unreadable site fails without changing anything.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use boreas_aws::env::Env;
use serde::Serialize;
use serde_json::Value;

/// The page every route of the single-page app loads.
pub const INDEX_KEY: &str = "index.html";
/// Where the dashboard reads its api URL (`{"apiUrl": "…"}`, see `dashboard/src/api.ts`).
pub const CONFIG_KEY: &str = "config.json";
/// Vite names every file here by a hash of its content.
pub const ASSETS_PREFIX: &str = "assets/";
/// Cache policy of files whose name stays the same when their content changes.
pub const REVALIDATE: &str = "no-cache";
/// Cache policy of content-hashed files: a new build gives them new names.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// CloudFormation rejects response bodies over 4 KiB; the reason is cut well below that.
const REASON_LIMIT: usize = 2000;
/// Time kept back from the invocation's deadline to answer CloudFormation; at most a third of
/// what is left, so that a short timeout (Lambda's default is 3 s) still leaves time to publish.
const ANSWER_MARGIN: Duration = Duration::from_secs(10);
/// 2000-01-01T00:00:00Z: no real deadline is earlier.
const NOT_A_DATE: Duration = Duration::from_secs(946_684_800);
/// Keys per DeleteObjects call (the S3 maximum).
const DELETE_BATCH: usize = 1000;
const RESPONSE_ATTEMPTS: u32 = 3;

/// Why an event could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The event is not a CloudFormation custom-resource event.
    #[error("malformed custom-resource event: {0}")]
    Event(String),
    /// A `RequestType` other than Create, Update and Delete.
    #[error("unknown RequestType {0:?}: expected Create, Update or Delete")]
    UnknownRequestType(String),
    /// A resource property is missing or unusable.
    #[error("ResourceProperties.{name}: {problem}")]
    Property {
        /// The property.
        name: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The site directory is missing, empty or has no `index.html`.
    #[error("site directory {}: {problem}", path.display())]
    Site {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A file of the site could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An object could not be written.
    #[error("uploading {key} to s3://{bucket}: {message}")]
    Upload {
        /// The bucket.
        bucket: String,
        /// The object's key.
        key: String,
        /// Why.
        message: String,
    },
    /// The bucket's objects could not be listed.
    #[error("listing s3://{bucket}: {message}")]
    List {
        /// The bucket.
        bucket: String,
        /// Why.
        message: String,
    },
    /// An object could not be deleted.
    #[error("deleting {key} from s3://{bucket}: {message}")]
    Delete {
        /// The bucket.
        bucket: String,
        /// The (first) key that was not deleted.
        key: String,
        /// Why.
        message: String,
    },
    /// The work did not finish before the invocation's deadline.
    #[error("publishing did not finish within {}s, the time the invocation had left", .0.as_secs())]
    TimedOut(Duration),
    /// The answer could not be delivered to CloudFormation.
    #[error("answering CloudFormation: {0}")]
    Respond(String),
    /// An environment variable is missing or unusable.
    #[error(transparent)]
    Aws(#[from] boreas_aws::Error),
}

impl Error {
    /// A stable name of the kind of failure, for logs and alarms.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Event(_) => "MalformedEvent",
            Self::UnknownRequestType(_) => "UnknownRequestType",
            Self::Property { .. } => "InvalidProperty",
            Self::Site { .. } => "SiteMissing",
            Self::Read { .. } => "SiteUnreadable",
            Self::Upload { .. } => "UploadFailed",
            Self::List { .. } => "ListFailed",
            Self::Delete { .. } => "DeleteFailed",
            Self::TimedOut(_) => "TimedOut",
            Self::Respond(_) => "RespondFailed",
            Self::Aws(e) => e.error_type(),
        }
    }
}

/// A failed invocation reports the stable kind of failure as its error type.
impl From<Error> for lambda_runtime::Diagnostic {
    fn from(err: Error) -> Self {
        Self {
            error_type: err.error_type().to_owned(),
            error_message: err.to_string(),
        }
    }
}

/// The outcome CloudFormation is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// The resource is in the requested state.
    Success,
    /// It is not; `Reason` says why.
    Failed,
}

/// The response body PUT to the event's `ResponseURL`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Answer {
    /// SUCCESS or FAILED.
    pub status: Status,
    /// What was done, or what failed and where.
    pub reason: String,
    /// The bucket name once published.
    pub physical_resource_id: String,
    /// Echoed from the event.
    pub stack_id: String,
    /// Echoed from the event.
    pub request_id: String,
    /// Echoed from the event.
    pub logical_resource_id: String,
}

/// The clients the handler works with.
#[derive(Debug, Clone)]
pub struct Publisher {
    s3: Client,
    http: reqwest::Client,
}

impl Publisher {
    /// Clients for `endpoint` (an emulator), else for AWS through the default chain.
    pub async fn connect(endpoint: Option<&str>) -> Result<Self, Error> {
        let config = boreas_aws::sdk_config(endpoint).await;
        // An emulator is addressed by path, since `BUCKET.127.0.0.1` does not resolve.
        let s3 = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::Respond(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            s3: Client::from_conf(s3),
            http,
        })
    }

    /// The S3 client.
    pub fn s3(&self) -> &Client {
        &self.s3
    }
}

/// `$LAMBDA_TASK_ROOT/site`, where the package carries the built dashboard.
pub fn site_dir_from_env(env: &Env) -> Result<PathBuf, Error> {
    let root = env.require(
        "LAMBDA_TASK_ROOT",
        "it names the directory the function's package is in",
    )?;
    Ok(PathBuf::from(root).join("site"))
}

/// The time the work may take before an invocation ending at `deadline` must answer.
///
/// Lambda sends the deadline as epoch milliseconds; `cargo lambda watch` sends the timeout itself
/// (600 000 ms), which reads as a time in 1970. A "deadline" before 2000 is therefore taken as the
/// time left.
pub fn budget(deadline: SystemTime) -> Duration {
    let since_epoch = deadline.duration_since(UNIX_EPOCH).unwrap_or_default();
    let left = if since_epoch < NOT_A_DATE {
        since_epoch
    } else {
        deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default()
    };
    left.saturating_sub(ANSWER_MARGIN.min(left / 3))
}

/// Handles one custom-resource event with the site in `site`, within `budget`, and answers
/// CloudFormation. Returns the answer delivered; an error only when there is no `ResponseURL` to
/// answer or the answer could not be delivered (so Lambda's retry of the invocation can help).
pub async fn handle(
    publisher: &Publisher,
    event: Value,
    site: &Path,
    budget: Duration,
) -> Result<Answer, Error> {
    let Some(response_url) = event.get("ResponseURL").and_then(Value::as_str) else {
        let err = Error::Event("no ResponseURL, so CloudFormation cannot be answered".into());
        tracing::error!(error_type = err.error_type(), error = %err, "event not handled");
        return Err(err);
    };
    let field = |name: &str| {
        event
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (stack_id, request_id, logical_resource_id) = (
        field("StackId"),
        field("RequestId"),
        field("LogicalResourceId"),
    );

    let outcome = match tokio::time::timeout(budget, run(publisher, &event, site)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(Error::TimedOut(budget)),
    };
    let answer = match outcome {
        Ok(done) => {
            tracing::info!(
                request_type = %field("RequestType"),
                logical_resource_id,
                bucket = done.physical_id,
                reason = done.reason,
                "done"
            );
            Answer {
                status: Status::Success,
                reason: done.reason,
                physical_resource_id: done.physical_id,
                stack_id,
                request_id,
                logical_resource_id,
            }
        }
        Err(err) => {
            tracing::error!(
                request_type = %field("RequestType"),
                logical_resource_id,
                error_type = err.error_type(),
                error = %err,
                "failed"
            );
            // A Create that fails names no bucket, so the Delete CloudFormation sends to roll
            // it back removes nothing; a failed Update or Delete keeps the id it had.
            let physical_resource_id = match field("PhysicalResourceId") {
                id if !id.is_empty() => id,
                _ => format!("dashboard-site-not-created-{request_id}"),
            };
            Answer {
                status: Status::Failed,
                reason: truncate(&err.to_string(), REASON_LIMIT),
                physical_resource_id,
                stack_id,
                request_id,
                logical_resource_id,
            }
        }
    };
    respond(&publisher.http, response_url, &answer).await?;
    Ok(answer)
}

struct Done {
    physical_id: String,
    reason: String,
}

async fn run(publisher: &Publisher, event: &Value, site: &Path) -> Result<Done, Error> {
    let request_type = match event.get("RequestType") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(other) => {
            return Err(Error::Event(format!(
                "RequestType is {other}, not a string"
            )));
        }
        None => return Err(Error::Event("RequestType is missing".into())),
    };
    for name in ["StackId", "RequestId", "LogicalResourceId"] {
        if !event.get(name).is_some_and(Value::is_string) {
            return Err(Error::Event(format!("{name} is missing or not a string")));
        }
    }
    let props = match event.get("ResourceProperties") {
        Some(Value::Object(props)) => props,
        Some(_) => return Err(Error::Event("ResourceProperties is not an object".into())),
        None => return Err(Error::Event("ResourceProperties is missing".into())),
    };
    let prop = |name: &'static str| -> Result<String, Error> {
        match props.get(name) {
            Some(Value::String(v)) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
            Some(Value::String(_)) => Err(Error::Property {
                name,
                problem: "is empty".into(),
            }),
            Some(other) => Err(Error::Property {
                name,
                problem: format!("is {other}, not a string"),
            }),
            None => Err(Error::Property {
                name,
                problem: "is missing".into(),
            }),
        }
    };
    match request_type {
        "Create" | "Update" => {
            let bucket = prop("Bucket")?;
            let api_url = prop("ApiUrl")?;
            if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
                return Err(Error::Property {
                    name: "ApiUrl",
                    problem: format!("{api_url:?} is not an http(s) URL"),
                });
            }
            let files = read_site(site.to_owned(), api_url).await?;
            let (uploaded, removed) = publish(&publisher.s3, &bucket, &files).await?;
            Ok(Done {
                reason: format!(
                    "uploaded {uploaded} objects, removed {removed} stale ones (code version {})",
                    prop("CodeVersion").unwrap_or_else(|_| "unknown".into())
                ),
                physical_id: bucket,
            })
        }
        "Delete" => {
            let physical_id = event
                .get("PhysicalResourceId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            // Only a resource that was created names its bucket as its physical id.
            let bucket = props.get("Bucket").and_then(Value::as_str);
            if bucket != Some(physical_id.as_str()) {
                return Ok(Done {
                    reason: "nothing was published, nothing to remove".into(),
                    physical_id,
                });
            }
            let removed = empty(&publisher.s3, &physical_id).await?;
            Ok(Done {
                reason: format!("removed {removed} objects"),
                physical_id,
            })
        }
        other => Err(Error::UnknownRequestType(other.to_owned())),
    }
}

/// One object to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteFile {
    /// The object key (the path below the site directory, `/`-separated).
    pub key: String,
    /// The content.
    pub body: Vec<u8>,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// `Cache-Control`.
    pub cache_control: &'static str,
}

/// Reads every file of the site and adds `config.json` naming `api_url`, in upload order: assets
/// first, `index.html` last, so a page is never served before the files it loads.
async fn read_site(site: PathBuf, api_url: String) -> Result<Vec<SiteFile>, Error> {
    let path = site.clone();
    tokio::task::spawn_blocking(move || site_files(&site, &api_url))
        .await
        .map_err(|e| Error::Site {
            path,
            problem: format!("the task reading it failed: {e}"),
        })?
}

/// The objects a site directory becomes, with `config.json` pointing at `api_url`.
pub fn site_files(site: &Path, api_url: &str) -> Result<Vec<SiteFile>, Error> {
    let site_error = |problem: &str| Error::Site {
        path: site.to_owned(),
        problem: problem.to_owned(),
    };
    match std::fs::metadata(site) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(site_error("is not a directory")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(site_error(
                "does not exist; the package must carry the built dashboard (sam build puts it there)",
            ));
        }
        Err(source) => {
            return Err(Error::Read {
                path: site.to_owned(),
                source,
            });
        }
    }
    let mut files = Vec::new();
    collect(site, site, &mut files)?;
    if files.is_empty() {
        return Err(site_error("is empty"));
    }
    if !files.iter().any(|f| f.key == INDEX_KEY) {
        return Err(site_error("has no index.html"));
    }
    // The build's own config.json (the local default) is replaced by the stack's.
    files.retain(|f| f.key != CONFIG_KEY);
    let config = serde_json::json!({ "apiUrl": api_url });
    files.push(SiteFile {
        key: CONFIG_KEY.to_owned(),
        body: serde_json::to_vec_pretty(&config).expect("a JSON object serializes"),
        content_type: content_type(CONFIG_KEY),
        cache_control: cache_control(CONFIG_KEY),
    });
    files.sort_by_key(|f| {
        (
            f.key == INDEX_KEY,
            !f.key.starts_with(ASSETS_PREFIX),
            f.key.clone(),
        )
    });
    Ok(files)
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<SiteFile>) -> Result<(), Error> {
    let read_error = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Read { path, source }
    };
    for entry in std::fs::read_dir(dir).map_err(read_error(dir))? {
        let path = entry.map_err(read_error(dir))?.path();
        // Symbolic links are followed, as a copy of the build would.
        let meta = std::fs::metadata(&path).map_err(read_error(&path))?;
        if meta.is_dir() {
            collect(root, &path, files)?;
            continue;
        }
        let relative = path.strip_prefix(root).expect("entries are below the root");
        let mut parts = Vec::new();
        for part in relative.components() {
            match part.as_os_str().to_str() {
                Some(s) => parts.push(s),
                None => {
                    return Err(Error::Site {
                        path: path.clone(),
                        problem: "the file name is not UTF-8, so it cannot be an object key".into(),
                    });
                }
            }
        }
        let key = parts.join("/");
        let body = std::fs::read(&path).map_err(read_error(&path))?;
        files.push(SiteFile {
            content_type: content_type(&key),
            cache_control: cache_control(&key),
            key,
            body,
        });
    }
    Ok(())
}

/// The `Content-Type` of an object, by its extension.
pub fn content_type(key: &str) -> &'static str {
    let extension = key
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase());
    match extension.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("txt") => "text/plain; charset=utf-8",
        Some("xml") => "application/xml",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("avif") => "image/avif",
        Some("ico") => "image/x-icon",
        Some("woff") => "font/woff",
        Some("woff2") => "font/woff2",
        Some("ttf") => "font/ttf",
        Some("otf") => "font/otf",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// The `Cache-Control` of an object: only `assets/` holds content-hashed names.
pub fn cache_control(key: &str) -> &'static str {
    if key.starts_with(ASSETS_PREFIX) {
        IMMUTABLE
    } else {
        REVALIDATE
    }
}

/// Uploads `files`, then deletes every other object; returns (uploaded, removed).
async fn publish(s3: &Client, bucket: &str, files: &[SiteFile]) -> Result<(usize, usize), Error> {
    for file in files {
        s3.put_object()
            .bucket(bucket)
            .key(&file.key)
            .content_type(file.content_type)
            .cache_control(file.cache_control)
            .body(ByteStream::from(file.body.clone()))
            .send()
            .await
            .map_err(|e| Error::Upload {
                bucket: bucket.to_owned(),
                key: file.key.clone(),
                message: sdk_message(&e),
            })?;
    }
    let keep: BTreeSet<&str> = files.iter().map(|f| f.key.as_str()).collect();
    let stale: Vec<String> = list(s3, bucket)
        .await?
        .unwrap_or_default()
        .into_iter()
        .filter(|key| !keep.contains(key.as_str()))
        .collect();
    delete(s3, bucket, &stale).await?;
    Ok((files.len(), stale.len()))
}

/// Deletes every object of `bucket` (none when it no longer exists); returns how many.
async fn empty(s3: &Client, bucket: &str) -> Result<usize, Error> {
    let Some(keys) = list(s3, bucket).await? else {
        tracing::info!(bucket, "the bucket no longer exists");
        return Ok(0);
    };
    delete(s3, bucket, &keys).await?;
    Ok(keys.len())
}

/// Every key in `bucket`; `None` when the bucket does not exist.
async fn list(s3: &Client, bucket: &str) -> Result<Option<Vec<String>>, Error> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = match s3
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token)
            .send()
            .await
        {
            Ok(page) => page,
            Err(e) if e.code() == Some("NoSuchBucket") => return Ok(None),
            Err(e) => {
                return Err(Error::List {
                    bucket: bucket.to_owned(),
                    message: sdk_message(&e),
                });
            }
        };
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        match page.next_continuation_token() {
            Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
            _ => return Ok(Some(keys)),
        }
    }
}

async fn delete(s3: &Client, bucket: &str, keys: &[String]) -> Result<(), Error> {
    for batch in keys.chunks(DELETE_BATCH) {
        let failed = |key: &str, message: String| Error::Delete {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            message,
        };
        let objects = batch
            .iter()
            .map(|key| {
                ObjectIdentifier::builder()
                    .key(key)
                    .build()
                    .map_err(|e| failed(key, e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let request = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| failed(&batch[0], e.to_string()))?;
        let out = s3
            .delete_objects()
            .bucket(bucket)
            .delete(request)
            .send()
            .await
            .map_err(|e| failed(&batch[0], sdk_message(&e)))?;
        if let Some(err) = out.errors().first() {
            return Err(failed(
                err.key().unwrap_or("?"),
                format!(
                    "{}: {} ({} of {} keys not deleted)",
                    err.code().unwrap_or("error"),
                    err.message().unwrap_or_default(),
                    out.errors().len(),
                    batch.len()
                ),
            ));
        }
    }
    Ok(())
}

fn sdk_message<E, R>(err: &SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    DisplayErrorContext(err).to_string()
}

fn truncate(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// PUTs the answer to the pre-signed `url`, retrying transient failures. The URL carries a
/// signature, so neither it nor an error that contains it is logged.
async fn respond(http: &reqwest::Client, url: &str, answer: &Answer) -> Result<(), Error> {
    let body = serde_json::to_vec(answer).expect("the answer serializes");
    let mut last = String::new();
    for attempt in 1..=RESPONSE_ATTEMPTS {
        // No Content-Type: the URL is signed for an empty one.
        match http.put(url).body(body.clone()).send().await {
            Ok(res) if res.status().is_success() => {
                tracing::info!(status = ?answer.status, attempt, "answered CloudFormation");
                return Ok(());
            }
            Ok(res) => last = format!("the response URL answered {}", res.status()),
            Err(e) => last = e.without_url().to_string(),
        }
        tracing::warn!(attempt, error = last, "answering CloudFormation failed");
        if attempt < RESPONSE_ATTEMPTS {
            tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
        }
    }
    Err(Error::Respond(format!(
        "{last} (after {RESPONSE_ATTEMPTS} attempts)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_cache_policies_follow_the_key() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("assets/app-abc123.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("assets/x.CSS"), "text/css; charset=utf-8");
        assert_eq!(content_type("config.json"), "application/json");
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
        assert_eq!(cache_control("index.html"), REVALIDATE);
        assert_eq!(cache_control("favicon.svg"), REVALIDATE);
        assert_eq!(cache_control("assets/app-abc123.js"), IMMUTABLE);
    }

    #[test]
    fn long_reasons_are_cut_on_a_character_boundary() {
        let reason = "é".repeat(REASON_LIMIT);
        let cut = truncate(&reason, REASON_LIMIT);
        assert!(cut.len() <= REASON_LIMIT + '…'.len_utf8(), "{}", cut.len());
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("short", REASON_LIMIT), "short");
    }

    #[test]
    fn the_budget_keeps_a_margin_and_never_goes_negative() {
        let in_a_minute = SystemTime::now() + Duration::from_secs(60);
        let left = budget(in_a_minute);
        assert!(
            left <= Duration::from_secs(50) && left > Duration::from_secs(45),
            "{left:?}"
        );
        assert_eq!(budget(SystemTime::now()), Duration::ZERO);
        // A timeout sent in place of a deadline is the time left.
        let timeout = budget(UNIX_EPOCH + Duration::from_secs(600));
        assert_eq!(timeout, Duration::from_secs(590));
        // A 3 s timeout keeps a third back, not all of it.
        let short = budget(SystemTime::now() + Duration::from_secs(3));
        assert!(
            short <= Duration::from_secs(2) && short > Duration::from_millis(1500),
            "{short:?}"
        );
    }
}
