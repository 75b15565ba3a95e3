//! `boreas.yaml`: model, parsing with positions, validation, JSON Schema.

mod model;
mod scalar;

pub use model::*;
pub use scalar::MAX_DURATION_SECONDS;
