//! The request bodies Boreas sends git hosts (written by core's rendering tests under
//! `fixtures/notify`) against the hosts' published request schemas.

use std::path::PathBuf;

use boreas_test_support::git_hosts::request_problems;

#[test]
fn every_git_host_body_fixture_follows_its_published_schema() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/notify");
    let mut checked = Vec::new();
    for provider in ["github", "gitlab", "gitea"] {
        for entry in std::fs::read_dir(dir.join(provider)).unwrap() {
            let path = entry.unwrap().path();
            let operation = format!("{provider}/{}", path.file_stem().unwrap().to_str().unwrap());
            let body: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let problems = request_problems(&operation, &body);
            assert!(problems.is_empty(), "{operation}: {problems:?}");
            checked.push(operation);
        }
    }
    checked.sort();
    assert_eq!(
        checked,
        [
            "gitea/repoCreateStatus",
            "github/repos_create-commit-status",
            "github/repos_create-deployment",
            "github/repos_create-deployment-status",
            "gitlab/create-commit-status",
        ]
    );
}
