//! `parse_head`: the request line and the fields the server reads (Host, the
//! version, the target's form, the method, keep-alive, Expect, Authorization), one
//! test (at least) per rule of SPEC §5. Framing and limits are in `request.rs`.

use availability_server::http::{HeadError, Method, parse_head};

use super::request::{bad, get_target, ok, with_headers};

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
