//! Benchmark of the deployment state machine on the emulator: state transitions per deployment
//! shape (measured from the execution history and computed from the definition), the resulting
//! Step Functions cost at list price, and the wall time from StartExecution to the last command
//! with instantly-answering workers.
//!
//! Run: `cargo test -p boreas-aws --bench sfn_bench` (prints a Markdown section; `cargo bench`
//! runs the same in the release profile). The figures are the emulator's (a Python process): a
//! release build of this client changes nothing measurable. `BOREAS_SFN_BENCH_FLEET=1000x10`
//! sizes the fleet run (apps × host targets per app; default 100x10).

use std::time::{Duration, Instant};

use aws_sdk_sfn::types::ExecutionStatus;
use boreas_aws::emulator::Emulator;
use boreas_core::execution::{
    AppInput, ExecutionInput, HISTORY_LIMIT, PAYLOAD_LIMIT, history_events,
};
use boreas_test_support::sfn::{
    self, Harness, Reply, Workers, always, fleet_input, largest_app, pm_app,
};

/// List price of a Standard workflow state transition, in dollars.
const PRICE_PER_TRANSITION: f64 = 0.025 / 1000.0;

/// Transitions of one host's child execution: the liveness time, the agent read, the reachability
/// choice, the command and the result record.
const HOST_TRANSITIONS: usize = 5;

/// A deployment shape: `apps` PM apps spread over `stages`, each with `batches` batches over
/// `hosts` hosts.
#[derive(Debug, Clone, Copy)]
struct Shape {
    stages: usize,
    apps: usize,
    batches: usize,
    hosts: usize,
}

impl Shape {
    /// State transitions of a successful run, from the definition: 8 for the execution and 2 per
    /// stage (in the deployment's own history), 8 per batch + 2 per app (batch start/end records,
    /// the batch's notice, the kind choice, the host Map, the pause choice, the loop and the flag
    /// check; in the app's child execution), and [`HOST_TRANSITIONS`] per host (in the app's execution for a batch
    /// of at most 40 hosts, in the host's child execution for a larger one).
    fn transitions(self) -> usize {
        self.parent_transitions()
            + self.apps * (8 * self.batches + 2)
            + HOST_TRANSITIONS * self.apps * self.hosts
    }
    /// The part of [`Shape::transitions`] in the deployment's own history.
    fn parent_transitions(self) -> usize {
        8 + 2 * self.stages
    }
}

fn input(shape: Shape) -> ExecutionInput {
    let mut stages: Vec<(u32, Vec<AppInput>)> = (0..shape.stages).map(|_| (4, vec![])).collect();
    for a in 0..shape.apps {
        let hosts: Vec<String> = (0..shape.hosts).map(|h| format!("a{a}-h{h}")).collect();
        let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
        // Gray batches: one host each, the rest in the last batch.
        let mut batches: Vec<&[&str]> = hosts.chunks(1).take(shape.batches - 1).collect();
        batches.push(&hosts[shape.batches - 1..]);
        stages[a * shape.stages / shape.apps]
            .1
            .push(pm_app(&format!("app{a}"), &batches, 5));
    }
    sfn::input(stages)
}

struct Measured {
    parent_transitions: usize,
    events: usize,
    to_last_command: Duration,
}

async fn run(emulator: &Emulator, shape: Shape) -> Measured {
    let input = input(shape);
    let harness = Harness::provision(emulator.endpoint(), &input).await;
    // Instantly-answering agents, one long-polling task per host queue.
    let workers = Workers::spawn(&harness, &input, &always(Reply::Succeed, Duration::ZERO));
    harness
        .put_deployment(&input.deployment_id, "running")
        .await;
    let started = Instant::now();
    let execution = harness.start_execution(&input).await;
    let (status, error) = harness.wait(&execution, Duration::from_secs(600)).await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{error:?}");
    let last_command = workers
        .received()
        .iter()
        .map(|r| r.at)
        .max()
        .expect("commands were sent");
    workers.stop().await;
    let (events, parent_transitions) = harness.history(&execution).await;
    Measured {
        parent_transitions,
        events,
        to_last_command: last_command - started,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let emulator = Emulator::start().await.expect("start the emulator");
    let reference = Shape {
        stages: 3,
        apps: 10,
        batches: 4,
        hosts: 5,
    };
    let measured_shapes = [
        reference,
        Shape {
            hosts: 20,
            ..reference
        },
        Shape {
            batches: 2,
            ..reference
        },
        Shape {
            apps: 5,
            ..reference
        },
    ];
    println!("## State machine\n");
    println!(
        "Command: `cargo test -p boreas-aws --bench sfn_bench` (moto 5.2.5 emulator, 2 cores)."
    );
    println!(
        "Shape: `stages × apps × batches per app × hosts per app` (PM apps, 5 hosts at a time, no pauses)."
    );
    println!(
        "Transitions: the deployment's execution measured from its history (`*StateEntered` events);"
    );
    println!(
        "each app's child execution adds 7 per batch and 2, and each host's {HOST_TRANSITIONS} (liveness time, agent"
    );
    println!(
        "read, reachability choice, command, result record; inline in the app's execution for a batch of"
    );
    println!(
        "at most 40 hosts): the emulator runs child executions without a history of their own, so those"
    );
    println!("parts are computed. Cost at $0.025 per 1,000 transitions.\n");
    println!(
        "| shape | parent measured | parent computed | parent history events | total transitions | per host | cost | StartExecution → last command |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for shape in measured_shapes {
        let m = run(&emulator, shape).await;
        let total = m.parent_transitions + shape.transitions() - shape.parent_transitions();
        println!(
            "| {}×{}×{}×{} | {} | {} | {} | {} | {:.1} | ${:.5} | {:.2} s |",
            shape.stages,
            shape.apps,
            shape.batches,
            shape.hosts,
            m.parent_transitions,
            shape.parent_transitions(),
            m.events,
            total,
            total as f64 / (shape.apps * shape.hosts) as f64,
            total as f64 * PRICE_PER_TRANSITION,
            m.to_last_command.as_secs_f64(),
        );
    }
    println!(
        "\nGrowth, computed from the definition: `8 + 2·stages + apps·(7·batches + 2) + {HOST_TRANSITIONS}·apps·hosts`.\n"
    );
    println!("| shape | transitions | per host | cost |");
    println!("| --- | --- | --- | --- |");
    for shape in [
        reference,
        Shape {
            hosts: 50,
            ..reference
        },
        Shape {
            hosts: 200,
            ..reference
        },
        Shape {
            batches: 8,
            ..reference
        },
        Shape {
            apps: 20,
            stages: 5,
            ..reference
        },
        Shape {
            stages: 1,
            apps: 1,
            batches: 10,
            hosts: 2000,
        },
    ] {
        let t = shape.transitions();
        println!(
            "| {}×{}×{}×{} | {} | {:.2} | ${:.4} |",
            shape.stages,
            shape.apps,
            shape.batches,
            shape.hosts,
            t,
            t as f64 / (shape.apps * shape.hosts) as f64,
            t as f64 * PRICE_PER_TRANSITION
        );
    }
    fleet(&emulator).await;
    emulator.stop().await.expect("stop the emulator");
}

/// One stage of `apps` PM apps, 25 at a time, each on `targets` hosts of a pool of 100 in two
/// batches, with instantly-answering agents: wall time, transitions, the largest state data and
/// the longest histories.
async fn fleet(emulator: &Emulator) {
    let size = std::env::var("BOREAS_SFN_BENCH_FLEET").unwrap_or_else(|_| "100x10".into());
    let (apps, targets) = size
        .split_once('x')
        .and_then(|(a, t)| Some((a.parse::<usize>().ok()?, t.parse::<usize>().ok()?)))
        .expect("BOREAS_SFN_BENCH_FLEET is APPSxTARGETS, such as 1000x10");
    let input = fleet_input(apps, targets, targets.max(100), 2, 25);
    let slices = input.slices();
    let harness = Harness::provision(emulator.endpoint(), &input).await;
    let workers = Workers::spawn(&harness, &input, &always(Reply::Succeed, Duration::ZERO));
    let started = Instant::now();
    let execution = harness.start(&input).await;
    let (status, error) = harness.wait(&execution, Duration::from_secs(7200)).await;
    let wall = started.elapsed();
    workers.stop().await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{error:?}");
    let (events, parent) = harness.history(&execution).await;
    assert_eq!(events, history_events(&input).succeeded);
    let largest = harness.largest_payload(&execution).await;
    let (largest_app, app_events) = largest_app(&input);
    let shape = Shape {
        stages: 1,
        apps,
        batches: 2,
        hosts: targets,
    };
    let total = parent + shape.transitions() - shape.parent_transitions();
    println!(
        "\n### A fleet: {apps} apps, {} host targets\n",
        apps * targets
    );
    println!(
        "One stage, 25 apps at a time, each on {targets} hosts of a pool of {} in 2 batches, agents answering at once.\n",
        targets.max(100)
    );
    println!("| measure | value | quota |");
    println!("| --- | --- | --- |");
    println!(
        "| StartExecution → succeeded | {:.1} s | |",
        wall.as_secs_f64()
    );
    println!(
        "| execution input | {} B | {PAYLOAD_LIMIT} B |",
        slices.input.len()
    );
    println!(
        "| objects in the plans bucket | {} ({} B in all) | |",
        slices.objects.len(),
        slices.objects.iter().map(|o| o.body.len()).sum::<usize>()
    );
    println!("| largest state data, deployment's history | {largest} B | {PAYLOAD_LIMIT} B |");
    println!(
        "| largest app input (one item of the stage's object) | {largest_app} B | {PAYLOAD_LIMIT} B |"
    );
    println!("| deployment's history (measured) | {events} events | {HISTORY_LIMIT} |");
    println!(
        "| longest app history (counted, every batch rolled back) | {app_events} events | {HISTORY_LIMIT} |"
    );
    println!("| transitions (parent measured, apps and hosts computed) | {total} | |");
    println!(
        "| cost at $0.025 per 1,000 transitions | ${:.4} | |",
        total as f64 * PRICE_PER_TRANSITION
    );
}
