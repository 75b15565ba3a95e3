//! Plan latency: the git and planning work of one plan job, gix against the git CLI, in one run.
//!
//! A generated repository (2,000 files, 500 commits, then one extra commit per warm round) is
//! served over file:// and smart HTTP. Each path does the same work for one version: get the
//! commit, read `boreas.yaml` there, list the paths changed since the previous version, check that
//! the new commit descends from it, then parse the config and plan (the pure part, identical on
//! both sides).
//! - gix cold: empty cache → fetch the commit with history (the planner's `GixCache`).
//! - gix warm: the cache holds the previous commit, the remote one new commit.
//! - git CLI cold: `git clone --bare`, `git show`, `git diff --name-only`, `git merge-base --is-ancestor`.
//! - git CLI warm: `git fetch <url> <commit>` into the kept bare clone, then the same three.
//! - For reference, `git clone --depth 1` + `git show` (no diff, no ancestry possible).
//!
//! Run: `cargo bench -p boreas-planner --bench plan_latency`

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use boreas_core::config;
use boreas_core::planner::{PlanInput, plan};
use boreas_core::version::{CommitId, is_diverged};
use boreas_planner::git::{Git, GixCache, Remote, RepoHistory};
use boreas_test_support::git::{GitHttpServer, git};

const FILES: usize = 2_000;
const COMMITS: usize = 500;
const APPS: usize = 20;
const COLD_ROUNDS: usize = 5;
const WARM_ROUNDS: usize = 15;

fn config_yaml() -> String {
    let mut s = String::from("environments:\n  - name: prod\napps:\n");
    for a in 0..APPS {
        s.push_str(&format!(
            "  - name: app{a}\n    kind: pm\n    paths: [\"apps/app{a}/**\"]\n    rollout:\n      batches: [1, \"50%\", \"100%\"]\n    pm:\n      hosts:\n        prod: [{}]\n      artifact:\n        url: \"s3://releases/app{a}/{{version}}.tar.gz\"\n        sha256_url: \"s3://releases/app{a}/{{version}}.sha256\"\n      run:\n        systemd: app{a}.service\n      health:\n        tcp: \"127.0.0.1:8080\"\n",
            (0..10).map(|h| format!("app{a}-h{h}")).collect::<Vec<_>>().join(", ")
        ));
    }
    s
}

/// The origin: commit 1 adds every file, each later commit changes two files of one app.
/// Returns the commit ids in order (`COMMITS + extra` of them).
fn generate(dir: &Path, extra: usize) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    let mut stream = Vec::new();
    let yaml = config_yaml();
    let data = |out: &mut Vec<u8>, path: &str, content: &str| {
        write!(
            out,
            "M 100644 inline {path}\ndata {}\n{content}\n",
            content.len()
        )
        .unwrap();
    };
    for c in 0..COMMITS + extra {
        writeln!(stream, "commit refs/heads/main\nmark :{}", c + 1).unwrap();
        let msg = format!("commit {c}");
        writeln!(
            stream,
            "committer Bench <bench@example.invalid> {} +0000\ndata {}\n{msg}",
            1_700_000_000 + c,
            msg.len()
        )
        .unwrap();
        if c == 0 {
            data(&mut stream, "boreas.yaml", &yaml);
            for f in 0..FILES - 1 {
                let content = format!("// file {f}\npub fn f{f}() -> u32 {{ {f} }}\n");
                data(&mut stream, &file_path(f), &content);
            }
        } else {
            writeln!(stream, "from :{c}").unwrap();
            for k in 0..2 {
                let f = (c * 7 + k * 13) % (FILES - 1);
                let content = format!("// file {f}, change {c}\npub fn f{f}() -> u32 {{ {c} }}\n");
                data(&mut stream, &file_path(f), &content);
            }
        }
    }
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&stream).unwrap();
    assert!(child.wait().unwrap().success());
    git(dir, &["repack", "-adq"]);
    let list = git(dir, &["rev-list", "--reverse", "main"]);
    list.lines().map(str::to_owned).collect()
}

fn file_path(f: usize) -> String {
    format!("apps/app{}/src/module{}/file{f}.rs", f % APPS, f % 7)
}

/// Parse and plan: the pure part both paths share.
fn parse_and_plan(text: &[u8], changed: &[String]) -> usize {
    let config = config::parse(std::str::from_utf8(text).unwrap()).expect("valid config");
    let targets: BTreeMap<String, Vec<String>> = config
        .apps
        .iter()
        .map(|a| {
            let hosts = (0..10).map(|h| format!("{}-h{h}", a.name)).collect();
            (a.name.clone(), hosts)
        })
        .collect();
    let plan = plan(&PlanInput {
        config: &config,
        environment: "prod",
        version: "next",
        changed_paths: Some(changed),
        targets: &targets,
        current_versions: &BTreeMap::new(),
    })
    .expect("plan");
    plan.apps().count()
}

fn gix_job(git_layer: &GixCache, url: &str, old: &str, new: &str) -> usize {
    let (old, new) = (CommitId(old.to_owned()), CommitId(new.to_owned()));
    git_layer
        .fetch("bench", &Remote::anonymous(url), std::slice::from_ref(&new))
        .unwrap();
    let text = git_layer
        .read_file("bench", &new, "boreas.yaml")
        .unwrap()
        .unwrap();
    let changed = git_layer.changed_paths("bench", &old, &new).unwrap();
    let history = RepoHistory {
        git: git_layer,
        repository: "bench",
    };
    assert!(!is_diverged(&history, &new, Some(&old)).unwrap());
    parse_and_plan(&text, &changed)
}

fn cli_job(bare: &Path, url: &str, old: &str, new: &str, clone: bool) -> usize {
    if clone {
        let parent = bare.parent().unwrap();
        git(
            parent,
            &["clone", "-q", "--bare", url, bare.to_str().unwrap()],
        );
    } else {
        git(bare, &["fetch", "-q", url, new]);
    }
    let text = git(bare, &["show", &format!("{new}:boreas.yaml")]);
    let changed: Vec<String> = git(bare, &["diff", "--name-only", "--no-renames", old, new])
        .lines()
        .map(str::to_owned)
        .collect();
    let status = Command::new("git")
        .args(["merge-base", "--is-ancestor", old, new])
        .current_dir(bare)
        .status()
        .unwrap();
    assert!(status.success());
    parse_and_plan(text.as_bytes(), &changed)
}

#[derive(Debug, Default)]
struct Times(Vec<Duration>);

impl Times {
    fn median(&self) -> Duration {
        let mut v = self.0.clone();
        v.sort();
        v[v.len() / 2]
    }
    fn min(&self) -> Duration {
        *self.0.iter().min().unwrap()
    }
    fn max(&self) -> Duration {
        *self.0.iter().max().unwrap()
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = tmp.path().join("origin");
    let started = Instant::now();
    let commits = generate(&origin, 2 * WARM_ROUNDS);
    let files = git(
        &origin,
        &["ls-tree", "-r", "--name-only", &commits[COMMITS - 1]],
    )
    .lines()
    .count();
    println!(
        "repository: {files} files, {} commits ({COMMITS} + {} for warm rounds), generated in {:.1} s",
        commits.len(),
        commits.len() - COMMITS,
        started.elapsed().as_secs_f64()
    );
    let server = GitHttpServer::start(tmp.path());
    let transports = [
        ("file://", format!("file://{}", origin.display())),
        ("HTTP", server.url("origin")),
    ];
    let (old, base) = (&commits[COMMITS - 2], &commits[COMMITS - 1]);
    println!("| transport | path | min ms | median ms | max ms | median vs gix |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (t, (name, url)) in transports.iter().enumerate() {
        let run = tmp.path().join(format!("run{t}"));
        let mut rows: Vec<(&str, Times)> = Vec::new();

        let mut gix_cold = Times::default();
        let mut cli_cold = Times::default();
        let mut shallow = Times::default();
        for r in 0..COLD_ROUNDS {
            let dir = run.join(format!("gix-cold-{r}"));
            let at = Instant::now();
            let apps = gix_job(&GixCache::new(&dir), url, old, base);
            gix_cold.0.push(at.elapsed());
            assert!(apps > 0);

            let bare = run.join(format!("cli-cold-{r}.git"));
            std::fs::create_dir_all(&run).unwrap();
            let at = Instant::now();
            assert_eq!(cli_job(&bare, url, old, base, true), apps);
            cli_cold.0.push(at.elapsed());

            let shallow_dir = run.join(format!("shallow-{r}"));
            let at = Instant::now();
            git(
                &run,
                &[
                    "clone",
                    "-q",
                    "--depth",
                    "1",
                    "--no-checkout",
                    url,
                    shallow_dir.to_str().unwrap(),
                ],
            );
            git(&shallow_dir, &["show", "HEAD:boreas.yaml"]);
            shallow.0.push(at.elapsed());
        }

        // Warm: each path keeps one cache; every round fetches the next new commit.
        let gix_cache = GixCache::new(run.join("gix-warm"));
        gix_job(&gix_cache, url, old, base);
        let cli_bare = run.join("cli-warm.git");
        cli_job(&cli_bare, url, old, base, true);
        let mut gix_warm = Times::default();
        let mut cli_warm = Times::default();
        let offset = t * WARM_ROUNDS;
        let mut previous = base.clone();
        for r in 0..WARM_ROUNDS {
            let new = &commits[COMMITS + offset + r];
            let at = Instant::now();
            gix_job(&gix_cache, url, &previous, new);
            gix_warm.0.push(at.elapsed());
            let at = Instant::now();
            cli_job(&cli_bare, url, &previous, new, false);
            cli_warm.0.push(at.elapsed());
            previous.clone_from(new);
        }
        rows.push(("gix cold (empty cache)", gix_cold));
        rows.push((
            "git CLI cold (clone --bare, show, diff, merge-base)",
            cli_cold,
        ));
        rows.push(("git clone --depth 1 + show (no diff/ancestry)", shallow));
        rows.push(("gix warm (one new commit)", gix_warm));
        rows.push(("git CLI warm (fetch, show, diff, merge-base)", cli_warm));
        let gix_cold_median = rows[0].1.median();
        let gix_warm_median = rows[3].1.median();
        for (i, (label, times)) in rows.iter().enumerate() {
            let reference = if i < 3 {
                gix_cold_median
            } else {
                gix_warm_median
            };
            println!(
                "| {name} | {label} | {} | {} | {} | {:.1}× |",
                ms(times.min()),
                ms(times.median()),
                ms(times.max()),
                times.median().as_secs_f64() / reference.as_secs_f64()
            );
        }
    }
}
