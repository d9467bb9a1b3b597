//! At the connection cap, a newcomer takes the slot of the connection that has been
//! quiet longest: one kept alive between requests, or one that connected and has sent
//! nothing. Otherwise a client that opens connections and leaves them idle could keep
//! every other client in the kernel's backlog for the whole 60 s idle timeout, again
//! and again. nginx does the same ("worker_connections are not enough, reusing
//! connections"). A server may close an idle connection at any time (RFC 9112 §9.3.1
//! lets the client retry its next request elsewhere); one with a request under way, an
//! answer queued or a write with the writer thread is never chosen, and neither is one
//! quiet for less than `REUSE_MIN_QUIET_MS`: a client that just connected may have its
//! request in the kernel, not yet seen (and it would not retry it), and one that just
//! had an answer may be sending the next.

use super::conn::{Conn, Phase};
use super::stream::Stream;
use super::worker::Worker;
use super::{Handler, ListenerKind};

/// Quiet connections one scan of the table remembers, oldest first: the scan is
/// O(connections), so newcomers at the cap pay for it once per this many.
pub(super) const REUSE_BATCH: usize = 32;
/// How long a connection must have been quiet to be closed for a newcomer.
pub(super) const REUSE_MIN_QUIET_MS: u64 = 1_000;
/// After a scan that found no connection quiet for long enough, the next one waits
/// until one may be, but at least the first and at most the second of these (the
/// public listeners pause meanwhile): busy connections end by finishing or by their
/// own deadlines, and a scan is not worth repeating every millisecond.
pub(super) const REUSE_RESCAN_MS: (u64, u64) = (100, 1_000);

/// A remembered candidate: its slot, the slot's serial (a new occupant has another)
/// and when its quiet phase began (a request since then starts another phase).
pub(super) type Candidate = (u32, u32, u64);

/// Whether `c` is quiet: open, public (the admin listener has slots of its own), and
/// with nothing under way in either direction. It may be closed for a newcomer once
/// it has been so for `REUSE_MIN_QUIET_MS` since `c.phase_started_ms`.
fn is_quiet_public<S: Stream>(c: &Conn<S>) -> bool {
    c.is_open()
        && c.listener == ListenerKind::Public
        && matches!(c.phase, Phase::Fresh | Phase::Idle)
        && !c.waiting_for_buffer
        && c.is_quiet()
}

impl<H: Handler, S: Stream> Worker<H, S> {
    /// Whether a public listener at the cap may accept: a quiet connection may be
    /// there to make room (see `reusable_slot`).
    pub(super) fn may_reuse(&self) -> bool {
        self.now_ms >= self.reuse_scan_after_ms
    }

    /// The slot a newcomer at the cap takes: the quiet connection that has been so
    /// longest, not yet closed (the caller closes it once `accept` has produced the
    /// newcomer, so nothing is closed for a backlog that turned out empty). `None`
    /// when every connection is busy; then no scan runs until one may be quiet enough
    /// (`REUSE_RESCAN_MS`). The slot stays a candidate until closed (its serial changes).
    pub(super) fn reusable_slot(&mut self) -> Option<u32> {
        if let Some(idx) = self.oldest_candidate() {
            return Some(idx);
        }
        if !self.may_reuse() {
            return None;
        }
        let next_due_ms = self.scan_quiet();
        let found = self.oldest_candidate();
        if found.is_none() {
            let (min_ms, max_ms) = REUSE_RESCAN_MS;
            self.reuse_scan_after_ms =
                next_due_ms.clamp(self.now_ms + min_ms, self.now_ms + max_ms);
        }
        found
    }

    /// The oldest remembered candidate that is still what it was when remembered,
    /// dropping the ones that are not.
    fn oldest_candidate(&mut self) -> Option<u32> {
        while let Some(&(idx, serial, since_ms)) = self.reuse_candidates.last() {
            let c = &self.conns[idx as usize];
            // Same occupant, no request since: still quiet for long enough.
            if c.serial == serial && c.phase_started_ms == since_ms && is_quiet_public(c) {
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
            if !is_quiet_public(c) {
                continue;
            }
            let since_ms = c.phase_started_ms;
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
