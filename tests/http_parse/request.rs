//! `parse_head`: framing and limits, one test (at least) per rule of SPEC §5. The
//! request line and the fields the server reads are in `request_fields.rs`.

use availability_server::http::{BodyKind, Head, HeadError, MAX_HEADERS, Method, parse_head};

const MAX: usize = 8192;

pub(super) fn ok(buf: &[u8]) -> Head<'_> {
    match parse_head(buf, MAX) {
        Ok(head) => head,
        Err(e) => panic!("{:?} rejected: {e:?}", String::from_utf8_lossy(buf)),
    }
}

pub(super) fn bad(buf: &[u8]) -> &'static str {
    match parse_head(buf, MAX) {
        Err(HeadError::Bad(message)) => message,
        other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(buf)),
    }
}

/// A GET of `target` with a Host.
pub(super) fn get_target(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()
}

/// A request with the given extra header lines (each without CRLF) after `Host: a`.
pub(super) fn with_headers(lines: &[&str]) -> Vec<u8> {
    let mut s = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
    for line in lines {
        s.push_str(line);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s.into_bytes()
}

#[test]
fn parses_a_simple_request() {
    let buf = b"GET /availability?tz=UTC HTTP/1.1\r\nHost: example.com\r\n\r\n";
    let head = ok(buf);
    assert_eq!(head.method, Method::Get);
    assert_eq!(head.path, b"/availability");
    assert_eq!(head.query, b"tz=UTC");
    assert_eq!(head.minor_version, 1);
    assert!(head.keep_alive);
    assert_eq!(head.body, BodyKind::None);
    assert_eq!(head.authorization, None);
    assert_eq!(head.head_len_bytes, buf.len());
}

#[test]
fn head_len_stops_before_body_and_pipelined_bytes() {
    let head = b"PATCH /availability HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n";
    let mut buf = head.to_vec();
    buf.extend_from_slice(b"{}GET /health HTTP/1.1\r\nHost: a\r\n\r\n");
    let parsed = ok(&buf);
    assert_eq!(parsed.head_len_bytes, head.len());
    assert_eq!(parsed.body, BodyKind::Length(2));
}

#[test]
fn every_strict_prefix_is_incomplete() {
    let buf = b"\r\nGET /a?b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    for len in 0..buf.len() {
        assert_eq!(
            parse_head(&buf[..len], MAX).err(),
            Some(HeadError::Incomplete),
            "{len}"
        );
    }
    assert_eq!(ok(buf).head_len_bytes, buf.len());
}

#[test]
fn too_large_before_completion() {
    let partial = b"GET /aaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: a\r\n";
    let max = partial.len();
    assert_eq!(parse_head(partial, max).err(), Some(HeadError::TooLarge));
    assert_eq!(
        parse_head(&partial[..max - 1], max).err(),
        Some(HeadError::Incomplete)
    );
}

#[test]
fn too_large_after_completion_and_limit_is_inclusive() {
    let buf = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    assert!(parse_head(buf, buf.len()).is_ok());
    assert_eq!(
        parse_head(buf, buf.len() - 1).err(),
        Some(HeadError::TooLarge)
    );
    // The ignored leading CRLF counts toward the limit.
    let mut leading = b"\r\n".to_vec();
    leading.extend_from_slice(buf);
    assert_eq!(
        parse_head(&leading, buf.len() + 1).err(),
        Some(HeadError::TooLarge)
    );
    assert!(parse_head(&leading, buf.len() + 2).is_ok());
}

#[test]
fn too_many_headers_is_too_large() {
    let filler: Vec<String> = (0..MAX_HEADERS - 1).map(|i| format!("X-{i}: v")).collect();
    let refs: Vec<&str> = filler.iter().map(String::as_str).collect();
    assert!(
        parse_head(&with_headers(&refs), MAX).is_ok(),
        "64 headers with Host"
    );
    let mut more = refs.clone();
    more.push("X-last: v");
    assert_eq!(
        parse_head(&with_headers(&more), MAX).err(),
        Some(HeadError::TooManyFields)
    );
}

#[test]
fn both_content_length_and_transfer_encoding_is_bad() {
    let buf = with_headers(&["Content-Length: 5", "Transfer-Encoding: chunked"]);
    assert_eq!(bad(&buf), "both Content-Length and Transfer-Encoding");
    let buf = with_headers(&["Transfer-Encoding: chunked", "Content-Length: 5"]);
    assert_eq!(bad(&buf), "both Content-Length and Transfer-Encoding");
}

#[test]
fn only_a_single_final_chunked_transfer_encoding_is_accepted() {
    for value in ["chunked", "Chunked", "CHUNKED"] {
        let buf = with_headers(&[&format!("Transfer-Encoding: {value}")]);
        assert_eq!(ok(&buf).body, BodyKind::Chunked, "{value}");
    }
    for value in [
        "gzip, chunked",
        "chunked, gzip",
        "identity",
        "chunked, chunked",
        "",
        "chunked;",
    ] {
        let buf = with_headers(&[&format!("Transfer-Encoding: {value}")]);
        bad(&buf);
    }
    let buf = with_headers(&["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"]);
    assert_eq!(bad(&buf), "more than one Transfer-Encoding header");
    let buf = with_headers(&["Transfer-Encoding: gzip", "Transfer-Encoding: chunked"]);
    bad(&buf);
}

#[test]
fn transfer_encoding_in_http_1_0_is_bad() {
    bad(b"PATCH / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
}

#[test]
fn duplicate_content_length_is_bad_even_when_equal() {
    let buf = with_headers(&["Content-Length: 5", "Content-Length: 5"]);
    assert_eq!(bad(&buf), "more than one Content-Length header");
    let buf = with_headers(&["Content-Length: 5", "content-length: 6"]);
    bad(&buf);
}

#[test]
fn invalid_content_length_is_bad() {
    let invalid = [
        "",
        "+5",
        "-5",
        "5 5",
        "1a",
        "0x10",
        "5,5",
        "5, 5",
        "18446744073709551616", // u64::MAX + 1
        "99999999999999999999", // 20 digits
        "00000000000000000001", // 20 digits, small value
        "1.0",
    ];
    for value in invalid {
        let buf = with_headers(&[&format!("Content-Length: {value}")]);
        assert_eq!(bad(&buf), "invalid Content-Length", "{value:?}");
    }
    let valid = [("0", 0), ("42", 42), ("0000000000000000042", 42)];
    for (value, n) in valid {
        let buf = with_headers(&[&format!("Content-Length: {value}")]);
        assert_eq!(ok(&buf).body, BodyKind::Length(n), "{value}");
    }
    let buf = with_headers(&["Content-Length: 9999999999999999999"]);
    assert_eq!(ok(&buf).body, BodyKind::Length(9_999_999_999_999_999_999));
}

#[test]
fn obs_fold_is_bad() {
    for fold in [" folded", "\tfolded"] {
        let buf = with_headers(&["X-A: a", fold]);
        assert_eq!(bad(&buf), "obs-fold (line folding) in header");
    }
    // Whitespace before the first header line is rejected too.
    bad(b"GET / HTTP/1.1\r\n Host: a\r\n\r\n");
}

#[test]
fn bare_lf_is_bad() {
    for buf in [
        &b"GET / HTTP/1.1\nHost: a\n\n"[..],
        b"GET / HTTP/1.1\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\n2\r\n\r\n",
        b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        assert_eq!(bad(buf), "bare LF in request head");
    }
    // Even before the head is complete.
    assert_eq!(bad(b"GET / HTTP/1.1\nHost"), "bare LF in request head");
}

#[test]
fn bare_cr_is_bad() {
    for buf in [
        &b"GET / HTTP/1.1\rHost: a\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\r\n",
        b"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n",
        b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        assert_eq!(bad(buf), "bare CR in request head");
    }
}
