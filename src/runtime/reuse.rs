//! At the connection cap, a newcomer takes the slot of the connection that has been
//! quiet longest: one kept alive between requests, or one that connected and has sent
//! nothing (or, over TLS, that sends records or a handshake too slowly to count: see
//! `reusable_at_ms`). Otherwise a client that opens connections and leaves them idle could keep
//! every other client in the kernel's backlog for the whole 60 s idle timeout, again
//! and again. nginx does the same ("worker_connections are not enough, reusing
//! connections"). A server may close an idle connection at any time (RFC 9112 §9.3.1
//! lets the client retry its next request elsewhere). One quiet for less than
//! `REUSE_MIN_QUIET_MS` is not chosen: a client that just connected may have its
//! request in the kernel, not yet seen (and it would not retry it), and one that just
//! had an answer may be sending the next.
//!
//! With no quiet connection, the newcomer takes the slot of a stalled one, chosen and
//! cut off as for a buffer (`Worker::slowest_stalled_holder`): a request trickling in
//! at under 1 KB/s for a second (slowloris), or an answer the client barely reads.
//! Otherwise such clients holding every slot would keep newcomers out for the whole
//! 10 s head timeout. A connection that is merely busy, or whose write is with the
//! writer thread, is never chosen: then the newcomer waits in the backlog.
//!
//! Each listener kind has its own slots: the public share of `--max-connections`,
//! and the admin listener's small reserve. A newcomer takes only a slot of its kind,
//! so neither side can crowd out the other. The admin side, a few slots, is searched
//! by a plain scan and has no stalled path (its buffers go the public way).

use super::conn::{Conn, Phase};
use super::lifecycle::stalled_at_ms;
use super::stream::Stream;
use super::worker::Worker;
use super::{Handler, ListenerKind};

/// Quiet public connections one scan of the table remembers, oldest first: the scan
/// is O(connections), so it is paid once per up to this many newcomers at the cap.
pub(super) const REUSE_BATCH: usize = 32;
/// How long a connection must have been quiet to be closed for a newcomer.
pub(super) const REUSE_MIN_QUIET_MS: u64 = 1_000;
/// When no connection is quiet or stalled enough, a listener at its cap pauses until
/// one may be, but at least the first and at most the second of these: busy
/// connections end by finishing or by their own deadlines, and a scan is not worth
/// repeating every millisecond. A table scan that found none quiet enough is not
/// repeated sooner either.
pub(super) const REUSE_RESCAN_MS: (u64, u64) = (100, 1_000);

/// A remembered candidate: its slot, the slot's serial (a new occupant has another)
/// and when its phase began (a request since then starts another).
pub(super) type Candidate = (u32, u32, u64);

/// How a newcomer at the cap gets its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Room {
    /// Closing this connection, quiet for long enough.
    Quiet(u32),
    /// Cutting off this stalled one.
    Stalled(u32),
}

/// When `c`, of listener kind `kind`, may be closed for a newcomer, if it has no
/// request or answer under way (open, Fresh or Idle, nothing buffered, not waiting
/// for a buffer). One that has received nothing since its phase began: once quiet for
/// `REUSE_MIN_QUIET_MS`. One that has received bytes with no request to show for them
/// (a TLS record or handshake still arriving; plain bytes start a head at once): once
/// slower than a stalled buffer holder (`stalled_at_ms`).
fn reusable_at_ms<S: Stream>(c: &Conn<S>, kind: ListenerKind) -> Option<u64> {
    let idle = c.is_open()
        && c.listener == kind
        && matches!(c.phase, Phase::Fresh | Phase::Idle)
        && !c.waiting_for_buffer
        && c.is_quiet();
    if !idle {
        return None;
    }
    if c.rate_bytes == 0 {
        return Some(c.phase_started_ms + REUSE_MIN_QUIET_MS);
    }
    Some(stalled_at_ms(c.rate_since_ms, c.rate_bytes))
}

impl<H: Handler, S: Stream> Worker<H, S> {
    /// Whether `kind`'s connections fill its slots: the public share of
    /// `--max-connections`, or the admin reserve.
    pub(super) fn at_cap(&self, kind: ListenerKind) -> bool {
        let (open, slots) = match kind {
            ListenerKind::Public => (
                self.open_conns - self.admin_open,
                self.cfg.max_connections_per_worker,
            ),
            ListenerKind::Admin => (self.admin_open, self.admin_reserve),
        };
        open >= slots || self.free_slots.is_empty()
    }

    /// Whether a listener of `kind` at its cap may accept: a connection may be there
    /// to make room (see `room_for_newcomer`).
    pub(super) fn may_reuse(&self, kind: ListenerKind) -> bool {
        let after_ms = match kind {
            ListenerKind::Public => self.reuse_scan_after_ms,
            ListenerKind::Admin => self.admin_scan_after_ms,
        };
        self.now_ms >= after_ms
    }

    /// Which slot a newcomer of `kind` at its cap would take, chosen but not yet
    /// freed: the caller frees it (`make_room`) once `accept` has produced the
    /// newcomer, so that nothing is closed for a backlog that turned out empty. `None`
    /// when every connection of that kind is busy; then its listener pauses until one
    /// may be quiet or stalled (`REUSE_RESCAN_MS`).
    pub(super) fn room_for_newcomer(&mut self, kind: ListenerKind) -> Option<Room> {
        if !self.may_reuse(kind) {
            return None;
        }
        let (min_ms, max_ms) = REUSE_RESCAN_MS;
        if kind == ListenerKind::Admin {
            let (oldest, due_ms) = self.oldest_reusable_admin();
            if oldest.is_none() {
                self.admin_scan_after_ms = due_ms.clamp(self.now_ms + min_ms, self.now_ms + max_ms);
            }
            return oldest.map(Room::Quiet);
        }
        if let Some(idx) = self.oldest_candidate() {
            return Some(Room::Quiet(idx));
        }
        if self.now_ms >= self.quiet_scan_after_ms {
            let quiet_due_ms = self.scan_quiet();
            if let Some(idx) = self.oldest_candidate() {
                return Some(Room::Quiet(idx));
            }
            self.quiet_scan_after_ms =
                quiet_due_ms.clamp(self.now_ms + min_ms, self.now_ms + max_ms);
        }
        // The holders' scan (at most the pool's size) has a due time of its own.
        if let Some(idx) = self.slowest_stalled_holder(true) {
            return Some(Room::Stalled(idx));
        }
        let due_ms = self.quiet_scan_after_ms.min(self.next_reclaim_scan_ms);
        self.reuse_scan_after_ms = due_ms.clamp(self.now_ms + min_ms, self.now_ms + max_ms);
        None
    }

    /// Frees the slot `room_for_newcomer` chose. A quiet connection is closed; a
    /// stalled one is cut off (a 408 if a request was arriving) and then closed
    /// whatever it still had to send or receive: the newcomer needs the slot now.
    pub(super) fn make_room(&mut self, room: Room) {
        self.cfg.stats[self.index].reused.inc();
        let idx = match room {
            Room::Quiet(idx) => {
                let c = &self.conns[idx as usize];
                debug_assert!(
                    reusable_at_ms(c, c.listener).is_some_and(|at_ms| at_ms <= self.now_ms),
                    "closing for a newcomer a connection that is not quiet: {:?}",
                    c.phase
                );
                idx
            }
            Room::Stalled(idx) => {
                debug_assert!(
                    matches!(
                        self.conns[idx as usize].phase,
                        Phase::Head | Phase::Body | Phase::Writing
                    ),
                    "cutting off a connection that holds no stalled phase"
                );
                self.cut_off_stalled(idx);
                idx
            }
        };
        self.close(idx);
    }

    /// The oldest remembered public candidate that may still be closed for a
    /// newcomer, dropping the ones that may not. A chosen one stays until closed (its
    /// serial changes).
    fn oldest_candidate(&mut self) -> Option<u32> {
        while let Some(&(idx, serial, since_ms)) = self.reuse_candidates.last() {
            let c = &self.conns[idx as usize];
            // Same occupant, same phase, and (bytes may have come) still due.
            if c.serial == serial
                && c.phase_started_ms == since_ms
                && reusable_at_ms(c, ListenerKind::Public).is_some_and(|at| at <= self.now_ms)
            {
                return Some(idx);
            }
            self.reuse_candidates.pop();
        }
        None
    }

    /// Remembers the `REUSE_BATCH` public connections that may be closed for a newcomer
    /// now whose phase began earliest, sorted newest first so that the oldest is last.
    /// Returns when the first of the others may be (or `u64::MAX`). No allocation: the
    /// list's capacity is `REUSE_BATCH` from the start.
    fn scan_quiet(&mut self) -> u64 {
        let candidates = &mut self.reuse_candidates;
        candidates.clear();
        let next_due_ms = scan_reusable(
            &self.conns,
            ListenerKind::Public,
            self.now_ms,
            |candidate| {
                let since_ms = candidate.2;
                if candidates.len() == REUSE_BATCH {
                    if since_ms >= candidates[0].2 {
                        return; // newer than every one kept
                    }
                    candidates.remove(0);
                }
                let at = candidates.partition_point(|&(_, _, kept_ms)| kept_ms > since_ms);
                candidates.insert(at, candidate);
            },
        );
        debug_assert!(candidates.capacity() == REUSE_BATCH, "a scan allocated");
        next_due_ms
    }

    /// The admin connection that may be closed for a newcomer whose phase began
    /// earliest, and when the first of the others may be (or `u64::MAX`). A plain scan:
    /// admin newcomers at the admin cap are rare (probes, scrapes).
    fn oldest_reusable_admin(&self) -> (Option<u32>, u64) {
        let mut oldest: Option<Candidate> = None;
        let next_due_ms =
            scan_reusable(&self.conns, ListenerKind::Admin, self.now_ms, |candidate| {
                if oldest.is_none_or(|(_, _, since_ms)| candidate.2 < since_ms) {
                    oldest = Some(candidate);
                }
            });
        (oldest.map(|(idx, _, _)| idx), next_due_ms)
    }
}

/// Hands `keep` every connection of `kind` that may be closed for a newcomer at
/// `now_ms`, as a candidate, in table order; returns when the first of the others
/// may be (or `u64::MAX`).
fn scan_reusable<S: Stream>(
    conns: &[Conn<S>],
    kind: ListenerKind,
    now_ms: u64,
    mut keep: impl FnMut(Candidate),
) -> u64 {
    let mut next_due_ms = u64::MAX;
    for (idx, c) in conns.iter().enumerate() {
        match reusable_at_ms(c, kind) {
            Some(due_ms) if due_ms > now_ms => next_due_ms = next_due_ms.min(due_ms),
            Some(_) => keep((idx as u32, c.serial, c.phase_started_ms)),
            None => {}
        }
    }
    next_due_ms
}
