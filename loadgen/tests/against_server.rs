//! The built `loadgen` binary against a small std::net server: loadgen's counts must
//! match what the server saw.

mod support;

use support::{Reply, Req, fixed, loadgen_fails, loadgen_json, num, ok_handler, spawn};

fn by_path(req: &Req, _: u64) -> Option<Reply> {
    Some(match req.path.as_str() {
        "/missing" => fixed("404 Not Found", "{\"error\":1}", ""),
        "/busy" => fixed("503 Service Unavailable", "", "Retry-After: 1\r\n"),
        _ => fixed("200 OK", "fine", ""),
    })
}

#[test]
fn max_requests_are_counted_exactly() {
    let server = spawn(ok_handler);
    let v = loadgen_json(&[
        "-c",
        "4",
        "-d",
        "20s",
        "--max-requests",
        "500",
        &server.url("/x"),
    ]);
    assert_eq!(num(&v, &["requests"]), 500);
    assert_eq!(num(&v, &["status", "200"]), 500);
    assert_eq!(
        server.answered(),
        500,
        "server answered exactly what loadgen counted"
    );
    for kind in ["connect", "read", "write", "timeout", "parse", "non_2xx"] {
        assert_eq!(num(&v, &["errors", kind]), 0, "{kind}");
    }
    assert!(v["offered_rps"].is_null());
    assert!(v["duration_s"].as_f64().expect("duration") > 0.0);
    assert!(v["rps"].as_f64().expect("rps") > 0.0);
    for key in ["p50", "p90", "p99", "p999", "p9999", "max"] {
        assert!(num(&v, &["latency_us", key]) >= 1, "{key}");
    }
    assert!(v["latency_us"]["mean"].as_f64().is_some());
}

#[test]
fn max_requests_split_over_threads_is_still_exact() {
    let server = spawn(ok_handler);
    let v = loadgen_json(&[
        "-c",
        "5",
        "-t",
        "2",
        "--max-requests",
        "333",
        &server.url("/"),
    ]);
    assert_eq!(num(&v, &["requests"]), 333);
    assert_eq!(server.answered(), 333);
}

#[test]
fn non_2xx_statuses_are_reported_by_code() {
    let server = spawn(by_path);
    let ok = format!("3 GET {}", server.url("/ok"));
    let missing = format!("1 GET {}", server.url("/missing"));
    let busy = format!("1 GET {}", server.url("/busy"));
    let v = loadgen_json(&[
        "-c",
        "4",
        "--max-requests",
        "1000",
        "--request",
        &ok,
        "--request",
        &missing,
        "--request",
        &busy,
    ]);
    let (n200, n404, n503) = (
        num(&v, &["status", "200"]),
        num(&v, &["status", "404"]),
        num(&v, &["status", "503"]),
    );
    assert_eq!(n200 + n404 + n503, 1000);
    assert_eq!(n200, server.path_count("/ok"));
    assert_eq!(n404, server.path_count("/missing"));
    assert_eq!(n503, server.path_count("/busy"));
    assert!(n404 > 0 && n503 > 0 && n200 > n404, "{n200} {n404} {n503}");
    assert_eq!(num(&v, &["errors", "non_2xx"]), n404 + n503);
}

fn chunked_or_head(req: &Req, _: u64) -> Option<Reply> {
    let bytes: &[u8] = if req.method == "HEAD" {
        b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
    } else {
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1;x=y\r\n,\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n"
    };
    Some(Reply {
        bytes: bytes.to_vec(),
        close: false,
    })
}

#[test]
fn pipelined_chunked_and_head_responses_are_framed() {
    let server = spawn(chunked_or_head);
    let get = format!("1 GET {}", server.url("/c"));
    let head = format!("1 HEAD {}", server.url("/c"));
    let v = loadgen_json(&[
        "-c",
        "3",
        "--pipeline",
        "8",
        "--max-requests",
        "800",
        "--request",
        &get,
        "--request",
        &head,
    ]);
    assert_eq!(num(&v, &["requests"]), 800);
    assert_eq!(num(&v, &["status", "200"]), 800);
    assert_eq!(num(&v, &["errors", "parse"]), 0);
    assert_eq!(num(&v, &["pipeline"]), 8);
    assert_eq!(server.answered(), 800);
}

#[test]
fn close_opens_one_connection_per_request() {
    let server = spawn(ok_handler);
    let v = loadgen_json(&[
        "-c",
        "2",
        "--close",
        "--max-requests",
        "60",
        &server.url("/"),
    ]);
    assert_eq!(num(&v, &["requests"]), 60);
    assert_eq!(
        server
            .served
            .connections
            .load(std::sync::atomic::Ordering::SeqCst),
        60
    );
    assert_eq!(
        num(&v, &["reconnects"]),
        58,
        "every connection after each slot's first"
    );
}

/// Answers three requests per connection, the third with `Connection: close`, and
/// ignores whatever else was pipelined behind it.
fn closes_every_third(_: &Req, index: u64) -> Option<Reply> {
    Some(if index == 2 {
        fixed("200 OK", "bye", "Connection: close\r\n")
    } else {
        fixed("200 OK", "hi", "")
    })
}

#[test]
fn server_close_reconnects_and_resends_unanswered_pipelined_requests() {
    let server = spawn(closes_every_third);
    let v = loadgen_json(&[
        "-c",
        "2",
        "--pipeline",
        "4",
        "--max-requests",
        "300",
        &server.url("/"),
    ]);
    assert_eq!(num(&v, &["requests"]), 300);
    assert_eq!(
        server.answered(),
        300,
        "every request answered exactly once"
    );
    assert!(
        server
            .served
            .received
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 300
    );
    for kind in ["connect", "read", "write", "timeout", "parse"] {
        assert_eq!(num(&v, &["errors", kind]), 0, "{kind}");
    }
    assert!(
        num(&v, &["reconnects"]) >= 98,
        "300 answers at 3 per connection"
    );
}

fn never_answers(_: &Req, _: u64) -> Option<Reply> {
    None
}

#[test]
fn silent_server_counts_timeouts() {
    let server = spawn(never_answers);
    let v = loadgen_json(&[
        "-c",
        "2",
        "-d",
        "700ms",
        "--timeout",
        "150ms",
        &server.url("/"),
    ]);
    assert_eq!(num(&v, &["requests"]), 0);
    assert!(num(&v, &["errors", "timeout"]) >= 4, "{v}");
    // Every request sent timed out or was still waiting at the end.
    assert_eq!(
        num(&v, &["dropped"]),
        num(&v, &["errors", "timeout"]),
        "{v}"
    );
    assert_eq!(
        num(&v, &["issued"]),
        num(&v, &["dropped"]) + num(&v, &["in_flight_at_end"]),
        "{v}"
    );
    assert_eq!(num(&v, &["in_flight_at_end"]), 2, "one per connection: {v}");
    assert!(
        v["latency_us"]["p50"].is_null(),
        "no samples, no percentiles"
    );
}

#[test]
fn refused_connections_count_connect_errors() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    }; // dropped: nothing listens there now
    let url = format!("http://127.0.0.1:{port}/");
    let v = loadgen_json(&["-c", "2", "-d", "300ms", &url]);
    assert_eq!(num(&v, &["requests"]), 0);
    let attempts = num(&v, &["errors", "connect"]);
    assert!(attempts >= 2, "{v}");
    // Retried after a 10 ms pause each, not in a hot loop.
    assert!(attempts <= 2 * 31, "{v}");
    // A failed attempt is no reconnect, and nothing reached a server.
    assert_eq!(num(&v, &["reconnects"]), 0, "{v}");
    assert_eq!(num(&v, &["issued"]), 0, "{v}");
    assert_eq!(num(&v, &["dropped"]), 0, "{v}");
}

fn checks_patch(req: &Req, _: u64) -> Option<Reply> {
    let authorised = req.headers.get("authorization").map(String::as_str) == Some("Bearer t0ken");
    Some(match (req.method.as_str(), authorised) {
        ("PATCH", true) if req.body == b"{\"slots\":[]}" => fixed("200 OK", "{}", ""),
        ("PATCH", _) => fixed("401 Unauthorized", "", ""),
        ("GET", false) => fixed("200 OK", "week", ""),
        _ => fixed("400 Bad Request", "", ""),
    })
}

#[test]
fn mix_sends_bodies_and_bearer_only_on_patch() {
    let server = spawn(checks_patch);
    let dir = std::env::temp_dir().join(format!("loadgen-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let body = dir.join("patch.json");
    std::fs::write(&body, "{\"slots\":[]}").expect("write body");
    let get = format!("9 GET {}", server.url("/availability?tz=UTC"));
    let patch = format!(
        "1 PATCH {} @{}",
        server.url("/availability"),
        body.display()
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "--json",
            "-q",
            "--no-pin",
            "-c",
            "2",
            "--max-requests",
            "400",
        ])
        .args([
            "--bearer-env",
            "LOADGEN_IT_KEY",
            "--request",
            &get,
            "--request",
            &patch,
        ])
        .env("LOADGEN_IT_KEY", "t0ken")
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(num(&v, &["status", "200"]), 400, "{v}");
    assert!(
        server.path_count("/availability") > 0,
        "some PATCHes were sent"
    );
    // Counted per mix entry too: the PATCHes are exactly what the server saw at their
    // path, and with the GETs they make up every answer.
    let by = &v["by_request"];
    assert!(
        by[1]["request"]
            .as_str()
            .expect("label")
            .starts_with("PATCH"),
        "{v}"
    );
    let answered = |i: usize| by[i]["requests"].as_u64().expect("a count");
    assert_eq!(answered(1), server.path_count("/availability"), "{v}");
    assert_eq!(answered(0) + answered(1), 400, "{v}");
    assert!(!by[1]["latency_us"]["p99"].is_null(), "{v}");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn remote_targets_are_refused() {
    let (code, stderr) = loadgen_fails(&["-d", "1s", "http://192.0.2.1:80/"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--allow-remote"), "{stderr}");
}

fn close_delimited(_: &Req, _: u64) -> Option<Reply> {
    Some(Reply {
        bytes: b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello".to_vec(),
        close: true,
    })
}

#[test]
fn bodies_delimited_by_the_close_complete_at_the_close() {
    // The FIN usually lands with the body, in the same readiness event: the response
    // must complete then, not wait for an event that never comes.
    let server = spawn(close_delimited);
    let v = loadgen_json(&[
        "-c",
        "2",
        "--timeout",
        "2s",
        "-d",
        "20s",
        "--max-requests",
        "200",
        &server.url("/"),
    ]);
    assert_eq!(num(&v, &["requests"]), 200, "{v}");
    assert_eq!(server.answered(), 200);
    for kind in ["connect", "read", "write", "timeout", "parse"] {
        assert_eq!(num(&v, &["errors", kind]), 0, "{kind}: {v}");
    }
}

/// Answers, then says (as a server closing an idle connection may) 408 and closes.
fn answers_then_408(_: &Req, _: u64) -> Option<Reply> {
    let mut reply = fixed("200 OK", "ok", "");
    reply.bytes.extend_from_slice(
        b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    );
    reply.close = true;
    Some(reply)
}

#[test]
fn a_408_on_an_idle_connection_is_a_close_not_an_error() {
    let server = spawn(answers_then_408);
    let v = loadgen_json(&[
        "-c",
        "1",
        "--max-requests",
        "50",
        "-d",
        "20s",
        &server.url("/"),
    ]);
    assert_eq!(num(&v, &["requests"]), 50, "{v}");
    assert_eq!(num(&v, &["status", "200"]), 50, "{v}");
    for kind in ["connect", "read", "write", "timeout", "parse", "non_2xx"] {
        assert_eq!(num(&v, &["errors", kind]), 0, "{kind}: {v}");
    }
}
