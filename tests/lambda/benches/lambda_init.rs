//! Each function's release binary: its size, and its init time as Lambda sees it, i.e. from
//! spawning the binary with `AWS_LAMBDA_RUNTIME_API` pointing at a minimal runtime-API server on
//! 127.0.0.1 until the binary's first `GET /2018-06-01/runtime/invocation/next` (its `main` has
//! built its SDK clients and is ready for an event). 20 runs per function: min, median, max.
//!
//! The functions get the environment the SAM template gives them, with the AWS endpoint on the
//! emulator and static test credentials, so init never waits for instance metadata.
//!
//! Run with `cargo bench -p boreas-lambda-wiring`.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use boreas_lambda_wiring::{FUNCTIONS, Profile, build, function_env};
use boreas_test_support::emulator::Prefix;

const RUNS: usize = 20;
/// A binary that has not asked for an event by then is broken, not slow.
const INIT_TIMEOUT: Duration = Duration::from_secs(20);
const NEXT: &str = "GET /2018-06-01/runtime/invocation/next ";

fn main() {
    let binaries =
        build(&FUNCTIONS, Profile::Release).expect("build the functions' release binaries");
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let (emulator, env) = runtime.block_on(async {
        let emulator = boreas_aws::emulator::Emulator::start()
            .await
            .expect("start the emulator");
        let p = Prefix::provision(
            emulator.endpoint(),
            boreas_aws::names::Names::new("bench-init"),
        )
        .await;
        let env = function_env(
            emulator.endpoint(),
            p.names.prefix(),
            &[
                (
                    "BOREAS_STATE_MACHINE_ARN",
                    p.provisioned.state_machine_arn.clone(),
                ),
                ("BOREAS_PLAN_QUEUE_URL", p.queue_url("plan").to_owned()),
                (
                    "BOREAS_INVENTORY_QUEUE_URL",
                    p.queue_url("inventory").to_owned(),
                ),
                ("RUST_LOG", "warn".to_owned()),
                // Lambda always sets it; the publisher's init reads it.
                (
                    "LAMBDA_TASK_ROOT",
                    std::env::temp_dir().display().to_string(),
                ),
            ],
        );
        (emulator, env)
    });

    println!("Functions: release binary size and init time ({RUNS} runs each)");
    println!(
        "| function | binary size | init min | init median | init max |\n| --- | ---: | ---: | ---: | ---: |"
    );
    for name in FUNCTIONS {
        let path = &binaries[name];
        let size = std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .len();
        let mut times: Vec<Duration> = (0..RUNS)
            .map(|_| init_time(path, &env, name).unwrap_or_else(|e| panic!("{name}: {e}")))
            .collect();
        times.sort();
        println!(
            "| {name} | {size} B ({:.1} MiB) | {} | {} | {} |",
            size as f64 / (1024.0 * 1024.0),
            ms(times[0]),
            ms(times[RUNS / 2]),
            ms(times[RUNS - 1]),
        );
    }
    runtime
        .block_on(emulator.stop())
        .expect("stop the emulator");
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Spawns the binary against a fresh runtime-API listener; the time until it asks for an event.
fn init_time(
    path: &std::path::Path,
    env: &std::collections::BTreeMap<String, String>,
    name: &str,
) -> Result<Duration, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (tx, rx) = mpsc::channel();
    // The first request line, and when it arrived; read on a thread so the wait can time out.
    let server = std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let mut line = String::new();
        let read = BufReader::new(stream).read_line(&mut line);
        let _ = tx.send((Instant::now(), read.map(|_| line)));
    });
    let start = Instant::now();
    let mut child = Command::new(path)
        .envs(env)
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", path.display()))?;
    let first = rx.recv_timeout(INIT_TIMEOUT);
    let _ = child.kill();
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    if first.is_err() {
        // Unblock the accept so the thread ends.
        let _ = TcpStream::connect(addr);
    }
    let _ = server.join();
    match first {
        Ok((at, Ok(line))) if line.starts_with(NEXT) => Ok(at - start),
        Ok((_, Ok(line))) => Err(format!(
            "first request was {line:?}, not the next invocation; stderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )),
        Ok((_, Err(e))) => Err(format!("reading the first request: {e}")),
        Err(_) => Err(format!(
            "no request within {INIT_TIMEOUT:?}; stderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )),
    }
}
