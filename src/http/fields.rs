//! The header fields of a request head: framing (`Content-Length`, `Transfer-Encoding`),
//! `Connection`, `Host`, `Authorization`, `Expect`, `Content-Encoding`,
//! `X-Forwarded-For` (SPEC §5), `If-None-Match` and `If-Match`. Split from
//! [`super::request`], which handles the request line and line framing.

use super::request::{BodyKind, HeadError};

/// What the header fields say about framing, connection and credentials.
pub(super) struct Fields<'a> {
    pub(super) keep_alive: bool,
    pub(super) body: BodyKind,
    pub(super) authorization: Option<&'a [u8]>,
    pub(super) expect_continue: bool,
    pub(super) content_encoded: bool,
    pub(super) forwarded_for: Option<&'a [u8]>,
    pub(super) if_none_match: Option<&'a [u8]>,
    pub(super) if_none_match_lines: u8,
    pub(super) if_match: Option<&'a [u8]>,
}

/// Reads the header fields httparse split out, applying SPEC §5's framing rules.
pub(super) fn read_fields<'a>(
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
    let mut content_encoded = false;
    let mut forwarded_for = None;
    let (mut if_none_match, mut if_none_match_lines) = (None, 0u8);
    let (mut if_match, mut if_match_lines) = (None, 0u8);
    let (mut close, mut keep_alive_token) = (false, false);

    for header in headers {
        let name = header.name.as_bytes();
        let value = header.value;
        if name.eq_ignore_ascii_case(b"host") {
            host_count += 1;
            if !is_valid_host(value) {
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
        } else if name.eq_ignore_ascii_case(b"x-forwarded-for") {
            forwarded_for = Some(value); // the last line: the nearest proxy's
        } else if name.eq_ignore_ascii_case(b"content-encoding") {
            // A list (RFC 9110 §8.4); empty elements are allowed and mean nothing.
            content_encoded |= value.split(|&b| b == b',').any(|coding| {
                let coding = coding.trim_ascii();
                !coding.is_empty() && !coding.eq_ignore_ascii_case(b"identity")
            });
        } else if name.eq_ignore_ascii_case(b"if-none-match") {
            if_none_match_lines = if_none_match_lines.saturating_add(1);
            if_none_match = Some(value);
        } else if name.eq_ignore_ascii_case(b"if-match") {
            if_match_lines = if_match_lines.saturating_add(1);
            if_match = Some(value);
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
        content_encoded,
        forwarded_for,
        // Several lines make one list (RFC 9110 §5.3); rather than join them, such a
        // request gets the full answer, which is always a correct reply.
        if_none_match: if if_none_match_lines == 1 {
            if_none_match
        } else {
            None
        },
        if_none_match_lines,
        // Several lines: the empty value, which no write precondition accepts.
        if_match: if if_match_lines > 1 {
            Some(b"")
        } else {
            if_match
        },
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

/// Whether `value` is `uri-host [ ":" port ]` (RFC 9112 §3.2 makes a server refuse
/// any other Host value): a reg-name or IPv4 address, or an IP literal in brackets,
/// then digits after one `:`. Empty is allowed (a target with no authority).
/// Once per request: the port is found from the end, and the name is one pass of
/// table loads with no early exit.
fn is_valid_host(value: &[u8]) -> bool {
    let port_digits = value
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let host = match value.len() - port_digits {
        n if n > 0 && value[n - 1] == b':' => &value[..n - 1],
        _ => value, // no port (a name may end in digits; a stray ':' fails below)
    };
    if let [b'[', literal @ .., b']'] = host {
        // IPv6 or IPvFuture: unreserved, sub-delims and `:`, no `%`; checked no
        // further (an answer never depends on Host).
        return !literal.is_empty()
            && literal
                .iter()
                .all(|&b| b == b':' || HOST_BYTES[usize::from(b)] == REG_NAME);
    }
    let (all, any) = host.iter().fold((REG_NAME, 0), |(all, any), &b| {
        let class = HOST_BYTES[usize::from(b)];
        (all & class, any | class)
    });
    all & REG_NAME != 0 && (any & PERCENT == 0 || super::query::escapes_are_valid(host))
}

/// A byte of a reg-name ([`is_reg_name_byte`]).
const REG_NAME: u8 = 1;
/// The `%` of a pct-encoded byte (also a reg-name byte).
const PERCENT: u8 = 2;

/// The class bits of every byte value in a Host name.
static HOST_BYTES: [u8; 256] = {
    let mut table = [0; 256];
    let mut byte = 0;
    while byte < table.len() {
        if is_reg_name_byte(byte as u8) {
            table[byte] = REG_NAME;
        }
        byte += 1;
    }
    table[b'%' as usize] |= PERCENT;
    table
};

/// Bytes of an RFC 3986 reg-name (and of an IPv4 address): unreserved, sub-delims,
/// and `%` of a pct-encoded byte.
const fn is_reg_name_byte(b: u8) -> bool {
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
        )
}
