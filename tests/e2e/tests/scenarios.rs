//! The end-to-end scenarios, all against one real `boreas dev` (emulator, functions, four agents in
//! `exec` mode, the demo git repository), one at a time. Each scenario tags its own versions on top
//! of whatever the others left, so they pass in any order.
//!
//! Prometheus (installed by `make debian`) scrapes the demo apps, so every batch of `api` is
//! judged by its error rate before the next step (about 6 s per batch).
//!
//! The demo `boreas.yaml`: `api` on every host of an environment in batches `[1, 100%]` with a
//! manual gate after the first; `web` on the `web` hosts, depending on `api`. With four agents,
//! staging has `staging-web-1` and `staging-worker-1`. The platform runs with `--no-k8s`: rollouts
//! of the demo's k8s app on the fixture cluster occasionally never report readiness (the operator's
//! wait runs into the heartbeat timeout), which would make these PM scenarios flaky.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use boreas_aws::names::Names;
use boreas_aws::provision::DEMO_REPOSITORY;
use boreas_aws::secrets::{SecretValue, Secrets, SsmSecrets};
use boreas_aws::store::{DynamoStore, GitCredential, Repository, Store};
use boreas_core::webhook::Provider;
use boreas_e2e::{Platform, batches, progress, push_tag_payload, wait_for};
use boreas_test_support::git::{GitHttpServer, git};
use boreas_test_support::git_hosts::{operation_of, request_problems};
use boreas_test_support::http::{RecordingServer, Request, Response};
use boreas_test_support::webhook::{signed_headers, tag_push};
use serde_json::{Value, json};

const ENV: &str = "staging";
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(180);
const SHORT: Duration = Duration::from_secs(60);

static PLATFORM: OnceLock<Platform> = OnceLock::new();
static SERIAL: Mutex<()> = Mutex::new(());

/// The shared platform, and the right to use it alone.
fn platform() -> (&'static Platform, MutexGuard<'static, ()>) {
    let guard = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let platform = PLATFORM.get_or_init(|| {
        let dir =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("e2e-{}", std::process::id()));
        Platform::start(
            &dir,
            4,
            // Quick inventories; an agent killed stays down past its heartbeat timeout (10 s).
            &[
                "--inventory-seconds",
                "2",
                "--agent-restart-seconds",
                "30",
                "--no-k8s",
            ],
        )
    });
    (platform, guard)
}

/// A version name no other scenario uses.
fn next_version(label: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    format!("v{}.0.0-{label}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Tags a healthy version and drives its staging deployment to success.
fn deploy_good(p: &Platform, label: &str) -> String {
    let v = next_version(label);
    p.tag(&v, &[]);
    let d = p.deployment_of(&v, ENV, SHORT);
    let done = p.drive(d["id"].as_str().unwrap(), DEPLOY_TIMEOUT);
    assert_eq!(done["status"], "succeeded", "{done}");
    v
}

/// Every (host, app) the demo runs in staging.
fn placements(p: &Platform, d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for app in ["api", "web"] {
        for batch in batches(d, app) {
            for host in batch {
                out.push((host, app.to_owned()));
            }
        }
    }
    assert!(!out.is_empty(), "the plan places nothing: {d}");
    assert!(out.iter().all(|(h, _)| p.hosts(ENV).contains(h)));
    out
}

fn assert_runs(p: &Platform, host: &str, app: &str, version: &str) {
    assert_eq!(
        p.current_release(host, app).as_deref(),
        Some(version),
        "{app} on {host}: the current link"
    );
    wait_for(
        &format!("{app} on {host} to answer with {version}"),
        SHORT,
        || (p.live_version(host, app).as_deref() == Some(version)).then_some(()),
    );
}

fn record<'a>(d: &'a Value, kind: &str, key: &str, value: &str) -> Option<&'a Value> {
    progress(d, kind).iter().find(|r| r[key] == value)
}

#[test]
fn s1_tag_to_every_agent_running_it_with_full_coverage() {
    let (p, _serial) = platform();
    let v = next_version("s1");
    let tagged = p.tag(&v, &[]);
    assert_eq!(tagged["status"], 202, "{tagged}");
    let d = p.deployment_of(&v, ENV, SHORT);
    assert_eq!(d["status"], "planned");
    let id = d["id"].as_str().unwrap().to_owned();
    // The planner marks the version planned after it created the deployments.
    wait_for(&format!("{v} to be planned"), SHORT, || {
        (p.get(&format!("/versions/localhost%2Fboreas%2Fdemo/{v}"))["status"] == "planned")
            .then_some(())
    });

    let done = p.drive(&id, DEPLOY_TIMEOUT);
    assert_eq!(done["status"], "succeeded", "{done}");
    // Dependency order: web started after api ended; api's batches one after the other.
    let app =
        |name: &str| record(&done, "apps", "app", name).unwrap_or_else(|| panic!("{name}: {done}"));
    let web_started = app("web")["started_at"].as_str().expect("web started");
    let api_ended = app("api")["ended_at"].as_str().expect("api ended");
    assert!(
        web_started >= api_ended,
        "web started before api ended: {done}"
    );
    let api_batches: Vec<&Value> = progress(&done, "batches")
        .iter()
        .filter(|b| b["app"] == "api")
        .collect();
    assert_eq!(api_batches.len(), 2, "{done}");
    let (second, first) = (
        api_batches[1]["started_at"]
            .as_str()
            .expect("batch 1 started"),
        api_batches[0]["ended_at"].as_str().expect("batch 0 ended"),
    );
    assert!(
        second >= first,
        "api batch 1 started before batch 0 ended: {done}"
    );
    for b in progress(&done, "batches") {
        assert_eq!(b["status"], "succeeded", "{b}");
    }
    for (host, app) in placements(p, &done) {
        assert_runs(p, &host, &app, &v);
    }
    for app in ["api", "web"] {
        wait_for(&format!("100% coverage of {app} in {ENV}"), SHORT, || {
            let a = p.get(&format!("/apps/{app}"));
            let env = a["environments"]
                .as_array()?
                .iter()
                .find(|e| e["environment"] == ENV)?
                .clone();
            (env["coverage"] == 1.0 && env["desired_version"] == v.as_str()).then_some(())
        });
    }
}

#[test]
fn s2_broken_version_fails_batch_one_and_rolls_back_only_it() {
    let (p, _serial) = platform();
    let good = deploy_good(p, "s2good");
    let bad = next_version("s2broken");
    p.tag(&bad, &["--broken"]);
    let d = p.deployment_of(&bad, ENV, SHORT);
    let id = d["id"].as_str().unwrap().to_owned();
    let done = p.drive(&id, DEPLOY_TIMEOUT);
    assert_eq!(done["status"], "rolled_back", "{done}");

    let api = batches(&done, "api");
    assert_eq!(api.len(), 2, "{done}");
    for host in &api[0] {
        let t = record(&done, "targets", "target", host).expect("batch 1 target progress");
        assert_eq!(t["status"], "rolled_back", "{t}");
        assert_runs(p, host, "api", &good);
    }
    // Nothing of the later batch or the later stage was touched.
    for host in &api[1] {
        assert!(
            progress(&done, "targets")
                .iter()
                .all(|t| !(t["app"] == "api" && t["target"] == host.as_str())),
            "{done}"
        );
        assert_runs(p, host, "api", &good);
    }
    assert!(record(&done, "apps", "app", "web").is_none(), "{done}");
    for batch in batches(&done, "web") {
        for host in batch {
            assert_runs(p, &host, "web", &good);
        }
    }
}

#[test]
fn s3_manual_gate_waits_approve_continues_reject_rolls_back() {
    let (p, _serial) = platform();
    deploy_good(p, "s3base");

    // Approve: the gate holds the second batch until approved.
    let approved = next_version("s3approve");
    p.tag(&approved, &[]);
    let id = p.deployment_of(&approved, ENV, SHORT)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    p.confirm(&id);
    p.wait_gate(&id, "api.0", SHORT);
    std::thread::sleep(Duration::from_secs(3));
    let waiting = p.deployment(&id);
    assert_eq!(waiting["status"], "running");
    let second = &batches(&waiting, "api")[1];
    assert!(
        second
            .iter()
            .all(|h| record(&waiting, "targets", "target", h).is_none()),
        "the second batch started before the gate was approved: {waiting}"
    );
    let out = p.boreas(&["approve", &id, "api.0", "--comment", "ship it"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let done = p.wait_status(&id, &["succeeded", "failed", "rolled_back"], DEPLOY_TIMEOUT);
    assert_eq!(done["status"], "succeeded", "{done}");
    let gate = record(&done, "gates", "gate", "api.0").expect("the gate");
    assert_eq!(gate["status"], "approved");
    assert_eq!(gate["comment"], "ship it");
    // The review said what ran before and why api is in; the history has the run, who
    // confirmed it and who approved its gate.
    let review = &done["review"];
    assert!(review["running"]["version"].is_string(), "{review}");
    assert!(
        review["commits"].as_array().is_some_and(|c| !c.is_empty()),
        "{review}"
    );
    let api_reason = review["apps"]
        .as_array()
        .and_then(|apps| apps.iter().find(|a| a["app"] == "api"))
        .expect("api's reason");
    assert_eq!(api_reason["skipped"], Value::Null, "{api_reason}");
    // Written by the recorder when it hears of the outcome, a moment after the status.
    let run = wait_for(&format!("the run of {id}"), SHORT, || {
        let runs = p.get(&format!("/apps/api/history?env={ENV}&limit=5"));
        runs["items"]
            .as_array()?
            .iter()
            .find(|r| r["deployment_id"] == id.as_str())
            .cloned()
    });
    assert_eq!(run["outcome"], "succeeded", "{run}");
    assert_eq!(run["gates"][0]["status"], "approved", "{run}");
    assert!(run["gates"][0]["by"].is_string(), "{run}");
    assert!(run["confirmed_by"].is_string(), "{run}");
    let host = &second[0];
    let on_host = p.get(&format!("/hosts/{ENV}/{host}/history"));
    assert_eq!(
        on_host["items"][0]["deployment_id"],
        id.as_str(),
        "{on_host}"
    );

    // Reject: the first batch is rolled back to the approved version.
    let rejected = next_version("s3reject");
    p.tag(&rejected, &[]);
    let id = p.deployment_of(&rejected, ENV, SHORT)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    p.confirm(&id);
    p.wait_gate(&id, "api.0", SHORT);
    let first = batches(&p.deployment(&id), "api")[0].clone();
    for host in &first {
        assert_runs(p, host, "api", &rejected);
    }
    let out = p.boreas(&["reject", &id, "api.0", "--comment", "not today"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let done = p.wait_status(
        &id,
        &["succeeded", "failed", "rolled_back", "cancelled"],
        DEPLOY_TIMEOUT,
    );
    assert_eq!(done["status"], "rolled_back", "{done}");
    for host in &first {
        assert_runs(p, host, "api", &approved);
    }
}

#[test]
fn s4_revert_returns_targets_and_the_version_is_never_planned_again() {
    let (p, _serial) = platform();
    let v2 = deploy_good(p, "s4two");
    let v3 = deploy_good(p, "s4three");
    let before: BTreeSet<String> = p
        .deployments()
        .iter()
        .filter_map(|d| d["id"].as_str().map(str::to_owned))
        .collect();

    let out = p.boreas(&["revert", &v3, "--reason", "e2e: bad release", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reverted: Value = serde_json::from_slice(&out.stdout).expect("revert JSON");
    assert_eq!(reverted["rollback_to"], v2.as_str(), "{reverted}");
    let rollback = reverted["deployments"]
        .as_array()
        .and_then(|ds| ds.iter().find(|d| d["environment"] == ENV))
        .unwrap_or_else(|| panic!("no rollback deployment for {ENV}: {reverted}"))
        .clone();
    assert_eq!(rollback["version"], v2.as_str());
    let done = p.drive(rollback["id"].as_str().unwrap(), DEPLOY_TIMEOUT);
    assert_eq!(done["status"], "succeeded", "{done}");
    for (host, app) in placements(p, &done) {
        assert_runs(p, &host, &app, &v2);
    }
    assert_eq!(
        p.get(&format!("/versions/localhost%2Fboreas%2Fdemo/{v3}"))["state"],
        "revert"
    );

    // The tag delivered again (a new delivery) plans nothing, and a newer version plans itself,
    // not v3.
    let commit = reverted["version"]["commit"].as_str().unwrap().to_owned();
    let again = p.deliver(&push_tag_payload(&v3, &commit), "e2e-s4-redelivery");
    assert!(again.status < 300, "{}", again.body);
    let v4 = next_version("s4four");
    p.tag(&v4, &[]);
    p.deployment_of(&v4, ENV, SHORT);
    std::thread::sleep(Duration::from_secs(3));
    let new: Vec<Value> = p
        .deployments()
        .into_iter()
        .filter(|d| !before.contains(d["id"].as_str().unwrap_or_default()))
        .collect();
    assert!(
        new.iter().all(|d| d["version"] != v3.as_str()),
        "v3 was planned again: {new:?}"
    );
}

#[test]
fn s5_agent_killed_mid_deploy_ends_the_deployment_and_recovers_consistently() {
    let (p, _serial) = platform();
    let good = deploy_good(p, "s5good");
    let slow = next_version("s5slow");
    // A release that takes seconds to start, so the kill lands while the agent works on it.
    p.tag(&slow, &["--start-delay", "3"]);
    let id = p.deployment_of(&slow, ENV, SHORT)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let d = p.deployment(&id);
    let host = batches(&d, "api")[0][0].clone();
    p.confirm(&id);
    // Target records are written when a target finishes; the agent's own release directory shows
    // that it is working on the command.
    wait_for(&format!("{host} to install {slow}"), SHORT, || {
        p.release_installed(&host, "api", &slow).then_some(())
    });
    let killed = p.kill_agent(&host);
    let at = Instant::now();

    let done = p.wait_status(&id, &["failed", "rolled_back"], Duration::from_secs(120));
    let took = at.elapsed();
    // The heartbeat timeout is 10 s: one for the deploy, one for the rollback command that the
    // dead agent cannot take either.
    assert!(
        took < Duration::from_secs(45),
        "ended after {took:?}: {done}"
    );
    for kind in ["apps", "batches", "targets"] {
        for r in progress(&done, kind) {
            assert!(
                r["status"] != "running" && r["status"] != "rolling_back",
                "{kind} record still {}: {done}",
                r["status"]
            );
        }
    }

    // The supervisor restarts the agent; its next inventory matches what runs there.
    wait_for(
        &format!("{host}'s agent to restart"),
        Duration::from_secs(90),
        || p.agent_pid(&host).filter(|pid| *pid != killed),
    );
    let seen_before = agent_record(p, &host)
        .and_then(|a| a["last_seen"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let (current, reported) = wait_for(
        &format!("{host} to report a consistent inventory"),
        Duration::from_secs(90),
        || {
            let agent = agent_record(p, &host)?;
            if agent["last_seen"].as_str()? <= seen_before.as_str() {
                return None;
            }
            let current = p.current_release(&host, "api")?;
            let live = p.live_version(&host, "api")?;
            let reported = agent["apps"]
                .as_array()?
                .iter()
                .find(|a| a["app"] == "api")?["version"]
                .as_str()?
                .to_owned();
            (live == current && reported == current).then_some((current, reported))
        },
    );
    assert!(current == good || current == slow, "{current}");
    assert_eq!(reported, current);
}

/// The agent record of `host` in staging, as the api lists it.
fn agent_record(p: &Platform, host: &str) -> Option<Value> {
    let agents = p.get(&format!("/agents?env={ENV}"));
    agents["items"]
        .as_array()?
        .iter()
        .find(|a| a["host"] == host)
        .cloned()
}

#[test]
fn s6_twenty_concurrent_webhooks_make_twenty_versions_and_one_planned_per_environment() {
    let (p, _serial) = platform();
    let tags: Vec<(String, String)> = (0..20)
        .map(|i| {
            let v = next_version(&format!("s6n{i:02}"));
            let commit = p.git_tag(&v);
            (v, commit)
        })
        .collect();
    let answers: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = tags
            .iter()
            .enumerate()
            .map(|(i, (v, c))| {
                s.spawn(move || {
                    p.deliver(
                        &push_tag_payload(v, c),
                        &format!("e2e-s6-{i}-{}", std::process::id()),
                    )
                    .status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(answers.iter().all(|s| *s == 202), "{answers:?}");
    let names: BTreeSet<&str> = tags.iter().map(|(v, _)| v.as_str()).collect();
    wait_for("twenty planned versions", Duration::from_secs(120), || {
        let versions = p.get("/versions?repo=localhost%2Fboreas%2Fdemo&limit=1000");
        let ours: Vec<&Value> = versions["items"]
            .as_array()?
            .iter()
            .filter(|v| names.contains(v["name"].as_str().unwrap_or_default()))
            .collect();
        let distinct: BTreeSet<&str> = ours.iter().filter_map(|v| v["name"].as_str()).collect();
        assert_eq!(distinct.len(), ours.len(), "a version recorded twice");
        (ours.len() == 20 && ours.iter().all(|v| v["status"] == "planned")).then_some(())
    });
    let newest = tags.last().map(|(v, _)| v.clone()).unwrap();
    for env in ["staging", "prod"] {
        wait_for(
            &format!("one planned deployment in {env}, the rest superseded"),
            Duration::from_secs(60),
            || {
                let mut by_version: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for d in p.deployments() {
                    if d["environment"] == env
                        && names.contains(d["version"].as_str().unwrap_or_default())
                    {
                        by_version
                            .entry(d["version"].as_str()?.to_owned())
                            .or_default()
                            .push(d["status"].as_str()?.to_owned());
                    }
                }
                let settled = by_version.len() == 20
                    && by_version.values().all(|s| s.len() == 1)
                    && by_version.iter().all(|(v, s)| {
                        s[0] == if *v == newest {
                            "planned"
                        } else {
                            "superseded"
                        }
                    });
                settled.then_some(())
            },
        );
        let planned: Vec<Value> = p
            .deployments()
            .into_iter()
            .filter(|d| d["environment"] == env && d["status"] == "planned")
            .collect();
        assert_eq!(planned.len(), 1, "{planned:?}");
        assert_eq!(planned[0]["version"], newest.as_str());
    }
}

#[test]
fn s7_replayed_unsigned_and_malformed_deliveries_get_their_status_and_record_nothing() {
    let (p, _serial) = platform();
    let counts = || {
        let versions = p.get("/versions?limit=1000")["items"]
            .as_array()
            .map_or(0, Vec::len);
        (versions, p.deployments().len())
    };

    // A replayed delivery: the first is recorded, the replay answers 200 `duplicate`.
    let v = next_version("s7replay");
    let commit = p.git_tag(&v);
    let delivery = format!("e2e-s7-{}", std::process::id());
    let first = p.deliver(&push_tag_payload(&v, &commit), &delivery);
    assert_eq!(first.status, 202, "{}", first.body);
    p.deployment_of(&v, ENV, SHORT);
    p.deployment_of(&v, "prod", SHORT);
    let before = counts();
    let replay = p.deliver(&push_tag_payload(&v, &commit), &delivery);
    assert_eq!(replay.status, 200, "{}", replay.body);
    assert_eq!(replay.body["status"], "duplicate", "{}", replay.body);

    // A bad signature, a missing one, malformed JSON.
    let unsigned = next_version("s7unsigned");
    let commit = p.git_tag(&unsigned);
    let body = push_tag_payload(&unsigned, &commit)
        .to_string()
        .into_bytes();
    let headers = |body: &[u8], delivery: &str, secret: &str| {
        signed_headers(Provider::GitHub, "push", delivery, body, secret)
    };
    let a = p.post_webhook(
        &headers(&body, "e2e-s7-bad", "not the secret"),
        body.clone(),
    );
    assert_eq!(a.status, 401, "{}", a.body);
    // The event and delivery headers without the signature.
    let a = p.post_webhook(&headers(&body, "e2e-s7-none", "")[..2], body);
    assert_eq!(a.status, 401, "{}", a.body);
    let malformed = b"{\"ref\": \"refs/tags/x\", ".to_vec();
    let secret = p.dev["webhook_secret"].as_str().unwrap();
    let a = p.post_webhook(&headers(&malformed, "e2e-s7-malformed", secret), malformed);
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body["error"].is_string(), "{}", a.body);

    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(counts(), before, "a refused delivery left records");
    let missing = p.post(
        &format!("/versions/localhost%2Fboreas%2Fdemo/{unsigned}/revert"),
        &json!({"reason": "probe"}),
    );
    assert_eq!(missing.status, 404, "{}", missing.body);
}

/// A team's private repository: served over smart HTTP by `git http-backend` behind basic
/// authentication, registered with `boreas repo add --token-stdin` under its provider's name and
/// host, deployed end to end from a push signed with the secret `repo add` printed. The same
/// repository registered with a wrong token ends `plan_failed` with "authentication failed for
/// <clone URL>" and plans nothing.
#[test]
fn s8_a_private_repository_registered_with_a_token_deploys_and_a_wrong_token_is_plan_failed() {
    const TOKEN: &str = "ghp_e2e_private_0123456789abcdef";
    let (p, _serial) = platform();
    // The demo builds the release's artifacts; its own deployments of it are cancelled, so that
    // the private repository's is the one that runs.
    let v = next_version("s8");
    p.tag(&v, &[]);
    for env in [ENV, "prod"] {
        let d = p.deployment_of(&v, env, SHORT);
        let id = d["id"].as_str().unwrap();
        let a = p.post(&format!("/deployments/{id}/cancel"), &json!({}));
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let commit = git(&p.demo_repo(), &["rev-parse", &format!("{v}^{{commit}}")]);
    let root = p
        .state_dir()
        .join(format!("private-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    git(
        &root,
        &[
            "clone",
            "--quiet",
            "--bare",
            p.demo_repo().to_str().unwrap(),
            "shop.git",
        ],
    );
    let server = GitHttpServer::start_with_basic(&root, "x-access-token", TOKEN);
    let url = server.url("shop.git");

    let register = |name: &str, token: &str| -> Value {
        let out = p.boreas_with_input(
            &[
                "repo",
                "add",
                name,
                "--provider",
                "github",
                "--clone-url",
                &url,
                "--host",
                "github.com",
                "--trigger",
                "refs/tags/v*",
                "--token-stdin",
                "--json",
            ],
            token,
        );
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let push = |name: &str, registered: &Value| {
        let mut payload = tag_push(Provider::GitHub, name, &v, &commit);
        payload["repository"]["html_url"] = format!("https://github.com/{name}").into();
        let body = payload.to_string().into_bytes();
        let secret = registered["webhook_secret"].as_str().unwrap();
        let headers = signed_headers(
            Provider::GitHub,
            "push",
            &format!("s8-{name}"),
            &body,
            secret,
        );
        let a = p.post_webhook(&headers, body);
        assert_eq!(a.status, 202, "{}", a.body);
    };

    let private = register("acme/shop", TOKEN);
    assert_eq!(private["id"], "github.com/acme/shop");
    assert_eq!(private["credential"]["kind"], "token");
    assert!(!private.to_string().contains(TOKEN), "{private}");
    push("acme/shop", &private);
    let d = wait_for("the private repository's staging deployment", SHORT, || {
        p.deployments()
            .into_iter()
            .find(|d| d["repository"] == "github.com/acme/shop" && d["environment"] == ENV)
    });
    let done = p.drive(d["id"].as_str().unwrap(), DEPLOY_TIMEOUT);
    assert_eq!(done["status"], "succeeded", "{done}");
    for (host, app) in placements(p, &done) {
        assert_runs(p, &host, &app, &v);
    }
    assert!(server.requests() > 0);

    let wrong = register("acme/wrong", "ghp_e2e_wrong_token");
    push("acme/wrong", &wrong);
    let version = wait_for("the wrong-token version to fail its plan", SHORT, || {
        let got = p.get(&format!("/versions/github.com%2Facme%2Fwrong/{v}"));
        (got["status"] == "plan_failed").then_some(got)
    });
    assert_eq!(
        version["errors"],
        json!([format!(
            "AuthenticationFailed: authentication failed for {url}"
        )]),
        "{version}"
    );
    assert!(
        p.deployments()
            .iter()
            .all(|d| d["repository"] != "github.com/acme/wrong"),
        "a deployment was planned for the wrong token"
    );
}

/// The API as a client would attack it: schemathesis generates requests from `/api/openapi.json`
/// (documented examples, boundary values, random data) with each role's token, a bounded number
/// per operation and a fixed seed. Nothing answers 5xx, every answer matches the document (status,
/// content type, headers, body schema), malformed input is refused, and every operation refuses a
/// token below its documented role with 403 and never refuses one at or above it
/// (`tests/e2e/schemathesis/roles.py`).
#[test]
fn s9_schemathesis_finds_nothing_with_any_role() {
    let (p, _serial) = platform();
    let schemathesis =
        boreas_aws::emulator::venv_program("schemathesis").expect("the project virtualenv");
    let hooks = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemathesis/roles.py");
    let document = format!("{}/openapi.json", p.dev["api_url"].as_str().unwrap());
    for role in ["viewer", "deployer", "approver", "admin"] {
        let token = if role == "admin" {
            p.dev["api_token"].as_str().unwrap().to_owned()
        } else {
            let created = p.post(
                "/tokens",
                &json!({"name": format!("fuzz-{role}-{}", std::process::id()), "role": role}),
            );
            assert_eq!(created.status, 201, "{}", created.body);
            created.body["token"].as_str().unwrap().to_owned()
        };
        let out = std::process::Command::new(&schemathesis)
            .args(["run", &document, "--header"])
            .arg(format!("Authorization: Bearer {token}"))
            .args([
                "--checks",
                "all",
                "--exclude-checks",
                "positive_data_acceptance",
            ])
            .args([
                "--phases",
                "examples,coverage,fuzzing",
                "--max-examples",
                "10",
            ])
            .args([
                "--seed",
                "1",
                "--workers",
                "2",
                "--warnings",
                "off",
                "--no-color",
            ])
            .env("SCHEMATHESIS_HOOKS", &hooks)
            .env("BOREAS_ROLE", role)
            .env("BOREAS_TOKEN", &token)
            .output()
            .expect("run schemathesis");
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && report.contains("No issues found"),
            "schemathesis with the {role} token:\n{report}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A host whose agent is down: once its liveness window (two inventory intervals plus 15 s) has
/// passed, a deployment fails that target at once with `Boreas.AgentUnreachable`, sends it
/// nothing (no deploy, no rollback), and rolls back the hosts it did change. The agent's restart
/// makes the host reachable again.
#[test]
fn s10_an_unreachable_host_fails_its_target_at_once_and_is_sent_nothing() {
    let (p, _serial) = platform();
    deploy_good(p, "s10good");
    let v = next_version("s10");
    p.tag(&v, &[]);
    let id = p.deployment_of(&v, ENV, SHORT)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The first batch's host is the one that goes away: nothing of this version reaches it.
    let host = batches(&p.deployment(&id), "api")[0][0].clone();
    let killed = p.kill_agent(&host);
    wait_for(&format!("{host} to show as unreachable"), SHORT, || {
        let agents = p.get("/agents?limit=1000");
        agents["items"]
            .as_array()?
            .iter()
            .find(|a| a["host"] == host.as_str() && a["unreachable"] == true)
            .map(|_| ())
    });
    let at = Instant::now();
    let done = p.drive(&id, DEPLOY_TIMEOUT);
    assert_eq!(done["status"], "rolled_back", "{done}");
    assert_eq!(done["failed_target"], host.as_str(), "{done}");
    let target = record(&done, "targets", "target", &host).expect("the host's target record");
    assert_eq!(target["error_type"], "Boreas.AgentUnreachable", "{done}");
    // The demo's heartbeat timeout is 10 s: a dead host no longer costs one.
    assert!(at.elapsed() < Duration::from_secs(10), "{:?}", at.elapsed());
    assert!(
        !p.release_installed(&host, "api", &v),
        "{host} received the release"
    );

    wait_for(
        &format!("{host}'s agent to restart and report"),
        Duration::from_secs(90),
        || {
            p.agent_pid(&host).filter(|pid| *pid != killed)?;
            let agents = p.get("/agents?limit=1000");
            agents["items"]
                .as_array()?
                .iter()
                .find(|a| a["host"] == host.as_str() && a["unreachable"] == false)
                .map(|_| ())
        },
    );
}

/// Puts a repository record back as it was when dropped, so that a scenario that fails midway
/// leaves the platform as the next one expects.
struct RestoreOnDrop<'a> {
    runtime: &'a tokio::runtime::Runtime,
    store: &'a DynamoStore,
    record: Repository,
}

impl Drop for RestoreOnDrop<'_> {
    fn drop(&mut self) {
        if let Err(e) = self
            .runtime
            .block_on(self.store.put_repository(&self.record))
        {
            eprintln!("restoring repository {}: {e}", self.record.id);
        }
    }
}

/// A version whose `boreas.yaml` sends staging's events to the repository's git host and to a
/// chat sink registered in the installation. For the run, the demo repository is served as a
/// GitHub repository would be: its commits over smart HTTP, its REST API by a local stand-in that
/// records each request (checked against GitHub's published request schemas), with a token.
/// One deployment gets one GitHub Deployment with `queued`, then `in_progress` for its start,
/// its gate and each finished batch, then `success`, and the same steps as commit statuses
/// `boreas/staging`; the chat hears the waiting gate and the outcome, once each; the deployment
/// lists every delivery as delivered.
#[test]
fn s11_git_statuses_and_a_chat_channel_follow_one_deployment_each_once() {
    const TOKEN: &str = "ghp_e2e_statuses_0123456789abcdef";
    let (p, _serial) = platform();
    let chat = RecordingServer::start(|_req: &Request| Response::json(200, json!({})));
    let github = RecordingServer::start(|req: &Request| {
        if req.header("authorization") != Some(&*format!("Bearer {TOKEN}")) {
            Response::json(401, json!({"message": "Bad credentials"}))
        } else if req.target.ends_with("/deployments") {
            Response::json(201, json!({"id": 7}))
        } else {
            Response::json(201, json!({}))
        }
    });
    let git_http = GitHttpServer::start(p.state_dir());
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let prefix = p.dev["prefix"].as_str().unwrap().to_owned();
    let endpoint = p.dev["emulator_endpoint"].as_str().unwrap().to_owned();
    let names = Names::new(&prefix);
    let sdk = runtime.block_on(boreas_aws::sdk_config(Some(&endpoint)));
    let store = DynamoStore::from_config(&sdk, names.table());
    let demo = runtime
        .block_on(store.get_repository(DEMO_REPOSITORY))
        .expect("read the demo repository")
        .expect("the demo repository is registered");
    let restore = RestoreOnDrop {
        runtime: &runtime,
        store: &store,
        record: demo.clone(),
    };
    runtime.block_on(async {
        let secrets = SsmSecrets::from_config(&sdk);
        let spec = json!({"kind": "slack", "url": format!("{}/hooks/e2e", chat.url())});
        secrets
            .put(
                &names.notification_sink_param("e2e-chat"),
                &SecretValue::new(spec.to_string()),
                true,
            )
            .await
            .expect("register the chat sink");
        let param = names.git_credential_param(DEMO_REPOSITORY);
        secrets
            .put(&param, &SecretValue::new(TOKEN), true)
            .await
            .expect("store the token");
        store
            .put_repository(&Repository {
                host: github.url().trim_start_matches("http://").to_owned(),
                clone_url: git_http.url("demo-repo"),
                credential: Some(GitCredential::Token {
                    param,
                    username: "x-access-token".into(),
                }),
                ..demo.clone()
            })
            .await
            .expect("serve the demo repository as GitHub would");
    });
    let repo = p.demo_repo();
    let config = repo.join("boreas.yaml");
    let original = std::fs::read_to_string(&config).expect("the demo boreas.yaml");
    let commit_config = |text: &str, message: &str| {
        std::fs::write(&config, text).expect("write boreas.yaml");
        git(&repo, &["commit", "--quiet", "-am", message]);
    };
    commit_config(
        &format!(
            "{original}\nnotifications:\n  - sink: git\n    environments: [staging]\n  - sink: e2e-chat\n    environments: [staging]\n"
        ),
        "demo: staging to the git host and the chat",
    );

    let v = next_version("s11notify");
    p.tag(&v, &[]);
    let planned = p.deployment_of(&v, ENV, SHORT);
    let id = planned["id"].as_str().unwrap().to_owned();
    // Later scenarios' versions notify nobody: the chat stops with this test.
    commit_config(&original, "demo: no notifications");
    let done = p.drive(&id, DEPLOY_TIMEOUT);
    assert_eq!(done["status"], "succeeded", "{done}");

    let texts = || -> Vec<String> {
        chat.requests()
            .iter()
            .map(|r| r.json()["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let success_count = || {
        github
            .requests()
            .iter()
            .filter(|r| r.json()["state"] == "success")
            .count()
    };
    wait_for(
        "the chat and the git host to hear the outcome",
        SHORT,
        || (texts().len() >= 2 && success_count() >= 2).then_some(()),
    );
    // Redeliveries and retried states would come within seconds: none arrives.
    std::thread::sleep(Duration::from_secs(3));
    drop(restore);

    // Links point at the deployment's page of the local dashboard.
    let page = format!(
        "{}#/deployments/{id}",
        p.dev["dashboard_url"].as_str().unwrap()
    );
    let link = format!("<{page}|Open in Boreas>");
    let repo_name = boreas_aws::provision::DEMO_FULL_NAME;
    assert_eq!(
        texts(),
        [
            format!("*{repo_name}*: {v} in staging waits for approval at gate api.0 {link}"),
            format!("*{repo_name}*: {v} is deployed to staging {link}"),
        ]
    );

    // The git host: what the plan says happens, each once, in order, each request as GitHub's
    // API description has it.
    let stages = done["plan"]["stages"].as_array().unwrap();
    let plan_batches: Vec<&Value> = stages
        .iter()
        .flat_map(|s| s["apps"].as_array().unwrap())
        .flat_map(|a| a["batches"].as_array().unwrap())
        .collect();
    let gates = plan_batches
        .iter()
        .filter(|b| b["pause"]["type"] == "gate")
        .count();
    assert_eq!(gates, 1, "{done}");
    let steps = 1 + gates + plan_batches.len();
    let commit = git(&repo, &["rev-parse", &format!("{v}^{{commit}}")]);
    let requests = github.requests();
    let mut deployment_states = Vec::new();
    let mut commit_states = Vec::new();
    for r in &requests {
        let body = r.json();
        let operation = operation_of(&r.method, &r.target)
            .unwrap_or_else(|| panic!("{} {} is no status call", r.method, r.target));
        let problems = request_problems(operation, &body);
        assert!(
            problems.is_empty(),
            "{} {}: {problems:?}",
            r.method,
            r.target
        );
        match operation {
            "github/repos_create-deployment" => {
                assert_eq!(r.target, "/api/v3/repos/boreas/demo/deployments");
                assert_eq!(
                    (body["ref"].as_str(), body["environment"].as_str()),
                    (Some(commit.as_str()), Some(ENV))
                );
            }
            "github/repos_create-deployment-status" => {
                assert_eq!(r.target, "/api/v3/repos/boreas/demo/deployments/7/statuses");
                assert_eq!(body["log_url"], page.as_str());
                deployment_states.push(body["state"].as_str().unwrap().to_owned());
            }
            "github/repos_create-commit-status" => {
                assert_eq!(
                    r.target,
                    format!("/api/v3/repos/boreas/demo/statuses/{commit}")
                );
                assert_eq!(body["context"], "boreas/staging");
                assert_eq!(body["target_url"], page.as_str());
                commit_states.push(body["state"].as_str().unwrap().to_owned());
            }
            other => panic!("unexpected {other}"),
        }
    }
    let expected = |first: &str, between: &str, last: &str| -> Vec<String> {
        std::iter::once(first)
            .chain(std::iter::repeat_n(between, steps))
            .chain(std::iter::once(last))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        deployment_states,
        expected("queued", "in_progress", "success"),
        "{requests:?}"
    );
    assert_eq!(
        commit_states,
        expected("pending", "pending", "success"),
        "{requests:?}"
    );
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.target.ends_with("/deployments"))
            .count(),
        1
    );

    let listed: Vec<(String, String, String)> = p.deployment(&id)["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["sink"].as_str().unwrap().to_owned(),
                n["event"].as_str().unwrap().to_owned(),
                n["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let chat_listed: Vec<&(String, String, String)> = listed
        .iter()
        .filter(|(sink, _, _)| sink == "e2e-chat")
        .collect();
    assert_eq!(
        chat_listed,
        [
            &(
                "e2e-chat".into(),
                "gate_waiting:api.0".into(),
                "delivered".into()
            ),
            &("e2e-chat".into(), "succeeded".into(), "delivered".into()),
        ]
    );
    // The git host's: each event once as a commit status (`git`) and once as a deployment
    // status (`git/deployment`), plus the GitHub Deployment itself.
    assert_eq!(listed.len(), 2 + 2 * (1 + steps + 1) + 1, "{listed:?}");
    assert!(
        listed.iter().all(|(_, _, state)| state == "delivered"),
        "{listed:?}"
    );
}

/// The analyses of `app`'s batches in a deployment: (batch, verdict, measurements).
fn analyses(d: &Value, app: &str) -> Vec<(u64, String, usize)> {
    d["analyses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["app"] == app)
        .map(|a| {
            (
                a["batch"].as_u64().unwrap(),
                a["verdict"].as_str().unwrap_or("measuring").to_owned(),
                a["measurements"].as_array().map_or(0, Vec::len),
            )
        })
        .collect()
}

#[test]
fn s12_analysis_on_a_real_prometheus_passes_a_good_release_and_rolls_back_bad_metrics() {
    let (p, _serial) = platform();
    // A good release: every batch of api is measured twice on the real Prometheus and passes.
    let good = deploy_good(p, "s12good");
    let id = p.deployment_of(&good, ENV, SHORT)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = p.deployment(&id);
    assert_eq!(
        analyses(&done, "api"),
        [(0, "pass".to_owned(), 2), (1, "pass".to_owned(), 2)],
        "{}",
        done["analyses"]
    );

    // A release whose health check passes but a third of whose requests fail: its first batch's
    // analysis fails, api rolls back from it, and the error names the measured rate.
    let bad = next_version("s12bad");
    p.tag(&bad, &["--bad-metrics"]);
    let d = p.deployment_of(&bad, ENV, SHORT);
    let id = d["id"].as_str().unwrap().to_owned();
    let done = p.drive(&id, DEPLOY_TIMEOUT);
    assert_eq!(done["status"], "rolled_back", "{done}");
    let error = done["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("app api, batch 1: check error-rate failed: 0.")
            && error.contains("wanted < 0.1"),
        "{error}"
    );
    let judged = analyses(&done, "api");
    assert_eq!(
        judged.len(),
        1,
        "only the first batch was judged: {judged:?}"
    );
    assert_eq!((judged[0].0, judged[0].1.as_str()), (0, "fail"));
    let api = batches(&done, "api");
    for host in &api[0] {
        let t = record(&done, "targets", "target", host).expect("batch 1 target progress");
        assert_eq!(t["status"], "rolled_back", "{t}");
        assert_runs(p, host, "api", &good);
    }
    for host in &api[1] {
        assert_runs(p, host, "api", &good);
    }
    assert!(record(&done, "apps", "app", "web").is_none(), "{done}");
}

/// Rewrites the demo repository's `boreas.yaml` with `edit` and commits it; returns the text
/// before, for [`restore_config`].
fn commit_config(p: &Platform, edit: impl FnOnce(&str) -> String) -> String {
    let path = p.demo_repo().join("boreas.yaml");
    let before = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(&before)).unwrap();
    git(
        &p.demo_repo(),
        &["commit", "--quiet", "-am", "e2e: boreas.yaml"],
    );
    before
}

fn restore_config(p: &Platform, before: &str) {
    commit_config(p, |_| before.to_owned());
}

/// The reasons deployment `id` is held for, once one starts with `prefix`.
fn held_for(p: &Platform, id: &str, prefix: &str) -> String {
    wait_for(&format!("{id} held: {prefix}"), SHORT, || {
        let d = p.deployment(id);
        let reasons = d["policy"]["hold"]["reasons"].as_array()?.clone();
        reasons
            .iter()
            .filter_map(Value::as_str)
            .find(|r| r.starts_with(prefix))
            .map(str::to_owned)
    })
}

/// A confirm the policy refuses: 409 `held`, the message naming why.
fn assert_confirm_held(p: &Platform, id: &str, why: &str) {
    let a = p.post(&format!("/deployments/{id}/confirm"), &json!({}));
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(a.body["error"], "held", "{}", a.body);
    let message = a.body["message"].as_str().unwrap_or_default();
    assert!(message.contains(why), "{message}");
}

#[test]
fn s13_prod_takes_a_version_only_after_it_succeeded_and_soaked_in_staging() {
    let (p, _serial) = platform();
    let original = commit_config(p, |y| {
        y.replace(
            "  - name: prod\n",
            "  - name: prod\n    promotion: {after: [staging], soak: 15s}\n",
        )
    });
    let v = next_version("s13");
    p.tag(&v, &[]);
    let staging = p.deployment_of(&v, ENV, SHORT)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let prod = p.deployment_of(&v, "prod", SHORT)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Staging has not run it: prod waits, whoever confirms.
    held_for(
        p,
        &prod,
        "waits for staging: planned there, not started yet",
    );
    assert_confirm_held(p, &prod, "waits for staging");

    let done = p.drive(&staging, DEPLOY_TIMEOUT);
    assert_eq!(done["status"], "succeeded", "{done}");
    // Staging's outcome makes the planner look again: prod soaks for 15 s from it.
    let soaking = held_for(p, &prod, "soaking in staging until ");
    assert_confirm_held(p, &prod, &soaking);
    let envs = p.boreas(&["envs"]);
    let text = String::from_utf8_lossy(&envs.stdout);
    assert!(text.contains("after staging, soak 15s"), "{text}");
    assert!(
        text.contains(&prod),
        "prod's waiting deployment is listed: {text}"
    );

    // The planner's timer looks again when the soak ends, and the hold is gone.
    wait_for("the soak to end", Duration::from_secs(90), || {
        p.deployment(&prod)["policy"]["hold"]
            .is_null()
            .then_some(())
    });
    let done = p.drive(&prod, DEPLOY_TIMEOUT);
    assert_eq!(done["status"], "succeeded", "{done}");
    for host in p.hosts("prod") {
        assert_runs(p, &host, "api", &v);
    }
    restore_config(p, &original);
}

#[test]
fn s14_a_freeze_holds_new_deployments_until_it_ends_and_the_newest_then_goes() {
    let (p, _serial) = platform();

    // A window added while a deployment runs pauses it at its next batch boundary.
    let running = next_version("s14r");
    p.tag(&running, &[]);
    let running_id = p.deployment_of(&running, ENV, SHORT)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    p.confirm(&running_id);
    p.wait_gate(&running_id, "api.0", SHORT);
    let now = std::time::SystemTime::now();
    let reopens = now + Duration::from_secs(20);
    let added = p.post(
        "/freezes",
        &json!({
            "name": "s14-midway", "reason": "INC-15: disk pressure",
            "environments": [ENV], "from": boreas_aws::store::rfc3339(now - Duration::from_secs(60)),
            "until": boreas_aws::store::rfc3339(reopens), "blocks": ["batches"], "running": "pause"
        }),
    );
    assert_eq!(added.status, 201, "{}", added.body);
    let out = p.boreas(&["approve", &running_id, "api.0", "--comment", "go"]);
    assert!(out.status.success(), "{out:?}");
    held_for(
        p,
        &running_id,
        "app api waits before batch 2: frozen by s14-midway until ",
    );
    let paused = p.deployment(&running_id);
    assert_eq!(paused["status"], "running", "{paused}");
    assert!(
        batches(&paused, "api")[1]
            .iter()
            .all(|h| record(&paused, "targets", "target", h).is_none()),
        "the second batch started during the window: {paused}"
    );
    let done = p.wait_status(
        &running_id,
        &["succeeded", "failed", "rolled_back"],
        DEPLOY_TIMEOUT,
    );
    assert_eq!(done["status"], "succeeded", "{done}");
    assert!(
        std::time::SystemTime::now() >= reopens,
        "went on before the window closed"
    );
    assert!(done["policy"]["hold"].is_null(), "{done}");
    let removed = p.boreas(&["freeze", "remove", "s14-midway"]);
    assert!(removed.status.success(), "{removed:?}");

    let now = std::time::SystemTime::now();
    let until = boreas_aws::store::rfc3339(now + Duration::from_secs(25));
    let added = p.post(
        "/freezes",
        &json!({
            "name": "s14-incident", "reason": "INC-14: database failover",
            "environments": [ENV], "from": boreas_aws::store::rfc3339(now - Duration::from_secs(60)),
            "until": until, "blocks": ["start"]
        }),
    );
    assert_eq!(added.status, 201, "{}", added.body);

    // Two versions pushed during the freeze: both wait; the newer replaces the older.
    let older = next_version("s14a");
    p.tag(&older, &[]);
    let older_id = p.deployment_of(&older, ENV, SHORT)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    held_for(p, &older_id, "frozen by s14-incident until ");
    assert_confirm_held(p, &older_id, "INC-14: database failover");
    let newer = next_version("s14b");
    p.tag(&newer, &[]);
    let newer_id = p.deployment_of(&newer, ENV, SHORT)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    held_for(p, &newer_id, "frozen by s14-incident until ");
    let skipped = p.wait_status(&older_id, &["superseded"], SHORT);
    let why = skipped["error"].as_str().unwrap_or_default();
    assert!(
        why.starts_with(&format!("superseded by deployment {newer_id} of version {newer} while it waited: frozen by s14-incident until ")),
        "{why}"
    );

    // The window ends: the planner's timer clears the hold and the newest goes out.
    wait_for("the freeze to end", Duration::from_secs(90), || {
        p.deployment(&newer_id)["policy"]["hold"]
            .is_null()
            .then_some(())
    });
    let done = p.drive(&newer_id, DEPLOY_TIMEOUT);
    assert_eq!(done["status"], "succeeded", "{done}");
    let removed = p.boreas(&["freeze", "remove", "s14-incident"]);
    assert!(removed.status.success(), "{removed:?}");
}
