//! Decoding and validation of `boreas.yaml`: node tree → [`Config`], collecting every error.
//!
//! Each field is decoded by hand so an error can name its exact position and path, and so one
//! bad field never hides the others: decoders return `None` after recording an error and the
//! walk goes on. Cross-field rules (kinds and sections, names of environments, dependencies and
//! their cycles) run on whatever decoded.
//!
//! - [`decoder`]: the error list and the rules shared by every section (field access, strings,
//!   names, numbers, durations, globs, per-environment lists);
//! - [`sections`]: the schema walk, one module per section of the file;
//! - [`graph`]: the checks that span apps (unique names, known dependencies, cycles).

mod decoder;
mod graph;
mod sections;

use super::error::{ConfigError, ConfigErrors};
use super::hooks::ReleaseFile;
use super::model::Config;
use super::yaml::{self, Pos};
use decoder::Decoder;

pub use decoder::{MAX_NAME_LEN, is_valid_name};

/// Reads and validates a `boreas.yaml`. On failure returns every problem found, sorted by
/// position.
pub fn parse(source: &str) -> Result<Config, ConfigErrors> {
    let root = match yaml::read(source) {
        Ok(Some(root)) => root,
        Ok(None) => {
            return Err(ConfigErrors::new(vec![ConfigError::new(
                Pos { line: 1, column: 1 },
                "",
                "the file is empty; expected a mapping with `environments` and `apps`",
            )]));
        }
        Err(errors) => return Err(ConfigErrors::new(errors)),
    };
    let mut decoder = Decoder::default();
    let config = decoder.config(&root);
    match config {
        Some(config) if decoder.errors.is_empty() => Ok(config),
        _ => Err(ConfigErrors::new(decoder.errors)),
    }
}

/// Reads and validates a release file (`boreas-release.yaml`). An empty file sets nothing.
pub fn parse_release(source: &str) -> Result<ReleaseFile, ConfigErrors> {
    let root = match yaml::read(source) {
        Ok(Some(root)) => root,
        Ok(None) => return Ok(ReleaseFile::default()),
        Err(errors) => return Err(ConfigErrors::new(errors)),
    };
    let mut decoder = Decoder::default();
    let release = decoder.release_file(&root);
    match release {
        Some(release) if decoder.errors.is_empty() => Ok(release),
        _ => Err(ConfigErrors::new(decoder.errors)),
    }
}
