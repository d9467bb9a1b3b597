//! Per-worker I/O buffers, allocated once at start and lent to connections only
//! while they have a partial request or unsent response (idle ones hold none).

use super::out::OutQueue;
use crate::http::chunked::ChunkedDecoder;

/// Everything a busy connection needs; ~one request head + body + response parts.
pub struct IoBuf {
    /// Raw request bytes (plaintext, after TLS).
    pub read: Box<[u8]>,
    /// Bytes queued responses point into (headers, slot bodies, errors).
    pub scratch: Box<[u8]>,
    /// Decoded request bodies (chunked or not).
    pub body: Box<[u8]>,
    pub out: OutQueue,
    /// How far the chunked body of the request at the front of `read` is decoded
    /// (into `body`), so that each read decodes only what it brought.
    pub chunked: Option<ChunkedProgress>,
}

/// A chunked body decoded in part: the decoder's state, the bytes after the head it
/// has consumed, and the decoded bytes at the start of `IoBuf::body`.
#[derive(Clone, Debug)]
pub struct ChunkedProgress {
    pub decoder: ChunkedDecoder,
    pub fed_bytes: usize,
    pub decoded_len_bytes: usize,
}

pub struct BufPool {
    // Boxed so lending one moves a pointer, not the ~1 KiB of inline iovecs.
    #[allow(clippy::vec_box)]
    free: Vec<Box<IoBuf>>,
    capacity: usize,
    /// The connection slots holding a buffer, so that a worker short of buffers can
    /// look for a stalled holder among at most `capacity` entries, not the whole table.
    holders: Vec<u32>,
    /// Per connection slot: its position in `holders`, or `NOT_HOLDING`.
    holder_at: Vec<u32>,
}

const NOT_HOLDING: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
pub struct BufSizes {
    pub read_len_bytes: usize,
    pub scratch_len_bytes: usize,
    pub body_len_bytes: usize,
}

impl BufPool {
    /// `count` buffers for the connection slots `0..slots`.
    pub fn new(count: usize, sizes: BufSizes, slots: usize) -> BufPool {
        assert!(count > 0, "a worker needs at least one buffer");
        assert!(slots < NOT_HOLDING as usize);
        let free = (0..count)
            .map(|_| {
                Box::new(IoBuf {
                    read: vec![0; sizes.read_len_bytes].into_boxed_slice(),
                    scratch: vec![0; sizes.scratch_len_bytes].into_boxed_slice(),
                    body: vec![0; sizes.body_len_bytes].into_boxed_slice(),
                    out: OutQueue::new(),
                    chunked: None,
                })
            })
            .collect::<Vec<_>>();
        BufPool {
            capacity: free.len(),
            free,
            holders: Vec::with_capacity(count),
            holder_at: vec![NOT_HOLDING; slots],
        }
    }

    /// Lends a buffer to connection slot `holder`; `None` when all are in use (the
    /// caller retries later).
    pub fn take(&mut self, holder: u32) -> Option<Box<IoBuf>> {
        assert_eq!(
            self.holder_at[holder as usize], NOT_HOLDING,
            "one buffer each"
        );
        let buf = self.free.pop()?;
        self.holder_at[holder as usize] = self.holders.len() as u32;
        // Invariant: one entry per lent buffer, so this push never allocates.
        debug_assert!(self.holders.len() < self.capacity);
        self.holders.push(holder);
        Some(buf)
    }

    pub fn give_back(&mut self, holder: u32, mut buf: Box<IoBuf>) {
        assert!(buf.out.is_empty(), "a buffer goes back only once flushed");
        let at = std::mem::replace(&mut self.holder_at[holder as usize], NOT_HOLDING);
        assert_ne!(at, NOT_HOLDING, "given back by the slot it was lent to");
        self.holders.swap_remove(at as usize);
        if let Some(&moved) = self.holders.get(at as usize) {
            self.holder_at[moved as usize] = at;
        }
        buf.out.reset();
        buf.chunked = None;
        // Invariant: capacity was reserved at start, so this push never allocates.
        assert!(self.free.len() < self.capacity);
        self.free.push(buf);
    }

    pub fn available(&self) -> usize {
        self.free.len()
    }

    /// The connection slots holding a buffer now, in no particular order.
    pub fn holders(&self) -> &[u32] {
        &self.holders
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lends_until_empty_and_takes_back() {
        let sizes = BufSizes {
            read_len_bytes: 16,
            scratch_len_bytes: 16,
            body_len_bytes: 16,
        };
        let mut pool = BufPool::new(2, sizes, 4);
        let a = pool.take(3).expect("first");
        let b = pool.take(1).expect("second");
        assert!(pool.take(0).is_none());
        assert_eq!(pool.holders(), [3, 1]);
        pool.give_back(3, a);
        assert_eq!(pool.holders(), [1]);
        let c = pool.take(2).expect("again");
        assert_eq!(pool.holders(), [1, 2]);
        pool.give_back(2, c);
        pool.give_back(1, b);
        assert_eq!(pool.available(), 2);
        assert!(pool.holders().is_empty());
    }
}
