//! The published JSON Schema (`schema/boreas.schema.json`) is the one generated from the model,
//! and the example config fits it.
//!
//! Regenerate after changing the model:
//! `BOREAS_UPDATE_SCHEMA=1 cargo test -p boreas-core --test schema`

fn schema_path() -> String {
    format!(
        "{}/../schema/boreas.schema.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn generated() -> String {
    let mut text = serde_json::to_string_pretty(&boreas_core::config::json_schema())
        .expect("schema serializes");
    text.push('\n');
    text
}

#[test]
fn committed_schema_is_current() {
    let path = schema_path();
    let fresh = generated();
    if std::env::var_os("BOREAS_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &fresh).unwrap_or_else(|e| panic!("{path}: {e}"));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{path} is stale or missing; regenerate it with:\n    BOREAS_UPDATE_SCHEMA=1 cargo test -p boreas-core --test schema"
    );
}
