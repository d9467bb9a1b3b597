//! `/metrics` on the admin listener counts what the workers and the writer did.

mod common;
#[path = "common/probe.rs"]
mod probe;

use probe::count_in;

/// One worker (so every answer counts under `worker="0"`) and an admin listener.
fn one_worker_with_admin() -> (common::TestServer, std::net::SocketAddr) {
    let server = common::start(|c| {
        common::with_admin(c);
        c.workers = 1;
    });
    let admin = server.admin();
    (server, admin)
}

/// Worker 0's count of answers with `status` in a `/metrics` page.
fn worker_0_responses(text: &str, status: &str) -> u64 {
    count_in(
        text,
        &format!("availability_responses_total{{worker=\"0\",status=\"{status}\"}}"),
    )
}

#[test]
fn the_start_up_snapshot_shows_its_build_time_before_any_write() {
    let server = common::start(common::with_admin);
    let admin = server.admin();
    let text = common::get(admin, "/metrics").text();
    let seconds = probe::metric_in(&text, "availability_snapshot_build_seconds");
    assert!(seconds > 0.0, "the first snapshot took no time? {seconds}");
    assert_eq!(count_in(&text, "availability_snapshot_rebuilds_total"), 0);
}

#[test]
fn admin_metrics_count_responses_writes_and_connections() {
    let (server, admin) = one_worker_with_admin();
    let mut client = common::Client::connect(server.addr);
    for _ in 0..3 {
        assert_eq!(client.get("/availability?tz=UTC").status, 200);
    }
    assert_eq!(client.get("/availability?tz=Nowhere/Land").status, 400);
    // A refusal of the protocol itself (not the handler's answer) counts too.
    let mut refused = common::Client::connect(server.addr);
    refused.send(b"GET / HTTP/3.0\r\nHost: t\r\n\r\n");
    assert_eq!(refused.read_response(false).expect("a 505").status, 505);
    assert_eq!(
        common::patch(
            server.addr,
            Some(common::API_KEY),
            r#"{"slots":[{"day":0,"slot":0,"status":"maybe"}]}"#
        )
        .status,
        200
    );
    assert_eq!(
        common::patch(
            server.addr,
            Some("wrong"),
            r#"{"slots":[{"day":0,"slot":0,"status":"maybe"}]}"#
        )
        .status,
        401
    );

    let r = common::get(admin, "/metrics");
    assert_eq!(r.status, 200);
    assert!(
        r.header("Content-Type")
            .expect("type")
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text();
    assert_eq!(worker_0_responses(&text, "200"), 3);
    assert_eq!(worker_0_responses(&text, "400"), 1);
    assert_eq!(worker_0_responses(&text, "505"), 1);
    assert_eq!(
        count_in(&text, "availability_writes_total{status=\"200\"}"),
        1
    );
    assert_eq!(
        count_in(&text, "availability_writes_total{status=\"401\"}"),
        1
    );
    assert_eq!(count_in(&text, "availability_generation"), 1);
    assert_eq!(count_in(&text, "availability_commits_total"), 1);
    // The writer's replies list only the statuses the writer answers with.
    for never in ["100", "304", "408", "413", "431", "505"] {
        let series = format!("availability_writes_total{{status=\"{never}\"}}");
        assert!(!text.contains(&series), "{series}");
    }
    assert_eq!(count_in(&text, "availability_writes_awaiting_key_check"), 0);
    // The plaintext key is configured: it passed at start, so no key needed bcrypt.
    assert_eq!(count_in(&text, "availability_bcrypt_checks_total"), 0);
    assert_eq!(count_in(&text, "availability_ready"), 1);
    assert!(
        count_in(&text, "availability_connections_open{worker=\"0\"}") >= 2,
        "the kept-alive client and this one"
    );
    assert!(count_in(&text, "availability_snapshot_distinct_grids") >= 1);
    // Metrics are for operators: not on the public listener.
    assert_eq!(common::get(server.addr, "/metrics").status, 404);
}

#[test]
fn timeouts_are_counted_by_phase() {
    let server = common::start(|c| {
        common::with_admin(c);
        c.workers = 1;
        c.header_timeout_ms = 300;
        c.idle_timeout_ms = 300;
    });
    let admin = server.admin();
    // Silent from the start; kept alive after one answer; half a request head.
    let mut silent = common::Client::connect(server.addr);
    let mut idle = common::Client::connect(server.addr);
    assert_eq!(idle.get("/health").status, 200);
    let mut slow = common::Client::connect(server.addr);
    slow.send(b"GET /health HTTP/1.1\r\nHo");
    for client in [&mut silent, &mut idle] {
        assert!(client.is_closed(), "closed at its deadline");
    }
    let r = slow.read_response(false).expect("a 408");
    assert_eq!(r.status, 408);
    let text = common::get(admin, "/metrics").text();
    let timeouts = |phase: &str| {
        count_in(
            &text,
            &format!("availability_timeouts_total{{worker=\"0\",phase=\"{phase}\"}}"),
        )
    };
    assert_eq!(
        worker_0_responses(&text, "408"),
        1,
        "the 408 is counted with the other answers"
    );
    assert_eq!(timeouts("fresh"), 1, "{text}");
    assert_eq!(timeouts("idle"), 1);
    assert_eq!(timeouts("head"), 1);
    assert_eq!(timeouts("body") + timeouts("write") + timeouts("linger"), 0);
}

/// Answers the connection code builds without the handler are counted too: the
/// interim `100 Continue` an `Expect: 100-continue` client waits for, and the 413 of
/// a body refused from its declared length alone.
#[test]
fn interim_answers_and_framing_refusals_are_counted() {
    let (server, admin) = one_worker_with_admin();
    let body = r#"{"slots":[{"day":0,"slot":0,"status":"maybe"}]}"#;
    let mut client = common::Client::connect(server.addr);
    client.send(
        format!(
            "PATCH /availability HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\n\
             Expect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            common::API_KEY,
            body.len()
        )
        .as_bytes(),
    );
    assert_eq!(client.read_response(false).expect("a 100").status, 100);
    client.send(body.as_bytes());
    assert_eq!(client.read_response(false).expect("a 200").status, 200);
    let mut huge = common::Client::connect(server.addr);
    huge.send(
        format!(
            "PATCH /availability HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\n\
             Content-Length: 1000000000\r\n\r\n",
            common::API_KEY
        )
        .as_bytes(),
    );
    assert_eq!(huge.read_response(false).expect("a 413").status, 413);
    let text = common::get(admin, "/metrics").text();
    let responses = |status: &str| worker_0_responses(&text, status);
    assert_eq!(responses("100"), 1, "{text}");
    assert_eq!(responses("413"), 1);
    assert_eq!(
        count_in(&text, "availability_writes_total{status=\"200\"}"),
        1,
        "the body after the 100 was taken"
    );
}

/// Every kind of answer the handler writes is counted under its own status: a slot,
/// the probes, a week, a 304 and `/metrics` itself (each sets the status it counts
/// under; a missing one would count as "other").
#[test]
fn each_kind_of_answer_is_counted_under_its_status() {
    let (server, admin) = one_worker_with_admin();
    let mut client = common::Client::connect(server.addr);
    for path in [
        "/availability/slot?tz=UTC&day=0&slot=0",
        "/health",
        "/ready",
    ] {
        assert_eq!(client.get(path).status, 200, "{path}");
    }
    let week = client.get("/availability?tz=UTC");
    assert_eq!(week.status, 200);
    let tag = week.header("ETag").expect("an ETag").to_string();
    let again = client.conditional("GET", "/availability?tz=UTC", &tag);
    assert_eq!(again.status, 304);
    // This page's own 200 is counted after it is written: the next page shows it.
    assert_eq!(common::get(admin, "/metrics").status, 200);
    let text = common::get(admin, "/metrics").text();
    let responses = |status: &str| worker_0_responses(&text, status);
    assert_eq!(
        responses("200"),
        5,
        "slot, health, ready, week, metrics\n{text}"
    );
    assert_eq!(responses("304"), 1);
    assert_eq!(responses("other"), 0);
}
