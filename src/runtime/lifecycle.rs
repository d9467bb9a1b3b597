//! The parts of the event loop that do not depend on what the bytes travel
//! over: adopting a connection, readiness, replies, timeouts, buffer waiters
//! and the drain. `worker.rs` feeds them from epoll and TCP; `sim.rs` from an
//! in-memory pipe and a virtual clock.

use std::net::IpAddr;

use mio::{Interest, Token};

use super::conn::{Phase, Transport};
use super::stream::Stream;
use super::worker::{LISTENER_TOKEN_BASE, Worker};
use super::{Handler, ListenerKind};

/// When a connection waits for a buffer and none is free, a holder may be cut off for
/// it once its phase (request head, body, or answer) has lasted this long while moving
/// slower than `RECLAIM_BELOW_BYTES_PER_S` (see `Worker::reclaim_buffer`).
pub(super) const RECLAIM_AFTER_MS: u64 = 1_000;
/// The progress rate under which a holder counts as stalled: a trickling head
/// (slowloris) or a reader that barely reads. A client on any real link moves far more;
/// a body this slow would miss the body deadline anyway at the maximum body size.
pub(super) const RECLAIM_BELOW_BYTES_PER_S: u64 = 1_000;

/// When a phase begun at `rate_since_ms` that has moved `progress_bytes` since counts
/// as stalled: once it has lasted `RECLAIM_AFTER_MS` and more ms than it moved bytes
/// at `RECLAIM_BELOW_BYTES_PER_S`. More bytes may come first, so this is the earliest.
pub(super) fn stalled_at_ms(rate_since_ms: u64, progress_bytes: u64) -> u64 {
    let floor_ms = progress_bytes * 1_000 / RECLAIM_BELOW_BYTES_PER_S;
    rate_since_ms + RECLAIM_AFTER_MS.max(floor_ms + 1)
}

impl<H: Handler, S: Stream> Worker<H, S> {
    /// Takes a new connection into a free slot and serves what it already sent.
    /// Returns its slot, or gives the stream back if there is no slot or it
    /// cannot be registered.
    pub(super) fn adopt(
        &mut self,
        mut socket: S,
        transport: Transport,
        peer_ip: IpAddr,
        kind: ListenerKind,
    ) -> Result<u32, S> {
        let Some(idx) = self.free_slots.pop() else {
            // Unreachable: at the cap `accept` frees a slot first, or does not accept.
            return Err(socket);
        };
        if self
            .poll
            .registry()
            .register(&mut socket, Token(idx as usize), Interest::READABLE)
            .is_err()
        {
            self.free_slots.push(idx);
            return Err(socket);
        }
        let c = &mut self.conns[idx as usize];
        debug_assert!(!c.fin_seen && !c.peer_closed, "a vacant slot carries state");
        c.socket = Some(socket);
        c.transport = transport;
        c.peer_ip = peer_ip;
        c.listener = kind;
        c.enter_phase(Phase::Fresh, self.now_ms);
        // Registration reports bytes that arrived before it: no speculative read.
        c.read_pending = false;
        self.open_conns += 1;
        if kind == ListenerKind::Admin {
            self.admin_open += 1;
        }
        self.cfg.stats[self.index].accepted.inc();
        self.drive(idx);
        self.sync_listeners();
        Ok(idx)
    }

    /// A readiness event for connection `idx`: `readable` when bytes (or an
    /// error) may be waiting, `read_closed` when the peer's FIN arrived.
    pub(super) fn on_ready(&mut self, idx: u32, readable: bool, read_closed: bool) {
        let c = &mut self.conns[idx as usize];
        if !c.is_open() {
            // An event of a connection closed earlier in this batch (a writer's reply
            // delivered first, say): it must not mark the slot's next occupant.
            return;
        }
        c.read_pending |= readable || read_closed;
        c.fin_seen |= read_closed;
        self.drive(idx);
    }

    /// Hands the writer's finished replies to their connections.
    pub(super) fn take_replies(&mut self) {
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

    /// Registers the listeners that may accept now and deregisters the others. Each
    /// kind has its own slots (the public share, the admin reserve); at its cap a
    /// listener accepts only while a connection may make room (`runtime::reuse`), and
    /// otherwise the kernel backlog holds newcomers.
    pub(super) fn sync_listeners(&mut self) {
        let public = !self.at_cap(ListenerKind::Public) || self.may_reuse(ListenerKind::Public);
        let admin = !self.at_cap(ListenerKind::Admin) || self.may_reuse(ListenerKind::Admin);
        for (i, l) in self.listeners.iter_mut().enumerate() {
            let want = match l.kind {
                ListenerKind::Public => !self.draining && public,
                ListenerKind::Admin => admin,
            };
            if want == l.registered {
                continue;
            }
            let registry = self.poll.registry();
            // Registering reports pending connections as a fresh readable event.
            let done = if want {
                registry.register(
                    &mut l.socket,
                    Token(LISTENER_TOKEN_BASE + i),
                    Interest::READABLE,
                )
            } else {
                registry.deregister(&mut l.socket)
            };
            if done.is_ok() {
                l.registered = want;
            }
        }
    }

    pub(super) fn expire_timers(&mut self) {
        // Every due entry is disarmed as `advance` reports it, so each must be kept:
        // the list holds one entry per slot at most (its capacity), and never grows.
        let mut expired = std::mem::take(&mut self.expired);
        expired.clear();
        let capacity = expired.capacity();
        self.wheel
            .advance(&mut self.timers, self.now_ms, |idx| expired.push(idx));
        debug_assert_eq!(expired.capacity(), capacity, "a timer pass allocated");
        for &idx in &expired {
            self.on_timeout(idx);
        }
        self.expired = expired;
        // Slots freed since the last pass may let a paused listener accept again.
        self.sync_listeners();
    }

    pub(super) fn on_timeout(&mut self, idx: u32) {
        let c = &mut self.conns[idx as usize];
        if !c.is_open() {
            return;
        }
        if c.phase == Phase::Writing {
            // The socket takes bytes in lumps (room is reported once a third of its
            // buffer drains), so a client reading steadily from what is queued may not
            // have let it take one for the whole deadline: what it acknowledged says.
            // Checked every quarter of the timeout, so a client that stops reading is
            // cut off between 1 and 1.25 timeouts after it last took bytes (checking
            // only at each full timeout let that grow to nearly 2).
            let acked_bytes = c.progress_bytes();
            if acked_bytes > c.acked_bytes_at_deadline {
                c.acked_bytes_at_deadline = acked_bytes;
                c.phase_started_ms = self.now_ms;
            }
            let cut_off_ms = c.phase_started_ms + self.cfg.write_timeout_ms;
            if self.now_ms < cut_off_ms {
                let next_check_ms =
                    self.now_ms + write_check_interval_ms(self.cfg.write_timeout_ms);
                self.wheel
                    .arm(&mut self.timers, idx, next_check_ms.min(cut_off_ms));
                return;
            }
        }
        let phase_slot = match c.phase {
            Phase::Fresh => 0,
            Phase::Idle => 1,
            Phase::Head => 2,
            Phase::Body => 3,
            Phase::Writing => 4,
            // Awaiting never gets here (`settle` disarms its timer); it shares the
            // linger's slot only so that the match needs no arm of its own.
            Phase::Lingering | Phase::Awaiting => 5,
        };
        self.cfg.stats[self.index].timeouts[phase_slot].inc();
        match c.phase {
            // The client had its time to finish sending.
            Phase::Lingering => self.close(idx),
            Phase::Head | Phase::Body if c.out_is_empty() => {
                // Tell the client why before closing. When the 408 does not fit in the
                // socket's buffer at once, the connection stays for the rest like for
                // any answer (bounded by the write timeout): closing at once would end
                // the stream in the middle of a response (a fuzzing finding). The
                // client may still be sending that request (a slow body): its close
                // lingers, so a write of its meets no reset that could cost it the 408.
                // Not at the cap, where a newcomer may want the slot now.
                if c.buf.is_some() {
                    let listener = c.listener;
                    let linger = !self.at_cap(listener);
                    self.reject_and_close(idx, super::requests::TIMED_OUT, linger);
                    self.drive(idx);
                } else {
                    self.close(idx);
                }
            }
            Phase::Awaiting => {}
            Phase::Writing => self.close_with_reset(idx),
            _ => self.close(idx),
        }
    }

    /// Lends free buffers to waiting connections in arrival order. With none free,
    /// a waiter gets the buffer of the slowest stalled holder (see `reclaim_buffer`),
    /// so that slow or silent clients holding every buffer make newcomers wait about
    /// `RECLAIM_AFTER_MS`, not a whole head or write timeout.
    pub(super) fn serve_buffer_waiters(&mut self) {
        while let Some(&idx) = self.buffer_waiters.front() {
            let c = &self.conns[idx as usize];
            if !(c.is_open() && c.waiting_for_buffer) {
                self.buffer_waiters.pop_front(); // it left, or an older entry of its slot
                continue;
            }
            if self.pool.available() == 0 && !self.reclaim_buffer() {
                return;
            }
            self.buffer_waiters.pop_front();
            self.conns[idx as usize].waiting_for_buffer = false;
            self.drive(idx);
        }
    }

    /// Frees one buffer by cutting off the holder that moves slowest, if one has
    /// stalled (see `slowest_stalled_holder`). Returns whether a buffer came free.
    fn reclaim_buffer(&mut self) -> bool {
        let Some(idx) = self.slowest_stalled_holder(false) else {
            return false;
        };
        self.cfg.stats[self.index].reclaimed.inc();
        self.cut_off_stalled(idx);
        true
    }

    /// The buffer holder that moves slowest, among those whose phase has lasted
    /// `RECLAIM_AFTER_MS` at under `RECLAIM_BELOW_BYTES_PER_S` (bytes received for a
    /// head or body; for an answer, bytes the client acknowledged, which a reader of a
    /// long queued answer does steadily while the socket reports room only in lumps).
    /// A connection waiting for the writer is never one, nor, if `public_only`, an
    /// admin listener's. Scans the holders (at most the pool's size) no more often than
    /// one can come due (`next_reclaim_scan_ms`).
    pub(super) fn slowest_stalled_holder(&mut self, public_only: bool) -> Option<u32> {
        if self.now_ms < self.next_reclaim_scan_ms {
            return None;
        }
        // (index, bytes, elapsed ms) of the slowest so far.
        let mut victim: Option<(u32, u64, u64)> = None;
        let mut next_due_ms = self.now_ms + RECLAIM_AFTER_MS;
        for &idx in self.pool.holders() {
            let c = &self.conns[idx as usize];
            let candidate = match c.phase {
                Phase::Head | Phase::Body => c.out_is_empty(),
                Phase::Writing => true,
                _ => false,
            };
            if !candidate {
                continue;
            }
            let progress_bytes = c.progress_bytes();
            let due_ms = stalled_at_ms(c.rate_since_ms, progress_bytes);
            if due_ms > self.now_ms {
                next_due_ms = next_due_ms.min(due_ms);
                continue;
            }
            if public_only && c.listener != ListenerKind::Public {
                // Due for a buffer, if not for a public slot: the next scan for a
                // buffer waiter must not be put off.
                next_due_ms = self.now_ms;
                continue;
            }
            let elapsed_ms = self.now_ms - c.rate_since_ms;
            // Slower: fewer bytes per ms (cross-multiplied, in u128 so nothing overflows).
            let slower = victim.is_none_or(|(_, bytes, ms)| {
                u128::from(progress_bytes) * u128::from(ms)
                    < u128::from(bytes) * u128::from(elapsed_ms)
            });
            if slower {
                victim = Some((idx, progress_bytes, elapsed_ms));
            }
        }
        if victim.is_none() {
            // Holders that start a phase from now on come due later than every one seen.
            self.next_reclaim_scan_ms = next_due_ms;
        }
        victim.map(|(idx, _, _)| idx)
    }

    /// Cuts off a stalled holder: a request still arriving gets a 408, as a timeout
    /// would, if the client's window has room for it, else (like a reader that stopped
    /// reading) the close. Its buffer is free afterwards.
    pub(super) fn cut_off_stalled(&mut self, idx: u32) {
        if self.conns[idx as usize].phase != Phase::Writing {
            // Closed at once below: the slot or buffer is wanted now.
            self.reject_and_close(idx, super::requests::TIMED_OUT, false);
            self.drive(idx);
        }
        // Mid-answer, or a 408 the client's window could not take at once: nothing
        // more can be said, and the buffer must come free now, for this waiter.
        if self.conns[idx as usize].buf.is_some() {
            self.close_with_reset(idx);
        }
    }

    pub(super) fn start_drain(&mut self) {
        self.draining = true;
        // Public listeners close, so new connections are refused. The admin listener
        // stays, so that a probe of `/ready` sees the 503 that says "draining" rather
        // than a refused connection, until this worker is done.
        let mut kept = Vec::new();
        for mut l in self.listeners.drain(..) {
            if l.registered {
                let _ = self.poll.registry().deregister(&mut l.socket);
                l.registered = false;
            }
            if l.kind == ListenerKind::Admin {
                kept.push(l);
            }
        }
        // Registered again under the tokens of their new indices.
        self.listeners = kept;
        self.sync_listeners();
        for idx in 0..self.conns.len() as u32 {
            let c = &self.conns[idx as usize];
            // A lingering connection has its answer sent and is waiting for the
            // client's close; closing it now with input unread would reset it.
            if c.is_open() && c.is_quiet() && c.phase != Phase::Lingering {
                self.close(idx);
            }
        }
    }
}

/// How often a blocked answer's progress is checked: a quarter of the write timeout.
pub(super) fn write_check_interval_ms(write_timeout_ms: u64) -> u64 {
    (write_timeout_ms / 4).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stalled means slower than `RECLAIM_BELOW_BYTES_PER_S` over the whole phase, and
    /// never before `RECLAIM_AFTER_MS`: a phase moving at exactly the floor is not.
    #[test]
    fn a_phase_stalls_once_slower_than_the_floor_for_long_enough() {
        // Few bytes: the minimum duration decides.
        assert_eq!(stalled_at_ms(5_000, 0), 6_000);
        assert_eq!(stalled_at_ms(5_000, 999), 6_000);
        // 1,000 bytes in 1,000 ms is the floor itself: slower only from 1 ms later.
        assert_eq!(stalled_at_ms(5_000, 1_000), 6_001);
        // 4,000 bytes: slower than 1 KB/s only past 4 s.
        assert_eq!(stalled_at_ms(5_000, 4_000), 9_001);
    }
}
