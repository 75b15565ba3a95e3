//! A minimal HTTP/1.1 server on 127.0.0.1 for the outbound calls Boreas makes to git hosts'
//! APIs: each request is answered by the test's function and recorded, so the test can check
//! what was sent. One request per connection; stopped when dropped.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// A request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The request target: path and query.
    pub target: String,
    /// Header names lowercased, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    ///
    /// # Panics
    /// When it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{} {}: body is not JSON: {e}", self.method, self.target))
    }
}

/// Reads one request (request line, headers, a `Content-Length` or chunked body).
///
/// # Errors
/// The connection fails or the request is malformed.
pub fn read_request(reader: &mut impl BufRead) -> std::io::Result<Request> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let mut request = Request {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    if request
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|e| std::io::Error::other(format!("bad chunk size: {e}")))?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            request.body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = request
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        request.body.resize(len, 0);
        reader.read_exact(&mut request.body)?;
    }
    Ok(request)
}

/// An answer: status code, JSON body and any headers beyond the framing ones.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// JSON body.
    pub body: serde_json::Value,
    /// Extra headers (an AWS request id, say).
    pub headers: Vec<(String, String)>,
}

impl Response {
    /// `status` with a body that is not JSON (a Prometheus exposition, say): `text`, sent as it
    /// is with `content_type`.
    pub fn text(status: u16, content_type: &str, text: &str) -> Self {
        Self {
            status,
            body: serde_json::Value::String(text.to_owned()),
            headers: vec![("Content-Type".to_owned(), content_type.to_owned())],
        }
    }

    /// `status` with `body` and no extra headers.
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Self {
            status,
            body,
            headers: Vec::new(),
        }
    }
}

type Handler = dyn Fn(&Request) -> Response + Send + Sync;

/// The recording server.
pub struct RecordingServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Request>>>,
    thread: Option<JoinHandle<()>>,
}

impl RecordingServer {
    /// Serves on a free port of 127.0.0.1, answering each request with `handler`.
    pub fn start(handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let thread = {
            let (stop, seen) = (Arc::clone(&stop), Arc::clone(&seen));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    if let Err(e) = answer(stream, &*handler, &seen) {
                        eprintln!("recording server: {e}");
                    }
                }
            })
        };
        Self {
            addr,
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests received so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn answer(stream: TcpStream, handler: &Handler, seen: &Mutex<Vec<Request>>) -> std::io::Result<()> {
    let request = read_request(&mut BufReader::new(stream.try_clone()?))?;
    let response = handler(&request);
    seen.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(request);
    // A string body with a type of its own is sent as it is ([`Response::text`]).
    let typed = response
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    let body = match &response.body {
        serde_json::Value::String(text) if typed => text.clone(),
        json => json.to_string(),
    };
    let content_type = if typed {
        ""
    } else {
        "Content-Type: application/json\r\n"
    };
    let extra: String = response
        .headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {} X\r\n{content_type}Content-Length: {}\r\n\
         {extra}Connection: close\r\n\r\n{body}",
        response.status,
        body.len()
    )?;
    stream.flush()
}

/// Sends `request` on to `upstream` (`http://host:port`) and returns its answer: a handler that
/// makes the recording server a proxy, which a test can make fail chosen requests instead.
///
/// # Panics
/// When the upstream cannot be reached or answers something that is not HTTP.
pub fn forward(upstream: &str, request: &Request) -> Response {
    let addr = upstream.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{upstream}: {e}"));
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method, request.target);
    for (k, v) in &request.headers {
        if !matches!(
            k.as_str(),
            "connection" | "content-length" | "transfer-encoding"
        ) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        request.body.len()
    ));
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&request.body).unwrap();
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut stream, &mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{upstream} answered no HTTP head"));
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{upstream} answered no status: {head}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        // The body is re-encoded: a checksum of the upstream's bytes would no longer hold.
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "content-type" | "content-length" | "connection" | "transfer-encoding"
            ) && !k.starts_with("x-amz-checksum-")
        })
        .collect();
    let body = serde_json::from_slice(&raw[split + 4..]).unwrap_or(serde_json::json!({}));
    Response {
        status,
        body,
        headers,
    }
}

impl std::fmt::Debug for RecordingServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for RecordingServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What DynamoDB answered through a [`dynamodb_reads`] proxy: per request, the operation
/// (`Query`, `GetItem`, …) and the items its answer returned.
pub type DynamoReads = Arc<Mutex<Vec<(String, u64)>>>;

/// A proxy in front of the DynamoDB endpoint `upstream` that records, per request, the operation
/// and the items returned (a Query's `Count`, 1 for a `GetItem` that found its item, else 0): what
/// DynamoDB bills and waits for.
pub fn dynamodb_reads(upstream: &str) -> (RecordingServer, DynamoReads) {
    let reads = DynamoReads::default();
    let (seen, upstream) = (reads.clone(), upstream.to_owned());
    let proxy = RecordingServer::start(move |r| {
        let res = forward(&upstream, r);
        let op = r.header("x-amz-target").unwrap_or_default();
        let op = op.rsplit('.').next().unwrap_or_default().to_owned();
        let items = match res.body.get("Count") {
            Some(count) => count.as_u64().unwrap_or_default(),
            None => u64::from(res.body.get("Item").is_some()),
        };
        seen.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((op, items));
        res
    });
    (proxy, reads)
}
