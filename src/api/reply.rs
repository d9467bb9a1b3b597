//! Response pieces shared by every route: the per-request headers and the
//! JSON error shape. All written into the connection's scratch, never the heap.

use crate::http::date::IMF_FIXDATE_LEN;
use crate::http::response::{self, ByteWriter, put_uncached_json_head};
use crate::ratelimit::Decision;
use crate::runtime::Sink;

/// Route-specific headers an error carries.
#[derive(Clone, Copy)]
pub enum Extra {
    None,
    Allow(&'static [u8]),
    RetryAfter(u32),
    Authenticate(&'static [u8]),
    /// An error of a public read: readable from any origin, like the answer.
    Cors,
    /// A 429 to a public read: `Retry-After`, readable from any origin.
    RetryAfterCors(u32),
    /// One more header line (CRLF included).
    Line(&'static [u8]),
}

/// Date, RateLimit-*, Connection and the blank line that ends the head.
pub fn put_tail(
    w: &mut ByteWriter<'_>,
    date: &[u8; IMF_FIXDATE_LEN],
    rate: Option<Decision>,
    close: bool,
    http10_keep_alive: bool,
) {
    response::put_date(w, date);
    if let Some(d) = rate {
        w.put(b"RateLimit-Limit: ")
            .put_u64(d.limit as u64)
            .put(b"\r\nRateLimit-Remaining: ")
            .put_u64(d.remaining as u64)
            .put(b"\r\nRateLimit-Reset: ")
            .put_u64(d.reset_secs as u64)
            .put(b"\r\n");
    }
    response::put_connection(w, close, http10_keep_alive);
    w.put(b"\r\n");
}

fn put_extra(w: &mut ByteWriter<'_>, extra: Extra) {
    match extra {
        Extra::None => {}
        Extra::Allow(line) | Extra::Authenticate(line) | Extra::Line(line) => {
            w.put(line);
        }
        Extra::Cors => {
            w.put(response::CORS_ANY);
        }
        Extra::RetryAfter(secs) => {
            w.put(b"Retry-After: ")
                .put_u64(secs.max(1) as u64)
                .put(b"\r\n");
        }
        Extra::RetryAfterCors(secs) => {
            put_extra(w, Extra::RetryAfter(secs));
            w.put(response::CORS_ANY);
        }
    }
}

/// A complete JSON error response in one scratch segment.
#[allow(clippy::too_many_arguments)]
pub fn write_error(
    sink: &mut Sink<'_>,
    status: u16,
    code: &str,
    message: &str,
    detail: Option<&[u8]>,
    rate: Option<Decision>,
    extra: Extra,
    head_only: bool,
) {
    let mut body_buf = [0u8; 2048];
    let mut body = ByteWriter::new(&mut body_buf);
    // Details are clipped so the body always fits (they echo client bytes).
    let detail = detail.map(|d| &d[..d.len().min(256)]);
    response::put_error_body(&mut body, code, message, detail);
    assert!(!body.overflowed(), "error bodies are bounded");
    sink.status = status;
    let date = *sink.date;
    let (close, keep_alive) = (sink.close, sink.http10_keep_alive);
    let fitted = sink.write(|w| {
        put_uncached_json_head(w, status, body.len_bytes());
        put_extra(w, extra);
        put_tail(w, &date, rate, close, keep_alive);
        if !head_only {
            w.put(body.written());
        }
    });
    assert!(fitted, "the runtime reserves scratch for one response");
}
