//! `boreas.yaml`: model, parsing with positions, validation, JSON Schema.
//!
//! [`parse`] turns the text into a [`Config`] or into every problem found, each with line,
//! column and field path. [`json_schema`] is the published schema, generated from the model.

mod error;
mod hooks;
mod model;
mod parse;
mod scalar;
mod yaml;

pub use error::{ConfigError, ConfigErrors};
pub use hooks::*;
pub use model::*;
pub use parse::{MAX_NAME_LEN, is_valid_name, parse, parse_release};
pub use scalar::MAX_DURATION_SECONDS;

/// The JSON Schema of `boreas.yaml` (draft 2020-12), as published in `schema/boreas.schema.json`.
pub fn json_schema() -> serde_json::Value {
    schemars::schema_for!(Config).to_value()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod hooks_tests;
