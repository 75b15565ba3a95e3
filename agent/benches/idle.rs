//! Idle agent figures on the emulator: resident memory, CPU over a minute, AWS requests per hour
//! (counted by a TCP proxy between the agent and the emulator), and the latency from a command
//! being sent to the deploy starting.
//!
//! Run: `cargo bench -p boreas-agent --bench idle --profile agent` (the size-optimised build hosts
//! run). `IDLE_SECONDS` shortens the idle window (default 60).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command as Process, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use boreas_aws::emulator::Emulator;
use boreas_aws::names::Names;
use boreas_aws::queues::{Queues, SqsQueues};
use boreas_core::command::{Action, Command, Health, PmWorkload, SCHEMA_VERSION, Workload};
use boreas_core::config::{HealthCheck, RunSpec};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DEPLOYS: usize = 10;

/// Forwards 127.0.0.1:port → `upstream`, counting HTTP requests from the client side.
async fn counting_proxy(upstream: String, requests: Arc<AtomicU64>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (client, _) = listener.accept().await.unwrap();
            let server = tokio::net::TcpStream::connect(&upstream).await.unwrap();
            let requests = requests.clone();
            tokio::spawn(async move {
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        // Request lines end in " HTTP/1.1"; bodies here are JSON or form data.
                        let seen = buf[..n]
                            .windows(11)
                            .filter(|w| w == b" HTTP/1.1\r\n")
                            .count();
                        requests.fetch_add(seen as u64, Ordering::Relaxed);
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                };
                let down = async move {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                };
                tokio::join!(up, down);
            });
        }
    });
    port
}

/// (resident KiB, user+system clock ticks) of `pid`.
fn proc_stats(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    // Fields 14 and 15 of stat (utime, stime), counted from the state field (3).
    let ticks = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    (rss, ticks)
}

fn ticks_per_second() -> u64 {
    let out = Process::new("getconf").arg("CLK_TCK").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(100)
}

fn app(version: &str) -> Vec<u8> {
    format!(
        "import http.server, sys\n\
         class H(http.server.BaseHTTPRequestHandler):\n\
         \x20   def do_GET(self):\n\
         \x20       self.send_response(200); self.send_header('Content-Length', '3'); self.end_headers(); self.wfile.write(b'{version}\\n'[:3])\n\
         \x20   def log_message(self, *a): pass\n\
         http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n"
    )
    .into_bytes()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let idle_seconds: u64 = std::env::var("IDLE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let emulator = Emulator::start().await.unwrap();
    let upstream = emulator.endpoint().trim_start_matches("http://").to_owned();
    let requests = Arc::new(AtomicU64::new(0));
    let proxy = counting_proxy(upstream, requests.clone()).await;
    let aws = boreas_aws::sdk_config(Some(emulator.endpoint())).await;
    let names = Names::new("bench");
    let queues = SqsQueues::from_config(&aws);
    queues.ensure_queue(&names.inventory_queue()).await.unwrap();
    let agent_url = queues
        .ensure_queue(&names.agent_queue("bench", "h1"))
        .await
        .unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let mut agent = Process::new(env!("CARGO_BIN_EXE_boreas-agent"))
        .args([
            "--host",
            "h1",
            "--environment",
            "bench",
            "--prefix",
            "bench",
        ])
        .args(["--endpoint", &format!("http://127.0.0.1:{proxy}")])
        .arg("--work-dir")
        .arg(&work)
        .args(["--probe-interval-ms", "100"])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = agent.id();
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<(Instant, String)>();
    let stderr = agent.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    // Started: the first inventory went out and the first long poll is waiting.
    loop {
        let (_, line) = lines.recv().await.expect("agent output");
        if line.contains("agent started") {
            break;
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Idle window.
    let hz = ticks_per_second();
    let (_, ticks0) = proc_stats(pid);
    let requests0 = requests.load(Ordering::Relaxed);
    let t0 = Instant::now();
    let mut max_rss = 0;
    while t0.elapsed() < Duration::from_secs(idle_seconds) {
        max_rss = max_rss.max(proc_stats(pid).0);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let (rss, ticks1) = proc_stats(pid);
    let idle_requests = requests.load(Ordering::Relaxed) - requests0;
    let cpu_seconds = (ticks1 - ticks0) as f64 / hz as f64;

    // Command sent → deploy started, the agent idle in its long poll each time.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut latencies = Vec::new();
    for i in 0..DEPLOYS {
        let version = format!("v{i}");
        let bytes = app(&version);
        let path = tmp.path().join(format!("app-{version}.py"));
        std::fs::write(&path, &bytes).unwrap();
        let sha: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let deployment = format!("bench-{i}");
        let command = Command {
            schema_version: SCHEMA_VERSION,
            command_id: boreas_core::command::command_id(&deployment, "web", 0, "h1", "deploy"),
            environment: "bench".into(),
            target: "h1".into(),
            task_token: None,
            heartbeat_seconds: None,
            timeout_seconds: None,
            action: Action::Deploy {
                deployment_id: deployment,
                app: "web".into(),
                batch: 0,
                attempt: 0,
                version: version.clone(),
                workload: Workload::Pm(PmWorkload {
                    artifact_url: format!("file://{}", path.display()),
                    sha256: Some(sha),
                    sha256_url: None,
                    commit: None,
                    run_as: None,
                    hooks: Default::default(),
                    release_hooks: Vec::new(),
                    env: Default::default(),
                    run: Some(RunSpec::Command {
                        command: vec!["python3".into(), name, port.to_string()],
                    }),
                    health: Health {
                        check: HealthCheck::Tcp {
                            tcp: format!("127.0.0.1:{port}"),
                        },
                        timeout_seconds: 2,
                        retries: 50,
                    },
                }),
                weight: None,
            },
        };
        // Let the agent settle into a fresh long poll.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let sent = Instant::now();
        queues
            .send(&agent_url, &command.to_json(), &BTreeMap::new())
            .await
            .unwrap();
        let mut started = None;
        loop {
            let (at, line) = lines.recv().await.expect("agent output");
            if line.contains("deploy started") && line.contains(&command.command_id) {
                started = Some(at);
            }
            if line.contains("deploy succeeded") || line.contains("deploy failed") {
                break;
            }
        }
        latencies.push(started.unwrap().duration_since(sent).as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);

    let _ = Process::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = agent.wait();
    emulator.stop().await.unwrap();

    println!(
        "PM agent {}, idle {elapsed:.0} s on the emulator",
        env!("CARGO_BIN_EXE_boreas-agent")
    );
    println!(
        "  resident memory: {:.1} MiB at the end, {:.1} MiB peak",
        rss as f64 / 1024.0,
        max_rss as f64 / 1024.0
    );
    println!(
        "  CPU: {cpu_seconds:.2} s over {elapsed:.0} s ({:.3} %)",
        cpu_seconds / elapsed * 100.0
    );
    println!(
        "  AWS requests: {idle_requests} in {elapsed:.0} s = {:.0} per hour",
        idle_requests as f64 / elapsed * 3600.0
    );
    println!(
        "  command sent → deploy started ({DEPLOYS} deploys): median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        latencies.last().unwrap()
    );
}
