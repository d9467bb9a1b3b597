//! The `connection_cap` target: several clients against one worker whose table is
//! full, on the in-memory transport of `availability_server::runtime::sim`, so that
//! slot reuse (`runtime::reuse`) and buffer reclaim (`runtime::lifecycle`) run under
//! arbitrary interleavings. The `connection` target opens one connection at a time
//! and never reaches the cap.
//!
//! The server has `CAP` slots and `BUFFERS` request buffers; the script's `CLIENTS`
//! clients connect, plain or over TLS, send menu requests whole, in parts or
//! trickling, read all, some or nothing, close, and let the virtual clock run.
//! Timeouts are longer than any run, so a connection the server ends on its own is
//! ended for a newcomer or for a buffer waiter, and nothing else.
//!
//! Over TLS (`tls.rs`) the script's bytes go out as records of what it let go, the
//! handshake goes at the pace the client reads, and the model keeps two counts: the
//! plaintext, whose whole records date the server's request phases, and what the
//! socket carried (handshakes, record overhead, records still arriving), which the
//! server's stall rule counts and which therefore moves the liveness dates below.
//!
//! Invariants checked (a violation panics, which libFuzzer records as a crash):
//! - every answer is well-formed HTTP/1.1 and is the one SPEC gives its request, in
//!   order; only a request not yet sent whole may be answered early, and then only
//!   with a closing 408 (cut off while it trickled);
//! - a connection the server ends with answers owed, or without saying so, had been
//!   in its phase for at least 1 s (as far as the client can tell: since the accept,
//!   or since it began or completed a request with no answer owed): the quiet rule
//!   for newcomers and the stall rule for buffers and newcomers both need that;
//!   and it was moving under 1 KB/s: the server read fewer of its bytes (over TLS,
//!   ciphertext) in the last second than the ms since that phase may have begun;
//! - each such end is counted as a slot reuse or a buffer reclaim in the same step,
//!   and nothing else is counted (but one: over TLS, after our FIN with every answer
//!   read, a server that may still have had handshake bytes for a full window ends
//!   either way, and may count it);
//! - the server never holds more than `CAP` connections, nor one its client has seen
//!   closed and answered with a FIN;
//! - below the cap a connect always succeeds; at the cap it succeeds once some
//!   connection has been quiet (nothing owed or held, every answer read; over TLS
//!   nothing left to send either way, mid-handshake or not) for 2 s (1 s to become
//!   a candidate, at most 1 s until the listener looks again; over TLS the candidacy
//!   waits longer if the socket carried more than 1 KB since the server's phase may
//!   have begun, at 1 KB/s), or once a head begun with nothing owed has arrived at
//!   under 1 KB/s (over TLS, of ciphertext) for 1 s, and 1 s more has passed (a
//!   slowloris client holding every slot keeps nobody out);
//! - every record the server sends decrypts;
//! - in the end every request sent whole on a connection that was not cut off is
//!   answered, every connection closes, and /health answers on a fresh one.
//!
//! The server itself asserts (debug builds) that a connection closed for a newcomer
//! was quiet and that one cut off held a stalled phase.

pub mod actions;
mod answers;
pub mod client;
mod dates;
mod tls;

use std::cell::RefCell;

use availability_server::server::{SimServer, start_sim_with_buffers};

use crate::conn::client::WRITER_DEADLINE;
use crate::conn::menu;
use crate::conn::tls::TlsSetup;
use actions::{Action, CLIENTS, Script, Step};
use client::{Client, End};

/// The worker's connection slots, fewer than `CLIENTS`.
pub const CAP: usize = 3;
/// Its request buffers, fewer than `CAP`: connections wait for one, and stalled
/// holders are cut off for them.
pub const BUFFERS: usize = 2;
/// Every timeout: longer than any run, so none fires.
const LONG_TIMEOUT_MS: u64 = 3_600_000;
/// The longest a listener at the cap that found no connection to close waits before
/// it looks again (`runtime::reuse::REUSE_RESCAN_MS`).
const RESCAN_MAX_MS: u64 = 1_000;
/// Send/receive windows a connection may get.
const WINDOWS_BYTES: [usize; 3] = [64 * 1024, 4096, 333];
/// Virtual time the end of a run may go without progress.
const FINISH_DEADLINE_MS: u64 = 5_000;

thread_local! {
    /// The server and its certificate, made on first use and kept for the life of
    /// the process.
    static FIXTURE: RefCell<Option<(SimServer, TlsSetup)>> = const { RefCell::new(None) };
}

/// Stops this thread's server, if one was started, and removes its data directory
/// (see [`crate::conn::stop`]).
pub fn stop() {
    if let Some((server, _)) = FIXTURE.with(|cell| cell.borrow_mut().take()) {
        crate::conn::stop_and_remove(server);
    }
}

fn start() -> (SimServer, TlsSetup) {
    let mut config = crate::conn::sim_config("cap");
    config.header_timeout_ms = LONG_TIMEOUT_MS;
    config.body_timeout_ms = LONG_TIMEOUT_MS;
    config.idle_timeout_ms = LONG_TIMEOUT_MS;
    config.write_timeout_ms = LONG_TIMEOUT_MS;
    config.max_connections = CAP;
    let server = start_sim_with_buffers(config, Some(BUFFERS)).expect("the server starts");
    let tls = TlsSetup::new(server.data_dir());
    (server, tls)
}

/// One fuzzing run.
pub fn run(script: &Script) {
    FIXTURE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let (server, tls) = slot.get_or_insert_with(start);
        let mut run = Run {
            server,
            tls,
            clients: Default::default(),
            connects: 0,
            seq: 0,
            counted: 0,
            trace: Vec::new(),
        };
        // The server lives across runs: its counters start where the last run left them.
        run.counted = run.reclaims_counted();
        for action in &script.0 {
            run.act(action);
            run.after_step();
        }
        run.finish();
        if std::env::var_os("AVAILABILITY_FUZZ_TRACE").is_some() {
            eprintln!("connection_cap run:\n    {}", run.trace.join("\n    "));
        }
        if run.server.worker.open_connections() != 0 {
            run.fail(None, "a connection outlived its run");
        }
        crate::conn::check_health(run.server);
    });
}

struct Run<'s> {
    server: &'s mut SimServer,
    tls: &'s TlsSetup,
    clients: [Option<Client>; CLIENTS],
    connects: usize,
    seq: u64,
    /// `reclaims_counted` as of the last check (`after_step`).
    counted: u64,
    /// What happened, for the failure message.
    trace: Vec<String>,
}

impl Run<'_> {
    fn now_ms(&self) -> u64 {
        self.server.worker.now_ms()
    }

    /// Connections the server says it ended for a newcomer or a buffer waiter.
    fn reclaims_counted(&self) -> u64 {
        self.server.worker.slot_reuses() + self.server.worker.buffer_reclaims()
    }

    fn act(&mut self, action: &Action) {
        let i = action.client;
        self.trace.push(format!(
            "{} ms: client {i} {:?}",
            self.now_ms(),
            action.step
        ));
        match &action.step {
            Step::Connect { tls } => self.connect(i, *tls),
            Step::Advance { ms } => self.server.worker.advance_ms(*ms),
            Step::Settle => self.settle(),
            step => {
                let Some(c) = self.clients[i].as_mut() else {
                    return;
                };
                match *step {
                    Step::Send { item, arg, cut } => {
                        self.seq += 1;
                        c.queue(menu::build(item, arg, self.seq), usize::from(cut));
                    }
                    Step::Trickle { bytes } => c.trickle(bytes),
                    Step::Read { all, max_bytes } => c.read(self.server, all, max_bytes),
                    Step::Close => c.close(self.server),
                    Step::Connect { .. } | Step::Advance { .. } | Step::Settle => {
                        unreachable!()
                    }
                }
            }
        }
    }

    fn connect(&mut self, i: usize, tls: bool) {
        if self.clients[i].is_some() {
            return;
        }
        let window = WINDOWS_BYTES[(i + self.connects) % WINDOWS_BYTES.len()];
        // Over TLS, every second connection closes with a close_notify.
        let tls = tls.then_some((self.tls, self.connects.is_multiple_of(2)));
        if let Some(client) = Client::accept(self.server, window, tls) {
            let how = tls.map_or("plain", |(_, notify)| {
                if notify {
                    "TLS, close_notify"
                } else {
                    "TLS, bare FIN"
                }
            });
            self.trace
                .push(format!("  accepted ({window}-byte window, {how})"));
            self.clients[i] = Some(client);
            self.connects += 1;
            return;
        }
        let dates: Vec<_> = (self.clients.iter().flatten())
            .map(|c| (c.quiet_since_ms, c.reusable_by_ms(), c.head_stalled_at_ms()))
            .collect();
        self.trace.push(format!(
            "  refused (quiet since, reusable by, head stalled at: {dates:?})"
        ));
        let held = self.clients.iter().flatten().count();
        if held < CAP {
            self.fail(None, &format!("refused with {held} of {CAP} slots held"));
        }
        let now_ms = self.now_ms();
        for (j, c) in self.clients.iter().enumerate() {
            let Some(c) = c else { continue };
            if let Some(reusable_ms) = c.reusable_by_ms()
                && now_ms >= reusable_ms + RESCAN_MAX_MS
            {
                let since_ms = c.quiet_since_ms.unwrap_or_default();
                let problem = format!(
                    "refused a newcomer; this one is quiet since {since_ms} ms, reusable by \
                     {reusable_ms} ms"
                );
                self.fail(Some(j), &problem);
            }
            if let Some(stalled_ms) = c.head_stalled_at_ms()
                && now_ms >= stalled_ms + RESCAN_MAX_MS
            {
                let problem =
                    format!("refused a newcomer; this one's head stalled at {stalled_ms} ms");
                self.fail(Some(j), &problem);
            }
        }
    }

    fn settle(&mut self) {
        if !self.server.worker.settle(WRITER_DEADLINE) {
            self.fail(None, "the writer thread did not answer a deferred request");
        }
    }

    /// What a non-blocking client does whenever it can: sends what it let go. Then
    /// the checks: answers, ends, and the slots held.
    fn after_step(&mut self) {
        let now_ms = self.now_ms();
        let (mut reclaimed, mut maybe) = (0, 0);
        for i in 0..CLIENTS {
            let Some(c) = self.clients[i].as_mut() else {
                continue;
            };
            c.push(self.server);
            let checked = c.take_responses().and_then(|()| c.ended(self.server));
            match checked {
                Err(problem) => self.fail(Some(i), &problem),
                Ok(Some(end)) => {
                    self.trace
                        .push(format!("{now_ms} ms: client {i} ended: {end:?}"));
                    reclaimed += u64::from(end == End::Reclaimed);
                    maybe += u64::from(end == End::Either);
                    self.clients[i] = None;
                }
                Ok(None) => c.note_state(now_ms),
            }
        }
        // With no timeout due, the server ends a connection unasked only to reclaim
        // its slot or buffer, and counts each (availability_slot_reuses_total,
        // availability_buffer_reclaims_total).
        let counted = self.reclaims_counted() - self.counted;
        if counted < reclaimed || counted > reclaimed + maybe {
            self.fail(
                None,
                &format!(
                    "{reclaimed} connections ended unasked (and {maybe} maybe), {counted} \
                     counted as reclaimed"
                ),
            );
        }
        self.counted += counted;
        let open = self.server.worker.open_connections();
        let held = self.clients.iter().flatten().count();
        if open > CAP || open != held {
            self.fail(
                None,
                &format!("the server holds {open} connections, its clients {held} (cap {CAP})"),
            );
        }
    }

    /// Lets every client send all it holds, read everything, and close once answered;
    /// fails if nothing moves for `FINISH_DEADLINE_MS` of virtual time.
    fn finish(&mut self) {
        self.trace.push(format!("{} ms: finish", self.now_ms()));
        let mut progress = (u64::MAX, self.now_ms());
        while self.clients.iter().any(Option::is_some) {
            let mut moved = 0;
            for c in self.clients.iter_mut().flatten() {
                c.release_all();
                c.push(self.server);
                c.read(self.server, true, 0);
                moved += c.moved_bytes();
            }
            self.settle();
            for i in 0..CLIENTS {
                if let Some(c) = self.clients[i].as_mut() {
                    if let Err(problem) = c.take_responses() {
                        self.fail(Some(i), &problem);
                    }
                    if c.complete_unanswered() == 0 && !c.has_pending() {
                        c.close(self.server);
                    }
                }
            }
            self.after_step();
            if moved != progress.0 {
                progress = (moved, self.now_ms());
            } else if self.now_ms() >= progress.1 + FINISH_DEADLINE_MS {
                self.fail(None, "no progress for 5 s at the end of the run");
            } else {
                self.server.worker.advance_ms(20);
            }
        }
    }

    fn fail(&self, client: Option<usize>, problem: &str) -> ! {
        let who = client.map_or(String::new(), |i| format!("client {i}: "));
        panic!(
            "connection_cap invariant violated: {who}{problem}\n  trace:\n    {}",
            self.trace.join("\n    ")
        );
    }
}
