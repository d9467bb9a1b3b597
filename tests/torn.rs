//! A swap never tears a response: bytes queued behind a slow reader keep the
//! snapshot they came from alive, and every later response comes whole from
//! one snapshot or the next, in order.

mod common;

#[test]
fn responses_queued_behind_a_blocked_write_survive_a_snapshot_swap() {
    // One worker: the write's connection then replaces the worker's current
    // snapshot, so only the connection's own hold keeps the old one alive
    // (debug builds poison dropped snapshots).
    let server = common::start(|c| {
        c.rate_limit_burst = 0;
        c.workers = 1;
    });
    let mut slow = common::Client::connect(server.addr);
    let request = b"GET /availability?tz=Asia/Tokyo HTTP/1.1\r\nHost: t\r\n\r\n";
    let count = 300; // ~7 MB of answers: far beyond the socket buffers
    slow.send(&request.repeat(count));
    std::thread::sleep(std::time::Duration::from_millis(300));

    // Swap the snapshot (twice, so the first one would be freed) while the
    // slow connection's queue still points into the original.
    for status in ["available", "maybe"] {
        let body = format!(r#"{{"slots":[{{"day":2,"time":"14:00","status":"{status}"}}]}}"#);
        assert_eq!(
            common::patch(server.addr, Some(common::API_KEY), &body).status,
            200
        );
    }

    // Wednesday 14:00 UTC is Wednesday 23:00 in Tokyo: cell 2*48+46.
    let mut seen = Vec::new();
    for i in 0..count {
        let r = slow
            .read_response(false)
            .unwrap_or_else(|| panic!("response {i} missing"));
        assert_eq!(r.status, 200);
        let week = r.json();
        let slots = week["slots"].as_array().expect("slots");
        assert_eq!(slots.len(), 336, "response {i} is whole");
        seen.push(
            slots[2 * 48 + 46]["status"]
                .as_str()
                .expect("status")
                .to_string(),
        );
    }
    assert_eq!(
        seen[0], "unavailable",
        "the first answers were queued before the writes"
    );
    let order = |s: &str| {
        ["unavailable", "available", "maybe"]
            .iter()
            .position(|x| *x == s)
            .expect("known")
    };
    assert!(
        seen.windows(2).all(|w| order(&w[0]) <= order(&w[1])),
        "answers move forward in time only"
    );
    assert_eq!(
        seen.last().map(String::as_str),
        Some("maybe"),
        "later answers see the last write"
    );
}
