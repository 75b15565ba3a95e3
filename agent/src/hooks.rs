//! Running one lifecycle hook: an argument vector (never a shell) in its own process group, with
//! exactly the environment and user [`ProcessEnv`] gives it, its output logged line by line,
//! `retries` further attempts after a failure, and SIGTERM then SIGKILL (after `grace`) to the
//! whole group when an attempt overruns its `timeout`.
//!
//! A process a hook leaves running (a `start` hook's daemon) must not keep the hook's stdout and
//! stderr: the agent reads them until the hook exits and [`DRAIN_AFTER_EXIT`] more, then closes
//! its ends.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use boreas_core::command::Hook;
use boreas_core::config::HookName;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::sync::mpsc;

use crate::Error;
use crate::output::{CommandLog, MAX_LINE_BYTES, Stream};
use crate::procenv::{ProcessEnv, RunAs};

/// How long output is still read after a hook exited (a child it forked may hold the pipe).
pub const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(300);
/// Longest pause between two attempts of a hook.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(10);

/// Where and as whom a hook runs.
#[derive(Debug, Clone)]
pub struct HookSite<'a> {
    /// The directory of the release that defines the hook.
    pub release_dir: &'a Path,
    /// The process environment (its user is the app's `run_as`, if any).
    pub env: &'a ProcessEnv,
}

/// The working directory of `hook` in `release_dir`.
fn working_dir(hook: &Hook, release_dir: &Path) -> PathBuf {
    match &hook.working_dir {
        Some(dir) if Path::new(dir).is_absolute() => PathBuf::from(dir),
        Some(dir) => release_dir.join(dir),
        None => release_dir.to_path_buf(),
    }
}

/// The program of `hook`: a relative path with a `/` is found in the release directory.
fn program(hook: &Hook, release_dir: &Path) -> Option<(PathBuf, Vec<String>)> {
    let (program, args) = hook.command.split_first()?;
    let program = if program.contains('/') && Path::new(program).is_relative() {
        release_dir.join(program)
    } else {
        PathBuf::from(program)
    };
    Some((program, args.to_vec()))
}

/// Runs `hook` until an attempt succeeds or every attempt failed.
pub async fn run(
    name: HookName,
    hook: &Hook,
    site: &HookSite<'_>,
    log: &mut CommandLog,
) -> Result<(), Error> {
    let failed = |message: String| Error::Hook {
        hook: name.as_str(),
        message,
    };
    let (program, args) =
        program(hook, site.release_dir).ok_or_else(|| failed("the command is empty".into()))?;
    let env = match &hook.run_as {
        // The hook's own user replaces the app's.
        Some(user) => {
            let mut env = site.env.clone();
            env.set_user(RunAs::lookup(user)?);
            env
        }
        None => site.env.clone(),
    };
    let cwd = working_dir(hook, site.release_dir);
    let attempts = hook.retries.saturating_add(1);
    let mut last = String::new();
    for attempt in 1..=attempts {
        log.note(&format!(
            "{name} (attempt {attempt}/{attempts}{}): {}",
            env.user()
                .map(|u| format!(", as {}", u.name))
                .unwrap_or_default(),
            hook.command.join(" ")
        ));
        let started = Instant::now();
        let result = attempt_once(hook, &program, &args, &cwd, &env, log).await;
        let took = started.elapsed();
        match result {
            Ok(()) => {
                log.note(&format!("{name} succeeded in {:.1}s", took.as_secs_f64()));
                tracing::info!(
                    hook = name.as_str(),
                    attempt,
                    took_ms = took.as_millis() as u64,
                    "hook succeeded"
                );
                return Ok(());
            }
            Err(message) => {
                log.note(&format!("{name} failed: {message}"));
                tracing::warn!(
                    hook = name.as_str(),
                    attempt,
                    error = message,
                    "hook failed"
                );
                last = message;
            }
        }
        if attempt < attempts {
            let pause = Duration::from_secs(1 << (attempt - 1).min(4)).min(MAX_RETRY_PAUSE);
            tokio::time::sleep(pause).await;
        }
    }
    Err(failed(if attempts > 1 {
        format!("{last} (after {attempts} attempts)")
    } else {
        last
    }))
}

/// One attempt; `Err` says why it failed.
async fn attempt_once(
    hook: &Hook,
    program: &Path,
    args: &[String],
    cwd: &Path,
    env: &ProcessEnv,
    log: &mut CommandLog,
) -> Result<(), String> {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group: a timeout's signals reach everything it forked.
        .process_group(0);
    env.apply(&mut command);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let pgid = child.id().and_then(|p| i32::try_from(p).ok());
    let (tx, mut rx) = mpsc::channel::<(Stream, Vec<u8>)>(64);
    let readers = [
        child
            .stdout
            .take()
            .map(|o| tokio::spawn(pump(o, Stream::Stdout, tx.clone()))),
        child
            .stderr
            .take()
            .map(|e| tokio::spawn(pump(e, Stream::Stderr, tx.clone()))),
    ];
    drop(tx);
    let timeout = Duration::from_secs(hook.timeout_seconds.max(1));
    let grace = Duration::from_secs(hook.grace_seconds);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut signalled: Option<(Signal, tokio::time::Instant)> = None;
    let status = loop {
        let wake = match signalled {
            None => deadline,
            Some((_, at)) => at + grace,
        };
        tokio::select! {
            status = child.wait() => break status,
            Some((stream, line)) = rx.recv() => log.line(stream, &line),
            () = tokio::time::sleep_until(wake) => {
                let next = match signalled {
                    None => Signal::SIGTERM,
                    Some(_) => Signal::SIGKILL,
                };
                if let Some(pgid) = pgid {
                    // ESRCH (already gone) is fine.
                    let _ = killpg(Pid::from_raw(pgid), next);
                }
                signalled = Some((next, tokio::time::Instant::now()));
            }
        }
    };
    // Output written just before the exit, then whatever a lingering child holds open.
    let drain_until = tokio::time::Instant::now() + DRAIN_AFTER_EXIT;
    loop {
        tokio::select! {
            line = rx.recv() => match line {
                Some((stream, line)) => log.line(stream, &line),
                None => break,
            },
            () = tokio::time::sleep_until(drain_until) => break,
        }
    }
    for reader in readers.into_iter().flatten() {
        reader.abort();
    }
    let status = status.map_err(|e| format!("cannot wait for {}: {e}", program.display()))?;
    match signalled {
        Some((signal, _)) => Err(format!(
            "timed out after {}s{}",
            timeout.as_secs(),
            if signal == Signal::SIGKILL {
                format!("; killed {}s after SIGTERM", grace.as_secs())
            } else {
                "; stopped by SIGTERM".to_owned()
            }
        )),
        None if status.success() => Ok(()),
        None => Err(format!("{} exited with {status}", program.display())),
    }
}

/// Sends `reader`'s lines (split at [`MAX_LINE_BYTES`]) until end of file.
async fn pump(reader: impl AsyncRead + Unpin, stream: Stream, tx: mpsc::Sender<(Stream, Vec<u8>)>) {
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        // A bounded read: a hook printing without newlines cannot grow memory.
        let mut limited = (&mut reader).take(MAX_LINE_BYTES as u64);
        match limited.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if line.last() == Some(&b'\n') {
                    line.pop();
                }
                if tx.send((stream, line.clone())).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procenv::{AppVars, BoreasVars};

    fn hook(command: &[&str], timeout: u64, retries: u32, grace: u64) -> Hook {
        Hook {
            command: command.iter().map(|s| (*s).to_owned()).collect(),
            timeout_seconds: timeout,
            retries,
            grace_seconds: grace,
            run_as: None,
            working_dir: None,
        }
    }

    fn env() -> ProcessEnv {
        ProcessEnv::new(
            None,
            &BoreasVars {
                app: "web".into(),
                version: "v1".into(),
                host: "h1".into(),
                environment: "test".into(),
                ..BoreasVars::default()
            },
            &AppVars::default(),
        )
    }

    #[tokio::test]
    async fn output_exit_status_retries_and_timeouts() {
        let tmp = tempfile::tempdir().unwrap();
        let env = env();
        let site = HookSite {
            release_dir: tmp.path(),
            env: &env,
        };
        let mut log = CommandLog::memory(Vec::new());
        run(
            HookName::Validate,
            &hook(&["sh", "-c", "echo out; echo err >&2; pwd"], 5, 0, 1),
            &site,
            &mut log,
        )
        .await
        .unwrap();
        let (text, _) = log.tail();
        // Two pipes: their lines interleave in arrival order.
        assert!(
            text.contains("\nout\n") && text.contains("\n[stderr] err\n"),
            "{text}"
        );
        assert!(text.contains(&tmp.path().display().to_string()), "{text}");

        let err = run(
            HookName::Stop,
            &hook(&["sh", "-c", "exit 3"], 5, 1, 1),
            &site,
            &mut log,
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("exit status: 3"), "{err}");
        assert!(err.to_string().contains("after 2 attempts"), "{err}");

        // Ignores SIGTERM: killed after the grace period.
        let started = Instant::now();
        let err = run(
            HookName::Drain,
            &hook(&["sh", "-c", "trap '' TERM; sleep 30"], 1, 0, 1),
            &site,
            &mut log,
        )
        .await
        .unwrap_err();
        assert!(
            err.to_string().contains("timed out after 1s; killed"),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
