//! Properties of `http::request::parse_head` (the `request_head` target).

use availability_server::http::memo::HeadMemo;
use availability_server::http::{BodyKind, Head, HeadError, Method, parse_head};

use crate::framing::{self, Stop, fnv1a, split_points};
use crate::lines::HeadLines;

mod reserialise;
use reserialise::check_reserialised;
pub use reserialise::same_head;

/// Runs every head, chunked and framing property on one input.
pub fn check(data: &[u8]) {
    let hash = fnv1a(data);
    let max = max_head_bytes(hash);
    let full = parse_head(data, max);
    let head_len = full.as_ref().map_or(0, |h| h.head_len_bytes);
    if let Ok(head) = &full {
        check_accepted(data, max, head);
        check_reserialised(head);
    }
    let extra = [
        head_len.saturating_sub(1),
        head_len,
        head_len + 1,
        max,
        max + 1,
    ];
    // The worker's memo of the last head: remembering this one (or not), then asked
    // again and for every prefix, it answers exactly as a full parse.
    let mut memo = HeadMemo::new();
    assert_eq!(memo.parse(data, max), full);
    assert_eq!(
        memo.parse(data, max),
        full,
        "a memo hit differs from the parse"
    );
    for k in split_points(data.len(), hash, &extra) {
        check_prefix(data, max, &full, k);
        assert_eq!(memo.parse(&data[..k], max), parse_head(&data[..k], max));
        assert_eq!(memo.parse(data, max), full);
    }
    // The body decoder: the body after a chunked head, else the whole input (so seeds
    // that are bare chunked bodies reach it too).
    let body_input = match &full {
        Ok(h) if h.body == BodyKind::Chunked => &data[h.head_len_bytes..],
        _ => data,
    };
    crate::chunked::check(body_input, hash);
    // Pipelining: the stream framed at once equals the stream framed piece by piece.
    let whole = framing::frame_stream(data, 0);
    let pieces = framing::frame_in_pieces(data, &split_points(data.len(), hash >> 7, &[]));
    assert_eq!(
        whole.requests, pieces.requests,
        "framing depends on how the stream was split"
    );
    assert_eq!(whole.consumed_bytes, pieces.consumed_bytes);
    assert_eq!(
        normalise(whole.stop),
        normalise(pieces.stop),
        "the end of framing depends on how the stream was split"
    );
    assert_eq!(
        whole.consumed_bytes,
        whole.requests.iter().map(|r| r.len_bytes).sum::<usize>()
    );
}

/// A refused head is refused whatever the split; only 400-vs-431 may differ (see
/// `check_prefix`): a head that is both malformed and too big (too long, or more than
/// 64 fields) gets whichever refusal the bytes buffered so far show first.
fn normalise(stop: Stop) -> Stop {
    match stop {
        Stop::Reject {
            status: 431,
            head_method,
            head_refused,
        } => Stop::Reject {
            status: 400,
            head_method,
            head_refused,
        },
        other => other,
    }
}

/// Mostly the server default; sometimes small limits so short inputs reach `TooLarge`.
fn max_head_bytes(hash: u64) -> usize {
    match hash % 8 {
        0..=5 => framing::MAX_HEAD_BYTES,
        6 => 1024,
        _ => 16 + ((hash >> 8) % 256) as usize,
    }
}

/// What an accepted head must look like, checked with an independent line splitter.
fn check_accepted(data: &[u8], max: usize, head: &Head<'_>) {
    let len = head.head_len_bytes;
    assert!(
        len <= data.len() && len <= max,
        "head_len {len} beyond input or limit {max}"
    );
    assert!(
        data[..len].ends_with(b"\r\n\r\n"),
        "head does not end in CRLFCRLF"
    );
    assert!(head.minor_version <= 1, "HTTP/1.{}", head.minor_version);
    let path_ok = head.path == b"*" || head.path.first() == Some(&b'/');
    assert!(path_ok, "path {:?}", head.path.escape_ascii().to_string());
    assert!(head.path != b"*" || head.query.is_empty());
    assert!(!head.path.contains(&b'?'), "path keeps a '?'");
    for &b in head.path.iter().chain(head.query) {
        assert!(b.is_ascii_graphic() && b != b'#', "target byte {b:#04x}");
    }
    if head.body == BodyKind::Chunked {
        assert_eq!(head.minor_version, 1, "chunked body on HTTP/1.0");
    }

    let lines = HeadLines::split(&data[..len]).expect("an accepted head splits into CRLF lines");
    let method_ok = match head.method {
        Method::Get => lines.method == b"GET",
        Method::Head => lines.method == b"HEAD",
        Method::Patch => lines.method == b"PATCH",
        Method::Other => !matches!(lines.method, b"GET" | b"HEAD" | b"PATCH"),
    };
    assert!(method_ok, "method {:?} for {:?}", head.method, lines.method);
    assert_eq!(lines.version_minor, Some(head.minor_version));
    // Request smuggling defences (SPEC §5): none of these may be accepted.
    let content_length = lines.values(b"content-length");
    let transfer_encoding = lines.values(b"transfer-encoding");
    assert!(
        content_length.len() <= 1,
        "duplicate Content-Length accepted"
    );
    assert!(
        transfer_encoding.len() <= 1,
        "duplicate Transfer-Encoding accepted"
    );
    assert!(
        content_length.is_empty() || transfer_encoding.is_empty(),
        "Content-Length with Transfer-Encoding accepted"
    );
    let hosts = lines.values(b"host").len();
    assert!(hosts <= 1, "{hosts} Host headers accepted");
    for host in lines.values(b"host") {
        assert!(
            is_uri_host_and_port(host.trim_ascii()),
            "Host {:?} accepted",
            String::from_utf8_lossy(host)
        );
    }
    assert!(
        head.minor_version == 0 || hosts == 1,
        "HTTP/1.1 without Host accepted"
    );
    let auth = lines.values(b"authorization");
    assert!(auth.len() <= 1, "two Authorization headers accepted");
    assert_eq!(
        head.authorization.map(<[u8]>::trim_ascii),
        auth.first().map(|v| v.trim_ascii())
    );
    match head.body {
        BodyKind::None => assert!(content_length.is_empty() && transfer_encoding.is_empty()),
        BodyKind::Length(n) => {
            let text = content_length[0].trim_ascii();
            assert!(!text.is_empty() && text.iter().all(u8::is_ascii_digit));
            assert_eq!(
                std::str::from_utf8(text).ok().and_then(|t| t.parse().ok()),
                Some(n)
            );
        }
        BodyKind::Chunked => {
            assert!(
                transfer_encoding[0]
                    .trim_ascii()
                    .eq_ignore_ascii_case(b"chunked")
            );
        }
    }
    let close = lines.connection_has(b"close");
    let expected_keep_alive = if head.minor_version == 1 {
        !close
    } else {
        lines.connection_has(b"keep-alive") && !close
    };
    assert_eq!(head.keep_alive, expected_keep_alive, "keep-alive decision");
    let expect = lines
        .values(b"expect")
        .iter()
        .any(|v| v.trim_ascii().eq_ignore_ascii_case(b"100-continue"));
    // RFC 9110 §10.1.1: an HTTP/1.0 client's Expect is ignored.
    assert_eq!(
        head.expect_continue,
        expect && head.minor_version == 1,
        "Expect: 100-continue"
    );

    let encoded = lines.values(b"content-encoding").iter().any(|v| {
        v.split(|&b| b == b',').any(|coding| {
            let coding = coding.trim_ascii();
            !coding.is_empty() && !coding.eq_ignore_ascii_case(b"identity")
        })
    });
    assert_eq!(head.content_encoded, encoded, "Content-Encoding");
    assert_eq!(
        head.forwarded_for.map(<[u8]>::trim_ascii),
        lines
            .values(b"x-forwarded-for")
            .last()
            .map(|v| v.trim_ascii()),
        "the last X-Forwarded-For line"
    );
    let if_none_match = lines.values(b"if-none-match");
    assert_eq!(
        head.if_none_match.map(<[u8]>::trim_ascii),
        match if_none_match.as_slice() {
            [one] => Some(one.trim_ascii()),
            _ => None, // several lines: the condition is not evaluated
        },
        "If-None-Match"
    );
    assert_eq!(
        usize::from(head.if_none_match_lines),
        if_none_match.len().min(255),
        "If-None-Match lines"
    );
    let if_match = lines.values(b"if-match");
    assert_eq!(
        head.if_match.map(<[u8]>::trim_ascii),
        match if_match.as_slice() {
            [] => None,
            [one] => Some(one.trim_ascii()),
            _ => Some(&b""[..]), // several lines: no write precondition accepts them
        },
        "If-Match"
    );

    // The head is self-delimiting: what follows it does not matter.
    let alone = parse_head(&data[..len], max);
    assert!(
        matches!(&alone, Ok(h) if same_head(h, head)),
        "head alone: {alone:?}"
    );
}

/// RFC 3986 `uri-host [ ":" port ]` (RFC 9112 §3.2), written apart from the
/// parser's check: an IP literal in brackets, else a reg-name (or IPv4) of
/// unreserved, sub-delims and `%XX`, then an optional `:` and digits.
fn is_uri_host_and_port(value: &[u8]) -> bool {
    let plain = |b: &u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(b);
    let (host_ok, port) = match value.strip_prefix(b"[") {
        Some(rest) => match rest.splitn(2, |&b| b == b']').collect::<Vec<_>>()[..] {
            [literal, port] => (
                !literal.is_empty() && literal.iter().all(|b| *b == b':' || plain(b)),
                port,
            ),
            _ => return false,
        },
        None => {
            let (name, port) = match value.iter().position(|&b| b == b':') {
                Some(colon) => value.split_at(colon),
                None => (value, &b""[..]),
            };
            let mut pieces = name.split(|&b| b == b'%');
            let first_ok = pieces.next().is_some_and(|p| p.iter().all(plain));
            let escapes_ok = pieces.all(|p| {
                p.len() >= 2 && p[..2].iter().all(u8::is_ascii_hexdigit) && p[2..].iter().all(plain)
            });
            (first_ok && escapes_ok, port)
        }
    };
    let port_ok = port.is_empty() || (port[0] == b':' && port[1..].iter().all(u8::is_ascii_digit));
    host_ok && port_ok
}

/// A prefix of the input gives `Incomplete` or the same outcome as the whole input (for
/// refusals: a refusal, possibly another one).
fn check_prefix(data: &[u8], max: usize, full: &Result<Head<'_>, HeadError>, k: usize) {
    let Some(prefix) = data.get(..k) else { return };
    let part = parse_head(prefix, max);
    match (full, &part) {
        (_, Err(HeadError::Incomplete)) => {
            if let Ok(h) = full {
                assert!(
                    k < h.head_len_bytes,
                    "complete head reported Incomplete at {k}"
                );
            }
        }
        (Ok(a), Ok(b)) => assert!(same_head(a, b), "prefix {k} parsed differently"),
        // Refused either way. Which refusal (400 or 431, and the message) may depend on
        // how much has arrived: e.g. the 65th field line is seen before a later bare LF.
        (
            Err(
                HeadError::TooLarge
                | HeadError::TooManyFields
                | HeadError::Bad(_)
                | HeadError::UnsupportedVersion,
            ),
            Err(
                HeadError::TooLarge
                | HeadError::TooManyFields
                | HeadError::Bad(_)
                | HeadError::UnsupportedVersion,
            ),
        ) => {}
        _ => panic!("prefix of {k} bytes: {part:?}, whole input: {full:?}"),
    }
}
