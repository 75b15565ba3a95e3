//! The gix git layer against repositories made with the git CLI, over file:// and smart HTTP.

use boreas_core::version::{CommitId, Relation, relation};
use boreas_planner::git::{Git, GixCache, Limits, Remote, RepoHistory};
use boreas_test_support::git::{GitHttpServer, GitRepo};

fn id(s: &str) -> CommitId {
    CommitId(s.to_owned())
}

/// main: a ← b ← m (merge of b and x); side branch from a: x; another branch from a: d (never merged).
struct Graph {
    repo: GitRepo,
    a: String,
    b: String,
    x: String,
    m: String,
    d: String,
}

fn graph(root: &std::path::Path) -> Graph {
    let repo = GitRepo::init(root, "graph");
    let a = repo.commit(
        "a",
        &[
            ("boreas.yaml", "a\n"),
            ("api/main.rs", "1\n"),
            ("web/x.ts", "1\n"),
        ],
    );
    repo.tag("v1");
    let b = repo.commit("b", &[("api/main.rs", "2\n")]);
    repo.git(&["checkout", "-q", "-b", "side", &a]);
    let x = repo.commit("x", &[("docs/readme.md", "x\n")]);
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["merge", "-q", "--no-ff", "-m", "merge side", "side"]);
    let m = repo.head();
    repo.git(&["checkout", "-q", "-b", "hotfix", &a]);
    repo.git(&["mv", "web/x.ts", "web/y.ts"]);
    let d = repo.commit("d", &[]);
    repo.git(&["checkout", "-q", "main"]);
    Graph {
        repo,
        a,
        b,
        x,
        m,
        d,
    }
}

fn check_layer(git: &dyn Git, g: &Graph, url: &str) {
    // Cold: the merge's whole history arrives with it.
    assert_eq!(
        git.fetch("graph", &Remote::anonymous(url), &[id(&g.m)])
            .unwrap(),
        1
    );
    for c in [&g.a, &g.b, &g.x, &g.m] {
        assert!(git.has_commit("graph", &id(c)).unwrap(), "{c} present");
    }
    assert!(!git.has_commit("graph", &id(&g.d)).unwrap());
    // Warm: nothing to fetch for a present commit.
    assert_eq!(
        git.fetch("graph", &Remote::anonymous(url), &[id(&g.b), id(&g.a)])
            .unwrap(),
        0
    );
    // A diverged commit is fetched by id.
    assert_eq!(
        git.fetch("graph", &Remote::anonymous(url), &[id(&g.d)])
            .unwrap(),
        1
    );

    assert_eq!(
        git.read_file("graph", &id(&g.b), "api/main.rs").unwrap(),
        Some(b"2\n".to_vec())
    );
    assert_eq!(
        git.read_file("graph", &id(&g.b), "nope.yaml").unwrap(),
        None
    );
    assert_eq!(
        git.read_file("graph", &id(&g.b), "api").unwrap(),
        None,
        "a directory is no file"
    );

    assert_eq!(
        git.changed_paths("graph", &id(&g.a), &id(&g.m)).unwrap(),
        ["api/main.rs", "docs/readme.md"]
    );
    assert_eq!(
        git.changed_paths("graph", &id(&g.a), &id(&g.d)).unwrap(),
        ["web/x.ts", "web/y.ts"],
        "a rename names both paths"
    );
    assert!(
        git.changed_paths("graph", &id(&g.b), &id(&g.b))
            .unwrap()
            .is_empty()
    );

    let history = RepoHistory {
        git,
        repository: "graph",
    };
    let rel = |one: &str, two: &str| relation(&history, &id(one), &id(two)).unwrap();
    assert_eq!(rel(&g.m, &g.a), Relation::Newer);
    assert_eq!(
        rel(&g.m, &g.x),
        Relation::Newer,
        "a merge contains its second parent"
    );
    assert_eq!(rel(&g.b, &g.m), Relation::Older);
    assert_eq!(rel(&g.d, &g.b), Relation::Diverged);
    assert_eq!(rel(&g.x, &g.b), Relation::Diverged);
    assert_eq!(rel(&g.b, &g.b), Relation::Same);
}

#[test]
fn fetches_reads_diffs_and_walks_history_over_file_urls() {
    let tmp = tempfile::tempdir().unwrap();
    let g = graph(tmp.path());
    let cache = GixCache::new(tmp.path().join("cache"));
    check_layer(&cache, &g, &g.repo.file_url());
}

#[test]
fn fetches_reads_diffs_and_walks_history_over_http() {
    let tmp = tempfile::tempdir().unwrap();
    let g = graph(tmp.path());
    let server = GitHttpServer::start(tmp.path());
    let cache = GixCache::new(tmp.path().join("cache"));
    let url = server.url("graph");
    check_layer(&cache, &g, &url);
    let served = server.requests();
    assert!(served > 0);
    // Present commits never reach the server.
    assert_eq!(
        cache
            .fetch("graph", &Remote::anonymous(&*url), &[id(&g.m), id(&g.d)])
            .unwrap(),
        0
    );
    assert_eq!(server.requests(), served);
}

#[test]
fn warm_cache_survives_a_new_process_and_fetches_only_new_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let g = graph(tmp.path());
    let url = g.repo.file_url();
    let dir = tmp.path().join("cache");
    GixCache::new(&dir)
        .fetch("graph", &Remote::anonymous(&*url), &[id(&g.m)])
        .unwrap();
    let next = g.repo.commit("next", &[("web/x.ts", "2\n")]);
    // A new cache object on the same directory is what a warm Lambda instance sees.
    let warm = GixCache::new(&dir);
    assert_eq!(
        warm.fetch("graph", &Remote::anonymous(&*url), &[id(&g.m)])
            .unwrap(),
        0
    );
    assert_eq!(
        warm.fetch("graph", &Remote::anonymous(&*url), &[id(&next)])
            .unwrap(),
        1
    );
    assert_eq!(
        warm.changed_paths("graph", &id(&g.m), &id(&next)).unwrap(),
        ["web/x.ts"]
    );
    // Only the new commit's objects came: one small pack next to the first.
    let packs = std::fs::read_dir(warm.repo_dir("graph").join("objects/pack"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "pack")
        })
        .count();
    assert_eq!(packs, 2);
}

#[test]
fn unreachable_remotes_and_unknown_commits_are_errors_that_name_them() {
    let tmp = tempfile::tempdir().unwrap();
    let g = graph(tmp.path());
    let cache = GixCache::new(tmp.path().join("cache"));
    let missing = tmp.path().join("missing");
    let url = format!("file://{}", missing.display());
    let err = cache
        .fetch("graph", &Remote::anonymous(&*url), &[id(&g.a)])
        .unwrap_err();
    assert_eq!(err.error_type(), "FetchFailed");
    assert!(err.to_string().contains(&url), "{err}");

    let unknown = "0123456789abcdef0123456789abcdef01234567";
    let err = cache
        .fetch(
            "graph",
            &Remote::anonymous(g.repo.file_url()),
            &[id(unknown)],
        )
        .unwrap_err();
    assert!(
        matches!(err.error_type(), "FetchFailed" | "CommitNotFound"),
        "{err}"
    );
    let err = cache
        .fetch("graph", &Remote::anonymous(g.repo.file_url()), &[id("v1")])
        .unwrap_err();
    assert_eq!(err.error_type(), "InvalidCommit", "{err}");
    let _ = g.x;
}

/// `len` characters of hex from a fixed pseudo-random sequence: text that packs to about half
/// its size, so a test controls how many bytes a fetch writes.
fn noise(seed: u64, len: usize) -> String {
    let mut x = seed | 1;
    let mut out = String::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push_str(&format!("{x:016x}"));
    }
    out.truncate(len);
    out
}

fn limits(fetch_timeout_secs: u64, max_fetch_mib: u64, max_cache_mib: u64) -> Limits {
    const MIB: u64 = 1024 * 1024;
    Limits {
        fetch_timeout: std::time::Duration::from_secs(fetch_timeout_secs),
        max_fetch_bytes: max_fetch_mib * MIB,
        max_cache_bytes: max_cache_mib * MIB,
    }
}

/// A server that accepts connections and never answers holds a fetch only until its time limit.
#[test]
fn a_stalled_server_is_cut_off_at_the_fetch_time_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/stalled", listener.local_addr().unwrap());
    // Keeps every connection open, silent, until the test ends.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let cache = GixCache::with_limits(tmp.path().join("cache"), limits(2, 512, 1536));
    let started = std::time::Instant::now();
    let err = cache
        .fetch(
            "stalled",
            &Remote::anonymous(&*url),
            &[id("0123456789abcdef0123456789abcdef01234567")],
        )
        .unwrap_err();
    assert_eq!(err.error_type(), "FetchFailed", "{err}");
    assert!(
        err.to_string()
            .contains("stopped after 2 s (the fetch time limit)"),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

/// A repository whose pack exceeds the fetch limit is refused, and what it wrote is not kept: the
/// next attempt is refused again rather than finding the objects already there.
#[test]
fn a_repository_larger_than_the_fetch_limit_is_refused_and_not_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = GitRepo::init(tmp.path(), "big");
    let commit = repo.commit("big", &[("blob.txt", &noise(7, 6 * 1024 * 1024))]);
    let server = GitHttpServer::start(tmp.path());
    let cache = GixCache::with_limits(tmp.path().join("cache"), limits(120, 1, 1536));
    for attempt in 0..2 {
        let err = cache
            .fetch("big", &Remote::anonymous(server.url("big")), &[id(&commit)])
            .unwrap_err();
        assert_eq!(err.error_type(), "RepositoryTooLarge", "{err}");
        assert!(
            err.to_string()
                .ends_with("sent more than 1 MiB (the fetch size limit); stopped"),
            "attempt {attempt}: {err}"
        );
        // Trying the same job again would fetch as much: the version fails at once.
        assert!(err.is_permanent());
        assert!(!cache.repo_dir("big").exists(), "attempt {attempt}");
    }
}

/// Past the cache limit, the least recently used other repository leaves the cache; fetched
/// again, it comes back.
#[test]
fn the_least_recently_used_repository_leaves_a_full_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = GixCache::with_limits(tmp.path().join("cache"), limits(120, 512, 1));
    let mut heads = Vec::new();
    for (seed, name) in [(1, "old"), (2, "new")] {
        let repo = GitRepo::init(tmp.path(), name);
        let head = repo.commit("c", &[("blob.txt", &noise(seed, 1200 * 1024))]);
        assert_eq!(
            cache
                .fetch(name, &Remote::anonymous(repo.file_url()), &[id(&head)])
                .unwrap(),
            1
        );
        heads.push((name, repo, head));
    }
    assert!(
        !cache.repo_dir("old").exists(),
        "the older repository stays"
    );
    assert!(cache.has_commit("new", &id(&heads[1].2)).unwrap());
    let (name, repo, head) = &heads[0];
    assert_eq!(
        cache
            .fetch(name, &Remote::anonymous(repo.file_url()), &[id(head)])
            .unwrap(),
        1
    );
    assert!(cache.has_commit(name, &id(head)).unwrap());
}
