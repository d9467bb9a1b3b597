//! A model of how a worker cuts a byte stream into requests (src/runtime/serve.rs,
//! `parse_buffered`), built on the same `parse_head` and `ChunkedDecoder` the worker
//! uses. `serve.rs` is private to the runtime and tied to mio sockets, so the fuzz
//! targets cannot call it; they check this model against itself under arbitrary splits
//! (`request_head`) and against the real server over loopback (`connection`).

use availability_server::http::parse_head;
use availability_server::http::{BodyKind, ChunkError, ChunkedDecoder, HeadError, Method};
use std::cell::RefCell;

/// Server defaults for the head and body limits (SPEC §5; `Config` defaults).
pub const MAX_HEAD_BYTES: usize = 8192;
/// Largest request body the server accepts by default.
pub const MAX_BODY_BYTES: usize = 16_384;
/// Size of a worker's read buffer (src/runtime/worker.rs): a request not complete
/// within this many bytes is refused with 413.
pub const READ_BUFFER_BYTES: usize = MAX_HEAD_BYTES + MAX_BODY_BYTES + 1024;

/// One complete request as the worker would hand it to the handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Framed {
    pub method: Method,
    pub path: Vec<u8>,
    pub query: Vec<u8>,
    pub minor_version: u8,
    pub keep_alive: bool,
    pub authorization: Option<Vec<u8>>,
    pub content_encoded: bool,
    /// The `If-None-Match` value the server evaluates (one line only).
    pub if_none_match: Option<Vec<u8>>,
    pub if_none_match_lines: u8,
    pub if_match: Option<Vec<u8>>,
    /// `Expect: 100-continue` with a body to come: a `100 Continue` may precede the
    /// answer (the worker sends one if it sees the head before any body byte).
    pub expects_continue: bool,
    pub body: Vec<u8>,
    /// Offset of the request's first byte in the stream.
    pub start: usize,
    /// Head plus body bytes.
    pub len_bytes: usize,
}

/// Why framing stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Every byte was consumed, or what is left is an incomplete request.
    NeedMore {
        /// Bytes of the incomplete request (0: the connection is between requests).
        partial_bytes: usize,
        /// Its head is complete and part of its body is missing.
        in_body: bool,
    },
    /// The worker answers with this status (400, 413, 431 or 505) and closes. `head_method`
    /// is the method when the head itself parsed (the body was the problem), else
    /// `Some(Head)` when the refused bytes start like a HEAD request (see `head_like`).
    Reject {
        status: u16,
        head_method: Option<Method>,
        /// The head itself was refused (not its body). Such a 400 may reach a client
        /// that sent the bytes in pieces as 431: a head that is both malformed and too
        /// big gets whichever refusal the bytes buffered so far show first.
        head_refused: bool,
    },
    /// The last framed request did not ask to keep the connection: it is answered, then
    /// the connection closes and nothing after it is read.
    Closed,
}

/// The requests framed from a stream, in order, and why framing stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Framing {
    pub requests: Vec<Framed>,
    pub stop: Stop,
    /// Bytes taken by `requests`.
    pub consumed_bytes: usize,
    /// The bytes after `requests` start a head that expects `100 Continue` for its body
    /// (the request is incomplete or was rejected for its body).
    pub tail_expects_continue: bool,
}

/// Frames `bytes` the way one `parse_buffered` pass would if they were all buffered.
/// Request offsets are reported relative to `base`.
pub fn frame_stream(bytes: &[u8], base: usize) -> Framing {
    BODY.with_borrow_mut(|body| frame_with(bytes, base, body))
}

thread_local! {
    /// Decoded-body scratch, reused: a fresh 16 KiB buffer per call dominated run time.
    static BODY: RefCell<Vec<u8>> = RefCell::new(vec![0u8; MAX_BODY_BYTES]);
}

fn frame_with(bytes: &[u8], base: usize, body: &mut [u8]) -> Framing {
    let mut requests = Vec::new();
    let mut at = 0;
    let stop = loop {
        // The worker sees at most a read buffer's worth of the current request.
        let input = &bytes[at..bytes.len().min(at + READ_BUFFER_BYTES)];
        if input.is_empty() {
            break need_more(0, false);
        }
        // A request still incomplete in a full buffer: 413, then close
        // (src/runtime/serve.rs `reject_oversized`).
        let buffer_full = input.len() == READ_BUFFER_BYTES;
        let head = match parse_head(input, MAX_HEAD_BYTES) {
            Ok(head) => head,
            Err(HeadError::Incomplete) if buffer_full => break reject_head(413, input),
            Err(HeadError::Incomplete) => break need_more(input.len(), false),
            Err(HeadError::TooLarge | HeadError::TooManyFields) => {
                break reject_head(431, input);
            }
            Err(HeadError::Bad(_)) => break reject_head(400, input),
            Err(HeadError::UnsupportedVersion) => break reject_head(505, input),
        };
        let is_read = matches!(head.method, Method::Get | Method::Head);
        let (body_len, request_len) = match head.body {
            BodyKind::None | BodyKind::Length(0) => (0, head.head_len_bytes),
            BodyKind::Length(_) | BodyKind::Chunked if is_read => {
                break reject(400, Some(head.method));
            }
            BodyKind::Length(n) if n > MAX_BODY_BYTES as u64 => {
                break reject(413, Some(head.method));
            }
            BodyKind::Length(n) => {
                let n = n as usize;
                if input.len() < head.head_len_bytes + n {
                    break if buffer_full {
                        reject(413, None)
                    } else {
                        need_more(input.len(), true)
                    };
                }
                body[..n].copy_from_slice(&input[head.head_len_bytes..head.head_len_bytes + n]);
                (n, head.head_len_bytes + n)
            }
            BodyKind::Chunked => {
                let mut decoder = ChunkedDecoder::new(MAX_BODY_BYTES);
                let mut decoded = 0;
                match decoder.decode(&input[head.head_len_bytes..], body, &mut decoded) {
                    Ok(p) if p.done => (decoded, head.head_len_bytes + p.consumed_bytes),
                    Ok(_) if buffer_full => break reject(413, None),
                    Ok(_) => break need_more(input.len(), true),
                    Err(ChunkError::TooLarge) => break reject(413, Some(head.method)),
                    Err(ChunkError::TrailerTooLarge) => break reject(431, Some(head.method)),
                    Err(ChunkError::Bad(_)) => break reject(400, Some(head.method)),
                }
            }
        };
        requests.push(Framed {
            method: head.method,
            path: head.path.to_vec(),
            query: head.query.to_vec(),
            minor_version: head.minor_version,
            keep_alive: head.keep_alive,
            authorization: head.authorization.map(<[u8]>::to_vec),
            content_encoded: head.content_encoded,
            if_none_match: head.if_none_match.map(<[u8]>::to_vec),
            if_none_match_lines: head.if_none_match_lines,
            if_match: head.if_match.map(<[u8]>::to_vec),
            expects_continue: expects_continue(input),
            body: body[..body_len].to_vec(),
            start: base + at,
            len_bytes: request_len,
        });
        at += request_len;
        if !head.keep_alive {
            break Stop::Closed;
        }
    };
    Framing {
        requests,
        stop,
        tail_expects_continue: expects_continue(&bytes[at..]),
        consumed_bytes: at,
    }
}

/// Whether `input` starts with a head that has `Expect: 100-continue` and a body.
fn expects_continue(input: &[u8]) -> bool {
    parse_head(input, MAX_HEAD_BYTES).is_ok_and(|head| {
        head.expect_continue && !matches!(head.body, BodyKind::None | BodyKind::Length(0))
    })
}

/// Frames a stream that arrives in pieces: after each piece, complete requests are
/// taken off the front of the buffer and the rest waits for more, as in the worker.
/// `splits` are cut offsets into `bytes` (any order; out-of-range ones are ignored).
pub fn frame_in_pieces(bytes: &[u8], splits: &[usize]) -> Framing {
    let mut cuts: Vec<usize> = splits
        .iter()
        .copied()
        .filter(|&s| s < bytes.len())
        .collect();
    cuts.push(bytes.len());
    cuts.sort_unstable();
    let mut requests = Vec::new();
    let mut consumed = 0;
    let mut stop = need_more(0, false);
    for end in cuts {
        if end < consumed {
            continue;
        }
        let pass = frame_stream(&bytes[consumed..end], consumed);
        consumed += pass.consumed_bytes;
        requests.extend(pass.requests);
        stop = pass.stop;
        if !matches!(stop, Stop::NeedMore { .. }) {
            break;
        }
    }
    Framing {
        requests,
        stop,
        tail_expects_continue: expects_continue(&bytes[consumed..]),
        consumed_bytes: consumed,
    }
}

fn need_more(partial_bytes: usize, in_body: bool) -> Stop {
    Stop::NeedMore {
        partial_bytes,
        in_body,
    }
}

/// `Some(Head)` when refused bytes that never parsed start like a HEAD request (after
/// at most one empty line): the server answers those with headers only, as it does a
/// parsed HEAD (RFC 9110 §9.3.2).
pub fn head_like(bytes: &[u8]) -> Option<Method> {
    let request_line = match bytes {
        [b'\r', b'\n', rest @ ..] => rest,
        _ => bytes,
    };
    (request_line.len() >= 5 && &request_line[..5] == b"HEAD ").then_some(Method::Head)
}

/// Whether the refused head at the start of `bytes` could have been refused as too big
/// (431) by a worker that had only part of it: some prefix ending a line, or as long as
/// the head limit, is `TooManyFields` or `TooLarge`. The whole may still be a 400 (a
/// bare LF further on), which is what [`frame_stream`] reports.
pub fn a_prefix_is_too_big(bytes: &[u8]) -> bool {
    let input = &bytes[..bytes.len().min(READ_BUFFER_BYTES)];
    let line_ends = (0..input.len())
        .filter(|&i| input[i] == b'\n')
        .map(|i| i + 1);
    // The whole of `input` need not be tried: the model refused it 400.
    let at_the_limit = MAX_HEAD_BYTES.min(input.len());
    line_ends.chain([at_the_limit]).any(|len_bytes| {
        matches!(
            parse_head(&input[..len_bytes], MAX_HEAD_BYTES),
            Err(HeadError::TooManyFields | HeadError::TooLarge)
        )
    })
}

/// A refusal of a request whose head parsed (its body was the problem).
fn reject(status: u16, head_method: Option<Method>) -> Stop {
    Stop::Reject {
        status,
        head_method,
        head_refused: false,
    }
}

/// A refusal of a head that could not be parsed, starting at `input`.
fn reject_head(status: u16, input: &[u8]) -> Stop {
    Stop::Reject {
        status,
        head_method: head_like(input),
        head_refused: true,
    }
}

/// FNV-1a, to derive split points and limits from the input itself, so corpus files
/// stay plain HTTP instead of carrying parameter bytes.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Up to four cut points in `0..=len` derived from `hash`, plus `extra` ones.
pub fn split_points(len: usize, hash: u64, extra: &[usize]) -> Vec<usize> {
    let span = len as u64 + 1;
    let mut points = vec![
        (hash % span) as usize,
        ((hash >> 16) % span) as usize,
        ((hash >> 32) % span) as usize,
        len / 2,
    ];
    points.extend(extra.iter().copied().filter(|&p| p <= len));
    points.sort_unstable();
    points.dedup();
    points
}
