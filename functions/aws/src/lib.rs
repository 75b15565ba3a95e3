//! Adapters between Boreas and AWS.
