//! `boreas.yaml`: model, parsing with positions, validation, JSON Schema.

mod model;

pub use model::*;
