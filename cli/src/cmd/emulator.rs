//! `boreas emulator start|stop`: the local AWS emulator in the foreground, and a way to stop it from
//! another shell.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use boreas_aws::emulator::Emulator;
use serde::{Deserialize, Serialize};

/// Where `start` records the running emulator, relative to the current directory.
const DEFAULT_STATE_FILE: &str = ".boreas/emulator.json";
/// How long `stop` waits for the emulator to exit.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Run the emulator on 127.0.0.1 until Ctrl-C or SIGTERM; prints {"endpoint": ...} when ready.
    Start {
        /// Port to listen on (0: any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Where to record the endpoint and process id for `boreas emulator stop`.
        #[arg(long, default_value = DEFAULT_STATE_FILE)]
        state_file: PathBuf,
    },
    /// Stop the emulator that `boreas emulator start` recorded in the state file.
    Stop {
        #[arg(long, default_value = DEFAULT_STATE_FILE)]
        state_file: PathBuf,
    },
}

/// The state file: the endpoint, and the `boreas emulator start` process that owns the emulator.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    endpoint: String,
    pid: u32,
}

pub(crate) fn run(args: &Args) -> ExitCode {
    super::provision::init_tracing();
    match &args.action {
        Action::Start { port, state_file } => start(*port, state_file),
        Action::Stop { state_file } => stop(state_file),
    }
}

fn read_state(path: &Path) -> Option<State> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// True when `pid` is a running `boreas emulator start` (guards against a reused pid).
fn is_running_emulator(pid: u32) -> bool {
    Command::new("ps")
        .args(["-o", "args=", "-p", &pid.to_string()])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .is_some_and(|out| {
            let args = String::from_utf8_lossy(&out.stdout);
            args.contains("boreas") && args.contains("emulator") && args.contains("start")
        })
}

fn start(port: u16, state_file: &Path) -> ExitCode {
    if let Some(state) = read_state(state_file)
        && is_running_emulator(state.pid)
    {
        eprintln!(
            "an emulator already runs at {} (pid {}); stop it with `boreas emulator stop --state-file {}`",
            state.endpoint,
            state.pid,
            state_file.display()
        );
        return ExitCode::from(1);
    }
    let runtime = match super::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    runtime.block_on(async {
        let emulator = match Emulator::start_on(port).await {
            Ok(emulator) => emulator,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(1);
            }
        };
        let state = State {
            endpoint: emulator.endpoint().to_owned(),
            pid: std::process::id(),
        };
        let json = serde_json::json!({ "endpoint": state.endpoint }).to_string();
        let recorded = serde_json::to_string_pretty(&state)
            .map_err(std::io::Error::other)
            .and_then(|s| super::provision::write_atomically(state_file, &s));
        if let Err(e) = recorded {
            eprintln!("{}: cannot write: {e}", state_file.display());
            return ExitCode::from(1);
        }
        println!("{json}");
        eprintln!("AWS emulator at {}; Ctrl-C stops it", state.endpoint);

        let outcome = wait_for_shutdown_signal().await;
        let stopped = emulator.stop().await;
        // Only remove the record if it is still ours (another start may have replaced it).
        if read_state(state_file).is_some_and(|s| s.pid == state.pid) {
            let _ = std::fs::remove_file(state_file);
        }
        match (outcome, stopped) {
            (Ok(()), Ok(())) => ExitCode::SUCCESS,
            (Err(e), _) => {
                eprintln!("cannot wait for a signal: {e}");
                ExitCode::from(1)
            }
            (_, Err(e)) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        }
    })
}

async fn wait_for_shutdown_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}

fn stop(state_file: &Path) -> ExitCode {
    let Some(state) = read_state(state_file) else {
        eprintln!(
            "{}: no emulator recorded here; nothing to stop",
            state_file.display()
        );
        return ExitCode::from(1);
    };
    if !is_running_emulator(state.pid) {
        eprintln!(
            "the emulator recorded in {} (pid {}) is not running; removing the record",
            state_file.display(),
            state.pid
        );
        let _ = std::fs::remove_file(state_file);
        return ExitCode::SUCCESS;
    }
    let sent = Command::new("kill")
        .args(["-TERM", &state.pid.to_string()])
        .status();
    if !sent.is_ok_and(|s| s.success()) {
        eprintln!("cannot signal pid {}", state.pid);
        return ExitCode::from(1);
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    while is_running_emulator(state.pid) {
        if Instant::now() > deadline {
            eprintln!("pid {} did not exit within {STOP_TIMEOUT:?}", state.pid);
            return ExitCode::from(1);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("stopped the emulator at {}", state.endpoint);
    ExitCode::SUCCESS
}
