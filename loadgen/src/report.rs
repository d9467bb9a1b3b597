//! Counting (per thread, merged at the end) and the final report, human or JSON.

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

use crate::by_request::{self, EntryStats};

/// Highest latency the histogram keeps distinct (60 s, in µs); larger values clamp.
pub const MAX_LATENCY_US: u64 = 60_000_000;

/// A latency histogram in µs, 1 µs to `MAX_LATENCY_US` at 3 significant figures: its
/// bounds are fixed, so recording never allocates.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("static histogram bounds are valid")
}

/// The value at quantile `q` of `h`; `None` when it recorded nothing.
pub fn quantile_us(h: &Histogram<u64>, q: f64) -> Option<u64> {
    (!h.is_empty()).then(|| h.value_at_quantile(q))
}

/// The largest value `h` recorded; `None` when it recorded nothing.
pub fn max_us(h: &Histogram<u64>) -> Option<u64> {
    (!h.is_empty()).then(|| h.max())
}

/// What went wrong. Every kind but `Connect` counts failed requests; `Connect` counts
/// failed connection attempts (the requests waiting on them are retried, not dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Connect,
    Read,
    Write,
    Timeout,
    Parse,
}

impl ErrorKind {
    /// All kinds, in report order.
    pub const ALL: [ErrorKind; 5] = [
        ErrorKind::Connect,
        ErrorKind::Read,
        ErrorKind::Write,
        ErrorKind::Timeout,
        ErrorKind::Parse,
    ];

    /// The JSON key and human label.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Read => "read",
            ErrorKind::Write => "write",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Parse => "parse",
        }
    }
}

/// One thread's counters; threads never share them, [`Stats::merge`] adds them up.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Latency of completed requests, µs, 1 µs..60 s at 3 significant figures.
    pub latency_us: Histogram<u64>,
    /// Completed responses, whatever their status.
    pub requests: u64,
    /// Requests handed to connections, less those still waiting for their connection
    /// to come up when the run ended (those never reached the server).
    /// `issued = requests + dropped + in_flight_at_end`.
    pub issued: u64,
    /// Requests given up (read, write, timeout, parse errors).
    pub dropped: u64,
    /// Requests sent on an established connection and neither answered nor given up
    /// when the run ended.
    pub in_flight_at_end: u64,
    /// Responses by status code (index = code, 100..=599).
    pub status: Box<[u64; 600]>,
    /// Errors by kind, in [`ErrorKind::ALL`] order.
    pub errors: [u64; 5],
    /// First message seen for each error kind, to say *why*.
    pub first_error: [Option<String>; 5],
    /// Connections established (TCP connected; with TLS, handshake done) after each
    /// slot's first (server close, `--close`, errors). Failed attempts are not counted.
    pub reconnects: u64,
    /// Response bytes received (plaintext).
    pub bytes_read: u64,
    /// Open loop: requests due by the end but never sent: never handed to a connection,
    /// or still waiting on one that was connecting or backing off at the end.
    pub unsent: u64,
    /// Open loop: how late each request left the client, µs: from the later of its
    /// intended time and a connection being free to take it, until it was sent. It is
    /// part of the latency; when it is a large share of it, the client, not the
    /// server, is what the run measured. (Waiting while every connection is busy is
    /// the server's delay and is not counted here; the latency still includes it.)
    pub send_lag_us: Histogram<u64>,
    /// Answered requests per mix entry (`--request` order); empty until
    /// [`Stats::for_mix`] sized it.
    pub by_request: Vec<EntryStats>,
    /// Monotonic start and end of the thread's run, ns.
    pub start_ns: u64,
    pub end_ns: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            latency_us: latency_histogram(),
            requests: 0,
            issued: 0,
            dropped: 0,
            in_flight_at_end: 0,
            status: Box::new([0; 600]),
            errors: [0; 5],
            first_error: Default::default(),
            reconnects: 0,
            bytes_read: 0,
            unsent: 0,
            send_lag_us: latency_histogram(),
            by_request: Vec::new(),
            start_ns: 0,
            end_ns: 0,
        }
    }
}

impl Stats {
    /// Counters for a mix of `entries` requests, each counted on its own too.
    pub fn for_mix(entries: usize) -> Stats {
        Stats {
            by_request: vec![EntryStats::default(); entries],
            ..Stats::default()
        }
    }

    /// Records one completed response to mix entry `req`.
    pub fn record(&mut self, req: usize, latency_ns: u64, status: u16) {
        let us = (latency_ns / 1000).clamp(1, MAX_LATENCY_US);
        self.latency_us.saturating_record(us);
        if let Some(entry) = self.by_request.get_mut(req) {
            entry.record(us, status);
        }
        self.requests += 1;
        if let Some(slot) = self.status.get_mut(usize::from(status)) {
            *slot += 1;
        }
    }

    /// Open loop: records how late the client sent a request (see `send_lag_us`).
    pub fn record_send_lag(&mut self, lag_ns: u64) {
        self.send_lag_us
            .saturating_record((lag_ns / 1000).min(MAX_LATENCY_US));
    }

    /// Counts `n` errors of `kind`; `why` is only called for the first one. Dropped
    /// requests are counted by the caller in [`Stats::dropped`].
    pub fn error(&mut self, kind: ErrorKind, n: u64, why: impl FnOnce() -> String) {
        let i = kind as usize;
        self.errors[i] += n;
        if self.first_error[i].is_none() {
            self.first_error[i] = Some(why());
        }
    }

    /// All errors, non-2xx responses included.
    pub fn total_errors(&self) -> u64 {
        self.errors.iter().sum::<u64>() + self.non_2xx()
    }

    /// Responses whose status is not 2xx.
    pub fn non_2xx(&self) -> u64 {
        self.status
            .iter()
            .enumerate()
            .filter(|(code, _)| !(200..300).contains(code))
            .map(|(_, n)| n)
            .sum()
    }

    /// Adds another thread's counters into these.
    pub fn merge(&mut self, other: &Stats) {
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms share bounds");
        self.send_lag_us
            .add(&other.send_lag_us)
            .expect("histograms share bounds");
        self.requests += other.requests;
        self.issued += other.issued;
        self.dropped += other.dropped;
        self.in_flight_at_end += other.in_flight_at_end;
        for (a, b) in self.status.iter_mut().zip(other.status.iter()) {
            *a += b;
        }
        for i in 0..self.errors.len() {
            self.errors[i] += other.errors[i];
            if self.first_error[i].is_none() {
                self.first_error[i].clone_from(&other.first_error[i]);
            }
        }
        if self.by_request.len() < other.by_request.len() {
            self.by_request
                .resize(other.by_request.len(), EntryStats::default());
        }
        for (a, b) in self.by_request.iter_mut().zip(&other.by_request) {
            a.merge(b);
        }
        self.reconnects += other.reconnects;
        self.bytes_read += other.bytes_read;
        self.unsent += other.unsent;
        self.start_ns = if self.start_ns == 0 {
            other.start_ns
        } else {
            self.start_ns.min(other.start_ns)
        };
        self.end_ns = self.end_ns.max(other.end_ns);
    }
}

/// The merged result of a run plus what was asked for.
#[derive(Debug, Clone)]
pub struct Report {
    pub stats: Stats,
    /// Wall time from the first thread's start to the last thread's end.
    pub duration_s: f64,
    /// `--rate` if open loop.
    pub offered_rps: Option<f64>,
    /// Description of the run for the header line (`1 threads and 64 connections …`).
    pub target: String,
    pub threads: usize,
    pub connections: usize,
    pub pipeline: usize,
    /// Mix labels with weights, `GET /x` → 90.
    pub mix: Vec<(String, u32)>,
}

impl Report {
    /// Completed responses per second.
    pub fn rps(&self) -> f64 {
        if self.duration_s > 0.0 {
            self.stats.requests as f64 / self.duration_s
        } else {
            0.0
        }
    }

    fn percentile_us(&self, q: f64) -> Option<u64> {
        quantile_us(&self.stats.latency_us, q)
    }

    /// The single JSON object printed by `--json`.
    pub fn to_json(&self) -> Value {
        let s = &self.stats;
        let mut errors = Map::new();
        for kind in ErrorKind::ALL {
            errors.insert(kind.name().into(), s.errors[kind as usize].into());
        }
        errors.insert("non_2xx".into(), s.non_2xx().into());
        let status: Map<String, Value> = s
            .status
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(code, n)| (code.to_string(), (*n).into()))
            .collect();
        let h = &s.latency_us;
        let mean = (!h.is_empty()).then(|| h.mean());
        json!({
            "target": self.target,
            "threads": self.threads,
            "connections": self.connections,
            "pipeline": self.pipeline,
            "mode": if self.offered_rps.is_some() { "open" } else { "closed" },
            "requests": s.requests,
            "issued": s.issued,
            "dropped": s.dropped,
            "in_flight_at_end": s.in_flight_at_end,
            "duration_s": self.duration_s,
            "rps": self.rps(),
            "offered_rps": self.offered_rps,
            "unsent": self.offered_rps.map(|_| s.unsent),
            "bytes_read": s.bytes_read,
            "reconnects": s.reconnects,
            "errors": errors,
            "status": status,
            "latency_us": {
                "p50": self.percentile_us(0.5),
                "p90": self.percentile_us(0.9),
                "p99": self.percentile_us(0.99),
                "p999": self.percentile_us(0.999),
                "p9999": self.percentile_us(0.9999),
                "max": max_us(h),
                "mean": mean,
            },
            "by_request": by_request::to_json(&s.by_request, &self.mix),
            "send_lag_us": self.offered_rps.map(|_| {
                let lag = &s.send_lag_us;
                json!({ "p50": quantile_us(lag, 0.5), "p99": quantile_us(lag, 0.99), "max": max_us(lag) })
            }),
        })
    }
}

#[path = "report_text.rs"]
mod text;

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
