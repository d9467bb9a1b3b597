//! Open loop (`-R`) against a small std::net server: the offered rate is held, the
//! schedule's budget is honoured, and a busy server's wait is latency, not send lag.

mod support;

use support::{Reply, Req, fixed, loadgen_json, num, ok_handler, spawn};

#[test]
fn open_loop_holds_the_offered_rate() {
    let server = spawn(ok_handler);
    let v = loadgen_json(&["-c", "4", "-R", "400", "-d", "1s", &server.url("/")]);
    let requests = num(&v, &["requests"]);
    // 400/s for 1 s: sends intended at 0, 2.5 ms, …, 997.5 ms, so never more than 400;
    // the last few may still be in flight at the deadline (more on a loaded machine).
    // A closed loop would make thousands.
    assert!((300..=400).contains(&requests), "{requests}");
    assert!(num(&v, &["issued"]) <= 400);
    assert_eq!(v["offered_rps"].as_f64(), Some(400.0));
    assert_eq!(v["mode"], "open");
    let answered = server.answered();
    assert!(
        answered >= requests && answered <= num(&v, &["issued"]),
        "{answered}"
    );
}

#[test]
fn spin_open_loop_holds_the_rate_and_reports_send_lag() {
    let server = spawn(ok_handler);
    let v = loadgen_json(&[
        "-c",
        "4",
        "-R",
        "400",
        "-d",
        "1s",
        "--spin",
        &server.url("/"),
    ]);
    let requests = num(&v, &["requests"]);
    assert!((300..=400).contains(&requests), "{requests}");
    assert_eq!(v["mode"], "open");
    let lag = &v["send_lag_us"];
    assert!(lag["p50"].is_u64() && lag["p99"].is_u64(), "{v}");
    assert!(
        lag["max"].as_u64() <= v["latency_us"]["max"].as_u64(),
        "{v}"
    );
    // Closed loop has no schedule, so no send lag.
    let closed = loadgen_json(&["-c", "1", "--max-requests", "20", &server.url("/")]);
    assert!(closed["send_lag_us"].is_null(), "{closed}");
}

fn answers_after_40_ms(_: &Req, _: u64) -> Option<Reply> {
    std::thread::sleep(std::time::Duration::from_millis(40));
    Some(fixed("200 OK", "ok", ""))
}

#[test]
fn waiting_on_a_busy_server_is_latency_not_client_send_lag() {
    // One connection, a request due every 10 ms, an answer every 40 ms: requests queue
    // behind the busy connection. That wait is the server's, in the latency; the
    // client's own send lag stays small.
    let server = spawn(answers_after_40_ms);
    let v = loadgen_json(&["-c", "1", "-R", "100", "-d", "600ms", &server.url("/")]);
    assert!(num(&v, &["requests"]) >= 5, "{v}");
    assert!(num(&v, &["latency_us", "max"]) >= 100_000, "{v}");
    assert!(num(&v, &["send_lag_us", "max"]) < 20_000, "{v}");
}

/// A body with no length: it ends where the server closes (RFC 9112 §6.3).

#[test]
fn requests_beyond_max_requests_are_not_unsent() {
    // The budget runs out long before the run ends; the schedule slots after it were
    // never going to be used.
    let server = spawn(answers_after_40_ms);
    let v = loadgen_json(&[
        "-c",
        "4",
        "-R",
        "100",
        "-d",
        "3s",
        "--max-requests",
        "10",
        &server.url("/"),
    ]);
    assert_eq!(num(&v, &["requests"]), 10, "{v}");
    assert_eq!(num(&v, &["unsent"]), 0, "{v}");
}
