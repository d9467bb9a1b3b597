//! Responses from the writer thread: the bytes, and their hand-off to the worker that
//! owns the connection (a channel send, then a wake of that worker's poll).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{WriteJob, unix_now_ms};
use crate::api::{ReplyTo, STATE_DRAINING, Shared, put_tail};
use crate::http::date::{IMF_FIXDATE_LEN, format_imf_fixdate};
use crate::http::response::{ByteWriter, put_uncached_json_head};
use crate::runtime::{ConnRef, Reply};

pub(super) fn error_body(code: &str, message: &str, entry: Option<usize>) -> Vec<u8> {
    let mut error = serde_json::json!({ "code": code, "message": message });
    if let Some(index) = entry {
        error["index"] = index.into();
    }
    serde_json::json!({ "error": error })
        .to_string()
        .into_bytes()
}

/// A complete response for `job`, counted in the writer's reply statistics, and
/// whether its connection closes after it (as its `Connection` field says).
pub(super) fn response(
    shared: &Shared,
    job: &WriteJob,
    status: u16,
    extra_headers: &[&[u8]],
    body: &[u8],
) -> Reply {
    shared.writer_stats.record_reply(status);
    // A drain that began while the key was checked still closes the connection.
    let draining = shared.state.load(Ordering::Acquire) == STATE_DRAINING;
    // The same head writers as the workers' answers, so the two cannot drift apart.
    let mut head = [0u8; 1024];
    let mut w = ByteWriter::new(&mut head);
    put_uncached_json_head(&mut w, status, body.len());
    for header in extra_headers {
        w.put(header);
    }
    let mut date = [0u8; IMF_FIXDATE_LEN];
    format_imf_fixdate((unix_now_ms() / 1000) as i64, &mut date);
    let close = job.close || draining;
    put_tail(&mut w, &date, job.rate, close, job.http10_keep_alive);
    assert!(!w.overflowed(), "a write reply's head fits 1 KiB");
    let mut out = Vec::with_capacity(w.written().len() + body.len());
    out.extend_from_slice(w.written());
    out.extend_from_slice(body);
    Reply { bytes: out, close }
}

/// Replies of one group commit: all are queued first, then each worker concerned is
/// woken once, instead of one wake (and possibly one context switch) per reply.
#[derive(Default)]
pub(super) struct Outbox {
    wakers: Vec<Arc<mio::Waker>>,
}

impl Outbox {
    pub fn push(&mut self, to: &ReplyTo, conn: ConnRef, reply: Reply) {
        if to.tx.send((conn, reply)).is_ok()
            && !self.wakers.iter().any(|w| Arc::ptr_eq(w, &to.waker))
        {
            self.wakers.push(to.waker.clone());
        }
    }

    pub fn wake(self) {
        for waker in self.wakers {
            let _ = waker.wake();
        }
    }
}
