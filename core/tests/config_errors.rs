//! The example files parse as documented: the valid one into a config, the invalid one into
//! exactly the listed errors, which proves lines and columns are right.

use boreas_core::config::{self, AppKind, BatchSize, Pause};

fn read(relative: &str) -> String {
    let path = format!("{}/../examples/{relative}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn environment_policy_example_is_valid() {
    let config = match config::parse(&read("environment-policy.yaml")) {
        Ok(config) => config,
        Err(errors) => panic!("examples/environment-policy.yaml:\n{errors}"),
    };
    let promotion = config.environments[1]
        .promotion
        .as_ref()
        .expect("prod's promotion");
    assert_eq!(promotion.after, ["staging"]);
    assert_eq!(promotion.soak, Some(config::DurationSpec(3600)));
    assert_eq!(config.freezes.len(), 1);
    assert!(config.freezes[0].window().is_ok());
}

#[test]
fn example_is_valid() {
    let config = match config::parse(&read("boreas.yaml")) {
        Ok(config) => config,
        Err(errors) => panic!("examples/boreas.yaml:\n{errors}"),
    };
    let names: Vec<&str> = config.apps.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["db-migrate", "api", "worker", "web"]);
    assert_eq!(config.environments.len(), 2);
    assert!(config.environments[0].auto_confirm);
    let api = &config.apps[1];
    assert_eq!(api.kind, AppKind::Pm);
    assert_eq!(api.rollout.pause, Pause::Manual);
    assert_eq!(
        api.rollout.batches,
        [
            BatchSize::Count(1),
            BatchSize::Percent(25),
            BatchSize::Percent(100)
        ]
    );
    assert_eq!(config.apps[3].kind, AppKind::K8s);
}

#[test]
fn invalid_example_reports_every_error_where_it_is() {
    let errors = match config::parse(&read("invalid/boreas.yaml")) {
        Ok(_) => panic!("examples/invalid/boreas.yaml parsed"),
        Err(errors) => errors,
    };
    let lines: Vec<String> = errors.errors().iter().map(ToString::to_string).collect();
    let expected: Vec<&str> = EXPECTED.lines().collect();
    assert_eq!(lines, expected, "got:\n{}", lines.join("\n"));
}

/// Every error of `examples/invalid/boreas.yaml`, as `boreas validate` prints them after the
/// file name.
const EXPECTED: &str = r#"6:19: environments[0].auto_confirm: expected true or false, found the string "yes" (YAML 1.2 reads it as text)
8:11: environments[2].name: duplicate environment name "prod" (first at line 7)
11:9: triggers.tags: "v[0-9" is not a valid glob: unclosed character class; missing ']'
16:18: apps[0].depends_on[0]: unknown app "db"
16:22: apps[0].depends_on[1]: dependency cycle: api -> web -> api
18:27: apps[0].rollout.batches[2]: "25%" is not more than the batch before it ("50%"); batches are cumulative and must increase
18:27: apps[0].rollout.batches[2]: the last batch must be "100%", found "25%"
19:14: apps[0].rollout.pause: expected a duration like "5m", "manual" or "none", found "5 minutes"
20:20: apps[0].rollout.parallelism: must be at least 1, found 0
23:9: apps[0].pm.hosts.production: "production" is not a declared environment (did you mean `prod`?); declared: staging, prod
25:14: apps[0].pm.artifact.url: "https://releases.example.com/api.tar.gz" must contain {version}, which is replaced by the version being deployed
26:17: apps[0].pm.artifact.sha256: must be 64 hexadecimal characters (a SHA-256 digest), found 3 characters
27:9: apps[0].pm.artifact.sha256_url: give either `sha256` or `sha256_url`, not both
27:21: apps[0].pm.artifact.sha256_url: "https://releases.example.com/api.tar.gz.sha256" must contain {version}, which is replaced by the version being deployed
30:9: apps[0].pm.run.systemd: give either `command` or `systemd`, not both
33:18: apps[0].pm.health.timeout: expected a duration like "30s", "5m" or "1h30m", found "-1s"
39:17: apps[1].rollout.batches[0]: a host count (2) makes no sense for a k8s app: its batches set the share of replicas on the new version; use a percentage like "10%"
39:20: apps[1].rollout.batches[1]: "120%" is over 100%
45:14: apps[1].k8s.image: "registry.example.com/web:latest" must contain {version}, which is replaced by the version being deployed
46:7: apps[1].k8s.replicas: unknown field `replicas`; allowed: clusters, namespace, deployment, container, image
48:5: apps[2].pm: required field is missing: a `pm` app needs a `pm` section
48:11: apps[2].name: "Worker" is not a valid app name: use 1 to 40 lowercase letters, digits and '-', starting and ending with a letter or digit"#;
