//! Versions and their order.
//!
//! A version is a name (a tag, or a commit id for branch pushes) bound to one commit. Order comes
//! from git history, never from the names: a newer version *contains* an older one when the older
//! commit is an ancestor of the newer. The history is asked through [`Ancestry`], which the git
//! layer implements with gix; tests implement it over a literal commit graph.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A full commit id (hex).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommitId(pub String);

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a version may be deployed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VersionState {
    /// Deployable.
    #[default]
    Normal,
    /// Withdrawn: never deployed again automatically; targets running it go back to the newest
    /// older normal version.
    Revert,
}

impl fmt::Display for VersionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Normal => "normal",
            Self::Revert => "revert",
        })
    }
}

/// A version of one repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// Repository id.
    pub repository: String,
    /// Tag name, or commit id for branch pushes.
    pub name: String,
    /// The commit the version is bound to.
    pub commit: CommitId,
    /// Deployable or withdrawn.
    pub state: VersionState,
}

/// Answers "is commit `ancestor` reachable from commit `descendant`" from git history.
///
/// A commit counts as its own ancestor, as in `git merge-base --is-ancestor`.
pub trait Ancestry {
    /// Error of the underlying history lookup.
    type Error;

    /// Whether `ancestor` is `descendant` or one of its ancestors.
    fn is_ancestor(&self, ancestor: &CommitId, descendant: &CommitId) -> Result<bool, Self::Error>;
}

/// How two versions relate in history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// Same commit.
    Same,
    /// The first contains the second (it descends from it).
    Newer,
    /// The second contains the first.
    Older,
    /// Neither contains the other.
    Diverged,
}

/// How commit `a` relates to commit `b`.
pub fn relation<A: Ancestry>(
    history: &A,
    a: &CommitId,
    b: &CommitId,
) -> Result<Relation, A::Error> {
    if a == b {
        return Ok(Relation::Same);
    }
    if history.is_ancestor(b, a)? {
        return Ok(Relation::Newer);
    }
    if history.is_ancestor(a, b)? {
        return Ok(Relation::Older);
    }
    Ok(Relation::Diverged)
}

/// Whether `newer` contains `older` ("newer contains older"): same commit or a descendant.
pub fn contains<A: Ancestry>(
    history: &A,
    newer: &CommitId,
    older: &CommitId,
) -> Result<bool, A::Error> {
    history.is_ancestor(older, newer)
}

/// Whether deploying `candidate` after `last_deployed` needs explicit confirmation because it does
/// not descend from it. Nothing deployed yet is never diverged.
pub fn is_diverged<A: Ancestry>(
    history: &A,
    candidate: &CommitId,
    last_deployed: Option<&CommitId>,
) -> Result<bool, A::Error> {
    match last_deployed {
        None => Ok(false),
        Some(last) => Ok(!contains(history, candidate, last)?),
    }
}

/// The version a reverted one is rolled back to: the newest `normal` version that the reverted
/// version contains (excluding itself). `candidates` may be in any order.
pub fn rollback_target<'a, A: Ancestry>(
    history: &A,
    reverted: &Version,
    candidates: &'a [Version],
) -> Result<Option<&'a Version>, A::Error> {
    let mut best: Option<&Version> = None;
    for v in candidates {
        if v.state != VersionState::Normal || v.commit == reverted.commit {
            continue;
        }
        if !contains(history, &reverted.commit, &v.commit)? {
            continue;
        }
        best = match best {
            Some(b) if !contains(history, &v.commit, &b.commit)? => Some(b),
            _ => Some(v),
        };
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::convert::Infallible;

    use super::*;

    /// A literal commit graph: commit → parents.
    struct Graph(BTreeMap<&'static str, Vec<&'static str>>);

    impl Ancestry for Graph {
        type Error = Infallible;
        fn is_ancestor(
            &self,
            ancestor: &CommitId,
            descendant: &CommitId,
        ) -> Result<bool, Infallible> {
            let mut seen = BTreeSet::new();
            let mut todo = vec![descendant.0.as_str()];
            while let Some(c) = todo.pop() {
                if c == ancestor.0 {
                    return Ok(true);
                }
                if seen.insert(c) {
                    todo.extend(self.0.get(c).into_iter().flatten().copied());
                }
            }
            Ok(false)
        }
    }

    // a ← b ← c ← m (merge of c and x);  a ← x;  a ← d (a branch that never merged)
    fn graph() -> Graph {
        Graph(BTreeMap::from([
            ("a", vec![]),
            ("b", vec!["a"]),
            ("c", vec!["b"]),
            ("x", vec!["a"]),
            ("m", vec!["c", "x"]),
            ("d", vec!["a"]),
        ]))
    }

    fn id(s: &str) -> CommitId {
        CommitId(s.to_owned())
    }

    fn version(name: &str, commit: &str, state: VersionState) -> Version {
        Version {
            repository: "r".into(),
            name: name.into(),
            commit: id(commit),
            state,
        }
    }

    #[test]
    fn relation_follows_history_not_names() {
        let g = graph();
        assert_eq!(relation(&g, &id("c"), &id("a")).unwrap(), Relation::Newer);
        assert_eq!(relation(&g, &id("a"), &id("c")).unwrap(), Relation::Older);
        assert_eq!(relation(&g, &id("c"), &id("c")).unwrap(), Relation::Same);
        assert_eq!(
            relation(&g, &id("d"), &id("c")).unwrap(),
            Relation::Diverged
        );
        // A merge contains both of its parents' histories.
        assert_eq!(relation(&g, &id("m"), &id("x")).unwrap(), Relation::Newer);
    }

    #[test]
    fn diverged_only_when_not_descending_from_last_deployed() {
        let g = graph();
        assert!(!is_diverged(&g, &id("c"), None).unwrap());
        assert!(!is_diverged(&g, &id("c"), Some(&id("b"))).unwrap());
        assert!(!is_diverged(&g, &id("c"), Some(&id("c"))).unwrap());
        assert!(is_diverged(&g, &id("d"), Some(&id("b"))).unwrap());
        assert!(is_diverged(&g, &id("b"), Some(&id("c"))).unwrap());
    }

    #[test]
    fn rollback_target_is_newest_older_normal() {
        let g = graph();
        let versions = vec![
            version("v1", "a", VersionState::Normal),
            version("v3", "c", VersionState::Normal),
            version("v2", "b", VersionState::Revert),
            version("side", "d", VersionState::Normal),
            version("v4", "m", VersionState::Revert),
        ];
        let reverted = &versions[4];
        // v3 (c) is the newest normal ancestor of m; v2 is withdrawn, `side` is not an ancestor.
        assert_eq!(
            rollback_target(&g, reverted, &versions)
                .unwrap()
                .unwrap()
                .name,
            "v3"
        );
        let only_old = version("v3", "c", VersionState::Revert);
        assert_eq!(
            rollback_target(&g, &only_old, &versions)
                .unwrap()
                .unwrap()
                .name,
            "v1"
        );
        let first = version("v1", "a", VersionState::Revert);
        assert!(rollback_target(&g, &first, &versions).unwrap().is_none());
    }
}
