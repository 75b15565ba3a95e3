//! Adapters between Boreas and AWS.

pub mod artifacts;
pub mod batch;
pub mod client;
pub mod emulator;
pub mod env;
pub mod error;
pub mod history;
pub mod lifecycle;
pub mod logging;
pub mod names;
pub mod notices;
pub mod orchestrator;
pub mod policy;
pub mod provision;
pub mod queues;
pub mod secrets;
pub mod store;

pub use client::sdk_config;
pub use error::Error;

use std::future::Future;
use std::pin::Pin;

/// The future the adapter traits' methods return: boxed, so that the traits stay object safe and
/// handlers can hold adapters as `Arc<dyn Trait>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;
