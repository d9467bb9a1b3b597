//! The worker's state machine over an in-memory transport and a virtual clock,
//! cranked by hand. The `connection` fuzz target drives it: no sockets, no
//! sleeps, so a run takes microseconds, and every interleaving the script asks
//! for (partial reads, a full send buffer, a FIN with the last bytes, a timer
//! firing mid-request) is exact and reproducible.
//!
//! The pipe mimics what the worker relies on from a TCP socket under
//! edge-triggered epoll: bounded buffers each way, a readiness event only when
//! something changes and only for the interests registered, `read` returning
//! 0 after the peer's FIN, and a reset when the server closes with unread
//! bytes (the kernel would send RST).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

use mio::event::Source;
use mio::{Events, Interest, Poll, Registry, Token};

use super::conn::{Phase, Transport};
use super::stream::Stream;
use super::worker::{WAKER_TOKEN, Worker};
use super::{Handler, HandlerFactory, ListenerKind, RuntimeConfig};

/// Both directions of one connection.
#[derive(Debug)]
struct Pipe {
    /// Sent by the client, not yet read by the server.
    to_server: VecDeque<u8>,
    to_server_cap_bytes: usize,
    /// The client shut its write half (FIN).
    client_fin: bool,
    /// Written by the server, not yet taken by the client.
    to_client: VecDeque<u8>,
    to_client_cap_bytes: usize,
    /// The server dropped or shut down its end.
    server_closed: bool,
    /// The server shut its write half only (a lingering close): it still reads.
    server_fin: bool,
    /// It did so with client bytes unread: a real kernel answers with RST.
    reset: bool,
    /// What the worker registered for; `None` before `register`, after `deregister`,
    /// and once the server dropped (closed) the stream.
    interest: Option<Interest>,
}

/// The server's end of a pipe: what the worker reads from and writes to.
pub struct MemStream(Rc<RefCell<Pipe>>);

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
    fn with_window(window_bytes: usize) -> Pipe {
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
    index: u32,
    serial: u32,
    pipe: Rc<RefCell<Pipe>>,
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

    /// Takes at most `max_bytes` of what the server sent. Unless
    /// [`SimWorker::notify`] follows, the worker learns of it only through
    /// `Stream::unacked_bytes`, as a kernel reports room to a blocked writer in lumps.
    pub fn receive_at_most(&self, max_bytes: usize, dst: &mut Vec<u8>) {
        let mut pipe = self.pipe.borrow_mut();
        let n = max_bytes.min(pipe.to_client.len());
        dst.extend(pipe.to_client.drain(..n));
    }
}

/// One worker over in-memory connections, with a clock that moves only when told.
pub struct SimWorker<H: Handler> {
    worker: Worker<H, MemStream>,
    events: Events,
    unix_start_s: i64,
    /// Readiness events delivered by `notify`: epoll reports a change, never a state.
    events_delivered: u64,
}

impl<H: Handler> SimWorker<H> {
    /// A worker like a real one (same table, pool and timers from `cfg`), without listeners.
    pub fn new<F: HandlerFactory<Handler = H>>(
        cfg: RuntimeConfig,
        factory: &F,
    ) -> io::Result<Self> {
        assert!(
            cfg.max_connections_per_worker > 0,
            "room for one connection"
        );
        let (mut worker, _waker) = Worker::build(0, cfg, Poll::new()?, Vec::new(), factory)?;
        let unix_start_s = super::worker::unix_now_secs();
        worker.date.refresh(unix_start_s);
        Ok(SimWorker {
            worker,
            events: Events::with_capacity(16),
            unix_start_s,
            events_delivered: 0,
        })
    }

    /// Opens a connection whose buffers hold `window_bytes` each way (a small
    /// window makes the server's writes block). `None` when the table is full.
    pub fn connect(&mut self, peer_ip: IpAddr, window_bytes: usize) -> Option<SimConn> {
        self.connect_over(peer_ip, window_bytes, Transport::Plain)
    }

    /// [`connect`](Self::connect) on a TLS listener: the client's bytes are TLS
    /// records (the caller runs a rustls client over the `SimConn`).
    pub fn connect_tls(
        &mut self,
        peer_ip: IpAddr,
        window_bytes: usize,
        config: std::sync::Arc<rustls::ServerConfig>,
    ) -> Option<SimConn> {
        let tls = rustls::ServerConnection::new(config).ok()?;
        self.connect_over(peer_ip, window_bytes, Transport::Tls(Box::new(tls)))
    }

    fn connect_over(
        &mut self,
        peer_ip: IpAddr,
        window_bytes: usize,
        transport: Transport,
    ) -> Option<SimConn> {
        let pipe = Rc::new(RefCell::new(Pipe::with_window(window_bytes)));
        let stream = MemStream(pipe.clone());
        let w = &mut self.worker;
        let index = w
            .adopt(stream, transport, peer_ip, ListenerKind::Public)
            .ok()?;
        Some(SimConn {
            index,
            serial: w.conns[index as usize].serial,
            pipe,
        })
    }

    /// Opens a connection as the listener would accept it: below the cap into a
    /// free slot; at the cap into the slot of a quiet or stalled connection, closed
    /// for it (`runtime::reuse`). `None` when no connection may make room: the
    /// newcomer would wait in the kernel's backlog (ask again later).
    pub fn accept(&mut self, peer_ip: IpAddr, window_bytes: usize) -> Option<SimConn> {
        let w = &mut self.worker;
        if w.at_cap(ListenerKind::Public) {
            let room = w.room_for_newcomer(ListenerKind::Public)?;
            w.make_room(room);
        }
        self.connect(peer_ip, window_bytes)
    }

    /// Delivers the readiness event epoll would after the client acted: readable
    /// if bytes or a FIN wait, writable if room opened while the worker asked for it.
    pub fn notify(&mut self, conn: &SimConn) {
        let (readable, read_closed, writable) = {
            let pipe = conn.pipe.borrow();
            let Some(interest) = pipe.interest else {
                return; // closed by the server
            };
            let room = pipe.to_client.len() < pipe.to_client_cap_bytes;
            (
                interest.is_readable() && (!pipe.to_server.is_empty() || pipe.client_fin),
                interest.is_readable() && pipe.client_fin,
                interest.is_writable() && room,
            )
        };
        let c = &self.worker.conns[conn.index as usize];
        if !c.is_open() || c.serial != conn.serial || !(readable || writable) {
            return;
        }
        self.events_delivered += 1;
        self.worker.on_ready(conn.index, readable, read_closed);
    }

    /// Readiness events `notify` has delivered (each one a worker's pass over the
    /// connection).
    pub fn events_delivered(&self) -> u64 {
        self.events_delivered
    }

    /// Milliseconds of virtual time since the start.
    pub fn now_ms(&self) -> u64 {
        self.worker.now_ms
    }

    /// Moves the clock forward, firing the timers that come due.
    pub fn advance_ms(&mut self, ms: u64) {
        let w = &mut self.worker;
        w.now_ms += ms;
        w.date.refresh(self.unix_start_s + (w.now_ms / 1000) as i64);
        w.expire_timers();
        w.serve_buffer_waiters();
    }

    /// Begins the worker's drain, as a shutdown signal does.
    pub fn start_drain(&mut self) {
        self.worker.start_drain();
    }

    /// Whether a connection waits for the writer thread's reply.
    pub fn awaiting_reply(&self) -> bool {
        self.worker
            .conns
            .iter()
            .any(|c| c.is_open() && c.phase == Phase::Awaiting)
    }

    /// Waits (in real time, up to `timeout`) for the writer's replies to every
    /// deferred request and delivers them. Returns false if some did not come.
    pub fn settle(&mut self, timeout: Duration) -> bool {
        let until = std::time::Instant::now() + timeout;
        while self.awaiting_reply() {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            if let Err(e) = self.worker.poll.poll(&mut self.events, Some(left))
                && e.kind() != io::ErrorKind::Interrupted
            {
                return false;
            }
            if self.events.iter().any(|e| e.token() == WAKER_TOKEN) {
                self.worker.take_replies();
            }
        }
        true
    }

    /// Connections still open.
    pub fn open_connections(&self) -> usize {
        self.worker.open_conns
    }

    /// Stalled connections this worker cut off to lend their buffer to another.
    pub fn buffer_reclaims(&self) -> u64 {
        self.worker.cfg.stats[self.worker.index].reclaimed.get()
    }

    /// Connections this worker closed or cut off to make room for a newcomer.
    pub fn slot_reuses(&self) -> u64 {
        self.worker.cfg.stats[self.worker.index].reused.get()
    }
}

#[cfg(test)]
#[path = "sim_tests.rs"]
mod tests;
