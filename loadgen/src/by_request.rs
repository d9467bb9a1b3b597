//! Counters per entry of the request mix (`--request`), so that a 90/10 read/write
//! run shows the writes' latency apart from the reads' rather than folded into them.
//! The text report's table of them is in `report_text.rs`.

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::report::{latency_histogram, max_us, quantile_us};

/// One mix entry's answered requests. Allocated at start, one per entry per thread;
/// recording never allocates (the histogram's bounds are fixed).
#[derive(Debug, Clone)]
pub struct EntryStats {
    pub requests: u64,
    pub non_2xx: u64,
    pub latency_us: Histogram<u64>,
}

impl Default for EntryStats {
    fn default() -> Self {
        EntryStats {
            requests: 0,
            non_2xx: 0,
            latency_us: latency_histogram(),
        }
    }
}

impl EntryStats {
    pub fn record(&mut self, latency_us: u64, status: u16) {
        self.latency_us.saturating_record(latency_us);
        self.requests += 1;
        if !(200..300).contains(&status) {
            self.non_2xx += 1;
        }
    }

    pub fn merge(&mut self, other: &EntryStats) {
        self.requests += other.requests;
        self.non_2xx += other.non_2xx;
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms share bounds");
    }
}

/// `by_request` in `--json`: one object per mix entry, in `--request` order.
pub fn to_json(entries: &[EntryStats], mix: &[(String, u32)]) -> Value {
    entries
        .iter()
        .zip(mix)
        .map(|(e, (label, weight))| {
            json!({
                "request": label,
                "weight": weight,
                "requests": e.requests,
                "non_2xx": e.non_2xx,
                "latency_us": {
                    "p50": quantile_us(&e.latency_us, 0.5),
                    "p90": quantile_us(&e.latency_us, 0.9),
                    "p99": quantile_us(&e.latency_us, 0.99),
                    "p999": quantile_us(&e.latency_us, 0.999),
                    "max": max_us(&e.latency_us),
                },
            })
        })
        .collect()
}
