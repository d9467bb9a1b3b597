//! The `connection` target: the whole server (store, writer thread, handlers, the
//! worker's connection state machine) with its worker on the in-memory transport of
//! `availability_server::runtime::sim`, driven by a script of client actions, with
//! every response checked against the framing model.
//!
//! No sockets and no sleeps: pauses and stalls move a virtual clock, so a stall past
//! the head timeout costs nothing and timeouts fire exactly when due. The only real
//! waiting is for the writer thread's durable commit of a PATCH. Each connection of a
//! run gets send/receive windows of 64 KiB, 4 KiB or 333 bytes (picked from the script
//! length and the connection's number), so full buffers and blocked writes are common.
//! Under [`Transport::Alternate`] (the fuzz target's) every second connection speaks
//! TLS through a rustls client (`tls.rs`); the script's actions are its plaintext, and
//! the same invariants hold, plus: every record the server sends decrypts.
//!
//! Invariants checked (a violation panics, which libFuzzer records as a crash):
//! - every response is HTTP/1.1 with exactly one Content-Length (and Content-Type, Date,
//!   Cache-Control), and responses come one per request, in request order, with the
//!   status SPEC §4–5 gives that request (for menu requests, also the marker in its body);
//! - nothing arrives after a `Connection: close` response, and the server only closes
//!   when it said so, rejected the stream, timed out, or we closed first; after our FIN
//!   it answers what it holds and closes, never going 5 s without sending a byte;
//! - at most one `100 Continue`, and only for a request that asked for it;
//! - reads in the home zone match every acknowledged write (no torn or stale snapshot);
//! - after each run, /health still answers on a fresh connection.

pub mod actions;
pub mod client;
pub mod expect;
pub mod menu;
mod session;
pub mod tls;

use std::cell::RefCell;

use availability_server::config::Config;
use availability_server::server::{SimServer, start_sim};

use actions::Script;
use client::{ReadEnd, Wire};
use expect::Mirror;
use tls::TlsSetup;

/// Server head/body timeout; a stall action moves the clock past it.
pub const HEAD_TIMEOUT_MS: u64 = 2000;
/// Server keep-alive idle timeout; only several stalls in a row reach it.
pub const IDLE_TIMEOUT_MS: u64 = 10_000;
/// The server's timer wheel tick: timers fire up to this late, never early.
pub const TIMER_TICK_MS: u64 = 100;
/// Longer than any run's virtual time (20 stalls of 2.3 s plus the waits, where time
/// moves only while nothing arrives), so a
/// client that is slow to read is never cut off.
const WRITE_TIMEOUT_MS: u64 = 120_000;
/// Send/receive windows a connection may get.
const WINDOWS_BYTES: [usize; 3] = [64 * 1024, 4096, 333];

struct Fixture {
    server: SimServer,
    mirror: Mirror,
    tls: TlsSetup,
}

/// Which connections of a run speak TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Plain,
    /// Every connection; the client's close is a `close_notify` and a FIN for scripts
    /// of even length, a bare FIN for odd ones.
    Tls,
    /// The fuzz target's mix: the first connection plain (as every committed
    /// regression was found), then TLS and plain in turn after each reconnect.
    Alternate,
}

impl Transport {
    fn tls_for(self, connection: usize) -> bool {
        match self {
            Transport::Plain => false,
            Transport::Tls => true,
            Transport::Alternate => connection % 2 == 1,
        }
    }
}

/// Stops this thread's server, if one was started, and removes its data directory.
/// A fuzzer never calls it (its server lives as long as the process); the seed
/// replay does, so that `cargo test` leaves nothing behind in the temp directory.
pub fn stop() {
    if let Some(Fixture { server, .. }) = FIXTURE.with(|cell| cell.borrow_mut().take()) {
        stop_and_remove(server);
    }
}

/// Drops `server` (its writer thread is joined) and removes its data directory.
pub fn stop_and_remove(server: SimServer) {
    let dir = server.data_dir().to_path_buf();
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

thread_local! {
    /// The server, started on first use and kept for the life of the process (its
    /// week persists across runs, mirrored). Thread-local: the in-memory transport is
    /// single-threaded, like the worker it stands in for. Its data directory is under
    /// `AVAILABILITY_FUZZ_DIR` (else the system temp directory).
    static FIXTURE: RefCell<Option<Fixture>> = const { RefCell::new(None) };
}

/// The configuration both connection targets start from: one worker, the menu's
/// API key, no rate limits, and a fresh data directory named after `target` under
/// `AVAILABILITY_FUZZ_DIR` (else the system temp directory).
pub fn sim_config(target: &str) -> Config {
    let parent =
        std::env::var_os("AVAILABILITY_FUZZ_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = parent.join(format!("availability-fuzz-{target}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = Config::for_tests(dir);
    config.workers = 1;
    config.rate_limit_burst = 0;
    config.api_key = Some(menu::API_KEY.to_string());
    // Never lock out the (deliberately) wrong keys: statuses stay predictable.
    config.auth_fail_burst = 1_000_000;
    config.auth_fail_refill_ms = 1;
    config
}

fn start() -> Fixture {
    let mut config = sim_config("conn");
    config.header_timeout_ms = HEAD_TIMEOUT_MS;
    config.body_timeout_ms = HEAD_TIMEOUT_MS;
    config.idle_timeout_ms = IDLE_TIMEOUT_MS;
    config.write_timeout_ms = WRITE_TIMEOUT_MS;
    // A small table: every run must close what it opened, or the next cannot connect.
    config.max_connections = 4;
    let server = start_sim(config).expect("the server starts");
    let tls = TlsSetup::new(server.data_dir());
    Fixture {
        server,
        mirror: Mirror::new(),
        tls,
    }
}

/// One fuzzing run, its connections over `transport`.
pub fn run(script: &Script, transport: Transport) {
    FIXTURE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let Fixture {
            server,
            mirror,
            tls,
        } = slot.get_or_insert_with(start);
        let window = |n: usize| WINDOWS_BYTES[(script.0.len() + n) % WINDOWS_BYTES.len()];
        let close_notify = script.0.len().is_multiple_of(2);
        let tls_for = |n: usize| transport.tls_for(n).then_some((&*tls, close_notify));
        let mut connections = 0;
        let mut session = session::Session::open(server, window(0), tls_for(0));
        for action in &script.0 {
            if let actions::Action::Reconnect = action {
                session.finish(mirror);
                connections += 1;
                session = session::Session::open(server, window(connections), tls_for(connections));
            } else {
                session.act(action, mirror);
            }
        }
        session.finish(mirror);
        assert_eq!(
            server.worker.open_connections(),
            0,
            "a connection outlived its run"
        );
        check_health(server);
    });
}

/// GET /health on a fresh connection must answer 200 at once.
pub fn check_health(server: &mut SimServer) {
    let mut wire = Wire::connect(server, WINDOWS_BYTES[0]);
    let request = b"GET /health HTTP/1.1\r\nHost: f\r\nConnection: close\r\n\r\n";
    assert_eq!(wire.send_counted(server, request), request.len());
    wire.read_available(server);
    assert!(
        wire.end == ReadEnd::Eof
            && wire.buf.starts_with(b"HTTP/1.1 200 ")
            && wire.buf.ends_with(b"{\"status\":\"ok\"}"),
        "the server no longer answers /health on a fresh connection: {:?}",
        String::from_utf8_lossy(&wire.buf)
    );
}
