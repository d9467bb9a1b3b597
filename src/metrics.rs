//! `/metrics` on the admin listener, in the Prometheus text format. Rendering
//! allocates (it is not a read endpoint of the API); counting never does.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::runtime::stats::{TIMEOUT_PHASES, TRACKED_STATUSES, WorkerStats, status_slot};

/// What the writer thread counts.
#[derive(Default)]
pub struct WriterStats {
    /// Write replies by status: `WRITER_STATUSES` order, then "other".
    pub replies: [AtomicU64; WRITER_STATUSES.len() + 1],
    /// Durable commits (a group commit takes every write waiting when it starts).
    pub commits: AtomicU64,
    pub rebuilds: AtomicU64,
    pub last_rebuild_us: AtomicU64,
    pub last_commit_us: AtomicU64,
    /// Writes waiting for a bcrypt check of their key.
    pub awaiting_key_check: AtomicU64,
    /// bcrypt checks run (each ~250 ms of the writer's time at cost 12).
    pub bcrypt_checks: AtomicU64,
    /// When the writer began what it is doing now ([`monotonic_ms`]); 0 while it waits.
    pub busy_since_ms: AtomicU64,
}

/// The statuses the writer thread answers with.
pub const WRITER_STATUSES: [u16; 6] = [200, 400, 401, 412, 429, 503];

/// Milliseconds on the process's monotonic clock (`ratelimit::monotonic_ns`), never 0
/// (0 means "not busy"): a wall clock stepped back by NTP would hide a stuck writer,
/// and one stepped forward invent one.
pub fn monotonic_ms() -> u64 {
    crate::ratelimit::monotonic_ns() / 1_000_000 + 1
}

impl WriterStats {
    pub fn record_reply(&self, status: u16) {
        self.replies[status_slot(&WRITER_STATUSES, status)].fetch_add(1, Ordering::Relaxed);
    }
}

/// The label of counter `slot` of a by-status array over `statuses`.
fn status_label(statuses: &[u16], slot: usize) -> String {
    statuses
        .get(slot)
        .map_or_else(|| "other".to_string(), |s| s.to_string())
}

/// A snapshot-independent view of what to print.
pub struct Gauges {
    pub generation: u64,
    pub distinct_grids: usize,
    pub ready: bool,
}

/// Writes one metric family: HELP and TYPE, then its samples, as one group.
fn family(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: impl IntoIterator<Item = (String, String)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

pub fn render(workers: &[WorkerStats], writer: &WriterStats, gauges: &Gauges) -> String {
    let mut out = String::with_capacity(8192);
    let per_worker = |value: &dyn Fn(&WorkerStats) -> u64| -> Vec<(String, String)> {
        workers
            .iter()
            .enumerate()
            .map(|(i, w)| (format!("{{worker=\"{i}\"}}"), value(w).to_string()))
            .collect()
    };
    family(
        &mut out,
        "availability_connections_open",
        "gauge",
        "Client connections open, per worker.",
        per_worker(&|w| w.open_connections()),
    );
    family(
        &mut out,
        "availability_connections_accepted_total",
        "counter",
        "Client connections accepted, per worker.",
        per_worker(&|w| w.accepted.get()),
    );
    let timeouts = workers.iter().enumerate().flat_map(|(i, w)| {
        TIMEOUT_PHASES
            .iter()
            .zip(&w.timeouts)
            .map(move |(phase, c)| {
                (
                    format!("{{worker=\"{i}\",phase=\"{phase}\"}}"),
                    c.get().to_string(),
                )
            })
    });
    family(
        &mut out,
        "availability_timeouts_total",
        "counter",
        "Deadlines passed, by phase: idle (a kept-alive connection with no next request: routine), fresh (connected, sent nothing; over TLS: handshake not finished), head, body (a request too slow to arrive), write (a client that stopped reading), linger (a closing connection whose client kept sending, or never closed, for the linger's 2 s).",
        timeouts,
    );
    family(
        &mut out,
        "availability_buffer_reclaims_total",
        "counter",
        "Stalled connections cut off early, while every I/O buffer was in use, to lend their buffer to a waiting one.",
        per_worker(&|w| w.reclaimed.get()),
    );
    family(
        &mut out,
        "availability_slot_reuses_total",
        "counter",
        "Connections closed at the connection cap to admit a newcomer: the longest-quiet one (kept alive between requests, or connected and silent, for 1 s or more), else the slowest stalled one (cut off as for a buffer).",
        per_worker(&|w| w.reused.get()),
    );
    family(
        &mut out,
        "availability_tls_errors_total",
        "counter",
        "TLS connections closed because the peer broke the protocol (bad record, alert, failed handshake).",
        per_worker(&|w| w.tls_errors.get()),
    );
    family(
        &mut out,
        "availability_accept_errors_total",
        "counter",
        "Failed accept attempts (out of file descriptors or memory), retries included: the connection waits in the backlog and is retried every 100 ms.",
        per_worker(&|w| w.accept_errors.get()),
    );
    let responses = workers.iter().enumerate().flat_map(|(i, w)| {
        w.responses.iter().enumerate().map(move |(slot, c)| {
            (
                format!(
                    "{{worker=\"{i}\",status=\"{}\"}}",
                    status_label(&TRACKED_STATUSES, slot)
                ),
                c.get().to_string(),
            )
        })
    });
    family(
        &mut out,
        "availability_responses_total",
        "counter",
        "Responses written by workers, by status (interim 100 Continue included).",
        responses,
    );
    let writes = writer.replies.iter().enumerate().map(|(slot, c)| {
        (
            format!("{{status=\"{}\"}}", status_label(&WRITER_STATUSES, slot)),
            c.load(Ordering::Relaxed).to_string(),
        )
    });
    family(
        &mut out,
        "availability_writes_total",
        "counter",
        "PATCH replies from the writer thread, by status.",
        writes,
    );
    let scalar = |v: String| [(String::new(), v)];
    family(
        &mut out,
        "availability_generation",
        "gauge",
        "Generation of the data being served.",
        scalar(gauges.generation.to_string()),
    );
    family(
        &mut out,
        "availability_snapshot_rebuilds_total",
        "counter",
        "Snapshots built after writes and week rollovers.",
        scalar(writer.rebuilds.load(Ordering::Relaxed).to_string()),
    );
    family(
        &mut out,
        "availability_snapshot_build_seconds",
        "gauge",
        "Time the last snapshot took to build (the start-up one until a write or a week rollover).",
        scalar(secs(writer.last_rebuild_us.load(Ordering::Relaxed))),
    );
    family(
        &mut out,
        "availability_commit_seconds",
        "gauge",
        "Time the last commit attempt (write, fsync, rename, fsync) took, failed ones included.",
        scalar(secs(writer.last_commit_us.load(Ordering::Relaxed))),
    );
    family(
        &mut out,
        "availability_commits_total",
        "counter",
        "Durable commits; each takes the writes queued when it starts whose keys are checked, up to a group limit (group commit).",
        scalar(writer.commits.load(Ordering::Relaxed).to_string()),
    );
    family(
        &mut out,
        "availability_writes_awaiting_key_check",
        "gauge",
        "Writes waiting for a bcrypt check of their key, the one under a check included (only before the key has passed once).",
        scalar(
            writer
                .awaiting_key_check
                .load(Ordering::Relaxed)
                .to_string(),
        ),
    );
    let busy_since_ms = writer.busy_since_ms.load(Ordering::Relaxed);
    let busy_us = match busy_since_ms {
        0 => 0,
        since_ms => monotonic_ms().saturating_sub(since_ms) * 1_000,
    };
    family(
        &mut out,
        "availability_writer_busy_seconds",
        "gauge",
        "How long the writer has been on its current work (a commit, a bcrypt check); 0 while idle. Reads do not depend on it; a large value means writes are stuck (a stalled fsync, say).",
        scalar(secs(busy_us)),
    );
    family(
        &mut out,
        "availability_bcrypt_checks_total",
        "counter",
        "bcrypt checks of presented keys the writer has started (none once the key has passed).",
        scalar(writer.bcrypt_checks.load(Ordering::Relaxed).to_string()),
    );
    family(
        &mut out,
        "availability_snapshot_distinct_grids",
        "gauge",
        "Distinct viewer grids (shared bodies) in the snapshot.",
        scalar(gauges.distinct_grids.to_string()),
    );
    family(
        &mut out,
        "availability_ready",
        "gauge",
        "1 while serving, 0 while starting or draining.",
        scalar(u8::from(gauges.ready).to_string()),
    );
    out
}

fn secs(micros: u64) -> String {
    format!("{:.6}", micros as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_one_group_with_help_and_type_first() {
        let workers = [WorkerStats::default(), WorkerStats::default()];
        workers[1].accepted.inc();
        workers[1].record_status(200);
        let writer = WriterStats::default();
        writer.record_reply(401);
        let text = render(
            &workers,
            &writer,
            &Gauges {
                generation: 7,
                distinct_grids: 3,
                ready: true,
            },
        );
        assert!(text.contains("availability_connections_open{worker=\"1\"} 1\n"));
        assert!(text.contains("availability_responses_total{worker=\"1\",status=\"200\"} 1\n"));
        assert!(text.contains("availability_writes_total{status=\"401\"} 1\n"));
        assert!(text.contains("availability_generation 7\n"));
        let mut seen = std::collections::HashSet::new();
        let mut current = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                current = rest.split(' ').next().unwrap_or("").to_string();
                assert!(seen.insert(current.clone()), "{current} declared twice");
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap_or("");
                assert_eq!(name, current, "sample outside its family group");
            }
        }
    }
}
