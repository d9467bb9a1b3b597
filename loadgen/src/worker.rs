//! One load thread: its own `mio::Poll`, connections, schedule and counters.
//! Nothing here is shared with other threads except relaxed progress counters.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use mio::{Events, Poll, Token};

use crate::cli::Config;
use crate::conn::{Conn, Env, Phase};
use crate::report::Stats;
use crate::request::{Picker, Rng};
use crate::schedule::{OpenLoop, TimerFd, now_ns};
use crate::tls::TlsClient;

/// Token of the schedule timer; connections use their index.
const TIMER: Token = Token(usize::MAX - 1);
/// How often timeouts are checked and progress is published.
const TICK_NS: u64 = 10_000_000;
/// Per-connection read buffer; also the longest response head accepted.
const RBUF_BYTES: usize = 16 * 1024;

/// What one thread is asked to do. Its share of `--rate` follows from its index (see
/// [`OpenLoop::for_thread`]): in proportion to its connections, like its budget.
#[derive(Debug, Clone)]
pub struct Plan {
    pub index: usize,
    pub connections: usize,
    /// This thread's share of `--max-requests`.
    pub budget: Option<u64>,
}

/// Counters the progress printer reads while the thread runs (relaxed, no locks).
/// Aligned to its own cache lines so threads never write to a shared line.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Progress {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub finished: AtomicBool,
}

/// Sets [`Progress::finished`] when dropped, so the progress printer stops however the
/// thread ends (a panic included).
pub struct FinishGuard<'a>(pub &'a AtomicBool);

impl Drop for FinishGuard<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

struct Loop<'a> {
    cfg: &'a Config,
    conns: Vec<Conn>,
    stats: Stats,
    picker: Picker,
    rng: Rng,
    /// Requests this thread may still issue.
    remaining: u64,
    sched: Option<OpenLoop>,
    /// Open loop: connections with room for another request, oldest first.
    ready: VecDeque<usize>,
}

/// Runs one thread's share of the load until the deadline, the budget or `stop`.
pub fn run(
    cfg: &Config,
    plan: &Plan,
    progress: &Progress,
    stop: &AtomicBool,
) -> Result<Stats, String> {
    let _finished = FinishGuard(&progress.finished);
    run_inner(cfg, plan, progress, stop).map_err(|e| format!("thread {}: {e}", plan.index))
}

fn run_inner(
    cfg: &Config,
    plan: &Plan,
    progress: &Progress,
    stop: &AtomicBool,
) -> io::Result<Stats> {
    let mut poll = Poll::new()?;
    let registry = poll.registry().try_clone()?;
    let mut events = Events::with_capacity(1024);
    let mut timer = TimerFd::new()?;
    timer.register(&registry, TIMER)?;
    let tls = match &cfg.tls {
        Some(settings) => Some(TlsClient::new(settings, &cfg.host).map_err(io::Error::other)?),
        None => None,
    };
    let env = Env {
        registry: &registry,
        addr: cfg.addr,
        requests: &cfg.requests,
        tls: tls.as_ref(),
        close: cfg.close,
        // Saturates: a timeout past u64 nanoseconds (584 years) means "never".
        timeout_ns: u64::try_from(cfg.timeout.as_nanos()).unwrap_or(u64::MAX),
    };
    let weights: Vec<u32> = cfg.requests.iter().map(|r| r.weight).collect();
    let start_ns = now_ns();
    let end_ns =
        start_ns.saturating_add(u64::try_from(cfg.duration.as_nanos()).unwrap_or(u64::MAX));
    let mut lp = Loop {
        cfg,
        conns: (0..plan.connections)
            .map(|i| Conn::new(Token(i), cfg.pipeline, RBUF_BYTES))
            .collect(),
        stats: Stats {
            start_ns,
            ..Stats::for_mix(cfg.requests.len())
        },
        picker: Picker::new(&weights),
        rng: Rng::new(0x5EED ^ (plan.index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        remaining: plan.budget.unwrap_or(u64::MAX),
        sched: cfg
            .rate
            .map(|r| OpenLoop::for_thread(start_ns, r, plan.index, cfg.threads, cfg.connections)),
        ready: VecDeque::with_capacity(plan.connections),
    };
    for i in 0..lp.conns.len() {
        if lp.sched.is_none() {
            lp.issue_batch(&env, i, start_ns);
        } else {
            // Open loop: connect ahead of the first send, except with --close where
            // each request pays for its own connection.
            if !cfg.close {
                lp.conns[i].connect(&env, &mut lp.stats, start_ns);
            }
            lp.make_ready(i, start_ns);
        }
    }
    let mut next_tick_ns = start_ns + TICK_NS;
    loop {
        let now = now_ns();
        if now >= end_ns || stop.load(Ordering::Relaxed) || lp.budget_done() {
            break;
        }
        if now >= next_tick_ns {
            lp.tick(&env, now);
            progress
                .requests
                .store(lp.stats.requests, Ordering::Relaxed);
            progress
                .errors
                .store(lp.stats.total_errors(), Ordering::Relaxed);
            next_tick_ns = now + TICK_NS;
        }
        if lp.sched.is_some() {
            lp.dispatch(&env, now);
            if let (false, Some(at)) = (cfg.spin, lp.next_wakeup()) {
                timer.arm_at(at)?;
            }
        }
        // --spin: never sleep; the next pass sends whatever has come due.
        let wait_ns = if cfg.spin {
            0
        } else {
            next_tick_ns.min(end_ns).saturating_sub(now)
        };
        match poll.poll(&mut events, Some(Duration::from_nanos(wait_ns))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            let i = event.token().0;
            if event.token() == TIMER {
                timer.drain();
                continue;
            }
            let now = now_ns();
            let readable = event.is_readable() || event.is_read_closed() || event.is_error();
            let peer_closed = event.is_read_closed();
            lp.conns[i].on_ready(&env, &mut lp.stats, readable, peer_closed, now);
            lp.after_progress(&env, i, now);
        }
    }
    let end = now_ns();
    lp.stats.end_ns = end;
    // Requests queued on a connection that never came up (connecting, backing off, TLS
    // handshake unfinished) never reached the server: they are not `issued` but, in
    // open loop, `unsent`. The rest still in flight were sent and not answered.
    let (mut waiting, mut in_flight) = (0u64, 0u64);
    for conn in &lp.conns {
        let n = conn.in_flight() as u64;
        if conn.established() {
            in_flight += n;
        } else {
            waiting += n;
        }
    }
    lp.stats.issued -= waiting;
    lp.stats.in_flight_at_end = in_flight;
    if let Some(sched) = &lp.sched {
        // A request intended exactly at the deadline is not "due" within the run, and
        // one beyond --max-requests was never going to be sent.
        let due = sched.backlog(end.min(end_ns).saturating_sub(1));
        lp.stats.unsent = due.min(lp.remaining) + waiting;
    }
    progress
        .requests
        .store(lp.stats.requests, Ordering::Relaxed);
    progress
        .errors
        .store(lp.stats.total_errors(), Ordering::Relaxed);
    Ok(lp.stats)
}

impl Loop<'_> {
    /// Every request this thread may issue has been issued and resolved.
    fn budget_done(&self) -> bool {
        self.remaining == 0 && self.stats.issued == self.stats.requests + self.stats.dropped
    }

    /// Closed loop: an idle connection gets its next batch of `--pipeline` requests.
    fn issue_batch(&mut self, env: &Env, i: usize, now: u64) {
        let n = (self.cfg.pipeline as u64).min(self.remaining);
        if n == 0 {
            return;
        }
        let conn = &mut self.conns[i];
        for _ in 0..n {
            let req = self.picker.pick(&mut self.rng);
            conn.push(env, &mut self.stats, req, now, now);
        }
        self.remaining -= n;
        self.stats.issued += n;
        conn.flush(&mut self.stats);
    }

    fn make_ready(&mut self, i: usize, now: u64) {
        let conn = &mut self.conns[i];
        if !conn.queued && conn.has_room(self.cfg.pipeline) {
            conn.queued = true;
            conn.ready_since_ns = now;
            self.ready.push_back(i);
        }
    }

    /// After a connection made progress: closed loop refills it, open loop re-queues it.
    fn after_progress(&mut self, env: &Env, i: usize, now: u64) {
        if self.sched.is_some() {
            self.make_ready(i, now);
        } else if self.conns[i].in_flight() == 0
            && !matches!(self.conns[i].phase(), Phase::Backoff { .. })
        {
            self.issue_batch(env, i, now);
        }
    }

    /// Timeouts, backoff ends, and refilling whatever they freed.
    fn tick(&mut self, env: &Env, now: u64) {
        for i in 0..self.conns.len() {
            self.conns[i].check_timers(env, &mut self.stats, now);
            self.after_progress(env, i, now);
        }
    }

    /// Open loop: hands every request that is due to a connection with room.
    fn dispatch(&mut self, env: &Env, now: u64) {
        let depth = self.cfg.pipeline;
        let Some(sched) = self.sched.as_mut() else {
            return;
        };
        while self.remaining > 0 && sched.next_ns() <= now {
            let Some(i) = self.ready.pop_front() else {
                break; // every connection is busy: the backlog waits, its latency grows
            };
            let conn = &mut self.conns[i];
            conn.queued = false;
            if !conn.has_room(depth) {
                continue;
            }
            while conn.has_room(depth) && self.remaining > 0 && sched.next_ns() <= now {
                let req = self.picker.pick(&mut self.rng);
                let intended_ns = sched.take();
                // The client's own lateness: from when the request was due and a
                // connection was free (waiting for a busy server is not the client's).
                let due_ns = intended_ns.max(conn.ready_since_ns);
                self.stats.record_send_lag(now.saturating_sub(due_ns));
                conn.push(env, &mut self.stats, req, intended_ns, now);
                self.remaining -= 1;
                self.stats.issued += 1;
            }
            conn.flush(&mut self.stats);
            if conn.has_room(depth) {
                conn.queued = true;
                conn.ready_since_ns = now;
                self.ready.push_back(i);
            }
        }
    }

    /// Open loop: when to wake for the next send, if a connection could take it.
    fn next_wakeup(&self) -> Option<u64> {
        let sched = self.sched.as_ref()?;
        (self.remaining > 0 && !self.ready.is_empty()).then(|| sched.next_ns())
    }
}
