//! An independent, deliberately naive reading of an accepted request head: split on
//! CRLF, then on the first `:`. Used as the oracle that `parse_head` never accepts a
//! head whose framing a simpler reader would see differently.

/// A request head read line by line.
pub struct HeadLines<'a> {
    pub method: &'a [u8],
    pub target: &'a [u8],
    /// `Some(0)` / `Some(1)` for `HTTP/1.0` / `HTTP/1.1`, else `None`.
    pub version_minor: Option<u8>,
    /// (name, value without surrounding spaces/tabs), in order.
    pub fields: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> HeadLines<'a> {
    /// Splits a complete head (ending in CRLFCRLF, at most one leading CRLF). Panics,
    /// naming the problem, if the head has a bare CR or LF, a folded line, or a field
    /// line without a colon: an accepted head must have none of these.
    pub fn split(head: &'a [u8]) -> Option<HeadLines<'a>> {
        let head = head.strip_prefix(b"\r\n").unwrap_or(head);
        let body = head.strip_suffix(b"\r\n\r\n")?;
        let mut lines = Vec::new();
        let mut rest = body;
        loop {
            match find(rest, b"\r\n") {
                Some(at) => {
                    lines.push(&rest[..at]);
                    rest = &rest[at + 2..];
                }
                None => {
                    lines.push(rest);
                    break;
                }
            }
        }
        for line in &lines {
            assert!(
                !line.iter().any(|&b| b == b'\r' || b == b'\n'),
                "accepted head has a bare CR or LF: {:?}",
                line.escape_ascii().to_string()
            );
        }
        let (request_line, field_lines) = lines.split_first()?;
        let mut parts = request_line.split(|&b| b == b' ');
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            panic!(
                "accepted request line is not METHOD SP target SP version: {:?}",
                request_line.escape_ascii().to_string()
            );
        };
        let version_minor = match version {
            b"HTTP/1.0" => Some(0),
            b"HTTP/1.1" => Some(1),
            _ => None,
        };
        let mut fields = Vec::new();
        for line in field_lines {
            assert!(
                !line.starts_with(b" ") && !line.starts_with(b"\t"),
                "accepted head has a folded line"
            );
            let colon = line
                .iter()
                .position(|&b| b == b':')
                .unwrap_or_else(|| panic!("field line without ':' accepted"));
            let name = &line[..colon];
            let value = trim_ows(&line[colon + 1..]);
            fields.push((name, value));
        }
        Some(HeadLines {
            method,
            target,
            version_minor,
            fields,
        })
    }

    /// Values of every field named `name` (ASCII case-insensitive).
    pub fn values(&self, name: &[u8]) -> Vec<&'a [u8]> {
        self.fields
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, v)| v)
            .collect()
    }

    /// Whether any `Connection` field lists `token` (case-insensitive).
    pub fn connection_has(&self, token: &[u8]) -> bool {
        self.values(b"connection").iter().any(|value| {
            value
                .split(|&b| b == b',')
                .any(|t| trim_ows(t).eq_ignore_ascii_case(token))
        })
    }
}

/// Strips spaces and tabs (RFC 9110 OWS) from both ends.
pub fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// Position of `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
