//! The journal: one file per command id, rewritten atomically at every step, so an agent killed
//! at any point knows on restart what it was doing, finishes or undoes it, and reports the
//! outcome once; a redelivered command that already finished gets its stored result again.
//!
//! Entries hold the command's task token, so files are readable by the agent's user only.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use boreas_core::command::{Command, ErrorType};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::fetch::hex;
use crate::release::write_atomic;

/// How far a command got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Received; nothing on the host changed yet.
    Accepted,
    /// `current` may point at the new release: a restart must finish the start and health check,
    /// or restore `previous`.
    Switched,
    /// Done; `outcome` holds the result.
    Finished,
}

/// The result of a finished command, as reported to Step Functions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// SendTaskSuccess with this output (JSON).
    Succeeded {
        /// The task output.
        output: String,
    },
    /// SendTaskFailure with this error and cause.
    Failed {
        /// Stable error type.
        error_type: ErrorType,
        /// Explanation.
        cause: String,
    },
}

/// One command's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The command, with the newest task token received for it.
    pub command: Command,
    /// The version `current` pointed at when the command arrived.
    pub previous: Option<String>,
    /// Progress.
    pub phase: Phase,
    /// Set when finished.
    pub outcome: Option<Outcome>,
    /// SHA-256 (hex) of every task token the outcome was delivered on.
    #[serde(default)]
    pub reported: Vec<String>,
    /// How many times an agent found the command unfinished when it started (it had crashed or
    /// been killed while running it).
    #[serde(default)]
    pub resumes: u32,
}

impl Entry {
    /// A new entry for `command`.
    pub fn new(command: Command, previous: Option<String>) -> Self {
        Self {
            command,
            previous,
            phase: Phase::Accepted,
            outcome: None,
            reported: Vec::new(),
            resumes: 0,
        }
    }

    /// Whether the outcome still has to be delivered on the command's task token.
    pub fn needs_report(&self) -> bool {
        match &self.command.task_token {
            Some(token) => !self.reported.contains(&token_hash(token)),
            None => false,
        }
    }

    /// Notes that the outcome went out on the current task token.
    pub fn mark_reported(&mut self) {
        if let Some(token) = &self.command.task_token {
            let hash = token_hash(token);
            if !self.reported.contains(&hash) {
                self.reported.push(hash);
            }
        }
    }
}

/// Answered tokens are remembered by hash.
fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// The journal directory.
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
}

impl Journal {
    /// Opens (creating) the journal in `dir`.
    pub fn open(dir: PathBuf) -> Result<Self, Error> {
        fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(Error::io(&dir))?;
        Ok(Self { dir })
    }

    /// Command ids may hold any character: files are named by their hash.
    fn path(&self, command_id: &str) -> PathBuf {
        self.dir.join(format!(
            "{}.json",
            hex(&Sha256::digest(command_id.as_bytes()))
        ))
    }

    /// The entry of `command_id`, if any. An unreadable entry is an error, not a fresh start:
    /// redoing a command whose state is unknown could report it twice.
    pub fn get(&self, command_id: &str) -> Result<Option<Entry>, Error> {
        let path = self.path(command_id);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::Io {
                    path,
                    source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path)(e)),
        }
    }

    /// Writes `entry` durably.
    pub fn put(&self, entry: &Entry) -> Result<(), Error> {
        let json = serde_json::to_vec(entry).expect("journal entries serialise");
        write_atomic(&self.path(&entry.command.command_id), &json, 0o600)
    }

    /// Every entry that is unfinished or not yet reported on its current token.
    pub fn pending(&self) -> Result<Vec<Entry>, Error> {
        let mut out = Vec::new();
        for file in fs::read_dir(&self.dir).map_err(Error::io(&self.dir))? {
            let path = file.map_err(Error::io(&self.dir))?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let bytes = fs::read(&path).map_err(Error::io(&path))?;
            match serde_json::from_slice::<Entry>(&bytes) {
                Ok(e) if e.phase != Phase::Finished || e.needs_report() => out.push(e),
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "unreadable journal entry");
                }
            }
        }
        Ok(out)
    }

    /// Removes finished entries older than `age`: SQS keeps a message at most 14 days, so no
    /// redelivery can ask for them after that.
    pub fn prune(&self, age: Duration) -> Result<usize, Error> {
        let cutoff = SystemTime::now() - age;
        let mut removed = 0;
        for file in fs::read_dir(&self.dir).map_err(Error::io(&self.dir))? {
            let Ok(file) = file else { continue };
            let path = file.path();
            let old = file
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < cutoff);
            let finished = fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Entry>(&b).ok())
                .is_some_and(|e| e.phase == Phase::Finished);
            if old && finished && fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use boreas_core::command::{Action, SCHEMA_VERSION};

    use super::*;

    fn status(id: &str, token: Option<&str>) -> Command {
        Command {
            schema_version: SCHEMA_VERSION,
            command_id: id.to_owned(),
            environment: "prod".into(),
            target: "h1".into(),
            task_token: token.map(str::to_owned),
            heartbeat_seconds: None,
            timeout_seconds: None,
            action: Action::Status {},
        }
    }

    #[test]
    fn entries_survive_and_track_reports_per_token() {
        let tmp = tempfile::tempdir().unwrap();
        let journal = Journal::open(tmp.path().join("j")).unwrap();
        assert_eq!(journal.get("d:web:0:h1:deploy").unwrap(), None);
        let mut e = Entry::new(status("d:web:0:h1:deploy", Some("t1")), Some("v1".into()));
        journal.put(&e).unwrap();
        assert_eq!(journal.pending().unwrap(), vec![e.clone()]);
        e.phase = Phase::Finished;
        e.outcome = Some(Outcome::Failed {
            error_type: ErrorType::ChecksumMismatch,
            cause: "x".into(),
        });
        assert!(e.needs_report());
        e.mark_reported();
        journal.put(&e).unwrap();
        assert!(journal.pending().unwrap().is_empty());
        assert_eq!(journal.get("d:web:0:h1:deploy").unwrap(), Some(e.clone()));
        // A retried task sends the command again with a new token: the result is owed again.
        e.command.task_token = Some("t2".into());
        assert!(e.needs_report());
        assert_eq!(journal.prune(Duration::from_secs(3600)).unwrap(), 0);
        assert_eq!(journal.prune(Duration::ZERO).unwrap(), 1);
    }
}
