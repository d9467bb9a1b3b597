//! The `connection` target: one in-process server, driven over loopback TCP by a script
//! of client actions, with every response checked against the framing model.
//!
//! Over loopback rather than an in-memory transport: the runtime (src/runtime/) is built
//! on mio's `TcpStream` and has no transport seam, and the fuzzing work must not change
//! src/. Each run is bounded (at most 20 actions, short waits); the server is started
//! once per fuzzing process.
//!
//! Invariants checked (a violation panics, which libFuzzer records as a crash):
//! - every response is HTTP/1.1 with exactly one Content-Length (and Content-Type, Date,
//!   Cache-Control), and responses come one per request, in request order, with the
//!   status SPEC §4–5 gives that request (for menu requests, also the marker in its body);
//! - nothing arrives after a `Connection: close` response, and the server only closes
//!   when it said so, rejected the stream, timed out, or we closed first; after our FIN
//!   it answers what it holds and closes within 5 s;
//! - at most one `100 Continue`, and only for a request that asked for it;
//! - reads in the home zone match every acknowledged write (no torn or stale snapshot);
//! - after each run, /health still answers on a fresh connection.

pub mod actions;
pub mod client;
pub mod expect;
pub mod menu;
mod session;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use availability_server::config::Config;
use availability_server::server::ServerHandle;

use actions::Script;
use expect::Mirror;

/// Server head/body timeout; a stall action sleeps past it. Twice the longest run
/// without stalls (20 reads of at most 49 ms), so only stalls normally reach it.
pub const HEAD_TIMEOUT_MS: u64 = 2000;
/// Server keep-alive idle timeout; only many stalls in a row reach it.
pub const IDLE_TIMEOUT_MS: u64 = 10_000;

struct Fixture {
    /// Kept (never shut down) so the server serves until the process exits and its
    /// memory stays reachable (LeakSanitizer).
    _handle: ServerHandle,
    addr: SocketAddr,
    mirror: Mutex<Mirror>,
}

/// The server, started on first use and kept for the life of the process. Its data
/// directory is under `AVAILABILITY_FUZZ_DIR` (else the system temp directory).
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let parent =
            std::env::var_os("AVAILABILITY_FUZZ_DIR").map_or_else(std::env::temp_dir, Into::into);
        let dir = parent.join(format!("availability-fuzz-conn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut config = Config::for_tests(dir);
        // One worker: a worker that hangs then fails the /health check at once.
        config.workers = 1;
        config.rate_limit_burst = 0;
        config.api_key = Some(menu::API_KEY.to_string());
        // Never lock out the (deliberately) wrong keys: statuses stay predictable.
        config.auth_fail_burst = 1_000_000;
        config.auth_fail_refill_ms = 1;
        config.header_timeout_ms = HEAD_TIMEOUT_MS;
        config.body_timeout_ms = HEAD_TIMEOUT_MS;
        config.idle_timeout_ms = IDLE_TIMEOUT_MS;
        config.write_timeout_ms = 10_000;
        let handle = availability_server::server::start(config).expect("the server starts");
        let addr = handle.http_addr.expect("a plain HTTP listener");
        Fixture {
            _handle: handle,
            addr,
            mirror: Mutex::new(Mirror::new()),
        }
    })
}

/// One fuzzing run.
pub fn run(script: &Script) {
    let fixture = fixture();
    let mut mirror = fixture
        .mirror
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut session = session::Session::open(fixture.addr);
    for action in &script.0 {
        if let actions::Action::Reconnect = action {
            session.finish(&mut mirror);
            session = session::Session::open(fixture.addr);
        } else {
            session.act(action, &mut mirror);
        }
    }
    session.finish(&mut mirror);
    drop(mirror);
    check_health(fixture.addr);
}

/// GET /health on a fresh connection must answer 200 within 3 s.
fn check_health(addr: SocketAddr) {
    let mut stream = TcpStream::connect(addr).expect("connect for /health");
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("read timeout");
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: f\r\nConnection: close\r\n\r\n")
        .expect("send /health");
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    assert!(
        read.is_ok()
            && answer.starts_with(b"HTTP/1.1 200 ")
            && answer.ends_with(b"{\"status\":\"ok\"}"),
        "the server no longer answers /health on a fresh connection: {read:?}, {:?}",
        String::from_utf8_lossy(&answer)
    );
}
