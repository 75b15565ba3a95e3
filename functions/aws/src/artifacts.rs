//! S3: release artifacts for PM agents, and presigned links to them.

use std::fmt;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;

use crate::{BoxFuture, Error};

const SERVICE: &str = "s3";

/// Objects in one bucket.
pub trait Artifacts: Send + Sync + fmt::Debug {
    /// Stores `body` under `key`.
    fn put<'a>(&'a self, key: &'a str, body: Vec<u8>, content_type: &'a str) -> BoxFuture<'a, ()>;
    /// The object under `key`; [`Error::NotFound`] naming it when absent.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Vec<u8>>;
    /// A URL that lets anyone GET the object for `expires_in` (at most 7 days).
    fn presign_get<'a>(&'a self, key: &'a str, expires_in: Duration) -> BoxFuture<'a, String>;
}

/// The [`Artifacts`] in one S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Artifacts {
    client: Client,
    bucket: String,
}

impl S3Artifacts {
    /// Objects in `bucket` through `client`.
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    /// Objects in `bucket` with a client built from `config`. With a custom endpoint (an
    /// emulator) buckets are addressed by path, since `BUCKET.127.0.0.1` does not resolve.
    pub fn from_config(config: &aws_config::SdkConfig, bucket: impl Into<String>) -> Self {
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Self::new(Client::from_conf(s3), bucket)
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn what(&self, key: &str) -> String {
        format!("object s3://{}/{key}", self.bucket)
    }
}

impl Artifacts for S3Artifacts {
    fn put<'a>(&'a self, key: &'a str, body: Vec<u8>, content_type: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type(content_type)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| Error::sdk(SERVICE, &e))?;
            Ok(())
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Vec<u8>> {
        Box::pin(async move {
            let result = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await;
            let out = match result {
                Ok(out) => out,
                Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                    return Err(Error::not_found(self.what(key)));
                }
                Err(e) => return Err(Error::sdk(SERVICE, &e)),
            };
            let body = out.body.collect().await.map_err(|e| Error::Sdk {
                service: SERVICE,
                message: format!("reading {}: {e}", self.what(key)),
            })?;
            Ok(body.into_bytes().to_vec())
        })
    }

    fn presign_get<'a>(&'a self, key: &'a str, expires_in: Duration) -> BoxFuture<'a, String> {
        Box::pin(async move {
            let config = PresigningConfig::expires_in(expires_in)
                .map_err(|e| Error::invalid_input(format!("presign expiry {expires_in:?}: {e}")))?;
            let request = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .presigned(config)
                .await
                .map_err(|e| Error::sdk(SERVICE, &e))?;
            Ok(request.uri().to_owned())
        })
    }
}
