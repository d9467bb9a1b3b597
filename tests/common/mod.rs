//! Shared harness for black-box tests: an in-process server on an ephemeral
//! port and a small blocking HTTP/1.1 client over real sockets (`client.rs`), and
//! temporary directories (`temp.rs`).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use availability_server::config::Config;
use availability_server::server::{self, ServerHandle};

mod client;
mod temp;
// Each test crate uses a different part of the harness.
#[allow(unused_imports)]
pub use client::{Client, Response, get, patch, patch_with_authorization, read_until_closed};
#[allow(unused_imports)]
pub use temp::{TempDir, created_dir, temp_dir};

pub const API_KEY: &str = "test-key-0123456789";

pub struct TestServer {
    pub handle: ServerHandle,
    pub dir: PathBuf,
    pub addr: SocketAddr,
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

impl TestServer {
    /// The admin listener's address (the server must have been started with
    /// [`with_admin`]).
    pub fn admin(&self) -> SocketAddr {
        self.handle
            .admin_addr
            .expect("an admin listener: start the server with common::with_admin")
    }
}

/// A `tweak` step that adds the admin listener on an ephemeral port; read its
/// address with [`TestServer::admin`].
pub fn with_admin(config: &mut Config) {
    config.admin_listen = Some("127.0.0.1:0".parse().expect("addr"));
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.handle.shutdown();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
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
