//! Black-box tests of the HTTP/1.1 protocol rules (SPEC §5) over real sockets:
//! connection persistence, pipelining, and the framing errors that must be 400
//! (or 431/413) followed by a close. Timeouts, the connection cap and the drain
//! are in `protocol_timeouts.rs`; further edge cases in `protocol_misc.rs`;
//! request bodies in `protocol/bodies.rs`.

#[path = "protocol/bodies.rs"]
mod bodies;
mod common;

use std::net::SocketAddr;

use common::{API_KEY, Client, Response};

/// Sends `raw` on a fresh connection and returns the one response.
fn exchange(addr: SocketAddr, raw: &[u8]) -> (Client, Response) {
    let mut client = Client::connect(addr);
    client.send(raw);
    let r = client
        .read_response(false)
        .unwrap_or_else(|| panic!("no response to {:?}", String::from_utf8_lossy(raw)));
    (client, r)
}

/// `raw` is refused with `status`, a JSON error body and `Connection: close`, then closed.
fn assert_rejected(addr: SocketAddr, raw: &[u8], status: u16, code: &str) {
    let shown = String::from_utf8_lossy(raw);
    let (mut client, r) = exchange(addr, raw);
    assert_eq!(r.status, status, "{shown:?}: {}", r.text());
    assert_eq!(
        r.error_code(),
        code,
        "{shown:?}: JSON error body: {}",
        r.text()
    );
    assert!(
        r.header("Content-Type")
            .is_some_and(|t| t.starts_with("application/json"))
    );
    assert_eq!(r.header("Connection"), Some("close"), "{shown:?}");
    assert!(client.is_closed(), "{shown:?}: the server closes");
}

#[test]
fn http11_keeps_the_connection_alive_by_default() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    for _ in 0..3 {
        let r = client.get("/health");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Connection"), None, "no close on keep-alive");
    }
    let r = client.get("/availability/slot?day=0&slot=0");
    assert_eq!(r.status, 200);
}

#[test]
fn connection_close_is_honoured() {
    let server = common::start(|_| {});
    let (mut client, r) = exchange(
        server.addr,
        b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(client.is_closed());
    // Tokens are case-insensitive and may be in a list.
    let (mut client, r) = exchange(
        server.addr,
        b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: foo, CLOSE\r\n\r\n",
    );
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(client.is_closed());
}

#[test]
fn requests_after_connection_close_are_ignored() {
    let server = common::start(|_| {});
    let (mut client, r) = exchange(
        server.addr,
        b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET /ready HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    assert!(client.is_closed(), "the second request is not answered");
}

#[test]
fn http10_closes_unless_asked_to_keep_alive() {
    let server = common::start(|_| {});
    let (mut client, r) = exchange(server.addr, b"GET /health HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_ne!(r.header("Connection"), Some("keep-alive"));
    assert!(client.is_closed());

    let (mut client, r) = exchange(
        server.addr,
        b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Connection"), Some("keep-alive"));
    client.send(b"GET /availability/slot?day=2&slot=5 HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    let r = client.read_response(false).expect("second response");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["time"], "02:30");
    assert_eq!(r.header("Connection"), Some("keep-alive"));
    client.send(b"GET /health HTTP/1.0\r\n\r\n");
    assert_eq!(client.read_response(false).expect("third").status, 200);
    assert!(client.is_closed(), "no keep-alive asked: closed");
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    let requests = [
        "GET /health",
        "GET /availability/slot?tz=UTC&day=0&slot=1",
        "HEAD /availability?tz=UTC",
        "GET /availability/slot?tz=Asia/Tokyo&day=3&time=12:00",
        "GET /nope",
        "GET /availability/csv?tz=UTC",
        "GET /availability?tz=Europe/Paris",
        "DELETE /health",
        "GET /ready",
        "GET /availability/slot?tz=UTC&day=6&slot=47",
    ];
    let all: String = requests
        .iter()
        .map(|r| format!("{r} HTTP/1.1\r\nHost: t\r\n\r\n"))
        .collect();
    client.send(all.as_bytes());
    let mut next = |head: bool| client.read_response(head).expect("a response");
    assert_eq!(next(false).json()["status"], "ok");
    let r = next(false).json();
    assert_eq!((&r["day"], &r["time"]), (&0.into(), &"00:30".into()));
    let r = next(true);
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    let r = next(false).json();
    assert_eq!(r["timezone"], "Asia/Tokyo");
    assert_eq!(
        (&r["day_name"], &r["time"]),
        (&"Thursday".into(), &"12:00".into())
    );
    assert_eq!(next(false).status, 404);
    let r = next(false);
    assert!(r.text().starts_with("Time,Monday,"), "{}", r.text());
    let r = next(false).json();
    assert_eq!(r["timezone"], "Europe/Paris");
    assert_eq!(r["slots"].as_array().map(Vec::len), Some(336));
    assert_eq!(next(false).status, 405);
    assert_eq!(next(false).json()["status"], "ready");
    let r = next(false).json();
    assert_eq!((&r["day"], &r["time"]), (&6.into(), &"23:30".into()));
}

#[test]
fn many_pipelined_requests_keep_their_order() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    let all: String = (0..336)
        .map(|i| {
            format!(
                "GET /availability/slot?tz=UTC&day={}&slot={} HTTP/1.1\r\nHost: t\r\n\r\n",
                i / 48,
                i % 48
            )
        })
        .collect();
    client.send(all.as_bytes());
    for i in 0..336 {
        let r = client.read_response(false).expect("a response").json();
        let time = format!("{:02}:{:02}", (i % 48) / 2, (i % 2) * 30);
        assert_eq!(r["day"], i / 48, "response {i}");
        assert_eq!(r["time"], time.as_str(), "response {i}");
    }
}

#[test]
fn a_request_sent_byte_by_byte_is_answered() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    for &b in b"GET /availability/slot?day=1&slot=9 HTTP/1.1\r\nHost: t\r\n\r\n" {
        client.send(&[b]);
    }
    let r = client.read_response(false).expect("a response");
    assert_eq!(r.json()["time"], "04:30");
}

#[test]
fn oversized_head_is_431_and_closed() {
    let server = common::start(|_| {});
    let raw = format!(
        "GET /health HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(9000)
    );
    assert_rejected(server.addr, raw.as_bytes(), 431, "header_too_large");
    // Just under the limit is fine.
    let raw = format!(
        "GET /health HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(7000)
    );
    let (_, r) = exchange(server.addr, raw.as_bytes());
    assert_eq!(r.status, 200);
}

#[test]
fn ambiguous_framing_is_400_and_closed() {
    let server = common::start(|_| {});
    let auth = format!("Authorization: Bearer {API_KEY}\r\n");
    let cases = [
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        "Transfer-Encoding: gzip, chunked\r\n",
        "Transfer-Encoding: chunked, gzip\r\n",
        "Transfer-Encoding: gzip\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        "Content-Length: 5\r\nContent-Length: 5\r\n",
        "Content-Length: 5\r\nContent-Length: 6\r\n",
        "Content-Length: 5, 5\r\n",
        "Content-Length: abc\r\n",
        "Content-Length: -1\r\n",
        "Content-Length: +5\r\n",
        "Content-Length: 0x5\r\n",
        "Content-Length: 5 5\r\n",
        "Content-Length: 99999999999999999999999\r\n",
    ];
    for framing in cases {
        let raw = format!("PATCH /availability HTTP/1.1\r\nHost: t\r\n{auth}{framing}\r\n12345");
        assert_rejected(server.addr, raw.as_bytes(), 400, "bad_request");
    }
    assert_eq!(server.handle.generation(), 0);
}

#[test]
fn malformed_heads_are_400_and_closed() {
    let server = common::start(|_| {});
    let cases: &[&[u8]] = &[
        // obs-fold
        b"GET /health HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: t\r\nX-A: a\r\n\tb\r\n\r\n",
        // bare LF
        b"GET /health HTTP/1.1\nHost: t\n\n",
        b"GET /health HTTP/1.1\r\nHost: t\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: t\r\n\n",
        // bare CR
        b"GET /health HTTP/1.1\rHost: t\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: t\rX: y\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: t\r\n\r\r\n",
        // Host
        b"GET /health HTTP/1.1\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
        // garbage
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
        b"GARBAGE\x00\x01\x02\r\n\r\n",
        b"GET /health XTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET health HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /he alth HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /health HTTP/1.1\r\nBad Header: x\r\nHost: t\r\n\r\n",
        b"GET /health HTTP/1.1\r\n: empty-name\r\nHost: t\r\n\r\n",
    ];
    for raw in cases {
        assert_rejected(server.addr, raw, 400, "bad_request");
    }
    // A version httparse does not read is a 505, still closed.
    assert_rejected(
        server.addr,
        b"GET /health HTTP/9.9\r\nHost: t\r\n\r\n",
        505,
        "http_version_not_supported",
    );
}

#[test]
fn garbage_is_rejected_without_waiting_for_a_blank_line() {
    // A TLS ClientHello to the plain port never contains CRLFCRLF.
    let server = common::start(|_| {});
    assert_rejected(
        server.addr,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03abcdefgh",
        400,
        "bad_request",
    );
}

#[test]
fn http10_needs_no_host() {
    let server = common::start(|_| {});
    let (_, r) = exchange(server.addr, b"GET /health HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
}

#[test]
fn a_bad_request_after_good_ones_is_answered_after_them() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    client.send(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\nGET /ready HTTP/1.1\r\n\r\nGET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(client.read_response(false).expect("first").status, 200);
    let r = client.read_response(false).expect("second");
    assert_eq!(r.status, 400, "missing Host: {}", r.text());
    assert!(
        client.is_closed(),
        "nothing after the bad request is answered"
    );
}
