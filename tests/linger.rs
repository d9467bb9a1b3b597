//! Lingering close over real sockets: a client that sends a body far over the
//! limit, the way a plain blocking client does (all of it, then read), gets the
//! 413 that says why rather than a broken pipe or a reset; so does one still
//! sending a body past its deadline, with the 408.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const BODY_BYTES: usize = 4 * 1024 * 1024;

/// A connection that has sent the head of a PATCH whose body is far over the limit.
fn oversized_patch(server: &common::TestServer) -> TcpStream {
    common::patch_head_sent(server.addr, BODY_BYTES)
}

#[test]
fn a_client_that_sends_a_body_far_over_the_limit_reads_the_413() {
    let server = common::start(|_| {});
    let body = vec![b' '; BODY_BYTES];
    for attempt in 0..3 {
        let mut stream = oversized_patch(&server);
        // Without the lingering close the kernel resets the connection partway
        // through this write (EPIPE / ECONNRESET).
        stream
            .write_all(&body)
            .unwrap_or_else(|e| panic!("attempt {attempt}: the body write failed: {e}"));
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .expect("the answer, then EOF");
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 413 "), "{text}");
        assert!(text.contains("Connection: close\r\n"), "{text}");
        assert!(text.contains("\"code\":\"body_too_large\""), "{text}");
    }
}

#[test]
fn a_lingering_connection_is_closed_when_its_time_is_up() {
    let server = common::start(|c| {
        common::with_admin(c);
        c.workers = 1;
    });
    let mut stream = oversized_patch(&server);
    stream.write_all(&[b' '; 1000]).expect("some body");
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .expect("the answer, then EOF");
    assert!(answer.starts_with(b"HTTP/1.1 413 "));
    // The server still drops what we send for a while, then closes: a write
    // after that meets the reset.
    let started = Instant::now();
    let ended = loop {
        match stream.write(&[b' '; 100]) {
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) => {
                break started.elapsed();
            }
            Err(e) => panic!("unexpected write error: {e}"),
        }
        assert!(started.elapsed() < Duration::from_secs(6), "never closed");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        ended >= Duration::from_millis(1_000),
        "it lingered first: closed after {ended:?}"
    );
    // Counted as a linger that ran out, nothing else.
    let admin = server.admin();
    let metrics = common::get(admin, "/metrics").text();
    let timeouts: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("availability_timeouts_total{") && !l.ends_with(" 0"))
        .collect();
    assert_eq!(
        timeouts,
        ["availability_timeouts_total{worker=\"0\",phase=\"linger\"} 1"],
        "{metrics}"
    );
}

/// A body that arrives too slowly gets a 408 when its deadline passes; a client still
/// writing it reads that 408 instead of meeting a reset (some stacks drop received
/// data on a reset, so the answer that says why would be lost).
#[test]
fn a_client_still_sending_a_body_past_its_deadline_reads_the_408() {
    const BODY_TIMEOUT_MS: u64 = 400;
    let server = common::start(|c| c.body_timeout_ms = BODY_TIMEOUT_MS);
    let mut stream = common::patch_head_sent(server.addr, 16_000);
    // 100 bytes every 20 ms: the 16,000 would take 3.2 s. Keep sending for well past
    // the deadline (the 408 goes out then), but within the linger time after it.
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(BODY_TIMEOUT_MS + 1_000) {
        if let Err(e) = stream.write_all(&[b' '; 100]) {
            panic!("a body write failed {:?} in: {e}", started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .expect("the answer, then EOF");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    assert!(text.contains("\"code\":\"request_timeout\""), "{text}");
}

/// A complete request with `Connection: close` over TLS: the connection closes at
/// once (the TLS read stops at the first plaintext, so "more may be waiting" is only
/// a guess, which one look settles), rather than lingering for 2 s.
#[test]
fn a_tls_request_with_connection_close_closes_at_once() {
    let server = common::start(|c| {
        c.https_listen = Some("127.0.0.1:0".parse().expect("addr"));
        c.no_tls = false;
    });
    let cert = server.dir.join(availability_server::tls::CERT_FILE_NAME);
    let config = availability_server::tls::client_config_trusting(&cert).expect("client config");
    let mut tls = common::tls_connect(server.handle.https_addr.expect("https"), config);
    tls.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer);
    assert!(
        answer.starts_with(b"HTTP/1.1 200 "),
        "{}",
        answer.escape_ascii()
    );
    // Fully closed: within a moment a raw write meets the reset.
    std::thread::sleep(Duration::from_millis(200));
    let tcp = tls.get_mut();
    let started = Instant::now();
    let refused = (0..20).any(|_| {
        let failed = tcp.write(b"x").is_err();
        std::thread::sleep(Duration::from_millis(20));
        failed
    });
    assert!(refused, "still lingering after {:?}", started.elapsed());
}
