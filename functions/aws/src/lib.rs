//! Adapters between Boreas and AWS.

pub mod names;
