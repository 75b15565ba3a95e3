//! The test-support crate stays out of every product: only test crates (under `tests/`) may
//! depend on it outside `[dev-dependencies]`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

#[test]
fn only_test_crates_depend_on_it_outside_dev_dependencies() {
    let root = boreas_aws::emulator::workspace_root();
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(&root)
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
    let tests_dir = root.join("tests");
    let mut dev_users = Vec::new();
    let mut offenders = Vec::new();
    for package in metadata["packages"].as_array().expect("packages") {
        let name = package["name"].as_str().unwrap_or_default();
        let manifest = Path::new(package["manifest_path"].as_str().unwrap_or_default());
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            if dep["name"] != "boreas-test-support" {
                continue;
            }
            match dep["kind"].as_str() {
                Some("dev") => dev_users.push(name.to_owned()),
                _ if manifest.starts_with(&tests_dir) => {}
                kind => offenders.push(format!("{name} ({})", kind.unwrap_or("normal"))),
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "product crates depending on boreas-test-support: {offenders:?}"
    );
    // The check sees the workspace: the crates that use it in their tests are there.
    assert!(dev_users.iter().any(|n| n == "boreas-aws"), "{dev_users:?}");
}
