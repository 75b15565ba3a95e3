//! The intake handler against the emulator (DynamoDB, SQS, SSM), with the published payloads of
//! every provider signed by the test.

mod common;

use boreas_core::status::VersionStatus;
use boreas_core::version::{CommitId, Version, VersionState};
use boreas_core::webhook::{Provider, RefKind, sign};
use boreas_test_support::records::version;
use boreas_test_support::webhook::{fixture, fixture_json, tag_push};
use common::{Env, expect, signed_request};

const GH_TAG: &str = "github/push-tag-created-ghes-35.json";
/// The host of [`GH_TAG`]'s repository (a GitHub Enterprise Server).
const GHES: &str = "octocoders.github.io";
/// The id its repository is registered under.
const GH_ID: &str = "octocoders.github.io/codertocat/hello-world";
const GH_COMMIT: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";

#[tokio::test]
async fn a_github_tag_push_records_the_version_and_queues_one_plan_job() {
    let env = Env::new().await;
    env.register(GHES, "Codertocat/Hello-World", Provider::GitHub, &[])
        .await;
    let resp = env
        .deliver(Provider::GitHub, "push", "gh-1", &fixture(GH_TAG))
        .await;
    expect(&resp, 202, "queued");
    assert!(
        resp.body_json()
            .starts_with(r#"{"status":"queued","message":"#),
        "{}",
        resp.body_json()
    );

    let versions = env.versions().await;
    assert_eq!(versions.len(), 1);
    let v = &versions[0];
    assert_eq!(
        v.version,
        Version {
            repository: GH_ID.into(),
            name: "simple-tag".into(),
            commit: CommitId(GH_COMMIT.into()),
            state: VersionState::Normal,
        }
    );
    assert_eq!(v.status, VersionStatus::Received);
    assert_eq!(v.pushed_by.as_deref(), Some("Codertocat"));

    let jobs = env.plan_jobs().await;
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(
        (
            job.repository.as_str(),
            job.version.as_str(),
            job.commit.as_str(),
            job.delivery_id.as_str()
        ),
        (GH_ID, "simple-tag", GH_COMMIT, "gh-1")
    );
    assert_eq!(
        (job.ref_kind, job.provider),
        (RefKind::Tag, Provider::GitHub)
    );
    assert!(!env.delivery_is_new(Provider::GitHub, "gh-1").await);
}

#[tokio::test]
async fn gitlab_tag_and_branch_pushes_make_versions() {
    let env = Env::new().await;
    env.register(
        "example.com",
        "jsmith/example",
        Provider::GitLab,
        &["refs/tags/v*"],
    )
    .await;
    env.register(
        "example.com",
        "mike/diaspora",
        Provider::GitLab,
        &["refs/heads/master"],
    )
    .await;
    let tag = env
        .deliver(
            Provider::GitLab,
            "Tag Push Hook",
            "gl-1",
            &fixture("gitlab/tag-push.json"),
        )
        .await;
    expect(&tag, 202, "queued");
    let branch = env
        .deliver(
            Provider::GitLab,
            "Push Hook",
            "gl-2",
            &fixture("gitlab/push.json"),
        )
        .await;
    expect(&branch, 202, "queued");

    let versions = env.versions().await;
    let tagged = versions.iter().find(|v| v.version.name == "v1.0.0");
    assert_eq!(
        tagged.and_then(|v| v.pushed_by.as_deref()),
        Some("John Smith")
    );
    let mut names: Vec<(String, String, String)> = versions
        .into_iter()
        .map(|v| (v.version.repository, v.version.name, v.version.commit.0))
        .collect();
    names.sort();
    let branch_commit = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";
    assert_eq!(
        names,
        [
            (
                "example.com/jsmith/example".to_owned(),
                "v1.0.0".to_owned(),
                "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7".to_owned()
            ),
            // Branch pushes make versions named by their commit.
            (
                "example.com/mike/diaspora".to_owned(),
                branch_commit.to_owned(),
                branch_commit.to_owned()
            ),
        ]
    );
    let mut jobs = env.plan_jobs().await;
    jobs.sort_by(|a, b| a.delivery_id.cmp(&b.delivery_id));
    assert_eq!(jobs.len(), 2);
    assert_eq!(
        (jobs[1].ref_kind, jobs[1].ref_name.as_str()),
        (RefKind::Branch, "master")
    );
}

#[tokio::test]
async fn a_gitea_push_makes_a_version_only_when_its_branch_is_a_trigger() {
    let env = Env::new().await;
    let body = fixture("gitea/push.json");
    // Default triggers: every tag, no branch.
    env.register("localhost:3000", "gitea/webhooks", Provider::Gitea, &[])
        .await;
    let resp = env.deliver(Provider::Gitea, "push", "gt-1", &body).await;
    expect(&resp, 202, "ignored");
    assert!(
        resp.body.message.contains("branch develop does not match"),
        "{}",
        resp.body.message
    );
    env.assert_nothing_written(Provider::Gitea, "gt-1").await;

    env.register(
        "localhost:3000",
        "gitea/webhooks",
        Provider::Gitea,
        &["refs/heads/develop"],
    )
    .await;
    let resp = env.deliver(Provider::Gitea, "push", "gt-2", &body).await;
    expect(&resp, 202, "queued");
    let versions = env.versions().await;
    assert_eq!(versions.len(), 1);
    assert_eq!(
        versions[0].version.name,
        "bffeb74224043ba2feb48d137756c8a9331c449a"
    );
    assert_eq!(env.plan_jobs().await.len(), 1);
}

#[tokio::test]
async fn missing_or_wrong_signatures_are_401_and_write_nothing() {
    let env = Env::new().await;
    env.register(GHES, "Codertocat/Hello-World", Provider::GitHub, &[])
        .await;
    env.register("example.com", "jsmith/example", Provider::GitLab, &[])
        .await;
    env.register(
        "localhost:3000",
        "gitea/webhooks",
        Provider::Gitea,
        &["refs/heads/develop"],
    )
    .await;
    let gh = fixture(GH_TAG);
    let gl = fixture("gitlab/tag-push.json");
    let gt = fixture("gitea/push.json");
    let good_gh = sign(Provider::GitHub, &gh, env.secret.as_bytes());
    let other_body = sign(Provider::GitHub, b"{}", env.secret.as_bytes());
    let other_key = sign(Provider::GitHub, &gh, b"not the secret");
    let gitea_other_key = sign(Provider::Gitea, &gt, b"not the secret");
    // (provider, event, signature header, body, what the message says)
    type Case<'a> = (Provider, &'a str, Option<&'a str>, &'a [u8], &'a str);
    let cases: [Case; 7] = [
        (Provider::GitHub, "push", None, &gh, "is missing"),
        (
            Provider::GitHub,
            "push",
            Some(&other_body),
            &gh,
            "does not match",
        ),
        (
            Provider::GitHub,
            "push",
            Some(&other_key),
            &gh,
            "does not match",
        ),
        (
            Provider::GitHub,
            "push",
            Some(&good_gh[7..]),
            &gh,
            "not of the form",
        ),
        (
            Provider::GitLab,
            "Tag Push Hook",
            Some("guess"),
            &gl,
            "does not match",
        ),
        (
            Provider::Gitea,
            "push",
            Some(&gitea_other_key),
            &gt,
            "does not match",
        ),
        (Provider::Gitea, "push", None, &gt, "is missing"),
    ];
    for (i, (provider, event, signature, body, why)) in cases.into_iter().enumerate() {
        let delivery = format!("bad-{i}");
        let mut headers = vec![
            (provider.event_header(), event),
            (provider.delivery_header(), delivery.as_str()),
        ];
        if let Some(s) = signature {
            headers.push((provider.signature_header(), s));
        }
        let resp = env.send(provider.as_str(), &headers, body).await;
        expect(&resp, 401, "unauthorized");
        assert!(
            resp.body.message.contains(why),
            "case {i}: {}",
            resp.body.message
        );
        assert!(
            resp.body.message.contains(provider.signature_header()),
            "case {i}: {}",
            resp.body.message
        );
        env.assert_nothing_written(provider, &delivery).await;
    }
}

#[tokio::test]
async fn unknown_repositories_providers_and_oversized_bodies_are_refused() {
    let env = Env::new().await;
    // Registered for GitLab, delivered through the GitHub route.
    env.register(GHES, "Codertocat/Hello-World", Provider::GitLab, &[])
        .await;
    let body = fixture(GH_TAG);
    let resp = env.deliver(Provider::GitHub, "push", "r-1", &body).await;
    expect(&resp, 404, "unknown_repository");
    assert!(
        resp.body.message.contains(GH_ID) && resp.body.message.contains("gitlab"),
        "{}",
        resp.body.message
    );
    env.assert_nothing_written(Provider::GitHub, "r-1").await;

    // The same full name on github.com is another repository: the GHES payload does not reach it.
    env.register(
        "github.com",
        "Codertocat/Hello-World",
        Provider::GitHub,
        &[],
    )
    .await;
    let resp = env.deliver(Provider::GitHub, "push", "r-4", &body).await;
    expect(&resp, 404, "unknown_repository");
    env.assert_nothing_written(Provider::GitHub, "r-4").await;

    let resp = env
        .deliver(
            Provider::GitHub,
            "push",
            "r-2",
            &fixture("github/ping.json"),
        )
        .await;
    expect(&resp, 404, "unknown_repository");
    assert!(resp.body.message.contains("Octocoders/Hello-World"));

    let resp = env
        .send("bitbucket", &[("X-Hub-Signature-256", "sha256=00")], &body)
        .await;
    expect(&resp, 404, "unknown_provider");

    // 1 MiB and one byte: refused before anything is read.
    let mut big = body.clone();
    big.resize(boreas_intake::MAX_BODY + 1, b' ');
    let resp = env.deliver(Provider::GitHub, "push", "r-3", &big).await;
    expect(&resp, 413, "payload_too_large");
    env.assert_nothing_written(Provider::GitHub, "r-3").await;
}

#[tokio::test]
async fn malformed_bodies_and_missing_fields_are_400_naming_the_field() {
    let env = Env::new().await;
    env.register(GHES, "Codertocat/Hello-World", Provider::GitHub, &[])
        .await;
    let good = fixture_json(GH_TAG);
    let without = |field: &str| {
        let mut v = good.clone();
        v.as_object_mut().unwrap().remove(field);
        serde_json::to_vec(&v).unwrap()
    };
    let mut no_name = good.clone();
    no_name["repository"]
        .as_object_mut()
        .unwrap()
        .remove("full_name");
    let mut bad_after = good.clone();
    bad_after["after"] = serde_json::json!("main");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{\"ref\": ".to_vec(), "not a JSON object"),
        (b"[]".to_vec(), "not a JSON object"),
        (
            serde_json::to_vec(&no_name).unwrap(),
            "`repository.full_name` is missing",
        ),
        (without("after"), "`after` is missing"),
        (without("ref"), "`ref` is missing"),
        (
            serde_json::to_vec(&bad_after).unwrap(),
            "`after` is \"main\"",
        ),
    ];
    for (i, (body, why)) in cases.into_iter().enumerate() {
        let delivery = format!("m-{i}");
        let resp = env
            .deliver(Provider::GitHub, "push", &delivery, &body)
            .await;
        expect(&resp, 400, "bad_request");
        assert!(
            resp.body.message.contains(why),
            "case {i}: {}",
            resp.body.message
        );
        env.assert_nothing_written(Provider::GitHub, &delivery)
            .await;
    }

    // A signed push without its delivery id or event name.
    let body = fixture(GH_TAG);
    let signature = sign(Provider::GitHub, &body, env.secret.as_bytes());
    let resp = env
        .send(
            "github",
            &[
                ("X-GitHub-Event", "push"),
                ("X-Hub-Signature-256", &signature),
            ],
            &body,
        )
        .await;
    expect(&resp, 400, "bad_request");
    assert_eq!(resp.body.message, "header X-GitHub-Delivery is missing");
    let resp = env
        .send(
            "github",
            &[
                ("X-GitHub-Delivery", "m-x"),
                ("X-Hub-Signature-256", &signature),
            ],
            &body,
        )
        .await;
    expect(&resp, 400, "bad_request");
    assert_eq!(resp.body.message, "header X-GitHub-Event is missing");
    env.assert_nothing_written(Provider::GitHub, "m-x").await;
}

#[tokio::test]
async fn pings_deletions_other_events_and_unmatched_refs_write_nothing() {
    let env = Env::new().await;
    env.register(
        "github.com",
        "Octocoders/Hello-World",
        Provider::GitHub,
        &[],
    )
    .await;
    for host in [GHES, "github.com"] {
        env.register(
            host,
            "Codertocat/Hello-World",
            Provider::GitHub,
            &["refs/tags/v*"],
        )
        .await;
    }
    let resp = env
        .deliver(
            Provider::GitHub,
            "ping",
            "p-1",
            &fixture("github/ping.json"),
        )
        .await;
    expect(&resp, 200, "pong");
    env.assert_nothing_written(Provider::GitHub, "p-1").await;

    let cases = [
        (
            "push",
            "github/push-tag-deleted.json",
            "tag simple-tag was deleted",
        ),
        ("push", "github/push-1.json", "tag simple-tag was deleted"),
        (
            "push",
            GH_TAG,
            "tag simple-tag does not match the repository's triggers",
        ),
        (
            "push",
            "github/push-new-branch.json",
            "branch master does not match",
        ),
        (
            "create",
            "github/create-tag-or-branch.json",
            "create events make no version",
        ),
    ];
    for (i, (event, file, why)) in cases.into_iter().enumerate() {
        let delivery = format!("s-{i}");
        let resp = env
            .deliver(Provider::GitHub, event, &delivery, &fixture(file))
            .await;
        expect(&resp, 202, "ignored");
        assert!(
            resp.body.message.contains(why),
            "{file}: {}",
            resp.body.message
        );
        env.assert_nothing_written(Provider::GitHub, &delivery)
            .await;
    }
}

#[tokio::test]
async fn a_replayed_delivery_is_a_duplicate_and_changes_nothing() {
    let env = Env::new().await;
    env.register(GHES, "Codertocat/Hello-World", Provider::GitHub, &[])
        .await;
    let body = fixture(GH_TAG);
    let first = env.deliver(Provider::GitHub, "push", "d-1", &body).await;
    expect(&first, 202, "queued");
    let before = env.versions().await;

    for _ in 0..2 {
        let replay = env.deliver(Provider::GitHub, "push", "d-1", &body).await;
        expect(&replay, 200, "duplicate");
    }
    assert_eq!(env.versions().await, before, "the version is untouched");
    assert_eq!(env.plan_jobs().await.len(), 1, "one plan job only");

    // The same tag moved to another commit: refused, nothing replaced.
    let other = "1111111111111111111111111111111111111111";
    let moved = tag_push(
        Provider::GitHub,
        "Codertocat/Hello-World",
        "simple-tag",
        other,
    );
    let resp = env
        .deliver(
            Provider::GitHub,
            "push",
            "d-2",
            &serde_json::to_vec(&moved).unwrap(),
        )
        .await;
    expect(&resp, 409, "conflict");
    assert!(
        resp.body.message.contains(GH_COMMIT),
        "{}",
        resp.body.message
    );
    assert_eq!(env.versions().await, before);
    assert_eq!(env.plan_jobs().await, Vec::new());
    assert!(env.delivery_is_new(Provider::GitHub, "d-2").await);
}

#[tokio::test]
async fn a_delivery_whose_handling_stopped_after_the_version_is_completed_on_redelivery() {
    let env = Env::new().await;
    env.register(GHES, "Codertocat/Hello-World", Provider::GitHub, &[])
        .await;
    // What a first attempt that stopped right after recording the version leaves behind.
    let stopped = version(GH_ID, "simple-tag", GH_COMMIT);
    assert!(env.store.put_version(&stopped).await.unwrap());

    let resp = env
        .deliver(Provider::GitHub, "push", "c-1", &fixture(GH_TAG))
        .await;
    expect(&resp, 202, "queued");
    let jobs = env.plan_jobs().await;
    assert_eq!(jobs.len(), 1, "the missing plan job is sent");
    assert_eq!(jobs[0].version, "simple-tag");
    assert_eq!(env.versions().await, vec![stopped]);
    // Now fully handled: a replay is a duplicate.
    let replay = env
        .deliver(Provider::GitHub, "push", "c-1", &fixture(GH_TAG))
        .await;
    expect(&replay, 200, "duplicate");
    assert_eq!(env.plan_jobs().await, Vec::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_deliveries_of_different_tags_all_land() {
    let env = Env::new().await;
    env.register(
        GHES,
        "Codertocat/Hello-World",
        Provider::GitHub,
        &["refs/tags/v*"],
    )
    .await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let commit = format!("{:040x}", i + 1);
        let payload = tag_push(
            Provider::GitHub,
            "Codertocat/Hello-World",
            &format!("v1.0.{i}"),
            &commit,
        );
        let body = serde_json::to_vec(&payload).unwrap();
        let req = signed_request(
            Provider::GitHub,
            "push",
            &format!("cc-{i}"),
            &body,
            &env.secret,
        );
        let intake = env.intake.clone();
        tasks.spawn(async move { boreas_intake::handle(&intake, req).await });
    }
    for resp in tasks.join_all().await {
        expect(&resp, 202, "queued");
    }
    let mut names: Vec<String> = env
        .versions()
        .await
        .into_iter()
        .map(|v| v.version.name)
        .collect();
    names.sort();
    let mut expected: Vec<String> = (0..20).map(|i| format!("v1.0.{i}")).collect();
    expected.sort();
    assert_eq!(names, expected);
    let mut jobs: Vec<String> = env
        .plan_jobs()
        .await
        .into_iter()
        .map(|j| j.version)
        .collect();
    jobs.sort();
    assert_eq!(jobs, expected);
}

/// After a rotation the old secret is accepted until its grace period ends, then refused; the
/// new one is accepted from the start.
#[tokio::test]
async fn a_rotated_out_secret_works_until_its_grace_period_ends() {
    use boreas_aws::secrets::{SecretValue, Secrets};
    use boreas_aws::store::{PreviousSecret, rfc3339};
    let env = Env::new().await;
    let (old, new) = ("old-secret-0123456789abcdef", "new-secret-0123456789abcdef");
    let mut repo = env.repository(GHES, "Codertocat/Hello-World", Provider::GitHub, &[]);
    repo.secret_param = env.names.webhook_secret_param(&repo.id);
    for value in [old, new] {
        env.secrets
            .put(&repo.secret_param, &SecretValue::new(value), true)
            .await
            .unwrap();
    }
    env.store.put_repository(&repo).await.unwrap();
    let previous = |until: std::time::SystemTime| PreviousSecret {
        version: 1,
        until: rfc3339(until),
    };
    let now = std::time::SystemTime::now();
    env.store
        .set_previous_secret(
            &repo.id,
            &previous(now + std::time::Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    let tag = |name: &str| {
        let mut v: serde_json::Value = serde_json::from_slice(&fixture(GH_TAG)).unwrap();
        v["ref"] = format!("refs/tags/{name}").into();
        serde_json::to_vec(&v).unwrap()
    };
    let send = |delivery: &str, body: Vec<u8>, secret: &str| {
        boreas_intake::handle(
            &env.intake,
            signed_request(Provider::GitHub, "push", delivery, &body, secret),
        )
    };
    expect(&send("g-1", tag("v1"), old).await, 202, "queued");
    expect(&send("g-2", tag("v2"), new).await, 202, "queued");
    expect(
        &send("g-3", tag("v3"), "never-the-secret-0123").await,
        401,
        "unauthorized",
    );
    // The grace period over (the record as it is once its time has passed).
    repo.previous_secret = Some(previous(now - std::time::Duration::from_secs(1)));
    env.store.put_repository(&repo).await.unwrap();
    let resp = send("g-4", tag("v4"), old).await;
    expect(&resp, 401, "unauthorized");
    let mut names: Vec<String> = env
        .versions()
        .await
        .into_iter()
        .map(|v| v.version.name)
        .collect();
    names.sort();
    assert_eq!(names, ["v1", "v2"]);
    let last = env.store.last_deliveries(&[repo.id.clone()]).await.unwrap();
    assert_eq!(
        (last[&repo.id].status, last[&repo.id].delivery_id.as_deref()),
        (401, Some("g-4"))
    );
}

/// A registered repository whose secret parameter is missing answers a named error (not a bare
/// 500) and writes nothing; an organisation's ping, naming no repository, answers 200.
#[tokio::test]
async fn a_missing_secret_is_named_and_an_organisation_ping_is_pong() {
    let env = Env::new().await;
    let mut repo = env.repository(GHES, "Codertocat/Hello-World", Provider::GitHub, &[]);
    repo.secret_param = env.names.webhook_secret_param("never-created");
    env.store.put_repository(&repo).await.unwrap();
    let resp = env
        .deliver(Provider::GitHub, "push", "ms-1", &fixture(GH_TAG))
        .await;
    expect(&resp, 500, "webhook_secret_missing");
    assert!(resp.body.message.contains(GH_ID), "{}", resp.body.message);
    env.assert_nothing_written(Provider::GitHub, "ms-1").await;
    let last = env.store.last_deliveries(&[repo.id.clone()]).await.unwrap();
    assert_eq!(last[&repo.id].outcome, "webhook_secret_missing");

    let mut ping: serde_json::Value = serde_json::from_slice(&fixture("github/ping.json")).unwrap();
    ping.as_object_mut().unwrap().remove("repository");
    ping["hook"]["type"] = "Organization".into();
    let resp = env
        .send(
            "github",
            &[("X-GitHub-Event", "ping"), ("X-GitHub-Delivery", "org-1")],
            &serde_json::to_vec(&ping).unwrap(),
        )
        .await;
    expect(&resp, 200, "pong");
}

/// A GitLab push from a project in nested subgroups (its published payload, moved three groups
/// deep on a self-managed host) reaches the repository registered under that full name and host.
#[tokio::test]
async fn a_gitlab_project_in_nested_groups_is_found_by_its_full_path() {
    let env = Env::new().await;
    let mut push: serde_json::Value = serde_json::from_slice(&fixture("gitlab/push.json")).unwrap();
    let full_name = "group1/group2/group3/diaspora";
    push["project"]["path_with_namespace"] = full_name.into();
    push["project"]["web_url"] = format!("https://gitlab.example.com:8443/{full_name}").into();
    let body = serde_json::to_vec(&push).unwrap();
    // Registered under the two-segment name of the unmodified payload: not this project.
    env.register(
        "gitlab.example.com:8443",
        "mike/diaspora",
        Provider::GitLab,
        &["refs/heads/master"],
    )
    .await;
    let resp = env
        .deliver(Provider::GitLab, "Push Hook", "n-1", &body)
        .await;
    expect(&resp, 404, "unknown_repository");
    env.assert_nothing_written(Provider::GitLab, "n-1").await;

    env.register(
        "gitlab.example.com:8443",
        full_name,
        Provider::GitLab,
        &["refs/heads/master"],
    )
    .await;
    let resp = env
        .deliver(Provider::GitLab, "Push Hook", "n-2", &body)
        .await;
    expect(&resp, 202, "queued");
    let versions = env.versions().await;
    assert_eq!(versions.len(), 1);
    assert_eq!(
        versions[0].version.repository,
        "gitlab.example.com:8443/group1/group2/group3/diaspora"
    );
    let jobs = env.plan_jobs().await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].repository, versions[0].version.repository);
}
