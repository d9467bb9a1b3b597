//! Request-head parsing: `httparse` for the grammar, plus the framing rules of
//! RFC 9112 that `httparse` leaves to its caller (SPEC §5).
//!
//! Everything here borrows from the caller's read buffer and allocates nothing:
//! headers go into a fixed stack array of [`MAX_HEADERS`] entries.

use std::mem::MaybeUninit;

use super::fields::read_fields;

/// Most header fields accepted in one request; more is answered like an oversized head (431).
pub const MAX_HEADERS: usize = 64;

/// The request methods the server distinguishes; any other valid token is [`Method::Other`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `PATCH`
    Patch,
    /// Any other syntactically valid method token (answered 404/405 by the router).
    Other,
}

/// How the request body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// Neither `Content-Length` nor `Transfer-Encoding`: no body.
    None,
    /// `Content-Length: n` (n may be 0).
    Length(u64),
    /// `Transfer-Encoding: chunked`; decode with [`crate::http::chunked::ChunkedDecoder`].
    Chunked,
}

/// A parsed request head, borrowing from the read buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head<'a> {
    /// The request method.
    pub method: Method,
    /// Origin-form path without the query. Absolute-form `http://host/p?q` is reduced to
    /// `/p` (or `/` when it has no path); `*` stays `*`. Not percent-decoded.
    pub path: &'a [u8],
    /// The bytes after the first `?` of the request-target, without it; empty if none.
    pub query: &'a [u8],
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Whether the connection may stay open after this exchange (RFC 9112 §9.3).
    pub keep_alive: bool,
    /// How the body that follows the head is framed.
    pub body: BodyKind,
    /// The raw `Authorization` value, if the header was present.
    pub authorization: Option<&'a [u8]>,
    /// `Expect: 100-continue` was sent (HTTP/1.1 only): the client waits for a
    /// `100 Continue` before sending the body.
    pub expect_continue: bool,
    /// A `Content-Encoding` other than `identity` was sent: the body is not plain JSON.
    pub content_encoded: bool,
    /// The last `X-Forwarded-For` line, if any (read only from trusted proxies).
    pub forwarded_for: Option<&'a [u8]>,
    /// The `If-None-Match` value when exactly one such line was sent (several: `None`,
    /// and the read gets its full answer).
    pub if_none_match: Option<&'a [u8]>,
    /// `If-None-Match` lines sent (a write refuses any: see `api::patch`).
    pub if_none_match_lines: u8,
    /// The `If-Match` value (several lines: empty).
    pub if_match: Option<&'a [u8]>,
    /// Bytes consumed through the final CRLFCRLF, including one ignored leading CRLF.
    pub head_len_bytes: usize,
}

/// Why a head could not be parsed (yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    /// No complete head yet; read more bytes and call again.
    Incomplete,
    /// The head is, or would become, longer than the limit (431).
    TooLarge,
    /// The head has more than [`MAX_HEADERS`] field lines (431).
    TooManyFields,
    /// A malformed or ambiguous request (400, then close); the message is for the JSON body.
    Bad(&'static str),
    /// A request line ending in an `HTTP/…` version other than 1.0 and 1.1 (505, then
    /// close): httparse reads only those two.
    UnsupportedVersion,
}

/// Parses one request head from the start of `buf`.
///
/// Bytes after the head (a body, pipelined requests) are left untouched; the head ends
/// at `head_len_bytes`. `max_head_len_bytes` bounds the head, counting the optional
/// leading CRLF. RFC 9112 §2.2 lets a server ignore empty lines before the request
/// line; we ignore at most one CRLF (what a client sends after a body by mistake) and
/// reject more, so a stream of empty lines cannot keep a connection busy.
pub fn parse_head(buf: &[u8], max_head_len_bytes: usize) -> Result<Head<'_>, HeadError> {
    let start = leading_crlf_len(buf)?;
    let window = &buf[..buf.len().min(max_head_len_bytes)];
    let Some(rest) = window.get(start..) else {
        // Only the leading CRLF fits in the limit: the head cannot.
        return Err(incomplete_or_too_large(buf, max_head_len_bytes));
    };
    // httparse leaves the entries it does not fill uninitialised: filling all 64 with
    // EMPTY_HEADER on every request cost a quarter of this function.
    let mut headers = [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let parsed = req.parse_with_uninit_headers(rest, &mut headers);
    if let Ok(httparse::Status::Complete(len)) = parsed
        && only_crlf_line_endings(rest, len, &req)
    {
        // Fast path: the framing checks need no separate byte-wise scan (see
        // `only_crlf_line_endings`). Debug builds (tests, fuzzing) re-check with it.
        debug_assert_eq!(scan_line_endings(rest), Ok(Some(len)));
        return build_head(&req, start + len);
    }
    // Slow path, for heads that are incomplete, malformed or end lines with a bare LF:
    // the scan runs first so its errors take precedence over httparse's. Except an
    // unsupported version: httparse stops at the first bad byte, so nothing before it
    // is malformed, and answering it first keeps the answer (505, not a later line's
    // 400) the same however much of the head has arrived.
    if let Err(httparse::Error::Version) = parsed
        && names_an_http_version(rest)
    {
        return Err(HeadError::UnsupportedVersion);
    }
    let Some(rel_end) = scan_line_endings(rest)? else {
        // Report garbage (e.g. TLS sent to a plain port) at once instead of after the
        // head timeout.
        parsed.map_err(|e| map_httparse_error(e, rest))?;
        return Err(incomplete_or_too_large(buf, max_head_len_bytes));
    };
    let head_bytes = &rest[..rel_end];
    let mut headers = [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    match req
        .parse_with_uninit_headers(head_bytes, &mut headers)
        .map_err(|e| map_httparse_error(e, head_bytes))?
    {
        httparse::Status::Complete(n) if n == head_bytes.len() => {}
        // The scan found CRLFCRLF and every line ending is CRLF, so httparse must agree.
        _ => return Err(HeadError::Bad("malformed request head")),
    }
    build_head(&req, start + rel_end)
}

/// Whether httparse's version error is about a version: the third word of the
/// request line is `HTTP/` and a digit (`HTTP/2.0`, `HTTP/1.2`), not garbage (`XTTP`,
/// `GET /a b HTTP/1.1`). Only the bytes up to that digit decide, so the answer is the
/// same however much of the head has arrived (httparse stops at the first bad byte).
fn names_an_http_version(head: &[u8]) -> bool {
    let mut words = head.split(|&b| b == b' ');
    match (words.next(), words.next(), words.next()) {
        (Some(method), Some(target), Some(version)) => {
            !method.is_empty()
                && !target.is_empty()
                && version.starts_with(b"HTTP/")
                && version.get(5).is_some_and(u8::is_ascii_digit)
        }
        _ => false,
    }
}

/// Whether `buf` starts a HEAD request (after the one leading CRLF [`parse_head`]
/// ignores). For refusing a head that could not be parsed: the refusal of a HEAD must
/// carry no content either (RFC 9110 §9.3.2).
pub fn starts_as_head_request(buf: &[u8]) -> bool {
    buf.strip_prefix(b"\r\n")
        .unwrap_or(buf)
        .starts_with(b"HEAD ")
}

fn incomplete_or_too_large(buf: &[u8], max_head_len_bytes: usize) -> HeadError {
    if buf.len() >= max_head_len_bytes {
        HeadError::TooLarge
    } else {
        HeadError::Incomplete
    }
}

/// Whether the head httparse accepted as `head[..len]` has only CRLF line endings, i.e.
/// whether `scan_line_endings` would find its end at `len` without error.
///
/// httparse rejects a CR not followed by LF, CR or LF inside a token or value, and
/// (in requests) a line starting with whitespace; the one thing it accepts that we do
/// not is a bare LF ending a line. Lines start at the method and at each field name,
/// so checking the two bytes before each name, and the last four bytes, covers every
/// line ending in a few comparisons instead of a pass over every byte.
fn only_crlf_line_endings(
    head: &[u8],
    head_len_bytes: usize,
    req: &httparse::Request<'_, '_>,
) -> bool {
    let base_addr = head.as_ptr().addr();
    let starts_at_method = req.method.is_some_and(|m| m.as_ptr().addr() == base_addr);
    let crlf_before = |name: &str| {
        let at = name.as_ptr().addr().checked_sub(base_addr);
        at.and_then(|at| head.get(at.checked_sub(2)?..at)) == Some(b"\r\n")
    };
    starts_at_method
        && head[..head_len_bytes].ends_with(b"\r\n\r\n")
        && req.headers.iter().all(|h| crlf_before(h.name))
}

/// The `Head` of a request httparse has parsed completely.
fn build_head<'a>(
    req: &httparse::Request<'_, 'a>,
    head_len_bytes: usize,
) -> Result<Head<'a>, HeadError> {
    let (Some(method), Some(target), Some(minor_version)) = (req.method, req.path, req.version)
    else {
        return Err(HeadError::Bad("malformed request line"));
    };
    let (path, query) = split_target(target.as_bytes())?;
    // RFC 9112 §3.2.4: the asterisk-form is only for a server-wide OPTIONS.
    if path == b"*" && method != "OPTIONS" {
        return Err(HeadError::Bad("the request-target * is only for OPTIONS"));
    }
    let fields = read_fields(req.headers, minor_version)?;
    Ok(Head {
        method: parse_method(method),
        path,
        query,
        minor_version,
        keep_alive: fields.keep_alive,
        body: fields.body,
        authorization: fields.authorization,
        expect_continue: fields.expect_continue,
        content_encoded: fields.content_encoded,
        forwarded_for: fields.forwarded_for,
        if_none_match: fields.if_none_match,
        if_none_match_lines: fields.if_none_match_lines,
        if_match: fields.if_match,
        head_len_bytes,
    })
}

/// Length of the one leading CRLF we ignore (0 or 2).
fn leading_crlf_len(buf: &[u8]) -> Result<usize, HeadError> {
    match buf {
        [b'\r', b'\n', b'\r' | b'\n', ..] => Err(HeadError::Bad(
            "more than one empty line before the request line",
        )),
        [b'\r', b'\n', ..] => Ok(2),
        [b'\r'] => Ok(0), // The LF may still come; the scan treats this CR as pending.
        [b'\r', ..] => Err(HeadError::Bad("bare CR in request head")),
        [b'\n', ..] => Err(HeadError::Bad("bare LF in request head")),
        _ => Ok(0),
    }
}

/// Scans for the CRLFCRLF that ends the head, checking on the way that every CR is
/// followed by LF, every LF preceded by CR (httparse accepts bare LF), and that no
/// line starts with whitespace (obs-fold). Returns the head length when complete.
fn scan_line_endings(bytes: &[u8]) -> Result<Option<usize>, HeadError> {
    let mut i = 0;
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'\r' || b == b'\n') {
        let at = i + offset;
        if bytes[at] == b'\n' {
            return Err(HeadError::Bad("bare LF in request head"));
        }
        match bytes.get(at + 1) {
            None => return Ok(None),
            Some(b'\n') => {}
            Some(_) => return Err(HeadError::Bad("bare CR in request head")),
        }
        // A CRLF at `at`: what starts the next line?
        match bytes.get(at + 2) {
            None => return Ok(None),
            Some(b' ' | b'\t') => return Err(HeadError::Bad("obs-fold (line folding) in header")),
            Some(b'\r') => match bytes.get(at + 3) {
                None => return Ok(None),
                Some(b'\n') => return Ok(Some(at + 4)),
                Some(_) => return Err(HeadError::Bad("bare CR in request head")),
            },
            Some(_) => i = at + 2,
        }
    }
    Ok(None)
}

fn map_httparse_error(error: httparse::Error, head: &[u8]) -> HeadError {
    match error {
        httparse::Error::Version if names_an_http_version(head) => HeadError::UnsupportedVersion,
        httparse::Error::TooManyHeaders => HeadError::TooManyFields,
        httparse::Error::HeaderName => HeadError::Bad("invalid header name"),
        httparse::Error::HeaderValue => HeadError::Bad("invalid header value"),
        httparse::Error::NewLine => HeadError::Bad("invalid line ending"),
        httparse::Error::Token => HeadError::Bad("invalid method or request-target"),
        httparse::Error::Version => HeadError::Bad("unsupported HTTP version"),
        httparse::Error::Status => HeadError::Bad("malformed request line"),
    }
}

fn parse_method(method: &str) -> Method {
    // Methods are case-sensitive (RFC 9110 §9.1).
    match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "PATCH" => Method::Patch,
        _ => Method::Other,
    }
}

/// Splits a request-target into (path, query); see [`Head::path`].
fn split_target(target: &[u8]) -> Result<(&[u8], &[u8]), HeadError> {
    // httparse admits any non-control byte; a request-target is ASCII, has no fragment,
    // and none of the bytes RFC 3986 leaves out of URIs (RFC 9112 §3.2: 400).
    // Compares rather than a table, and no early exit, so that it vectorises.
    let invalid = target.iter().fold(false, |invalid, &b| {
        invalid
            | !b.is_ascii_graphic()
            | matches!(
                b,
                b'#' | b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
            )
    });
    if invalid {
        return Err(HeadError::Bad(
            "request-target must be a URI: ASCII, no fragment, none of \" < > \\ ^ ` { | }",
        ));
    }
    if target == b"*" {
        return Ok((target, &[]));
    }
    let origin = if target.starts_with(b"/") {
        target
    } else if let Some(rest) = strip_scheme(target) {
        let authority_len = rest
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .unwrap_or(rest.len());
        if authority_len == 0 {
            return Err(HeadError::Bad(
                "absolute-form request-target without a host",
            ));
        }
        // RFC 9110 §4.2.4: userinfo in an http(s) URI is to be treated as an error.
        if rest[..authority_len].contains(&b'@') {
            return Err(HeadError::Bad("request-target with userinfo (user@host)"));
        }
        &rest[authority_len..]
    } else {
        return Err(HeadError::Bad("request-target must start with '/'"));
    };
    let (path, query) = match origin.iter().position(|&b| b == b'?') {
        Some(q) => (&origin[..q], &origin[q + 1..]),
        None => (origin, &origin[origin.len()..]),
    };
    // Absolute-form with an empty path means "/" (RFC 9112 §3.2.2).
    let path: &[u8] = if path.is_empty() { b"/" } else { path };
    Ok((path, query))
}

/// The part of an absolute-form target after `http://` or `https://` (scheme case-insensitive).
fn strip_scheme(target: &[u8]) -> Option<&[u8]> {
    for scheme in [&b"http://"[..], &b"https://"[..]] {
        if let Some(prefix) = target.get(..scheme.len())
            && prefix.eq_ignore_ascii_case(scheme)
        {
            return Some(&target[scheme.len()..]);
        }
    }
    None
}
