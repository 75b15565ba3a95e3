//! Git repositories for tests and benchmarks: the git CLI run in a directory, working
//! repositories with deterministic commits, and a smart-HTTP server (`git http-backend` behind a
//! minimal CGI-speaking HTTP/1.1 server on 127.0.0.1).

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;

use crate::http::read_request;

/// Runs git in `dir` (ignoring the machine's system configuration), panicking with its output
/// when it fails; returns its trimmed standard output.
pub fn git(dir: &Path, args: &[&str]) -> String {
    run(dir, args, &[])
}

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run git: {e}"));
    assert!(
        out.status.success(),
        "git {args:?} in {} failed:\n{}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A working repository in a temporary directory, driven by the git CLI.
#[derive(Debug)]
pub struct GitRepo {
    /// The working tree.
    pub dir: PathBuf,
}

impl GitRepo {
    /// `git init` of `root/name` with one branch, `main`.
    pub fn init(root: &Path, name: &str) -> Self {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let repo = Self { dir };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "user.name", "Boreas Test"]);
        repo.git(&["config", "user.email", "test@example.invalid"]);
        repo.git(&["config", "commit.gpgsign", "false"]);
        repo
    }

    /// Runs git in the repository with fixed author and committer dates, so that the same
    /// steps make the same commit ids; panics when it fails, returns its trimmed standard output.
    pub fn git(&self, args: &[&str]) -> String {
        const DATE: &str = "2026-01-01T00:00:00Z";
        run(
            &self.dir,
            args,
            &[("GIT_COMMITTER_DATE", DATE), ("GIT_AUTHOR_DATE", DATE)],
        )
    }

    /// Writes files (path, content) and commits them all; returns the commit id.
    pub fn commit(&self, message: &str, files: &[(&str, &str)]) -> String {
        for (path, content) in files {
            let path = self.dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.head()
    }

    /// The commit id of HEAD.
    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    /// An annotated tag on HEAD.
    pub fn tag(&self, name: &str) {
        self.git(&["tag", "-a", "-m", name, name]);
    }

    /// The repository's `file://` URL.
    pub fn file_url(&self) -> String {
        format!("file://{}", self.dir.display())
    }
}

/// `git http-backend` served over HTTP/1.1 on 127.0.0.1, one request per connection. Every
/// repository directory under `root` is exported. Stopped (and its thread joined) on drop.
#[derive(Debug)]
pub struct GitHttpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl GitHttpServer {
    pub fn start(root: &Path) -> Self {
        Self::serve_with(root, None)
    }

    /// Like [`GitHttpServer::start`], but every request must carry HTTP basic authentication
    /// with this user name and password; others are answered 401 with a `WWW-Authenticate`
    /// challenge, as GitHub, GitLab and Gitea answer a private repository's anonymous fetch.
    pub fn start_with_basic(root: &Path, username: &str, password: &str) -> Self {
        let expected = format!(
            "Basic {}",
            base64(format!("{username}:{password}").as_bytes())
        );
        Self::serve_with(root, Some(expected))
    }

    fn serve_with(root: &Path, authorization: Option<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let root = root.to_owned();
        let thread = {
            let (stop, requests) = (Arc::clone(&stop), Arc::clone(&requests));
            std::thread::spawn(move || {
                let mut workers = Vec::new();
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    requests.fetch_add(1, Ordering::SeqCst);
                    let root = root.clone();
                    let authorization = authorization.clone();
                    workers.push(std::thread::spawn(move || {
                        if let Err(e) = serve(stream, &root, authorization.as_deref()) {
                            eprintln!("git http server: {e}");
                        }
                    }));
                }
                for w in workers {
                    let _ = w.join();
                }
            })
        };
        Self {
            addr,
            stop,
            requests,
            thread: Some(thread),
        }
    }

    /// The URL of repository directory `name` under the root.
    pub fn url(&self, name: &str) -> String {
        format!("http://{}/{name}", self.addr)
    }

    /// HTTP requests served so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Standard base64 with padding (RFC 4648), for the basic authentication header.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Serves one request through `git http-backend` (CGI/1.1), after checking its basic
/// authentication when `authorization` (the header's expected value) is given.
fn serve(stream: TcpStream, root: &Path, authorization: Option<&str>) -> std::io::Result<()> {
    let request = read_request(&mut BufReader::new(stream.try_clone()?))?;
    let header = |name: &str| request.header(name).map(str::to_owned);
    let (method, target, body) = (&request.method, &request.target, request.body.clone());
    if let Some(expected) = authorization
        && header("authorization").as_deref() != Some(expected)
    {
        let mut stream = stream;
        stream.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"boreas-test\"\r\n\
              Content-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
        return stream.flush();
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut cgi = Command::new("git");
    cgi.arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REQUEST_METHOD", method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("CONTENT_TYPE", header("content-type").unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(protocol) = header("git-protocol") {
        cgi.env("HTTP_GIT_PROTOCOL", protocol);
    }
    if let Some(encoding) = header("content-encoding") {
        cgi.env("HTTP_CONTENT_ENCODING", encoding);
    }
    let mut child = cgi.spawn()?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    // Write the body from another thread: the backend may answer before it has read it all.
    let writer = std::thread::spawn(move || stdin.write_all(&body));
    let mut output = Vec::new();
    child
        .stdout
        .take()
        .expect("piped stdout")
        .read_to_end(&mut output)?;
    child.wait()?;
    let _ = writer.join();

    let split = output
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| output.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)))
        .ok_or_else(|| std::io::Error::other("CGI output without a header end"))?;
    let (head, content) = (&output[..split.0], &output[split.0 + split.1..]);
    let mut status = "200 OK".to_owned();
    let mut response = Vec::new();
    let mut out_headers = String::new();
    for h in String::from_utf8_lossy(head).lines() {
        match h.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("status") => status = v.trim().to_owned(),
            Some(_) => out_headers.push_str(&format!("{h}\r\n")),
            None => {}
        }
    }
    response.extend_from_slice(
        format!(
            "HTTP/1.1 {status}\r\n{out_headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
            content.len()
        )
        .as_bytes(),
    );
    response.extend_from_slice(content);
    let mut stream = stream;
    stream.write_all(&response)?;
    stream.flush()
}
