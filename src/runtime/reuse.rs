//! At the connection cap, a newcomer takes the slot of the connection that has been
//! quiet longest: one kept alive between requests, or one that connected and has sent
//! nothing. Otherwise a client that opens connections and leaves them idle could keep
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

use super::conn::{Conn, Phase};
use super::stream::Stream;
use super::worker::Worker;
use super::{Handler, ListenerKind};

/// Quiet connections one scan of the table remembers, oldest first: the scan is
/// O(connections), so newcomers at the cap pay for it once per this many.
pub(super) const REUSE_BATCH: usize = 32;
/// How long a connection must have been quiet to be closed for a newcomer.
pub(super) const REUSE_MIN_QUIET_MS: u64 = 1_000;
/// When no connection is quiet or stalled enough, the public listeners pause until one
/// may be, but at least the first and at most the second of these: busy connections
/// end by finishing or by their own deadlines, and a scan is not worth repeating every
/// millisecond. A table scan that found none quiet enough is not repeated sooner either.
pub(super) const REUSE_RESCAN_MS: (u64, u64) = (100, 1_000);

/// A remembered candidate: its slot, the slot's serial (a new occupant has another)
/// and since when it has been quiet (a request, or bytes, since then move that on).
pub(super) type Candidate = (u32, u32, u64);

/// How a newcomer at the cap gets its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Room {
    /// Closing this connection, quiet for long enough.
    Quiet(u32),
    /// Cutting off this stalled one.
    Stalled(u32),
}

/// Since when `c` has been quiet, if it is: open, public (the admin listener has slots
/// of its own), with nothing under way in either direction, and no bytes received
/// since its phase began (a TLS record still arriving yields no plaintext to show
/// for it). It may be closed for a newcomer `REUSE_MIN_QUIET_MS` after that.
fn quiet_since_ms<S: Stream>(c: &Conn<S>) -> Option<u64> {
    let quiet = c.is_open()
        && c.listener == ListenerKind::Public
        && matches!(c.phase, Phase::Fresh | Phase::Idle)
        && !c.waiting_for_buffer
        && c.is_quiet();
    quiet.then(|| c.phase_started_ms.max(c.last_received_ms))
}

impl<H: Handler, S: Stream> Worker<H, S> {
    /// Whether a public listener at the cap may accept: a connection may be there to
    /// make room (see `room_for_newcomer`).
    pub(super) fn may_reuse(&self) -> bool {
        self.now_ms >= self.reuse_scan_after_ms
    }

    /// Which slot a newcomer at the cap would take, chosen but not yet freed: the caller
    /// frees it (`make_room`) once `accept` has produced the newcomer, so that nothing
    /// is closed for a backlog that turned out empty. `None` when every connection is
    /// busy; then the public listeners pause until one may be quiet or stalled
    /// (`REUSE_RESCAN_MS`). A chosen quiet slot stays a candidate until closed (its
    /// serial changes).
    pub(super) fn room_for_newcomer(&mut self) -> Option<Room> {
        if let Some(idx) = self.oldest_candidate() {
            return Some(Room::Quiet(idx));
        }
        if !self.may_reuse() {
            return None;
        }
        let (min_ms, max_ms) = REUSE_RESCAN_MS;
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
            Room::Quiet(idx) => idx,
            Room::Stalled(idx) => {
                self.cut_off_stalled(idx);
                idx
            }
        };
        self.close(idx);
    }

    /// The oldest remembered candidate that is still what it was when remembered,
    /// dropping the ones that are not.
    fn oldest_candidate(&mut self) -> Option<u32> {
        while let Some(&(idx, serial, since_ms)) = self.reuse_candidates.last() {
            let c = &self.conns[idx as usize];
            // Same occupant, quiet since the same instant: still quiet long enough.
            if c.serial == serial && quiet_since_ms(c) == Some(since_ms) {
                return Some(idx);
            }
            self.reuse_candidates.pop();
        }
        None
    }

    /// Remembers the `REUSE_BATCH` connections quiet for long enough whose quiet began
    /// earliest, sorted newest first so that the oldest is last. Returns when the
    /// first connection quiet for less long will have been quiet long enough (or
    /// `u64::MAX`). No allocation: the list's capacity is `REUSE_BATCH` from the start.
    fn scan_quiet(&mut self) -> u64 {
        let candidates = &mut self.reuse_candidates;
        candidates.clear();
        let mut next_due_ms = u64::MAX;
        for (idx, c) in self.conns.iter().enumerate() {
            let Some(since_ms) = quiet_since_ms(c) else {
                continue;
            };
            let due_ms = since_ms + REUSE_MIN_QUIET_MS;
            if due_ms > self.now_ms {
                next_due_ms = next_due_ms.min(due_ms);
                continue;
            }
            if candidates.len() == REUSE_BATCH {
                if since_ms >= candidates[0].2 {
                    continue; // newer than every one kept
                }
                candidates.remove(0);
            }
            let at = candidates.partition_point(|&(_, _, kept_ms)| kept_ms > since_ms);
            candidates.insert(at, (idx as u32, c.serial, since_ms));
        }
        debug_assert!(candidates.capacity() == REUSE_BATCH, "a scan allocated");
        next_due_ms
    }
}
