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
//! Authentication. Every fetch answers gix's credential requests itself ([`Remote::auth`]), so
//! no configured credential helper runs and nothing prompts: a remote that asks for credentials
//! gets the repository's (only when it is the clone URL's own host asking), or none. Either way
//! a refusal is [`Error::AuthenticationFailed`], naming the clone URL, never the credential.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};

use boreas_core::version::CommitId;
use gix::ObjectId;
use gix::remote::Direction;
use sha2::Digest;

use crate::Error;
use crate::credentials::Basic;

/// Where fetched commits keep a ref (the negotiation tips of later fetches).
const FETCHED_REFS: &str = "refs/boreas/fetched";

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
}

impl GixCache {
    /// A cache in `dir` (created when missing); what an earlier process left there is reused.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            repos: Mutex::new(HashMap::new()),
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
        f(&repo)
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
        self.with_repo(repository, |repo| {
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
            let outcome = source
                .connect(Direction::Fetch)
                .map(|c| c.with_credentials(|action| answer_credentials(remote, action)))
                .and_then(|c| c.prepare_fetch(gix::progress::Discard, Default::default()))
                .map(|p| p.with_write_packed_refs_only(true))
                .and_then(|p| p.receive(gix::progress::Discard, &interrupt))
                .map_err(fetch_error)?;
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
        })
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
