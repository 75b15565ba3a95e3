//! The git layer: a cache of bare repositories fetched with gix, one per repository, kept in a
//! directory that warm invocations reuse.
//!
//! How commits get here:
//! - A version's commit is fetched **by id** (`<commit>:refs/boreas/fetched/<commit>`; protocol v2
//!   servers, `git upload-pack` and the big forges accept wants of reachable ids), and a ref is
//!   kept for it. Those refs are the tips gix offers as "have"s when it negotiates the next fetch,
//!   so a warm cache receives only the objects of the new commits, and a commit already here costs
//!   no network round trip at all.
//! - Fetches are **not shallow**. Ancestry ("does the new version contain the last deployed one?")
//!   walks history between two commits that may be hundreds of commits apart, and a tree diff
//!   needs the old commit's tree; a shallow cache would stop at its boundary and either answer
//!   wrongly or need deepening round trips until both commits meet. The cold fetch therefore takes
//!   the commit's whole history once (measured in BENCHMARKS.md), and every later fetch is
//!   incremental. A commit that is present has its history present too, because fetched packs are
//!   closed under reachability.
//! - A commit that is not an ancestor of anything fetched (a diverged branch, an old deployed
//!   version after a cold start) is fetched by id when a caller asks for it.
//!
//! Fetches of one repository are serialised by a per-repository lock, so concurrent handlers
//! sharing a cache never write the same bare repository at once.
//!
//! Limits ([`Limits`]). A fetch is stopped when it runs past its time limit (each HTTP request is
//! also cut off then, so a server that accepts and stalls cannot hold it) or writes more than its
//! size limit ([`Error::TooLarge`], final: the same job would fetch as much again); what a stopped
//! fetch wrote leaves the cache. After each fetch the least recently used other repositories are
//! removed until the cache fits its limit.
//!
//! Authentication. Every fetch answers gix's credential requests itself ([`Remote::auth`]), so
//! no configured credential helper runs and nothing prompts: a remote that asks for credentials
//! gets the repository's (only when it is the clone URL's own host asking), or none. Either way
//! a refusal is [`Error::AuthenticationFailed`], naming the clone URL, never the credential.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use boreas_core::review::CommitSummary;
use boreas_core::version::CommitId;
use gix::ObjectId;
use gix::remote::Direction;
use sha2::Digest;

use crate::Error;
use boreas_git_credentials::Basic;

/// Where fetched commits keep a ref (the negotiation tips of later fetches).
const FETCHED_REFS: &str = "refs/boreas/fetched";
/// A file in each cached repository whose modification time is its last use.
const LAST_USED: &str = "boreas-last-used";
/// How often a running fetch's time and size are looked at.
const WATCH_EVERY: Duration = Duration::from_millis(50);
const MIB: u64 = 1024 * 1024;

/// Bounds on one fetch and on the cache, so that a huge, slow or hostile repository can neither
/// hold the planner past its deadline nor fill its disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A fetch still running after this is stopped (each HTTP request is also cut off at it).
    pub fetch_timeout: Duration,
    /// A fetch that has written more than this is stopped and its repository dropped from the
    /// cache.
    pub max_fetch_bytes: u64,
    /// After a fetch, the least recently used other repositories are removed from the cache until
    /// it is no larger than this.
    pub max_cache_bytes: u64,
}

impl Default for Limits {
    /// Within the planner function's 2 GiB of `/tmp` and its 120-second deadline.
    fn default() -> Self {
        Self {
            fetch_timeout: Duration::from_secs(90),
            max_fetch_bytes: 512 * MIB,
            max_cache_bytes: 1536 * MIB,
        }
    }
}

/// Where a repository is fetched from, and how to authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// The clone URL (without credentials).
    pub url: String,
    /// Sent when the remote asks; `None` fetches anonymously.
    pub auth: Option<Basic>,
}

impl Remote {
    /// A remote fetched without credentials.
    pub fn anonymous(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            auth: None,
        }
    }
}

/// The planner's view of git. Blocking: async callers go through `spawn_blocking`.
pub trait Git: Send + Sync + fmt::Debug {
    /// Makes `commits` present in the cache of `repository`, fetching the missing ones from
    /// `remote`. Returns how many had to be fetched.
    fn fetch(
        &self,
        repository: &str,
        remote: &Remote,
        commits: &[CommitId],
    ) -> Result<usize, Error>;
    /// Whether `commit` is in the cache (with its history).
    fn has_commit(&self, repository: &str, commit: &CommitId) -> Result<bool, Error>;
    /// The file at `path` in `commit`, or `None` when the commit has no such file.
    fn read_file(
        &self,
        repository: &str,
        commit: &CommitId,
        path: &str,
    ) -> Result<Option<Vec<u8>>, Error>;
    /// Paths of files that differ between the trees of `from` and `to` (both sides of a rename),
    /// sorted, with `/` separators.
    fn changed_paths(
        &self,
        repository: &str,
        from: &CommitId,
        to: &CommitId,
    ) -> Result<Vec<String>, Error>;
    /// Whether `ancestor` is `descendant` or one of its ancestors.
    fn is_ancestor(
        &self,
        repository: &str,
        ancestor: &CommitId,
        descendant: &CommitId,
    ) -> Result<bool, Error>;
    /// The commits of `to` that `from` does not contain (`git log from..to`), newest first:
    /// the first `limit` of them, and how many there are in all.
    fn commits_between(
        &self,
        repository: &str,
        from: &CommitId,
        to: &CommitId,
        limit: usize,
    ) -> Result<(Vec<CommitSummary>, usize), Error>;
}

/// [`boreas_core::version::Ancestry`] of one repository, answered by a [`Git`].
#[derive(Debug, Clone, Copy)]
pub struct RepoHistory<'a> {
    /// The git layer.
    pub git: &'a dyn Git,
    /// The repository.
    pub repository: &'a str,
}

impl boreas_core::version::Ancestry for RepoHistory<'_> {
    type Error = Error;

    fn is_ancestor(&self, ancestor: &CommitId, descendant: &CommitId) -> Result<bool, Error> {
        self.git.is_ancestor(self.repository, ancestor, descendant)
    }
}

/// [`Git`] with gix over a cache directory of bare repositories.
#[derive(Debug)]
pub struct GixCache {
    dir: PathBuf,
    repos: Mutex<HashMap<String, Arc<Mutex<Option<gix::ThreadSafeRepository>>>>>,
    limits: Limits,
}

impl GixCache {
    /// A cache in `dir` (created when missing); what an earlier process left there is reused.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self::with_limits(dir, Limits::default())
    }

    /// A cache in `dir` whose fetches and size are held to `limits`.
    pub fn with_limits(dir: impl Into<PathBuf>, limits: Limits) -> Self {
        Self {
            dir: dir.into(),
            repos: Mutex::new(HashMap::new()),
            limits,
        }
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the bare repository of `repository` lives: a readable name plus a hash, so that
    /// repository ids with `/` or other characters map to distinct, safe directory names.
    pub fn repo_dir(&self, repository: &str) -> PathBuf {
        let readable: String = repository
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(60)
            .collect();
        let hash = sha2::Sha256::digest(repository.as_bytes());
        let suffix: String = hash[..6].iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{readable}-{suffix}.git"))
    }

    /// Runs `f` on the repository of `repository` while holding its lock, opening (or creating)
    /// the bare repository first.
    fn with_repo<T>(
        &self,
        repository: &str,
        f: impl FnOnce(&gix::Repository) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let slot = {
            let mut repos = self.repos.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(repos.entry(repository.to_owned()).or_default())
        };
        let mut guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.is_none() {
            *guard = Some(self.open_or_init(repository)?);
        }
        let repo = guard
            .as_ref()
            .map(gix::ThreadSafeRepository::to_thread_local)
            .ok_or_else(|| git_error(repository, "open", "repository handle missing"))?;
        // Its last use, for eviction; a cache that cannot note it still works.
        let _ = std::fs::write(self.repo_dir(repository).join(LAST_USED), b"");
        f(&repo)
    }

    /// Drops `repository` from the cache (handle and directory): what a stopped fetch wrote must
    /// not count as fetched next time.
    fn discard(&self, repository: &str) {
        let slot = {
            let repos = self.repos.lock().unwrap_or_else(PoisonError::into_inner);
            repos.get(repository).map(Arc::clone)
        };
        let guard = slot
            .as_ref()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner));
        if let Some(mut guard) = guard {
            *guard = None;
        }
        let _ = std::fs::remove_dir_all(self.repo_dir(repository));
    }

    /// Removes the least recently used repositories other than `keep` (and any in use) until the
    /// cache is no larger than its limit.
    fn evict(&self, keep: &str) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut dirs: Vec<(SystemTime, u64, PathBuf)> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "git"))
            .map(|p| {
                let used = std::fs::metadata(p.join(LAST_USED))
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                (used, dir_size(&p), p)
            })
            .collect();
        let mut total: u64 = dirs.iter().map(|(_, size, _)| size).sum();
        if total <= self.limits.max_cache_bytes {
            return;
        }
        dirs.sort();
        let keep_dir = self.repo_dir(keep);
        let repos = self.repos.lock().unwrap_or_else(PoisonError::into_inner);
        for (_, size, path) in dirs {
            if total <= self.limits.max_cache_bytes {
                break;
            }
            if path == keep_dir {
                continue;
            }
            // A repository another job is using stays; its handle goes with its directory.
            let slot = repos.iter().find(|(id, _)| self.repo_dir(id) == path);
            let guard = match slot {
                Some((_, slot)) => match slot.try_lock() {
                    Ok(guard) => Some(guard),
                    Err(_) => continue,
                },
                None => None,
            };
            if std::fs::remove_dir_all(&path).is_ok() {
                if let Some(mut guard) = guard {
                    *guard = None;
                }
                tracing::info!(path = %path.display(), bytes = size, "evicted from the git cache");
                total = total.saturating_sub(size);
            }
        }
    }

    fn open_or_init(&self, repository: &str) -> Result<gix::ThreadSafeRepository, Error> {
        let path = self.repo_dir(repository);
        if path.exists() {
            match gix::open(&path) {
                Ok(repo) => return Ok(repo.into_sync()),
                Err(e) => {
                    // A directory left half-written by a killed process: start over, it is a cache.
                    tracing::warn!(repository, path = %path.display(), error = %e, "discarding unreadable git cache");
                    std::fs::remove_dir_all(&path).map_err(|e| {
                        git_error(repository, "discard the unreadable cache", e.to_string())
                    })?;
                }
            }
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| git_error(repository, "create the cache directory", e.to_string()))?;
        let repo = gix::init_bare(&path)
            .map_err(|e| git_error(repository, "initialise the cache", e.to_string()))?;
        Ok(repo.into_sync())
    }
}

/// The bytes of the files under `path`.
fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// Why the watch stopped a fetch.
enum Stop {
    TimedOut,
    TooLarge,
}

/// For an http(s) remote, the transport options that cut each request off after `timeout`
/// (a server that accepts and then stalls would otherwise hold the fetch forever).
fn http_options(url: &str, timeout: Duration) -> Option<Box<dyn std::any::Any>> {
    use gix::protocol::transport::client::blocking_io::http;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return None;
    }
    let backend = http::reqwest::Options {
        configure_client: Some(Box::new(move |builder| Ok(builder.timeout(timeout)))),
        configure_request: None,
    };
    Some(Box::new(http::Options {
        backend: Some(Arc::new(Mutex::new(backend))),
        ..http::Options::default()
    }))
}

fn git_error(repository: &str, action: &str, message: impl Into<String>) -> Error {
    Error::Git {
        repository: repository.to_owned(),
        action: action.to_owned(),
        message: message.into(),
    }
}

fn object_id(repository: &str, commit: &CommitId) -> Result<ObjectId, Error> {
    ObjectId::from_hex(commit.0.as_bytes()).map_err(|e| Error::InvalidCommit {
        repository: repository.to_owned(),
        commit: commit.0.clone(),
        message: e.to_string(),
    })
}

/// The commit `id`, or [`Error::CommitNotFound`].
fn commit<'r>(
    repo: &'r gix::Repository,
    repository: &str,
    id: ObjectId,
) -> Result<gix::Commit<'r>, Error> {
    match repo.try_find_object(id) {
        Ok(Some(object)) => object.try_into_commit().map_err(|e| Error::InvalidCommit {
            repository: repository.to_owned(),
            commit: id.to_string(),
            message: e.to_string(),
        }),
        Ok(None) => Err(Error::CommitNotFound {
            repository: repository.to_owned(),
            commit: id.to_string(),
        }),
        Err(e) => Err(git_error(repository, "read a commit", e.to_string())),
    }
}

/// A commit as a review lists it: its subject, author and author date.
fn summary(commit: &gix::Commit<'_>) -> Result<CommitSummary, String> {
    let message = commit.message().map_err(|e| e.to_string())?;
    let author = commit.author().map_err(|e| e.to_string())?;
    let seconds = author.time().map_err(|e| e.to_string())?.seconds;
    let at = jiff::Timestamp::from_second(seconds).map_err(|e| e.to_string())?;
    Ok(CommitSummary {
        id: commit.id.to_string(),
        subject: message.summary().to_string(),
        author: author.name.to_string(),
        at: at.to_string(),
    })
}

/// The host (with a port) of a URL as gix or the clone URL spells it, for comparing the two.
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Some(host.to_ascii_lowercase())
}

/// Whether `host` (`name[:port]`) is this machine.
fn is_loopback(host: &str) -> bool {
    let name = host.rsplit_once(':').map_or(host, |(n, _)| n);
    name == "localhost" || name.starts_with("127.")
}

/// gix's credential callback for a fetch from `remote`: the repository's credential for the
/// clone URL's own host, nothing for any other (a redirect elsewhere gets no secret).
fn answer_credentials(
    remote: &Remote,
    action: gix::credentials::helper::Action,
) -> Result<Option<gix::credentials::protocol::Outcome>, gix::Error> {
    use gix::credentials::helper::Action;
    let Action::Get(context) = action else {
        // Store and erase: there is nothing to keep or forget.
        return Ok(None);
    };
    let asking_url = context.url.as_ref().map(ToString::to_string);
    let asking = asking_url.as_deref().and_then(url_host);
    let expected = url_host(&remote.url);
    // Over plain http only to this machine (the local platform's repositories): a credential
    // never crosses a network in clear text, not even after a redirect from https.
    let encrypted_or_local = asking_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://") || asking.as_deref().is_some_and(is_loopback));
    match &remote.auth {
        Some(auth) if encrypted_or_local && asking.is_some() && asking == expected => {
            Ok(Some(gix::credentials::protocol::Outcome {
                identity: gix::sec::identity::Account {
                    username: auth.username.clone(),
                    password: auth.password.expose().to_owned(),
                    oauth_refresh_token: None,
                },
                next: context.into(),
            }))
        }
        _ => Ok(None),
    }
}

impl Git for GixCache {
    fn fetch(
        &self,
        repository: &str,
        remote: &Remote,
        commits: &[CommitId],
    ) -> Result<usize, Error> {
        let url = remote.url.as_str();
        let ids = commits
            .iter()
            .map(|c| object_id(repository, c))
            .collect::<Result<Vec<_>, _>>()?;
        let stopped_fetch = std::cell::Cell::new(false);
        let fetched = self.with_repo(repository, |repo| {
            let mut missing: Vec<ObjectId> = ids
                .iter()
                .copied()
                .filter(|id| !repo.has_object(id))
                .collect();
            missing.sort();
            missing.dedup();
            if missing.is_empty() {
                return Ok(0);
            }
            let specs: Vec<String> = missing
                .iter()
                .map(|id| format!("+{id}:{FETCHED_REFS}/{id}"))
                .collect();
            let fetch_error = |e: gix::Error| {
                if e.is_unauthenticated() || e.is_permission_denied() {
                    Error::AuthenticationFailed {
                        repository: repository.to_owned(),
                        url: url.to_owned(),
                    }
                } else {
                    Error::Fetch {
                        repository: repository.to_owned(),
                        url: url.to_owned(),
                        message: format!("{e:#}"),
                    }
                }
            };
            let source = repo
                .remote_at(url)
                .and_then(|r| r.with_refspecs(specs.iter().map(String::as_str), Direction::Fetch))
                .map_err(fetch_error)?;
            let interrupt = AtomicBool::new(false);
            let done = AtomicBool::new(false);
            let objects = repo.path().join("objects");
            let before = dir_size(&objects);
            let limits = self.limits;
            let started = Instant::now();
            let received = std::thread::scope(|scope| {
                // Stops the fetch when it runs too long or writes too much: gix checks the flag
                // while it receives the pack.
                let watch = scope.spawn(|| {
                    while !done.load(Ordering::SeqCst) {
                        let written = dir_size(&objects).saturating_sub(before);
                        if started.elapsed() >= limits.fetch_timeout {
                            interrupt.store(true, Ordering::SeqCst);
                            return Some(Stop::TimedOut);
                        }
                        if written > limits.max_fetch_bytes {
                            interrupt.store(true, Ordering::SeqCst);
                            return Some(Stop::TooLarge);
                        }
                        std::thread::sleep(WATCH_EVERY);
                    }
                    None
                });
                let outcome = source
                    .connect(Direction::Fetch)
                    .map(|c| c.with_credentials(|action| answer_credentials(remote, action)))
                    .map(|c| match http_options(url, limits.fetch_timeout) {
                        Some(options) => c.with_transport_options(options),
                        None => c,
                    })
                    .and_then(|c| c.prepare_fetch(gix::progress::Discard, Default::default()))
                    .map(|p| p.with_write_packed_refs_only(true))
                    .and_then(|p| p.receive(gix::progress::Discard, &interrupt));
                done.store(true, Ordering::SeqCst);
                (outcome, watch.join().unwrap_or(None))
            });
            let stopped = |stop: Stop, detail: Option<gix::Error>| {
                stopped_fetch.set(true);
                match stop {
                    Stop::TooLarge => Error::TooLarge {
                        repository: repository.to_owned(),
                        url: url.to_owned(),
                        limit_mib: limits.max_fetch_bytes / MIB,
                    },
                    Stop::TimedOut => Error::Fetch {
                        repository: repository.to_owned(),
                        url: url.to_owned(),
                        message: format!(
                            "stopped after {} s (the fetch time limit){}",
                            limits.fetch_timeout.as_secs(),
                            detail.map(|e| format!(": {e:#}")).unwrap_or_default()
                        ),
                    },
                }
            };
            let outcome = match received {
                (_, Some(stop)) => return Err(stopped(stop, None)),
                (Ok(outcome), None) => outcome,
                (Err(e), None) if started.elapsed() >= limits.fetch_timeout => {
                    return Err(stopped(Stop::TimedOut, Some(e)));
                }
                (Err(e), None) => return Err(fetch_error(e)),
            };
            // A pack written faster than the watch looks is measured once more here.
            if dir_size(&objects).saturating_sub(before) > limits.max_fetch_bytes {
                return Err(stopped(Stop::TooLarge, None));
            }
            let received_pack = matches!(outcome.status, gix::remote::fetch::Status::Change { .. });
            tracing::debug!(
                repository,
                commits = missing.len(),
                received_pack,
                "fetched"
            );
            if let Some(id) = missing.iter().find(|id| !repo.has_object(id)) {
                return Err(Error::CommitNotFound {
                    repository: repository.to_owned(),
                    commit: id.to_string(),
                });
            }
            Ok(missing.len())
        });
        if stopped_fetch.get() {
            self.discard(repository);
        } else if fetched.is_ok() {
            self.evict(repository);
        }
        fetched
    }

    fn has_commit(&self, repository: &str, commit_id: &CommitId) -> Result<bool, Error> {
        let id = object_id(repository, commit_id)?;
        self.with_repo(repository, |repo| match commit(repo, repository, id) {
            Ok(_) => Ok(true),
            Err(Error::CommitNotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        })
    }

    fn read_file(
        &self,
        repository: &str,
        commit_id: &CommitId,
        path: &str,
    ) -> Result<Option<Vec<u8>>, Error> {
        let id = object_id(repository, commit_id)?;
        self.with_repo(repository, |repo| {
            let read = |e: gix::Error| git_error(repository, "read a file", e.to_string());
            let tree = commit(repo, repository, id)?.tree().map_err(read)?;
            let Some(entry) = tree.lookup_entry_by_path(path).map_err(read)? else {
                return Ok(None);
            };
            if !entry.mode().is_blob() {
                return Ok(None);
            }
            let object = entry.object().map_err(read)?;
            Ok(Some(object.detach().data))
        })
    }

    fn changed_paths(
        &self,
        repository: &str,
        from: &CommitId,
        to: &CommitId,
    ) -> Result<Vec<String>, Error> {
        let (from, to) = (object_id(repository, from)?, object_id(repository, to)?);
        self.with_repo(repository, |repo| {
            let diff = |e: gix::Error| git_error(repository, "diff trees", e.to_string());
            let old = commit(repo, repository, from)?.tree().map_err(diff)?;
            let new = commit(repo, repository, to)?.tree().map_err(diff)?;
            // No rename tracking: a rename counts as a deletion plus an addition, which names both
            // paths, as `git diff --name-only --no-renames` does.
            let options = gix::diff::Options::default().with_rewrites(None);
            let changes = repo.diff_tree_to_tree(&old, &new, options).map_err(diff)?;
            let mut paths: Vec<String> = changes
                .iter()
                .filter(|c| !c.entry_mode().is_tree())
                .map(|c| c.location().to_string())
                .collect();
            paths.sort();
            paths.dedup();
            Ok(paths)
        })
    }

    fn commits_between(
        &self,
        repository: &str,
        from: &CommitId,
        to: &CommitId,
        limit: usize,
    ) -> Result<(Vec<CommitSummary>, usize), Error> {
        let (from, to) = (object_id(repository, from)?, object_id(repository, to)?);
        self.with_repo(repository, |repo| {
            let walk_error = |e: String| git_error(repository, "walk the history", e);
            let walk = repo
                .rev_walk([to])
                .with_hidden([from])
                .sorting(gix::revision::walk::Sorting::ByCommitTime(
                    gix::traverse::commit::simple::CommitTimeOrder::NewestFirst,
                ))
                .all()
                .map_err(|e| walk_error(e.to_string()))?;
            let (mut listed, mut total) = (Vec::new(), 0);
            for info in walk {
                let info = info.map_err(|e| walk_error(e.to_string()))?;
                total += 1;
                if listed.len() < limit {
                    let commit = commit(repo, repository, info.id)?;
                    listed.push(summary(&commit).map_err(walk_error)?);
                }
            }
            Ok((listed, total))
        })
    }

    fn is_ancestor(
        &self,
        repository: &str,
        ancestor: &CommitId,
        descendant: &CommitId,
    ) -> Result<bool, Error> {
        let (a, d) = (
            object_id(repository, ancestor)?,
            object_id(repository, descendant)?,
        );
        if a == d {
            return Ok(true);
        }
        self.with_repo(repository, |repo| {
            // Both must be here: a missing commit would otherwise look like "no common history".
            commit(repo, repository, a)?;
            commit(repo, repository, d)?;
            let base = repo
                .merge_base(a, d)
                .map_err(|e| git_error(repository, "find the merge base", e.to_string()))?;
            Ok(base.is_some_and(|b| b.detach() == a))
        })
    }
}
