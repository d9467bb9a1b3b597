//! Lingering close over real sockets: a client that sends a body far over the
//! limit, the way a plain blocking client does (all of it, then read), gets the
//! 413 that says why rather than a broken pipe or a reset.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const BODY_BYTES: usize = 4 * 1024 * 1024;

fn oversized_patch_head() -> String {
    format!(
        "PATCH /availability HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {BODY_BYTES}\r\n\r\n",
        common::API_KEY
    )
}

#[test]
fn a_client_that_sends_a_body_far_over_the_limit_reads_the_413() {
    let server = common::start(|_| {});
    let body = vec![b' '; BODY_BYTES];
    for attempt in 0..3 {
        let mut stream = TcpStream::connect(server.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream
            .write_all(oversized_patch_head().as_bytes())
            .expect("head");
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
    let server = common::start(|_| {});
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
        .write_all(oversized_patch_head().as_bytes())
        .expect("head");
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
}
