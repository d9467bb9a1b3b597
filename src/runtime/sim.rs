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
use std::io;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

use mio::{Events, Poll};

use super::conn::{Phase, Transport};
use super::worker::{WAKER_TOKEN, Worker};
use super::{Handler, HandlerFactory, ListenerKind, RuntimeConfig};

#[path = "sim_pipe.rs"]
mod pipe;
use pipe::Pipe;
pub use pipe::{ClientRead, MemStream, SimConn};

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
        self.make_room_for_newcomer()?;
        self.connect(peer_ip, window_bytes)
    }

    /// [`accept`](Self::accept) on a TLS listener (see [`connect_tls`](Self::connect_tls)).
    pub fn accept_tls(
        &mut self,
        peer_ip: IpAddr,
        window_bytes: usize,
        config: std::sync::Arc<rustls::ServerConfig>,
    ) -> Option<SimConn> {
        self.make_room_for_newcomer()?;
        self.connect_tls(peer_ip, window_bytes, config)
    }

    /// At the cap, closes or cuts off the connection `runtime::reuse` picks for a
    /// newcomer; `None` if none may make room yet.
    fn make_room_for_newcomer(&mut self) -> Option<()> {
        let w = &mut self.worker;
        if w.at_cap(ListenerKind::Public) {
            let room = w.room_for_newcomer(ListenerKind::Public)?;
            w.make_room(room);
        }
        Some(())
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
