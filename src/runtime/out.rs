//! The queue of response bytes a connection still has to send, as iovecs.
//!
//! Hand-written because it is the hot path: a response is a few slices that
//! already exist (snapshot bodies, static headers) plus a few bytes of scratch,
//! and all of a batch's responses leave in one `sendmsg` without copying.
//!
//! Safety contract: every slice pushed must stay valid and unchanged until it is
//! consumed or the queue is reset. The connection guarantees it by holding the
//! snapshot `Arc`, the owned reply buffers and its `IoBuf` (scratch) until the
//! queue drains.

pub const MAX_SEGMENTS: usize = 64;

pub struct OutQueue {
    iov: [libc::iovec; MAX_SEGMENTS],
    start: usize,
    end: usize,
    /// Bytes of the owning `IoBuf::scratch` already referenced by segments.
    pub scratch_used_bytes: usize,
}

impl Default for OutQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl OutQueue {
    pub fn new() -> OutQueue {
        OutQueue {
            iov: [libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            }; MAX_SEGMENTS],
            start: 0,
            end: 0,
            scratch_used_bytes: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub fn segments_free(&self) -> usize {
        MAX_SEGMENTS - self.end
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn pending_bytes(&self) -> usize {
        self.iov[self.start..self.end]
            .iter()
            .map(|v| v.iov_len)
            .sum()
    }

    pub fn reset(&mut self) {
        self.start = 0;
        self.end = 0;
        self.scratch_used_bytes = 0;
    }

    /// # Safety
    /// `bytes` must stay valid and unmodified until consumed or `reset` (see module doc).
    pub unsafe fn push(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        assert!(self.end < MAX_SEGMENTS, "caller checks segments_free first");
        self.iov[self.end] = libc::iovec {
            iov_base: bytes.as_ptr() as *mut libc::c_void,
            iov_len: bytes.len(),
        };
        self.end += 1;
    }

    /// Marks `written_bytes` as sent, trimming a partially sent segment.
    pub fn consume(&mut self, mut written_bytes: usize) {
        while written_bytes > 0 {
            assert!(self.start < self.end, "consumed more than queued");
            let seg = &mut self.iov[self.start];
            if written_bytes >= seg.iov_len {
                written_bytes -= seg.iov_len;
                self.start += 1;
            } else {
                // Safety: advancing within the same live allocation.
                seg.iov_base = unsafe { (seg.iov_base as *mut u8).add(written_bytes) } as *mut _;
                seg.iov_len -= written_bytes;
                written_bytes = 0;
            }
        }
        if self.start == self.end {
            self.reset();
        }
    }

    pub fn pending(&self) -> &[libc::iovec] {
        &self.iov[self.start..self.end]
    }

    /// Copies up to `dst.len()` pending bytes (without consuming) — used to
    /// coalesce segments into one TLS record. Returns the count copied.
    pub fn copy_pending_into(&self, dst: &mut [u8]) -> usize {
        let mut copied = 0;
        for seg in self.pending() {
            if copied == dst.len() {
                break;
            }
            let take = seg.iov_len.min(dst.len() - copied);
            // Safety: segments are valid for iov_len bytes by the push contract.
            let src = unsafe { std::slice::from_raw_parts(seg.iov_base as *const u8, take) };
            dst[copied..copied + take].copy_from_slice(src);
            copied += take;
        }
        copied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consume_walks_segments_and_partial_ones() {
        static A: &[u8] = b"hello ";
        static B: &[u8] = b"world";
        let mut q = OutQueue::new();
        unsafe {
            q.push(A);
            q.push(B);
        }
        assert_eq!(q.pending_bytes(), 11);
        q.consume(8);
        let mut dst = [0u8; 16];
        let n = q.copy_pending_into(&mut dst);
        assert_eq!(&dst[..n], b"rld");
        q.consume(3);
        assert!(q.is_empty());
        assert_eq!(q.segments_free(), MAX_SEGMENTS);
    }

    #[test]
    fn counts_segments_and_bytes_and_skips_empty_pushes() {
        static PARTS: [&[u8]; 4] = [b"HTTP/1.1 200 OK\r\n", b"", b"\r\n", b"{}"];
        let mut q = OutQueue::new();
        assert!(q.is_empty());
        assert_eq!((q.len(), q.pending_bytes()), (0, 0));
        for part in PARTS {
            unsafe { q.push(part) };
        }
        // The empty slice took no segment: a zero-length iovec would be a wasted entry.
        assert_eq!(q.len(), 3);
        assert_eq!(q.segments_free(), MAX_SEGMENTS - 3);
        assert_eq!(q.pending_bytes(), 21);
        assert_eq!(
            q.pending().iter().map(|v| v.iov_len).collect::<Vec<_>>(),
            [17, 2, 2]
        );
        // Consuming exactly a segment's length moves on without a zero-length leftover.
        q.consume(17);
        assert_eq!((q.len(), q.pending_bytes()), (2, 4));
        // Free segments are counted from the end: consumed ones are reused only after
        // the queue drains and resets.
        assert_eq!(q.segments_free(), MAX_SEGMENTS - 3);
        q.scratch_used_bytes = 40;
        q.consume(4);
        assert!(q.is_empty());
        assert_eq!(
            (q.len(), q.segments_free(), q.scratch_used_bytes),
            (0, MAX_SEGMENTS, 0)
        );
    }

    #[test]
    fn copy_pending_into_stops_at_the_destination_and_consumes_nothing() {
        static A: &[u8] = b"abc";
        static B: &[u8] = b"defg";
        let mut q = OutQueue::new();
        unsafe {
            q.push(A);
            q.push(B);
        }
        for (cap, want) in [(0, ""), (2, "ab"), (3, "abc"), (5, "abcde"), (7, "abcdefg")] {
            let mut dst = [b'.'; 7];
            let n = q.copy_pending_into(&mut dst[..cap]);
            assert_eq!(&dst[..n], want.as_bytes(), "into {cap} bytes");
            assert!(dst[n..].iter().all(|&b| b == b'.'), "wrote past {n}");
        }
        let mut dst = [0u8; 16];
        let n = q.copy_pending_into(&mut dst);
        assert_eq!(&dst[..n], b"abcdefg");
        assert_eq!(q.pending_bytes(), 7);
    }

    #[test]
    fn reset_forgets_everything_queued() {
        static A: &[u8] = b"abc";
        let mut q = OutQueue::new();
        unsafe { q.push(A) };
        q.scratch_used_bytes = 3;
        q.reset();
        assert!(q.is_empty());
        assert_eq!((q.pending_bytes(), q.scratch_used_bytes), (0, 0));
        assert_eq!(q.segments_free(), MAX_SEGMENTS);
    }

    #[test]
    #[should_panic(expected = "consumed more than queued")]
    fn consuming_more_than_queued_is_a_bug_caught_at_once() {
        static A: &[u8] = b"abc";
        let mut q = OutQueue::new();
        unsafe { q.push(A) };
        q.consume(4);
    }
}
