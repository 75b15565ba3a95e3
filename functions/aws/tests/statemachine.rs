//! The deployment state machine (`statemachine/deployment.asl.json`) on the emulator, driven by
//! scripted workers (`boreas_test_support::sfn`): tokio tasks that long-poll the agent and cluster
//! queues, read each command with `boreas_core::command`, and answer SendTaskSuccess,
//! SendTaskFailure or nothing.
//!
//! Every test provisions its own table, queues and state machine under a unique prefix, so the
//! tests share one emulator (one per test process) and run in parallel.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sfn::types::ExecutionStatus;
use boreas_aws::emulator;
use boreas_aws::store::{Agent, DynamoStore, Store, parse_rfc3339, rfc3339};
use boreas_core::analysis::run::BoundaryCheck;
use boreas_core::command::{Action, Command, EventBody, SCHEMA_VERSION};
use boreas_core::config::{AppKind, OnFailure, Unreachable};
use boreas_core::execution::{ExecutionInput, HISTORY_LIMIT, app_history_events, history_events};
use boreas_core::notify::NoticeEvent;
use boreas_core::plan::PausePlan;
use boreas_test_support::http::{RecordingServer, Response, forward};
use boreas_test_support::records;
use boreas_test_support::sfn::{
    Events, Harness, Reply, Script, Workers, always, app, fleet_input, input, largest_app,
    open_freeze_checks, pm_app, take,
};

const DEFINITION: &str = "statemachine/deployment.asl.json";
/// The definition's `${...}` placeholders, which the template and provisioning substitute.
const SUBSTITUTIONS: [&str; 6] = [
    "AnalysisQueueUrl",
    "EventsQueueUrl",
    "NotificationsQueueUrl",
    "PlanBucket",
    "QueueUrlPrefix",
    "TableName",
];

fn root() -> PathBuf {
    emulator::workspace_root()
}

/// RFC 3339 UTC timestamp → seconds since the epoch (enough to order the records' timestamps).
fn ts(v: &str) -> f64 {
    let (date, time) = v
        .split_once('T')
        .unwrap_or_else(|| panic!("not a timestamp: {v}"));
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let time = time.trim_end_matches('Z');
    let time = time.split(['+']).next().unwrap();
    let t: Vec<f64> = time.split(':').map(|x| x.parse().unwrap()).collect();
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    days as f64 * 86_400.0 + t[0] * 3600.0 + t[1] * 60.0 + t[2]
}

fn interval(records: &BTreeMap<String, HashMap<String, String>>, sk: &str) -> (f64, f64) {
    let r = records
        .get(sk)
        .unwrap_or_else(|| panic!("no record {sk}: {:?}", records.keys()));
    (ts(&r["started_at"]), ts(&r["ended_at"]))
}

// ---- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stages_in_order_apps_in_parallel_batches_in_order_within_bounds() {
    let input = input(vec![
        (
            2,
            vec![
                pm_app("web", &[&["h1"], &["h2", "h3", "h4"], &["h5"]], 2),
                app("api", AppKind::K8s, &[&["c1", "c2"], &["c1", "c2"]], 1),
                pm_app("tools", &[&["h6"]], 1),
            ],
        ),
        (1, vec![pm_app("db", &[&["h7", "h8"]], 2)]),
    ]);
    let p = Harness::shared(&input).await;
    let workers = Workers::spawn(
        &p,
        &input,
        &always(Reply::Succeed, Duration::from_millis(400)),
    );
    let mut events = p.events();
    let execution = p.start(&input).await;
    let (status, error) = p.wait(&execution, Duration::from_secs(120)).await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{error:?}");
    let finished = events.next().await;
    assert_eq!(
        finished,
        EventBody::DeploymentFinished {
            deployment_id: input.deployment_id.clone(),
            status: boreas_core::deployment::DeploymentStatus::Succeeded,
            failed_target: None
        }
    );
    // The history holds exactly the events counted along the definition: apps and hosts run in
    // child executions.
    let (recorded, _) = p.history(&execution).await;
    assert_eq!(recorded, history_events(&input).succeeded);
    assert_eq!(recorded, 32 + 2 * 13, "two stages");
    let records = p.records(&input.deployment_id).await;
    assert_eq!(records["META"]["status"], "succeeded");
    // Listed under its new status (the status index's partition moves with it).
    assert_eq!(records["META"]["gsi3pk"], "DEPLOYMENTS#STATUS#succeeded");

    // Every target got exactly one deploy, with the app's resolved workload; clusters get the batch weight.
    let received = workers.received();
    assert_eq!(received.len(), 1 + 3 + 1 + 4 + 1 + 2, "{received:?}");
    for r in &received {
        let Action::Deploy {
            version,
            weight,
            app,
            batch,
            ..
        } = &r.command.action
        else {
            panic!("{r:?}")
        };
        assert_eq!(version, "v2");
        if app == "api" {
            assert_eq!(*weight, Some(if *batch == 0 { 50 } else { 100 }));
        }
        assert_eq!(
            records[&format!("TARGET#{app}#{}", r.command.target)]["status"],
            "succeeded"
        );
    }

    // Stage 2's first batch started after stage 1's last batch ended.
    let stage0_end = ["BATCH#web#0002", "BATCH#api#0001", "BATCH#tools#0000"]
        .iter()
        .map(|sk| interval(&records, sk).1)
        .fold(f64::MIN, f64::max);
    assert!(
        interval(&records, "BATCH#db#0000").0 >= stage0_end,
        "stage 2 started before stage 1 ended"
    );
    // Batches of one app never overlap.
    for (app, n) in [("web", 3), ("api", 2)] {
        for i in 1..n {
            let before = interval(&records, &format!("BATCH#{app}#{:04}", i - 1));
            let after = interval(&records, &format!("BATCH#{app}#{i:04}"));
            assert!(
                after.0 >= before.1,
                "{app} batch {i} started before batch {} ended",
                i - 1
            );
        }
    }
    // Apps of a stage overlap, at most `parallelism` (2) at a time.
    let apps: Vec<(f64, f64)> = ["web", "api", "tools"]
        .iter()
        .map(|a| interval(&records, &format!("APP#{a}")))
        .collect();
    let overlapping_at = |t: f64| apps.iter().filter(|(s, e)| *s <= t && t < *e).count();
    let most = apps.iter().map(|(s, _)| overlapping_at(*s)).max().unwrap();
    assert_eq!(most, 2, "apps of stage 1 at once: {apps:?}");
    // Hosts of one batch: at most the app's parallelism at once, and that many when the batch allows.
    assert_eq!(workers.max_in_flight("web"), 2);
    assert_eq!(workers.max_in_flight("db"), 2);
    assert_eq!(workers.max_in_flight("tools"), 1);

    // Each finished batch was announced once, with its app's number of batches, at a time the
    // notifier can show.
    let mut notices: Vec<(String, u32, String)> = Vec::new();
    for notice in p.take_notices().await {
        assert_eq!(notice.deployment_id, input.deployment_id);
        assert!(parse_rfc3339(&notice.at).is_some(), "{notice:?}");
        let NoticeEvent::BatchFinished { batches, .. } = &notice.event else {
            panic!("{notice:?}")
        };
        let app = notice.event.app().unwrap().to_owned();
        notices.push((notice.event.id(), *batches, app));
    }
    notices.sort();
    let expected: Vec<(String, u32, String)> = [
        ("api", 0, 2),
        ("api", 1, 2),
        ("db", 0, 1),
        ("tools", 0, 1),
        ("web", 0, 3),
        ("web", 1, 3),
        ("web", 2, 3),
    ]
    .iter()
    .map(|(app, batch, of)| {
        (
            format!("batch_finished:{app}.{batch}"),
            *of,
            (*app).to_owned(),
        )
    })
    .collect();
    assert_eq!(notices, expected);

    events.stop().await;
    workers.stop().await;
}

/// A notice that cannot be sent (here its queue is gone) is dropped: the deployment goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_notice_that_cannot_be_sent_never_stops_the_deployment() {
    let input = input(vec![(1, vec![pm_app("web", &[&["h1"], &["h2"]], 1)])]);
    let p = Harness::shared(&input).await;
    p.sqs
        .delete_queue()
        .queue_url(p.notifications_url())
        .send()
        .await
        .unwrap();
    let workers = Workers::spawn(&p, &input, &always(Reply::Succeed, Duration::ZERO));
    let execution = p.start(&input).await;
    let (status, error) = p.wait(&execution, Duration::from_secs(60)).await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{error:?}");
    let records = p.records(&input.deployment_id).await;
    assert_eq!(records["META"]["status"], "succeeded");
    assert_eq!(records["BATCH#web#0001"]["status"], "succeeded");
    assert_eq!(workers.received().len(), 2);
    workers.stop().await;
}

/// A plan where `web` fails (or goes silent) on h3 in batch 2 of 3, `mail` runs alongside with
/// slow hosts, and `db` would follow in stage 2.
fn failing_plan() -> ExecutionInput {
    input(vec![
        (
            2,
            vec![
                pm_app("web", &[&["h1"], &["h2", "h3"], &["h4"]], 2),
                pm_app("mail", &[&["m1"], &["m2"], &["m3"]], 1),
            ],
        ),
        (1, vec![pm_app("db", &[&["h9"]], 1)]),
    ])
}

/// h3's deploy gets `h3`; mail's first deploy is slow (longer than web's first two batches plus
/// a 2 s heartbeat and the emulator's detection of it), so mail is mid-batch when web fails: it
/// finishes that batch, then rolls back.
fn failing_script(h3: Reply) -> Script {
    Arc::new(
        move |c: &Command| match (c.target.as_str(), c.action.as_str()) {
            ("h3", "deploy") => (h3, Duration::from_millis(100)),
            ("m1", "deploy") => (Reply::Succeed, Duration::from_millis(8000)),
            _ => (Reply::Succeed, Duration::from_millis(100)),
        },
    )
}

async fn assert_rolled_back(
    p: &Harness,
    input: &ExecutionInput,
    workers: &Workers,
    execution: &str,
) {
    let (status, error) = p.wait(execution, Duration::from_secs(120)).await;
    assert_eq!(status, ExecutionStatus::Failed);
    assert_eq!(error.as_deref(), Some("Boreas.RolledBack"));
    // Rollback goes to exactly the hosts already changed: web's batches 1–2, mail's batch 1.
    assert_eq!(
        workers.sent_to("rollback"),
        BTreeSet::from(["h1", "h2", "h3", "m1"].map(String::from))
    );
    // Nothing of web's batch 3, mail's later batches or stage 2 was ever sent.
    assert_eq!(
        workers.sent_to("deploy"),
        BTreeSet::from(["h1", "h2", "h3", "m1"].map(String::from))
    );
    // Most recent first: batch 2's hosts before batch 1's.
    let received = workers.received();
    let at = |target: &str| {
        received
            .iter()
            .find(|r| r.kind() == "rollback" && r.command.target == target)
            .unwrap()
            .at
    };
    assert!(at("h2") < at("h1") && at("h3") < at("h1"));
    for r in received.iter().filter(|r| r.kind() == "rollback") {
        let Action::Rollback {
            to_version,
            from_version,
            ..
        } = &r.command.action
        else {
            unreachable!()
        };
        assert_eq!(
            (from_version.as_str(), to_version.as_deref()),
            ("v2", Some("v1"))
        );
    }
    let records = p.records(&input.deployment_id).await;
    assert_eq!(records["META"]["status"], "rolled_back");
    assert_eq!(records["META"]["failed_target"], "h3");
    assert_eq!(records["META"]["gsi3pk"], "DEPLOYMENTS#STATUS#rolled_back");
    assert_eq!(records["APP#web"]["status"], "rolled_back");
    assert_eq!(records["APP#mail"]["status"], "rolled_back");
    assert!(!records.contains_key("APP#db"), "stage 2 never started");
    assert_eq!(records["BATCH#web#0001"]["status"], "failed");
    assert!(!records.contains_key("BATCH#web#0002"));
    for t in ["web#h1", "web#h2", "web#h3", "mail#m1"] {
        assert_eq!(
            records[&format!("TARGET#{t}")]["status"],
            "rolled_back",
            "{t}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_host_rolls_back_what_was_changed_and_stops_everything_else() {
    let input = failing_plan();
    let p = Harness::shared(&input).await;
    let slow = Workers::spawn(&p, &input, &failing_script(Reply::Fail));
    let mut events = p.events();
    let execution = p.start(&input).await;
    assert_rolled_back(&p, &input, &slow, &execution).await;
    let (recorded, _) = p.history(&execution).await;
    let counted = history_events(&input);
    // Stage 2 never ran and web's last batch neither: under the longest path's count.
    assert!(
        recorded <= counted.longest,
        "{recorded} events, counted {counted:?}"
    );
    let records = p.records(&input.deployment_id).await;
    assert_eq!(
        records["TARGET#web#h3"]["error_type"],
        "Boreas.HealthCheckFailed"
    );
    assert_eq!(
        events.next().await,
        EventBody::DeploymentFinished {
            deployment_id: input.deployment_id.clone(),
            status: boreas_core::deployment::DeploymentStatus::RolledBack,
            failed_target: Some("h3".into())
        }
    );
    events.stop().await;
    slow.stop().await;
}

/// `n` host names `{prefix}{i}`: a batch of more than 40 runs in a Distributed Map.
fn hosts(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// The longest path counted along the definition bounds a history that comes near it: an app
/// whose last batch fails rolls back every batch (the two inline, the last distributed).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rollback_of_every_batch_stays_within_the_longest_path_counted() {
    let mut last = hosts("b", 40);
    last.push("h3".into());
    let last: Vec<&str> = last.iter().map(String::as_str).collect();
    let input = input(vec![(
        1,
        vec![pm_app("web", &[&["h1"], &["h2"], &last], 10)],
    )]);
    let p = Harness::shared(&input).await;
    let script: Script = Arc::new(|c: &Command| match (c.target.as_str(), c.action.as_str()) {
        ("h3", "deploy") => (Reply::Fail, Duration::from_millis(50)),
        _ => (Reply::Succeed, Duration::from_millis(50)),
    });
    let workers = Workers::spawn(&p, &input, &script);
    let execution = p.start(&input).await;
    let (status, error) = p.wait(&execution, Duration::from_secs(120)).await;
    workers.stop().await;
    assert_eq!(
        (status, error.as_deref()),
        (ExecutionStatus::Failed, Some("Boreas.RolledBack"))
    );
    let (recorded, _) = p.history(&execution).await;
    let counted = history_events(&input);
    assert_eq!(recorded, counted.longest, "the parent's rolled-back end");
    // The app's own execution, run again in a machine that records it.
    let workers = Workers::spawn(&p, &input, &script);
    let recorded = p.apps_history(&input, 0).await;
    workers.stop().await;
    let counted = app_history_events(&input.stages[0].apps[0]);
    println!("{recorded} events recorded, counted {counted:?}");
    // The count holds 13 events for a failing host of an inline batch; here a distributed
    // batch's host failed, in its own child.
    assert!(
        recorded <= counted.longest && counted.longest - recorded <= 12 + 13,
        "{recorded} events recorded, counted {counted:?}"
    );
}

/// Each app's child execution writes exactly the events counted along the `Apps` Map's item
/// processor: small PM batches (an inline Map each), a large one (a Distributed Map), clusters
/// (an inline Map) and a wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_app_execution_writes_the_events_counted() {
    let large = hosts("b", 41);
    let large: Vec<&str> = large.iter().map(String::as_str).collect();
    let mut web = pm_app("web", &[&["h1"], &["h2", "h3"], &large], 10);
    web.batches[0].pause = PausePlan::Wait { seconds: 1 };
    let input = input(vec![(
        2,
        vec![
            web,
            app("api", AppKind::K8s, &[&["c1", "c2"], &["c1", "c2"]], 1),
        ],
    )]);
    let p = Harness::shared(&input).await;
    let workers = Workers::spawn(
        &p,
        &input,
        &always(Reply::Succeed, Duration::from_millis(50)),
    );
    let recorded = p.apps_history(&input, 0).await;
    workers.stop().await;
    let counted: usize = input.stages[0]
        .apps
        .iter()
        .map(|a| app_history_events(a).succeeded)
        .sum();
    assert_eq!(recorded, counted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silent_host_fails_at_its_heartbeat_and_the_same_rollback_follows() {
    let mut input = failing_plan();
    input.stages[0].apps[0].heartbeat_seconds = 2;
    let p = Harness::shared(&input).await;
    let workers = Workers::spawn(&p, &input, &failing_script(Reply::Silent));
    let execution = p.start(&input).await;
    assert_rolled_back(&p, &input, &workers, &execution).await;
    let received = workers.received();
    let find = |kind: &str| {
        received
            .iter()
            .find(|r| r.kind() == kind && r.command.target == "h3")
            .unwrap()
            .at
    };
    let silent_for = find("rollback") - find("deploy");
    assert!(
        silent_for < Duration::from_secs(2 + 5),
        "h3 was given {silent_for:?} for a 2 s heartbeat"
    );
    assert!(
        silent_for >= Duration::from_secs(2),
        "h3 failed before its heartbeat ran out: {silent_for:?}"
    );
    let records = p.records(&input.deployment_id).await;
    let error_type = &records["TARGET#web#h3"]["error_type"];
    assert!(
        ["States.HeartbeatTimeout", "States.Timeout"].contains(&error_type.as_str()),
        "{error_type}"
    );
    workers.stop().await;
}

/// Runs web in batches h1 | h2 h3 | h4 with `unreachable` as its rollout says, h1's agent live, h3's
/// past its liveness window, h2 and h4 never reported. Returns the finished execution's status and
/// error and how long it ran.
async fn run_with_h3_unreachable(
    unreachable: Unreachable,
) -> (
    Harness,
    ExecutionInput,
    Workers,
    (ExecutionStatus, Option<String>),
    Duration,
) {
    let mut web = pm_app("web", &[&["h1"], &["h2", "h3"], &["h4"]], 2);
    web.unreachable = unreachable;
    let input = input(vec![(1, vec![web])]);
    let p = Harness::shared(&input).await;
    let store = DynamoStore::new(p.ddb.clone(), p.names.table());
    let now = SystemTime::now();
    for (host, until) in [
        ("h1", now + Duration::from_secs(600)),
        ("h3", now - Duration::from_secs(600)),
    ] {
        let agent = Agent {
            live_until: Some(rfc3339(until)),
            ..records::agent(&input.environment, host, "edge")
        };
        store.upsert_agent(&agent).await.unwrap();
    }
    let workers = Workers::spawn(
        &p,
        &input,
        &always(Reply::Succeed, Duration::from_millis(100)),
    );
    let started = Instant::now();
    let execution = p.start(&input).await;
    let outcome = p.wait(&execution, Duration::from_secs(120)).await;
    let elapsed = started.elapsed();
    (p, input, workers, outcome, elapsed)
}

/// A host whose agent has missed its liveness window fails its target at once with
/// `Boreas.AgentUnreachable` and is sent nothing, not even the rollback (nothing changed there);
/// a live host and a host that never reported get their commands as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_host_fails_at_once_and_is_sent_nothing() {
    let (p, input, workers, (status, error), elapsed) =
        run_with_h3_unreachable(Unreachable::Fail).await;
    assert_eq!(status, ExecutionStatus::Failed);
    assert_eq!(error.as_deref(), Some("Boreas.RolledBack"));
    // Far sooner than the target's heartbeat timeout would have ended it.
    let heartbeat = Duration::from_secs(input.stages[0].apps[0].heartbeat_seconds);
    assert!(elapsed < heartbeat, "{elapsed:?}");
    let both = BTreeSet::from(["h1", "h2"].map(String::from));
    assert_eq!(workers.sent_to("deploy"), both);
    assert_eq!(workers.sent_to("rollback"), both);
    let records = p.records(&input.deployment_id).await;
    let h3 = &records["TARGET#web#h3"];
    assert_eq!(h3["status"], "failed");
    assert_eq!(h3["error_type"], "Boreas.AgentUnreachable");
    assert!(h3["error"].contains("has not reported since"), "{h3:?}");
    assert_eq!(records["META"]["status"], "rolled_back");
    assert_eq!(records["META"]["failed_target"], "h3");
    for t in ["h1", "h2"] {
        assert_eq!(
            records[&format!("TARGET#web#{t}")]["status"],
            "rolled_back",
            "{t}"
        );
    }
    workers.stop().await;
}

/// With `rollout.unreachable: skip` the same host is recorded `skipped` (with why) and sent
/// nothing, and the rollout goes on to the last batch and succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_host_is_skipped_when_the_rollout_says_so() {
    let (p, input, workers, (status, error), _) = run_with_h3_unreachable(Unreachable::Skip).await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{error:?}");
    assert_eq!(
        workers.sent_to("deploy"),
        BTreeSet::from(["h1", "h2", "h4"].map(String::from))
    );
    assert!(workers.sent_to("rollback").is_empty());
    let records = p.records(&input.deployment_id).await;
    let h3 = &records["TARGET#web#h3"];
    assert_eq!(h3["status"], "skipped");
    assert_eq!(h3["batch"], "1");
    assert_eq!(h3["error_type"], "Boreas.AgentUnreachable");
    assert!(h3["error"].contains("has not reported since"), "{h3:?}");
    assert_eq!(records["BATCH#web#0001"]["status"], "succeeded");
    assert_eq!(records["META"]["status"], "succeeded");
    assert!(
        !records["META"].contains_key("failed_target"),
        "{:?}",
        records["META"]
    );
    workers.stop().await;
}

/// The decision event of one failed host, with its token.
fn decision_of(event: EventBody) -> (String, String, u32, u32, String) {
    let EventBody::DecisionWaiting {
        app,
        target,
        batch,
        attempt,
        task_token,
        ..
    } = event
    else {
        panic!("expected a decision, got {event:?}");
    };
    (app, target, batch, attempt, task_token)
}

/// `rollout.on_failure: pause`: three apps of one stage each fail their first host. Nothing
/// after a failed host is sent until an approver decides; web's host is retried (and now
/// succeeds), mail's is skipped (listed, left as it is), api's decision is to roll back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_host_pauses_its_batch_until_retried_skipped_or_rolled_back() {
    let mut apps = vec![
        pm_app("web", &[&["h1"], &["h2"]], 1),
        pm_app("mail", &[&["m1"], &["m2"]], 1),
        pm_app("api", &[&["a1"]], 1),
    ];
    for a in &mut apps {
        a.on_failure = OnFailure::Pause;
    }
    let input = input(vec![(3, apps)]);
    let p = Harness::shared(&input).await;
    // Every first deploy fails; the retry (attempt 1) finds the host fixed.
    let script: Script = Arc::new(|c: &Command| match &c.action {
        Action::Deploy { attempt: 0, .. } if ["h1", "m1", "a1"].contains(&c.target.as_str()) => {
            (Reply::Fail, Duration::from_millis(100))
        }
        _ => (Reply::Succeed, Duration::from_millis(100)),
    });
    let workers = Workers::spawn(&p, &input, &script);
    let mut events = p.events();
    let execution = p.start(&input).await;
    let mut waiting = BTreeMap::new();
    for _ in 0..3 {
        let (app, target, batch, attempt, token) = decision_of(events.next().await);
        assert_eq!((batch, attempt), (0, 0), "{app}/{target}");
        waiting.insert(target, token);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        workers.sent_to("deploy"),
        BTreeSet::from(["h1", "m1", "a1"].map(String::from)),
        "nothing after a failed host before its decision"
    );
    let records = p.records(&input.deployment_id).await;
    for t in ["web#h1", "mail#m1", "api#a1"] {
        let r = &records[&format!("TARGET#{t}")];
        assert_eq!(r["status"], "paused", "{t}");
        assert_eq!(r["error_type"], "Boreas.HealthCheckFailed", "{t}");
    }
    assert_eq!(records["META"]["status"], "running");
    assert!(!records["META"].contains_key("failed_app"));

    let decide = |target: &str, action: &str| {
        let (sfn, token) = (p.sfn.clone(), waiting[target].clone());
        let output = format!(r#"{{"action":"{action}","by":"alice","comment":""}}"#);
        async move {
            sfn.send_task_success()
                .task_token(token)
                .output(output)
                .send()
                .await
                .unwrap();
        }
    };
    decide("h1", "retry").await;
    decide("m1", "skip").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let records = p.records(&input.deployment_id).await;
        let done = |app: &str| {
            records
                .get(&format!("APP#{app}"))
                .is_some_and(|r| r["status"] == "succeeded")
        };
        if done("web") && done("mail") {
            break;
        }
        assert!(Instant::now() < deadline, "web and mail did not finish");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    decide("a1", "rollback").await;
    let (status, error) = p.wait(&execution, Duration::from_secs(60)).await;
    assert_eq!(
        (status, error.as_deref()),
        (ExecutionStatus::Failed, Some("Boreas.RolledBack"))
    );

    // The retry is a new command, with its own id, that the worker ran.
    let retries: Vec<_> = workers
        .received()
        .into_iter()
        .filter(|r| r.command.target == "h1" && r.kind() == "deploy")
        .map(|r| r.command.command_id)
        .collect();
    let base = format!("{}:web:0:h1:deploy", input.deployment_id);
    assert_eq!(retries, [base.clone(), format!("{base}.1")]);
    assert_eq!(
        workers.sent_to("deploy"),
        BTreeSet::from(["h1", "h2", "m1", "m2", "a1"].map(String::from))
    );
    // Only the app decided `rollback` rolls back; the others had finished.
    assert_eq!(
        workers.sent_to("rollback"),
        BTreeSet::from(["a1".to_owned()])
    );
    let records = p.records(&input.deployment_id).await;
    let h1 = &records["TARGET#web#h1"];
    assert_eq!(h1["status"], "succeeded");
    assert!(
        !h1.contains_key("error_type"),
        "a retried host sheds its failure: {h1:?}"
    );
    let m1 = &records["TARGET#mail#m1"];
    assert_eq!(m1["status"], "skipped");
    assert_eq!(m1["error_type"], "Boreas.HealthCheckFailed");
    assert_eq!(records["TARGET#mail#m2"]["status"], "succeeded");
    assert_eq!(records["APP#web"]["status"], "succeeded");
    assert_eq!(records["APP#mail"]["status"], "succeeded");
    assert_eq!(records["APP#api"]["status"], "rolled_back");
    assert_eq!(records["TARGET#api#a1"]["status"], "rolled_back");
    assert_eq!(records["META"]["status"], "rolled_back");
    assert_eq!(records["META"]["failed_target"], "a1");
    events.stop().await;
    workers.stop().await;
}

/// Every AWS step of the state machine survives a transient error: here the failing batch's own
/// record, the first write of the failure path, is throttled once (a proxy between Step Functions'
/// service integrations and the emulator answers it `ProvisionedThroughputExceededException`).
/// The write is retried and the rollback goes out as usual, instead of the deployment ending
/// `Boreas.Internal` with the changed hosts left on the failed version.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_throttled_write_on_the_failure_path_is_retried_and_the_rollback_still_goes_out() {
    let upstream = Arc::new(OnceLock::<String>::new());
    let seen = Arc::new(AtomicU32::new(0));
    let proxy = {
        let (upstream, seen) = (upstream.clone(), seen.clone());
        RecordingServer::start(move |request| {
            let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
            let batch_failed = request.header("x-amz-target")
                == Some("DynamoDB_20120810.UpdateItem")
                && body["Key"]["sk"]["S"]
                    .as_str()
                    .is_some_and(|sk| sk.starts_with("BATCH#"))
                && body["ExpressionAttributeValues"][":s"]["S"] == "failed";
            if batch_failed && seen.fetch_add(1, Ordering::SeqCst) == 0 {
                return Response {
                    status: 400,
                    body: serde_json::json!({
                        "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                        "message": "injected: the request rate is too high"
                    }),
                    headers: vec![("x-amzn-RequestId".into(), "injected-1".into())],
                };
            }
            forward(upstream.get().expect("the emulator's endpoint"), request)
        })
    };
    let port = proxy
        .url()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap();
    let emulator = emulator::Emulator::start_with_integrations_via(port)
        .await
        .unwrap();
    upstream.set(emulator.endpoint().to_owned()).unwrap();

    // One batch, its hosts one at a time: h1 is changed before h2 fails. One batch, because
    // with the integrations behind this proxy the step after a freeze check (before a second
    // batch) fails after 60 s, which the shared emulator and `boreas dev` do not do.
    let input = input(vec![(1, vec![pm_app("web", &[&["h1", "h2"]], 1)])]);
    let p = Harness::provision(emulator.endpoint(), &input).await;
    let script: Script = Arc::new(|c: &Command| match (c.target.as_str(), c.action.as_str()) {
        ("h2", "deploy") => (Reply::Fail, Duration::from_millis(100)),
        _ => (Reply::Succeed, Duration::from_millis(100)),
    });
    let workers = Workers::spawn(&p, &input, &script);
    let execution = p.start(&input).await;
    let (status, error) = p.wait(&execution, Duration::from_secs(120)).await;
    assert_eq!(
        (status, error.as_deref()),
        (ExecutionStatus::Failed, Some("Boreas.RolledBack")),
        "{:?}",
        p.records(&input.deployment_id).await.get("META")
    );
    assert_eq!(
        seen.load(Ordering::SeqCst),
        2,
        "throttled once, then written"
    );
    assert_eq!(
        workers.sent_to("rollback"),
        BTreeSet::from(["h1", "h2"].map(String::from))
    );
    let records = p.records(&input.deployment_id).await;
    assert_eq!(records["BATCH#web#0000"]["status"], "failed");
    assert_eq!(records["APP#web"]["status"], "rolled_back");
    assert_eq!(records["META"]["status"], "rolled_back");
    workers.stop().await;
    drop(proxy);
    emulator.stop().await.unwrap();
}

fn gated_plan() -> ExecutionInput {
    let mut web = pm_app("web", &[&["h1"], &["h2"]], 1);
    web.batches[0].pause = PausePlan::Gate {
        gate: "web.0".into(),
    };
    input(vec![(1, vec![web])])
}

/// The gated plan, run up to its gate.
struct AtGate {
    p: Harness,
    input: ExecutionInput,
    workers: Workers,
    events: Events,
    execution: String,
    /// The gate's task token.
    token: String,
}

/// Runs the gated plan up to its gate and checks that nothing after the gate was sent meanwhile.
async fn run_to_gate() -> AtGate {
    let input = gated_plan();
    let p = Harness::shared(&input).await;
    let workers = Workers::spawn(
        &p,
        &input,
        &always(Reply::Succeed, Duration::from_millis(50)),
    );
    let mut events = p.events();
    let execution = p.start(&input).await;
    let EventBody::GateWaiting {
        deployment_id,
        app,
        batch,
        gate,
        task_token,
    } = events.next().await
    else {
        panic!("expected the gate first");
    };
    assert_eq!(
        (deployment_id.as_str(), app.as_str(), batch, gate.as_str()),
        (input.deployment_id.as_str(), "web", 0, "web.0")
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        workers.sent_to("deploy"),
        BTreeSet::from(["h1".to_owned()]),
        "nothing after the gate before approval"
    );
    let records = p.records(&input.deployment_id).await;
    assert_eq!(records["BATCH#web#0000"]["status"], "succeeded");
    assert!(!records.contains_key("BATCH#web#0001"));
    AtGate {
        p,
        input,
        workers,
        events,
        execution,
        token: task_token,
    }
}

impl AtGate {
    async fn stop(self) {
        self.events.stop().await;
        self.workers.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_approved_gate_lets_the_next_batch_go() {
    let g = run_to_gate().await;
    g.p.sfn
        .send_task_success()
        .task_token(&g.token)
        .output("{}")
        .send()
        .await
        .unwrap();
    let (status, error) = g.p.wait(&g.execution, Duration::from_secs(60)).await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{error:?}");
    let (recorded, _) = g.p.history(&g.execution).await;
    assert_eq!(
        recorded,
        history_events(&g.input).succeeded,
        "the gate is the app's"
    );
    assert_eq!(
        g.workers.sent_to("deploy"),
        BTreeSet::from(["h1".to_owned(), "h2".to_owned()])
    );
    assert_eq!(
        g.p.records(&g.input.deployment_id).await["META"]["status"],
        "succeeded"
    );
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rejected_gate_rolls_back() {
    let g = run_to_gate().await;
    g.p.sfn
        .send_task_failure()
        .task_token(&g.token)
        .error("Boreas.GateRejected")
        .cause("not today")
        .send()
        .await
        .unwrap();
    let (status, error) = g.p.wait(&g.execution, Duration::from_secs(60)).await;
    assert_eq!(
        (status, error.as_deref()),
        (ExecutionStatus::Failed, Some("Boreas.RolledBack"))
    );
    assert_eq!(
        g.workers.sent_to("deploy"),
        BTreeSet::from(["h1".to_owned()])
    );
    assert_eq!(
        g.workers.sent_to("rollback"),
        BTreeSet::from(["h1".to_owned()])
    );
    let records = g.p.records(&g.input.deployment_id).await;
    assert_eq!(records["META"]["status"], "rolled_back");
    assert_eq!(records["APP#web"]["status"], "rolled_back");
    assert!(
        !records["META"].contains_key("failed_target"),
        "no target failed: the gate was rejected"
    );
    g.stop().await;
}

/// What the scripted analysis worker answers for a batch.
#[derive(Debug, Clone, Copy)]
enum Verdict {
    Pass,
    Inconclusive,
    Fail,
}

/// The check, app and batch of each request on the analysis queue, in order, and when it came.
type Asked = Arc<std::sync::Mutex<Vec<(BoundaryCheck, String, u32, Instant)>>>;

/// Answers the requests on the analysis queue of `p` with `verdict` (by check and batch), as the
/// analysis worker does; a freeze check passes as an open window and fails as an aborting one.
fn analysis_worker(
    p: &Harness,
    verdict: impl Fn(BoundaryCheck, u32) -> Verdict + Send + 'static,
) -> (tokio::task::JoinHandle<()>, Asked) {
    use boreas_core::analysis::run::Request;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (sqs, sfn, url, log) = (
        p.sqs.clone(),
        p.sfn.clone(),
        p.analysis_url(),
        Arc::clone(&seen),
    );
    let task = tokio::spawn(async move {
        loop {
            for body in take(&sqs, &url, 1).await {
                let r = Request::from_json(&body).expect("the state machine sends requests");
                log.lock()
                    .unwrap()
                    .push((r.check, r.app.clone(), r.batch, Instant::now()));
                // A moment of measuring: nothing after the batch may start meanwhile.
                tokio::time::sleep(Duration::from_millis(700)).await;
                let gate = format!("{}.{}.analysis", r.app, r.batch);
                let freeze = r.check == BoundaryCheck::Freeze;
                let sent = match verdict(r.check, r.batch) {
                    Verdict::Pass if freeze => sfn
                        .send_task_success()
                        .task_token(&r.task_token)
                        .output(r#"{"freeze":"open"}"#)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string()),
                    Verdict::Fail if freeze => sfn
                        .send_task_failure()
                        .task_token(&r.task_token)
                        .error("FreezeAbort")
                        .cause("frozen by incident: INC-7")
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string()),
                    Verdict::Pass => sfn
                        .send_task_success()
                        .task_token(&r.task_token)
                        .output(r#"{"analysis":"pass"}"#)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string()),
                    Verdict::Inconclusive => sfn
                        .send_task_success()
                        .task_token(&r.task_token)
                        .output(
                            serde_json::json!({"analysis": "inconclusive", "gate": gate, "message": "no data"})
                                .to_string(),
                        )
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string()),
                    Verdict::Fail => sfn
                        .send_task_failure()
                        .task_token(&r.task_token)
                        .error("AnalysisFailed")
                        .cause("check errors failed: 0.05, wanted < 0.01")
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string()),
                };
                sent.unwrap();
            }
        }
    });
    (task, seen)
}

/// web in three batches of one host.
fn three_batches() -> ExecutionInput {
    input(vec![(
        1,
        vec![pm_app("web", &[&["h1"], &["h2"], &["h3"]], 1)],
    )])
}

/// [`three_batches`], each analysed.
fn analysed_plan() -> ExecutionInput {
    let mut input = three_batches();
    for b in &mut input.stages[0].apps[0].batches {
        b.analysis = true;
    }
    input
}

/// The (app, batch) of each request of `check`.
fn asked(seen: &Asked, check: BoundaryCheck) -> Vec<(String, u32)> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|(c, ..)| *c == check)
        .map(|(_, a, b, _)| (a.clone(), *b))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_analysed_batch_waits_for_its_verdict_asks_a_person_or_rolls_back() {
    let input = analysed_plan();
    let p = Harness::shared(&input).await;
    let workers = Workers::spawn_hosts(
        &p,
        &input,
        &always(Reply::Succeed, Duration::from_millis(50)),
    );
    let (analyst, seen) = analysis_worker(&p, |check, batch| match (check, batch) {
        (BoundaryCheck::Freeze, _) | (_, 0) => Verdict::Pass,
        (_, 1) => Verdict::Inconclusive,
        _ => Verdict::Fail,
    });
    let mut events = p.events();
    let execution = p.start(&input).await;

    // Batch 1's analysis is inconclusive: its gate waits for a person.
    let EventBody::GateWaiting {
        app,
        batch,
        gate,
        task_token,
        ..
    } = events.next().await
    else {
        panic!("expected the analysis gate");
    };
    assert_eq!(
        (app.as_str(), batch, gate.as_str()),
        ("web", 1, "web.1.analysis")
    );
    assert_eq!(
        workers.sent_to("deploy"),
        BTreeSet::from(["h1", "h2"].map(String::from)),
        "nothing after the gate before its decision"
    );
    p.sfn
        .send_task_success()
        .task_token(&task_token)
        .output("{}")
        .send()
        .await
        .unwrap();

    // Batch 2's analysis fails: web rolls back every batch, the analysed ones included.
    let (status, error) = p.wait(&execution, Duration::from_secs(120)).await;
    assert_eq!(
        (status, error.as_deref()),
        (ExecutionStatus::Failed, Some("Boreas.RolledBack"))
    );
    let web = |b: u32| ("web".to_owned(), b);
    assert_eq!(
        asked(&seen, BoundaryCheck::Analysis),
        [web(0), web(1), web(2)],
        "one request per batch, in order"
    );
    assert_eq!(
        asked(&seen, BoundaryCheck::Freeze),
        [web(1), web(2)],
        "a freeze check before each later batch"
    );
    // Each next batch's deploy came after the previous batch's verdict (700 ms of measuring).
    let received = workers.received();
    let deployed = |target: &str| {
        received
            .iter()
            .find(|r| r.kind() == "deploy" && r.command.target == target)
            .unwrap()
            .at
    };
    let asked_at = seen.lock().unwrap()[0].3;
    assert!(deployed("h2") >= asked_at + Duration::from_millis(700));
    assert_eq!(
        workers.sent_to("rollback"),
        BTreeSet::from(["h1", "h2", "h3"].map(String::from))
    );
    let records = p.records(&input.deployment_id).await;
    assert_eq!(records["META"]["status"], "rolled_back");
    assert_eq!(records["META"]["failed_app"], "web");
    assert_eq!(records["APP#web"]["status"], "rolled_back");
    assert_eq!(
        records["BATCH#web#0002"]["status"], "succeeded",
        "its hosts did"
    );
    analyst.abort();
    events.stop().await;
    workers.stop().await;
}

/// The freeze worker is asked before batches 2 and 3, never before the first: batch 2 starts
/// only once it answers (a window that closed), and an aborting window before batch 3 rolls
/// back what the first two changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_freeze_check_holds_the_next_batch_and_an_abort_rolls_back() {
    let input = three_batches();
    let p = Harness::shared(&input).await;
    let workers = Workers::spawn_hosts(
        &p,
        &input,
        &always(Reply::Succeed, Duration::from_millis(50)),
    );
    let (worker, seen) = analysis_worker(&p, |_, batch| match batch {
        1 => Verdict::Pass,
        _ => Verdict::Fail,
    });
    let execution = p.start(&input).await;
    let (status, error) = p.wait(&execution, Duration::from_secs(120)).await;
    assert_eq!(
        (status, error.as_deref()),
        (ExecutionStatus::Failed, Some("Boreas.RolledBack"))
    );
    assert_eq!(
        asked(&seen, BoundaryCheck::Freeze),
        [("web".to_owned(), 1), ("web".to_owned(), 2)],
        "before the second and the third batch"
    );
    assert_eq!(seen.lock().unwrap().len(), 2, "and nothing else");
    let received = workers.received();
    let deployed = |target: &str| {
        received
            .iter()
            .find(|r| r.kind() == "deploy" && r.command.target == target)
            .map(|r| r.at)
    };
    let asked_at = seen.lock().unwrap()[0].3;
    assert!(deployed("h2").unwrap() >= asked_at + Duration::from_millis(700));
    assert_eq!(deployed("h3"), None, "the aborted batch never started");
    assert_eq!(
        workers.sent_to("rollback"),
        BTreeSet::from(["h1", "h2"].map(String::from))
    );
    let records = p.records(&input.deployment_id).await;
    assert_eq!(records["META"]["status"], "rolled_back");
    assert_eq!(records["APP#web"]["status"], "rolled_back");
    worker.abort();
    workers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn analysed_batches_write_the_events_counted() {
    let input = analysed_plan();
    let p = Harness::shared(&input).await;
    let workers = Workers::spawn_hosts(
        &p,
        &input,
        &always(Reply::Succeed, Duration::from_millis(50)),
    );
    let (analyst, seen) = analysis_worker(&p, |_, _| Verdict::Pass);
    let recorded = p.apps_history(&input, 0).await;
    analyst.abort();
    workers.stop().await;
    assert_eq!(asked(&seen, BoundaryCheck::Analysis).len(), 3);
    assert_eq!(asked(&seen, BoundaryCheck::Freeze).len(), 2);
    assert_eq!(
        recorded,
        app_history_events(&input.stages[0].apps[0]).succeeded
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_stops_the_execution_and_records_cancelled() {
    let mut input = input(vec![(1, vec![pm_app("web", &[&["h1"], &["h2"]], 1)])]);
    // The emulator notices a stop only when the waiting task wakes, at the latest at its
    // heartbeat; AWS stops at once. A short heartbeat keeps the test quick.
    input.stages[0].apps[0].heartbeat_seconds = 2;
    let p = Harness::shared(&input).await;
    let workers = Workers::spawn(&p, &input, &always(Reply::Silent, Duration::ZERO));
    let execution = p.start(&input).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while workers.sent_to("deploy").is_empty() {
        assert!(Instant::now() < deadline, "h1 never got its command");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // What the api does on cancel: stop the execution, then record the status.
    p.sfn
        .stop_execution()
        .execution_arn(&execution)
        .cause("cancelled by a person")
        .send()
        .await
        .unwrap();
    p.ddb
        .update_item()
        .table_name(p.names.table())
        .key(
            "pk",
            AttributeValue::S(format!("DEP#{}", input.deployment_id)),
        )
        .key("sk", AttributeValue::S("META".into()))
        .update_expression("SET #s = :s")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":s", AttributeValue::S("cancelled".into()))
        .send()
        .await
        .unwrap();
    let (status, error) = p.wait(&execution, Duration::from_secs(30)).await;
    // AWS reports ABORTED. The emulator ends a run stopped inside a Distributed Map as FAILED with
    // States.Runtime; either way no state runs after the stop (the record below is untouched).
    assert!(
        status == ExecutionStatus::Aborted
            || (status == ExecutionStatus::Failed && error.as_deref() == Some("States.Runtime")),
        "{status:?} {error:?}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        workers.sent_to("deploy"),
        BTreeSet::from(["h1".to_owned()]),
        "nothing is sent after the stop"
    );
    let records = p.records(&input.deployment_id).await;
    assert_eq!(records["META"]["status"], "cancelled");
    assert_eq!(
        records["BATCH#web#0000"]["status"], "running",
        "the interrupted batch stays as it was"
    );
    workers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_input_of_another_schema_version_is_refused() {
    let mut input = input(vec![(1, vec![pm_app("web", &[&["h1"]], 1)])]);
    input.schema_version = SCHEMA_VERSION + 1;
    let p = Harness::shared(&input).await;
    let execution = p.start(&input).await;
    let (status, error) = p.wait(&execution, Duration::from_secs(30)).await;
    assert_eq!(
        (status, error.as_deref()),
        (
            ExecutionStatus::Failed,
            Some("Boreas.UnsupportedSchemaVersion")
        )
    );
}

/// A deployment cancelled before its execution got going: the execution ends without sending a
/// command and leaves the record as the api wrote it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_execution_of_a_deployment_no_longer_running_changes_nothing() {
    let input = input(vec![(1, vec![pm_app("web", &[&["h1"]], 1)])]);
    let p = Harness::shared(&input).await;
    p.put_deployment(&input.deployment_id, "cancelled").await;
    let execution = p.start_execution(&input).await;
    let (status, _) = p.wait(&execution, Duration::from_secs(30)).await;
    assert_eq!(status, ExecutionStatus::Succeeded);
    let records = p.records(&input.deployment_id).await;
    assert_eq!(records.len(), 1, "only the deployment record: {records:?}");
    assert_eq!(records["META"]["status"], "cancelled");
    assert!(!records["META"].contains_key("started_at"));
    let queue = p.queue_url(AppKind::Pm, "h1");
    let waiting = p
        .sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    let count = waiting
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages))
        .cloned();
    assert_eq!(count.as_deref(), Some("0"), "no command was sent");
}

/// 1,000 PM hosts (or `BOREAS_SFN_SCALE_HOSTS`; 2,000 measured in BENCHMARKS.md) in 10 batches
/// with an instantly-answering fleet.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_hosts_in_ten_batches_stay_under_the_history_limit() {
    let hosts: usize = std::env::var("BOREAS_SFN_SCALE_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let names: Vec<String> = (0..hosts).map(|i| format!("host-{i:05}")).collect();
    let per = hosts.div_ceil(10);
    let batches: Vec<Vec<&str>> = names
        .chunks(per)
        .map(|c| c.iter().map(String::as_str).collect())
        .collect();
    let batch_refs: Vec<&[&str]> = batches.iter().map(Vec::as_slice).collect();
    let input = input(vec![(1, vec![pm_app("fleet", &batch_refs, 50)])]);
    // The hosts are in the batches' objects, not in the execution's input.
    assert!(input.slices().input.len() < 1024);
    let p = Harness::shared(&input).await;
    let stop = Arc::new(AtomicBool::new(false));
    let freeze_checks =
        open_freeze_checks(p.sqs.clone(), p.sfn.clone(), p.analysis_url(), stop.clone());
    let started = Instant::now();
    let execution = p.start(&input).await;
    // The fleet answers batch by batch: each host's agent long-polls its own queue, and only the
    // hosts of the running batch have anything to read.
    let answered = Arc::new(AtomicU32::new(0));
    for batch in &batches {
        let mut tasks = Vec::new();
        for host in batch {
            let (sqs, sfn, answered) = (p.sqs.clone(), p.sfn.clone(), answered.clone());
            let url = p.queue_url(AppKind::Pm, host);
            tasks.push(tokio::spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(300);
                loop {
                    assert!(Instant::now() < deadline, "no command for {url}");
                    if let Some(body) = take(&sqs, &url, 5).await.first() {
                        let command = Command::from_json(body).unwrap();
                        sfn.send_task_success()
                            .task_token(command.task_token.unwrap())
                            .output("{}")
                            .send()
                            .await
                            .unwrap();
                        answered.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }
    let (status, error) = p.wait(&execution, Duration::from_secs(300)).await;
    let wall = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    freeze_checks.await.unwrap();
    assert_eq!(status, ExecutionStatus::Succeeded, "{error:?}");
    assert_eq!(answered.load(Ordering::Relaxed) as usize, hosts);
    let (events, transitions) = p.history(&execution).await;
    println!(
        "{hosts} hosts in 10 batches: {events} history events, {transitions} parent state transitions, {wall:?}"
    );
    assert!(events < 25_000, "{events} history events");
    let records = p.records(&input.deployment_id).await;
    let succeeded = records
        .values()
        .filter(|r| r["sk"].starts_with("TARGET#") && r["status"] == "succeeded")
        .count();
    assert_eq!(succeeded, hosts);
}

/// A fleet of apps (`BOREAS_SFN_SCALE_APPS`, default 20, each on `BOREAS_SFN_SCALE_TARGETS`
/// hosts, default 10, of a pool of 100, in 2 batches, 25 apps at a time) runs to `succeeded`
/// inside every quota: the deployment's history holds the events counted for its one stage, no
/// app's counted history comes near the quota, and no state's data holds more than a few KiB.
/// The full size (1,000 apps, 10,000 host targets) is the `sfn_bench` benchmark's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fleet_of_apps_stays_inside_every_quota() {
    let var = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (apps, targets) = (
        var("BOREAS_SFN_SCALE_APPS", 20),
        var("BOREAS_SFN_SCALE_TARGETS", 10),
    );
    let input = fleet_input(apps, targets, targets.max(100), 2, 25);
    let slices = input.slices();
    assert!(slices.input.len() < 1024, "{}", slices.input.len());
    // Each app's child execution starts with one item of the stage's object.
    let (largest_app, longest_app) = largest_app(&input);
    assert!(largest_app < 4096, "{largest_app} bytes");
    let p = Harness::shared(&input).await;
    let workers = Workers::spawn(&p, &input, &always(Reply::Succeed, Duration::ZERO));
    let started = Instant::now();
    let execution = p.start(&input).await;
    let (status, error) = p.wait(&execution, Duration::from_secs(1800)).await;
    let wall = started.elapsed();
    let received = workers.received().len();
    workers.stop().await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{error:?}");
    assert_eq!(received, apps * targets, "one command per host target");
    let (events, transitions) = p.history(&execution).await;
    assert_eq!(events, history_events(&input).succeeded);
    // Batches of up to 40 hosts run inline, in the app's own history: still far from the quota.
    assert!(longest_app < HISTORY_LIMIT / 10, "{longest_app} events");
    let largest = p.largest_payload(&execution).await;
    assert!(largest < 1024, "{largest} bytes");
    println!(
        "{apps} apps × {targets} hosts: {events} history events, {transitions} parent transitions, largest state data {largest} B, {wall:?}"
    );
    let records = p.records(&input.deployment_id).await;
    let succeeded = records
        .values()
        .filter(|r| r["sk"].starts_with("TARGET#") && r["status"] == "succeeded")
        .count();
    assert_eq!(succeeded, apps * targets);
}

#[test]
fn the_definition_passes_the_asl_validator() {
    let validator = root().join("statemachine/node_modules/.bin/asl-validator");
    assert!(
        validator.exists(),
        "{} is missing: run `npm ci --prefix statemachine`",
        validator.display()
    );
    let out = std::process::Command::new(&validator)
        .arg("--json-path")
        .arg(root().join(DEFINITION))
        .output()
        .expect("run asl-validator");
    assert!(
        out.status.success(),
        "asl-validator refused the definition:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The inline host Maps are the distributed ones, derived by `statemachine/inline-maps.mjs`: a
/// change to one without the other fails here.
#[test]
fn the_inline_host_maps_are_derived_from_the_distributed_ones() {
    let out = std::process::Command::new("node")
        .arg(root().join("statemachine/inline-maps.mjs"))
        .arg("--check")
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_definition_names_exactly_the_contract_substitutions() {
    let text = std::fs::read_to_string(root().join(DEFINITION)).unwrap();
    let mut found = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("${") {
        let end = rest[i..].find('}').unwrap();
        found.insert(rest[i + 2..i + end].to_owned());
        rest = &rest[i + end..];
    }
    assert_eq!(found, BTreeSet::from(SUBSTITUTIONS.map(String::from)));
    // Only the task kinds that run on the emulator and need no Lambda.
    let definition: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut resources = BTreeSet::new();
    collect_resources(&definition, &mut resources);
    let allowed = [
        "arn:aws:states:::dynamodb:getItem",
        "arn:aws:states:::dynamodb:updateItem",
        "arn:aws:states:::s3:getObject",
        "arn:aws:states:::sqs:sendMessage",
        "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
    ];
    assert!(
        resources.iter().all(|r| allowed.contains(&r.as_str())),
        "{resources:?}"
    );
}

fn collect_resources(v: &serde_json::Value, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::String(r)) = map.get("Resource") {
                out.insert(r.clone());
            }
            map.values().for_each(|v| collect_resources(v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_resources(v, out)),
        _ => {}
    }
}

/// Every state of the definition, by name, whatever Map it sits in.
fn all_states(states: &serde_json::Value, out: &mut BTreeMap<String, serde_json::Value>) {
    for (name, state) in states.as_object().unwrap() {
        out.insert(name.clone(), state.clone());
        for processor in ["ItemProcessor", "Iterator"] {
            if let Some(inner) = state.get(processor) {
                all_states(&inner["States"], out);
            }
        }
    }
}

/// Every DynamoDB and plain SQS step retries throttling and service errors with jittered
/// exponential backoff (and never a refused condition, which is how the definition decides), and
/// every step of an app's failure path catches what is left, so the rollback is still sent.
#[test]
fn every_aws_step_retries_transient_errors_and_the_failure_path_goes_on() {
    let text = std::fs::read_to_string(root().join(DEFINITION)).unwrap();
    let definition: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut states = BTreeMap::new();
    all_states(&definition["States"], &mut states);
    let mut checked = 0;
    for (name, state) in &states {
        let resource = state["Resource"].as_str().unwrap_or_default();
        let needs: &[&str] = if resource.starts_with("arn:aws:states:::dynamodb:") {
            &[
                "DynamoDB.ProvisionedThroughputExceededException",
                "DynamoDB.ThrottlingException",
                "DynamoDB.RequestLimitExceeded",
                "DynamoDB.InternalServerError",
                "DynamoDB.AmazonDynamoDBException",
            ]
        } else if resource == "arn:aws:states:::sqs:sendMessage" {
            &["SQS.SdkClientException", "SQS.AmazonSQSException"]
        } else {
            continue;
        };
        checked += 1;
        let retriers = state["Retry"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no Retry"));
        let matched: BTreeSet<&str> = retriers
            .iter()
            .flat_map(|r| r["ErrorEquals"].as_array().unwrap())
            .filter_map(|e| e.as_str())
            .collect();
        for error in needs {
            assert!(matched.contains(error), "{name} does not retry {error}");
        }
        assert!(
            !matched.contains("States.ALL")
                && !matched.contains("DynamoDB.ConditionalCheckFailedException"),
            "{name} retries what is no transient error"
        );
        for r in retriers {
            assert_eq!(r["JitterStrategy"], "FULL", "{name}");
            assert!(r["MaxAttempts"].as_u64().unwrap() >= 3, "{name}");
            assert!(r["BackoffRate"].as_f64().unwrap() >= 1.5, "{name}");
            assert!(r["MaxDelaySeconds"].as_u64().is_some(), "{name}");
        }
    }
    assert!(checked > 40, "{checked} steps checked");
    // The failure path: wherever one of its records still cannot be written, the next step of
    // the rollback runs.
    for (name, next) in [
        ("BatchFailed", "AppFailed"),
        ("AppFailed", "RollingBack"),
        ("RollingBack", "RollbackKind"),
        ("RollbackHosts", "RollbackMore"),
        ("RollbackHostsInline", "RollbackMore"),
        ("RollbackClusters", "AppRolledBack"),
        ("AppRolledBack", "RolledBack"),
        ("AppRollbackFailed", "RollbackFailed"),
    ] {
        let catches = states[name]["Catch"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}"));
        assert!(
            catches
                .iter()
                .any(|c| c["ErrorEquals"] == serde_json::json!(["States.ALL"]) && c["Next"] == next),
            "{name} must go on to {next} on any error"
        );
    }
}
