//! The agent as an operator installs it: the systemd unit is hardened (rated by
//! `systemd-analyze security`) and valid (`systemd-analyze verify`), and the Debian package built by
//! `agent/package/build-deb` installs with `dpkg -i`, after which `boreas-agent check` names what is
//! wrong with the shipped template, a bad config and a missing stack, and passes a good config
//! against the emulator. The package is purged at the end, also when the test fails. The RPM built
//! by `agent/package/build-rpm` holds the same files and installs into a scratch root with `rpm`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/boreas-agent.service");
const INSTALLED_UNIT: &str = "/lib/systemd/system/boreas-agent.service";
const WORST_EXPOSURE: f64 = 5.0;

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `dpkg` needs root; the suite runs as root in CI, elsewhere through password-less sudo.
fn privileged(args: &[&str]) -> Output {
    if nix::unistd::geteuid().is_root() {
        run(args[0], &args[1..])
    } else {
        run("sudo", &[&["-n"], args].concat())
    }
}

#[test]
fn the_unit_is_rated_safe_by_systemd_analyze() {
    let out = run("systemd-analyze", &["security", "--offline=true", UNIT]);
    let report = text(&out);
    let exposure: f64 = report
        .lines()
        .find_map(|l| l.split_once("Overall exposure level for boreas-agent.service: "))
        .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no overall exposure in:\n{report}"));
    assert!(
        exposure <= WORST_EXPOSURE,
        "exposure {exposure} > {WORST_EXPOSURE}:\n{report}"
    );
    // The rights it keeps, by name, so a widened set fails here and not only by score.
    let unit = std::fs::read_to_string(UNIT).unwrap();
    assert!(unit.contains("\nCapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_KILL\n"));
    assert!(unit.contains("\nProtectSystem=strict\n"));
}

/// Purges the package when dropped, so a failed assertion leaves no package behind.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let out = privileged(&["dpkg", "--purge", "boreas-agent"]);
        assert!(
            out.status.success() || std::thread::panicking(),
            "{}",
            text(&out)
        );
    }
}

fn build_deb(out_dir: &Path) -> PathBuf {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/package/build-deb");
    let out = run(
        script,
        &[
            env!("CARGO_BIN_EXE_boreas-agent"),
            out_dir.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn check(config: &Path) -> Output {
    run(
        "/usr/bin/boreas-agent",
        &["check", "--config", config.to_str().unwrap()],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_deb_installs_and_check_says_what_is_wrong_one_line_each() {
    let tmp = tempfile::tempdir().unwrap();
    let deb = build_deb(tmp.path());

    // What the package holds, as dpkg reads it.
    let listing = text(&run("dpkg-deb", &["--contents", deb.to_str().unwrap()]));
    for path in [
        "./usr/bin/boreas-agent",
        "./lib/systemd/system/boreas-agent.service",
        "./etc/boreas/agent.toml",
        "./usr/share/doc/boreas-agent/README.md",
    ] {
        assert!(listing.contains(path), "{path} missing:\n{listing}");
    }

    let out = privileged(&["dpkg", "-i", deb.to_str().unwrap()]);
    let _installed = Installed;
    assert!(out.status.success(), "{}", text(&out));
    let status = text(&run("dpkg-query", &["-W", "-f=${Status}", "boreas-agent"]));
    assert!(status.contains("install ok installed"), "{status}");
    // The template is a conffile: an upgrade never overwrites the operator's edits.
    let conf = text(&run(
        "dpkg-query",
        &["-W", "-f=${Conffiles}", "boreas-agent"],
    ));
    assert!(conf.contains("/etc/boreas/agent.toml"), "{conf}");

    // The installed unit is valid as installed (its ExecStart exists now); any warning fails.
    let verify = run("systemd-analyze", &["verify", INSTALLED_UNIT]);
    assert!(
        verify.status.success() && verify.stderr.is_empty() && verify.stdout.is_empty(),
        "{}",
        text(&verify)
    );

    // The shipped template: the host is the first thing an operator must fill in.
    let out = check(Path::new("/etc/boreas/agent.toml"));
    assert!(!out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "problem: config: configuration: `host` is required (file or --host)\n"
    );

    let fixture = Fixture::new().await;
    let write = |name: &str, body: String| {
        let path = tmp.path().join(name);
        std::fs::write(&path, body).unwrap();
        path
    };
    let work = tmp.path().join("work");
    // The emulator's region, named in the file so that the config's `region` is what is checked.
    let region = fixture.aws.region().unwrap().to_string();

    // A misspelled field is named with its line.
    let typo = write(
        "typo.toml",
        "host = \"web-1\"\nenvironment = \"prod\"\npol_seconds = 5\n".to_owned(),
    );
    let out = check(&typo);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{}", text(&out));
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with("problem: config: ")
            && stdout.contains("line 3")
            && stdout.contains("pol_seconds"),
        "{stdout}"
    );

    // A good config against the emulator: every check passes; the agent's queue exists already.
    let good = write(
        "good.toml",
        format!(
            "host = \"{HOST}\"\nenvironment = \"{ENV}\"\nprefix = \"{}\"\n\
             endpoint = \"{}\"\nregion = \"{region}\"\nwork_dir = \"{}\"\n",
            fixture.prefix,
            fixture.endpoint,
            work.display()
        ),
    );
    let out = check(&good);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", text(&out));
    let expected = [
        format!("ok: config: host {HOST}, environment {ENV}"),
        format!(
            "ok: work_dir {}: does not exist yet; the agent creates it in {}",
            work.display(),
            tmp.path().display()
        ),
        format!("ok: region: {region}"),
        "ok: credentials: found".to_owned(),
        format!("ok: queue {}-agent-{ENV}-{HOST}: reachable", fixture.prefix),
        format!(
            "ok: inventory queue {}-inventory: reachable",
            fixture.prefix
        ),
    ];
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected, "{stdout}");
    assert!(!work.exists(), "check created the work directory");

    // The same host pointed at a prefix with no stack: the inventory queue is missing, and the
    // agent's own queue is only reported as still to be created.
    let no_stack = write(
        "no-stack.toml",
        format!(
            "host = \"{HOST}\"\nenvironment = \"{ENV}\"\nprefix = \"{}-none\"\n\
             endpoint = \"{}\"\nwork_dir = \"{}\"\n",
            fixture.prefix,
            fixture.endpoint,
            work.display()
        ),
    );
    let out = check(&no_stack);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{}", text(&out));
    let problems: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("problem: "))
        .collect();
    assert_eq!(
        problems,
        [format!(
            "problem: inventory queue {0}-none-inventory: does not exist: is the stack deployed \
             with prefix `{0}-none` in this account and region, or is `inventory_queue` set wrong?",
            fixture.prefix
        )],
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "ok: queue {}-none-agent-{ENV}-{HOST}: not created yet; the agent creates it when it starts",
            fixture.prefix
        )),
        "{stdout}"
    );
}

#[test]
fn the_rpm_holds_the_same_files_and_installs() {
    let tmp = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/package/build-rpm");
    let out = run(
        script,
        &[
            env!("CARGO_BIN_EXE_boreas-agent"),
            tmp.path().join("out").to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let rpm_file = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    let files = run("rpm", &["-qlp", &rpm_file]);
    assert_eq!(
        String::from_utf8_lossy(&files.stdout)
            .lines()
            .collect::<Vec<_>>(),
        [
            "/etc/boreas",
            "/etc/boreas/agent.toml",
            "/usr/bin/boreas-agent",
            "/usr/lib/systemd/system/boreas-agent.service",
            "/usr/share/doc/boreas-agent/README.md",
        ],
        "{}",
        text(&files)
    );
    // An upgrade keeps the operator's configuration.
    let config = run("rpm", &["-qp", "--configfiles", &rpm_file]);
    assert_eq!(
        String::from_utf8_lossy(&config.stdout),
        "/etc/boreas/agent.toml\n"
    );

    // Into a scratch root (this is not an RPM system: no dependencies, no scriptlets), then the
    // installed binary reads the installed template.
    let root = tmp.path().join("root");
    let root_s = root.to_str().unwrap();
    for args in [
        vec!["--root", root_s, "--initdb"],
        vec!["--root", root_s, "-i", "--nodeps", "--noscripts", &rpm_file],
    ] {
        let out = run("rpm", &args);
        assert!(out.status.success(), "{}", text(&out));
    }
    let unit = std::fs::read(root.join("usr/lib/systemd/system/boreas-agent.service")).unwrap();
    assert_eq!(unit, std::fs::read(UNIT).unwrap());
    let out = run(
        root.join("usr/bin/boreas-agent").to_str().unwrap(),
        &[
            "check",
            "--config",
            root.join("etc/boreas/agent.toml").to_str().unwrap(),
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "problem: config: configuration: `host` is required (file or --host)\n",
        "{}",
        text(&out)
    );
}
