//! One event loop (pinned to a core when `RuntimeConfig::pin_cores` says so): accepts
//! on its own SO_REUSEPORT listeners, owns its connection table, buffer pool, timing
//! wheel and `Date` cache.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use super::conn::Conn;
use super::pool::{BufPool, BufSizes};
use super::stream::Stream;
use super::timer::{TimerLinks, TimerWheel};
use super::{Handler, HandlerFactory, ListenerKind, Listeners, RuntimeConfig};
use crate::http::date::DateCache;

pub(super) const WAKER_TOKEN: Token = Token(usize::MAX - 1);
pub(super) const LISTENER_TOKEN_BASE: usize = usize::MAX - 16;
pub(super) const TIMER_TICK_MS: u64 = 100;
const TIMER_SLOTS: usize = 1024;
const EVENTS_CAPACITY: usize = 1024;
/// A failing `accept` (say, out of descriptors) is logged at most this often.
pub(super) const ACCEPT_LOG_INTERVAL_MS: u64 = 10_000;
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

pub(super) struct Listening {
    pub(super) socket: TcpListener,
    pub(super) kind: ListenerKind,
    pub(super) tls: Option<Arc<ArcSwap<rustls::ServerConfig>>>,
    /// Registered with the poll, i.e. accepting (see `Worker::sync_listeners`).
    pub(super) registered: bool,
}

/// Connection slots kept for the admin listener on the worker that has it, beyond its
/// share of `--max-connections`: at the cap, `/health`, `/ready` and `/metrics` still
/// answer.
pub(super) const ADMIN_RESERVED_SLOTS: usize = 4;

pub(super) struct Worker<H: Handler, S: Stream = TcpStream> {
    pub(super) index: usize,
    pub(super) poll: Poll,
    pub(super) conns: Vec<Conn<S>>,
    pub(super) timers: Vec<TimerLinks>,
    /// Scratch for the connections a timer pass expires: one per slot at most, so it
    /// is allocated once, at the table's size, and never grows.
    pub(super) expired: Vec<u32>,
    pub(super) free_slots: Vec<u32>,
    pub(super) open_conns: usize,
    /// Of those, the admin listener's (its reserve is what they do not use).
    pub(super) admin_open: usize,
    pub(super) wheel: TimerWheel,
    pub(super) pool: BufPool,
    pub(super) buffer_waiters: VecDeque<u32>,
    /// No buffer holder can have stalled long enough to be cut off before this.
    pub(super) next_reclaim_scan_ms: u64,
    pub(super) handler: H,
    pub(super) date: DateCache,
    /// The last request head parsed (polling clients repeat theirs byte for byte).
    pub(super) head_memo: Box<crate::http::memo::HeadMemo>,
    pub(super) cfg: RuntimeConfig,
    pub(super) tls_stage: Box<[u8]>,
    /// Where a lingering close reads what it drops.
    pub(super) discard: Box<[u8]>,
    pub(super) now_ms: u64,
    pub(super) draining: bool,
    pub(super) listeners: Vec<Listening>,
    /// Free slots public listeners leave to the admin one (0 without one).
    pub(super) admin_reserve: usize,
    /// Deferred replies being handed over (write path only).
    pub(super) replies: Vec<(super::ConnRef, super::Reply)>,
    pub(super) clock_origin: Instant,
    /// An `accept` failed with connections left in a backlog: when to retry.
    pub(super) accept_retry_at_ms: Option<u64>,
    pub(super) next_accept_log_ms: u64,
    /// Quiet connections a newcomer at the cap may replace (see `runtime::reuse`).
    pub(super) reuse_candidates: Vec<super::reuse::Candidate>,
    /// At the cap with every connection busy: no public accept (or scan) before this.
    pub(super) reuse_scan_after_ms: u64,
    /// No connection can have been quiet long enough before this: no table scan.
    pub(super) quiet_scan_after_ms: u64,
    /// The admin listener at its reserve with every admin connection busy: no admin
    /// accept (or scan) before this.
    pub(super) admin_scan_after_ms: u64,
}

/// A running worker thread and the waker that interrupts its poll.
pub struct WorkerHandle {
    pub thread: std::thread::JoinHandle<()>,
    pub waker: Arc<Waker>,
}

pub(super) fn unix_now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Starts `cfg.workers` event loops (each pinned to a core if `cfg.pin_cores`);
/// returns once each is polling.
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

impl<H: Handler, S: Stream> Worker<H, S> {
    /// Allocates everything the loop will ever use, up front (TIGER_STYLE): the
    /// connection table, timers and buffer pool are sized by the config.
    pub(super) fn build<F: HandlerFactory<Handler = H>>(
        index: usize,
        cfg: RuntimeConfig,
        poll: Poll,
        listeners: Vec<Listening>,
        factory: &F,
    ) -> io::Result<(Worker<H, S>, Arc<Waker>)> {
        let waker = Arc::new(Waker::new(poll.registry(), WAKER_TOKEN)?);
        // Listener tokens lie between LISTENER_TOKEN_BASE and the waker's; `run`
        // keeps one bit per listener in a u32.
        assert!(listeners.len() < 15, "too many listeners for their tokens");
        let admin_reserve = if listeners.iter().any(|l| l.kind == ListenerKind::Admin) {
            ADMIN_RESERVED_SLOTS
        } else {
            0
        };
        let capacity = cfg.max_connections_per_worker + admin_reserve;
        let sizes = BufSizes {
            read_len_bytes: cfg.max_head_bytes + cfg.max_body_bytes + 1024,
            scratch_len_bytes: SCRATCH_BYTES,
            body_len_bytes: cfg.max_body_bytes,
        };
        let handler = factory.make(index, waker.clone());
        let worker = Worker {
            index,
            poll,
            conns: (0..capacity).map(|_| Conn::vacant()).collect(),
            timers: vec![TimerLinks::default(); capacity],
            expired: Vec::with_capacity(capacity),
            free_slots: (0..capacity as u32).rev().collect(),
            open_conns: 0,
            admin_open: 0,
            wheel: TimerWheel::new(TIMER_SLOTS, TIMER_TICK_MS, 0),
            pool: BufPool::new(cfg.buffers_per_worker.min(capacity).max(1), sizes, capacity),
            buffer_waiters: VecDeque::with_capacity(capacity),
            next_reclaim_scan_ms: 0,
            handler,
            date: DateCache::new(unix_now_secs()),
            head_memo: Box::default(),
            tls_stage: vec![0; TLS_STAGE_BYTES].into_boxed_slice(),
            discard: vec![0; super::linger::DISCARD_BYTES].into_boxed_slice(),
            now_ms: 0,
            draining: false,
            listeners,
            admin_reserve,
            replies: Vec::new(),
            clock_origin: Instant::now(),
            accept_retry_at_ms: None,
            next_accept_log_ms: 0,
            reuse_candidates: Vec::with_capacity(super::reuse::REUSE_BATCH),
            reuse_scan_after_ms: 0,
            quiet_scan_after_ms: 0,
            admin_scan_after_ms: 0,
            cfg,
        };
        Ok((worker, waker))
    }
}

impl<H: Handler> Worker<H, TcpStream> {
    fn new<F: HandlerFactory<Handler = H>>(
        index: usize,
        cfg: RuntimeConfig,
        sockets: Vec<AssignedListener>,
        factory: &F,
    ) -> io::Result<(Worker<H>, Arc<Waker>)> {
        let poll = Poll::new()?;
        let mut listeners = Vec::new();
        for (i, (socket, kind, tls)) in sockets.into_iter().enumerate() {
            socket.set_nonblocking(true)?;
            // Accepted sockets inherit TCP_NODELAY (see `listener::bound_socket`); a
            // listener made elsewhere would leave every connection to Nagle.
            if !super::listener::has_nodelay(&socket)? {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a listener without TCP_NODELAY (bind it with runtime::listener)",
                ));
            }
            let mut socket = TcpListener::from_std(socket);
            poll.registry().register(
                &mut socket,
                Token(LISTENER_TOKEN_BASE + i),
                Interest::READABLE,
            )?;
            listeners.push(Listening {
                socket,
                kind,
                tls,
                registered: true,
            });
        }
        Worker::build(index, cfg, poll, listeners, factory)
    }

    fn run(&mut self) {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        let mut drain_deadline_ms = u64::MAX;
        loop {
            // Draining, wake on the deadline itself rather than the tick after it.
            let timeout_ms = TIMER_TICK_MS.min(drain_deadline_ms.saturating_sub(self.now_ms));
            let timeout = Duration::from_millis(timeout_ms);
            if let Err(e) = self.poll.poll(&mut events, Some(timeout))
                && e.kind() != io::ErrorKind::Interrupted
            {
                crate::say_err!("worker {}: poll failed: {e}", self.index);
                return;
            }
            self.now_ms = self.clock_origin.elapsed().as_millis() as u64;
            self.date.refresh(unix_now_secs());
            // Accepts wait until the batch's connection events are handled: at the cap
            // an accept may close a connection, and a slot (token) it frees goes to the
            // newcomer, whom an event of the closed one later in the batch would reach.
            let mut accepts_due: u32 = 0;
            for event in events.iter() {
                match event.token() {
                    WAKER_TOKEN => self.take_replies(),
                    Token(t) if t >= LISTENER_TOKEN_BASE => {
                        accepts_due |= 1 << (t - LISTENER_TOKEN_BASE);
                    }
                    Token(t) => self.on_ready(
                        t as u32,
                        event.is_readable() || event.is_read_closed() || event.is_error(),
                        event.is_read_closed(),
                    ),
                }
            }
            while accepts_due != 0 {
                let listener_index = accepts_due.trailing_zeros() as usize;
                accepts_due &= accepts_due - 1;
                self.accept(listener_index);
            }
            self.expire_timers();
            self.serve_buffer_waiters();
            if self
                .accept_retry_at_ms
                .is_some_and(|at_ms| self.now_ms >= at_ms)
            {
                self.retry_accepts();
            }
            if !self.draining && self.cfg.draining.load(Ordering::Acquire) {
                self.start_drain();
                drain_deadline_ms = self.now_ms + self.cfg.drain_timeout_ms;
            }
            if self.draining && (self.drained() || self.now_ms >= drain_deadline_ms) {
                return;
            }
        }
    }

    /// Whether this worker's drain is over. The worker that kept the admin listener
    /// (see `start_drain`) waits for every worker's connections, so that `/ready`
    /// answers 503 for as long as the server is draining.
    fn drained(&self) -> bool {
        self.open_conns == 0
            && (self.listeners.is_empty()
                || self.cfg.stats.iter().all(|s| s.open_connections() == 0))
    }
}
