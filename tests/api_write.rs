//! Black-box tests of `PATCH /availability` (SPEC §4): success and cross-zone reads,
//! all-or-nothing validation, body limits and durability across a restart
//! (authentication and its failure budget: `api_auth.rs`).

mod common;

use std::net::SocketAddr;

use chrono::{Datelike, TimeZone, Timelike};
use common::{API_KEY, Client, Response};

fn new_york() -> availability_server::week::zones::ZoneId {
    availability_server::week::zones::lookup(b"America/New_York").expect("known zone")
}

/// Status of one viewer cell, via the slot route.
fn cell(addr: SocketAddr, tz: &str, date: &str, day: u8, time: &str) -> String {
    let r = common::get(
        addr,
        &format!("/availability/slot?tz={tz}&date={date}&day={day}&time={time}"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["status"].as_str().unwrap_or("").to_string()
}

/// Statuses of the 336 cells of a week answer.
fn grid(addr: SocketAddr, query: &str) -> Vec<String> {
    let r = common::get(addr, &format!("/availability?{query}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let slots = r.json()["slots"].as_array().cloned().expect("slots");
    slots
        .iter()
        .map(|s| s["status"].as_str().unwrap_or("").to_string())
        .collect()
}

fn ok_generation(r: &Response, updated: u64) -> u64 {
    assert_eq!(r.status, 200, "{}", r.text());
    let json = r.json();
    assert_eq!(json["updated"], updated, "{}", r.text());
    assert_eq!(
        json.as_object().map(|o| o.len()),
        Some(2),
        "exactly updated and generation"
    );
    json["generation"].as_u64().expect("generation")
}

const WEDNESDAY_2PM: &str = r#"{"slots":[{"day":2,"time":"14:00","status":"available"}]}"#;

#[test]
fn patch_is_seen_in_every_zone_immediately() {
    let server = common::start(|c| c.home_tz = new_york());
    let addr = server.addr;
    let before = server.handle.generation();
    let generation = ok_generation(&common::patch(addr, Some(API_KEY), WEDNESDAY_2PM), 1);
    assert_eq!(generation, before + 1);
    assert_eq!(server.handle.generation(), generation);
    // Week of 2026-11-16: New York is UTC-5, Tokyo UTC+9, London UTC+0.
    let date = "2026-11-18";
    assert_eq!(
        cell(addr, "America/New_York", date, 2, "14:00"),
        "available"
    );
    assert_eq!(
        cell(addr, "America/New_York", date, 2, "14:30"),
        "unavailable"
    );
    assert_eq!(cell(addr, "Asia/Tokyo", date, 3, "04:00"), "available");
    assert_eq!(cell(addr, "Asia/Tokyo", date, 3, "03:30"), "unavailable");
    assert_eq!(cell(addr, "Asia/Tokyo", date, 3, "04:30"), "unavailable");
    assert_eq!(cell(addr, "Europe/London", date, 2, "19:00"), "available");
    assert_eq!(cell(addr, "Europe/London", date, 2, "18:30"), "unavailable");
    assert_eq!(cell(addr, "Europe/London", date, 2, "19:30"), "unavailable");
    // Half-hour offset: Kolkata is UTC+5:30, so New York 14:00 is Thursday 00:30.
    assert_eq!(cell(addr, "Asia/Kolkata", date, 3, "00:30"), "available");
    assert_eq!(cell(addr, "Asia/Kolkata", date, 3, "00:00"), "unavailable");
    // The whole Tokyo week: exactly one cell, the one chrono-tz puts it in.
    let week = grid(addr, &format!("tz=Asia/Tokyo&date={date}"));
    let available: Vec<usize> = (0..336).filter(|&i| week[i] == "available").collect();
    assert_eq!(available, [3 * 48 + 8]);
}

/// The current-week answer matches an independent chrono-tz conversion of every cell.
#[test]
fn current_week_in_tokyo_matches_chrono_tz() {
    let server = common::start(|c| c.home_tz = new_york());
    ok_generation(&common::patch(server.addr, Some(API_KEY), WEDNESDAY_2PM), 1);
    let tokyo = chrono_tz::Asia::Tokyo;
    let monday = common::monday_now(tokyo);
    let r = common::get(server.addr, "/availability?tz=Asia/Tokyo");
    if common::monday_now(tokyo) != monday {
        return; // A Tokyo week boundary passed mid-test.
    }
    assert_eq!(
        r.json()["week_start"],
        monday.to_string(),
        "the current week"
    );
    let week = grid(server.addr, &format!("tz=Asia/Tokyo&date={monday}"));
    let start = tokyo
        .from_local_datetime(&monday.and_hms_opt(0, 0, 0).expect("midnight"))
        .single()
        .expect("Tokyo has no DST");
    for (i, status) in week.iter().enumerate() {
        // Tokyo and New York offsets are whole hours: a cell is one home slot.
        let instant = start + chrono::Duration::minutes(30 * i as i64);
        let home = instant.with_timezone(&chrono_tz::America::New_York);
        let is_wed_2pm =
            home.weekday() == chrono::Weekday::Wed && home.hour() == 14 && home.minute() < 30;
        let expected = if is_wed_2pm {
            "available"
        } else {
            "unavailable"
        };
        assert_eq!(status, expected, "Tokyo cell {i} ({instant})");
    }
}

#[test]
fn pipelined_read_after_a_patch_sees_it() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    let body = r#"{"slots":[{"day":4,"slot":20,"status":"maybe"}]}"#;
    client.send(
        format!(
            "PATCH /availability HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {API_KEY}\r\nContent-Length: {}\r\n\r\n{body}\
             GET /availability/slot?tz=UTC&day=4&slot=20 HTTP/1.1\r\nHost: t\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    let patched = client.read_response(false).expect("PATCH answer");
    ok_generation(&patched, 1);
    let read = client.read_response(false).expect("GET answer");
    assert_eq!(read.json()["status"], "maybe");
}

#[test]
fn one_bad_entry_rejects_the_whole_batch() {
    let server = common::start(|_| {});
    let addr = server.addr;
    let before = server.handle.generation();
    let bad_entries = [
        r#"{"day":7,"slot":0,"status":"available"}"#,
        r#"{"day":1,"time":"10:15","status":"available"}"#,
        r#"{"day":1,"slot":48,"status":"available"}"#,
        r#"{"day":1,"slot":5,"status":"busy"}"#,
        r#"{"day":1,"slot":5,"time":"02:30","status":"maybe"}"#,
        r#"{"slot":5,"status":"maybe"}"#,
        r#"{"day":1,"slot":5}"#,
        r#""not an object""#,
    ];
    for bad in bad_entries {
        let body = format!(
            r#"{{"slots":[{{"day":0,"slot":0,"status":"available"}},{{"day":3,"time":"12:30","status":"maybe"}},{bad}]}}"#
        );
        let r = common::patch(addr, Some(API_KEY), &body);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        let json = r.json();
        assert_eq!(json["error"]["index"], 2, "{bad}: {}", r.text());
        let message = json["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains("slots[2]"), "{bad}: {message}");
    }
    assert_eq!(server.handle.generation(), before, "nothing committed");
    let week = grid(addr, "tz=UTC&date=2027-03-10");
    assert!(
        week.iter().all(|s| s == "unavailable"),
        "the good entries were not applied"
    );
    // The next good write is the first commit.
    let body = r#"{"slots":[{"day":0,"slot":0,"status":"available"}]}"#;
    assert_eq!(
        ok_generation(&common::patch(addr, Some(API_KEY), body), 1),
        before + 1
    );
}

fn entries(n: usize) -> String {
    let list: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"day":{},"slot":{},"status":"maybe"}}"#, i / 48, i % 48))
        .collect();
    format!(r#"{{"slots":[{}]}}"#, list.join(","))
}

#[test]
fn batch_size_and_json_are_checked() {
    let server = common::start(|_| {});
    let addr = server.addr;
    for body in [
        entries(0),
        entries(101),
        "{\"slots\":[".to_string(),
        "[]".into(),
    ] {
        let r = common::patch(addr, Some(API_KEY), &body);
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(!r.error_code().is_empty());
    }
    assert_eq!(server.handle.generation(), 0);
    ok_generation(&common::patch(addr, Some(API_KEY), &entries(100)), 100);
    let week = grid(addr, "tz=UTC&date=2027-03-10");
    let maybe = week.iter().filter(|s| *s == "maybe").count();
    assert_eq!(maybe, 100);
    assert!(week[..100].iter().all(|s| s == "maybe"));
}

#[test]
fn body_over_16_kib_is_413() {
    let server = common::start(|_| {});
    let mut body = entries(1);
    body.insert_str(1, &format!(r#""pad":"{}","#, "x".repeat(16 * 1024)));
    assert!(body.len() > 16 * 1024);
    let r = common::patch(server.addr, Some(API_KEY), &body);
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(!r.error_code().is_empty());
    assert_eq!(server.handle.generation(), 0);
}

#[test]
fn chunked_patch_body_is_accepted() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    let body = r#"{"slots":[{"day":5,"time":"09:30","status":"available"}]}"#;
    let (a, b) = body.split_at(20);
    client.send(
        format!(
            "PATCH /availability HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {API_KEY}\r\n\
             Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:X}\r\n{b}\r\n0\r\n\r\n",
            a.len(),
            b.len()
        )
        .as_bytes(),
    );
    ok_generation(&client.read_response(false).expect("a response"), 1);
    let read = client.get("/availability/slot?tz=UTC&day=5&time=09:30");
    assert_eq!(read.json()["status"], "available");
}

#[test]
fn a_write_survives_a_restart_with_its_generation() {
    let server = common::start(|c| c.home_tz = new_york());
    let addr = server.addr;
    ok_generation(&common::patch(addr, Some(API_KEY), WEDNESDAY_2PM), 1);
    let body = r#"{"slots":[{"day":6,"slot":47,"status":"maybe"}]}"#;
    let generation = ok_generation(&common::patch(addr, Some(API_KEY), body), 1);
    let week_before = grid(addr, "tz=Asia/Tokyo&date=2026-11-18");
    let dir = common::stop_keep_dir(server);

    let restarted = common::start_in(dir, |c| c.home_tz = new_york());
    assert_eq!(restarted.handle.generation(), generation);
    let addr = restarted.addr;
    assert_eq!(grid(addr, "tz=Asia/Tokyo&date=2026-11-18"), week_before);
    assert_eq!(
        cell(addr, "Asia/Tokyo", "2026-11-18", 3, "04:00"),
        "available"
    );
    let r = common::get(addr, "/availability");
    assert_eq!(r.json()["timezone"], "America/New_York");
    let next = ok_generation(&common::patch(addr, Some(API_KEY), entries(1).as_str()), 1);
    assert_eq!(next, generation + 1);
}

#[test]
fn home_zone_comes_from_the_data_file_on_restart() {
    let server = common::start(|c| c.home_tz = new_york());
    ok_generation(&common::patch(server.addr, Some(API_KEY), WEDNESDAY_2PM), 1);
    let dir = common::stop_keep_dir(server);
    // The config now names UTC, but the pattern was recorded in New York time.
    let restarted = common::start_in(dir, |_| {});
    let addr = restarted.addr;
    assert_eq!(
        common::get(addr, "/availability").json()["timezone"],
        "America/New_York"
    );
    assert_eq!(cell(addr, "UTC", "2026-11-18", 2, "19:00"), "available");
}

#[test]
fn concurrent_writes_each_get_their_own_generation() {
    let server = common::start(|_| {});
    let addr = server.addr;
    let generations: Vec<u64> = std::thread::scope(|s| {
        let writers: Vec<_> = (0..10)
            .map(|i| {
                s.spawn(move || {
                    let body = format!(r#"{{"slots":[{{"day":3,"slot":{i},"status":"maybe"}}]}}"#);
                    ok_generation(&common::patch(addr, Some(API_KEY), &body), 1)
                })
            })
            .collect();
        writers
            .into_iter()
            .map(|w| w.join().expect("writer"))
            .collect()
    });
    let mut sorted = generations.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=10).collect::<Vec<u64>>(), "{generations:?}");
    let week = grid(addr, "tz=UTC&date=2027-03-10");
    let maybe: Vec<usize> = (0..336).filter(|&i| week[i] == "maybe").collect();
    assert_eq!(maybe, (3 * 48..3 * 48 + 10).collect::<Vec<usize>>());
}

#[test]
fn a_query_on_a_patch_is_refused_and_nothing_is_written() {
    let server = common::start(|_| {});
    let body = r#"{"slots":[{"day":2,"time":"14:00","status":"maybe"}]}"#;
    for target in [
        "/availability?tz=Asia/Tokyo",
        "/availability?x",
        "/availability?%zz",
    ] {
        let mut client = Client::connect(server.addr);
        client.send(
            format!(
                "PATCH {target} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {API_KEY}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        let response = client.read_response(false).expect("a response");
        assert_eq!(response.status, 400, "{target}");
        assert_eq!(
            response.json()["error"]["code"],
            "unexpected_query",
            "{target}"
        );
    }
    assert_eq!(server.handle.generation(), 0, "nothing was written");
    // An empty query is no query.
    let mut client = Client::connect(server.addr);
    client.send(
        format!(
            "PATCH /availability? HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {API_KEY}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    ok_generation(&client.read_response(false).expect("a response"), 1);
}

/// The largest request the limits allow — a head of nearly `--max-head-bytes`
/// (8 KiB) and a body of exactly `--max-body-bytes` (16 KiB, JSON padded with
/// whitespace) — fits the worker's request buffer at once and is applied.
#[test]
fn a_request_at_both_size_limits_is_accepted() {
    let server = common::start(|_| {});
    let mut body = entries(1);
    body.push_str(&" ".repeat(16 * 1024 - body.len()));
    let head_start = format!(
        "PATCH /availability HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {API_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nX-Pad: ",
        body.len()
    );
    let pad = "p".repeat(8 * 1024 - 64 - head_start.len());
    let request = format!("{head_start}{pad}\r\n\r\n{body}");
    assert!(
        request.len() - body.len() > 8 * 1024 - 64,
        "a head near the limit"
    );
    let mut client = common::Client::connect(server.addr);
    client.send(request.as_bytes());
    let r = client.read_response(false).expect("a response");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(server.handle.generation(), 1);
}
