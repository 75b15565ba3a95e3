//! The demo repository of `boreas dev`: a git repository with a `boreas.yaml` of two PM apps, the
//! release artifacts of each tagged version (a tiny Python HTTP app answering `/healthz` on the
//! port its host gives it), and GitHub push webhooks for its tags, signed as GitHub signs them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use boreas_core::webhook::{Provider, sign};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The demo repository's name in Boreas (its webhook secret is the one provisioning generates).
pub(crate) const REPOSITORY: &str = boreas_aws::provision::DEMO_REPOSITORY;

/// The demo's PM apps: `api` (manual gate after its first batch) and `web` (depends on `api`).
pub(crate) const APPS: [&str; 2] = ["api", "web"];

/// The file in each agent's work directory that tells the demo apps their ports.
pub(crate) const PORTS_FILE: &str = "demo-ports.json";

/// The demo's environments and host groups, in the order agents are spread over them.
pub(crate) const ENVIRONMENTS: [&str; 2] = ["staging", "prod"];
pub(crate) const GROUPS: [&str; 2] = ["web", "worker"];

/// The demo `boreas.yaml`, with artifacts under `artifacts_dir`; `k8s` adds the app on the
/// simulated clusters, `prometheus` (the URL of the Prometheus `boreas dev` runs) an analysis of
/// each batch of `api` by its error rate.
pub(crate) fn boreas_yaml(artifacts_dir: &Path, k8s: bool, prometheus: Option<&str>) -> String {
    let base = artifacts_dir.display();
    let artifact = |app: &str| {
        format!(
            "      artifact:\n        url: \"file://{base}/{app}/{{version}}/{app}.tar.gz\"\n        sha256_url: \"file://{base}/{app}/{{version}}/{app}.tar.gz.sha256\"\n      run:\n        command: [\"python3\", \"app.py\"]\n      health:\n        command: [\"python3\", \"health.py\"]\n        timeout: 2s\n        retries: 10\n"
        )
    };
    format!(
        "# The demo repository of `boreas dev`. Every tag v* becomes a version.
# `api` runs on every host and waits for an approval after its first host;
# `web` runs on the web hosts once `api` is done; so does `storefront` on the simulated clusters.
environments:
  - name: staging
  - name: prod

triggers:
  tags: \"v*\"

apps:
  - name: api
    kind: pm
    rollout:
      batches: [1, \"100%\"]
      pause: manual
      heartbeat: 10s
      timeout: 2m
    pm:
      hosts:
        staging: [{{group: web}}, {{group: worker}}]
        prod: [{{group: web}}, {{group: worker}}]
{api}{analysis}
  - name: web
    kind: pm
    depends_on: [api]
    rollout:
      batches: [\"100%\"]
      heartbeat: 10s
      timeout: 2m
    pm:
      hosts:
        staging: [{{group: web}}]
        prod: [{{group: web}}]
{web}
{k8s}",
        k8s = if k8s { K8S_APP } else { "" },
        api = artifact("api"),
        web = artifact("web"),
        analysis = prometheus.map(analysis).unwrap_or_default(),
    )
}

/// The analysis of each batch of `api`: the share of its requests answered 5xx by the hosts of
/// the batches so far, on the new version, from the Prometheus at `url` (no 5xx series is a
/// share of 0; no traffic at all is no data, which a person decides).
fn analysis(url: &str) -> String {
    format!(
        r#"    # Each batch is judged by its error rate (`boreas demo tag vX --bad-metrics` fails it).
    analysis:
      - name: error-rate
        prometheus:
          url: "{url}"
          query: >-
            (sum(rate(demo_requests_total{{app="{{app}}",version="{{version}}",environment="{{environment}}",host=~"{{targets}}",code=~"5.."}}[5s])) or vector(0))
            / sum(rate(demo_requests_total{{app="{{app}}",version="{{version}}",environment="{{environment}}",host=~"{{targets}}"}}[5s]))
        condition: "< 0.1"
        initial_delay: 4s
        interval: 2s
        count: 2
"#
    )
}

/// The demo's k8s app, on the simulated cluster of each environment.
const K8S_APP: &str = r#"  # A k8s app on SIMULATED clusters: `boreas dev` runs a fixture API server per environment
  # (not Kubernetes; it moves Deployments' status forward itself).
  - name: storefront
    kind: k8s
    depends_on: [api]
    rollout:
      batches: ["50%", "100%"]
      heartbeat: 30s
      timeout: 2m
    k8s:
      clusters:
        staging: [simulated-staging]
        prod: [simulated-prod]
      namespace: demo
      deployment: storefront
      container: storefront
      image: "registry.invalid/demo/storefront:{version}"
"#;

/// Runs git in `dir`, returning its trimmed standard output.
pub(crate) fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {} in {}: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Creates the demo repository at `dir` unless it exists: `boreas.yaml`, a README, one commit on
/// `main`. Returns whether it was created.
pub(crate) fn init_repository(
    dir: &Path,
    artifacts_dir: &Path,
    k8s: bool,
    prometheus: Option<&str>,
) -> Result<bool, String> {
    if dir.join(".git").exists() {
        return Ok(false);
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    git(dir, &["init", "--quiet", "--initial-branch=main"])?;
    git(dir, &["config", "user.name", "Boreas Demo"])?;
    git(dir, &["config", "user.email", "demo@boreas.invalid"])?;
    write(
        &dir.join("boreas.yaml"),
        &boreas_yaml(artifacts_dir, k8s, prometheus),
    )?;
    write(
        &dir.join("README.md"),
        "# demo\n\nThe demo repository of `boreas dev`. `boreas demo tag vX.Y.Z` commits, tags and\nsends the webhook.\n",
    )?;
    git(dir, &["add", "-A"])?;
    git(dir, &["commit", "--quiet", "-m", "demo: boreas.yaml"])?;
    Ok(true)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: cannot write: {e}", path.display()))
}

/// The tags of the demo repository, oldest first, with their commits.
pub(crate) fn tags(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let out = git(
        dir,
        &[
            "for-each-ref",
            "--sort=creatordate",
            "--format=%(refname:short) %(objectname)",
            "refs/tags",
        ],
    )?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(t, c)| (t.to_owned(), c.to_owned()))
        .collect())
}

/// Refuses a tag name git refuses, and one that exists already (its artifacts must not change).
pub(crate) fn check_new_tag(dir: &Path, version: &str) -> Result<(), String> {
    git(dir, &["check-ref-format", &format!("refs/tags/{version}")])
        .map_err(|_| format!("{version:?} is not a valid tag name"))?;
    if git(dir, &["tag", "--list", version])? == version {
        return Err(format!("tag {version} already exists in {}", dir.display()));
    }
    Ok(())
}

/// Commits a change for `version` on `main` and tags it (lightweight, like most release tags).
/// Returns the commit id. Refuses a tag that already exists.
pub(crate) fn commit_and_tag(dir: &Path, version: &str, broken: bool) -> Result<String, String> {
    check_new_tag(dir, version)?;
    write(
        &dir.join("RELEASE"),
        &format!(
            "{version}{}\n",
            if broken {
                " (broken: fails its health check)"
            } else {
                ""
            }
        ),
    )?;
    git(dir, &["add", "RELEASE"])?;
    git(
        dir,
        &["commit", "--quiet", "-m", &format!("release {version}")],
    )?;
    git(dir, &["tag", version])?;
    git(dir, &["rev-parse", "HEAD"])
}

/// The demo app: serves its version at `/` and `/healthz` (500 when built broken) on the port its
/// host's `demo-ports.json` gives it, and Prometheus metrics of the requests to `/` at `/metrics`
/// (by status code; a latency histogram). A release built with bad metrics answers about one
/// request to `/` in three with 500 while its health check passes.
const APP_PY: &str = r##"import http.server, json, os, random, sys, threading, time
VERSION = "@VERSION@"
BROKEN = @BROKEN@
BAD_METRICS = @BAD_METRICS@
START_DELAY = @START_DELAY@
APP = os.environ.get("BOREAS_APP", "@APP@")
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
LOCK = threading.Lock()
CODES = {}
DURATIONS = [0] * (len(BUCKETS) + 1)
TOTAL = [0.0]

def port():
    here = os.getcwd()
    d = here
    while True:
        f = os.path.join(d, "demo-ports.json")
        if os.path.exists(f):
            with open(f) as fh:
                return json.load(fh)[APP]
        parent = os.path.dirname(d)
        if parent == d:
            sys.exit("demo-ports.json not found above " + here)
        d = parent

def metrics():
    labels = 'app="%s",version="%s"' % (APP, VERSION)
    out = ["# HELP demo_requests_total Requests to /, by status code.", "# TYPE demo_requests_total counter"]
    with LOCK:
        for code in sorted(CODES):
            out.append('demo_requests_total{%s,code="%d"} %d' % (labels, code, CODES[code]))
        out += ["# HELP demo_request_duration_seconds Time to answer a request to /.", "# TYPE demo_request_duration_seconds histogram"]
        seen = 0
        for le, n in zip(BUCKETS, DURATIONS):
            seen += n
            out.append('demo_request_duration_seconds_bucket{%s,le="%s"} %d' % (labels, le, seen))
        seen += DURATIONS[-1]
        out.append('demo_request_duration_seconds_bucket{%s,le="+Inf"} %d' % (labels, seen))
        out.append('demo_request_duration_seconds_sum{%s} %f' % (labels, TOTAL[0]))
        out.append('demo_request_duration_seconds_count{%s} %d' % (labels, seen))
    return ("\n".join(out) + "\n").encode()

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        started = time.monotonic()
        if self.path == "/metrics":
            self.answer(200, "text/plain; version=0.0.4", metrics())
            return
        sick = BROKEN and self.path == "/healthz"
        failing = BAD_METRICS and self.path == "/" and random.random() < 0.35
        code = 500 if sick or failing else 200
        body = json.dumps({"app": APP, "version": VERSION, "healthy": not sick}).encode()
        self.answer(code, "application/json", body)
        if self.path == "/":
            took = time.monotonic() - started
            with LOCK:
                CODES[code] = CODES.get(code, 0) + 1
                TOTAL[0] += took
                DURATIONS[next((i for i, le in enumerate(BUCKETS) if took <= le), len(BUCKETS))] += 1
    def answer(self, code, kind, body):
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

if __name__ == "__main__":
    time.sleep(START_DELAY)
    http.server.ThreadingHTTPServer(("127.0.0.1", port()), Handler).serve_forever()
"##;

/// The health check: exit 0 when `/healthz` answers 200.
const HEALTH_PY: &str = r#"import sys, urllib.request
sys.path.insert(0, ".")
import app
try:
    with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % app.port(), timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception as e:
    print(e, file=sys.stderr)
    sys.exit(1)
"#;

/// How a demo release behaves.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Behaviour {
    /// `/healthz` answers 500, so the health check fails.
    pub(crate) broken: bool,
    /// Seconds the app waits before it listens (a slow start).
    pub(crate) start_delay: u32,
    /// About one request to `/` in three answers 500; the health check still passes.
    pub(crate) bad_metrics: bool,
}

/// Builds the release artifact of `app` at `version` into `artifacts_dir/{app}/{version}/` with its
/// `sha256sum`-style checksum file. Returns the artifact path.
pub(crate) fn build_artifact(
    artifacts_dir: &Path,
    app: &str,
    version: &str,
    behaviour: Behaviour,
) -> Result<PathBuf, String> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let app_py = APP_PY
        .replace("@VERSION@", version)
        .replace("@APP@", app)
        .replace("@BROKEN@", if behaviour.broken { "True" } else { "False" })
        .replace(
            "@BAD_METRICS@",
            if behaviour.bad_metrics {
                "True"
            } else {
                "False"
            },
        )
        .replace("@START_DELAY@", &behaviour.start_delay.to_string());
    for (name, body) in [("app.py", app_py.as_str()), ("health.py", HEALTH_PY)] {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        builder
            .append_data(&mut header, name, body.as_bytes())
            .map_err(|e| format!("building the {app} artifact: {e}"))?;
    }
    let bytes = builder
        .into_inner()
        .and_then(flate2::write::GzEncoder::finish)
        .map_err(|e| format!("building the {app} artifact: {e}"))?;
    let dir = artifacts_dir.join(app).join(version);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let file = format!("{app}.tar.gz");
    let path = dir.join(&file);
    std::fs::write(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    write(
        &dir.join(format!("{file}.sha256")),
        &format!("{digest}  {file}\n"),
    )?;
    Ok(path)
}

/// A random GUID, the shape of GitHub's `X-GitHub-Delivery`.
pub(crate) fn delivery_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // Unique enough for a local delivery id when the OS has no randomness to give.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        b = nanos.to_le_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The body GitHub sends for `git push origin <tag>` of a new lightweight tag on `commit`.
pub(crate) fn push_tag_payload(repo_dir: &Path, tag: &str, commit: &str) -> Result<Value, String> {
    let show = |format: &str| {
        git(
            repo_dir,
            &["show", "-s", &format!("--format={format}"), commit],
        )
    };
    let tree = show("%T")?;
    let message = show("%B")?;
    let timestamp = show("%cI")?;
    let (name, email) = (show("%an")?, show("%ae")?);
    let clone_url = format!("file://{}", repo_dir.display());
    let person = json!({"name": name, "email": email, "username": "boreas-demo"});
    Ok(json!({
        "ref": format!("refs/tags/{tag}"),
        "before": "0000000000000000000000000000000000000000",
        "after": commit,
        "created": true,
        "deleted": false,
        "forced": false,
        "base_ref": "refs/heads/main",
        "compare": format!("{clone_url}/compare/{tag}"),
        "commits": [],
        "head_commit": {
            "id": commit,
            "tree_id": tree,
            "distinct": true,
            "message": message,
            "timestamp": timestamp,
            "url": format!("{clone_url}/commit/{commit}"),
            "author": person,
            "committer": person,
            "added": [],
            "removed": [],
            "modified": ["RELEASE"],
        },
        "repository": {
            "id": 1,
            "node_id": "R_demo",
            "name": "demo",
            "full_name": boreas_aws::provision::DEMO_FULL_NAME,
            "private": true,
            "owner": {"name": "boreas", "login": "boreas", "id": 1, "type": "Organization"},
            "html_url": clone_url,
            "clone_url": clone_url,
            "default_branch": "main",
            "master_branch": "main",
        },
        "pusher": {"name": "boreas-demo", "email": email},
        "sender": {"login": "boreas-demo", "id": 1, "type": "User"},
    }))
}

/// What the webhook endpoint answered.
#[derive(Debug)]
pub(crate) struct Delivered {
    pub(crate) delivery_id: String,
    pub(crate) status: u16,
    pub(crate) body: String,
}

/// Posts `payload` to `url` as GitHub posts a `push` event, signed with `secret`.
pub(crate) async fn send_push(
    url: &str,
    secret: &str,
    payload: &Value,
) -> Result<Delivered, String> {
    let body = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
    let delivery_id = delivery_id();
    let mut headers = BTreeMap::new();
    headers.insert("X-GitHub-Event", "push".to_owned());
    headers.insert("X-GitHub-Delivery", delivery_id.clone());
    headers.insert(
        "X-Hub-Signature-256",
        sign(Provider::GitHub, &body, secret.as_bytes()),
    );
    headers.insert("X-GitHub-Hook-ID", "1".to_owned());
    headers.insert("User-Agent", "GitHub-Hookshot/boreas-demo".to_owned());
    headers.insert("Content-Type", "application/json".to_owned());
    let mut req = reqwest::Client::new().post(url).body(body);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let resp = req.send().await.map_err(|e| format!("POST {url}: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .text()
        .await
        .map_err(|e| format!("POST {url}: reading the answer: {e}"))?;
    Ok(Delivered {
        delivery_id,
        status,
        body,
    })
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn the_demo_config_validates_with_and_without_its_analysis() {
        let dir = Path::new("/tmp/artifacts");
        for (k8s, prometheus) in [(false, None), (true, Some("http://127.0.0.1:9464"))] {
            let yaml = boreas_yaml(dir, k8s, prometheus);
            let config =
                boreas_core::config::parse(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
            let api = config.apps.iter().find(|a| a.name == "api").unwrap();
            assert_eq!(api.analysis.len(), usize::from(prometheus.is_some()));
            if let Some(check) = api.analysis.first() {
                let query = &check.prometheus.as_ref().unwrap().query;
                assert!(query.contains(r#"host=~"{targets}""#), "{query}");
                assert!(query.contains("or vector(0)"), "{query}");
            }
        }
    }

    /// `GET path` on 127.0.0.1:`port`: the status code and the body.
    fn get(port: u16, path: &str) -> Option<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        let code = answer.get(9..12)?.parse().ok()?;
        let body = answer.split_once("\r\n\r\n")?.1.to_owned();
        Some((code, body))
    }

    /// Unpacks the artifact of `behaviour` and runs it on a free port until dropped.
    struct Running(std::process::Child, u16, PathBuf);

    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
            let _ = std::fs::remove_dir_all(&self.2);
        }
    }

    fn run(version: &str, behaviour: Behaviour) -> Running {
        let dir =
            std::env::temp_dir().join(format!("boreas-demo-{}-{version}", std::process::id()));
        let artifact = build_artifact(&dir.join("artifacts"), "api", version, behaviour).unwrap();
        let work = dir.join("work");
        std::fs::create_dir_all(&work).unwrap();
        let bytes = std::fs::read(&artifact).unwrap();
        tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()))
            .unpack(&work)
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::write(work.join(PORTS_FILE), format!(r#"{{"api": {port}}}"#)).unwrap();
        let child = Command::new("python3")
            .arg("app.py")
            .current_dir(&work)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while get(port, "/healthz").is_none() {
            assert!(Instant::now() < deadline, "the demo app did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Running(child, port, dir)
    }

    #[test]
    fn the_demo_app_exports_its_requests_and_a_bad_metrics_release_fails_a_third_of_them() {
        for (bad_metrics, version) in [(false, "v-good"), (true, "v-bad")] {
            let app = run(
                version,
                Behaviour {
                    bad_metrics,
                    ..Behaviour::default()
                },
            );
            let codes: Vec<u16> = (0..60).map(|_| get(app.1, "/").unwrap().0).collect();
            let failed = codes.iter().filter(|c| **c == 500).count();
            assert_eq!(
                get(app.1, "/healthz").unwrap().0,
                200,
                "the health check passes"
            );
            let (code, metrics) = get(app.1, "/metrics").unwrap();
            assert_eq!(code, 200);
            let labels = format!(r#"app="api",version="{version}""#);
            assert!(
                metrics.contains(&format!(
                    "demo_requests_total{{{labels},code=\"200\"}} {}",
                    60 - failed
                )),
                "{metrics}"
            );
            assert!(
                metrics.contains(&format!(
                    "demo_request_duration_seconds_count{{{labels}}} 60"
                )),
                "{metrics}"
            );
            assert!(metrics.contains("# TYPE demo_request_duration_seconds histogram"));
            if bad_metrics {
                assert!((8..=40).contains(&failed), "{failed} of 60 failed");
                assert!(metrics.contains(&format!(
                    "demo_requests_total{{{labels},code=\"500\"}} {failed}"
                )));
            } else {
                assert_eq!(failed, 0);
            }
        }
    }
}
