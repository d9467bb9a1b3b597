//! Tests for counters, merging and the output formats.

use super::*;

#[test]
fn merge_adds_counts_and_histograms() {
    let mut a = Stats::default();
    let mut b = Stats::default();
    a.record(0, 1_000_000, 200); // 1 ms
    b.record(0, 3_000_000, 404);
    b.error(ErrorKind::Timeout, 2, || "slow".into());
    a.merge(&b);
    assert_eq!(a.requests, 2);
    assert_eq!(a.status[200], 1);
    assert_eq!(a.status[404], 1);
    assert_eq!(a.non_2xx(), 1);
    assert_eq!(a.errors[ErrorKind::Timeout as usize], 2);
    assert_eq!(a.total_errors(), 3);
    assert_eq!(a.latency_us.len(), 2);
    assert!(a.latency_us.equivalent(a.latency_us.max(), 3000));
}

#[test]
fn latency_clamps_into_histogram_range() {
    let mut s = Stats::default();
    s.record(0, 10, 200); // 10 ns → 1 µs floor
    s.record(0, u64::MAX / 2, 200); // far beyond 60 s → clamped
    assert_eq!(s.latency_us.min(), 1);
    assert!(s.latency_us.equivalent(s.latency_us.max(), MAX_LATENCY_US));
}

#[test]
fn only_the_first_error_message_is_built() {
    let mut s = Stats::default();
    s.error(ErrorKind::Connect, 1, || "refused".into());
    s.error(ErrorKind::Connect, 1, || {
        unreachable!("only the first message is built")
    });
    assert_eq!(s.errors[ErrorKind::Connect as usize], 2);
    assert_eq!(s.first_error[0].as_deref(), Some("refused"));
}

fn sample_report() -> Report {
    let mut stats = Stats::default();
    for _ in 0..3 {
        stats.record(0, 1_000_000, 200); // 1 ms
    }
    stats.record(0, 2_000_000, 404);
    stats.issued = 6;
    stats.dropped = 1;
    stats.in_flight_at_end = 1;
    stats.unsent = 7;
    stats.error(ErrorKind::Read, 1, || "reset".into());
    Report {
        stats,
        duration_s: 2.0,
        offered_rps: Some(100.0),
        target: "http://127.0.0.1:8080/".into(),
        threads: 1,
        connections: 4,
        pipeline: 1,
        mix: vec![("GET /".into(), 1)],
    }
}

#[test]
fn json_has_the_documented_schema_and_values() {
    let v = sample_report().to_json();
    assert_eq!(v["requests"], 4);
    assert_eq!(v["duration_s"], 2.0);
    assert_eq!(v["rps"], 2.0);
    assert_eq!(v["offered_rps"], 100.0);
    assert_eq!(v["unsent"], 7);
    assert_eq!(v["issued"], 6);
    assert_eq!(v["dropped"], 1);
    assert_eq!(v["in_flight_at_end"], 1);
    assert_eq!(v["mode"], "open");
    assert_eq!(v["errors"]["read"], 1);
    assert_eq!(v["errors"]["connect"], 0);
    assert_eq!(v["errors"]["non_2xx"], 1);
    assert_eq!(v["status"], serde_json::json!({"200": 3, "404": 1}));
    // Values below 2048 µs are exact at 3 significant figures.
    assert_eq!(v["latency_us"]["p50"], 1000);
    assert_eq!(v["latency_us"]["p90"], 2000);
    assert_eq!(v["latency_us"]["max"], 2000);
    assert_eq!(v["latency_us"]["mean"], 1250.0);
    for key in ["p99", "p999", "p9999"] {
        assert_eq!(v["latency_us"][key], 2000, "{key}");
    }
}

#[test]
fn closed_loop_json_has_null_offered_rate() {
    let mut report = sample_report();
    report.offered_rps = None;
    let v = report.to_json();
    assert!(v["offered_rps"].is_null());
    assert!(v["unsent"].is_null());
    assert_eq!(v["mode"], "closed");
}

#[test]
fn human_report_names_rates_statuses_and_errors() {
    let text = sample_report().human();
    assert!(text.contains("Requests/sec:         2.00"), "{text}");
    assert!(text.contains("Offered/sec:        100.00"), "{text}");
    assert!(text.contains("open loop at 100 req/s"), "{text}");
    let fractional = Report {
        offered_rps: Some(1.5),
        ..sample_report()
    };
    assert!(
        fractional.human().contains("open loop at 1.5 req/s"),
        "not rounded to 2"
    );
    assert!(text.contains("200: 3, 404: 1"), "{text}");
    assert!(text.contains("read 1 (first: reset)"), "{text}");
    assert!(text.contains("non-2xx 1"), "{text}");
    assert!(
        text.contains("6 sent: 4 answered, 1 failed, 1 unanswered at the end"),
        "{text}"
    );
}

#[test]
fn a_mix_is_counted_per_entry_and_merged() {
    let mut a = Stats::for_mix(2);
    let mut b = Stats::for_mix(2);
    for _ in 0..9 {
        a.record(0, 100_000, 200); // reads: 100 µs
    }
    b.record(1, 1_500_000, 200); // a write: 1.5 ms (exact below 2048 µs)
    b.record(1, 500_000, 503);
    a.merge(&b);
    let report = Report {
        stats: a,
        mix: vec![("GET /a".into(), 9), ("PATCH /a".into(), 1)],
        ..sample_report()
    };
    let v = report.to_json();
    let by = &v["by_request"];
    assert_eq!(by[0]["request"], "GET /a");
    assert_eq!(by[0]["weight"], 9);
    assert_eq!(by[0]["requests"], 9);
    assert_eq!(by[0]["non_2xx"], 0);
    assert_eq!(by[0]["latency_us"]["p99"], 100);
    assert_eq!(by[1]["requests"], 2);
    assert_eq!(by[1]["non_2xx"], 1);
    assert_eq!(by[1]["latency_us"]["max"], 1500);
    // The whole run's figures still cover both.
    assert_eq!(v["requests"], 11);
    let text = report.human();
    assert!(text.contains("By request"), "{text}");
    assert!(text.contains("81.8%"), "{text}");
    assert!(text.contains("PATCH /a"), "{text}");
    // One request only: no table in the text (the JSON still has its one entry).
    assert!(!sample_report().human().contains("By request"));
}
