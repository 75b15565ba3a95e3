//! A small rolling deploy side by side with Ansible, on the same machine in the same program.
//!
//! Boreas: a real `boreas dev` and 20 real `boreas-agent` processes (exec mode, the arguments
//! `boreas dev` gives its own agents) in one environment, deploying the demo app (its tarball,
//! `python3 app.py`, `python3 health.py`) in batches `1, 25%, 100%`, parallelism 20, no pauses.
//! Per run: a new tag, the signed push webhook, confirm as soon as it is planned, poll until
//! `succeeded`; the breakdown comes from the deployment's records and the agents' logs.
//!
//! Ansible: `ansible-playbook` from the project venv, 20 hosts with `ansible_connection: local`,
//! each with its own directory, `serial: [1, "25%", "100%"]`, doing the agent's work: unpack the
//! same tarball into a release directory, stop the old process, switch `current`, start the new
//! one in the background, wait for its first healthy answer.
//!
//! Both deploy a first version untimed, so every timed run replaces a running release. Prints a
//! Markdown section. Run with `cargo bench -p boreas-e2e --bench small_rollout`
//! (`BOREAS_BENCH_RUNS` runs, default 3).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use boreas_e2e::{Platform, epoch, progress, push_tag_payload, wait_for};
use boreas_test_support::git::git;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};

const HOSTS: usize = 20;
/// The demo app's name: its artifacts' paths and its `demo-ports.json` key.
const APP: &str = "api";
/// How long a stopping agent may take to stop its app before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(20);
/// Between the API polls of the driver.
const POLL: Duration = Duration::from_millis(50);

/// The benchmark's `boreas.yaml`: the demo app on the 20 hosts of group `fleet`.
fn config(artifacts: &Path) -> String {
    let base = artifacts.display();
    format!(
        r#"environments:
  - name: bench
triggers:
  tags: "v*"
apps:
  - name: {APP}
    kind: pm
    rollout:
      batches: [1, "25%", "100%"]
      parallelism: {HOSTS}
      heartbeat: 10s
      timeout: 2m
    pm:
      hosts:
        bench: [{{group: fleet}}]
      artifact:
        url: "file://{base}/{APP}/{{version}}/{APP}.tar.gz"
        sha256_url: "file://{base}/{APP}/{{version}}/{APP}.tar.gz.sha256"
      run:
        command: ["python3", "app.py"]
      # The demo's probe with a 10 s timeout instead of 2 s: on this busy 2-core machine a
      # probe's python3 can take longer to start; a healthy answer comes well within either.
      health:
        command: ["python3", "health.py"]
        timeout: 10s
        retries: 10
"#
    )
}

/// The playbook: what the agent does for one deploy, host by host in the same batches.
const PLAYBOOK: &str = r#"- hosts: fleet
  gather_facts: false
  serial: [1, "25%", "100%"]
  any_errors_fatal: true
  vars:
    release: "{{ host_dir }}/releases/{{ version }}"
  tasks:
    - name: release directory
      ansible.builtin.file:
        path: "{{ release }}"
        state: directory
    - name: unpack the artifact
      ansible.builtin.unarchive:
        src: "{{ artifact }}"
        dest: "{{ release }}"
        remote_src: true
    - name: stop the running release
      ansible.builtin.shell: |
        [ -f app.pid ] || exit 0
        pid=$(cat app.pid)
        kill -TERM "-$pid" 2>/dev/null
        # Until it is gone, or a zombie nobody reaps (its port is free then too); SIGKILL after
        # 10 s, as the agent does after its grace.
        i=0
        while [ -e "/proc/$pid" ] && ! grep -q ') Z' "/proc/$pid/stat" 2>/dev/null; do
          i=$((i + 1)); [ "$i" -eq 200 ] && kill -KILL "-$pid" 2>/dev/null
          sleep 0.05
        done
        rm -f app.pid
      args:
        chdir: "{{ host_dir }}"
    - name: switch current
      ansible.builtin.file:
        src: "{{ release }}"
        dest: "{{ host_dir }}/current"
        state: link
        force: true
    - name: start the new release
      ansible.builtin.shell: |
        cd current && setsid python3 app.py >>../app.log 2>&1 </dev/null &
        echo $! > app.pid
      args:
        chdir: "{{ host_dir }}"
    - name: first healthy answer
      ansible.builtin.command: python3 health.py
      args:
        chdir: "{{ host_dir }}/current"
      register: health
      until: health.rc == 0
      retries: 10
      delay: 0.3
      changed_when: false
"#;

/// The local agents, stopped (their apps with them) when the benchmark ends, however it ends.
struct Agents(Vec<Child>);

impl Drop for Agents {
    fn drop(&mut self) {
        for child in &self.0 {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
        }
        let started = Instant::now();
        for child in &mut self.0 {
            while started.elapsed() < STOP_GRACE && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The host directories of the Ansible inventory: the apps Ansible started there are killed
/// when the benchmark ends.
struct AnsibleHosts(Vec<PathBuf>);

impl Drop for AnsibleHosts {
    fn drop(&mut self) {
        for dir in &self.0 {
            let pid = std::fs::read_to_string(dir.join("app.pid"))
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok());
            // `setsid` made the app a group leader: the group is exactly what Ansible started.
            if let Some(pid) = pid {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

/// `n` free ports on 127.0.0.1 below the kernel's ephemeral range (from 32768 by default), so no
/// outgoing connection takes one while its app restarts.
fn free_ports(n: usize) -> Vec<u16> {
    let first = 20_000 + (std::process::id() % 400) as u16 * 25;
    let ports: Vec<u16> = (first..32_768)
        .filter(|&p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
        .take(n)
        .collect();
    assert_eq!(ports.len(), n, "not enough free ports below 32768");
    ports
}

/// Seconds since the epoch now.
fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs_f64()
}

fn record_time(v: &Value, key: &str) -> f64 {
    epoch(v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}")))
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run a command");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds the demo app's artifact of `version` (and its checksum file) from the unpacked files of
/// an earlier one in `template`, as `boreas demo tag` does, without delivering a webhook.
fn build_release(artifacts: &Path, template: &Path, old: &str, version: &str) {
    let stage = template.with_file_name(format!("stage-{version}"));
    std::fs::create_dir_all(&stage).expect("create the staging directory");
    let app_py = std::fs::read_to_string(template.join("app.py")).expect("read app.py");
    let marker = format!("VERSION = \"{old}\"");
    assert!(app_py.contains(&marker), "app.py names no version {old}");
    std::fs::write(
        stage.join("app.py"),
        app_py.replace(&marker, &format!("VERSION = \"{version}\"")),
    )
    .expect("write app.py");
    std::fs::copy(template.join("health.py"), stage.join("health.py")).expect("copy health.py");
    let dir = artifacts.join(APP).join(version);
    std::fs::create_dir_all(&dir).expect("create the artifact directory");
    let file = format!("{APP}.tar.gz");
    run(Command::new("tar")
        .arg("czf")
        .arg(dir.join(&file))
        .arg("-C")
        .arg(&stage)
        .args(["app.py", "health.py"]));
    let out = Command::new("sha256sum")
        .arg(dir.join(&file))
        .output()
        .expect("run sha256sum");
    let digest = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_owned();
    std::fs::write(
        dir.join(format!("{file}.sha256")),
        format!("{digest}  {file}\n"),
    )
    .expect("write the checksum file");
}

/// What one agent logged for the deploy of `version`: when it began (after taking the command),
/// when it succeeded (healthy), and when Step Functions took its report.
struct AgentDeploy {
    started: f64,
    succeeded: f64,
    reported: f64,
}

fn agent_deploy(log: &Path, version: &str) -> AgentDeploy {
    let text = std::fs::read_to_string(log).expect("read an agent's log");
    let (mut started, mut succeeded, mut reported) = (None, None, None);
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let fields = &v["fields"];
        let at = || epoch(v["timestamp"].as_str().unwrap_or_default());
        match fields["message"].as_str().unwrap_or_default() {
            "deploy started" if fields["version"] == version => started = Some(at()),
            "deploy succeeded" if fields["version"] == version => succeeded = Some(at()),
            // The agent's next report after this deploy is this deploy's.
            "reported success" if succeeded.is_some() && reported.is_none() => {
                reported = Some(at());
            }
            _ => {}
        }
    }
    let missing = || panic!("{} has no complete deploy of {version}", log.display());
    AgentDeploy {
        started: started.unwrap_or_else(missing),
        succeeded: succeeded.unwrap_or_else(missing),
        reported: reported.unwrap_or_else(missing),
    }
}

/// One batch from the records and the agents' logs (seconds since the epoch, `work` a duration).
struct Batch {
    hosts: usize,
    started: f64,
    first_command: f64,
    last_command: f64,
    last_healthy: f64,
    last_reported: f64,
    ended: f64,
    /// Mean of the hosts' own deploys (download, unpack, stop, start, first healthy answer).
    work: f64,
}

/// One Boreas run (seconds since the epoch).
struct BoreasRun {
    sent: f64,
    created: f64,
    confirmed: f64,
    app_started: f64,
    batches: Vec<Batch>,
    app_ended: f64,
    ended: f64,
    seen: f64,
}

/// Tags `version`, delivers its webhook, confirms its deployment as soon as it is planned, waits
/// for `succeeded`.
fn boreas_run(p: &Platform, logs: &BTreeMap<String, PathBuf>, version: &str) -> BoreasRun {
    let commit = p.git_tag(version);
    let sent = now();
    let a = p.deliver(
        &push_tag_payload(version, &commit),
        &format!("small-rollout-{}-{version}", std::process::id()),
    );
    assert_eq!(a.status, 202, "{}", a.body);
    let d = wait_for("the plan", Duration::from_secs(120), || {
        p.deployments()
            .into_iter()
            .find(|d| d["version"] == version && d["environment"] == "bench")
    });
    let id = d["id"].as_str().expect("a deployment id").to_owned();
    // The previous run's lock is released when the recorder has taken its end event.
    let confirmed = wait_for("the run lock", Duration::from_secs(60), || {
        let at = now();
        let a = p.post(&format!("/deployments/{id}/confirm"), &json!({}));
        match a.status {
            200 => Some(at),
            409 if a.body["error"] == "run_lock" => None,
            _ => panic!("confirm {id}: {} {}", a.status, a.body),
        }
    });
    let done = loop {
        let d = p.deployment(&id);
        if d["status"] != "running" && d["status"] != "planned" {
            break d;
        }
        assert!(
            now() - confirmed < 300.0,
            "deployment {id} did not finish: {d}"
        );
        std::thread::sleep(POLL);
    };
    let seen = now();
    assert_eq!(done["status"], "succeeded", "{done}");
    let targets = progress(&done, "targets");
    assert_eq!(targets.len(), HOSTS, "{done}");
    let mut records: Vec<&Value> = progress(&done, "batches").iter().collect();
    records.sort_by_key(|b| b["index"].as_u64());
    let batches = records
        .iter()
        .map(|b| {
            let deploys: Vec<AgentDeploy> = targets
                .iter()
                .filter(|t| t["batch"] == b["index"])
                .map(|t| agent_deploy(&logs[t["target"].as_str().unwrap_or_default()], version))
                .collect();
            let fold = |f: fn(&AgentDeploy) -> f64, pick: fn(f64, f64) -> f64| {
                deploys
                    .iter()
                    .map(f)
                    .reduce(pick)
                    .expect("hosts in a batch")
            };
            Batch {
                hosts: deploys.len(),
                started: record_time(b, "started_at"),
                first_command: fold(|d| d.started, f64::min),
                last_command: fold(|d| d.started, f64::max),
                last_healthy: fold(|d| d.succeeded, f64::max),
                last_reported: fold(|d| d.reported, f64::max),
                ended: record_time(b, "ended_at"),
                work: deploys.iter().map(|d| d.succeeded - d.started).sum::<f64>()
                    / deploys.len() as f64,
            }
        })
        .collect();
    let app = &progress(&done, "apps")[0];
    BoreasRun {
        sent,
        created: record_time(&done, "created_at"),
        confirmed,
        app_started: record_time(app, "started_at"),
        batches,
        app_ended: record_time(app, "ended_at"),
        ended: record_time(&done, "ended_at"),
        seen,
    }
}

/// One `ansible-playbook` run deploying `version`; returns its wall time in seconds.
fn ansible_run(dir: &Path, playbook: &Path, artifacts: &Path, version: &str) -> f64 {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin");
    let log = dir.join(format!("ansible-{version}.log"));
    let out = std::fs::File::create(&log).expect("the Ansible log");
    let started = Instant::now();
    let status = Command::new(venv.join("ansible-playbook"))
        .arg("-i")
        .arg(dir.join("inventory.yaml"))
        .arg(playbook)
        .arg("-e")
        .arg(format!("version={version}"))
        .arg("-e")
        .arg(format!(
            "artifact={}",
            artifacts
                .join(APP)
                .join(version)
                .join(format!("{APP}.tar.gz"))
                .display()
        ))
        .env("ANSIBLE_CONFIG", dir.join("ansible.cfg"))
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("the Ansible log"))
        .stderr(out)
        .status()
        .expect("run ansible-playbook (`make venv` installs it)");
    let secs = started.elapsed().as_secs_f64();
    assert!(
        status.success(),
        "ansible-playbook of {version} failed: see {}",
        log.display()
    );
    secs
}

/// Writes the Ansible inventory (one directory and port per host) and configuration.
fn ansible_setup(dir: &Path, ports: &[u16]) -> AnsibleHosts {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin");
    let mut hosts = String::new();
    let mut dirs = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let host_dir = dir.join("hosts").join(format!("host-{:02}", i + 1));
        std::fs::create_dir_all(&host_dir).expect("a host directory");
        std::fs::write(
            host_dir.join("demo-ports.json"),
            json!({ APP: port }).to_string(),
        )
        .expect("write demo-ports.json");
        hosts.push_str(&format!(
            "        host-{:02}: {{host_dir: \"{}\"}}\n",
            i + 1,
            host_dir.display()
        ));
        dirs.push(host_dir);
    }
    std::fs::write(
        dir.join("inventory.yaml"),
        format!(
            "all:\n  children:\n    fleet:\n      vars:\n        ansible_connection: local\n      hosts:\n{hosts}"
        ),
    )
    .expect("write the inventory");
    // Ansible at its fastest here: every host at once, no fact gathering, pipelining, a fixed
    // interpreter (no discovery per host).
    std::fs::write(
        dir.join("ansible.cfg"),
        format!(
            "[defaults]\nforks = {HOSTS}\nretry_files_enabled = False\ninterpreter_python = {}\nlocal_tmp = {tmp}\nremote_tmp = {tmp}\n\n[connection]\npipelining = True\n",
            venv.join("python").display(),
            tmp = dir.join("tmp").display()
        ),
    )
    .expect("write ansible.cfg");
    AnsibleHosts(dirs)
}

fn main() {
    let runs: usize = std::env::var("BOREAS_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("small-rollout-{}", std::process::id()));
    let load_before = load_average();
    let p = Platform::start(&dir.join("boreas"), 1, &["--inventory-seconds", "300"]);
    let prefix = p.dev["prefix"].as_str().expect("a prefix").to_owned();
    let endpoint = p.dev["emulator_endpoint"]
        .as_str()
        .expect("an endpoint")
        .to_owned();
    let artifacts = PathBuf::from(p.dev["artifacts_dir"].as_str().expect("artifacts_dir"));
    let ports = free_ports(2 * HOSTS);

    // Started as `boreas dev` starts its agents (same arguments), all in one environment, but in
    // this process's group: a Ctrl-C that ends the benchmark stops them (and their apps) too.
    let mut logs = BTreeMap::new();
    // Guarded from the first one on, so a failed start stops those already running.
    let mut agents = Agents(Vec::new());
    for (i, port) in ports[..HOSTS].iter().enumerate() {
        let host = format!("bench-{:02}", i + 1);
        let work = dir.join("agents").join(&host);
        std::fs::create_dir_all(&work).expect("an agent directory");
        std::fs::write(
            work.join("demo-ports.json"),
            json!({ APP: port }).to_string(),
        )
        .expect("write demo-ports.json");
        let log = std::fs::File::create(work.join("agent.log")).expect("an agent log");
        agents.0.push(
            Command::new(p.bin_dir().join("boreas-agent"))
                .args([
                    "--host",
                    &host,
                    "--environment",
                    "bench",
                    "--group",
                    "fleet",
                ])
                .args(["--prefix", &prefix, "--endpoint", &endpoint])
                .args(["--service-manager", "exec", "--poll-seconds", "5"])
                .args(["--inventory-seconds", "300", "--probe-interval-ms", "300"])
                .arg("--work-dir")
                .arg(&work)
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("an agent log"))
                .stderr(log)
                .spawn()
                .expect("start an agent"),
        );
        logs.insert(host, work.join("agent.log"));
    }
    wait_for("20 agents to register", Duration::from_secs(120), || {
        let agents = p.get("/agents?env=bench&limit=1000");
        (agents["items"].as_array()?.len() == HOSTS).then_some(())
    });
    let repo = p.demo_repo();
    std::fs::write(repo.join("boreas.yaml"), config(&artifacts)).expect("write boreas.yaml");
    git(
        &repo,
        &[
            "commit",
            "--quiet",
            "-am",
            "bench: the demo app on 20 hosts",
        ],
    );

    // The first release, untimed: `boreas demo tag` builds its artifact.
    let first = "v1.0.0";
    p.tag(first, &[]);
    let d = p.deployment_of(first, "bench", Duration::from_secs(120));
    let d = p.drive(d["id"].as_str().expect("an id"), Duration::from_secs(300));
    assert_eq!(d["status"], "succeeded", "{d}");
    let template = dir.join("template");
    std::fs::create_dir_all(&template).expect("the template directory");
    run(Command::new("tar")
        .arg("xzf")
        .arg(
            artifacts
                .join(APP)
                .join(first)
                .join(format!("{APP}.tar.gz")),
        )
        .arg("-C")
        .arg(&template));

    let ansible_dir = dir.join("ansible");
    let _ansible_hosts = ansible_setup(&ansible_dir, &ports[HOSTS..]);
    let playbook = ansible_dir.join("rollout.yaml");
    std::fs::write(&playbook, PLAYBOOK).expect("write the playbook");
    ansible_run(&ansible_dir, &playbook, &artifacts, first);

    let mut boreas = Vec::new();
    let mut ansible = Vec::new();
    for n in 1..=runs {
        let version = format!("v1.{n}.0");
        build_release(&artifacts, &template, first, &version);
        // Let the recorder and the agents settle after the previous run.
        std::thread::sleep(Duration::from_secs(2));
        boreas.push(boreas_run(&p, &logs, &version));
        std::thread::sleep(Duration::from_secs(2));
        ansible.push(ansible_run(&ansible_dir, &playbook, &artifacts, &version));
        // Both fleets really run the new release.
        for port in &ports {
            assert_eq!(live_version(*port).as_deref(), Some(version.as_str()));
        }
    }
    print_report(&boreas, &ansible, &load_before, &load_average());
}

/// The version the demo app on `port` answers with.
fn live_version(port: u16) -> Option<String> {
    let body = reqwest::blocking::get(format!("http://127.0.0.1:{port}/"))
        .ok()?
        .text()
        .ok()?;
    let v: Value = serde_json::from_str(&body).ok()?;
    v["version"].as_str().map(str::to_owned)
}

fn secs(values: &[f64]) -> String {
    let cells: Vec<String> = values.iter().map(|v| format!("{v:.2}")).collect();
    format!("{} | {:.2}", cells.join(" | "), median(values))
}

fn print_report(boreas: &[BoreasRun], ansible: &[f64], load_before: &str, load_after: &str) {
    let n = boreas.len();
    let header: Vec<String> = (1..=n).map(|r| format!("run {r}")).collect();
    let rule = "| --- ".repeat(n + 2);
    let total: Vec<f64> = boreas.iter().map(|r| r.seen - r.sent).collect();
    println!("## Small rollout against Ansible\n");
    println!(
        "20 hosts, batches `1, 25%, 100%`, the demo app's tarball, start and first healthy answer; \
         load average (1/5/15 min) {load_before} before, {load_after} after.\n"
    );
    println!("| seconds | {} | median |", header.join(" | "));
    println!("{rule}|");
    let rows: [(&str, Vec<f64>); 4] = [
        (
            "Boreas webhook → planned",
            boreas.iter().map(|r| r.created - r.sent).collect(),
        ),
        (
            "Boreas confirm → succeeded",
            boreas.iter().map(|r| r.seen - r.confirmed).collect(),
        ),
        ("Boreas webhook → succeeded", total.clone()),
        ("Ansible `ansible-playbook`", ansible.to_vec()),
    ];
    for (name, values) in &rows {
        println!("| {name} | {} |", secs(values));
    }
    let ratios: Vec<f64> = ansible.iter().zip(&total).map(|(a, b)| a / b).collect();
    println!(
        "| Ansible / Boreas (webhook → succeeded) | {} |",
        secs(&ratios)
    );

    println!("\nWhere Boreas's webhook → succeeded goes (the rows add up to it):\n");
    println!("| seconds | {} | median |", header.join(" | "));
    println!("{rule}|");
    let row = |name: &str, f: &dyn Fn(&BoreasRun) -> f64| {
        let values: Vec<f64> = boreas.iter().map(f).collect();
        println!("| {name} | {} |", secs(&values));
    };
    row("planning: webhook → deployment created", &|r| {
        r.created - r.sent
    });
    row("the driver sees the plan and confirms", &|r| {
        r.confirmed - r.created
    });
    row("execution start: confirm → app record started", &|r| {
        r.app_started - r.confirmed
    });
    row("app record started → batch 1 began", &|r| {
        r.batches[0].started - r.app_started
    });
    let batches = boreas[0].batches.len();
    for k in 0..batches {
        let hosts = boreas[0].batches[k].hosts;
        let b = k + 1;
        row(
            &format!("batch {b} ({hosts} hosts): began → first agent starts its deploy"),
            &|r| r.batches[k].first_command - r.batches[k].started,
        );
        row(
            &format!("batch {b}: first agent starts → last agent starts"),
            &|r| r.batches[k].last_command - r.batches[k].first_command,
        );
        row(
            &format!("batch {b}: last agent starts → last healthy"),
            &|r| r.batches[k].last_healthy - r.batches[k].last_command,
        );
        row(
            &format!("batch {b}: last healthy → last report taken by Step Functions"),
            &|r| r.batches[k].last_reported - r.batches[k].last_healthy,
        );
        row(&format!("batch {b}: last report → batch ended"), &|r| {
            r.batches[k].ended - r.batches[k].last_reported
        });
        if b < batches {
            row(&format!("between batch {b} and {}", b + 1), &|r| {
                r.batches[k + 1].started - r.batches[k].ended
            });
        }
    }
    row("outcome: last batch ended → app record ended", &|r| {
        r.app_ended - r.batches[batches - 1].ended
    });
    row("app record ended → deployment ended", &|r| {
        r.ended - r.app_ended
    });
    row("the driver's poll sees `succeeded`", &|r| r.seen - r.ended);
    row("**total**", &|r| r.seen - r.sent);

    println!(
        "\nFor comparison, one host's own deploy (mean over the batch's hosts, agent's log):\n"
    );
    println!("| seconds | {} | median |", header.join(" | "));
    println!("{rule}|");
    for k in 0..batches {
        row(&format!("batch {}", k + 1), &|r| r.batches[k].work);
    }
}
