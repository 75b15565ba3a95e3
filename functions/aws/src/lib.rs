//! Adapters between Boreas and AWS.

pub mod client;
pub mod emulator;
pub mod error;
pub mod names;
pub mod provision;
pub mod store;

pub use client::sdk_config;
pub use error::Error;
