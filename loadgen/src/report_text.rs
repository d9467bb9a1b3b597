//! The wrk-like text report.

use std::fmt::Write as _;

use super::{ErrorKind, Report, max_us, quantile_us};
use crate::by_request::EntryStats;

impl Report {
    /// wrk-like text report.
    pub fn human(&self) -> String {
        let s = &self.stats;
        let mut out = String::new();
        let mode = match self.offered_rps {
            // Display, not `.0`: a rate of 1.5 must not read as 2.
            Some(r) => format!("open loop at {r} req/s"),
            None => "closed loop".to_owned(),
        };
        let _ = writeln!(out, "Target {}", self.target);
        let _ = writeln!(
            out,
            "  {} threads and {} connections, {mode}, pipeline {}",
            self.threads, self.connections, self.pipeline
        );
        if self.mix.len() > 1 {
            for (label, weight) in &self.mix {
                let _ = writeln!(out, "  mix {weight:>5}  {label}");
            }
        }
        let _ = writeln!(
            out,
            "  Latency (µs, from {} send time)",
            if self.offered_rps.is_some() {
                "intended"
            } else {
                "queued"
            }
        );
        let cells = [
            ("p50", 0.5),
            ("p90", 0.9),
            ("p99", 0.99),
            ("p99.9", 0.999),
            ("p99.99", 0.9999),
        ];
        let mut head = String::new();
        let mut vals = String::new();
        for (name, q) in cells {
            let _ = write!(head, "{name:>10}");
            let _ = write!(vals, "{:>10}", fmt_opt(self.percentile_us(q)));
        }
        let max = max_us(&s.latency_us);
        let mean = (!s.latency_us.is_empty()).then(|| s.latency_us.mean());
        let _ = writeln!(out, "  {head}{:>10}{:>10}", "max", "mean");
        let _ = writeln!(
            out,
            "  {vals}{:>10}{:>10}",
            fmt_opt(max),
            mean.map_or("-".to_owned(), |m| format!("{m:.1}"))
        );
        if self.mix.len() > 1 {
            by_request_table(&mut out, &s.by_request, &self.mix);
        }
        let _ = writeln!(
            out,
            "  {} requests in {:.2}s, {:.1} MiB read, {} reconnects",
            s.requests,
            self.duration_s,
            s.bytes_read as f64 / (1024.0 * 1024.0),
            s.reconnects
        );
        let _ = writeln!(
            out,
            "  {} sent: {} answered, {} failed, {} unanswered at the end",
            s.issued, s.requests, s.dropped, s.in_flight_at_end
        );
        let _ = writeln!(out, "Requests/sec: {:>12.2}", self.rps());
        if let Some(offered) = self.offered_rps {
            let _ = writeln!(
                out,
                "Offered/sec:  {offered:>12.2}  ({} due but never sent)",
                s.unsent
            );
            let lag = &s.send_lag_us;
            if !lag.is_empty() {
                let _ = writeln!(
                    out,
                    "Send lag (client, µs): p50 {}  p99 {}  max {}",
                    lag.value_at_quantile(0.5),
                    lag.value_at_quantile(0.99),
                    lag.max()
                );
            }
        }
        let codes: Vec<String> = s
            .status
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(code, n)| format!("{code}: {n}"))
            .collect();
        let _ = writeln!(
            out,
            "Status:       {}",
            if codes.is_empty() {
                "-".to_owned()
            } else {
                codes.join(", ")
            }
        );
        let mut errs = Vec::new();
        for kind in ErrorKind::ALL {
            let i = kind as usize;
            if s.errors[i] > 0 {
                let why = s.first_error[i].as_deref().unwrap_or("?");
                errs.push(format!("{} {} (first: {why})", kind.name(), s.errors[i]));
            }
        }
        if s.non_2xx() > 0 {
            errs.push(format!("non-2xx {}", s.non_2xx()));
        }
        let _ = writeln!(
            out,
            "Errors:       {}",
            if errs.is_empty() {
                "none".to_owned()
            } else {
                errs.join(", ")
            }
        );
        out
    }
}

fn fmt_opt(v: Option<u64>) -> String {
    v.map_or("-".to_owned(), |v| v.to_string())
}

/// The text report's table, one line per mix entry (only for a mix of several).
fn by_request_table(out: &mut String, entries: &[EntryStats], mix: &[(String, u32)]) {
    let total: u64 = entries.iter().map(|e| e.requests).sum();
    let _ = writeln!(
        out,
        "  By request (µs){:>10}{:>8}{:>10}{:>10}{:>10}{:>10}",
        "answered", "share", "non-2xx", "p50", "p99", "max"
    );
    for (e, (label, _)) in entries.iter().zip(mix) {
        let share = if total > 0 {
            format!("{:.1}%", 100.0 * e.requests as f64 / total as f64)
        } else {
            "-".to_owned()
        };
        let _ = writeln!(
            out,
            "  {:>26}{share:>8}{:>10}{:>10}{:>10}{:>10}  {label}",
            e.requests,
            e.non_2xx,
            fmt_opt(quantile_us(&e.latency_us, 0.5)),
            fmt_opt(quantile_us(&e.latency_us, 0.99)),
            fmt_opt(max_us(&e.latency_us))
        );
    }
}
