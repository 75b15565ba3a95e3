//! `functions/api/openapi.json` is the document the api serves, generated from the route table
//! and the wire types; and that document is valid OpenAPI 3.1 (`openapi-spec-validator`).
//!
//! Regenerate after changing a route or a wire type:
//! `BOREAS_UPDATE_OPENAPI=1 cargo test -p boreas-api --test openapi`

use std::path::PathBuf;
use std::process::Command;

use boreas_aws::emulator;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openapi.json")
}

#[test]
fn committed_document_is_current() {
    let path = committed_path();
    let fresh = boreas_api::openapi::text();
    if std::env::var_os("BOREAS_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &fresh).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} is stale or missing; regenerate it with:\n    BOREAS_UPDATE_OPENAPI=1 cargo test -p boreas-api --test openapi",
        path.display()
    );
}

#[test]
fn the_document_is_valid_openapi() {
    let validator =
        emulator::venv_program("openapi-spec-validator").expect("the project virtualenv");
    let file = std::env::temp_dir().join(format!("boreas-openapi-{}.json", std::process::id()));
    std::fs::write(&file, boreas_api::openapi::text()).unwrap();
    let out = Command::new(&validator).arg(&file).output().unwrap();
    std::fs::remove_file(&file).ok();
    assert!(
        out.status.success(),
        "openapi-spec-validator refuses the document:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
