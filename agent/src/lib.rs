//! `boreas-agent`: the Boreas PM agent. It pulls its host's commands from its own SQS queue,
//! installs releases, switches them atomically, health-checks them, rolls back, reports to Step
//! Functions, and keeps a journal so a crash at any point is finished or undone on restart.

pub mod agent;
pub mod check;
pub mod config;
pub mod error;
pub mod fetch;
pub mod fleet;
pub mod health;
pub mod hooks;
pub mod http;
pub mod journal;
pub mod output;
pub mod procenv;
pub mod release;
pub mod service;
pub mod validate;

pub use error::Error;
