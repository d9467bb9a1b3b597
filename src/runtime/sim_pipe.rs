//! The simulated TCP connection: a pipe with bounded buffers each way, the server's
//! end (`MemStream`, what the worker reads and writes) and the client's (`SimConn`).
//! `SimWorker` (in `sim.rs`) turns changes to a pipe into readiness events.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::rc::Rc;

use mio::event::Source;
use mio::{Interest, Registry, Token};

use super::super::stream::Stream;

/// Both directions of one connection.
#[derive(Debug)]
pub(super) struct Pipe {
    /// Sent by the client, not yet read by the server.
    pub(super) to_server: VecDeque<u8>,
    pub(super) to_server_cap_bytes: usize,
    /// The client shut its write half (FIN).
    pub(super) client_fin: bool,
    /// Written by the server, not yet taken by the client.
    pub(super) to_client: VecDeque<u8>,
    pub(super) to_client_cap_bytes: usize,
    /// The server dropped or shut down its end.
    pub(super) server_closed: bool,
    /// The server shut its write half only (a lingering close): it still reads.
    pub(super) server_fin: bool,
    /// It did so with client bytes unread: a real kernel answers with RST.
    pub(super) reset: bool,
    /// What the worker registered for; `None` before `register`, after `deregister`,
    /// and once the server dropped (closed) the stream.
    pub(super) interest: Option<Interest>,
}

/// The server's end of a pipe: what the worker reads from and writes to.
pub struct MemStream(pub(super) Rc<RefCell<Pipe>>);

impl Read for MemStream {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        let mut pipe = self.0.borrow_mut();
        if pipe.to_server.is_empty() {
            return if pipe.client_fin {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        let n = dst.len().min(pipe.to_server.len());
        for (d, s) in dst.iter_mut().zip(pipe.to_server.drain(..n)) {
            *d = s;
        }
        Ok(n)
    }
}

impl Write for MemStream {
    fn write(&mut self, src: &[u8]) -> io::Result<usize> {
        let mut pipe = self.0.borrow_mut();
        if pipe.server_closed || pipe.server_fin {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let space = pipe.to_client_cap_bytes - pipe.to_client.len();
        if space == 0 && !src.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = src.len().min(space);
        pipe.to_client.extend(&src[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Stream for MemStream {
    unsafe fn write_iovecs(&mut self, iov: &[libc::iovec]) -> io::Result<usize> {
        let mut written = 0;
        for v in iov {
            // SAFETY: the caller guarantees each iovec points at iov_len readable bytes.
            let bytes = unsafe { std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len) };
            match self.write(bytes) {
                Ok(n) => {
                    written += n;
                    if n < bytes.len() {
                        break;
                    }
                }
                Err(e) if written == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(written)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.0.borrow_mut().server_fin = true;
        Ok(())
    }

    fn unacked_bytes(&self) -> u64 {
        self.0.borrow().to_client.len() as u64
    }
}

impl Pipe {
    /// A new connection's pipe, with `window_bytes` of buffer each way.
    pub(super) fn with_window(window_bytes: usize) -> Pipe {
        Pipe {
            to_server: VecDeque::new(),
            to_server_cap_bytes: window_bytes.max(1),
            client_fin: false,
            to_client: VecDeque::new(),
            to_client_cap_bytes: window_bytes.max(1),
            server_closed: false,
            server_fin: false,
            reset: false,
            interest: None,
        }
    }

    fn close_server_end(&mut self) {
        if !self.server_closed {
            self.server_closed = true;
            self.reset = !self.to_server.is_empty();
        }
    }
}

/// Dropping is the server's close(2): the peer reads EOF (or a reset, if bytes it
/// sent were left unread), and epoll forgets the stream.
impl Drop for MemStream {
    fn drop(&mut self) {
        let mut pipe = self.0.borrow_mut();
        pipe.close_server_end();
        pipe.interest = None;
    }
}

/// Registration only records the interest: `SimWorker` delivers the events.
impl Source for MemStream {
    fn register(&mut self, _: &Registry, _: Token, interest: Interest) -> io::Result<()> {
        self.0.borrow_mut().interest = Some(interest);
        Ok(())
    }

    fn reregister(&mut self, _: &Registry, _: Token, interest: Interest) -> io::Result<()> {
        self.0.borrow_mut().interest = Some(interest);
        Ok(())
    }

    fn deregister(&mut self, _: &Registry) -> io::Result<()> {
        self.0.borrow_mut().interest = None;
        Ok(())
    }
}

/// How a client's read ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientRead {
    /// Bytes were appended (possibly none).
    Open,
    /// The server closed after everything it sent.
    Eof,
    /// The server closed with our bytes unread: what it sent may be lost, as with RST.
    Reset,
}

/// The client's end of one simulated connection.
pub struct SimConn {
    pub(super) index: u32,
    pub(super) serial: u32,
    pub(super) pipe: Rc<RefCell<Pipe>>,
}

impl SimConn {
    /// Queues bytes for the server, as far as its receive buffer has room;
    /// returns how many were taken. Call [`SimWorker::notify`] afterwards.
    pub fn send(&self, bytes: &[u8]) -> usize {
        let mut pipe = self.pipe.borrow_mut();
        if pipe.client_fin || pipe.server_closed {
            return 0;
        }
        let n = bytes
            .len()
            .min(pipe.to_server_cap_bytes - pipe.to_server.len());
        pipe.to_server.extend(&bytes[..n]);
        n
    }

    /// Sends our FIN. Call [`SimWorker::notify`] afterwards.
    pub fn shutdown_write(&self) {
        self.pipe.borrow_mut().client_fin = true;
    }

    /// Moves what the server sent into `dst`. Call [`SimWorker::notify`]
    /// afterwards: freeing room may unblock the server's writes.
    pub fn receive(&self, dst: &mut Vec<u8>) -> ClientRead {
        let mut pipe = self.pipe.borrow_mut();
        if pipe.reset {
            // A reset may discard what was in flight: deliver none of it.
            pipe.to_client.clear();
            return ClientRead::Reset;
        }
        // In bulk: a byte-wise drain made a 23 KB answer cost more than serving it.
        let (front, back) = pipe.to_client.as_slices();
        dst.extend_from_slice(front);
        dst.extend_from_slice(back);
        pipe.to_client.clear();
        if pipe.server_closed || pipe.server_fin {
            ClientRead::Eof
        } else {
            ClientRead::Open
        }
    }

    /// Whether the server has closed its end (its slot is free), whether or not the
    /// client has read what came before.
    pub fn server_closed(&self) -> bool {
        self.pipe.borrow().server_closed
    }

    /// Whether the server has shut its write half: closed, or closing while it
    /// still reads (a lingering close).
    pub fn server_shut_write(&self) -> bool {
        let pipe = self.pipe.borrow();
        pipe.server_closed || pipe.server_fin
    }

    /// Client bytes the server has not read yet.
    pub fn unread_by_server_bytes(&self) -> usize {
        self.pipe.borrow().to_server.len()
    }

    /// Server bytes the client has not taken yet.
    pub fn unread_by_client_bytes(&self) -> usize {
        self.pipe.borrow().to_client.len()
    }

    /// Takes at most `max_bytes` of what the server sent. Unless
    /// [`SimWorker::notify`] follows, the worker learns of it only through
    /// `Stream::unacked_bytes`, as a kernel reports room to a blocked writer in lumps.
    pub fn receive_at_most(&self, max_bytes: usize, dst: &mut Vec<u8>) {
        let mut pipe = self.pipe.borrow_mut();
        let n = max_bytes.min(pipe.to_client.len());
        dst.extend(pipe.to_client.drain(..n));
    }
}
