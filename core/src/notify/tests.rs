use std::path::PathBuf;
use std::time::Duration;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::render::{self, Subject};
use super::*;
use crate::webhook::Provider;

fn rule(sink: &str) -> NotificationRule {
    NotificationRule {
        sink: sink.to_owned(),
        events: None,
        environments: Vec::new(),
        apps: Vec::new(),
    }
}

fn subject(provider: Provider) -> Subject {
    Subject {
        provider,
        full_name: match provider {
            Provider::GitLab => "acme/platform/shop".to_owned(),
            _ => "acme/shop".to_owned(),
        },
        deployment_id: "d-0001".to_owned(),
        environment: "prod".to_owned(),
        version: "v1.4.2".to_owned(),
        commit: "0123456789abcdef0123456789abcdef01234567".to_owned(),
        apps: vec!["api".to_owned(), "web".to_owned()],
        url: "https://boreas.example.com/#/deployments/d-0001".to_owned(),
    }
}

fn every_event() -> Vec<NoticeEvent> {
    vec![
        NoticeEvent::Planned,
        NoticeEvent::GateWaiting {
            app: "api".into(),
            batch: 0,
            gate: "api.0".into(),
        },
        NoticeEvent::Started,
        NoticeEvent::BatchFinished {
            app: "api".into(),
            batch: 1,
            batches: 3,
        },
        NoticeEvent::Succeeded,
        NoticeEvent::RolledBack {
            failed_target: Some("host-3".into()),
        },
        NoticeEvent::Failed {
            failed_target: None,
        },
        NoticeEvent::Cancelled,
        NoticeEvent::Superseded {
            by: "d-0002".into(),
        },
    ]
}

#[test]
fn a_notice_travels_as_json_and_refuses_another_schema_version() {
    let notice = Notice::new(
        "d-1",
        "2026-12-01T10:00:00.000Z",
        NoticeEvent::BatchFinished {
            app: "api".into(),
            batch: 1,
            batches: 3,
        },
    );
    let json = notice.to_json();
    let value: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        value,
        json!({"schema_version": 1, "deployment_id": "d-1", "at": "2026-12-01T10:00:00.000Z",
               "event": "batch_finished", "app": "api", "batch": 1, "batches": 3})
    );
    assert_eq!(Notice::from_json(&json).unwrap(), notice);
    let other = json.replace("\"schema_version\":1", "\"schema_version\":2");
    let err = Notice::from_json(&other).unwrap_err().to_string();
    assert!(err.contains("schema_version 2"), "{err}");
    let err = Notice::from_json(
        r#"{"schema_version":1,"deployment_id":"d","at":"x","event":"exploded"}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("malformed notice"), "{err}");
}

#[test]
fn each_occurrence_has_one_id_and_each_sink_one_delivery_key() {
    let ids: Vec<String> = every_event().iter().map(NoticeEvent::id).collect();
    assert_eq!(
        ids,
        [
            "planned",
            "gate_waiting:api.0",
            "started",
            "batch_finished:api.1",
            "succeeded",
            "rolled_back",
            "failed",
            "cancelled",
            "superseded"
        ]
    );
    let a = Notice::new("d-1", "2026-12-01T10:00:00.000Z", NoticeEvent::Succeeded);
    // Reported again later (a redelivery, a retried state): the same delivery.
    let again = Notice::new("d-1", "2026-12-01T10:05:00.000Z", NoticeEvent::Succeeded);
    assert_eq!(delivery_key(&a, "git"), "d-1/succeeded/git");
    assert_eq!(delivery_key(&a, "git"), delivery_key(&again, "git"));
    assert_ne!(delivery_key(&a, "git"), delivery_key(&a, "chat"));
    let other = Notice::new("d-2", "2026-12-01T10:00:00.000Z", NoticeEvent::Succeeded);
    assert_ne!(delivery_key(&a, "git"), delivery_key(&other, "git"));
}

#[test]
fn rules_choose_sinks_by_event_environment_and_changed_app() {
    let apps = vec!["api".to_owned()];
    let gate = NoticeEvent::GateWaiting {
        app: "api".into(),
        batch: 0,
        gate: "api.0".into(),
    };
    let web_batch = NoticeEvent::BatchFinished {
        app: "web".into(),
        batch: 0,
        batches: 2,
    };
    // Defaults: git hears everything, chat what needs a person and how it ended.
    let rules = vec![rule("git"), rule("chat")];
    assert_eq!(
        sinks_for(&rules, "prod", &apps, &NoticeEvent::Planned),
        ["git"]
    );
    assert_eq!(sinks_for(&rules, "prod", &apps, &gate), ["git", "chat"]);
    assert_eq!(
        sinks_for(&rules, "prod", &apps, &NoticeEvent::Succeeded),
        ["git", "chat"]
    );
    assert_eq!(
        sinks_for(&rules, "prod", &apps, &NoticeEvent::Cancelled),
        ["git"]
    );
    // Environments.
    let rules = vec![NotificationRule {
        environments: vec!["prod".into()],
        ..rule("git")
    }];
    assert_eq!(
        sinks_for(&rules, "prod", &apps, &NoticeEvent::Started),
        ["git"]
    );
    assert!(sinks_for(&rules, "staging", &apps, &NoticeEvent::Started).is_empty());
    // Apps: a deployment in which none of the rule's apps changed sends nothing; a gate or a
    // batch of another app neither.
    let rules = vec![NotificationRule {
        apps: vec!["web".into()],
        ..rule("git")
    }];
    assert!(sinks_for(&rules, "prod", &apps, &NoticeEvent::Succeeded).is_empty());
    let both = vec!["api".to_owned(), "web".to_owned()];
    assert_eq!(
        sinks_for(&rules, "prod", &both, &NoticeEvent::Succeeded),
        ["git"]
    );
    assert!(sinks_for(&rules, "prod", &both, &gate).is_empty());
    assert_eq!(sinks_for(&rules, "prod", &both, &web_batch), ["git"]);
    // Explicit events; two rules naming one sink deliver once.
    let rules = vec![
        NotificationRule {
            events: Some(vec![NoticeKind::Cancelled, NoticeKind::Planned]),
            ..rule("chat")
        },
        rule("chat"),
    ];
    assert_eq!(
        sinks_for(&rules, "prod", &apps, &NoticeEvent::Planned),
        ["chat"]
    );
    assert_eq!(
        sinks_for(&rules, "prod", &apps, &NoticeEvent::Succeeded),
        ["chat"]
    );
    assert!(sinks_for(&rules, "prod", &apps, &NoticeEvent::Started).is_empty());
}

#[test]
fn retries_double_up_to_a_quarter_of_an_hour_then_stop() {
    let b = Backoff::DEFAULT;
    let delays: Vec<Option<Duration>> = (1..=8).map(|a| b.delay_after(a)).collect();
    let secs = |s| Some(Duration::from_secs(s));
    assert_eq!(
        delays,
        [
            secs(30),
            secs(60),
            secs(120),
            secs(240),
            secs(480),
            secs(900),
            None,
            None
        ]
    );
    assert_eq!(b.delay_after(0), None);
    let fast = Backoff {
        first: Duration::from_millis(100),
        attempts: 3,
    };
    assert_eq!(fast.delay_after(2), Some(Duration::from_millis(200)));
    assert_eq!(fast.delay_after(3), None);
}

proptest! {
    #[test]
    fn backoff_never_shrinks_and_never_passes_its_cap(first in 1u64..10_000, attempts in 1u32..80) {
        let b = Backoff { first: Duration::from_millis(first), attempts };
        let mut last = Duration::ZERO;
        for attempt in 1..attempts {
            let d = b.delay_after(attempt).unwrap();
            prop_assert!(d >= last && d <= Backoff::MAX_DELAY);
            last = d;
        }
        prop_assert_eq!(b.delay_after(attempts), None);
    }
}

#[test]
fn statuses_follow_each_hosts_vocabulary() {
    let states = |p| {
        every_event()
            .iter()
            .map(|e| render::commit_state(p, e))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        states(Provider::GitHub),
        [
            "pending", "pending", "pending", "pending", "success", "failure", "failure", "error",
            "error"
        ]
    );
    assert_eq!(
        states(Provider::Gitea),
        [
            "pending", "pending", "pending", "pending", "success", "failure", "failure", "error",
            "error"
        ]
    );
    assert_eq!(
        states(Provider::GitLab),
        [
            "pending", "running", "running", "running", "success", "failed", "failed", "canceled",
            "canceled"
        ]
    );
    let deployment: Vec<&str> = every_event()
        .iter()
        .map(render::github_deployment_state)
        .collect();
    assert_eq!(
        deployment,
        [
            "queued",
            "in_progress",
            "in_progress",
            "in_progress",
            "success",
            "failure",
            "failure",
            "inactive",
            "inactive"
        ]
    );
}

#[test]
fn summaries_say_what_happened_in_one_line() {
    let s = subject(Provider::GitHub);
    let lines: Vec<String> = every_event()
        .iter()
        .map(|e| render::summary(&s, e))
        .collect();
    assert_eq!(
        lines,
        [
            "v1.4.2 is planned for prod (api, web), waiting for confirmation",
            "v1.4.2 in prod waits for approval at gate api.0",
            "v1.4.2 is deploying to prod",
            "v1.4.2 in prod: api batch 2 of 3 done",
            "v1.4.2 is deployed to prod",
            "v1.4.2 was rolled back in prod after host-3 failed",
            "v1.4.2 failed in prod",
            "v1.4.2 to prod was cancelled",
            "v1.4.2 to prod was superseded by deployment d-0002",
        ]
    );
}

#[test]
fn long_descriptions_are_cut_to_what_the_host_keeps() {
    let mut s = subject(Provider::GitHub);
    s.apps = (0..60).map(|i| format!("app-{i}")).collect();
    let req = render::commit_status(&s, &NoticeEvent::Planned);
    let description = req.body["description"].as_str().unwrap();
    assert_eq!(description.chars().count(), 140);
    assert!(description.ends_with('…'));
    s.provider = Provider::GitLab;
    let req = render::commit_status(&s, &NoticeEvent::Planned);
    assert_eq!(
        req.body["description"].as_str().unwrap().chars().count(),
        255
    );
}

#[test]
fn chat_text_escapes_what_slack_reserves() {
    let mut s = subject(Provider::GitHub);
    s.version = "v1<&>".into();
    let text = render::chat_message(&s, &NoticeEvent::Succeeded)["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        text,
        "*acme/shop*: v1&lt;&amp;&gt; is deployed to prod <https://boreas.example.com/#/deployments/d-0001|Open in Boreas>"
    );
}

#[test]
fn a_webhook_signature_covers_the_timestamp_and_the_body() {
    let body = br#"{"event":"succeeded"}"#;
    let sig = render::webhook_signature(b"s3cret", 1_764_583_200, body);
    // The same computation a receiver does with a standard tool:
    // printf '1764583200.{"event":"succeeded"}' | openssl dgst -sha256 -hmac s3cret
    assert_eq!(
        sig,
        "t=1764583200,v1=9fde1e08c62df4e2ee18a5bf4cccb4f12490851d397c1b4a882dadcfed3dfe17"
    );
    assert_ne!(
        sig,
        render::webhook_signature(b"s3cret", 1_764_583_201, body)
    );
    assert_ne!(
        sig,
        render::webhook_signature(b"other", 1_764_583_200, body)
    );
    assert_ne!(
        sig,
        render::webhook_signature(b"s3cret", 1_764_583_200, b"{}")
    );
}

/// The request bodies as files under `tests/support/fixtures/notify`, where the test-support
/// crate validates each against its host's published request schema.
/// `BOREAS_UPDATE_FIXTURES=1` writes them after a deliberate change.
#[test]
fn request_bodies_match_their_fixtures() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/support/fixtures/notify");
    let notice = Notice::new(
        "d-0001",
        "2026-12-01T10:00:00.000Z",
        NoticeEvent::RolledBack {
            failed_target: Some("host-3".into()),
        },
    );
    let gh = subject(Provider::GitHub);
    let mut bodies: Vec<(&str, Value)> = vec![
        (
            "github/repos_create-deployment",
            render::github_deployment(&gh).body,
        ),
        (
            "github/repos_create-deployment-status",
            render::github_deployment_status(&gh, 42, &notice.event).body,
        ),
        (
            "github/repos_create-commit-status",
            render::commit_status(&gh, &notice.event).body,
        ),
        (
            "gitlab/create-commit-status",
            render::commit_status(&subject(Provider::GitLab), &notice.event).body,
        ),
        (
            "gitea/repoCreateStatus",
            render::commit_status(&subject(Provider::Gitea), &notice.event).body,
        ),
        ("chat/slack", render::chat_message(&gh, &notice.event)),
    ];
    bodies.push(("webhook/boreas", render::webhook_body(&gh, &notice)));
    let update = std::env::var_os("BOREAS_UPDATE_FIXTURES").is_some();
    for (name, body) in bodies {
        let file = dir.join(format!("{name}.json"));
        let text = serde_json::to_string_pretty(&body).unwrap() + "\n";
        if update {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, &text).unwrap();
        }
        let stored = std::fs::read_to_string(&file).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (BOREAS_UPDATE_FIXTURES=1 writes it)",
                file.display()
            )
        });
        assert_eq!(
            stored, text,
            "{name} changed; BOREAS_UPDATE_FIXTURES=1 rewrites it"
        );
    }
}

#[test]
fn paths_name_the_repository_and_the_commit() {
    let ev = NoticeEvent::Started;
    let gh = subject(Provider::GitHub);
    let sha = &gh.commit;
    assert_eq!(
        render::commit_status(&gh, &ev).path,
        format!("/repos/acme/shop/statuses/{sha}")
    );
    assert_eq!(
        render::github_deployment(&gh).path,
        "/repos/acme/shop/deployments"
    );
    assert_eq!(
        render::github_deployment_status(&gh, 7, &ev).path,
        "/repos/acme/shop/deployments/7/statuses"
    );
    assert_eq!(
        render::commit_status(&subject(Provider::GitLab), &ev).path,
        format!("/projects/acme%2Fplatform%2Fshop/statuses/{sha}")
    );
    assert_eq!(
        render::commit_status(&subject(Provider::Gitea), &ev).path,
        format!("/repos/acme/shop/statuses/{sha}")
    );
    let headers = render::commit_status(&gh, &ev).headers;
    assert!(headers.contains(&("X-GitHub-Api-Version", "2022-11-28".to_owned())));
    assert_eq!(
        render::commit_status(&gh, &ev).body["context"],
        "boreas/prod"
    );
    assert_eq!(
        render::commit_status(&subject(Provider::GitLab), &ev).body["name"],
        "boreas/prod"
    );
}

#[test]
fn api_bases_follow_each_hosts_convention() {
    use render::api_base;
    assert_eq!(
        api_base(Provider::GitHub, "github.com", true),
        "https://api.github.com"
    );
    assert_eq!(
        api_base(Provider::GitHub, "ghe.example.com", true),
        "https://ghe.example.com/api/v3"
    );
    assert_eq!(
        api_base(Provider::GitLab, "gitlab.com", true),
        "https://gitlab.com/api/v4"
    );
    assert_eq!(
        api_base(Provider::Gitea, "127.0.0.1:3000", false),
        "http://127.0.0.1:3000/api/v1"
    );
}

#[test]
fn a_late_event_is_of_an_earlier_stage() {
    let stages: Vec<u8> = every_event().iter().map(|e| e.kind().stage()).collect();
    assert_eq!(stages, [0, 2, 1, 2, 3, 3, 3, 3, 3]);
    let by_id: Vec<Option<NoticeKind>> = every_event()
        .iter()
        .map(|e| NoticeEvent::kind_of_id(&e.id()))
        .collect();
    let kinds: Vec<Option<NoticeKind>> = every_event().iter().map(|e| Some(e.kind())).collect();
    assert_eq!(by_id, kinds);
    assert_eq!(NoticeEvent::kind_of_id("github_deployment"), None);
}

#[test]
fn a_registered_sink_is_checked_without_repeating_its_credentials() {
    let slack: SinkSpec = serde_json::from_value(
        json!({"kind": "slack", "url": "https://hooks.example.com/T0/B0/xyz"}),
    )
    .unwrap();
    assert_eq!(slack.check(), Ok(()));
    assert_eq!(format!("{slack:?}"), "SinkSpec(slack, <redacted>)");
    let plain = SinkSpec::Slack {
        url: "http://hooks.example.com/T0/B0/xyz".into(),
    };
    let err = plain.check().unwrap_err();
    assert!(
        err.starts_with("url: must be an https URL") && !err.contains("xyz"),
        "{err}"
    );
    let local = SinkSpec::Webhook {
        url: "http://127.0.0.1:9/hook".into(),
        secret: "0123456789abcdef".into(),
    };
    assert_eq!(local.check(), Ok(()));
    let short = SinkSpec::Webhook {
        url: "https://example.com/hook".into(),
        secret: "short-secret".into(),
    };
    assert_eq!(
        short.check().unwrap_err(),
        "secret: must be at least 16 characters"
    );
    assert!(
        serde_json::from_value::<SinkSpec>(json!({"kind": "teams", "url": "https://x"})).is_err()
    );
}

#[test]
fn a_repository_without_a_section_gets_the_installation_defaults() {
    let own = vec![rule("team-chat")];
    let defaults = vec![rule("git"), rule("audit-hook")];
    assert_eq!(rules_for(Some(&own), &defaults), own.as_slice());
    assert_eq!(rules_for(Some(&[]), &defaults), &[] as &[NotificationRule]);
    assert_eq!(rules_for(None, &defaults), defaults.as_slice());
}

#[test]
fn default_rules_are_checked_as_names_and_each_problem_names_its_place() {
    let fine = NotificationRule {
        events: Some(vec![NoticeKind::Succeeded, NoticeKind::Failed]),
        environments: vec!["prod".into()],
        apps: vec!["api".into()],
        ..rule("team-chat")
    };
    assert!(default_rule_problems(std::slice::from_ref(&fine)).is_empty());
    let bad = vec![
        NotificationRule {
            events: Some(vec![]),
            environments: vec!["Prod".into(), "prod".into(), "prod".into()],
            ..rule("Team Chat")
        },
        NotificationRule {
            events: Some(vec![NoticeKind::Failed, NoticeKind::Failed]),
            apps: vec!["api-".into()],
            ..rule("git")
        },
        fine.clone(),
        fine,
    ];
    assert_eq!(
        default_rule_problems(&bad),
        [
            "rules[0].sink: \"Team Chat\" is not a valid sink name: use 1 to 40 lowercase letters, digits and '-', starting and ending with a letter or digit",
            "rules[0].events: list at least one event, or leave `events` out to send the default ones",
            "rules[0].environments[0]: \"Prod\" is not a valid environment name: use 1 to 40 lowercase letters, digits and '-', starting and ending with a letter or digit",
            "rules[0].environments[2]: duplicate environment \"prod\"",
            "rules[1].events[1]: duplicate event failed",
            "rules[1].apps[0]: \"api-\" is not a valid app name: use 1 to 40 lowercase letters, digits and '-', starting and ending with a letter or digit",
            "rules[3]: the same as an earlier rule",
        ]
    );
    let many = vec![rule("git"); MAX_DEFAULT_RULES + 1];
    assert!(default_rule_problems(&many)[0].starts_with("rules: 51 rules; at most 50"));
}
