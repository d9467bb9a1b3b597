//! A tiny blocking std::net HTTP/1.1 server for black-box tests of the loadgen binary:
//! one thread per connection, fixed answers chosen by a handler, counters to compare
//! with what loadgen reports.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// A parsed request as the handler sees it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

/// What to send back; `close` ends the connection after it (lingering close).
pub struct Reply {
    pub bytes: Vec<u8>,
    pub close: bool,
}

/// `index` counts requests on this connection from 0. `None` = never answer.
pub type Handler = fn(&Req, u64) -> Option<Reply>;

/// What the server saw.
#[derive(Default)]
pub struct Served {
    pub received: AtomicU64,
    pub answered: AtomicU64,
    pub connections: AtomicU64,
    pub by_path: Mutex<HashMap<String, u64>>,
}

pub struct Server {
    pub addr: SocketAddr,
    pub served: Arc<Served>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn answered(&self) -> u64 {
        self.served.answered.load(Ordering::SeqCst)
    }

    pub fn path_count(&self, path: &str) -> u64 {
        let map = self.served.by_path.lock().expect("lock");
        map.get(path).copied().unwrap_or(0)
    }
}

/// A response with a fixed body and Content-Length.
pub fn fixed(status: &str, body: &str, extra: &str) -> Reply {
    Reply {
        bytes: format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{extra}\r\n{body}",
            body.len()
        )
        .into_bytes(),
        close: extra.to_ascii_lowercase().contains("connection: close"),
    }
}

/// The handler that answers every request `200 ok`.
pub fn ok_handler(_: &Req, _: u64) -> Option<Reply> {
    Some(fixed("200 OK", "ok", ""))
}

/// Starts a plain-HTTP server on an ephemeral loopback port.
pub fn spawn(handler: Handler) -> Server {
    spawn_with(handler, None)
}

/// Starts a server; with `tls`, every connection is wrapped in rustls.
pub fn spawn_with(handler: Handler, tls: Option<Arc<rustls::ServerConfig>>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let served = Arc::new(Served::default());
    let counters = served.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            counters.connections.fetch_add(1, Ordering::SeqCst);
            let counters = counters.clone();
            let tls = tls.clone();
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let raw = stream.try_clone().expect("clone socket");
                match tls {
                    None => serve(stream, handler, &counters, raw),
                    Some(config) => {
                        let conn = rustls::ServerConnection::new(config).expect("tls conn");
                        serve(
                            rustls::StreamOwned::new(conn, stream),
                            handler,
                            &counters,
                            raw,
                        )
                    }
                }
            });
        }
    });
    Server { addr, served }
}

/// Serves one connection until the client leaves or a reply says close.
fn serve<S: Read + Write>(stream: S, handler: Handler, served: &Served, raw: TcpStream) {
    let mut reader = BufReader::new(stream);
    let mut index = 0u64;
    loop {
        let Some(req) = read_request(&mut reader) else {
            return;
        };
        served.received.fetch_add(1, Ordering::SeqCst);
        *served
            .by_path
            .lock()
            .expect("lock")
            .entry(req.path.clone())
            .or_default() += 1;
        let Some(reply) = handler(&req, index) else {
            continue; // never answer; keep reading so a client close ends the thread
        };
        index += 1;
        // Counted before the write: a client can read the answer and exit, and the test
        // look at the count, before this thread runs again (a write that fails is taken back).
        served.answered.fetch_add(1, Ordering::SeqCst);
        let stream = reader.get_mut();
        if stream
            .write_all(&reply.bytes)
            .and_then(|()| stream.flush())
            .is_err()
        {
            served.answered.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        if reply.close {
            return lingering_close(reader, &raw);
        }
    }
}

/// Half-close, then read and discard until the client closes: dropping a socket with
/// unread (pipelined) requests would send RST and could destroy the last answer.
fn lingering_close<S: Read + Write>(mut reader: BufReader<S>, raw: &TcpStream) {
    let _ = reader.get_mut().flush();
    let _ = raw.shutdown(Shutdown::Write);
    let _ = raw.set_read_timeout(Some(Duration::from_millis(200)));
    let mut sink = [0u8; 4096];
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        match reader.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn read_request<R: BufRead>(reader: &mut R) -> Option<Req> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = HashMap::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let len: usize = headers
        .get("content-length")
        .map_or(Some(0), |v| v.parse().ok())?;
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).ok()?;
    Some(Req {
        method,
        path,
        headers,
        body,
    })
}

/// Runs the built binary with `--json -q --no-pin` plus `args`; returns its one JSON object.
pub fn loadgen_json(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--json", "-q", "--no-pin"])
        .args(args)
        .output()
        .expect("run loadgen");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "loadgen failed: {stderr}");
    // from_slice rejects trailing non-whitespace: stdout must be exactly one object.
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Runs the binary expecting failure; returns (exit code, stderr).
pub fn loadgen_fails(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["-q", "--no-pin"])
        .args(args)
        .output()
        .expect("run loadgen");
    assert!(!out.status.success(), "loadgen unexpectedly succeeded");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `v[a][b]…` as u64 (panics with the JSON if absent: a schema check in itself).
pub fn num(v: &Value, path: &[&str]) -> u64 {
    let mut cur = v;
    for key in path {
        cur = &cur[*key];
    }
    cur.as_u64()
        .unwrap_or_else(|| panic!("{path:?} is not a number in {v}"))
}
