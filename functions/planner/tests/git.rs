//! The gix git layer against repositories made with the git CLI, over file:// and smart HTTP.

use boreas_core::version::{CommitId, Relation, relation};
use boreas_planner::git::{Git, GixCache, Remote, RepoHistory};
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
