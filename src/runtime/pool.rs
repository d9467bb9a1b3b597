//! Per-worker I/O buffers, allocated once at start and lent to connections only
//! while they have a partial request or unsent response (idle ones hold none).

use super::out::OutQueue;

/// Everything a busy connection needs; ~one request head + body + response parts.
pub struct IoBuf {
    /// Raw request bytes (plaintext, after TLS).
    pub read: Box<[u8]>,
    /// Bytes queued responses point into (headers, slot bodies, errors).
    pub scratch: Box<[u8]>,
    /// Decoded request bodies (chunked or not).
    pub body: Box<[u8]>,
    pub out: OutQueue,
}

pub struct BufPool {
    // Boxed so lending one moves a pointer, not the ~1 KiB of inline iovecs.
    #[allow(clippy::vec_box)]
    free: Vec<Box<IoBuf>>,
    capacity: usize,
}

#[derive(Clone, Copy, Debug)]
pub struct BufSizes {
    pub read_len_bytes: usize,
    pub scratch_len_bytes: usize,
    pub body_len_bytes: usize,
}

impl BufPool {
    pub fn new(count: usize, sizes: BufSizes) -> BufPool {
        assert!(count > 0, "a worker needs at least one buffer");
        let free = (0..count)
            .map(|_| {
                Box::new(IoBuf {
                    read: vec![0; sizes.read_len_bytes].into_boxed_slice(),
                    scratch: vec![0; sizes.scratch_len_bytes].into_boxed_slice(),
                    body: vec![0; sizes.body_len_bytes].into_boxed_slice(),
                    out: OutQueue::new(),
                })
            })
            .collect::<Vec<_>>();
        BufPool {
            capacity: free.len(),
            free,
        }
    }

    /// Lends a buffer; `None` when all are in use (the caller retries later).
    pub fn take(&mut self) -> Option<Box<IoBuf>> {
        self.free.pop()
    }

    pub fn give_back(&mut self, mut buf: Box<IoBuf>) {
        assert!(buf.out.is_empty(), "a buffer goes back only once flushed");
        buf.out.reset();
        // Invariant: capacity was reserved at start, so this push never allocates.
        assert!(self.free.len() < self.capacity);
        self.free.push(buf);
    }

    pub fn available(&self) -> usize {
        self.free.len()
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
        let mut pool = BufPool::new(2, sizes);
        let a = pool.take().expect("first");
        let b = pool.take().expect("second");
        assert!(pool.take().is_none());
        pool.give_back(a);
        pool.give_back(b);
        assert_eq!(pool.available(), 2);
    }
}
