//! A parsed head written out again from its fields must parse back to the same meaning;
//! and the field-by-field equality the other properties compare heads with.

use availability_server::http::{BodyKind, Head, Method, parse_head};

/// Writes the head again from its parsed fields; it must parse back to the same meaning.
pub(super) fn check_reserialised(head: &Head<'_>) {
    let mut text = Vec::new();
    text.extend_from_slice(match head.method {
        Method::Get => b"GET",
        Method::Head => b"HEAD",
        Method::Patch => b"PATCH",
        Method::Other => b"OPTIONS", // any other token; OPTIONS also allows the target *
    });
    text.push(b' ');
    text.extend_from_slice(head.path);
    if !head.query.is_empty() {
        text.push(b'?');
        text.extend_from_slice(head.query);
    }
    text.extend_from_slice(
        format!(" HTTP/1.{}\r\nHost: example.test\r\n", head.minor_version).as_bytes(),
    );
    match head.body {
        BodyKind::None => {}
        BodyKind::Length(n) => {
            text.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes())
        }
        BodyKind::Chunked => text.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
    }
    match (head.minor_version, head.keep_alive) {
        (1, false) => text.extend_from_slice(b"Connection: close\r\n"),
        (0, true) => text.extend_from_slice(b"Connection: keep-alive\r\n"),
        _ => {}
    }
    if head.expect_continue {
        text.extend_from_slice(b"Expect: 100-continue\r\n");
    }
    if head.content_encoded {
        text.extend_from_slice(b"Content-Encoding: gzip\r\n");
    }
    if let Some(value) = head.forwarded_for {
        text.extend_from_slice(b"X-Forwarded-For: ");
        text.extend_from_slice(value);
        text.extend_from_slice(b"\r\n");
    }
    if let Some(value) = head.if_none_match {
        text.extend_from_slice(b"If-None-Match: ");
        text.extend_from_slice(value);
        text.extend_from_slice(b"\r\n");
    } else {
        // Several lines (none kept): as many again, any value.
        for _ in 0..head.if_none_match_lines {
            text.extend_from_slice(b"If-None-Match: *\r\n");
        }
    }
    match head.if_match {
        Some(b"") => text.extend_from_slice(b"If-Match: *\r\nIf-Match: *\r\n"),
        Some(value) => {
            text.extend_from_slice(b"If-Match: ");
            text.extend_from_slice(value);
            text.extend_from_slice(b"\r\n");
        }
        None => {}
    }
    if let Some(value) = head.authorization {
        text.extend_from_slice(b"Authorization: ");
        text.extend_from_slice(value);
        text.extend_from_slice(b"\r\n");
    }
    text.extend_from_slice(b"\r\n");
    let again = parse_head(&text, text.len());
    let Ok(back) = &again else {
        panic!(
            "re-serialised head {:?} is refused: {again:?}",
            text.escape_ascii().to_string()
        );
    };
    assert_eq!(back.head_len_bytes, text.len());
    let method_same = back.method == head.method;
    let auth_same =
        back.authorization.map(<[u8]>::trim_ascii) == head.authorization.map(<[u8]>::trim_ascii);
    assert!(
        method_same
            && back.path == head.path
            && back.query == head.query
            && back.minor_version == head.minor_version
            && back.keep_alive == head.keep_alive
            && back.body == head.body
            && back.expect_continue == head.expect_continue
            && back.content_encoded == head.content_encoded
            && back.forwarded_for.map(<[u8]>::trim_ascii)
                == head.forwarded_for.map(<[u8]>::trim_ascii)
            && back.if_none_match.map(<[u8]>::trim_ascii)
                == head.if_none_match.map(<[u8]>::trim_ascii)
            && back.if_none_match_lines == head.if_none_match_lines
            && back.if_match.map(<[u8]>::trim_ascii) == head.if_match.map(<[u8]>::trim_ascii)
            && auth_same,
        "re-serialised head means something else: {head:?} vs {back:?}"
    );
}

/// Field-by-field equality (`Head` borrows its input and has no `PartialEq`).
pub fn same_head(a: &Head<'_>, b: &Head<'_>) -> bool {
    a.method == b.method
        && a.path == b.path
        && a.query == b.query
        && a.minor_version == b.minor_version
        && a.keep_alive == b.keep_alive
        && a.body == b.body
        && a.authorization == b.authorization
        && a.expect_continue == b.expect_continue
        && a.content_encoded == b.content_encoded
        && a.forwarded_for == b.forwarded_for
        && a.if_none_match == b.if_none_match
        && a.if_none_match_lines == b.if_none_match_lines
        && a.if_match == b.if_match
        && a.head_len_bytes == b.head_len_bytes
}
