//! Benchmark of the deployment state machine on the emulator: state transitions per deployment
//! shape (measured from the execution history and computed from the definition), the resulting
//! Step Functions cost at list price, and the wall time from StartExecution to the last command
//! with instantly-answering workers.
//!
//! Run: `cargo test -p boreas-aws --bench sfn_bench` (prints a Markdown section; `cargo bench`
//! runs the same in the release profile). The figures are the emulator's (a Python process): a
//! release build of this client changes nothing measurable.

use std::time::{Duration, Instant};

use aws_sdk_sfn::types::ExecutionStatus;
use boreas_aws::emulator::Emulator;
use boreas_core::execution::{AppInput, ExecutionInput};
use boreas_test_support::sfn::{self, Harness, Reply, Workers, always, pm_app};

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
    /// State transitions of a successful run, from the definition: 8 for the execution, 2 per
    /// stage, 8 per batch + 2 per app (batch start/end records, the host Map, the pause choice,
    /// the loop and the flag check), and [`HOST_TRANSITIONS`] per host (in the host's child
    /// execution).
    fn transitions(self) -> usize {
        8 + 2 * self.stages
            + self.apps * (8 * self.batches + 2)
            + HOST_TRANSITIONS * self.apps * self.hosts
    }
    /// The part of [`Shape::transitions`] in the parent execution's own history.
    fn parent_transitions(self) -> usize {
        self.transitions() - HOST_TRANSITIONS * self.apps * self.hosts
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
        "Transitions: parent execution measured from its history (`*StateEntered` events); each host's"
    );
    println!(
        "child execution (Distributed Map, STANDARD) adds {HOST_TRANSITIONS} (liveness time, agent read, reachability"
    );
    println!(
        "choice, command, result record), which the emulator runs without a history of its own, so that"
    );
    println!("part is computed. Cost at $0.025 per 1,000 transitions.\n");
    println!(
        "| shape | parent measured | parent computed | history events | total transitions | per host | cost | StartExecution → last command |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for shape in measured_shapes {
        let m = run(&emulator, shape).await;
        let total = m.parent_transitions + HOST_TRANSITIONS * shape.apps * shape.hosts;
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
        "\nGrowth, computed from the definition: `8 + 2·stages + apps·(8·batches + 2) + {HOST_TRANSITIONS}·apps·hosts`.\n"
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
    emulator.stop().await.expect("stop the emulator");
}
