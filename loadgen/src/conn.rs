//! One client connection: a small state machine over a non-blocking socket (plain or
//! TLS), a reused write buffer, a reused read buffer and the queue of requests in flight.
//!
//! ```text
//!   Closed ──push──► Connecting ──connected──► Open ──server close / --close──► Closed
//!      ▲                  │ failed                │ read/write/parse/timeout error
//!      │                  ▼                       ▼
//!      └──(no work)── Backoff ◄─────────── Backoff (requests in flight counted failed)
//! ```
//! Requests waiting on a failed connect stay queued and are retried after a backoff, so
//! their latency (from intended send time) includes the outage. A failed open
//! connection also waits out the backoff before the slot takes new work, so an error
//! that repeats on every connection is counted at a bounded pace, not in a hot loop.
//! Requests still in flight when the server announced `Connection: close` were never
//! processed: they are re-sent on the next connection.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::ClientConnection;

use crate::http::ResponseParser;
use crate::report::{ErrorKind, Stats};
use crate::request::Request;
use crate::schedule::now_ns;
use crate::tls::TlsClient;

#[path = "conn_end.rs"]
mod ending;
#[path = "conn_io.rs"]
mod io_paths;

/// Pause after a failed connect or a failed connection before the slot connects
/// again, so a dead or broken target is not hammered.
const BACKOFF_NS: u64 = 10_000_000;

/// Read-only facts every connection of a thread needs.
pub struct Env<'a> {
    pub registry: &'a Registry,
    pub addr: SocketAddr,
    pub requests: &'a [Request],
    pub tls: Option<&'a TlsClient>,
    /// `--close`: one request per connection.
    pub close: bool,
    pub timeout_ns: u64,
}

/// Where the connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No socket; the next pushed request opens one.
    Closed,
    /// TCP connect in progress.
    Connecting,
    /// Connected (a TLS handshake may still be running inside rustls).
    Open,
    /// A connect or the connection failed; reconnect (or take work) at this time.
    Backoff { until_ns: u64 },
}

/// A request written (or queued to be written) and not yet answered.
#[derive(Debug, Clone, Copy)]
pub struct Inflight {
    /// Index into the thread's request mix.
    pub req: usize,
    /// Latency is measured from here.
    pub intended_ns: u64,
    /// When it was (re)queued on a live connection: the timeout runs from here.
    pub sent_ns: u64,
}

/// One connection slot; the socket inside is replaced on reconnect, the buffers are not.
pub struct Conn {
    token: Token,
    sock: Option<TcpStream>,
    tls: Option<Box<ClientConnection>>,
    phase: Phase,
    phase_since_ns: u64,
    /// A connection of this slot has been established before (so the next is a reconnect).
    ever_connected: bool,
    wbuf: Vec<u8>,
    wpos: usize,
    rbuf: Box<[u8]>,
    rstart: usize,
    rend: usize,
    parser: ResponseParser,
    inflight: VecDeque<Inflight>,
    /// Open loop: already waiting in the thread's ready queue.
    pub queued: bool,
    /// Open loop: when it last joined the ready queue (a send could go out from then).
    pub ready_since_ns: u64,
}

impl Conn {
    /// A closed connection slot with buffers sized for `pipeline` requests.
    pub fn new(token: Token, pipeline: usize, rbuf_bytes: usize) -> Self {
        Conn {
            token,
            sock: None,
            tls: None,
            phase: Phase::Closed,
            phase_since_ns: 0,
            ever_connected: false,
            wbuf: Vec::with_capacity(4096),
            wpos: 0,
            rbuf: vec![0u8; rbuf_bytes].into_boxed_slice(),
            rstart: 0,
            rend: 0,
            parser: ResponseParser::new(rbuf_bytes),
            inflight: VecDeque::with_capacity(pipeline),
            queued: false,
            ready_since_ns: 0,
        }
    }

    /// Current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Requests written or waiting to be written, not yet answered.
    pub fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    /// Whether the socket is up and usable: TCP connected and, with TLS, the handshake
    /// done. Requests in flight on a connection that is not have not reached the server.
    pub fn established(&self) -> bool {
        self.phase == Phase::Open && self.tls.as_ref().is_none_or(|t| !t.is_handshaking())
    }

    /// Whether another request may be pushed without exceeding `depth` in flight.
    pub fn has_room(&self, depth: usize) -> bool {
        !matches!(self.phase, Phase::Backoff { .. }) && self.inflight.len() < depth
    }

    /// Opens a new socket and queues every request in flight for writing on it.
    pub fn connect(&mut self, env: &Env, stats: &mut Stats, now_ns: u64) {
        self.drop_socket();
        let mut sock = match TcpStream::connect(env.addr) {
            Ok(sock) => sock,
            Err(e) => return self.connect_failed(stats, now_ns, &e.to_string()),
        };
        let _ = sock.set_nodelay(true);
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = env.registry.register(&mut sock, self.token, interest) {
            return self.connect_failed(stats, now_ns, &format!("register: {e}"));
        }
        if let Some(tls) = env.tls {
            match tls.connect() {
                Ok(c) => self.tls = Some(Box::new(c)),
                Err(e) => return self.connect_failed(stats, now_ns, &e.to_string()),
            }
        }
        self.sock = Some(sock);
        self.phase = Phase::Connecting;
        self.phase_since_ns = now_ns;
        self.wbuf.clear();
        self.wpos = 0;
        for entry in self.inflight.iter_mut() {
            entry.sent_ns = now_ns;
            self.wbuf.extend_from_slice(&env.requests[entry.req].bytes);
        }
    }

    /// Queues request `req` (not yet written: call [`Conn::flush`] after a batch).
    pub fn push(
        &mut self,
        env: &Env,
        stats: &mut Stats,
        req: usize,
        intended_ns: u64,
        now_ns: u64,
    ) {
        self.inflight.push_back(Inflight {
            req,
            intended_ns,
            sent_ns: now_ns,
        });
        match self.phase {
            // connect() queues the bytes of everything in flight, this one included.
            Phase::Closed => self.connect(env, stats, now_ns),
            Phase::Connecting | Phase::Open => {
                self.wbuf.extend_from_slice(&env.requests[req].bytes);
            }
            Phase::Backoff { .. } => {}
        }
    }

    /// Writes queued bytes until done or the socket is full.
    pub fn flush(&mut self, stats: &mut Stats) {
        if self.phase != Phase::Open {
            return;
        }
        let Some(sock) = self.sock.as_mut() else {
            return;
        };
        let result = match self.tls.as_deref_mut() {
            None => io_paths::write_plain(sock, &self.wbuf, &mut self.wpos),
            Some(tls) => io_paths::write_tls(sock, tls, &self.wbuf, &mut self.wpos),
        };
        match result {
            Ok(()) => {
                if self.wpos == self.wbuf.len() {
                    self.wbuf.clear();
                    self.wpos = 0;
                }
            }
            Err(e) => self.fail(stats, ErrorKind::Write, &e.to_string()),
        }
    }

    /// Handles a readiness event for this connection's socket. `peer_closed`: the event
    /// says the server has closed its side, so reads go on to the end of the stream
    /// (with edge-triggered events no further one comes for a FIN that arrived with the
    /// last data, and a response delimited by the close would never complete).
    pub fn on_ready(
        &mut self,
        env: &Env,
        stats: &mut Stats,
        readable: bool,
        peer_closed: bool,
        now_ns: u64,
    ) {
        if self.phase == Phase::Connecting {
            let Some(sock) = self.sock.as_ref() else {
                return;
            };
            match sock.take_error() {
                Ok(Some(e)) | Err(e) => return self.connect_failed(stats, now_ns, &e.to_string()),
                Ok(None) => {}
            }
            match sock.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => return self.connect_failed(stats, now_ns, &e.to_string()),
            }
            self.phase = Phase::Open;
            if self.tls.is_none() {
                self.note_established(stats);
            }
        }
        if self.phase != Phase::Open {
            return;
        }
        self.flush(stats);
        if readable && self.phase == Phase::Open {
            if self.tls.is_some() {
                self.read_tls(env, stats, peer_closed);
            } else {
                self.read_plain(env, stats, peer_closed);
            }
        }
    }

    /// Applies the connect timeout, the response timeout and the end of a backoff.
    pub fn check_timers(&mut self, env: &Env, stats: &mut Stats, now_ns: u64) {
        match self.phase {
            Phase::Connecting if now_ns.saturating_sub(self.phase_since_ns) > env.timeout_ns => {
                self.connect_failed(stats, now_ns, "connect timed out");
            }
            // Nothing in flight reached the server yet: a connect failure (kept and
            // retried), not requests lost to a timeout. Connect and handshake share
            // one --timeout, from the connect.
            Phase::Open
                if !self.established()
                    && now_ns.saturating_sub(self.phase_since_ns) > env.timeout_ns =>
            {
                self.connect_failed(stats, now_ns, "TLS handshake timed out");
            }
            Phase::Open if !self.established() => {}
            Phase::Open => {
                let oldest = self.inflight.front().map(|e| e.sent_ns);
                if oldest.is_some_and(|t| now_ns.saturating_sub(t) > env.timeout_ns) {
                    self.fail(
                        stats,
                        ErrorKind::Timeout,
                        "no complete response within --timeout",
                    );
                }
            }
            Phase::Backoff { until_ns } if now_ns >= until_ns => {
                if self.inflight.is_empty() {
                    self.phase = Phase::Closed;
                } else {
                    self.connect(env, stats, now_ns);
                }
            }
            _ => {}
        }
    }

    /// Frames every complete response in the read buffer. Returns false when the
    /// connection was closed or replaced (stop reading from the old socket).
    fn process(&mut self, env: &Env, stats: &mut Stats) -> bool {
        let now_ns = now_ns();
        loop {
            let head = self
                .inflight
                .front()
                .is_some_and(|e| env.requests[e.req].is_head);
            let pending = &self.rbuf[self.rstart..self.rend];
            let (used, response) = match self.parser.parse(pending, head) {
                Ok(v) => v,
                Err(e) => {
                    self.fail(stats, ErrorKind::Parse, &e.to_string());
                    return false;
                }
            };
            self.rstart += used;
            match response {
                Some(resp) => {
                    let Some(done) = self.inflight.pop_front() else {
                        // A server may say why it closes an idle connection (408): not
                        // an answer to anything, and not an error of any request.
                        if resp.status == 408 {
                            self.server_closed(env, stats, now_ns);
                            return false;
                        }
                        self.fail(
                            stats,
                            ErrorKind::Parse,
                            "response with no request in flight",
                        );
                        return false;
                    };
                    stats.record(
                        done.req,
                        now_ns.saturating_sub(done.intended_ns),
                        resp.status,
                    );
                    if !resp.keep_alive || env.close {
                        self.server_closed(env, stats, now_ns);
                        return false;
                    }
                }
                None if used == 0 || self.rstart == self.rend => break,
                None => {}
            }
        }
        if self.rstart == self.rend {
            (self.rstart, self.rend) = (0, 0);
        } else if self.rstart > 0 {
            // A partial head stays; move it to the front so the buffer has room.
            self.rbuf.copy_within(self.rstart..self.rend, 0);
            (self.rstart, self.rend) = (0, self.rend - self.rstart);
        }
        true
    }

    /// A connection became usable (TCP connected; with TLS, handshake done): every one
    /// after the slot's first is a reconnect.
    fn note_established(&mut self, stats: &mut Stats) {
        if self.ever_connected {
            stats.reconnects += 1;
        }
        self.ever_connected = true;
    }
}
