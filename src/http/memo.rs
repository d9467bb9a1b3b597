//! A one-entry memo of [`parse_head`]: the last head parsed, and what it parsed to.
//!
//! A polling client sends the same bytes on every request (same target, same fields),
//! and `parse_head` is a pure function of the head's bytes. So when the buffer starts
//! with the remembered head, its result is the remembered one, re-pointed at the
//! buffer: one comparison of ~100 bytes instead of httparse, the framing checks and
//! the field loop (about a third of a slot request's user-space instructions).
//!
//! Sound because the result depends on nothing past the head: `parse_head` reads a
//! complete head up to its CRLFCRLF and stops there, so any buffer that starts with
//! those bytes parses the same (debug builds, so the tests and the fuzz targets, check
//! every hit against a full parse).
//!
//! A head with an `Authorization` field is never remembered: the memo is shared by
//! every connection of a worker, and a hit is faster than a miss, so a remembered key
//! would be a timing oracle, however faint, for anyone guessing it.

use super::request::{Head, HeadError, parse_head};

/// Longest head remembered; longer ones are parsed every time.
pub const MEMO_MAX_HEAD_BYTES: usize = 512;

/// See the module documentation. Allocated once per worker; never allocates after.
pub struct HeadMemo {
    /// The remembered head: its bytes are `bytes[..head.head.head_len_bytes]`.
    head: Option<Spans>,
    bytes: [u8; MEMO_MAX_HEAD_BYTES],
}

/// A `Head` with its borrowed slices kept as ranges of the head's bytes.
#[derive(Clone, Copy)]
struct Spans {
    head: Head<'static>,
    path: (u16, u16),
    query: (u16, u16),
    forwarded_for: Option<(u16, u16)>,
    if_none_match: Option<(u16, u16)>,
    if_match: Option<(u16, u16)>,
}

impl Default for HeadMemo {
    fn default() -> Self {
        HeadMemo::new()
    }
}

impl HeadMemo {
    pub const fn new() -> HeadMemo {
        HeadMemo {
            head: None,
            bytes: [0; MEMO_MAX_HEAD_BYTES],
        }
    }

    /// Exactly `parse_head(buf, max_head_len_bytes)`.
    pub fn parse<'a>(
        &mut self,
        buf: &'a [u8],
        max_head_len_bytes: usize,
    ) -> Result<Head<'a>, HeadError> {
        if let Some(spans) = &self.head {
            let len = spans.head.head_len_bytes;
            if len <= max_head_len_bytes && buf.len() >= len && buf[..len] == self.bytes[..len] {
                let head = spans.rebase(buf);
                debug_assert_eq!(parse_head(buf, max_head_len_bytes), Ok(head));
                return Ok(head);
            }
        }
        let head = parse_head(buf, max_head_len_bytes)?;
        self.remember(buf, &head);
        Ok(head)
    }

    fn remember(&mut self, buf: &[u8], head: &Head<'_>) {
        let len = head.head_len_bytes;
        self.head = None;
        if len > MEMO_MAX_HEAD_BYTES || head.authorization.is_some() {
            return;
        }
        let within = &buf[..len];
        let span = |s: &[u8]| span_in(within, s);
        let opt = |s: Option<&[u8]>| match s {
            None => Some(None),
            Some(s) => span(s).map(Some),
        };
        // A slice outside the head (the "/" of an absolute-form target without a
        // path) cannot be re-pointed: such heads are simply not remembered.
        let (Some(path), Some(query), Some(forwarded_for), Some(if_none_match), Some(if_match)) = (
            span(head.path),
            span(head.query),
            opt(head.forwarded_for),
            opt(head.if_none_match),
            opt(head.if_match),
        ) else {
            return;
        };
        self.head = Some(Spans {
            head: Head {
                path: b"",
                query: b"",
                authorization: None,
                forwarded_for: None,
                if_none_match: None,
                if_match: None,
                ..*head
            },
            path,
            query,
            forwarded_for,
            if_none_match,
            if_match,
        });
        self.bytes[..len].copy_from_slice(within);
    }
}

impl Spans {
    /// `authorization` stays `None` from `head`: such heads are not remembered.
    fn rebase<'a>(&self, buf: &'a [u8]) -> Head<'a> {
        let at = |(start, end): (u16, u16)| &buf[usize::from(start)..usize::from(end)];
        Head {
            path: at(self.path),
            query: at(self.query),
            forwarded_for: self.forwarded_for.map(at),
            if_none_match: self.if_none_match.map(at),
            if_match: self.if_match.map(at),
            ..self.head
        }
    }
}

/// Where `part` lies in `whole`, if it is a sub-slice of it.
fn span_in(whole: &[u8], part: &[u8]) -> Option<(u16, u16)> {
    let start = part.as_ptr().addr().checked_sub(whole.as_ptr().addr())?;
    let end = start + part.len();
    (end <= whole.len()).then_some((start as u16, end as u16))
}

#[cfg(test)]
impl HeadMemo {
    /// Whether `head_bytes` is the head remembered (what a hit compares).
    fn remembers(&self, head_bytes: &[u8]) -> bool {
        self.head
            .is_some_and(|spans| self.bytes[..spans.head.head_len_bytes] == *head_bytes)
    }
}

#[cfg(test)]
mod tests;
