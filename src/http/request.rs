//! Request-head parsing: `httparse` for the grammar, plus the framing rules of
//! RFC 9112 that `httparse` leaves to its caller (SPEC §5).
//!
//! Everything here borrows from the caller's read buffer and allocates nothing:
//! headers go into a fixed stack array of [`MAX_HEADERS`] entries.

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
#[derive(Clone, Copy, Debug)]
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
    /// Bytes consumed through the final CRLFCRLF, including one ignored leading CRLF.
    pub head_len_bytes: usize,
}

/// Why a head could not be parsed (yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    /// No complete head yet; read more bytes and call again.
    Incomplete,
    /// The head is, or would become, longer than the limit, or has too many fields (431).
    TooLarge,
    /// A malformed or ambiguous request (400, then close); the message is for the JSON body.
    Bad(&'static str),
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
    let scan = if start <= window.len() {
        scan_line_endings(&window[start..])?
    } else {
        None // Only the leading CRLF fits in the limit: the head cannot.
    };
    let Some(rel_end) = scan else {
        // Parse what we have anyway so garbage (e.g. TLS sent to a plain port) is
        // rejected at once instead of after the head timeout.
        if let Some(partial) = buf.get(start..window.len()) {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut headers);
            req.parse(partial).map_err(map_httparse_error)?;
        }
        return Err(if buf.len() >= max_head_len_bytes {
            HeadError::TooLarge
        } else {
            HeadError::Incomplete
        });
    };
    let head_end = start + rel_end;
    let head_bytes = &buf[start..head_end];

    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head_bytes).map_err(map_httparse_error)? {
        httparse::Status::Complete(n) if n == head_bytes.len() => {}
        // The scan found CRLFCRLF and every line ending is CRLF, so httparse must agree.
        _ => return Err(HeadError::Bad("malformed request head")),
    }
    let (Some(method), Some(target), Some(minor_version)) = (req.method, req.path, req.version)
    else {
        return Err(HeadError::Bad("malformed request line"));
    };
    let (path, query) = split_target(target.as_bytes())?;
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
        head_len_bytes: head_end,
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

fn map_httparse_error(error: httparse::Error) -> HeadError {
    match error {
        httparse::Error::TooManyHeaders => HeadError::TooLarge,
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
    // httparse admits any non-control byte; a request-target is ASCII and has no fragment.
    if target.iter().any(|&b| !b.is_ascii_graphic() || b == b'#') {
        return Err(HeadError::Bad(
            "request-target must be ASCII without a fragment",
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

/// What the header fields say about framing, connection and credentials.
struct Fields<'a> {
    keep_alive: bool,
    body: BodyKind,
    authorization: Option<&'a [u8]>,
    expect_continue: bool,
}

fn read_fields<'a>(
    headers: &[httparse::Header<'a>],
    minor_version: u8,
) -> Result<Fields<'a>, HeadError> {
    let mut host_count = 0usize;
    let mut content_length: Option<&[u8]> = None;
    let mut content_length_count = 0usize;
    let mut transfer_encoding: Option<&[u8]> = None;
    let mut transfer_encoding_count = 0usize;
    let mut authorization = None;
    let mut expect_continue = false;
    let (mut close, mut keep_alive_token) = (false, false);

    for header in headers {
        let name = header.name.as_bytes();
        let value = header.value;
        if name.eq_ignore_ascii_case(b"host") {
            host_count += 1;
            if !value.iter().all(|&b| is_host_byte(b)) {
                return Err(HeadError::Bad("invalid Host header"));
            }
        } else if name.eq_ignore_ascii_case(b"content-length") {
            content_length_count += 1;
            content_length = Some(value);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            transfer_encoding_count += 1;
            transfer_encoding = Some(value);
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"authorization") {
            // Two credentials are ambiguous: which one would we check?
            if authorization.is_some() {
                return Err(HeadError::Bad("more than one Authorization header"));
            }
            authorization = Some(value);
        } else if name.eq_ignore_ascii_case(b"expect") {
            // RFC 9110 §10.1.1: an HTTP/1.0 client's Expect is ignored.
            expect_continue |=
                minor_version >= 1 && value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
        }
    }

    if host_count > 1 {
        return Err(HeadError::Bad("more than one Host header"));
    }
    if host_count == 0 && minor_version >= 1 {
        return Err(HeadError::Bad("missing Host header"));
    }
    let body = match (content_length, transfer_encoding) {
        (Some(_), Some(_)) => {
            return Err(HeadError::Bad("both Content-Length and Transfer-Encoding"));
        }
        (None, Some(coding)) => {
            if transfer_encoding_count > 1 {
                return Err(HeadError::Bad("more than one Transfer-Encoding header"));
            }
            if !coding.eq_ignore_ascii_case(b"chunked") {
                return Err(HeadError::Bad(
                    "unsupported Transfer-Encoding (only a single chunked is accepted)",
                ));
            }
            // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
            if minor_version == 0 {
                return Err(HeadError::Bad("Transfer-Encoding in an HTTP/1.0 request"));
            }
            BodyKind::Chunked
        }
        (Some(value), None) => {
            if content_length_count > 1 {
                return Err(HeadError::Bad("more than one Content-Length header"));
            }
            BodyKind::Length(parse_content_length(value)?)
        }
        (None, None) => BodyKind::None,
    };
    let keep_alive = if minor_version >= 1 {
        !close
    } else {
        keep_alive_token && !close
    };
    Ok(Fields {
        keep_alive,
        body,
        authorization,
        expect_continue,
    })
}

/// `1*DIGIT`, at most 19 digits so the value always fits in a u64.
fn parse_content_length(value: &[u8]) -> Result<u64, HeadError> {
    const INVALID: HeadError = HeadError::Bad("invalid Content-Length");
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return Err(INVALID);
    }
    let mut n: u64 = 0;
    for &digit in value {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(digit - b'0')))
            .ok_or(INVALID)?;
    }
    Ok(n)
}

/// Bytes allowed in a Host value: uri-host [ ":" port ] (RFC 3986 reg-name, IP literals).
fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b'%'
                | b':'
                | b'['
                | b']'
        )
}
