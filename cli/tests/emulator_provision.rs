//! `boreas emulator start|stop` and `boreas provision`, run as the real binary.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use boreas_core::notify::render::webhook_signature;
use boreas_test_support::http::{RecordingServer, Request, Response};
use serde_json::json;

fn boreas() -> Command {
    Command::new(env!("CARGO_BIN_EXE_boreas"))
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("boreas-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn start_provision_twice_and_stop() {
    let dir = scratch_dir("emulator");
    let state_file = dir.join("emulator.json");
    let mut emulator = boreas()
        .args(["emulator", "start", "--state-file"])
        .arg(&state_file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn boreas emulator start");
    let mut line = String::new();
    BufReader::new(emulator.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("read the endpoint line");
    let announced: serde_json::Value = serde_json::from_str(&line).expect("JSON line");
    let endpoint = announced["endpoint"].as_str().expect("endpoint").to_owned();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_file).unwrap()).unwrap();
    assert_eq!(state["endpoint"], endpoint);

    let prefix = format!("cli{}", std::process::id());
    let mut outputs = Vec::new();
    for run in 1..=2 {
        let output = dir.join(format!("run{run}.json"));
        let out = boreas()
            .args([
                "provision",
                "--endpoint",
                &endpoint,
                "--prefix",
                &prefix,
                "--output",
            ])
            .arg(&output)
            .output()
            .expect("run boreas provision");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "run {run}: {stderr}");
        if run == 1 {
            assert!(
                stderr.contains(&format!("created table {prefix}-state")),
                "{stderr}"
            );
        } else {
            assert!(stderr.contains("nothing changed"), "{stderr}");
        }
        let written = std::fs::read_to_string(&output).unwrap();
        assert_eq!(written.trim(), String::from_utf8_lossy(&out.stdout).trim());
        outputs.push(written);
    }
    assert_eq!(outputs[0], outputs[1]);
    // After a deploy: the provisioned table is up to date; a missing one is named.
    for (table_prefix, ok, said) in [
        (
            prefix.clone(),
            true,
            format!("table {prefix}-state is up to date"),
        ),
        (
            format!("{prefix}x"),
            false,
            format!("upgrading table {prefix}x-state failed: table {prefix}x-state not found"),
        ),
    ] {
        let out = boreas()
            .args([
                "upgrade-table",
                "--endpoint",
                &endpoint,
                "--prefix",
                &table_prefix,
            ])
            .output()
            .expect("run boreas upgrade-table");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.success(), ok, "{stderr}");
        assert!(stderr.contains(&said), "{stderr}");
    }
    notification_sinks(&endpoint, &prefix);
    let described: serde_json::Value = serde_json::from_str(&outputs[0]).unwrap();
    assert_eq!(described["table"], format!("{prefix}-state"));
    assert!(
        described["state_machine_arn"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":stateMachine:{prefix}-deployment"))
    );

    let stopped = boreas()
        .args(["emulator", "stop", "--state-file"])
        .arg(&state_file)
        .output()
        .expect("run boreas emulator stop");
    assert!(
        stopped.status.success(),
        "{}",
        String::from_utf8_lossy(&stopped.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = emulator.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "boreas emulator start did not exit"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    assert!(!state_file.exists(), "the state file outlived the emulator");
    assert!(
        std::net::TcpStream::connect(endpoint.trim_start_matches("http://")).is_err(),
        "the emulator still answers after stop"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `boreas notify add|test|remove` on the provisioned prefix: a chat and a webhook sink, each
/// tested through a local receiver.
fn notification_sinks(endpoint: &str, prefix: &str) {
    let receiver = RecordingServer::start(|_req: &Request| Response::json(200, json!({})));
    let notify = |args: &[&str], input: &str| {
        let mut child = boreas()
            .arg("notify")
            .args(args)
            .args(["--endpoint", endpoint, "--prefix", prefix])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn boreas notify");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        )
    };
    let chat_url = format!("{}/hooks/T0/B0/secretpart", receiver.url());
    let (code, _, err) = notify(&["add", "team-chat", "--kind", "slack"], &chat_url);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = notify(&["test", "team-chat"], "");
    assert_eq!(
        (code, err.as_str()),
        (Some(0), "sent a test message through sink team-chat")
    );
    let chat = receiver.requests().pop().unwrap();
    assert_eq!(chat.target, "/hooks/T0/B0/secretpart");
    assert!(
        chat.json()["text"]
            .as_str()
            .unwrap()
            .contains("a test message to sink team-chat")
    );

    let (code, secret, err) = notify(
        &["add", "audit", "--kind", "webhook"],
        &format!("{}/hook\n", receiver.url()),
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(secret.len(), 64, "the generated secret, printed once");
    let (code, _, err) = notify(&["test", "audit"], "");
    assert_eq!(code, Some(0), "{err}");
    let hook = receiver.requests().pop().unwrap();
    assert_eq!(hook.json()["event"], "test");
    let signature = hook.header("boreas-signature").unwrap();
    let t: u64 = signature[2..signature.find(',').unwrap()].parse().unwrap();
    assert_eq!(
        signature,
        webhook_signature(secret.as_bytes(), t, &hook.body)
    );

    // A chat URL is a credential: a bad one is refused without being repeated.
    let (code, _, err) = notify(
        &["add", "plain", "--kind", "slack"],
        "http://chat.example.com/hooks/T0/secretpart",
    );
    assert_eq!(code, Some(2));
    assert!(
        err.starts_with("url: must be an https URL") && !err.contains("secretpart"),
        "{err}"
    );
    let (code, _, err) = notify(&["add", "git", "--kind", "slack"], &chat_url);
    assert_eq!(code, Some(2), "{err}");

    let (code, _, err) = notify(&["remove", "team-chat"], "");
    assert_eq!((code, err.as_str()), (Some(0), "removed sink team-chat"));
    let (code, _, err) = notify(&["test", "team-chat"], "");
    assert_eq!(code, Some(1));
    assert!(
        err.contains("\"team-chat\" is not registered in this installation"),
        "{err}"
    );
    assert_eq!(
        receiver.requests().len(),
        2,
        "nothing sent after the removal"
    );
}

#[test]
fn provision_rejects_a_bad_prefix_and_endpoint() {
    let out = boreas()
        .args([
            "provision",
            "--endpoint",
            "http://127.0.0.1:9",
            "--prefix",
            "Bad_Prefix",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--prefix") && stderr.contains("'B'"),
        "{stderr}"
    );

    let out = boreas()
        .args(["provision", "--endpoint", "127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--endpoint"), "{stderr}");
}

#[test]
fn stop_without_a_running_emulator_says_so() {
    let dir = scratch_dir("nostate");
    let out = boreas()
        .args(["emulator", "stop", "--state-file"])
        .arg(dir.join("none.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to stop"));
    std::fs::remove_dir_all(&dir).unwrap();
}
