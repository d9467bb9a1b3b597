//! The byte stream under a connection. Production uses mio's `TcpStream`; the
//! connection fuzzer and tests use an in-memory pipe (`runtime::sim`). The
//! event loop is generic over it, so both run the same state machine.

use std::io;
use std::os::fd::AsRawFd;

/// A non-blocking, bidirectional byte stream the worker can register with its poll.
pub trait Stream: io::Read + io::Write + mio::event::Source {
    /// Writes the gathered `iov` (one `sendmsg`, or `sendto` for one iovec, on sockets). Returns the bytes
    /// taken, or `WouldBlock` when none could be.
    ///
    /// # Safety
    /// Every iovec must point at `iov_len` readable bytes that stay valid for
    /// the call (the `OutQueue` contract).
    unsafe fn write_iovecs(&mut self, iov: &[libc::iovec]) -> io::Result<usize>;

    /// Reads what is there into `buf` (one `recv` for sockets); the contract of
    /// `io::Read::read`.
    fn recv_into(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read(buf)
    }

    /// Shuts our sending direction only (the peer reads EOF after what was sent).
    fn shutdown_write(&mut self) -> io::Result<()>;

    /// Bytes written but not yet taken by the peer (on TCP, `SIOCOUTQ`: not yet
    /// acknowledged). Off the read path: only for a worker short of buffers judging
    /// whether a blocked reader is reading.
    fn unacked_bytes(&self) -> u64;

    /// Makes the coming close a reset (on TCP, `SO_LINGER` 0): what the peer never
    /// took is dropped with the socket instead of queued in front of a FIN, where the
    /// kernel would keep both for as long as the peer acknowledges its probes. For a
    /// client cut off for not reading; the in-memory pipe has no kernel to leak into.
    fn reset_on_close(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Stream for mio::net::TcpStream {
    unsafe fn write_iovecs(&mut self, iov: &[libc::iovec]) -> io::Result<usize> {
        // By hand rather than `write_vectored`: the queue already holds `libc::iovec`s,
        // and converting them to `IoSlice`s would copy the array on every flush.
        // `sendto`/`sendmsg` rather than `writev`: writev walks the VFS layer
        // (import_iovec, vfs_writev, sock_write_iter) on every response; a lone iovec
        // (the common keep-alive case) skips the msghdr too. MSG_NOSIGNAL keeps a
        // peer reset an EPIPE, not a SIGPIPE.
        let fd = self.as_raw_fd() as libc::c_long;
        let flags = libc::MSG_NOSIGNAL as libc::c_long;
        // SAFETY: the caller guarantees the iovecs; the fd is open while `self` lives;
        // `msg` outlives the call.
        let rc = unsafe {
            if let [one] = iov {
                let null = std::ptr::null::<libc::sockaddr>();
                libc::syscall(
                    libc::SYS_sendto,
                    fd,
                    one.iov_base,
                    one.iov_len,
                    flags,
                    null,
                    0 as libc::c_long,
                )
            } else {
                let mut msg: libc::msghdr = std::mem::zeroed();
                msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
                msg.msg_iovlen = iov.len().min(libc::UIO_MAXIOV as usize) as _;
                libc::syscall(libc::SYS_sendmsg, fd, &msg as *const libc::msghdr, flags)
            }
        };
        syscall_result(rc)
    }

    fn recv_into(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let fd = self.as_raw_fd() as libc::c_long;
        let null = std::ptr::null_mut::<libc::c_void>();
        // SAFETY: `buf` is valid for `buf.len()` writable bytes; the fd is open while
        // `self` lives; no source address is asked for.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_recvfrom,
                fd,
                buf.as_mut_ptr(),
                buf.len(),
                0 as libc::c_long,
                null,
                null,
            )
        };
        syscall_result(rc)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }

    fn unacked_bytes(&self) -> u64 {
        let mut queued: libc::c_int = 0;
        // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one int; the fd is open while `self` lives.
        let rc = unsafe { libc::ioctl(self.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
        if rc == 0 { queued.max(0) as u64 } else { 0 }
    }

    fn reset_on_close(&mut self) -> io::Result<()> {
        let abort = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setsockopt(2) reads one `linger` we own, with its length; the fd is
        // open while `self` lives.
        let rc = unsafe {
            libc::setsockopt(
                self.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                &abort as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

/// The socket calls go through `syscall(2)` rather than libc's `send`/`recv`
/// wrappers: those are pthread cancellation points and bracket every call with
/// cancel-state bookkeeping (≈ 0.1 µs per keep-alive request in
/// `scripts/profile.sh`), and no thread of this server is ever cancelled.
/// Every argument is passed as a full register (`c_long` or a pointer): `syscall` is
/// variadic, so a bare `0` would be a 32-bit int with an unspecified upper half.
fn syscall_result(rc: libc::c_long) -> io::Result<usize> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as usize)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    use super::Stream;

    /// `SIOCOUTQ` counts what the peer has not acknowledged. On loopback the peer's
    /// kernel acknowledges whatever fits its receive buffer at once, so bytes wait
    /// unacknowledged only once that is full: write until the socket refuses more.
    #[test]
    fn unacked_bytes_counts_what_the_peer_has_not_acknowledged() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut client =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (accepted, _) = listener.accept().expect("accept");
        accepted.set_nonblocking(true).expect("nonblocking");
        let mut server = mio::net::TcpStream::from_std(accepted);
        assert_eq!(server.unacked_bytes(), 0, "nothing sent yet");
        let chunk = [b'x'; 64 * 1024];
        let mut sent_bytes = 0;
        loop {
            match server.write(&chunk) {
                Ok(n) => sent_bytes += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("write: {e}"),
            }
        }
        let unacked = server.unacked_bytes();
        assert!(
            unacked > 16 * 1024 && unacked <= sent_bytes as u64,
            "{unacked} of {sent_bytes} bytes unacknowledged with the peer's buffer full"
        );
        // The peer reads everything: all of it is acknowledged.
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut got = vec![0u8; sent_bytes];
        client.read_exact(&mut got).expect("every byte");
        let deadline = Instant::now() + Duration::from_secs(2);
        while server.unacked_bytes() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(server.unacked_bytes(), 0);
    }
}
