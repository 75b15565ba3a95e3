//! One test per validation rule of `boreas.yaml`, through the public [`parse`].

use super::*;

/// Two environments; apps follow from line 5.
const HEAD: &str = "environments:\n  - name: staging\n  - name: prod\napps:\n";

/// A complete PM app (10 lines) named `name`, with `extra` lines inserted after `kind`.
fn pm_app(name: &str, extra: &str) -> String {
    format!(
        "  - name: {name}\n    kind: pm\n{extra}    pm:\n      hosts:\n        prod: [h-1]\n      artifact:\n        url: \"s3://b/{{version}}/a.tgz\"\n        sha256_url: \"s3://b/{{version}}/a.tgz.sha256\"\n      run: {{command: [./run]}}\n      health: {{http: \"http://127.0.0.1:8080/healthz\"}}\n"
    )
}

/// A complete k8s app (8 lines) named `name`, with `extra` lines inserted after `kind`.
fn k8s_app(name: &str, extra: &str) -> String {
    format!(
        "  - name: {name}\n    kind: k8s\n{extra}    k8s:\n      clusters:\n        prod: [c-1]\n      deployment: {name}\n      container: {name}\n      image: \"r/{name}:{{version}}\"\n"
    )
}

fn config(apps: &[String]) -> String {
    format!("{HEAD}{}", apps.concat())
}

fn ok(source: &str) -> Config {
    match parse(source) {
        Ok(config) => config,
        Err(errors) => panic!("expected a valid config, got:\n{errors}\n--- source:\n{source}"),
    }
}

/// Every error as `LINE:COL: path: message`.
fn errors(source: &str) -> Vec<String> {
    match parse(source) {
        Ok(_) => panic!("expected errors for:\n{source}"),
        Err(errors) => errors.errors().iter().map(ToString::to_string).collect(),
    }
}

/// Every error as `path: message`, for rules where the position is not the point.
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

/// The errors of one PM app whose `rollout` is the given flow mapping.
fn rollout_messages(rollout: &str) -> Vec<String> {
    messages(&config(&[pm_app(
        "a",
        &format!("    rollout: {rollout}\n"),
    )]))
}

#[test]
fn minimal_config_gets_defaults() {
    let config = ok(&config(&[pm_app("api", ""), k8s_app("web", "")]));
    assert_eq!(
        config.environments[1],
        Environment {
            name: "prod".into(),
            auto_confirm: false,
            promotion: None,
        }
    );
    assert_eq!(config.triggers, Triggers::default());
    let api = &config.apps[0];
    assert_eq!(api.rollout, Rollout::default());
    assert!(api.paths.is_empty() && api.depends_on.is_empty() && !api.follow_dependencies);
    let pm = api.pm.as_ref().expect("pm section");
    assert_eq!(pm.hosts["prod"], [HostRef::Host("h-1".into())]);
    assert_eq!(
        pm.run,
        Some(RunSpec::Command {
            command: vec!["./run".into()]
        })
    );
    assert_eq!(pm.health.timeout, HealthSpec::default_timeout());
    assert_eq!(pm.health.retries, HealthSpec::default_retries());
    let k8s = config.apps[1].k8s.as_ref().expect("k8s section");
    assert_eq!(k8s.namespace, "default");
    assert_eq!(k8s.image, "r/web:{version}");
}

#[test]
fn every_field_is_read() {
    let source = format!(
        "environments:\n  - {{name: staging, auto_confirm: true}}\ntriggers:\n  tags: \"v*\"\n  branches: [main, release/2.x]\napps:\n{}{}",
        pm_app(
            "api",
            "    paths: [\"api/**\"]\n    follow_dependencies: true\n    depends_on: [web]\n    rollout: {batches: [1, 5, \"50%\", \"100%\"], pause: 1h30m, parallelism: 3, heartbeat: 30s, timeout: 2h, unreachable: skip, on_failure: pause}\n"
        )
        .replace("prod: [h-1]", "staging: [h-1, {group: eu}]"),
        k8s_app("web", "    rollout: {batches: [\"10%\", \"100%\"], pause: manual}\n")
            .replace("prod: [c-1]", "staging: [c-1, c-2]")
            .replace("      deployment:", "      namespace: shop\n      deployment:"),
    );
    let config = ok(&source);
    assert!(config.environments[0].auto_confirm);
    assert_eq!(config.triggers.tags.as_deref(), Some("v*"));
    assert_eq!(config.triggers.branches, ["main", "release/2.x"]);
    let api = &config.apps[0];
    assert_eq!(api.paths, ["api/**"]);
    assert_eq!(api.depends_on, ["web"]);
    assert!(api.follow_dependencies);
    assert_eq!(
        api.rollout,
        Rollout {
            batches: vec![
                BatchSize::Count(1),
                BatchSize::Count(5),
                BatchSize::Percent(50),
                BatchSize::Percent(100)
            ],
            pause: Pause::Wait(DurationSpec(5400)),
            parallelism: 3,
            heartbeat: DurationSpec(30),
            timeout: DurationSpec(7200),
            unreachable: Unreachable::Skip,
            on_failure: OnFailure::Pause,
        }
    );
    let hosts = &api.pm.as_ref().expect("pm").hosts["staging"];
    assert_eq!(
        hosts,
        &[
            HostRef::Host("h-1".into()),
            HostRef::Group { group: "eu".into() }
        ]
    );
    let web = &config.apps[1];
    assert_eq!(web.rollout.pause, Pause::Manual);
    let k8s = web.k8s.as_ref().expect("k8s");
    assert_eq!(k8s.clusters["staging"], ["c-1", "c-2"]);
    assert_eq!(k8s.namespace, "shop");
}

#[test]
fn unknown_fields_are_named_with_the_allowed_ones() {
    let source = format!("{}extra: 1\n", config(&[pm_app("a", "    rolout: {}\n")]));
    assert_eq!(
        errors(&source),
        [
            "7:5: apps[0].rolout: unknown field `rolout` (did you mean `rollout`?); allowed: name, kind, paths, depends_on, follow_dependencies, rollout, pm, k8s, analysis",
            "16:1: extra: unknown field `extra`; allowed: environments, triggers, apps, notifications, freezes",
        ]
    );
    assert_eq!(
        rollout_messages("{batches: [\"100%\"], parallel: 2}"),
        [
            "apps[0].rollout.parallel: unknown field `parallel` (did you mean `parallelism`?); allowed: batches, pause, parallelism, heartbeat, timeout, unreachable, on_failure"
        ]
    );
}

#[test]
fn merge_keys_are_explained() {
    let source = config(&[pm_app("a", "    rollout:\n      <<: {pause: 5m}\n")]);
    assert_eq!(
        messages(&source),
        [
            "apps[0].rollout.<<: unknown field `<<` (YAML merge keys are not supported); allowed: batches, pause, parallelism, heartbeat, timeout, unreachable, on_failure"
        ]
    );
}

#[test]
fn aliases_are_expanded() {
    let source = config(&[
        pm_app(
            "a",
            "    rollout: &slow {batches: [1, \"100%\"], pause: manual}\n",
        ),
        pm_app("b", "    rollout: *slow\n"),
    ]);
    let config = ok(&source);
    assert_eq!(config.apps[0].rollout, config.apps[1].rollout);
    assert_eq!(config.apps[1].rollout.pause, Pause::Manual);
}

#[test]
fn wrong_types_say_what_was_expected_and_found() {
    let source = "environments:\n  - name: 123\n    auto_confirm: \"yes\"\napps: {}\n";
    assert_eq!(
        errors(source),
        [
            "2:11: environments[0].name: expected a string, found the number 123 (quote it to use it as text)",
            "3:19: environments[0].auto_confirm: expected true or false, found the string \"yes\"",
            "4:7: apps: expected a list of apps, found a mapping",
        ]
    );
    assert_eq!(
        rollout_messages("{batches: \"100%\", parallelism: many, pause: [1]}"),
        [
            "apps[0].rollout.batches: expected a list of batch sizes, found the string \"100%\"",
            "apps[0].rollout.parallelism: expected a whole number, found the string \"many\"",
            "apps[0].rollout.pause: expected a string, found a list",
        ]
    );
    assert_eq!(
        messages("- 1\n"),
        [": expected a mapping with `environments` and `apps`, found a list"]
    );
}

#[test]
fn missing_required_fields_are_reported_at_their_parent() {
    assert_eq!(
        errors("triggers: {tags: \"v*\"}\n"),
        [
            "1:1: environments: required field is missing",
            "1:1: apps: required field is missing"
        ]
    );
    let source = format!("{HEAD}  - paths: [x]\n");
    assert_eq!(
        errors(&source),
        [
            "5:5: apps[0].name: required field is missing",
            "5:5: apps[0].kind: required field is missing"
        ]
    );
    let source = format!(
        "{HEAD}  - name: a\n    kind: pm\n    pm:\n      hosts: {{prod: [h]}}\n      health: {{tcp: \"h:1\"}}\n"
    );
    assert_eq!(
        errors(&source),
        [
            "8:7: apps[0].pm.artifact: required field is missing",
            "8:7: apps[0].pm.run: required field is missing: give `run` (or a `hooks.start` that starts the app)"
        ]
    );
}

#[test]
fn empty_lists_and_files_are_refused() {
    assert_eq!(
        errors("environments: []\napps: []\n"),
        [
            "1:15: environments: at least one environment is required",
            "2:7: apps: at least one app is required",
        ]
    );
    assert_eq!(
        errors(""),
        ["1:1: the file is empty; expected a mapping with `environments` and `apps`"]
    );
    assert_eq!(
        errors("# nothing\n"),
        ["1:1: the file is empty; expected a mapping with `environments` and `apps`"]
    );
}

#[test]
fn yaml_syntax_error_is_one_error_with_position() {
    let source = format!(
        "{}    rollout: {{batches: [1, \"100%\"}}\n",
        config(&[pm_app("a", "")])
    );
    let errors = errors(&source);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("15:"), "{errors:?}");
    assert!(errors[0].contains("YAML syntax error"), "{errors:?}");
}

#[test]
fn duplicate_keys_are_errors_with_both_lines() {
    let source = config(&[pm_app("a", "    kind: k8s\n")]);
    assert_eq!(
        errors(&source),
        ["7:5: apps[0].kind: duplicate key `kind` (first at line 6)"]
    );
}

#[test]
fn unknown_dependencies_are_named() {
    let source = config(&[
        pm_app("api", ""),
        pm_app("web", "    depends_on: [apii, db]\n"),
    ]);
    assert_eq!(
        errors(&source),
        [
            "17:18: apps[1].depends_on[0]: unknown app \"apii\" (did you mean `api`?)",
            "17:24: apps[1].depends_on[1]: unknown app \"db\"",
        ]
    );
}

#[test]
fn self_and_repeated_dependencies_are_refused() {
    let source = config(&[
        pm_app("api", ""),
        pm_app("web", "    depends_on: [web, api, api]\n"),
    ]);
    assert_eq!(
        messages(&source),
        [
            "apps[1].depends_on[0]: app \"web\" depends on itself",
            "apps[1].depends_on[2]: duplicate dependency \"api\" (first at line 17)",
        ]
    );
}

#[test]
fn dependency_cycles_are_named() {
    let source = config(&[
        pm_app("a", "    depends_on: [b]\n"),
        pm_app("b", "    depends_on: [c]\n"),
        pm_app("c", "    depends_on: [a]\n"),
        pm_app("d", "    depends_on: [a]\n"),
    ]);
    assert_eq!(
        errors(&source),
        ["7:18: apps[0].depends_on[0]: dependency cycle: a -> b -> c -> a"]
    );

    // Two independent cycles, each named once, and the shortest way round.
    let source = config(&[
        pm_app("x", "    depends_on: [y]\n"),
        pm_app("y", "    depends_on: [z, x]\n"),
        pm_app("z", "    depends_on: [x]\n"),
        pm_app("p", "    depends_on: [q]\n"),
        pm_app("q", "    depends_on: [p]\n"),
    ]);
    assert_eq!(
        messages(&source),
        [
            "apps[0].depends_on[0]: dependency cycle: x -> y -> x",
            "apps[3].depends_on[0]: dependency cycle: p -> q -> p",
        ]
    );
}

#[test]
fn duplicate_app_and_environment_names_are_refused() {
    let source = format!(
        "environments:\n  - name: prod\n  - name: prod\napps:\n{}{}",
        pm_app("api", ""),
        k8s_app("api", "")
    );
    assert_eq!(
        errors(&source),
        [
            "3:11: environments[1].name: duplicate environment name \"prod\" (first at line 2)",
            "15:11: apps[1].name: duplicate app name \"api\" (first at line 5)",
        ]
    );
}

#[test]
fn names_are_restricted() {
    let long = "a".repeat(41);
    let source = format!(
        "environments:\n  - name: Prod\napps:\n{}{}",
        pm_app("web_1", "").replace("prod: [h-1]", "Prod: [h-1, -h, {group: EU}]"),
        k8s_app(&long, "").replace("prod: [c-1]", "Prod: [c.1]"),
    );
    let rule =
        "use 1 to 40 lowercase letters, digits and '-', starting and ending with a letter or digit";
    assert_eq!(
        messages(&source),
        [
            format!("environments[0].name: \"Prod\" is not a valid environment name: {rule}"),
            format!("apps[0].name: \"web_1\" is not a valid app name: {rule}"),
            format!("apps[0].pm.hosts.Prod[1]: \"-h\" is not a valid host name: {rule}"),
            format!("apps[0].pm.hosts.Prod[2].group: \"EU\" is not a valid group name: {rule}"),
            format!("apps[1].name: \"{long}\" is not a valid app name: {rule}"),
            format!("apps[1].k8s.clusters.Prod[0]: \"c.1\" is not a valid cluster name: {rule}"),
        ]
    );
    assert!(is_valid_name("a") && is_valid_name("web-2") && is_valid_name(&"a".repeat(40)));
    assert!(
        !is_valid_name("") && !is_valid_name("a-") && !is_valid_name("A") && !is_valid_name(&long)
    );
}

#[test]
fn batches_over_100_percent_match_the_documented_message() {
    let source = config(&[
        pm_app("a", ""),
        pm_app("b", ""),
        pm_app(
            "c",
            "    rollout:\n      batches: [\"10%\", \"120%\", \"100%\"]\n",
        ),
    ]);
    assert_eq!(
        errors(&source),
        ["28:24: apps[2].rollout.batches[1]: \"120%\" is over 100%"]
    );
}

#[test]
fn batches_must_increase_and_end_at_100_percent() {
    assert_eq!(
        rollout_messages("{batches: [\"50%\", \"25%\", \"100%\"]}"),
        [
            "apps[0].rollout.batches[1]: \"25%\" is not more than the batch before it (\"50%\"); batches are cumulative and must increase"
        ]
    );
    assert_eq!(
        rollout_messages("{batches: [2, 2, \"100%\"]}"),
        [
            "apps[0].rollout.batches[1]: 2 is not more than the batch before it (2); batches are cumulative and must increase"
        ]
    );
    assert_eq!(
        rollout_messages("{batches: [1, \"50%\"]}"),
        ["apps[0].rollout.batches[1]: the last batch must be \"100%\", found \"50%\""]
    );
    assert_eq!(
        rollout_messages("{batches: [1, 10]}"),
        ["apps[0].rollout.batches[1]: the last batch must be \"100%\", found 10"]
    );
    assert_eq!(
        rollout_messages("{batches: [\"100%\", \"100%\"]}"),
        [
            "apps[0].rollout.batches[1]: \"100%\" is not more than the batch before it (\"100%\"); batches are cumulative and must increase"
        ]
    );
    assert_eq!(
        rollout_messages("{batches: [\"10%\", 5, \"100%\"]}"),
        [
            "apps[0].rollout.batches[1]: host count 5 follows a percentage; put host counts before percentages (a count cannot be compared with a share of hosts)"
        ]
    );
    assert_eq!(
        rollout_messages("{batches: []}"),
        ["apps[0].rollout.batches: at least one batch is required; the last must be \"100%\""]
    );
}

#[test]
fn batch_sizes_must_be_positive() {
    assert_eq!(
        rollout_messages("{batches: [0, \"0%\", -1, \"100%\"]}"),
        [
            "apps[0].rollout.batches[0]: a batch of 0 hosts deploys nothing: counts start at 1",
            "apps[0].rollout.batches[1]: \"0%\" is empty: a batch needs at least 1%",
            "apps[0].rollout.batches[2]: -1 is negative: counts start at 1",
        ]
    );
    assert_eq!(
        rollout_messages("{batches: [\"3\", 1.5, half, \"100%\"]}"),
        [
            "apps[0].rollout.batches[0]: expected a host count like 1 or a percentage like \"25%\", found the string \"3\"",
            "apps[0].rollout.batches[1]: expected a host count like 1 or a percentage like \"25%\", found the number 1.5",
            "apps[0].rollout.batches[2]: expected a host count like 1 or a percentage like \"25%\", found the string \"half\"",
        ]
    );
    assert_eq!(
        rollout_messages("{batches: [\"x%\", 99999999999, \"100%\"]}"),
        [
            "apps[0].rollout.batches[0]: expected a host count like 1 or a percentage like \"25%\", found \"x%\"",
            "apps[0].rollout.batches[1]: 99999999999 hosts is more than a batch can hold (4294967295)",
        ]
    );
}

#[test]
fn k8s_batches_must_be_percentages() {
    let source = config(&[k8s_app("web", "    rollout: {batches: [1, \"100%\"]}\n")]);
    assert_eq!(
        messages(&source),
        [
            "apps[0].rollout.batches[0]: a host count (1) makes no sense for a k8s app: its batches set the share of replicas on the new version; use a percentage like \"10%\""
        ]
    );
}

#[test]
fn durations_are_hours_minutes_seconds() {
    for (text, seconds) in [
        ("30s", 30),
        ("5m", 300),
        ("1h30m", 5400),
        ("2h5m10s", 7510),
        ("90m", 5400),
        ("8760h", 31_536_000),
    ] {
        assert_eq!(
            text.parse::<DurationSpec>(),
            Ok(DurationSpec(seconds)),
            "{text}"
        );
        let config = ok(&config(&[pm_app(
            "a",
            &format!("    rollout: {{timeout: {text}, heartbeat: 1s}}\n"),
        )]));
        assert_eq!(config.apps[0].rollout.timeout, DurationSpec(seconds));
    }
    for text in [
        "5 minutes",
        "-1s",
        "",
        "5",
        "m",
        "1m1h",
        "1h1h",
        "1.5h",
        "5M",
        " 5m",
    ] {
        assert_eq!(
            text.parse::<DurationSpec>(),
            Err(format!(
                "expected a duration like \"30s\", \"5m\" or \"1h30m\", found {text:?}"
            )),
            "{text}"
        );
    }
    assert_eq!(
        rollout_messages("{timeout: \"5 minutes\", heartbeat: \"-1s\"}"),
        [
            "apps[0].rollout.timeout: expected a duration like \"30s\", \"5m\" or \"1h30m\", found \"5 minutes\"",
            "apps[0].rollout.heartbeat: expected a duration like \"30s\", \"5m\" or \"1h30m\", found \"-1s\"",
        ]
    );
    assert_eq!(
        rollout_messages("{timeout: \"\", heartbeat: 30}"),
        [
            "apps[0].rollout.timeout: expected a duration like \"30s\", \"5m\" or \"1h30m\", found \"\"",
            "apps[0].rollout.heartbeat: 30 has no unit; write it like \"30s\" or \"30m\"",
        ]
    );
    assert_eq!(
        rollout_messages("{timeout: 0s, heartbeat: 8761h}"),
        [
            "apps[0].rollout.timeout: \"0s\" is no time at all; it must be longer than 0s",
            "apps[0].rollout.heartbeat: \"8761h\" is longer than the maximum of 8760h (one year)",
        ]
    );
}

#[test]
fn durations_display_in_their_canonical_form() {
    for (seconds, text) in [
        (0, "0s"),
        (30, "30s"),
        (300, "5m"),
        (5400, "1h30m"),
        (3601, "1h1s"),
    ] {
        assert_eq!(DurationSpec(seconds).to_string(), text);
        assert_eq!(text.parse::<DurationSpec>(), Ok(DurationSpec(seconds)));
    }
}

#[test]
fn heartbeat_must_be_shorter_than_timeout() {
    assert_eq!(
        rollout_messages("{heartbeat: 20m}"),
        ["apps[0].rollout.heartbeat: heartbeat (20m) must be shorter than timeout (15m)"]
    );
    assert_eq!(
        rollout_messages("{timeout: 1m}"),
        ["apps[0].rollout.timeout: heartbeat (1m) must be shorter than timeout (1m)"]
    );
}

#[test]
fn unreachable_is_fail_or_skip_and_only_for_pm_apps() {
    assert_eq!(
        rollout_messages("{unreachable: skipp}"),
        [
            "apps[0].rollout.unreachable: expected one of `fail`, `skip`, found the string \"skipp\" (did you mean `skip`?)"
        ]
    );
    assert_eq!(
        errors(&config(&[k8s_app(
            "web",
            "    rollout: {unreachable: skip}\n"
        )])),
        [
            "7:28: apps[0].rollout.unreachable: only PM apps have agents whose reachability decides; remove `unreachable` from this k8s app"
        ]
    );
    let explicit = ok(&config(&[pm_app(
        "a",
        "    rollout: {unreachable: fail}\n",
    )]));
    assert_eq!(explicit.apps[0].rollout.unreachable, Unreachable::Fail);
}

#[test]
fn on_failure_is_rollback_or_pause_and_only_for_pm_apps() {
    assert_eq!(
        rollout_messages("{on_failure: pase}"),
        [
            "apps[0].rollout.on_failure: expected one of `rollback`, `pause`, found the string \"pase\" (did you mean `pause`?)"
        ]
    );
    assert_eq!(
        errors(&config(&[k8s_app(
            "web",
            "    rollout: {on_failure: pause}\n"
        )])),
        [
            "7:27: apps[0].rollout.on_failure: only PM hosts wait for a decision when they fail; remove `on_failure` from this k8s app (a failed cluster rolls the app back)"
        ]
    );
    let default = ok(&config(&[pm_app("a", "")]));
    assert_eq!(default.apps[0].rollout.on_failure, OnFailure::Rollback);
}

#[test]
fn pause_is_a_duration_manual_or_none() {
    for (text, pause) in [
        ("manual", Pause::Manual),
        ("none", Pause::None),
        ("30s", Pause::Wait(DurationSpec(30))),
        ("\"1h30m\"", Pause::Wait(DurationSpec(5400))),
    ] {
        let config = ok(&config(&[pm_app(
            "a",
            &format!("    rollout: {{pause: {text}}}\n"),
        )]));
        assert_eq!(config.apps[0].rollout.pause, pause, "{text}");
    }
    assert_eq!(
        rollout_messages("{pause: manaul}"),
        [
            "apps[0].rollout.pause: expected a duration like \"5m\", \"manual\" or \"none\", found \"manaul\" (did you mean `manual`?)"
        ]
    );
    assert_eq!(
        rollout_messages("{pause: 0s}"),
        ["apps[0].rollout.pause: \"0s\" pauses for no time; write \"none\" for no pause"]
    );
    assert_eq!(
        rollout_messages("{pause: 10}"),
        ["apps[0].rollout.pause: 10 has no unit; write it like \"10s\" or \"10m\""]
    );
    assert_eq!(
        rollout_messages("{pause: 9000h}"),
        ["apps[0].rollout.pause: \"9000h\" is longer than the maximum of 8760h (one year)"]
    );
}

#[test]
fn parallelism_is_at_least_one() {
    assert_eq!(
        rollout_messages("{parallelism: 0}"),
        ["apps[0].rollout.parallelism: must be at least 1, found 0"]
    );
    assert_eq!(
        rollout_messages("{parallelism: 5000000000}"),
        ["apps[0].rollout.parallelism: must be at most 4294967295, found 5000000000"]
    );
}

#[test]
fn the_section_must_match_the_kind() {
    let source = format!("{HEAD}  - name: a\n    kind: pm\n  - name: b\n    kind: vm\n");
    assert_eq!(
        errors(&source),
        [
            "5:5: apps[0].pm: required field is missing: a `pm` app needs a `pm` section",
            "8:11: apps[1].kind: expected `pm` or `k8s`, found the string \"vm\" (did you mean `pm`?)",
        ]
    );
    let both = pm_app("a", "").replace(
        "    pm:\n",
        "    k8s: {clusters: {prod: [c]}, deployment: a, container: a, image: \"a:{version}\"}\n    pm:\n",
    );
    assert_eq!(
        errors(&config(&[both])),
        ["7:5: apps[0].k8s: a `pm` app takes no `k8s` section; remove it or change `kind`"]
    );
    let source = config(&[pm_app("a", "").replace("kind: pm", "kind: k8s")]);
    assert_eq!(
        errors(&source),
        [
            "5:5: apps[0].k8s: required field is missing: a `k8s` app needs a `k8s` section",
            "7:5: apps[0].pm: a `k8s` app takes no `pm` section; remove it or change `kind`",
        ]
    );
}

#[test]
fn hosts_and_clusters_name_declared_environments() {
    let source = config(&[
        pm_app("a", "").replace("prod: [h-1]", "production: [h-1]"),
        k8s_app("b", "").replace("prod: [c-1]", "qa: [c-1]"),
    ]);
    assert_eq!(
        errors(&source),
        [
            "9:9: apps[0].pm.hosts.production: \"production\" is not a declared environment (did you mean `prod`?); declared: staging, prod",
            "19:9: apps[1].k8s.clusters.qa: \"qa\" is not a declared environment; declared: staging, prod",
        ]
    );
}

#[test]
fn host_and_cluster_lists_are_non_empty_and_unique() {
    let source = config(&[
        pm_app("a", "").replace(
            "prod: [h-1]",
            "prod: [h-1, {group: g}, h-1, {group: g}]\n        staging: []",
        ),
        k8s_app("b", "").replace("prod: [c-1]", "prod: [c-1, c-1]"),
        pm_app("c", "").replace("hosts:\n        prod: [h-1]", "hosts: {}"),
    ]);
    assert_eq!(
        messages(&source),
        [
            "apps[0].pm.hosts.prod[2]: duplicate host \"h-1\" (first at line 9)",
            "apps[0].pm.hosts.prod[3]: duplicate entry \"group g\" (first at line 9)",
            "apps[0].pm.hosts.staging: no hosts listed; remove the environment instead",
            "apps[1].k8s.clusters.prod[1]: duplicate cluster \"c-1\" (first at line 20)",
            "apps[2].pm.hosts: list the hosts of at least one environment",
        ]
    );
    let source = config(&[pm_app("a", "").replace("prod: [h-1]", "prod: [[h-1]]")]);
    assert_eq!(
        messages(&source),
        ["apps[0].pm.hosts.prod[0]: expected a host name or {group: NAME}, found a list"]
    );
}

#[test]
fn artifact_needs_exactly_one_checksum() {
    let sha = "a".repeat(64);
    let with = |lines: &str| {
        config(&[pm_app("a", "").replace(
            "        sha256_url: \"s3://b/{version}/a.tgz.sha256\"\n",
            lines,
        )])
    };
    let config = ok(&with(&format!(
        "        sha256: \"{}\"\n",
        sha.to_uppercase()
    )));
    assert_eq!(
        config.apps[0]
            .pm
            .as_ref()
            .expect("pm")
            .artifact
            .sha256
            .as_deref(),
        Some(sha.as_str())
    );
    assert_eq!(
        errors(&with("")),
        [
            "11:9: apps[0].pm.artifact.sha256: required field is missing: give `sha256` or `sha256_url` so the download can be verified"
        ]
    );
    assert_eq!(
        errors(&with(&format!(
            "        sha256: {sha}\n        sha256_url: \"s3://b/{{version}}.sha\"\n"
        ))),
        ["13:9: apps[0].pm.artifact.sha256_url: give either `sha256` or `sha256_url`, not both"]
    );
    assert_eq!(
        messages(&with("        sha256: abc123\n")),
        [
            "apps[0].pm.artifact.sha256: must be 64 hexadecimal characters (a SHA-256 digest), found 6 characters"
        ]
    );
    assert_eq!(
        messages(&with(&format!("        sha256: {}\n", "g".repeat(64)))),
        [
            "apps[0].pm.artifact.sha256: must be 64 hexadecimal characters (a SHA-256 digest), found 64 characters"
        ]
    );
}

#[test]
fn artifact_urls_are_templates_with_version() {
    let with = |url: &str| config(&[pm_app("a", "").replace("\"s3://b/{version}/a.tgz\"", url)]);
    for url in [
        "\"https://x/{version}.tgz\"",
        "\"http://x/{version}.tgz\"",
        "\"file:///srv/{version}.tgz\"",
    ] {
        ok(&with(url));
    }
    assert_eq!(
        messages(&with("\"ftp://x/{version}.tgz\"")),
        [
            "apps[0].pm.artifact.url: \"ftp://x/{version}.tgz\" must start with s3://, https://, http:// or file://"
        ]
    );
    assert_eq!(
        messages(&with("\"s3://b/latest.tgz\"")),
        [
            "apps[0].pm.artifact.url: \"s3://b/latest.tgz\" must contain {version}, which is replaced by the version being deployed"
        ]
    );
    assert_eq!(
        messages(&with("\"s3://b/{verison}/{version}.tgz\"")),
        ["apps[0].pm.artifact.url: unknown placeholder {verison}; only {version} is replaced"]
    );
    assert_eq!(
        messages(&with("\"s3://\"")),
        [
            "apps[0].pm.artifact.url: \"s3://\" has nothing after the scheme",
            "apps[0].pm.artifact.url: \"s3://\" must contain {version}, which is replaced by the version being deployed",
        ]
    );
    assert_eq!(
        messages(&with("\"s3://b/{version\"")),
        ["apps[0].pm.artifact.url: \"s3://b/{version\" has an unclosed '{'"]
    );
    assert_eq!(
        messages(&with("\"s3://b/{version} x\"")),
        ["apps[0].pm.artifact.url: \"s3://b/{version} x\" must not contain whitespace"]
    );
}

#[test]
fn run_is_a_command_or_a_systemd_unit() {
    let with = |run: &str| config(&[pm_app("a", "").replace("{command: [./run]}", run)]);
    let config = ok(&with("{systemd: shop-api.service}"));
    assert_eq!(
        config.apps[0].pm.as_ref().expect("pm").run,
        Some(RunSpec::Systemd {
            systemd: "shop-api.service".into()
        })
    );
    assert_eq!(
        messages(&with("{command: [./run], systemd: x}")),
        ["apps[0].pm.run.systemd: give either `command` or `systemd`, not both"]
    );
    assert_eq!(
        messages(&with("{}")),
        [
            "apps[0].pm.run: give `command` (a list: program and arguments) or `systemd` (a unit name)"
        ]
    );
    assert_eq!(
        messages(&with("{command: []}")),
        ["apps[0].pm.run.command: must list at least the program to run"]
    );
    assert_eq!(
        messages(&with("{command: [\"\"]}")),
        ["apps[0].pm.run.command[0]: the program must not be empty"]
    );
    assert_eq!(
        messages(&with("{command: \"./run --fast\"}")),
        [
            "apps[0].pm.run.command: expected a list: the program and its arguments, found the string \"./run --fast\""
        ]
    );
    assert_eq!(
        messages(&with("{systemd: \"a/b\"}")),
        ["apps[0].pm.run.systemd: \"a/b\" is not a valid systemd unit name"]
    );
}

#[test]
fn health_has_exactly_one_probe() {
    let with = |health: &str| {
        config(&[pm_app("a", "").replace("{http: \"http://127.0.0.1:8080/healthz\"}", health)])
    };
    let config = ok(&with("{tcp: \"127.0.0.1:5432\", timeout: 2s, retries: 3}"));
    let health = &config.apps[0].pm.as_ref().expect("pm").health;
    assert_eq!(
        health.check,
        HealthCheck::Tcp {
            tcp: "127.0.0.1:5432".into()
        }
    );
    assert_eq!((health.timeout, health.retries), (DurationSpec(2), 3));
    ok(&with("{tcp: \"[::1]:80\"}"));
    ok(&with("{command: [./check, --quick]}"));
    assert_eq!(
        messages(&with("{timeout: 2s}")),
        [
            "apps[0].pm.health: give one probe: `http` (a URL), `tcp` (host:port) or `command` (a list)"
        ]
    );
    assert_eq!(
        messages(&with("{tcp: \"h:1\", http: \"http://h/\"}")),
        ["apps[0].pm.health.http: give exactly one probe, found tcp and http"]
    );
    assert_eq!(
        messages(&with("{tcp: \"db\", retries: 0}")),
        [
            "apps[0].pm.health.tcp: \"db\" must be host:port with a port from 1 to 65535, like 127.0.0.1:5432",
            "apps[0].pm.health.retries: must be at least 1, found 0",
        ]
    );
    assert_eq!(
        messages(&with("{http: \"localhost:8080\"}")),
        [
            "apps[0].pm.health.http: \"localhost:8080\" must be an http:// or https:// URL with a host"
        ]
    );
    assert_eq!(messages(&with("{tcp: \"h:0\"}")).len(), 1);
    assert_eq!(messages(&with("{tcp: \"h:65536\"}")).len(), 1);
}

#[test]
fn k8s_fields_follow_kubernetes_rules() {
    let source = config(&[k8s_app("web", "")
        .replace("r/web:{version}", "r/web:latest")
        .replace(
            "      deployment: web",
            "      namespace: Shop\n      deployment: web.v2",
        )
        .replace("container: web", "container: web_1")]);
    assert_eq!(
        messages(&source),
        [
            "apps[0].k8s.namespace: \"Shop\" is not a valid Kubernetes namespace: up to 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
            "apps[0].k8s.container: \"web_1\" is not a valid Kubernetes container name: up to 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
            "apps[0].k8s.image: \"r/web:latest\" must contain {version}, which is replaced by the version being deployed",
        ]
    );
}

#[test]
fn triggers_take_a_valid_glob_and_branch_names() {
    let source = format!(
        "{}triggers:\n  tags: \"v[\"\n  branches: [main, \"feature..x\", \"\"]\n",
        config(&[pm_app("a", "")])
    );
    assert_eq!(
        errors(&source),
        [
            "16:9: triggers.tags: \"v[\" is not a valid glob: unclosed character class; missing ']'",
            "17:20: triggers.branches[1]: \"feature..x\" is not a valid git branch name",
            "17:34: triggers.branches[2]: must not be empty",
        ]
    );
}

#[test]
fn paths_are_relative_globs() {
    let source = config(&[pm_app(
        "a",
        "    paths: [\"src/**\", \"/etc/**\", \"./x\", \"a/{b\"]\n",
    )]);
    assert_eq!(
        messages(&source),
        [
            "apps[0].paths[1]: \"/etc/**\": paths are relative to the repository root; drop the leading \"/\"",
            "apps[0].paths[2]: \"./x\": paths are relative to the repository root; drop the leading \"./\"",
            "apps[0].paths[3]: \"a/{b\" is not a valid glob: unclosed alternate group; missing '}' (maybe escape '{' with '[{]'?)",
        ]
    );
}

#[test]
fn every_error_of_a_file_is_reported_at_once() {
    let source = format!(
        "environments:\n  - name: prod\n  - name: prod\napps:\n{}{}{}",
        pm_app(
            "api",
            "    depends_on: [db]\n    rollout: {batches: [\"50%\"], pause: soon}\n"
        ),
        k8s_app("web", "    rollout: {batches: [2, \"100%\"]}\n").replace("{version}", "v1"),
        pm_app("api", "    paths: [\"/x\"]\n"),
    );
    assert_eq!(
        errors(&source),
        [
            "3:11: environments[1].name: duplicate environment name \"prod\" (first at line 2)",
            "7:18: apps[0].depends_on[0]: unknown app \"db\"",
            "8:25: apps[0].rollout.batches[0]: the last batch must be \"100%\", found \"50%\"",
            "8:40: apps[0].rollout.pause: expected a duration like \"5m\", \"manual\" or \"none\", found \"soon\"",
            "19:25: apps[1].rollout.batches[0]: a host count (2) makes no sense for a k8s app: its batches set the share of replicas on the new version; use a percentage like \"10%\"",
            "25:14: apps[1].k8s.image: \"r/web:v1\" must contain {version}, which is replaced by the version being deployed",
            "26:11: apps[2].name: duplicate app name \"api\" (first at line 5)",
            "28:13: apps[2].paths[0]: \"/x\": paths are relative to the repository root; drop the leading \"/\"",
        ]
    );
}

#[test]
fn config_round_trips_through_json() {
    let source = format!(
        "{}triggers: {{tags: \"v*\", branches: [main]}}\n",
        config(&[
            pm_app(
                "api",
                "    rollout: {batches: [1, \"25%\", \"100%\"], pause: manual}\n"
            )
            .replace("prod: [h-1]", "prod: [h-1, {group: eu}]"),
            pm_app("db", "    rollout: {pause: 1h30m}\n").replace(
                "{http: \"http://127.0.0.1:8080/healthz\"}",
                "{command: [./check], timeout: 3s, retries: 2}"
            ),
            k8s_app("web", "    depends_on: [api]\n"),
        ])
    );
    let config = ok(&source);
    let json = serde_json::to_value(&config).expect("serialize");
    assert_eq!(
        json["apps"][0]["rollout"]["batches"],
        serde_json::json!([1, "25%", "100%"])
    );
    assert_eq!(json["apps"][0]["rollout"]["pause"], "manual");
    assert_eq!(json["apps"][1]["rollout"]["pause"], "1h30m");
    assert_eq!(json["apps"][0]["rollout"]["timeout"], "15m");
    assert_eq!(
        json["apps"][0]["pm"]["hosts"]["prod"],
        serde_json::json!(["h-1", {"group": "eu"}])
    );
    assert_eq!(
        json["apps"][1]["pm"]["health"],
        serde_json::json!({"command": ["./check"], "timeout": "3s", "retries": 2})
    );
    let back: Config = serde_json::from_value(json).expect("deserialize");
    assert_eq!(back, config);
}

#[test]
fn scalar_serde_forms() {
    let to = |v: &dyn erased::Json| v.json();
    assert_eq!(to(&BatchSize::Count(3)), "3");
    assert_eq!(to(&BatchSize::Percent(25)), "\"25%\"");
    assert_eq!(to(&Pause::None), "\"none\"");
    assert_eq!(to(&Pause::Manual), "\"manual\"");
    assert_eq!(to(&Pause::Wait(DurationSpec(300))), "\"5m\"");
    assert_eq!(to(&DurationSpec(5400)), "\"1h30m\"");
    let batch = |s: &str| serde_json::from_str::<BatchSize>(s).map_err(|e| e.to_string());
    assert_eq!(batch("3"), Ok(BatchSize::Count(3)));
    assert_eq!(batch("\"100%\""), Ok(BatchSize::Percent(100)));
    assert!(
        batch("\"120%\"")
            .unwrap_err()
            .starts_with("\"120%\" is over 100%")
    );
    assert!(batch("0").unwrap_err().contains("counts start at 1"));
    assert!(batch("-1").is_err());
    let pause = |s: &str| serde_json::from_str::<Pause>(s).map_err(|e| e.to_string());
    assert_eq!(pause("\"none\""), Ok(Pause::None));
    assert_eq!(pause("\"manual\""), Ok(Pause::Manual));
    assert_eq!(pause("\"2m\""), Ok(Pause::Wait(DurationSpec(120))));
    assert!(pause("\"later\"").is_err());
    assert!(serde_json::from_str::<DurationSpec>("30").is_err());
}

/// Serializes through a trait object so the test above can list values of several types.
mod erased {
    pub(super) trait Json {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> String {
            serde_json::to_string(self).expect("serialize")
        }
    }
}

#[test]
fn yaml_1_1_booleans_are_explained() {
    let source = format!(
        "environments:\n  - {{name: prod, auto_confirm: on}}\napps:\n{}",
        pm_app("a", "")
    );
    assert_eq!(
        messages(&source),
        [
            "environments[0].auto_confirm: expected true or false, found the string \"on\" (YAML 1.2 reads it as text)"
        ]
    );
}

#[test]
fn a_dependency_on_an_invalid_name_is_reported_once() {
    let source = config(&[
        pm_app("Api", ""),
        pm_app("web", "    depends_on: [Api, db]\n"),
    ]);
    assert_eq!(
        messages(&source),
        [
            "apps[0].name: \"Api\" is not a valid app name: use 1 to 40 lowercase letters, digits and '-', starting and ending with a letter or digit",
            "apps[1].depends_on[1]: unknown app \"db\"",
        ]
    );
}

#[test]
fn host_keys_are_checked_against_environments_even_when_one_is_repeated() {
    let source = format!(
        "environments:\n  - name: prod\n  - name: prod\napps:\n{}",
        pm_app("a", "").replace("prod: [h-1]", "qa: [h-1]")
    );
    assert_eq!(
        messages(&source),
        [
            "environments[1].name: duplicate environment name \"prod\" (first at line 2)",
            "apps[0].pm.hosts.qa: \"qa\" is not a declared environment; declared: prod",
        ]
    );
}

#[test]
fn notification_rules_are_read_with_their_defaults() {
    let source = format!(
        "{}notifications:\n  - sink: git\n  - sink: team-chat\n    events: [gate_waiting, rolled_back]\n    environments: [prod]\n    apps: [api]\n",
        config(&[pm_app("api", ""), k8s_app("web", "")])
    );
    let parsed = ok(&source);
    assert_eq!(
        parsed.notifications.unwrap(),
        [
            NotificationRule {
                sink: "git".into(),
                events: None,
                environments: vec![],
                apps: vec![],
            },
            NotificationRule {
                sink: "team-chat".into(),
                events: Some(vec![
                    crate::notify::NoticeKind::GateWaiting,
                    crate::notify::NoticeKind::RolledBack
                ]),
                environments: vec!["prod".into()],
                apps: vec!["api".into()],
            },
        ]
    );
    // No section: the installation's defaults apply; an empty one turns notifications off.
    assert_eq!(ok(&config(&[pm_app("api", "")])).notifications, None);
    let off = format!("{}notifications: []\n", config(&[pm_app("api", "")]));
    assert_eq!(ok(&off).notifications, Some(vec![]));
}

#[test]
fn notification_rules_name_known_events_environments_and_apps() {
    // Apps end on line 14; `notifications:` is line 15.
    let base = config(&[pm_app("api", "")]);
    let bad = |rules: &str| errors(&format!("{base}notifications:\n{rules}"));
    assert_eq!(
        bad("  - sink: chat\n    events: [succeded, succeeded, succeeded]\n"),
        [
            "17:14: notifications[0].events[0]: expected one of `planned`, `gate_waiting`, `started`, `batch_finished`, `succeeded`, `rolled_back`, `failed`, `cancelled`, `superseded`, found the string \"succeded\" (did you mean `succeeded`?)",
            "17:35: notifications[0].events[2]: duplicate event \"succeeded\" (first at line 17)",
        ]
    );
    assert_eq!(
        bad("  - sink: chat\n    environments: [production]\n    apps: [ap, api, api]\n"),
        [
            "17:20: notifications[0].environments[0]: \"production\" is not a declared environment (did you mean `prod`?)",
            "18:12: notifications[0].apps[0]: \"ap\" is not a declared app (did you mean `api`?)",
            "18:21: notifications[0].apps[2]: duplicate app \"api\" (first at line 18)",
        ]
    );
    assert_eq!(
        bad("  - sink: Team Chat\n    events: []\n    channel: x\n"),
        [
            "16:11: notifications[0].sink: \"Team Chat\" is not a valid sink name: use 1 to 40 lowercase letters, digits and '-', starting and ending with a letter or digit",
            "17:13: notifications[0].events: list at least one event, or remove `events` to send the default ones",
            "18:5: notifications[0].channel: unknown field `channel`; allowed: sink, events, environments, apps",
        ]
    );
    assert_eq!(
        bad("  - events: [planned]\n"),
        ["16:5: notifications[0].sink: required field is missing"]
    );
}

#[test]
fn analysis_checks_are_read_with_their_defaults() {
    let checks = "    analysis:\n      - name: error-rate\n        prometheus:\n          url: http://127.0.0.1:9090\n          query: 'sum(rate(http_requests_total{app=\"{app}\",code=~\"5..\"}[1m])) / sum(rate(http_requests_total{app=\"{app}\"}[1m]))'\n        condition: \"< 0.01\"\n        interval: 10s\n        count: 3\n        failure_limit: 1\n        min_samples: 20\n      - name: alarm\n        cloudwatch: {alarm: api-5xx}\n      - name: p99\n        cloudwatch: {namespace: Boreas/Demo, metric: Latency, statistic: p99, dimensions: {App: \"{app}\"}}\n        condition: \"0..0.3\"\n        dry_run: true\n      - name: ratio\n        http: {url: \"http://127.0.0.1:8080/stats\", json_path: \"$.requests[0].ok_ratio\"}\n        condition: \">= 0.99\"\n        no_data: fail\n";
    let parsed = ok(&config(&[pm_app("api", checks)]));
    let analysis = &parsed.apps[0].analysis;
    assert_eq!(analysis.len(), 4);
    let rate = &analysis[0];
    assert_eq!(
        rate.condition,
        Some(crate::analysis::Condition::Below(0.01))
    );
    assert!(rate.prometheus.as_ref().unwrap().query.contains("{app}"));
    assert_eq!(
        (rate.interval, rate.count, rate.failure_limit),
        (DurationSpec(10), 3, 1)
    );
    assert_eq!(rate.limits().min_samples, Some(20));
    assert_eq!(rate.limits().consecutive_error_limit, 4);
    assert_eq!(rate.limits().no_data, crate::analysis::NoData::Inconclusive);
    assert_eq!(analysis[1].condition, None);
    assert_eq!(analysis[1].interval, DurationSpec(30));
    assert!(analysis[2].dry_run);
    assert_eq!(
        analysis[2].cloudwatch.as_ref().unwrap().dimensions["App"],
        "{app}"
    );
    assert_eq!(analysis[3].no_data, crate::analysis::NoData::Fail);
    // The JSON form reads back the same.
    let json = serde_json::to_value(&parsed).unwrap();
    assert_eq!(serde_json::from_value::<Config>(json).unwrap(), parsed);
}

#[test]
fn analysis_checks_are_refused_with_line_and_column() {
    let bad = |checks: &str| {
        errors(&config(&[pm_app(
            "api",
            &format!("    analysis:\n{checks}"),
        )]))
    };
    assert_eq!(
        bad(
            "      - name: rate\n        prometheus: {url: http://p:9090, query: up}\n        condition: \"about 3\"\n"
        ),
        [
            "10:20: apps[0].analysis[0].condition: \"about 3\" is not a condition: write `< x`, `<= x`, `> x`, `>= x`, `== x` or `a..b`"
        ]
    );
    assert_eq!(
        bad(
            "      - name: rate\n        prometheus: {url: http://p:9090, query: up}\n        http: {url: http://h/x, json_path: $.a}\n        condition: \"< 1\"\n"
        ),
        [
            "10:9: apps[0].analysis[0]: a check takes its value from exactly one of `prometheus`, `cloudwatch` and `http`; found prometheus and http"
        ]
    );
    assert_eq!(
        bad(
            "      - name: rate\n        prometheus: {url: http://p:9090, query: \"up{job=\\\"{service}\\\"}\"}\n        condition: \"< 1\"\n"
        ),
        [
            "9:49: apps[0].analysis[0].prometheus.query: unknown placeholder {service}; known: {app}, {version}, {environment}, {targets}, {batch}"
        ]
    );
    assert_eq!(
        bad(
            "      - name: rate\n        prometheus: {url: http://p:9090, query: up}\n        condition: \"< 1\"\n      - name: rate\n        http: {url: http://h/x, json_path: $.a}\n        condition: \"< 2\"\n"
        ),
        ["11:9: apps[0].analysis[1].name: duplicate check \"rate\" (first at line 8)"]
    );
    assert_eq!(
        bad("      - name: alarm\n        cloudwatch: {alarm: a, metric: m}\n"),
        [
            "9:32: apps[0].analysis[0].cloudwatch.metric: an alarm check takes the alarm's name only; its metric is the alarm's"
        ]
    );
    assert_eq!(
        bad(
            "      - name: rate\n        prometheus: {url: http://p:9090, query: up}\n      - name: rate\n        http: {url: http://h/x, json_path: \"a.b\"}\n        condition: \"1..0\"\n        no_data: maybe\n        count: 0\n"
        ),
        [
            "8:9: apps[0].analysis[0].condition: required field is missing",
            "11:44: apps[0].analysis[1].http.json_path: \"a.b\" is not a JSON path like `$.status.ratio` or `$.items[0].value`",
            "12:20: apps[0].analysis[1].condition: the range 1..0 is empty: put the lower bound first",
            "13:18: apps[0].analysis[1].no_data: expected one of `fail`, `inconclusive`, `pass`, found the string \"maybe\"",
            "14:16: apps[0].analysis[1].count: must be at least 1, found 0",
        ]
    );
    // The app's rollout declares one batch (the default, 100%).
    assert_eq!(
        bad(
            "      - name: rate\n        prometheus: {url: http://p:9090, query: up}\n        condition: \"< 1\"\n        batches: [1, 2, 1]\n"
        ),
        [
            "11:22: apps[0].analysis[0].batches[1]: there is no batch 2: the rollout declares 1",
            "11:25: apps[0].analysis[0].batches[2]: duplicate batch \"1\" (first at line 11)",
        ]
    );
}

#[test]
fn a_check_follows_the_batches_it_names_or_every_one() {
    let app = pm_app(
        "api",
        "    rollout:\n      batches: [1, \"50%\", \"100%\"]\n    analysis:\n      - name: canary\n        http: {url: http://h/x, json_path: $.a}\n        condition: \"< 1\"\n        batches: [1, 3]\n      - name: all\n        http: {url: http://h/x, json_path: $.a}\n        condition: \"< 1\"\n",
    );
    let parsed = parse(&config(&[app])).unwrap();
    let [canary, all] = &parsed.apps[0].analysis[..] else {
        panic!("two checks")
    };
    assert_eq!(canary.batches, [1, 3]);
    assert_eq!(
        (0..3).map(|i| canary.follows(i)).collect::<Vec<_>>(),
        [true, false, true]
    );
    assert!((0..3).all(|i| all.follows(i)));
}

#[test]
fn promotion_and_freezes_are_read_with_their_defaults() {
    let source = format!(
        "environments:\n  - name: staging\n  - name: prod\n    promotion: {{after: [staging], soak: 1h}}\napps:\n{}freezes:\n  - name: friday\n    reason: weekend\n    environments: [prod]\n    timezone: Europe/Berlin\n    rrule: \"FREQ=WEEKLY;BYDAY=FR;BYHOUR=16\"\n    duration: 64h\n  - name: year-end\n    reason: year-end freeze\n    environments: [prod, staging]\n    apps: [api]\n    from: 2026-12-23T18:00\n    until: \"2027-01-04T08:00:00+01:00\"\n    blocks: [start]\n",
        pm_app("api", "")
    );
    let parsed = ok(&source);
    assert_eq!(parsed.environments[0].promotion, None);
    assert_eq!(
        parsed.environments[1].promotion,
        Some(Promotion {
            after: vec!["staging".into()],
            soak: Some(DurationSpec(3600)),
        })
    );
    let [friday, year_end] = &parsed.freezes[..] else {
        panic!("two windows: {:?}", parsed.freezes)
    };
    assert_eq!(friday.blocks, [FreezeBlock::Start, FreezeBlock::Batches]);
    assert_eq!(friday.on_running(), OnRunning::Pause);
    assert_eq!(year_end.timezone, "UTC");
    assert_eq!(year_end.on_running(), OnRunning::Finish);
    assert_eq!(year_end.from.as_deref(), Some("2026-12-23T18:00"));
    // The model goes through JSON (the api and the recorded config) unchanged.
    let json = serde_json::to_string(&parsed).unwrap();
    assert_eq!(serde_json::from_str::<Config>(&json).unwrap(), parsed);
}

#[test]
fn promotion_names_declared_environments_without_cycles() {
    let with = |environments: &str| {
        errors(&format!(
            "environments:\n{environments}apps:\n{}",
            pm_app("api", "")
        ))
    };
    assert_eq!(
        with(
            "  - name: staging\n  - name: prod\n    promotion: {after: [stagin, prod], soak: 30}\n"
        ),
        [
            "4:25: environments[1].promotion.after[0]: \"stagin\" is not a declared environment (did you mean `staging`?); declared: staging, prod",
            "4:33: environments[1].promotion.after[1]: \"prod\" cannot come after itself",
            "4:46: environments[1].promotion.soak: 30 has no unit; write it like \"30s\" or \"30m\"",
        ]
    );
    assert_eq!(
        with(
            "  - name: a\n    promotion: {after: [c]}\n  - name: b\n    promotion: {after: [a]}\n  - name: c\n    promotion: {after: [b]}\n  - name: prod\n    promotion: {after: [a]}\n"
        ),
        // Read "a comes after c, which comes after b, which comes after a".
        ["5:25: environments[1].promotion.after[0]: promotion cycle: a → c → b → a"]
    );
    assert_eq!(
        with("  - name: prod\n    promotion: {after: []}\n"),
        [
            "3:24: environments[0].promotion.after: list the environments a version must succeed in first, or remove `promotion`"
        ]
    );
}

#[test]
fn freeze_windows_report_bad_recurrences_zones_and_times_where_they_are() {
    // Apps end on line 14; `freezes:` is line 15, each window's first field line 16.
    let base = config(&[pm_app("api", "")]);
    let bad = |windows: &str| errors(&format!("{base}freezes:\n{windows}"));
    let window =
        |extra: &str| format!("  - name: w\n    reason: r\n    environments: [prod]\n{extra}");
    assert_eq!(
        bad(&window(
            "    timezone: Europe/Berln\n    cron: \"0 16 * * FRI\"\n    duration: 2h\n"
        )),
        [
            "19:15: freezes[0].timezone: \"Europe/Berln\" is not an IANA time zone; write one like \"Europe/Berlin\", \"America/New_York\" or \"UTC\""
        ]
    );
    assert_eq!(
        bad(&window(
            "    rrule: FREQ=WEEKLY;BYHOUR=16\n    duration: 2h\n"
        )),
        [
            "19:12: freezes[0].rrule: FREQ=WEEKLY needs BYDAY (for example BYDAY=FR): a window has no start date to take the weekday from"
        ]
    );
    assert_eq!(
        bad(&window("    cron: \"0 25 * * *\"\n    duration: 2h\n")),
        ["19:11: freezes[0].cron: hour field: 25 is out of range 0-23"]
    );
    assert_eq!(
        bad(&window("    cron: \"0 16 * * FRI\"\n")),
        ["16:5: freezes[0].duration: a recurring window needs a `duration`, for example \"64h\""]
    );
    assert_eq!(
        bad(&window(
            "    from: 2027-01-04T08:00\n    until: 2026-12-23T18:00\n"
        )),
        [
            "20:12: freezes[0].until: \"2026-12-23T18:00\" is not after `from` (\"2027-01-04T08:00\")"
        ]
    );
    assert_eq!(
        bad(&window(
            "    from: 2027-01-04T08:00\n    until: 2027-01-05T08:00\n    blocks: [start]\n    running: pause\n"
        )),
        [
            "22:14: freezes[0].running: running deployments stop only at batch boundaries: `running: pause` needs `batches` in `blocks`"
        ]
    );
    assert_eq!(
        bad(
            "  - name: w\n    reason: \" \"\n    environments: [production]\n    apps: [web]\n    blocks: [start, rollbacks]\n    from: 2027-01-04T08:00\n    until: 2027-01-05T08:00\n  - name: w\n    reason: r\n    environments: [prod]\n    from: 2027-01-04T08:00\n    until: 2027-01-05T08:00\n"
        ),
        [
            "17:13: freezes[0].reason: say why deployments wait; it is shown wherever the window is",
            "18:20: freezes[0].environments[0]: \"production\" is not a declared environment (did you mean `prod`?)",
            "19:12: freezes[0].apps[0]: \"web\" is not a declared app",
            "20:21: freezes[0].blocks[1]: expected one of `start`, `batches`, found the string \"rollbacks\"",
            "23:11: freezes[1].name: duplicate freeze name \"w\" (first at line 16)",
        ]
    );
}
