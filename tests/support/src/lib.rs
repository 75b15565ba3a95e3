//! What Boreas's tests and benchmarks share, so that each is written once:
//! - [`git`]: the git CLI, working repositories with deterministic commits, a smart-HTTP server;
//! - [`http`]: a recording HTTP server for the calls made to git hosts' APIs;
//! - [`git_hosts`]: the git hosts' published request schemas, to check what is sent them;
//! - [`github_app`]: a GitHub App's key pair and GitHub's answers to the App's calls;
//! - [`webhook`]: the providers' published payloads, tag pushes made from them, signed headers;
//! - [`emulator`]: prefixes provisioned on the local AWS emulator as `boreas provision` does;
//! - [`sfn`]: the deployment state machine on the emulator with scripted workers;
//! - [`records`]: store records (repositories, versions, deployments, agents) and the example
//!   configuration's plans;
//! - [`lists`]: a page of a list read as the store reads it, with what it cost;
//! - [`prometheus`]: a real Prometheus server scraping local targets.
//!
//! A dev-dependency only (test crates under `tests/` may hold it as a dependency of their own
//! harness library): no product crate links it.

pub mod emulator;
pub mod git;
pub mod git_hosts;
pub mod github_app;
pub mod http;
pub mod lists;
pub mod prometheus;
pub mod records;
pub mod sfn;
pub mod webhook;
