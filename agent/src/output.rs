//! Hook output: every line a hook prints goes to its deployment's log file on the host and into
//! the tail (the last [`OUTPUT_TAIL_BYTES`]) that travels to the platform with the command's
//! result. Values of the app's SSM variables are replaced by `***` in both.
//!
//! ```text
//! WORK/apps/APP/logs/hooks/DEPLOYMENT.log     this deployment's hooks (deploy, then any rollback)
//! WORK/apps/APP/logs/hooks/DEPLOYMENT.log.1   its earlier part, once the file passed MAX_FILE_BYTES
//! ```
//!
//! The newest [`KEEP_FILES`] deployments' logs are kept per app.

use std::collections::VecDeque;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use boreas_core::command::OUTPUT_TAIL_BYTES;

/// A log file is rotated (to `.1`) when it grows past this.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// Deployment logs kept per app.
pub const KEEP_FILES: usize = 20;
/// Longest line kept whole; longer ones are split.
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// What a secret value is replaced with.
pub const REDACTED: &str = "***";

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// The hook output of one command.
#[derive(Debug)]
pub struct CommandLog {
    path: Option<PathBuf>,
    file: Option<fs::File>,
    /// The file could not be opened or written: the tail only from now on.
    failed: bool,
    written: u64,
    tail: VecDeque<u8>,
    total: u64,
    secrets: Vec<String>,
}

impl CommandLog {
    /// The log of `deployment` under `logs_dir` (the app's log directory), appending to what an
    /// earlier command of the same deployment wrote. The file is created by the first line; one
    /// that cannot be written only costs the on-host copy: the tail is still kept.
    pub fn open(logs_dir: &Path, deployment: &str, secrets: Vec<String>) -> Self {
        let mut log = Self::memory(secrets);
        log.path = Some(logs_dir.join("hooks").join(format!("{deployment}.log")));
        log
    }

    fn ensure_file(&mut self) {
        if self.file.is_some() || self.failed {
            return;
        }
        let Some(path) = self.path.clone() else {
            return;
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        let opened = fs::create_dir_all(dir).and_then(|()| {
            prune(dir, KEEP_FILES.saturating_sub(1), &path);
            fs::OpenOptions::new().create(true).append(true).open(&path)
        });
        match opened {
            Ok(f) => {
                self.written = f.metadata().map_or(0, |m| m.len());
                self.file = Some(f);
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot open the hook log");
                self.failed = true;
            }
        }
    }

    /// A log kept in memory only (nothing on disk).
    pub fn memory(secrets: Vec<String>) -> Self {
        Self {
            path: None,
            file: None,
            failed: false,
            written: 0,
            tail: VecDeque::new(),
            total: 0,
            secrets,
        }
    }

    /// Redacts these values too from now on.
    pub fn add_secrets(&mut self, values: Vec<String>) {
        for v in values {
            if !self.secrets.contains(&v) {
                self.secrets.push(v);
            }
        }
        // Longest first, so a value containing another is replaced whole.
        self.secrets.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }

    /// The file on the host, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// A line the agent writes itself (`== validate: …`).
    pub fn note(&mut self, text: &str) {
        self.push(format!("== {text}\n").as_bytes());
    }

    /// One line of a hook's output (without its newline).
    pub fn line(&mut self, stream: Stream, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let mut text = self.redact(&text);
        if stream == Stream::Stderr {
            text.insert_str(0, "[stderr] ");
        }
        text.push('\n');
        self.push(text.as_bytes());
    }

    fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len() as u64;
        self.tail.extend(bytes);
        let excess = self.tail.len().saturating_sub(OUTPUT_TAIL_BYTES);
        self.tail.drain(..excess);
        self.write(bytes);
    }

    fn write(&mut self, bytes: &[u8]) {
        self.ensure_file();
        if self.written >= MAX_FILE_BYTES {
            self.rotate();
        }
        if let Some(file) = &mut self.file {
            match file.write_all(bytes) {
                Ok(()) => self.written += bytes.len() as u64,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot write the hook log; keeping the tail only");
                    self.file = None;
                    self.failed = true;
                }
            }
        }
    }

    fn rotate(&mut self) {
        let Some(path) = &self.path else { return };
        let old = path.with_extension("log.1");
        self.file = fs::rename(path, &old)
            .and_then(|()| fs::OpenOptions::new().create(true).append(true).open(path))
            .inspect_err(|e| tracing::warn!(error = %e, "cannot rotate the hook log"))
            .ok();
        self.failed = self.file.is_none();
        self.written = 0;
    }

    /// Whether anything was logged.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The last [`OUTPUT_TAIL_BYTES`] (cut at a character boundary) and whether earlier output
    /// was cut off.
    pub fn tail(&self) -> (String, bool) {
        let bytes: Vec<u8> = self.tail.iter().copied().collect();
        let truncated = self.total > bytes.len() as u64;
        // A cut may have split a character: skip to the first that starts cleanly.
        let start = if truncated {
            bytes
                .iter()
                .position(|b| (*b as i8) >= -0x40)
                .unwrap_or(bytes.len())
        } else {
            0
        };
        (
            String::from_utf8_lossy(&bytes[start..]).into_owned(),
            truncated,
        )
    }
}

/// Removes the oldest deployment logs in `dir` beyond `keep`, `current` not counted.
fn prune(dir: &Path, keep: usize, current: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut logs: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log") && p != current)
        .filter_map(|p| Some((fs::metadata(&p).ok()?.modified().ok()?, p)))
        .collect();
    if logs.len() <= keep {
        return;
    }
    logs.sort();
    let remove = logs.len() - keep;
    for (_, path) in logs.into_iter().take(remove) {
        let _ = fs::remove_file(&path);
        let _ = fs::remove_file(path.with_extension("log.1"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_bytes_and_secrets_never_show() {
        let tmp = tempfile::tempdir().unwrap();
        let mut log = CommandLog::open(tmp.path(), "d-1", vec!["s3cr3t-value".into()]);
        log.note("before_install: ./prepare");
        log.line(Stream::Stdout, b"connecting with s3cr3t-value");
        log.line(Stream::Stderr, b"warning");
        let (tail, truncated) = log.tail();
        assert!(!truncated);
        assert_eq!(
            tail,
            "== before_install: ./prepare\nconnecting with ***\n[stderr] warning\n"
        );
        let on_disk = fs::read_to_string(tmp.path().join("hooks/d-1.log")).unwrap();
        assert_eq!(on_disk, tail);

        let line = "é".repeat(1000);
        for _ in 0..100 {
            log.line(Stream::Stdout, line.as_bytes());
        }
        let (tail, truncated) = log.tail();
        assert!(truncated);
        assert!(tail.len() <= OUTPUT_TAIL_BYTES && tail.len() > OUTPUT_TAIL_BYTES - 4);
        assert!(tail.ends_with(&format!("{line}\n")));
        assert!(
            !tail.contains('\u{fffd}'),
            "a split character shows as garbage"
        );
    }

    #[test]
    fn files_rotate_and_old_deployments_go() {
        let tmp = tempfile::tempdir().unwrap();
        for i in 0..KEEP_FILES + 5 {
            let mut log = CommandLog::open(tmp.path(), &format!("d-{i:03}"), Vec::new());
            log.note("x");
            // Distinct modification times order the pruning.
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let mut names: Vec<String> = fs::read_dir(tmp.path().join("hooks"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), KEEP_FILES);
        assert_eq!(names[0], "d-005.log");

        let mut log = CommandLog::open(tmp.path(), "big", Vec::new());
        let chunk = "x".repeat(MAX_LINE_BYTES - 1);
        let mut written = 0;
        while written < MAX_FILE_BYTES {
            log.line(Stream::Stdout, chunk.as_bytes());
            written += chunk.len() as u64 + 1;
        }
        log.note("after rotation");
        let rotated = tmp.path().join("hooks/big.log.1");
        assert!(fs::metadata(&rotated).unwrap().len() >= MAX_FILE_BYTES);
        assert_eq!(
            fs::read_to_string(tmp.path().join("hooks/big.log")).unwrap(),
            "== after rotation\n"
        );
    }
}
