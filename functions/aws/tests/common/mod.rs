//! Helpers shared by the template and provisioning tests: the project's Python tools, template facts,
//! unique prefixes and the state machine definition.

#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use boreas_aws::emulator;

pub(crate) fn root() -> PathBuf {
    emulator::workspace_root()
}

/// A program from the project virtualenv (`make venv` creates it).
pub(crate) fn venv_bin(name: &str) -> PathBuf {
    let path = emulator::venv_dir(&root()).join("bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `make venv`",
        path.display()
    );
    path
}

pub(crate) fn template() -> PathBuf {
    root().join("infra/template.yaml")
}

/// Runs a command from the workspace root, returning its output whatever the exit status.
pub(crate) fn run(program: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
}

pub(crate) fn stdout_of_success(program: &Path, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{} {args:?} failed ({}):\n{}\n{}",
        program.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// What the template declares, names resolved for `prefix` (see `infra/template_facts.py`).
pub(crate) fn template_facts(prefix: &str) -> serde_json::Value {
    let python = venv_bin("python");
    let script = root().join("infra/template_facts.py");
    let out = stdout_of_success(
        &python,
        &[
            script.to_str().unwrap(),
            template().to_str().unwrap(),
            prefix,
        ],
    );
    serde_json::from_str(&out).expect("template facts are JSON")
}

/// The project's state machine definition.
pub(crate) fn project_asl() -> PathBuf {
    let path = root().join("statemachine/deployment.asl.json");
    assert!(path.exists(), "{} is missing", path.display());
    path
}
