//! `parse_head`: one test (at least) per framing rule of SPEC §5.

use availability_server::http::{BodyKind, Head, HeadError, MAX_HEADERS, Method, parse_head};

const MAX: usize = 8192;

fn ok(buf: &[u8]) -> Head<'_> {
    match parse_head(buf, MAX) {
        Ok(head) => head,
        Err(e) => panic!("{:?} rejected: {e:?}", String::from_utf8_lossy(buf)),
    }
}

fn bad(buf: &[u8]) -> &'static str {
    match parse_head(buf, MAX) {
        Err(HeadError::Bad(message)) => message,
        other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(buf)),
    }
}

/// A GET of `target` with a Host.
fn get_target(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()
}

/// A request with the given extra header lines (each without CRLF) after `Host: a`.
fn with_headers(lines: &[&str]) -> Vec<u8> {
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

#[test]
fn host_rules() {
    assert_eq!(bad(b"GET / HTTP/1.1\r\n\r\n"), "missing Host header");
    assert_eq!(
        bad(b"GET / HTTP/1.1\r\nX: y\r\n\r\n"),
        "missing Host header"
    );
    let two = with_headers(&["host: b"]);
    assert_eq!(bad(&two), "more than one Host header");
    assert!(ok(b"GET / HTTP/1.0\r\n\r\n").minor_version == 0);
    let two_1_0 = b"GET / HTTP/1.0\r\nHost: a\r\nHOST: a\r\n\r\n";
    assert_eq!(bad(two_1_0), "more than one Host header");
    // Case-insensitive name, empty value allowed (RFC 9112 §3.2), ports and IPv6.
    ok(b"GET / HTTP/1.1\r\nhOsT: a\r\n\r\n");
    ok(b"GET / HTTP/1.1\r\nHost:\r\n\r\n");
    for value in [
        "[::1]:8080",
        "[::1]",
        "[v1.fe80::a+en1]",
        "example.com:",
        "example.com:8443",
        "127.0.0.1:80",
        "a%2Db",
        "x_y~z!$&'()*+,;=",
    ] {
        let buf = format!("GET / HTTP/1.1\r\nHost: {value}\r\n\r\n");
        ok(buf.as_bytes());
    }
    // The audit's finds (a port that is not digits, an unclosed IPv6 literal) and
    // their neighbours.
    for value in [
        "a b", "a/b", "a@b", "a?b", "x:abc", "[::1", "::1", "a:1:2", "[]", "[::1]x", "[::1]:8a",
        "a]", "a[b]", "a%zz", "a%2", "[::1%]", ":80x",
    ] {
        let buf = format!("GET / HTTP/1.1\r\nHost: {value}\r\n\r\n");
        assert_eq!(bad(buf.as_bytes()), "invalid Host header", "{value}");
    }
    // A bad escape after good ones: every escape is checked.
    for value in ["a%41%zz", "ab%41%zz", "%41%41%zz"] {
        let buf = format!("GET / HTTP/1.1\r\nHost: {value}\r\n\r\n");
        assert_eq!(bad(buf.as_bytes()), "invalid Host header", "{value}");
    }
}

#[test]
fn other_http_versions_are_unsupported_not_bad() {
    for buf in [
        &b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"[..],
        b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
        b"HEAD /health HTTP/3\r\n\r\n",
    ] {
        assert_eq!(
            parse_head(buf, 8192).err(),
            Some(HeadError::UnsupportedVersion),
            "{}",
            String::from_utf8_lossy(buf)
        );
    }
}

#[test]
fn bytes_httparse_rejects_are_bad() {
    for buf in [
        &b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"GET / XTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/\r\nHost: a\r\n\r\n",
        b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
        b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: \x00\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n: empty-name\r\n\r\n",
    ] {
        bad(buf);
    }
    // Garbage is rejected before a head could be complete (a TLS ClientHello here).
    bad(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");
}

#[test]
fn request_target_forms() {
    let head = ok(b"GET http://example.com/availability?tz=UTC HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        (head.path, head.query),
        (&b"/availability"[..], &b"tz=UTC"[..])
    );
    let head = ok(b"GET HTTPS://example.com:8443 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((head.path, head.query), (&b"/"[..], &b""[..]));
    let head = ok(b"GET http://example.com?a=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((head.path, head.query), (&b"/"[..], &b"a=1"[..]));
    let head = ok(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        (head.method, head.path, head.query),
        (Method::Other, &b"*"[..], &b""[..])
    );
    // Only the first '?' splits; a trailing '?' gives an empty query.
    let head = ok(b"GET /a?b?c HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((head.path, head.query), (&b"/a"[..], &b"b?c"[..]));
    let head = ok(b"GET /a? HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((head.path, head.query), (&b"/a"[..], &b""[..]));

    assert!(matches!(
        parse_head(b"GET * HTTP/1.1\r\nHost: x\r\n\r\n", 8192),
        Err(HeadError::Bad(_))
    ));
    for target in ["availability", "example.com:443", "ftp://h/p", "**", "?a=1"] {
        assert_eq!(
            bad(&get_target(target)),
            "request-target must start with '/'",
            "{target}"
        );
    }
    bad(b"GET http:///p HTTP/1.1\r\nHost: x\r\n\r\n");
    bad(b"GET /a#frag HTTP/1.1\r\nHost: x\r\n\r\n");
    bad("GET /caf\u{e9} HTTP/1.1\r\nHost: x\r\n\r\n".as_bytes());
    // Bytes RFC 3986 leaves out of URIs (httparse lets them through).
    for target in [
        "/availability?tz=\"UTC\"",
        "/availability?tz=<UTC>",
        "/a{b}",
        "/a|b",
        "/availability\\slot",
        "/a^b",
        "/a`b",
    ] {
        assert!(
            bad(&get_target(target)).starts_with("request-target must be a URI"),
            "{target}"
        );
    }
    // Everything else a URI may hold passes.
    ok(b"GET /a-._~!$&'()*+,;=:@%20/b?c/d?e=f HTTP/1.1\r\nHost: x\r\n\r\n");
    // Userinfo in absolute-form is an error (RFC 9110 §4.2.4), not a host.
    for target in ["http://u:p@x/health", "http://u@x", "https://@x/"] {
        assert_eq!(
            bad(&get_target(target)),
            "request-target with userinfo (user@host)",
            "{target}"
        );
    }
    // An '@' after the authority is a path byte.
    ok(b"GET http://x/a@b HTTP/1.1\r\nHost: x\r\n\r\n");
}

#[test]
fn one_leading_crlf_is_ignored_and_counted() {
    let buf = b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let head = ok(buf);
    assert_eq!(head.head_len_bytes, buf.len());
    assert_eq!(head.path, b"/");
    let two = b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_eq!(bad(two), "more than one empty line before the request line");
    bad(b"\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
}

#[test]
fn methods() {
    let cases = [
        ("GET", Method::Get),
        ("HEAD", Method::Head),
        ("PATCH", Method::Patch),
        ("POST", Method::Other),
        ("get", Method::Other), // methods are case-sensitive
        ("PURGE", Method::Other),
    ];
    for (token, method) in cases {
        let buf = format!("{token} / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(ok(buf.as_bytes()).method, method, "{token}");
    }
}

#[test]
fn keep_alive_rules() {
    let cases: [(&str, &[&str], bool); 9] = [
        ("1.1", &[], true),
        ("1.1", &["Connection: close"], false),
        ("1.1", &["Connection: Keep-Alive, CLOSE"], false),
        ("1.1", &["Connection:  upgrade ,close  "], false),
        (
            "1.1",
            &["Connection: keep-alive", "Connection: close"],
            false,
        ),
        ("1.0", &[], false),
        ("1.0", &["Connection: keep-alive"], true),
        ("1.0", &["Connection: TE, Keep-Alive"], true),
        ("1.0", &["Connection: keep-alive, close"], false),
    ];
    for (version, lines, expected) in cases {
        let mut s = format!("GET / HTTP/{version}\r\nHost: a\r\n");
        for line in lines {
            s.push_str(line);
            s.push_str("\r\n");
        }
        s.push_str("\r\n");
        assert_eq!(ok(s.as_bytes()).keep_alive, expected, "{version} {lines:?}");
    }
    // A token merely containing "close" is not "close".
    assert!(ok(&with_headers(&["Connection: closed"])).keep_alive);
}

#[test]
fn only_an_http_1_1_expect_100_continue_asks_for_an_interim_response() {
    // RFC 9110 §10.1.1: the expectation is 100-continue (case-insensitive); a server
    // must ignore it from an HTTP/1.0 client, and other expectations are not it.
    let cases: [(&str, Option<&str>, bool); 6] = [
        ("1.1", None, false),
        ("1.1", Some("100-continue"), true),
        ("1.1", Some("  100-Continue "), true),
        ("1.1", Some("200-ok"), false),
        ("1.1", Some("100-continue-please"), false),
        ("1.0", Some("100-continue"), false),
    ];
    for (version, expect, expected) in cases {
        let mut s = format!("PATCH /availability HTTP/{version}\r\nHost: a\r\n");
        if let Some(value) = expect {
            s.push_str(&format!("Expect:{value}\r\n"));
        }
        s.push_str("Content-Length: 2\r\n\r\n");
        let head = ok(s.as_bytes());
        assert_eq!(head.expect_continue, expected, "{version} {expect:?}");
    }
}

#[test]
fn authorization_is_captured_once() {
    let head_buf = with_headers(&["authorization: Bearer abc.def"]);
    assert_eq!(ok(&head_buf).authorization, Some(&b"Bearer abc.def"[..]));
    let two = with_headers(&["Authorization: Bearer a", "Authorization: Bearer b"]);
    assert_eq!(bad(&two), "more than one Authorization header");
}
