//! `pm.hooks`, `pm.release_hooks`, `pm.run_as`, `pm.env` and the release file.

use super::*;

const HEAD: &str = "environments:\n  - name: staging\n  - name: prod\napps:\n";

/// A PM app named `shop` with `pm_extra` lines appended to its `pm` section.
fn shop(pm_extra: &str) -> String {
    format!(
        "{HEAD}  - name: shop\n    kind: pm\n    pm:\n      hosts:\n        prod: [h-1]\n      artifact:\n        url: \"s3://b/{{version}}/a.tgz\"\n        sha256_url: \"s3://b/{{version}}/a.tgz.sha256\"\n      run: {{command: [./run]}}\n      health: {{http: \"http://127.0.0.1:8080/healthz\"}}\n{pm_extra}"
    )
}

fn messages(source: &str) -> Vec<String> {
    match parse(source) {
        Ok(_) => panic!("expected errors for:\n{source}"),
        Err(errors) => errors
            .errors()
            .iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect(),
    }
}

fn pm(source: &str) -> PmSpec {
    match parse(source) {
        Ok(config) => config.apps[0].pm.clone().expect("pm section"),
        Err(errors) => panic!("expected a valid config, got:\n{errors}\n--- source:\n{source}"),
    }
}

#[test]
fn hooks_take_a_command_and_limits_with_defaults() {
    let pm = pm(&shop(
        "      run_as: shop\n      hooks:\n        before_install: {command: [./prepare, --fast]}\n        validate: {command: [sh, -c, \"curl -f localhost\"], timeout: 30s, retries: 2, grace: 3s, run_as: probe, working_dir: bin}\n        stop: {command: [/usr/bin/true], working_dir: /srv/shop}\n      release_hooks: [validate, stop]\n",
    ));
    assert_eq!(pm.run_as.as_deref(), Some("shop"));
    let before = pm.hooks.get(HookName::BeforeInstall).unwrap();
    assert_eq!(before.command, ["./prepare", "--fast"]);
    assert_eq!(before.timeout, HookSpec::default_timeout());
    assert_eq!(before.retries, 0);
    assert_eq!(before.grace, HookSpec::default_grace());
    assert_eq!(before.run_as, None);
    let validate = pm.hooks.validate.as_ref().unwrap();
    assert_eq!(
        (
            validate.timeout,
            validate.retries,
            validate.grace,
            validate.run_as.as_deref(),
            validate.working_dir.as_deref()
        ),
        (
            DurationSpec(30),
            2,
            DurationSpec(3),
            Some("probe"),
            Some("bin")
        )
    );
    assert_eq!(
        pm.hooks.stop.as_ref().unwrap().working_dir.as_deref(),
        Some("/srv/shop")
    );
    assert_eq!(pm.release_hooks, [HookName::Validate, HookName::Stop]);
    assert_eq!(
        pm.hooks.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        [HookName::BeforeInstall, HookName::Validate, HookName::Stop]
    );
}

#[test]
fn bad_hooks_are_named() {
    assert_eq!(
        messages(&shop(
            "      hooks:\n        before_instal: {command: [x]}\n        stop: {command: []}\n        drain: {command: [x], timeout: 0s, retries: -1}\n        validate: {command: [x], run_as: Root, working_dir: ../up}\n"
        )),
        [
            "apps[0].pm.hooks.before_instal: unknown field `before_instal` (did you mean `before_install`?); allowed: before_install, after_install, start, validate, stop, drain, rollback",
            "apps[0].pm.hooks.stop.command: must list at least the program to run",
            "apps[0].pm.hooks.drain.timeout: \"0s\" is no time at all; it must be longer than 0s",
            "apps[0].pm.hooks.drain.retries: must be at least 0, found -1",
            "apps[0].pm.hooks.validate.run_as: \"Root\" is not a valid user name: 1 to 32 lowercase letters, digits, '_' and '-', starting with a letter or '_'",
            "apps[0].pm.hooks.validate.working_dir: \"../up\" leaves the release directory; use an absolute path for a directory outside it",
        ]
    );
    assert_eq!(
        messages(&shop("      release_hooks: [validate, validate, strt]\n")),
        [
            "apps[0].pm.release_hooks[1]: duplicate hook \"validate\" (first at line 15)",
            "apps[0].pm.release_hooks[2]: expected one of `before_install`, `after_install`, `start`, `validate`, `stop`, `drain`, `rollback`, found the string \"strt\" (did you mean `start`?)",
        ]
    );
}

#[test]
fn a_start_hook_replaces_run_and_needs_a_stop_hook() {
    let without_run = shop("").replace("      run: {command: [./run]}\n", "");
    assert_eq!(
        messages(&without_run),
        [
            "apps[0].pm.run: required field is missing: give `run` (or a `hooks.start` that starts the app)"
        ]
    );
    let pm = pm(&format!(
        "{without_run}      hooks:\n        start: {{command: [./up]}}\n        stop: {{command: [./down]}}\n"
    ));
    assert_eq!(pm.run, None);
    assert!(pm.hooks.start.is_some());
    assert_eq!(
        messages(&format!(
            "{without_run}      hooks:\n        start: {{command: [./up]}}\n"
        )),
        [
            "apps[0].pm.hooks.start: a `start` hook needs a `stop` hook: the agent cannot stop what it did not start"
        ]
    );
}

#[test]
fn env_is_per_environment_with_defaults_and_scoped_ssm_references() {
    let pm = pm(&shop(
        "      env:\n        default: {LOG_LEVEL: info, GREETING: hello}\n        staging: {DATABASE_URL: \"postgres://staging-db/shop\"}\n        prod: {DATABASE_URL: \"ssm:/shop/prod/db-url\", GREETING: hi}\n",
    ));
    let prod = env_for(&pm.env, "prod");
    assert_eq!(
        prod,
        std::collections::BTreeMap::from([
            (
                "DATABASE_URL".to_owned(),
                "ssm:/shop/prod/db-url".to_owned()
            ),
            ("GREETING".to_owned(), "hi".to_owned()),
            ("LOG_LEVEL".to_owned(), "info".to_owned()),
        ])
    );
    assert_eq!(
        EnvValue::parse(&prod["DATABASE_URL"]),
        EnvValue::Ssm("/shop/prod/db-url")
    );
    let staging = env_for(&pm.env, "staging");
    assert_eq!(
        EnvValue::parse(&staging["DATABASE_URL"]),
        EnvValue::Literal("postgres://staging-db/shop")
    );
    assert_eq!(staging["GREETING"], "hello");
    assert_eq!(env_for(&pm.env, "dev").len(), 2);
}

#[test]
fn bad_env_is_named() {
    assert_eq!(
        messages(&shop(
            "      env:\n        prd: {A: b}\n        default: {SECRET: \"ssm:/shop/prod/x\"}\n        staging: {BOREAS_APP: x, 1X: y, PORT: 8080, DB: \"ssm:/shop/prod/db\", OTHER: \"ssm:/web/staging/db\", BAD: \"ssm:/shop/staging/a b\"}\n"
        )),
        [
            "apps[0].pm.env.prd: \"prd\" is not a declared environment (did you mean `prod`?); use one of staging, prod or `default`",
            "apps[0].pm.env.default.SECRET: `default` holds literal values only: a secret belongs to one environment, so put the `ssm:` reference under that environment",
            "apps[0].pm.env.staging.BOREAS_APP: BOREAS_APP is reserved: the agent sets the BOREAS_* variables itself",
            "apps[0].pm.env.staging.1X: \"1X\" is not a variable name: letters, digits and '_', not starting with a digit",
            "apps[0].pm.env.staging.PORT: expected a string, found the number 8080 (quote it to use it as text)",
            "apps[0].pm.env.staging.DB: SSM parameter \"/shop/prod/db\" is outside /shop/staging/: an app reads only parameters under /APP/ENVIRONMENT/ (here /shop/staging/NAME), which is what its hosts may read",
            "apps[0].pm.env.staging.OTHER: SSM parameter \"/web/staging/db\" is outside /shop/staging/: an app reads only parameters under /APP/ENVIRONMENT/ (here /shop/staging/NAME), which is what its hosts may read",
            "apps[0].pm.env.staging.BAD: SSM parameter \"/shop/staging/a b\" contains ' '; names use letters, digits, '/', '_', '.' and '-'",
        ]
    );
}

#[test]
fn the_release_file_sets_hooks_only() {
    let release = parse_release(
        "hooks:\n  validate: {command: [./smoke], timeout: 1m}\n  rollback: {command: [./undo]}\n",
    )
    .unwrap();
    assert_eq!(
        release.hooks.validate.as_ref().unwrap().timeout,
        DurationSpec(60)
    );
    assert!(release.hooks.rollback.is_some());
    assert_eq!(parse_release("").unwrap(), ReleaseFile::default());
    let err = parse_release("hooks:\n  validate: {command: x}\nenv: {}\n").unwrap_err();
    let text: Vec<String> = err.errors().iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "2:23: hooks.validate.command: expected a list: the program and its arguments, found the string \"x\"",
            "3:1: env: unknown field `env`; allowed: hooks",
        ]
    );
}

#[test]
fn names_users_and_ssm_scopes() {
    for ok in ["shop", "_svc", "www-data", "nobody$", "a1"] {
        assert!(is_valid_user(ok), "{ok}");
    }
    for bad in ["", "Shop", "1abc", "a b", "x/y", &"a".repeat(33)] {
        assert!(!is_valid_user(bad), "{bad}");
    }
    assert!(is_valid_env_name("_A1") && !is_valid_env_name("A-B") && !is_valid_env_name(""));
    assert_eq!(ssm_scope("shop", "prod"), "/shop/prod/");
    assert!(ssm_name_problem("/shop/prod/db/url", "shop", "prod").is_none());
    assert!(ssm_name_problem("/shop/prod/", "shop", "prod").is_some());
    assert!(ssm_name_problem("/shop/prod//x", "shop", "prod").is_some());
    assert!(ssm_name_problem("/shop/production/x", "shop", "prod").is_some());
}

#[test]
fn hooks_and_env_round_trip_through_json() {
    let source = shop(
        "      hooks:\n        drain: {command: [./drain], timeout: 1m, retries: 1}\n      release_hooks: [drain]\n      env:\n        prod: {A: \"ssm:/shop/prod/a\"}\n",
    );
    let config = parse(&source).unwrap();
    let json = serde_json::to_string(&config).unwrap();
    let back: Config = serde_json::from_str(&json).unwrap();
    assert_eq!(back, config);
}
