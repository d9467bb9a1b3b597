//! Shared harness for black-box tests: an in-process server on an ephemeral
//! port and a small blocking HTTP/1.1 client over real sockets.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use availability_server::config::Config;
use availability_server::server::{self, ServerHandle};

pub const API_KEY: &str = "test-key-0123456789";

pub struct TestServer {
    pub handle: ServerHandle,
    pub dir: PathBuf,
    pub addr: SocketAddr,
}

/// A test's temporary directory, removed (with everything in it) when dropped: at
/// the end of the test, and also when the test panics, so a failed assertion leaves
/// nothing behind and the test needs no clean-up lines of its own. Declare it before
/// any server or child process using it: locals drop in reverse order, so the
/// directory then outlives them.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The path, no longer removed on drop.
    pub fn keep(self) -> PathBuf {
        let mut this = std::mem::ManuallyDrop::new(self);
        std::mem::take(&mut this.0)
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A unique path under the system temp dir (removed first if present, not created),
/// removed again when the returned guard is dropped.
pub fn temp_dir(tag: &str) -> TempDir {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "avail-test-{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    TempDir(dir)
}

/// Starts a plain-HTTP server (2 workers, bcrypt cost 4, key [`API_KEY`]).
pub fn start(tweak: impl FnOnce(&mut Config)) -> TestServer {
    start_with_hook(tweak, None)
}

/// A connection to `addr` (10 s read timeout) that has sent the head of a PATCH
/// declaring a `content_len_bytes` body, and none of the body.
pub fn patch_head_sent(addr: SocketAddr, content_len_bytes: usize) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let head = format!(
        "PATCH /availability HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {API_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {content_len_bytes}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("head");
    stream
}

/// A server with only the HTTPS listener (on an ephemeral port), its generated
/// certificate in its data directory.
pub fn start_https(tweak: impl FnOnce(&mut Config)) -> TestServer {
    start(|c| {
        c.no_tls = false;
        c.https_listen = Some("127.0.0.1:0".parse().expect("addr"));
        c.http_listen = None;
        tweak(c);
    })
}

pub type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A TLS client connection to `addr` as `localhost`, with a 10 s read timeout (the
/// handshake happens on its first read or write).
pub fn tls_connect(addr: SocketAddr, config: std::sync::Arc<rustls::ClientConfig>) -> TlsStream {
    let name = pki_types::ServerName::try_from("localhost").expect("name");
    let conn = rustls::ClientConnection::new(config, name).expect("client");
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    rustls::StreamOwned::new(conn, tcp)
}

pub fn start_with_hook(tweak: impl FnOnce(&mut Config), hook: Option<fn(usize)>) -> TestServer {
    let dir = temp_dir("srv").keep(); // the server removes it (see its Drop)
    let mut config = Config::for_tests(dir.clone());
    config.api_key = Some(API_KEY.to_string());
    tweak(&mut config);
    let handle = server::start_with_hook(config, hook).expect("server starts");
    let addr = handle.http_addr.or(handle.https_addr).expect("a listener");
    TestServer { handle, dir, addr }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.handle.shutdown();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `error.code` of a JSON error body.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

/// A keep-alive connection that can send raw bytes and read responses.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).expect("send");
    }

    /// `GET path` with Host, keep-alive.
    pub fn get(&mut self, path: &str) -> Response {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        self.read_response(false).expect("a response")
    }

    /// Reads one response (None if the server closed first). `head` = response to HEAD.
    pub fn read_response(&mut self, head: bool) -> Option<Response> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head_text = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                let mut lines = head_text.split("\r\n");
                let status_line = lines.next().unwrap_or("");
                assert!(
                    status_line.starts_with("HTTP/1.1 "),
                    "status line: {status_line:?}"
                );
                let status = status_line[9..12].parse().expect("status code");
                let headers: Vec<(String, String)> = lines
                    .map(|l| {
                        let (n, v) = l.split_once(':').expect("header line has a colon");
                        (n.to_string(), v.trim().to_string())
                    })
                    .collect();
                let len: usize = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .map(|(_, v)| v.parse().expect("content-length"))
                    .unwrap_or(0);
                // A 304's Content-Length is the 200's; it has no body (RFC 9112 §6.3).
                let body_len = if head || status == 304 { 0 } else { len };
                while self.buf.len() < end + 4 + body_len {
                    if !self.fill() {
                        panic!("connection closed inside a response body");
                    }
                }
                let body = self.buf[end + 4..end + 4 + body_len].to_vec();
                self.buf.drain(..end + 4 + body_len);
                return Some(Response {
                    status,
                    headers,
                    body,
                });
            }
            if !self.fill() {
                assert!(
                    self.buf.is_empty(),
                    "partial response before close: {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
                return None;
            }
        }
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => false,
            Err(e) => panic!("read failed: {e}"),
        }
    }

    /// True if the server closed the connection (EOF or reset) within the timeout.
    pub fn is_closed(&mut self) -> bool {
        !self.fill() && self.buf.is_empty()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// One request on a fresh connection.
pub fn get(addr: SocketAddr, path: &str) -> Response {
    Client::connect(addr).get(path)
}

/// A PATCH with the given bearer key (None = no Authorization header).
pub fn patch(addr: SocketAddr, key: Option<&str>, body: &str) -> Response {
    let authorization = key.map(|k| format!("Bearer {k}"));
    patch_with_authorization(addr, authorization.as_deref(), body)
}

/// A PATCH with `authorization` as the whole Authorization value, well-formed or not
/// (None = no Authorization header).
pub fn patch_with_authorization(
    addr: SocketAddr,
    authorization: Option<&str>,
    body: &str,
) -> Response {
    let mut client = Client::connect(addr);
    let auth = authorization
        .map(|value| format!("Authorization: {value}\r\n"))
        .unwrap_or_default();
    client.send(
        format!(
            "PATCH /availability HTTP/1.1\r\nHost: test\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    client.read_response(false).expect("a response")
}

/// Starts a server on an existing data directory (a restart on the same data).
/// Like [`start`], the returned server removes `dir` when dropped.
pub fn start_in(dir: PathBuf, tweak: impl FnOnce(&mut Config)) -> TestServer {
    let mut config = Config::for_tests(dir.clone());
    config.api_key = Some(API_KEY.to_string());
    tweak(&mut config);
    let handle = server::start(config).expect("server restarts");
    let addr = handle.http_addr.or(handle.https_addr).expect("a listener");
    TestServer { handle, dir, addr }
}

/// Shuts `server` down (releasing the data file) and returns its data directory,
/// which is kept: pass it to [`start_in`], whose server removes it in turn.
pub fn stop_keep_dir(mut server: TestServer) -> PathBuf {
    server.handle.shutdown();
    // Drop then removes an empty path, which fails harmlessly; shutting down twice is a no-op.
    std::mem::take(&mut server.dir)
}

impl Client {
    /// Writes without panicking (the server may have closed already).
    pub fn stream_write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }
}

/// The address a server process announced on its `LABEL listening on ADDR` line.
pub fn listening_addr(lines: &[String], label: &str) -> SocketAddr {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(&format!("{label} listening on ")))
        .expect("listening line")
        .parse()
        .expect("address")
}

/// A bcrypt hash of cost 16 (about 5 s per check here) of some key: a wrong key
/// keeps the writer busy long past a drain or a reload's patience.
pub const COST_16_HASH: &str = "$2b$16$87PxCUQsuvwNfPTWNFEGSuSgmKWLoE75yH5wJQG31aL3.qwN8V/Q.";

/// Sends a PATCH with a wrong key (for a [`COST_16_HASH`] server, a ~5 s bcrypt for
/// the writer); does not wait for the answer.
pub fn send_a_wrong_key(addr: SocketAddr) -> Client {
    let body = r#"{"slots":[{"day":0,"slot":0,"status":"maybe"}]}"#;
    let mut client = Client::connect(addr);
    client.send(
        format!(
            "PATCH /availability HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer not-the-key\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    client
}

/// The lines a spawned child writes to its piped stdout and stderr, merged, as they
/// come (one reader thread per stream; the channel closes when both streams end).
pub fn output_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, lines) = std::sync::mpsc::channel();
    let outs: [Box<dyn Read + Send>; 2] = [
        Box::new(child.stdout.take().expect("piped stdout")),
        Box::new(child.stderr.take().expect("piped stderr")),
    ];
    for out in outs {
        let tx = tx.clone();
        std::thread::spawn(move || {
            std::io::BufReader::new(out)
                .lines()
                .map_while(Result::ok)
                .for_each(|l| drop(tx.send(l)))
        });
    }
    lines
}

/// One cell, for tests that need some valid PATCH body.
pub const ONE_CELL: &str = r#"{"slots":[{"day":1,"slot":1,"status":"maybe"}]}"#;

/// A raw PATCH of [`ONE_CELL`] with the right key, over HTTP/`version`, with
/// `extra_headers` (each ending in CRLF) before its Content-Length.
pub fn patch_request(version: &str, extra_headers: &str) -> String {
    format!(
        "PATCH /availability HTTP/{version}\r\nHost: t\r\nAuthorization: Bearer {API_KEY}\r\n\
         {extra_headers}Content-Length: {}\r\n\r\n{ONE_CELL}",
        ONE_CELL.len()
    )
}

/// The Monday of the week containing today in `tz`, computed independently with
/// chrono-tz (not with the server's own week code).
pub fn monday_now(tz: chrono_tz::Tz) -> chrono::NaiveDate {
    use chrono::Datelike;
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    today - chrono::Days::new(u64::from(today.weekday().num_days_from_monday()))
}

/// The wall clock, in whole seconds since the Unix epoch.
pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Sends `signal` to the process `pid` (one this test started) and waits at most
/// 15 s for `child` to exit: the same process, or one that runs it (strace).
pub fn signal_and_wait(
    pid: i32,
    signal: i32,
    child: &mut std::process::Child,
) -> std::process::ExitStatus {
    // SAFETY: kill(2) with a pid of a process this test started.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill {pid}");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no exit within 15 s of signal {signal}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads until EOF or reset, returning what arrived and when the stream ended;
/// panics if it is still open after `limit`.
pub fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let started = std::time::Instant::now();
    stream
        .set_read_timeout(Some(limit))
        .expect("set read timeout");
    let mut got = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return (got, started.elapsed()),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return (got, started.elapsed()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!(
                    "still open after {:?}; got {:?}",
                    started.elapsed(),
                    String::from_utf8_lossy(&got)
                )
            }
            Err(e) => panic!("read failed: {e}"),
        }
        assert!(started.elapsed() < limit, "still sending after {limit:?}");
    }
}
