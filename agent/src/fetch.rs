//! Downloads artifacts (`file://`, `https://`/`http://`, `s3://`) to a file, hashing while
//! streaming so a mismatch is known without reading the file twice. HTTP downloads resume an
//! interrupted partial file with a range request.

use std::path::Path;
use std::time::Duration;

use boreas_aws::artifacts::{Artifacts, S3Artifacts};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Error;
use crate::http::HttpClient;

/// Bytes read at a time from files.
const CHUNK: usize = 64 * 1024;
/// Time allowed until the response head arrives.
const HEAD_TIMEOUT: Duration = Duration::from_secs(60);
/// Time allowed between two body chunks before a download counts as stalled.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Lifetime of the presigned link an S3 download goes through.
const PRESIGN_FOR: Duration = Duration::from_secs(15 * 60);
/// Largest SHA-256 file read.
const MAX_HASH_FILE: usize = 4096;

/// Fetches artifacts over every supported scheme.
#[derive(Debug)]
pub struct Fetcher {
    http: HttpClient,
    aws: aws_config::SdkConfig,
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn download_error(url: &str, message: impl Into<String>) -> Error {
    Error::Download {
        url: url.to_owned(),
        message: message.into(),
    }
}

impl Fetcher {
    /// A fetcher reaching S3 with `aws`.
    pub fn new(aws: aws_config::SdkConfig) -> Self {
        Self {
            http: HttpClient::default(),
            aws,
        }
    }

    /// The HTTP client, shared with HTTP health checks.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// Downloads `url` into `dest` and returns the SHA-256 (hex) of its content. A partial `dest`
    /// left by an interrupted HTTP download is continued, not restarted.
    pub async fn download(&self, url: &str, dest: &Path) -> Result<String, Error> {
        if let Some(path) = url.strip_prefix("file://") {
            self.fetch_file(url, Path::new(path), dest).await
        } else if url.starts_with("https://") || url.starts_with("http://") {
            self.fetch_http(url, url, dest).await
        } else if let Some(rest) = url.strip_prefix("s3://") {
            self.fetch_s3(url, rest, dest).await
        } else {
            Err(download_error(
                url,
                "unsupported scheme; use file://, https://, http:// or s3://",
            ))
        }
    }

    /// The expected SHA-256 published at `url`: the first word of a `sha256sum`-style file.
    pub async fn sha256_file(&self, url: &str, scratch: &Path) -> Result<String, Error> {
        self.download(url, scratch).await?;
        let text = tokio::fs::read(scratch).await.map_err(Error::io(scratch))?;
        let _ = tokio::fs::remove_file(scratch).await;
        if text.len() > MAX_HASH_FILE {
            return Err(download_error(url, "the sha256 file is too large"));
        }
        let text = String::from_utf8_lossy(&text);
        let word = text.split_whitespace().next().unwrap_or_default();
        if crate::validate::is_sha256_hex(word) {
            Ok(word.to_ascii_lowercase())
        } else {
            Err(download_error(
                url,
                "the sha256 file does not start with 64 hexadecimal digits",
            ))
        }
    }

    async fn fetch_file(&self, url: &str, src: &Path, dest: &Path) -> Result<String, Error> {
        let mut input = tokio::fs::File::open(src)
            .await
            .map_err(|e| download_error(url, e.to_string()))?;
        let mut output = tokio::fs::File::create(dest)
            .await
            .map_err(Error::io(dest))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0; CHUNK];
        loop {
            let n = input
                .read(&mut buf)
                .await
                .map_err(|e| download_error(url, e.to_string()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            output.write_all(&buf[..n]).await.map_err(Error::io(dest))?;
        }
        finish(output, dest).await?;
        Ok(hex(&hasher.finalize()))
    }

    /// Downloads `link`; errors and logs name `url`, since a presigned link carries a signature.
    async fn fetch_http(&self, url: &str, link: &str, dest: &Path) -> Result<String, Error> {
        // Hash what an interrupted download left, then ask for the rest.
        let mut hasher = Sha256::new();
        let mut have = 0u64;
        if let Ok(mut partial) = tokio::fs::File::open(dest).await {
            let mut buf = vec![0; CHUNK];
            loop {
                let n = partial.read(&mut buf).await.map_err(Error::io(dest))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                have += n as u64;
            }
        }
        let range = (have > 0).then(|| (http::header::RANGE, format!("bytes={have}-")));
        let mut response = self
            .http
            .get(link, range.as_slice(), HEAD_TIMEOUT)
            .await
            .map_err(|e| download_error(url, e))?;
        let mut output = match response.status.as_u16() {
            206 if have > 0 => {
                tracing::info!(url, resumed_at = have, "download resumed");
                tokio::fs::OpenOptions::new()
                    .append(true)
                    .open(dest)
                    .await
                    .map_err(Error::io(dest))?
            }
            // Nothing left to send: the partial file is already whole. Its hash is checked
            // against the expected one like any download (a mismatch removes it).
            416 if have > 0 => {
                tracing::info!(url, size = have, "download was already complete");
                return Ok(hex(&hasher.finalize()));
            }
            200..=299 => {
                hasher = Sha256::new();
                tokio::fs::File::create(dest)
                    .await
                    .map_err(Error::io(dest))?
            }
            status => {
                return Err(download_error(url, format!("HTTP status {status}")));
            }
        };
        loop {
            let chunk = tokio::time::timeout(STALL_TIMEOUT, response.chunk())
                .await
                .map_err(|_| download_error(url, "stalled: no data for 60 s"))?
                .map_err(|e| download_error(url, e))?;
            let Some(chunk) = chunk else { break };
            hasher.update(&chunk);
            output.write_all(&chunk).await.map_err(Error::io(dest))?;
        }
        finish(output, dest).await?;
        Ok(hex(&hasher.finalize()))
    }

    /// S3 objects are fetched through a short-lived presigned link so they stream (and resume)
    /// like any HTTP download instead of being held in memory.
    async fn fetch_s3(&self, url: &str, rest: &str, dest: &Path) -> Result<String, Error> {
        let (bucket, key) = rest
            .split_once('/')
            .filter(|(b, k)| !b.is_empty() && !k.is_empty())
            .ok_or_else(|| download_error(url, "an s3 URL is s3://BUCKET/KEY"))?;
        let link = S3Artifacts::from_config(&self.aws, bucket)
            .presign_get(key, PRESIGN_FOR)
            .await
            .map_err(|e| download_error(url, e.to_string()))?;
        self.fetch_http(url, &link, dest).await
    }
}

/// Flushes a downloaded file to disk so a crash right after cannot leave a short file that a
/// resumed download would trust.
async fn finish(mut output: tokio::fs::File, dest: &Path) -> Result<(), Error> {
    output.flush().await.map_err(Error::io(dest))?;
    output.sync_all().await.map_err(Error::io(dest))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that answers every range request with 416 (the whole file is already there) and
    /// a plain request with `body`; stops after `requests` connections.
    async fn range_refusing_server(body: &'static [u8], requests: usize) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            for _ in 0..requests {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut head = vec![0; 4096];
                let n = s.read(&mut head).await.unwrap();
                let head = String::from_utf8_lossy(&head[..n]).to_ascii_lowercase();
                let answer = if head.contains("\r\nrange:") {
                    format!(
                        "HTTP/1.1 416 Range Not Satisfiable\r\ncontent-range: bytes */{}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes()
                } else {
                    let mut a = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    a.extend_from_slice(body);
                    a
                };
                s.write_all(&answer).await.unwrap();
            }
        });
        port
    }

    /// A download interrupted after its last byte resumes with a range the server cannot satisfy:
    /// the part is whole, so its hash is the answer instead of an error forever after.
    #[tokio::test]
    async fn a_complete_part_answered_416_on_resume_is_done() {
        const BODY: &[u8] = b"the whole artifact";
        let port = range_refusing_server(BODY, 2).await;
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("a.part");
        let aws = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let fetcher = Fetcher::new(aws);
        let url = format!("http://127.0.0.1:{port}/a.tar.gz");
        let whole = hex(&Sha256::digest(BODY));
        assert_eq!(fetcher.download(&url, &part).await.unwrap(), whole);
        assert_eq!(fetcher.download(&url, &part).await.unwrap(), whole);
        assert_eq!(std::fs::read(&part).unwrap(), BODY);
    }

    #[test]
    fn hex_is_lower_case_pairs() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
        assert_eq!(
            hex(&Sha256::digest(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
