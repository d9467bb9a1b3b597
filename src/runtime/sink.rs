//! Where a handler puts one response: slices of shared snapshot bytes, static
//! bytes, a little scratch, or (off the read path) owned buffers.

use std::sync::Arc;

use super::out::OutQueue;
use crate::http::date::IMF_FIXDATE_LEN;
use crate::http::response::ByteWriter;

/// A range of a [`SharedBytes`] arena.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub start_bytes: u32,
    pub len_bytes: u32,
}

impl Span {
    pub fn range(self) -> std::ops::Range<usize> {
        self.start_bytes as usize..(self.start_bytes + self.len_bytes) as usize
    }
}

/// Immutable bytes that queued responses may point into while the owner `Arc`
/// is held by the connection.
pub trait SharedBytes: std::any::Any + Send + Sync {
    fn arena(&self) -> &[u8];
}

pub struct Sink<'a> {
    pub(super) out: &'a mut OutQueue,
    pub(super) scratch: &'a mut [u8],
    pub(super) needs_hold: &'a mut bool,
    pub(super) owned: &'a mut Vec<Vec<u8>>,
    /// The cached `Date` value for this second.
    pub date: &'a [u8; IMF_FIXDATE_LEN],
    /// The connection closes after this response: say `Connection: close`.
    pub close: bool,
    /// An HTTP/1.0 client asked for keep-alive: say `Connection: keep-alive`.
    pub http10_keep_alive: bool,
    /// The status the handler answered with (for the worker's counters).
    pub status: u16,
    /// The request is a HEAD: whatever the answer, it carries no body.
    pub head_request: bool,
}

/// Scratch bytes every response can count on (headers, a slot body, an error
/// with an escaped 128-byte zone name).
pub const MIN_SCRATCH_BYTES: usize = 4096;
/// Segments every response can count on.
pub const MIN_SEGMENTS: usize = 8;

impl<'a> Sink<'a> {
    /// Formats into free scratch and queues the result. Returns false (queueing
    /// nothing) if it did not fit — which the runtime's reserve rules out for
    /// responses within `MIN_SCRATCH_BYTES` (4 KiB).
    pub fn write(&mut self, fill: impl FnOnce(&mut ByteWriter<'_>)) -> bool {
        let used = self.out.scratch_used_bytes;
        let free = &mut self.scratch[used..];
        let mut writer = ByteWriter::new(free);
        fill(&mut writer);
        if writer.overflowed() {
            return false;
        }
        let len_bytes = writer.len_bytes();
        self.out.scratch_used_bytes += len_bytes;
        // Safety: scratch lives in the connection's IoBuf, which is not returned
        // to the pool or written again until the queue drains.
        unsafe { self.out.push(&self.scratch[used..used + len_bytes]) };
        true
    }

    pub fn push_static(&mut self, bytes: &'static [u8]) {
        // Safety: 'static bytes outlive the queue.
        unsafe { self.out.push(bytes) };
    }

    /// Queues part of a shared arena. `owner` must be the value the handler's
    /// [`Handler::hold`](super::Handler::hold) returns until its next batch:
    /// the runtime takes that reference only if the write blocks, which keeps
    /// shared reference counts off the per-request path.
    pub fn push_shared<T: SharedBytes>(&mut self, owner: &Arc<T>, span: Span) {
        *self.needs_hold = true;
        // Safety: the handler keeps `owner` alive until the queue is flushed
        // or, if the flush blocks, until the connection holds it (see above).
        unsafe { self.out.push(&owner.arena()[span.range()]) };
    }

    /// Queues bytes built off the read path (date= weeks, write replies).
    pub fn push_owned(&mut self, bytes: Vec<u8>) {
        queue_owned(self.out, self.owned, bytes);
    }
}

/// Queues `bytes` and keeps them in `owned`: the only way a connection queues a
/// buffer it owns, so the queue never points into one already dropped.
pub(super) fn queue_owned(out: &mut OutQueue, owned: &mut Vec<Vec<u8>>, bytes: Vec<u8>) {
    // Safety: a Vec's heap buffer does not move when the Vec value moves into
    // `owned`, which is only cleared once the queue drains.
    unsafe { out.push(&bytes) };
    owned.push(bytes);
}
