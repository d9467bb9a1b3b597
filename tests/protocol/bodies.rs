//! Request bodies (SPEC §5): a read with a body is 400, chunk sizes are parsed
//! strictly, a body over the limit is 413 and closed, one at the limit is accepted,
//! trailer fields over theirs are 431.

use super::*;

#[test]
fn read_requests_with_a_body_are_400() {
    let server = common::start(|_| {});
    assert_rejected(
        server.addr,
        b"GET /health HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
        400,
        "unexpected_body",
    );
    // A HEAD's refusal has headers only (no body even for errors), also when the head
    // itself is refused (two Host fields, obs-fold, a bare LF, too large).
    let too_large = format!(
        "HEAD /health HTTP/1.1\r\nHost: t\r\nX: {}\r\n\r\n",
        "a".repeat(9000)
    );
    for (request, status) in [
        (
            &b"HEAD /health HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"[..],
            400,
        ),
        (b"HEAD /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (
            b"\r\nHEAD /health HTTP/1.1\r\nHost: a\r\nX: 1\r\n  2\r\n\r\n",
            400,
        ),
        (b"HEAD /health HTTP/1.1\nHost: a\r\n\r\n", 400),
        (too_large.as_bytes(), 431),
        (b"HEAD /health HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    ] {
        let mut head = Client::connect(server.addr);
        head.send(request);
        let response = head.read_response(true).expect("a refusal");
        assert_eq!(
            response.status,
            status,
            "{}",
            String::from_utf8_lossy(request)
        );
        assert!(response.header("Content-Length").is_some());
        assert!(
            head.is_closed(),
            "no body after the head: {}",
            String::from_utf8_lossy(request)
        );
    }
    assert_rejected(
        server.addr,
        b"GET /health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        400,
        "unexpected_body",
    );
    // An empty body is no body.
    let mut client = Client::connect(server.addr);
    client.send(b"GET /health HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(client.read_response(false).expect("200").status, 200);
    assert_eq!(client.get("/ready").status, 200, "still alive");
}

fn chunked_patch(chunks: &str) -> String {
    format!(
        "PATCH /availability HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {API_KEY}\r\n\
         Transfer-Encoding: chunked\r\n\r\n{chunks}"
    )
}

#[test]
fn chunk_sizes_are_parsed_strictly() {
    let server = common::start(|_| {});
    let body = r#"{"slots":[{"day":1,"slot":1,"status":"maybe"}]}"#;
    let n = body.len();
    let bad = [
        format!("zz\r\n{body}\r\n0\r\n\r\n"),
        format!(" {n:x}\r\n{body}\r\n0\r\n\r\n"),
        format!("{n:x} \r\n{body}\r\n0\r\n\r\n"),
        format!("+{n:x}\r\n{body}\r\n0\r\n\r\n"),
        format!("0x{n:x}\r\n{body}\r\n0\r\n\r\n"),
        format!("{n:x}\n{body}\r\n0\r\n\r\n"),
        format!("{n:x}\r\n{body}XX\r\n0\r\n\r\n"),
        format!("\r\n{body}\r\n0\r\n\r\n"),
    ];
    for chunks in bad {
        assert_rejected(
            server.addr,
            chunked_patch(&chunks).as_bytes(),
            400,
            "bad_chunked_body",
        );
    }
    assert_eq!(server.handle.generation(), 0, "nothing was written");
    // The same body, well formed, is accepted (with an extension and a trailer).
    let good = format!("{n:x};ext=1\r\n{body}\r\n0\r\nX-Trailer: y\r\n\r\n");
    let (_, r) = exchange(server.addr, chunked_patch(&good).as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn a_trailer_section_over_4_kib_is_431_not_a_body_too_large() {
    let server = common::start(|_| {});
    let body = r#"{"slots":[{"day":1,"slot":1,"status":"maybe"}]}"#;
    let n = body.len();
    // "X: " + value + CRLF, then the final CRLF: 4,096 trailer bytes at the limit.
    let with_trailer = |value_len: usize| {
        let value = "a".repeat(value_len);
        chunked_patch(&format!("{n:x}\r\n{body}\r\n0\r\nX: {value}\r\n\r\n"))
    };
    // A small body with large trailer fields: the fields are what is too large, so the
    // answer must not point at --max-body-bytes.
    let raw = with_trailer(4091);
    let (mut client, r) = exchange(server.addr, raw.as_bytes());
    assert_eq!(r.status, 431, "{}", r.text());
    assert_eq!(r.error_code(), "header_too_large", "{}", r.text());
    assert!(r.text().contains("trailer"), "{}", r.text());
    assert!(client.is_closed(), "the server closes");
    assert_eq!(server.handle.generation(), 0, "nothing was written");
    let (_, r) = exchange(server.addr, with_trailer(4090).as_bytes());
    assert_eq!(r.status, 200, "at the limit: {}", r.text());
}

#[test]
fn oversized_bodies_are_413_and_closed() {
    let server = common::start(|_| {});
    // Declared too large: refused from the head alone.
    let raw = format!(
        "PATCH /availability HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {API_KEY}\r\nContent-Length: {}\r\n\r\n",
        16 * 1024 + 1
    );
    assert_rejected(server.addr, raw.as_bytes(), 413, "body_too_large");
    // Chunked, growing past the limit.
    let chunk = "x".repeat(4096);
    let chunks: String = (0..5).map(|_| format!("1000\r\n{chunk}\r\n")).collect();
    assert_rejected(
        server.addr,
        chunked_patch(&chunks).as_bytes(),
        413,
        "body_too_large",
    );
}

#[test]
fn a_body_of_exactly_16_kib_is_accepted() {
    let server = common::start(|_| {});
    let json = r#"{"slots":[{"day":1,"slot":1,"status":"maybe"}]}"#;
    // Trailing whitespace is valid JSON: pad to the limit exactly.
    let body = format!("{json}{}", " ".repeat(16 * 1024 - json.len()));
    let r = common::patch(server.addr, Some(API_KEY), &body);
    assert_eq!(r.status, 200, "{}", r.text());
}
