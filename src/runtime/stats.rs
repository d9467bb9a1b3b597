//! Per-worker HTTP counters, written only by their worker (plain loads and
//! stores, no read-modify-write) and read by whoever renders metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// Statuses counted one by one; anything else lands in the last bucket.
pub const TRACKED_STATUSES: [u16; 16] = [
    100, 200, 304, 400, 401, 404, 405, 408, 412, 413, 415, 429, 431, 500, 503, 505,
];

/// Where a connection was when its deadline passed, as `availability_timeouts_total`
/// labels it: `idle` is the routine end of a kept-alive connection; `linger` a closing
/// connection whose client kept sending (or never closed) for the linger's 2 s; the
/// others are clients that were too slow (or silent) mid-request, or stopped reading.
/// (A connection whose PATCH is with the writer has no deadline: `settle` disarms it.)
pub const TIMEOUT_PHASES: [&str; 6] = ["fresh", "idle", "head", "body", "write", "linger"];

#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Single-writer increment: only the owning worker calls this.
    pub fn inc(&self) {
        self.0
            .store(self.0.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One worker's counters, padded to its own cache lines.
#[repr(align(128))]
#[derive(Default)]
pub struct WorkerStats {
    pub accepted: Counter,
    pub closed: Counter,
    /// Deadlines passed, by `TIMEOUT_PHASES`.
    pub timeouts: [Counter; TIMEOUT_PHASES.len()],
    /// Stalled connections cut off to lend their buffer to a waiting one.
    pub reclaimed: Counter,
    /// Connections closed at the cap to admit a newcomer, quiet or stalled
    /// (`runtime::reuse`).
    pub reused: Counter,
    /// TLS connections closed because the peer broke the protocol.
    pub tls_errors: Counter,
    /// Failed `accept` calls (EMFILE and the like): the connection waits in the backlog.
    pub accept_errors: Counter,
    /// Responses by status: `TRACKED_STATUSES` order, then "other".
    pub responses: [Counter; TRACKED_STATUSES.len() + 1],
}

/// The counter of `status` in a by-status array over `statuses`: its position, or
/// the "other" bucket after them.
pub fn status_slot(statuses: &[u16], status: u16) -> usize {
    statuses
        .iter()
        .position(|&s| s == status)
        .unwrap_or(statuses.len())
}

impl WorkerStats {
    pub fn record_status(&self, status: u16) {
        self.responses[status_slot(&TRACKED_STATUSES, status)].inc();
    }

    pub fn open_connections(&self) -> u64 {
        self.accepted.get().saturating_sub(self.closed.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_outside_the_tracked_ones_counts_as_other() {
        let stats = WorkerStats::default();
        stats.record_status(200);
        stats.record_status(299); // none the server sends today, but never a panic
        stats.record_status(299);
        let counts: Vec<u64> = stats.responses.iter().map(Counter::get).collect();
        assert_eq!(counts.len(), TRACKED_STATUSES.len() + 1);
        assert_eq!(counts[status_slot(&TRACKED_STATUSES, 200)], 1);
        assert_eq!(counts[TRACKED_STATUSES.len()], 2, "the 'other' bucket");
        assert_eq!(counts.iter().sum::<u64>(), 3);
    }
}
