//! Turning buffered bytes into answered requests: framing (length, chunked,
//! 100-continue), the protocol-level rejections, and the hand-off to the
//! handler — in order, one pipelined batch at a time.

use super::conn::Phase;
use super::pool::ChunkedProgress;
use super::sink::{MIN_SCRATCH_BYTES, MIN_SEGMENTS, Sink};
use super::worker::Worker;
use super::{ConnRef, Handler, Outcome, Rejection, Request};
use crate::http::chunked::{ChunkError, ChunkedDecoder};
use crate::http::request::{BodyKind, Head, HeadError, Method, starts_as_head_request};

/// Most bytes of heap-built answers queued on one connection before its requests wait
/// for the client to read (the cached answers cost nothing per connection).
const MAX_OWNED_OUT_BYTES: usize = 64 * 1024;

const TOO_LARGE_HEAD: Rejection = Rejection {
    status: 431,
    code: "header_too_large",
    message: "request line and headers exceed the server's limit (its --max-head-bytes)",
};
const TOO_MANY_FIELDS: Rejection = Rejection {
    status: 431,
    code: "header_too_large",
    message: "more than 64 header fields",
};
const UNSUPPORTED_VERSION: Rejection = Rejection {
    status: 505,
    code: "http_version_not_supported",
    message: "only HTTP/1.0 and HTTP/1.1 are supported",
};
const TOO_LARGE_BODY: Rejection = Rejection {
    status: 413,
    code: "body_too_large",
    message: "request body exceeds the server's limit (its --max-body-bytes)",
};
const TOO_LARGE_TRAILER: Rejection = Rejection {
    status: 431,
    code: "header_too_large",
    message: "the chunked body's trailer fields exceed 4 KiB",
};
const BODY_ON_READ: Rejection = Rejection {
    status: 400,
    code: "unexpected_body",
    message: "GET and HEAD requests must not have a body",
};
/// The interim response an `Expect: 100-continue` client waits for.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
pub(super) const TOO_LARGE_ENCODED: Rejection = Rejection {
    status: 413,
    code: "body_too_large",
    message: "the request's head and chunked encoding together exceed the read buffer \
              (max head + max body + 1 KiB); send larger chunks or use Content-Length",
};
pub const TIMED_OUT: Rejection = Rejection {
    status: 408,
    code: "request_timeout",
    message: "the request did not arrive in time",
};

/// How far parsing the buffered bytes got.
pub(super) enum Parsed {
    /// Requests were answered (or rejected); flush and look again.
    Progress,
    /// The buffered bytes are an incomplete request (or none).
    NeedMore { in_body: bool },
}

impl<H: Handler, S: super::stream::Stream> Worker<H, S> {
    /// Answers every complete request in the buffer, in order, until the queue
    /// needs flushing, a request is deferred, or the connection must close.
    pub(super) fn parse_buffered(&mut self, idx: u32) -> Parsed {
        let draining = self.draining;
        let worker = self.index as u16;
        let max_head_bytes = self.cfg.max_head_bytes;
        let max_body_bytes = self.cfg.max_body_bytes;
        let now_unix_s = self.date.unix_secs();
        let c = &mut self.conns[idx as usize];
        let Some(buf) = c.buf.as_mut() else {
            return Parsed::NeedMore { in_body: false };
        };
        if buf.out.is_empty() {
            self.handler.begin_batch(now_unix_s);
        }
        let super::pool::IoBuf {
            read,
            scratch,
            body,
            out,
            chunked,
        } = &mut **buf;
        let mut consumed_bytes = 0;
        let mut progress = false;
        let mut need_more = Parsed::NeedMore { in_body: false };
        let conn_ref = ConnRef {
            worker,
            index: idx,
            serial: c.serial,
        };
        while !c.close_after_flush && c.phase != Phase::Awaiting {
            // Answers built on the heap (weeks the snapshot does not hold) wait
            // in `owned` until the client has read them all: a client that pipelines
            // many and reads nothing gets no more built than this.
            let owned_bytes: usize = c.owned.iter().map(Vec::len).sum();
            if out.segments_free() < MIN_SEGMENTS
                || scratch.len() - out.scratch_used_bytes < MIN_SCRATCH_BYTES
                || owned_bytes >= MAX_OWNED_OUT_BYTES
            {
                break;
            }
            let input = &read[consumed_bytes..c.read_len_bytes];
            if input.is_empty() {
                break;
            }
            let mut sink = Sink {
                out,
                scratch,
                needs_hold: &mut c.needs_hold,
                owned: &mut c.owned,
                date: self.date.get(),
                close: true,
                http10_keep_alive: false,
                status: 0,
                head_request: false,
            };
            let (head, framing) = match self.head_memo.parse(input, max_head_bytes) {
                Ok(head) => {
                    let framing = frame_body(&head, input, max_body_bytes, body, chunked);
                    (Some(head), framing)
                }
                Err(HeadError::Incomplete) => break,
                Err(HeadError::TooLarge) => (None, Framing::Refused(TOO_LARGE_HEAD)),
                Err(HeadError::TooManyFields) => (None, Framing::Refused(TOO_MANY_FIELDS)),
                Err(HeadError::UnsupportedVersion) => (None, Framing::Refused(UNSUPPORTED_VERSION)),
                Err(HeadError::Bad(message)) => (
                    None,
                    Framing::Refused(Rejection {
                        status: 400,
                        code: "bad_request",
                        message,
                    }),
                ),
            };
            // RFC 9110 §9.3.2: no content in any response to HEAD, refusals included
            // (a head that could not be parsed is a HEAD if it starts like one).
            sink.head_request = match &head {
                Some(head) => head.method == Method::Head,
                None => starts_as_head_request(input),
            };
            let (body_len_bytes, request_len_bytes) = match framing {
                Framing::Complete {
                    body_len_bytes,
                    request_len_bytes,
                } => (body_len_bytes, request_len_bytes),
                Framing::Incomplete => (0, 0),
                Framing::Refused(rejection) => {
                    self.handler
                        .reject(c.peer_ip, c.listener, rejection, &mut sink);
                    self.cfg.stats[self.index].record_status(rejection.status);
                    c.close_after_flush = true;
                    progress = true;
                    break;
                }
            };
            let head = head.expect("only a parsed head frames a request");
            let body_incomplete = matches!(framing, Framing::Incomplete);
            if body_incomplete {
                // An `Expect: 100-continue` client sends the body only after this.
                if head.expect_continue && !c.continue_sent && input.len() == head.head_len_bytes {
                    c.continue_sent = true;
                    sink.push_static(CONTINUE);
                    self.cfg.stats[self.index].record_status(100);
                    progress = true;
                } else {
                    need_more = Parsed::NeedMore { in_body: true };
                }
                break;
            }
            // A client that half-closed after pipelining gets every complete request
            // answered: only the last one buffered closes the connection.
            let last_buffered = consumed_bytes + request_len_bytes == c.read_len_bytes;
            let close = !head.keep_alive || draining || (c.peer_closed && last_buffered);
            sink.close = close;
            sink.http10_keep_alive = head.minor_version == 0 && !close;
            let request = Request {
                head: &head,
                body: &body[..body_len_bytes],
                peer_ip: c.peer_ip,
                listener: c.listener,
                conn: conn_ref,
            };
            let outcome = self.handler.handle(&request, &mut sink);
            if let Outcome::Done = outcome {
                self.cfg.stats[self.index].record_status(sink.status);
            }
            consumed_bytes += request_len_bytes;
            c.continue_sent = false;
            progress = true;
            if close {
                c.close_after_flush = true;
            }
            if let Outcome::Deferred = outcome {
                c.phase = Phase::Awaiting;
            }
        }
        if consumed_bytes > 0 {
            read.copy_within(consumed_bytes..c.read_len_bytes, 0);
            c.read_len_bytes -= consumed_bytes;
            if c.read_len_bytes > 0 {
                // The next head's deadline counts from its first byte. The progress
                // rate keeps its window: a client that completes one tiny request a
                // second, always with the next begun, is still a trickle.
                c.phase_started_ms = self.now_ms;
            }
        }
        if progress {
            Parsed::Progress
        } else {
            need_more
        }
    }
}

/// What the bytes after a parsed head amount to.
enum Framing {
    /// The whole request is buffered; its decoded body is in `body[..body_len_bytes]`.
    Complete {
        body_len_bytes: usize,
        request_len_bytes: usize,
    },
    /// More body bytes are needed.
    Incomplete,
    /// The request cannot be served; the connection closes after the refusal.
    Refused(Rejection),
}

/// Frames the body of `head` (length or chunked) from `input`, decoding it into `body`.
/// A chunked body goes on from `chunked`, what earlier calls decoded of this request
/// (the one at the front of the read buffer: a partial request is always the last).
fn frame_body(
    head: &Head<'_>,
    input: &[u8],
    max_body_bytes: usize,
    body: &mut [u8],
    chunked: &mut Option<ChunkedProgress>,
) -> Framing {
    let is_read = matches!(head.method, Method::Get | Method::Head);
    let head_len_bytes = head.head_len_bytes;
    match head.body {
        BodyKind::None | BodyKind::Length(0) => Framing::Complete {
            body_len_bytes: 0,
            request_len_bytes: head_len_bytes,
        },
        BodyKind::Length(_) | BodyKind::Chunked if is_read => Framing::Refused(BODY_ON_READ),
        BodyKind::Length(n) if n > max_body_bytes as u64 => Framing::Refused(TOO_LARGE_BODY),
        BodyKind::Length(n) => {
            let n = n as usize;
            if input.len() < head_len_bytes + n {
                return Framing::Incomplete;
            }
            body[..n].copy_from_slice(&input[head_len_bytes..head_len_bytes + n]);
            Framing::Complete {
                body_len_bytes: n,
                request_len_bytes: head_len_bytes + n,
            }
        }
        BodyKind::Chunked => {
            // Decoding resumes where the last read left off: re-decoding from the start
            // would cost a client trickling its body a byte at a time quadratic CPU.
            let mut progress = chunked.take().unwrap_or_else(|| ChunkedProgress {
                decoder: ChunkedDecoder::new(max_body_bytes),
                fed_bytes: 0,
                decoded_len_bytes: 0,
            });
            let from = head_len_bytes + progress.fed_bytes;
            let decoded =
                progress
                    .decoder
                    .decode(&input[from..], body, &mut progress.decoded_len_bytes);
            match decoded {
                Ok(p) if p.done => Framing::Complete {
                    body_len_bytes: progress.decoded_len_bytes,
                    request_len_bytes: from + p.consumed_bytes,
                },
                Ok(p) => {
                    // Kept only while incomplete: the next request starts afresh.
                    progress.fed_bytes += p.consumed_bytes;
                    *chunked = Some(progress);
                    Framing::Incomplete
                }
                Err(ChunkError::TooLarge) => Framing::Refused(TOO_LARGE_BODY),
                Err(ChunkError::TrailerTooLarge) => Framing::Refused(TOO_LARGE_TRAILER),
                Err(ChunkError::Bad(message)) => Framing::Refused(Rejection {
                    status: 400,
                    code: "bad_chunked_body",
                    message,
                }),
            }
        }
    }
}
