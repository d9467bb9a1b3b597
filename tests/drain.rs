//! The drain (SIGTERM, SIGINT, `ServerHandle::shutdown`): requests already arriving
//! are finished, `/ready` says draining, and nothing holds the exit past the drain
//! timeout.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::Client;

/// A request still arriving when the drain starts is finished, and `/ready` then
/// says 503 draining (and the connection closes).
#[test]
fn an_in_flight_request_finishes_during_drain() {
    let server = common::start(|c| c.drain_timeout_ms = 5000);
    let mut client = Client::connect(server.addr);
    assert_eq!(client.get("/health").status, 200);
    // A request whose head is still arriving when the drain starts.
    client.send(b"GET /ready HTTP/1.1\r\nHost: t\r\n");
    // Let the worker read it first: bytes still in the socket when the drain starts
    // belong to an idle connection, which the drain closes.
    std::thread::sleep(Duration::from_millis(100));
    std::thread::scope(|s| {
        let shutdown = s.spawn(|| server.handle.shutdown());
        std::thread::sleep(Duration::from_millis(150));
        let _ = client.stream.write_all(b"\r\n");
        let r = client
            .read_response(false)
            .expect("the in-flight request is answered");
        assert_eq!(r.status, 503, "{}", r.text());
        assert_eq!(r.json()["status"], "draining");
        assert_eq!(r.header("Connection"), Some("close"));
        assert!(client.is_closed());
        shutdown.join().expect("shutdown returns");
    });
}

/// While a drain waits for an in-flight request, the public port refuses new
/// connections but the admin listener still answers `/ready`: 503 draining.
#[test]
fn during_a_drain_ready_says_503_on_the_admin_listener() {
    let server = common::start(|c| {
        c.drain_timeout_ms = 5000;
        c.admin_listen = Some("127.0.0.1:0".parse().expect("addr"));
    });
    let admin = server.handle.admin_addr.expect("admin listener");
    assert_eq!(common::get(admin, "/ready").status, 200);
    let mut client = Client::connect(server.addr);
    // A request whose head is still arriving keeps the drain going.
    client.send(b"GET /health HTTP/1.1\r\nHost: t\r\n");
    // Read by the worker before the drain starts (see above).
    std::thread::sleep(Duration::from_millis(100));
    std::thread::scope(|s| {
        let shutdown = s.spawn(|| server.handle.shutdown());
        std::thread::sleep(Duration::from_millis(200));
        let ready = common::get(admin, "/ready");
        assert_eq!(ready.status, 503, "{}", ready.text());
        assert_eq!(ready.json()["status"], "draining");
        assert_eq!(ready.header("Connection"), Some("close"));
        assert!(
            std::net::TcpStream::connect(server.addr).is_err(),
            "the public port refuses new connections"
        );
        let _ = client.stream.write_all(b"\r\n");
        assert_eq!(client.read_response(false).expect("answered").status, 200);
        shutdown.join().expect("shutdown returns");
    });
}

/// A head that never finishes does not hold the shutdown past the drain timeout
/// (its own head timeout, 10 s, is much later): the drain closes it at its deadline.
#[test]
fn a_head_that_never_finishes_is_cut_at_the_drain_deadline() {
    const DRAIN_MS: u64 = 500;
    let server = common::start(|c| c.drain_timeout_ms = DRAIN_MS);
    let mut client = Client::connect(server.addr);
    client.send(b"GET /health HTTP/1.1\r\nHost: t\r\n");
    // Read by the worker before the drain starts (see above).
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    server.handle.shutdown();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(DRAIN_MS * 8 / 10),
        "the drain did not wait for the request in flight: {took:?}"
    );
    assert!(
        took < Duration::from_millis(DRAIN_MS + 2_000),
        "held past the drain deadline: {took:?}"
    );
    assert!(client.is_closed(), "closed by the drain");
}
