//! The local emulator: it starts from the project virtualenv, answers AWS calls with Step Functions
//! execution switched on, stops, and never outlives the process that started it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use boreas_aws::emulator::{self, Emulator};

/// A plain HTTP/1.0 GET against the emulator (moto's own API, which no SDK speaks).
fn http_get(endpoint: &str, path: &str) -> String {
    let addr = endpoint.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect to the emulator");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    response
}

/// True while `pid` is a live process (a zombie awaiting its reaper counts as gone).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

fn wait_until_gone(pid: u32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    !alive(pid)
}

#[tokio::test]
async fn starts_answers_with_step_functions_execution_on_and_stops() {
    let emulator = Emulator::start().await.expect("emulator starts");
    let endpoint = emulator.endpoint().to_owned();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    let pid = emulator.pid().expect("a running process");

    // A real AWS call through the SDK configuration every adapter uses.
    let sdk = boreas_aws::sdk_config(Some(&endpoint)).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = sqs
        .create_queue()
        .queue_name("emulator-smoke")
        .send()
        .await
        .expect("create a queue")
        .queue_url
        .expect("queue url");
    assert!(url.ends_with("/emulator-smoke"), "{url}");

    // Step Functions really executes: a Pass state's result becomes the execution's output.
    let sfn = aws_sdk_sfn::Client::new(&sdk);
    let machine = sfn
        .create_state_machine()
        .name("emulator-smoke")
        .role_arn("arn:aws:iam::123456789012:role/emulator-smoke")
        .definition(
            r#"{"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"ran":true},"End":true}}}"#,
        )
        .send()
        .await
        .expect("create a state machine")
        .state_machine_arn;
    let execution = sfn
        .start_execution()
        .state_machine_arn(&machine)
        .name("smoke-1")
        .input("{}")
        .send()
        .await
        .expect("start an execution")
        .execution_arn;
    let deadline = Instant::now() + Duration::from_secs(20);
    let output = loop {
        let described = sfn
            .describe_execution()
            .execution_arn(&execution)
            .send()
            .await
            .expect("describe the execution");
        if described.status == aws_sdk_sfn::types::ExecutionStatus::Succeeded {
            break described.output.unwrap_or_default();
        }
        assert!(
            Instant::now() < deadline,
            "the execution did not finish: {:?} (is Step Functions execution on?)",
            described.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let output: serde_json::Value = serde_json::from_str(&output).expect("JSON output");
    assert_eq!(output, serde_json::json!({"ran": true}));

    emulator.stop().await.expect("emulator stops");
    assert!(!alive(pid), "pid {pid} still runs after stop");
    assert!(
        TcpStream::connect(endpoint.trim_start_matches("http://")).is_err(),
        "{endpoint} still accepts connections after stop"
    );
}

#[tokio::test]
async fn dropping_the_emulator_kills_it() {
    let emulator = Emulator::start().await.expect("emulator starts");
    let pid = emulator.pid().expect("a running process");
    drop(emulator);
    assert!(!alive(pid), "pid {pid} still runs after drop");
}

#[tokio::test]
async fn shared_is_one_emulator_per_process() {
    let first = emulator::shared().await;
    let second = emulator::shared().await;
    assert!(std::ptr::eq(first, second));
    let config = http_get(first.endpoint(), "/moto-api/config");
    assert!(
        config.starts_with("HTTP/1.0 201") || config.starts_with("HTTP/1.1 201"),
        "{config}"
    );
}

/// The launcher exits on its own when the process that started it dies without cleaning up
/// (what happens to a test process's `static` emulator, or to a killed `boreas dev`).
#[test]
fn launcher_exits_when_its_parent_is_killed() {
    let root = emulator::workspace_root();
    let python = emulator::venv_dir(&root).join("bin/python");
    let script = root.join("scripts/emulator.py");
    assert!(Path::new(&python).exists(), "run `make venv` first");

    // `sh` is the launcher's parent; killing it with SIGKILL leaves no chance to clean up.
    let mut parent = Command::new("sh")
        .arg("-c")
        .arg(r#""$0" "$1" --port 0 & wait"#)
        .arg(&python)
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sh");
    let mut line = String::new();
    BufReader::new(parent.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the announcement");
    let announced: serde_json::Value = serde_json::from_str(&line).expect("JSON announcement");
    let pid = u32::try_from(announced["pid"].as_u64().expect("pid")).expect("pid fits u32");
    assert!(alive(pid), "the launcher is not running: {line}");

    parent.kill().expect("kill the parent");
    parent.wait().expect("reap the parent");
    assert!(
        wait_until_gone(pid, Duration::from_secs(10)),
        "the emulator (pid {pid}) outlived its parent"
    );
}
