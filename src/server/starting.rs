//! The admin listener's answers while the server prepares (the data file, the API
//! key's bcrypt hash, the first snapshot of every zone): `/ready` is 503 "starting",
//! `/health` 200, anything else 503 with `Retry-After`. SPEC §4 asks for a 503 while
//! starting, and a probe that gets "connection refused" cannot tell a slow start (a
//! high `--bcrypt-cost` takes seconds) from a dead process. The workers cannot answer
//! yet: their handlers read the snapshot.
//!
//! Deliberately small and blocking, one connection at a time with short timeouts and
//! `Connection: close`: it lives for the start-up only, and it is not a read path.
//! [`Starting::finish`] hands the listener, backlog intact, to the workers.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::http::date::{IMF_FIXDATE_LEN, format_imf_fixdate};
use crate::http::response::{ByteWriter, put_connection, put_date, put_uncached_json_head};

/// How often the accept loop looks at the stop flag while no one connects.
const POLL_INTERVAL_MS: i32 = 10;
/// A client gets this long to send its head and take the answer; the start-up
/// may finish meanwhile, so one slow client must not hold the handover long.
const CLIENT_BUDGET_MS: u64 = 250;
/// The longest head read; a longer one is answered from what arrived.
const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Room for the longest answer: its head and the longest body below.
const RESPONSE_MAX_BYTES: usize = 512;

/// Dropped without [`Starting::finish`] (a failed start), it stops answering and
/// closes the listener.
pub struct Starting {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<TcpListener>>,
}

impl Starting {
    pub fn spawn(listener: TcpListener) -> io::Result<Starting> {
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("admin-starting".into())
            .spawn(move || serve_until(listener, &flag))?;
        Ok(Starting {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops answering (after the connection in hand, if any) and returns the listener.
    pub fn finish(mut self) -> TcpListener {
        self.stop.store(true, Ordering::Release);
        let thread = self.thread.take().expect("finished once");
        match thread.join() {
            Ok(listener) => listener,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for Starting {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve_until(listener: TcpListener, stop: &AtomicBool) -> TcpListener {
    while !stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((stream, _)) => {
                // A client that vanished or stalled only loses its own answer.
                let _ = answer(stream);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_readable(&listener),
            // Out of descriptors or the like: back off instead of spinning.
            Err(_) => std::thread::sleep(Duration::from_millis(POLL_INTERVAL_MS as u64)),
        }
    }
    listener
}

fn wait_readable(listener: &TcpListener) {
    let mut fds = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, for a descriptor the listener keeps open.
    unsafe { libc::poll(&mut fds, 1, POLL_INTERVAL_MS) };
}

fn answer(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    let deadline = Instant::now() + Duration::from_millis(CLIENT_BUDGET_MS);
    let mut head = [0u8; MAX_HEAD_BYTES];
    let mut len_bytes = 0;
    let target = loop {
        let mut fields = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut fields);
        match request.parse(&head[..len_bytes]) {
            Ok(httparse::Status::Complete(_)) => {
                break Some((request.method == Some("HEAD"), route(&request)));
            }
            Ok(httparse::Status::Partial) if len_bytes < head.len() => {}
            _ => break None,
        }
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return Ok(());
        };
        stream.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
        match stream.read(&mut head[len_bytes..])? {
            0 => return Ok(()),
            n => len_bytes += n,
        }
    };
    let (head_only, (status, body)) = match target {
        Some(answer) => answer,
        None => (false, (400, BAD_REQUEST)),
    };
    let mut date = [0u8; IMF_FIXDATE_LEN];
    format_imf_fixdate((crate::unix_now_ms() / 1000) as i64, &mut date);
    let mut buf = [0u8; RESPONSE_MAX_BYTES];
    let mut w = ByteWriter::new(&mut buf);
    put_uncached_json_head(&mut w, status, body.len());
    put_date(&mut w, &date);
    if status == 503 {
        w.put(b"Retry-After: 1\r\n");
    }
    put_connection(&mut w, true, false);
    w.put(b"\r\n");
    if !head_only {
        w.put(body);
    }
    assert!(
        !w.overflowed(),
        "the longest answer fits RESPONSE_MAX_BYTES"
    );
    stream.set_write_timeout(Some(Duration::from_millis(CLIENT_BUDGET_MS)))?;
    stream.write_all(w.written())?;
    stream.shutdown(Shutdown::Write)
}

const HEALTH_OK: &[u8] = b"{\"status\":\"ok\"}";
const READY_STARTING: &[u8] = b"{\"status\":\"starting\"}";
const STARTING: &[u8] =
    b"{\"error\":{\"code\":\"starting\",\"message\":\"the server is starting; retry shortly\"}}";
const BAD_REQUEST: &[u8] =
    b"{\"error\":{\"code\":\"bad_request\",\"message\":\"malformed request head\"}}";

/// The answer to a parsed head: `/health` is up already, nothing else is.
fn route(request: &httparse::Request<'_, '_>) -> (u16, &'static [u8]) {
    let path = request.path.unwrap_or("");
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let read = matches!(request.method, Some("GET" | "HEAD"));
    match path {
        "/health" if read => (200, HEALTH_OK),
        "/ready" if read => (503, READY_STARTING),
        _ => (503, STARTING),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(addr: std::net::SocketAddr, raw: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(raw).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn answers_while_starting_then_hands_the_listener_back() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let starting = Starting::spawn(listener).unwrap();

        let ready = ask(addr, b"GET /ready HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(ready.starts_with("HTTP/1.1 503 "), "{ready}");
        assert!(ready.contains("Retry-After: 1\r\n"), "{ready}");
        assert!(ready.contains("Connection: close\r\n"), "{ready}");
        assert!(ready.contains("Date: "), "{ready}");
        assert!(
            ready.ends_with("\r\n\r\n{\"status\":\"starting\"}"),
            "{ready}"
        );

        let health = ask(addr, b"HEAD /health HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(health.starts_with("HTTP/1.1 200 "), "{health}");
        assert!(health.contains("Content-Length: 15\r\n"), "{health}");
        assert!(health.ends_with("\r\n\r\n"), "HEAD has no body: {health}");

        let metrics = ask(addr, b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(metrics.starts_with("HTTP/1.1 503 "), "{metrics}");
        assert!(metrics.contains("\"code\":\"starting\""), "{metrics}");

        let garbage = ask(addr, b"\x16\x03\x01 not http\r\n\r\n");
        assert!(garbage.starts_with("HTTP/1.1 400 "), "{garbage}");

        // Connected but not yet accepted when the start-up ends: still in the backlog
        // of the listener handed back, answered by whoever accepts from it next.
        let listener = starting.finish();
        let mut waiting = TcpStream::connect(addr).unwrap();
        waiting.write_all(b"GET /ready HTTP/1.1\r\n\r\n").unwrap();
        listener.set_nonblocking(false).unwrap();
        let (mut accepted, _) = listener.accept().unwrap();
        let mut got = [0u8; 22];
        accepted.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"GET /ready HTTP/1.1\r\n\r");
    }

    #[test]
    fn dropped_it_closes_the_listener() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(Starting::spawn(listener).unwrap());
        assert!(
            TcpStream::connect(addr).is_err(),
            "nothing listens any more"
        );
    }

    #[test]
    fn a_silent_client_does_not_hold_the_handover() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let starting = Starting::spawn(listener).unwrap();
        let _silent = TcpStream::connect(addr).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let t0 = Instant::now();
        let _listener = starting.finish();
        assert!(
            t0.elapsed() < Duration::from_millis(CLIENT_BUDGET_MS + 200),
            "finish took {:?}",
            t0.elapsed()
        );
    }
}
