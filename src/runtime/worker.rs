//! One pinned event loop: accepts on its own SO_REUSEPORT listeners, owns its
//! connection table, buffer pool, timing wheel and `Date` cache.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};

use super::conn::{Conn, Phase, Transport};
use super::pool::{BufPool, BufSizes};
use super::timer::{TimerLinks, TimerWheel};
use super::{Handler, HandlerFactory, ListenerKind, Listeners, RuntimeConfig};
use crate::http::date::DateCache;

const WAKER_TOKEN: Token = Token(usize::MAX - 1);
const LISTENER_TOKEN_BASE: usize = usize::MAX - 16;
const TIMER_TICK_MS: u64 = 100;
const TIMER_SLOTS: usize = 1024;
const EVENTS_CAPACITY: usize = 1024;
/// One TLS record's worth of plaintext.
const TLS_STAGE_BYTES: usize = 16 * 1024;
/// Response scratch per busy connection: ≥ 16 pipelined slot answers.
const SCRATCH_BYTES: usize = 16 * 1024;

/// A listening socket handed to one worker, with its kind and TLS config.
type AssignedListener = (
    std::net::TcpListener,
    ListenerKind,
    Option<Arc<ArcSwap<rustls::ServerConfig>>>,
);

struct Listening {
    socket: TcpListener,
    kind: ListenerKind,
    tls: Option<Arc<ArcSwap<rustls::ServerConfig>>>,
}

pub(super) struct Worker<H: Handler> {
    pub(super) index: usize,
    pub(super) poll: Poll,
    pub(super) conns: Vec<Conn>,
    pub(super) timers: Vec<TimerLinks>,
    pub(super) free_slots: Vec<u32>,
    pub(super) open_conns: usize,
    pub(super) wheel: TimerWheel,
    pub(super) pool: BufPool,
    pub(super) buffer_waiters: VecDeque<u32>,
    pub(super) handler: H,
    pub(super) date: DateCache,
    pub(super) cfg: RuntimeConfig,
    pub(super) tls_stage: Box<[u8]>,
    pub(super) now_ms: u64,
    pub(super) draining: bool,
    listeners: Vec<Listening>,
    accepting: bool,
    /// Deferred replies being handed over (write path only).
    replies: Vec<(super::ConnRef, Vec<u8>)>,
    clock_origin: Instant,
}

/// A running worker thread and the waker that interrupts its poll.
pub struct WorkerHandle {
    pub thread: std::thread::JoinHandle<()>,
    pub waker: Arc<Waker>,
}

fn unix_now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Starts `cfg.workers` pinned event loops; returns once each is polling.
pub fn spawn_workers<F: HandlerFactory>(
    cfg: &RuntimeConfig,
    listeners: Listeners,
    factory: Arc<F>,
) -> io::Result<Vec<WorkerHandle>> {
    let Listeners { https, http, admin } = listeners;
    let (https_sockets, tls_config) = match https {
        Some((sockets, config)) => (sockets, Some(config)),
        None => (Vec::new(), None),
    };
    let mut https_sockets = https_sockets.into_iter();
    let mut http_sockets = http.unwrap_or_default().into_iter();
    let mut admin = admin;
    let cores = if cfg.pin_cores {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut handles = Vec::with_capacity(cfg.workers);
    for index in 0..cfg.workers {
        let mut mine = Vec::new();
        if let Some(socket) = https_sockets.next() {
            mine.push((socket, ListenerKind::Public, tls_config.clone()));
        }
        if let Some(socket) = http_sockets.next() {
            mine.push((socket, ListenerKind::Public, None));
        }
        if index == 0
            && let Some(socket) = admin.take()
        {
            mine.push((socket, ListenerKind::Admin, None));
        }
        let core = cores.get(index % cores.len().max(1)).copied();
        let cfg = cfg.clone();
        let factory = factory.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(format!("worker-{index}"))
            .spawn(move || {
                if let Some(core) = core {
                    core_affinity::set_for_current(core);
                }
                if let Some(hook) = cfg.on_worker_start {
                    hook(index);
                }
                match Worker::new(index, cfg, mine, &*factory) {
                    Ok((mut worker, waker)) => {
                        let _ = ready_tx.send(Ok(waker));
                        worker.run();
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })?;
        let waker = ready_rx
            .recv()
            .map_err(|_| io::Error::other("worker thread died during start"))??;
        handles.push(WorkerHandle { thread, waker });
    }
    Ok(handles)
}

impl<H: Handler> Worker<H> {
    fn new<F: HandlerFactory<Handler = H>>(
        index: usize,
        cfg: RuntimeConfig,
        sockets: Vec<AssignedListener>,
        factory: &F,
    ) -> io::Result<(Worker<H>, Arc<Waker>)> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER_TOKEN)?);
        let mut listeners = Vec::new();
        for (i, (socket, kind, tls)) in sockets.into_iter().enumerate() {
            socket.set_nonblocking(true)?;
            let mut socket = TcpListener::from_std(socket);
            poll.registry().register(
                &mut socket,
                Token(LISTENER_TOKEN_BASE + i),
                Interest::READABLE,
            )?;
            listeners.push(Listening { socket, kind, tls });
        }
        let capacity = cfg.max_connections_per_worker;
        let sizes = BufSizes {
            read_len_bytes: cfg.max_head_bytes + cfg.max_body_bytes + 1024,
            scratch_len_bytes: SCRATCH_BYTES,
            body_len_bytes: cfg.max_body_bytes,
        };
        let clock_origin = Instant::now();
        let handler = factory.make(index, waker.clone());
        let worker = Worker {
            index,
            poll,
            conns: (0..capacity).map(|_| Conn::vacant()).collect(),
            timers: vec![TimerLinks::default(); capacity],
            free_slots: (0..capacity as u32).rev().collect(),
            open_conns: 0,
            wheel: TimerWheel::new(TIMER_SLOTS, TIMER_TICK_MS, 0),
            pool: BufPool::new(cfg.buffers_per_worker.min(capacity).max(1), sizes),
            buffer_waiters: VecDeque::with_capacity(capacity),
            handler,
            date: DateCache::new(unix_now_secs()),
            tls_stage: vec![0; TLS_STAGE_BYTES].into_boxed_slice(),
            now_ms: 0,
            draining: false,
            listeners,
            accepting: true,
            replies: Vec::new(),
            clock_origin,
            cfg,
        };
        Ok((worker, waker))
    }

    fn run(&mut self) {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        let mut drain_deadline_ms = u64::MAX;
        loop {
            let timeout = Duration::from_millis(TIMER_TICK_MS);
            if let Err(e) = self.poll.poll(&mut events, Some(timeout))
                && e.kind() != io::ErrorKind::Interrupted
            {
                eprintln!("worker {}: poll failed: {e}", self.index);
                return;
            }
            self.now_ms = self.clock_origin.elapsed().as_millis() as u64;
            self.date.refresh(unix_now_secs());
            for event in events.iter() {
                match event.token() {
                    WAKER_TOKEN => self.take_replies(),
                    Token(t) if t >= LISTENER_TOKEN_BASE => self.accept(t - LISTENER_TOKEN_BASE),
                    Token(t) => {
                        let c = &mut self.conns[t];
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            c.read_pending = true;
                        }
                        c.fin_seen |= event.is_read_closed();
                        self.drive(t as u32);
                    }
                }
            }
            self.expire_timers();
            self.serve_buffer_waiters();
            if !self.draining && self.cfg.draining.load(Ordering::Acquire) {
                self.start_drain();
                drain_deadline_ms = self.now_ms + self.cfg.drain_timeout_ms;
            }
            if self.draining && (self.open_conns == 0 || self.now_ms >= drain_deadline_ms) {
                return;
            }
        }
    }

    fn take_replies(&mut self) {
        // Collected first: delivering needs &mut self while the handler is borrowed.
        let mut replies = std::mem::take(&mut self.replies);
        self.handler
            .take_replies(&mut |conn, reply| replies.push((conn, reply)));
        for (conn, reply) in replies.drain(..) {
            if conn.worker as usize == self.index {
                self.deliver(conn, reply);
            }
        }
        self.replies = replies;
    }

    fn accept(&mut self, listener_index: usize) {
        while self.accepting {
            let Some(listening) = self.listeners.get(listener_index) else {
                return;
            };
            let (mut socket, peer) = match listening.socket.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: leave the rest in the backlog for now.
                    eprintln!("worker {}: accept failed: {e}", self.index);
                    return;
                }
            };
            let transport = match &listening.tls {
                Some(config) => match rustls::ServerConnection::new(config.load_full()) {
                    Ok(tls) => Transport::Tls(Box::new(tls)),
                    Err(_) => continue,
                },
                None => Transport::Plain,
            };
            let kind = listening.kind;
            let Some(idx) = self.free_slots.pop() else {
                return; // unreachable while accepting: pause_accepting runs first
            };
            let _ = socket.set_nodelay(true);
            if self
                .poll
                .registry()
                .register(&mut socket, Token(idx as usize), Interest::READABLE)
                .is_err()
            {
                self.free_slots.push(idx);
                continue;
            }
            let c = &mut self.conns[idx as usize];
            c.socket = Some(socket);
            c.transport = transport;
            c.peer_ip = canonical_ip(peer.ip());
            c.listener = kind;
            c.phase = Phase::Fresh;
            c.phase_started_ms = self.now_ms;
            // Registration reports bytes that arrived before it: no speculative read.
            c.read_pending = false;
            self.open_conns += 1;
            self.cfg.stats[self.index].accepted.inc();
            self.drive(idx);
            if self.free_slots.is_empty() {
                self.pause_accepting();
            }
        }
    }

    /// At the connection cap, stop accepting: the kernel backlog holds the rest.
    fn pause_accepting(&mut self) {
        self.accepting = false;
        for l in &mut self.listeners {
            let _ = self.poll.registry().deregister(&mut l.socket);
        }
    }

    fn resume_accepting(&mut self) {
        self.accepting = true;
        for (i, l) in self.listeners.iter_mut().enumerate() {
            // Registering reports pending connections as a fresh readable event.
            let _ = self.poll.registry().register(
                &mut l.socket,
                Token(LISTENER_TOKEN_BASE + i),
                Interest::READABLE,
            );
        }
    }

    fn expire_timers(&mut self) {
        let mut expired = [0u32; 256];
        loop {
            let mut count = 0;
            let now_ms = self.now_ms;
            self.wheel.advance(&mut self.timers, now_ms, |idx| {
                if count < expired.len() {
                    expired[count] = idx;
                    count += 1;
                }
            });
            for &idx in &expired[..count] {
                self.on_timeout(idx);
            }
            if count < expired.len() {
                break;
            }
        }
        if !self.accepting && !self.draining && !self.free_slots.is_empty() {
            self.resume_accepting();
        }
    }

    fn on_timeout(&mut self, idx: u32) {
        let c = &mut self.conns[idx as usize];
        if !c.is_open() {
            return;
        }
        self.cfg.stats[self.index].timeouts.inc();
        match c.phase {
            Phase::Head | Phase::Body if c.out_is_empty() => {
                // Best effort: tell the client why before closing.
                if c.buf.is_some() {
                    self.reject_and_close(idx, super::requests::TIMED_OUT);
                    self.drive(idx);
                }
                self.close(idx);
            }
            Phase::Awaiting => {}
            _ => self.close(idx),
        }
    }

    fn serve_buffer_waiters(&mut self) {
        while self.pool.available() > 0 {
            let Some(idx) = self.buffer_waiters.pop_front() else {
                return;
            };
            self.conns[idx as usize].waiting_for_buffer = false;
            self.drive(idx);
        }
    }

    fn start_drain(&mut self) {
        self.draining = true;
        for mut l in self.listeners.drain(..) {
            let _ = self.poll.registry().deregister(&mut l.socket);
        }
        self.accepting = false;
        for idx in 0..self.conns.len() as u32 {
            let c = &self.conns[idx as usize];
            if c.is_open() && c.is_quiet() {
                self.close(idx);
            }
        }
    }
}

/// IPv4-mapped IPv6 peers are their IPv4 selves for rate limiting.
fn canonical_ip(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map(std::net::IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}
