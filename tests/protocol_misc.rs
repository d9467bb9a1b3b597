//! More black-box protocol tests (SPEC §5): responses that must survive a client
//! still sending, header and target forms, connection handling around errors and
//! writes, and a write in flight during the drain.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use common::{API_KEY, Client, ONE_CELL, Response, patch_request};

fn exchange(addr: SocketAddr, raw: &[u8]) -> (Client, Response) {
    let mut client = Client::connect(addr);
    client.send(raw);
    let r = client
        .read_response(false)
        .unwrap_or_else(|| panic!("no response to {:?}", String::from_utf8_lossy(raw)));
    (client, r)
}

/// Writes `raw` ignoring errors (the server may close before it has all of it) and
/// reads the one response.
fn send_all_then_read(addr: SocketAddr, raw: &[u8]) -> Option<Response> {
    let mut client = Client::connect(addr);
    let _ = client.stream.write_all(raw);
    client.read_response(false)
}

#[test]
fn a_413_survives_the_client_sending_the_whole_body() {
    let server = common::start(|_| {});
    let body = "x".repeat(200 * 1024);
    let raw = format!(
        "PATCH /availability HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {API_KEY}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    for _ in 0..5 {
        let r = send_all_then_read(server.addr, raw.as_bytes()).expect("the 413 arrives");
        assert_eq!(r.status, 413);
    }
}

#[test]
fn a_431_survives_the_client_sending_a_huge_head() {
    let server = common::start(|_| {});
    let raw = format!(
        "GET /health HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(200 * 1024)
    );
    for _ in 0..5 {
        let r = send_all_then_read(server.addr, raw.as_bytes()).expect("the 431 arrives");
        assert_eq!(r.status, 431);
    }
}

#[test]
fn header_names_are_case_insensitive() {
    let server = common::start(|_| {});
    let body = r#"{"slots":[{"day":1,"slot":1,"status":"maybe"}]}"#;
    let raw = format!(
        "PATCH /availability HTTP/1.1\r\nhOsT: t\r\nauthorization: Bearer {API_KEY}\r\ncontent-LENGTH: {}\r\n\r\n{body}",
        body.len()
    );
    let (_, r) = exchange(server.addr, raw.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn absolute_form_and_one_leading_crlf_are_accepted() {
    let server = common::start(|_| {});
    let (_, r) = exchange(
        server.addr,
        b"GET http://t/availability/slot?day=3&slot=4 HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["time"], "02:00");
    // RFC 9112 §2.2: an empty line before the request line may be ignored.
    let (_, r) = exchange(server.addr, b"\r\nGET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200);
}

#[test]
fn percent_encoded_zone_names_are_decoded() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    let r = client.get("/availability/slot?tz=Etc%2FGMT%2B5&day=0&slot=0");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["timezone"], "Etc/GMT+5");
    let r = client.get("/availability/slot?tz=america%2fnew_york&day=0&slot=0");
    assert_eq!(r.json()["timezone"], "America/New_York");
    let r = client.get("/availability/slot?tz=utc&day=0&slot=0");
    assert_eq!(r.json()["timezone"], "UTC");
    let r = client.get("/availability?tz=UTC&tz=UTC");
    assert_eq!(r.status, 400, "a repeated parameter is ambiguous");
    let r = client.get("/availability?tz=%ZZ");
    assert_eq!(r.status, 400);
    // Unknown parameters (cache busters) are ignored.
    let r = client.get("/availability/slot?day=0&slot=0&_=1700000000");
    assert_eq!(r.status, 200);
}

#[test]
fn api_errors_keep_the_connection_unless_told_otherwise() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    for path in [
        "/nope",
        "/availability?tz=Bad/Zone",
        "/availability/slot?day=9",
    ] {
        let r = client.get(path);
        assert!(r.status >= 400);
        assert_eq!(r.header("Connection"), None, "{path}");
    }
    assert_eq!(client.get("/health").status, 200);
    let (mut client, r) = exchange(
        server.addr,
        b"GET /availability?tz=Bad/Zone HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(client.is_closed());
}

#[test]
fn a_write_on_a_closing_connection_is_answered_before_the_close() {
    let server = common::start(|_| {});
    for (version, headers) in [("1.1", "Connection: close\r\n"), ("1.0", "")] {
        let raw = patch_request(version, headers);
        let mut client = Client::connect(server.addr);
        client.send(raw.as_bytes());
        let r = client
            .read_response(false)
            .unwrap_or_else(|| panic!("HTTP/{version} {headers:?}: closed without a response"));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("Connection"), Some("close"));
        assert!(client.is_closed());
    }
}

#[test]
fn an_http10_keep_alive_write_keeps_the_connection() {
    let server = common::start(|_| {});
    let raw = patch_request("1.0", "Connection: keep-alive\r\n");
    let (mut client, r) = exchange(server.addr, raw.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("Connection"), Some("keep-alive"));
    client.send(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(client.read_response(false).expect("next").status, 200);
}

#[test]
fn a_failed_write_does_not_disturb_pipelined_reads() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    let body = r#"{"slots":[{"day":1,"slot":1,"status":"maybe"}]}"#;
    client.send(
        format!(
            "GET /availability/slot?day=1&slot=1 HTTP/1.1\r\nHost: t\r\n\r\n\
             PATCH /availability HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer wrong-key-wrong-key\r\nContent-Length: {}\r\n\r\n{body}\
             GET /availability/slot?day=1&slot=2 HTTP/1.1\r\nHost: t\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    let first = client.read_response(false).expect("first");
    assert_eq!(first.json()["time"], "00:30");
    let patch = client.read_response(false).expect("PATCH");
    assert_eq!(patch.status, 401);
    let third = client.read_response(false).expect("third");
    assert_eq!(third.json()["time"], "01:00");
    assert_eq!(third.json()["status"], "unavailable");
}

#[test]
fn a_half_closed_client_gets_its_answer_then_a_close() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    client.send(b"GET /availability/slot?day=2&slot=3 HTTP/1.1\r\nHost: t\r\n\r\n");
    client
        .stream
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    let r = client.read_response(false).expect("answered");
    assert_eq!(r.json()["time"], "01:30");
    client
        .stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    assert!(client.is_closed(), "closed once nothing more can come");
}

#[test]
fn a_half_closed_client_gets_every_pipelined_answer_then_a_close() {
    let server = common::start(|_| {});
    for count in [2usize, 20] {
        let mut client = Client::connect(server.addr);
        let mut burst = Vec::new();
        for slot in 0..count {
            let request =
                format!("GET /availability/slot?day=1&slot={slot} HTTP/1.1\r\nHost: t\r\n\r\n");
            burst.extend_from_slice(request.as_bytes());
        }
        // One write, then the FIN at once: they usually arrive in the same read.
        client.send(&burst);
        client
            .stream
            .shutdown(std::net::Shutdown::Write)
            .expect("half-close");
        for slot in 0..count {
            let r = client
                .read_response(false)
                .unwrap_or_else(|| panic!("answer {slot} of {count}"));
            assert_eq!(r.status, 200);
            // Only the last may say close (it does when the FIN came with the requests).
            let closes = r.header("Connection") == Some("close");
            assert!(
                !closes || slot + 1 == count,
                "Connection: close on answer {slot}"
            );
        }
        client
            .stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .expect("timeout");
        assert!(client.is_closed(), "closed after the last answer");
    }
}

#[test]
fn a_later_half_close_closes_the_connection() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    let r = client.get("/availability/slot?day=2&slot=3");
    assert_eq!(r.json()["time"], "01:30");
    std::thread::sleep(Duration::from_millis(50));
    client
        .stream
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    client
        .stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    assert!(client.is_closed());
}

/// A request head of exactly `len_bytes` (through the blank line).
fn head_of_len(len_bytes: usize) -> String {
    let prefix = "GET /health HTTP/1.1\r\nHost: t\r\nX-Pad: ";
    let pad = len_bytes - prefix.len() - "\r\n\r\n".len();
    format!("{prefix}{}\r\n\r\n", "p".repeat(pad))
}

#[test]
fn the_head_limit_is_exactly_8_kib() {
    let server = common::start(|_| {});
    let (_, r) = exchange(server.addr, head_of_len(8192).as_bytes());
    assert_eq!(r.status, 200, "8192 bytes is within the limit");
    let (mut client, r) = exchange(server.addr, head_of_len(8193).as_bytes());
    assert_eq!(r.status, 431);
    assert!(client.is_closed());
}

#[test]
fn a_long_pipeline_read_concurrently_is_answered_in_full() {
    let server = common::start(|c| c.workers = 1);
    let mut client = Client::connect(server.addr);
    let expected_len = client.get("/availability?tz=Europe/Berlin").body.len();
    let mut writer = client.stream.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        for i in 0..400 {
            let path = if i % 2 == 0 {
                "/availability?tz=Europe/Berlin"
            } else {
                "/availability/csv?tz=UTC"
            };
            writer
                .write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
                .expect("send");
        }
    });
    for i in 0..400 {
        let r = client.read_response(false).expect("a response");
        assert_eq!(r.status, 200, "response {i}");
        if i % 2 == 0 {
            assert_eq!(r.body.len(), expected_len, "response {i}");
            assert_eq!(r.json()["timezone"], "Europe/Berlin");
        } else {
            assert!(r.text().starts_with("Time,"), "response {i}");
        }
    }
    sender.join().expect("sender");
}

/// Each request that asks for it gets its own `100 Continue`: the second PATCH on a
/// kept-alive connection is not left waiting because the first was answered one.
#[test]
fn expect_100_continue_is_answered_for_each_request_on_a_connection() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    client
        .stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    for round in 0..2 {
        client.send(
            format!(
                "PATCH /availability HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {API_KEY}\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
                ONE_CELL.len()
            )
            .as_bytes(),
        );
        // A read timeout here panics inside the harness: no interim response came.
        let interim = client.read_response(false).expect("an interim response");
        assert_eq!(interim.status, 100, "round {round}");
        client.send(ONE_CELL.as_bytes());
        let r = client.read_response(false).expect("final response");
        assert_eq!(r.status, 200, "round {round}: {}", r.text());
    }
}

/// Weeks computed on request wait until the client reads (at most 64 KiB of them per
/// connection are built ahead); a client that pipelines many and reads late still gets
/// every answer, in order.
#[test]
fn many_pipelined_computed_weeks_read_late_arrive_in_order() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    let dates: Vec<String> = (0..40)
        .map(|i| format!("20{:02}-03-{:02}", 30 + i, 1 + i % 28))
        .collect();
    let mut burst = Vec::new();
    for date in &dates {
        let request = format!("GET /availability?tz=UTC&date={date} HTTP/1.1\r\nHost: t\r\n\r\n");
        burst.extend_from_slice(request.as_bytes());
    }
    client.send(&burst);
    std::thread::sleep(Duration::from_millis(300));
    for date in &dates {
        let r = client.read_response(false).expect("an answer");
        assert_eq!(r.status, 200);
        let week_start = r.json()["week_start"]
            .as_str()
            .expect("week_start")
            .to_owned();
        let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").expect("date");
        let start = chrono::NaiveDate::parse_from_str(&week_start, "%Y-%m-%d").expect("start");
        assert!(
            start <= day && (day - start).num_days() < 7,
            "{date}: {week_start}"
        );
    }
}
