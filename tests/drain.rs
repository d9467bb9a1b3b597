//! The drain (SIGTERM, SIGINT, `ServerHandle::shutdown`): requests already arriving
//! and writes in flight are finished and answered `Connection: close` with nothing
//! after, `/ready` says draining, and nothing holds the exit past the drain timeout
//! (a head that never finishes, writes still queued for bcrypt).

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{API_KEY, Client, patch_request};

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
        common::with_admin(c);
    });
    let admin = server.admin();
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

/// A server whose key is known only by a cost-12 bcrypt hash (no plaintext fast
/// path): each key check on the writer takes ~0.25 s, long enough to start a drain
/// during it.
fn server_with_a_slow_key(
    tweak: impl FnOnce(&mut availability_server::config::Config),
) -> common::TestServer {
    let hash = bcrypt::hash(API_KEY, 12).expect("hash");
    common::start(|c| {
        c.api_key = None;
        c.api_key_hash = Some(hash);
        tweak(c);
    })
}

/// Starts a server whose key check is a real bcrypt (no plaintext fast path), sends
/// `request` (a PATCH, perhaps with more pipelined behind it), and starts the drain
/// while the writer is still verifying the key.
fn drain_during_a_write(request: &str, check: impl FnOnce(&mut Client, std::time::Instant)) {
    let server = server_with_a_slow_key(|c| c.drain_timeout_ms = 5000);
    let mut client = Client::connect(server.addr);
    client.send(request.as_bytes());
    // The writer is now in bcrypt (cost 12) for the PATCH's key.
    std::thread::sleep(Duration::from_millis(50));
    std::thread::scope(|s| {
        let started = std::time::Instant::now();
        let shutdown = s.spawn(|| server.handle.shutdown());
        check(&mut client, started);
        shutdown.join().expect("shutdown returns");
    });
    assert_eq!(server.handle.generation(), 1, "the write was committed");
}

#[test]
fn a_write_in_flight_when_the_drain_starts_is_answered() {
    drain_during_a_write(&patch_request("1.1", ""), |client, _| {
        let r = client.read_response(false).expect("the PATCH is answered");
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["generation"], 1);
        // Leave at once (the next test checks that the drain closes a connection that stays).
        let _ = client.stream.shutdown(std::net::Shutdown::Both);
    });
}

#[test]
fn a_connection_closes_once_its_write_is_answered_during_drain() {
    drain_during_a_write(&patch_request("1.1", ""), |client, started| {
        let r = client.read_response(false).expect("the PATCH is answered");
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("Connection"), Some("close"), "the drain closes it");
        assert!(client.is_closed());
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "closed {:?} after the drain began (drain timeout 5 s)",
            started.elapsed()
        );
    });
}

/// A write answered after the drain began says `Connection: close`, and then nothing
/// follows it on that connection: the GET pipelined behind it is not answered (a
/// client would take it as never sent). It used to be answered anyway.
#[test]
fn nothing_follows_a_write_answered_with_connection_close() {
    let mut burst = patch_request("1.1", "");
    burst.push_str("GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    drain_during_a_write(&burst, |client, _| {
        let r = client.read_response(false).expect("the PATCH is answered");
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("Connection"), Some("close"));
        assert!(client.is_closed(), "no answer after Connection: close");
    });
}

/// A client still sending when its write is answered during the drain gets the
/// answer and then a clean end (FIN), not a reset: the connection lingers as it does
/// outside a drain. Closing at once with the client's bytes unread made the kernel
/// answer with RST, which also throws away any part of the answer still queued in
/// the socket (on a real network, not just loopback, that truncates it).
#[test]
fn a_client_still_sending_when_the_drain_answers_it_gets_a_clean_close() {
    drain_during_a_write(&patch_request("1.1", ""), |client, _| {
        // The drain has begun and the writer is still in bcrypt: these bytes reach
        // the worker while it waits for the reply, and stay unread.
        std::thread::sleep(Duration::from_millis(100));
        client.send(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = client.read_response(false).expect("the PATCH is answered");
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("Connection"), Some("close"));
        // More bytes after the answer: they are read and dropped while it lingers.
        std::thread::sleep(Duration::from_millis(50));
        if let Err(e) = client
            .stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        {
            panic!("the connection was reset under the client: {e}");
        }
        let mut rest = [0u8; 256];
        match client.stream.read(&mut rest) {
            Ok(0) => {}
            Ok(n) => panic!("{n} bytes after Connection: close"),
            Err(e) => panic!("the connection ended with {e} instead of a FIN"),
        }
    });
}

/// A connection already lingering when the drain starts (a 413 sent, the client
/// still sending its body) keeps lingering: the client sends the rest and reads the
/// 413 and a clean end. The drain used to close such connections at its start, with
/// the client's bytes unread, which reset them.
#[test]
fn a_connection_lingering_when_the_drain_starts_still_ends_cleanly() {
    const BODY_BYTES: usize = 2 * 1024 * 1024;
    let server = common::start(|c| c.drain_timeout_ms = 5000);
    let mut stream = common::patch_head_sent(server.addr, BODY_BYTES);
    // The 413 goes out at once (the declared length is over the limit), and the
    // connection lingers, reading and dropping the body.
    std::thread::sleep(Duration::from_millis(100));
    std::thread::scope(|s| {
        let shutdown = s.spawn(|| server.handle.shutdown());
        let chunk = [b' '; 64 * 1024];
        for sent in 0..BODY_BYTES / chunk.len() {
            if let Err(e) = stream.write_all(&chunk) {
                panic!("after {sent} chunks the connection was reset under the client: {e}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .expect("the 413, then a clean end");
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 413 "), "{text}");
        drop(stream);
        shutdown.join().expect("shutdown returns");
    });
}

/// Writes still queued when the workers have gone (their clients with them) are
/// dropped, so the shutdown keeps to the drain timeout instead of running each
/// queued key's bcrypt first.
#[test]
fn queued_writes_do_not_hold_the_shutdown_past_the_drain_timeout() {
    let server = server_with_a_slow_key(|c| {
        c.drain_timeout_ms = 300;
        c.auth_fail_burst = 100;
    });
    // Eight wrong keys, each a cost-12 bcrypt (~0.25 s) on the writer: ~2 s of work.
    let mut clients: Vec<Client> = (0..8)
        .map(|_| {
            let mut client = Client::connect(server.addr);
            let raw = patch_request("1.1", "").replace(API_KEY, "wrong-key-wrong-key");
            client.send(raw.as_bytes());
            client
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let started = std::time::Instant::now();
    server.handle.shutdown();
    let took = started.elapsed();
    // The drain (0.3 s) plus at most the one bcrypt already running.
    assert!(took < Duration::from_millis(1200), "shutdown took {took:?}");
    assert_eq!(server.handle.generation(), 0);
    clients.clear();
}
