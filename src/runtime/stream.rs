//! The byte stream under a connection. Production uses mio's `TcpStream`; the
//! connection fuzzer and tests use an in-memory pipe (`runtime::sim`). The
//! event loop is generic over it, so both run the same state machine.

use std::io;

/// A non-blocking, bidirectional byte stream the worker can register with its poll.
pub trait Stream: io::Read + io::Write + mio::event::Source {
    /// Writes the gathered `iov` (one `writev` for sockets). Returns the bytes
    /// taken, or `WouldBlock` when none could be.
    ///
    /// # Safety
    /// Every iovec must point at `iov_len` readable bytes that stay valid for
    /// the call (the `OutQueue` contract).
    unsafe fn write_iovecs(&mut self, iov: &[libc::iovec]) -> io::Result<usize>;

    /// Shuts both directions; a stream that is already disconnected is fine.
    fn shutdown_both(&mut self) -> io::Result<()>;
}

impl Stream for mio::net::TcpStream {
    unsafe fn write_iovecs(&mut self, iov: &[libc::iovec]) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        // By hand rather than `write_vectored`: the queue already holds `libc::iovec`s,
        // and converting them to `IoSlice`s would copy the array on every flush.
        let count = iov.len().min(libc::UIO_MAXIOV as usize) as libc::c_int;
        // SAFETY: the caller guarantees the iovecs; the fd is open while `self` lives.
        let rc = unsafe { libc::writev(self.as_raw_fd(), iov.as_ptr(), count) };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(rc as usize)
        }
    }

    fn shutdown_both(&mut self) -> io::Result<()> {
        match self.shutdown(std::net::Shutdown::Both) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Err(e),
            _ => Ok(()),
        }
    }
}
