//! Boreas's domain, pure: versions and their order, the `boreas.yaml` model and its validation,
//! the planner, plan adjustments, the commands and events exchanged with workers, what
//! notifications say, and how analysis measurements add up to a verdict.
//!
//! Nothing here does I/O: no tokio, no AWS, no network, no filesystem. Callers read files and
//! talk to services; this crate decides.

#[macro_use]
mod macros;

pub mod adjust;
pub mod analysis;
pub mod command;
pub mod config;
pub mod deployment;
pub mod execution;
pub mod history;
pub mod notify;
pub mod plan;
pub mod planner;
pub mod policy;
pub mod repository;
pub mod review;
pub mod role;
pub mod rollout;
pub mod status;
pub mod version;
pub mod webhook;
