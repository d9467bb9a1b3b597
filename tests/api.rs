//! Black-box tests of the read API (SPEC §4) over real sockets: the week JSON, the
//! slot JSON, the CSV, timezone and date handling, and route errors. Headers, HEAD
//! and rate limiting are in `api_headers.rs`; PATCH in `api_write.rs`.

mod common;

use chrono::{Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use common::{Client, Response, monday_now};

const DAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Asserts `week_start` is this week's Monday in `tz`; `before` was computed just
/// before the request, so a week boundary in between is tolerated.
fn assert_current_week(week_start: &str, tz: Tz, before: NaiveDate) {
    let after = monday_now(tz);
    assert!(
        week_start == before.to_string() || week_start == after.to_string(),
        "week_start {week_start} is not the current week in {tz} ({before} / {after})"
    );
}

fn time_text(slot: usize) -> String {
    format!("{:02}:{:02}", slot / 2, (slot % 2) * 30)
}

fn without_whitespace(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect()
}

/// The exact week JSON (key order, slot order) for `statuses`, whitespace-free.
fn expected_week_json(tz: &str, week_start: &str, statuses: &[&str]) -> String {
    let slots: Vec<String> = statuses
        .iter()
        .enumerate()
        .map(|(i, status)| {
            format!(
                r#"{{"day":{},"day_name":"{}","time":"{}","status":"{status}"}}"#,
                i / 48,
                DAY_NAMES[i / 48],
                time_text(i % 48)
            )
        })
        .collect();
    format!(
        r#"{{"timezone":"{tz}","week_start":"{week_start}","slots":[{}]}}"#,
        slots.join(",")
    )
}

fn assert_json_error(r: &Response, status: u16, code: &str) {
    assert_eq!(r.status, status, "body: {}", r.text());
    assert!(
        r.header("Content-Type")
            .is_some_and(|t| t.starts_with("application/json")),
        "content type {:?}",
        r.header("Content-Type")
    );
    assert_eq!(r.error_code(), code, "body: {}", r.text());
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error.message present: {}",
        r.text()
    );
}

#[test]
fn week_json_has_the_exact_shape_and_canonical_zone_name() {
    let server = common::start(|_| {});
    let before = monday_now(chrono_tz::Asia::Tokyo);
    let r = common::get(server.addr, "/availability?tz=asia/TOKYO");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("Content-Type")
            .is_some_and(|t| t.starts_with("application/json"))
    );
    let json = r.json();
    let week_start = json["week_start"].as_str().expect("week_start").to_string();
    assert_current_week(&week_start, chrono_tz::Asia::Tokyo, before);
    let monday = NaiveDate::parse_from_str(&week_start, "%Y-%m-%d").expect("a date");
    assert_eq!(monday.weekday(), chrono::Weekday::Mon);
    // A new data file is all unavailable, so the whole body is known exactly.
    let expected = expected_week_json("Asia/Tokyo", &week_start, &["unavailable"; 336]);
    assert_eq!(without_whitespace(&r.body), expected);
}

#[test]
fn default_zone_is_the_home_zone() {
    let utc_home = common::start(|_| {});
    let r = common::get(utc_home.addr, "/availability");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["timezone"], "UTC");

    let ny_home = common::start(|c| {
        c.home_tz =
            availability_server::week::zones::lookup(b"America/New_York").expect("known zone");
    });
    let before = monday_now(chrono_tz::America::New_York);
    let r = common::get(ny_home.addr, "/availability");
    assert_eq!(r.status, 200);
    let json = r.json();
    assert_eq!(json["timezone"], "America/New_York");
    let week_start = json["week_start"].as_str().expect("week_start");
    assert_current_week(week_start, chrono_tz::America::New_York, before);
    let slot = common::get(ny_home.addr, "/availability/slot?day=0&slot=0");
    assert_eq!(slot.json()["timezone"], "America/New_York");
    assert_eq!(slot.json()["week_start"].as_str(), Some(week_start));
}

#[test]
fn date_selects_the_week_containing_it() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    // 2027-03-08 is a Monday: every day of that week maps to it.
    for date in ["2027-03-08", "2027-03-10", "2027-03-14"] {
        let r = client.get(&format!("/availability?tz=UTC&date={date}"));
        assert_eq!(r.status, 200, "{date}: {}", r.text());
        assert_eq!(r.json()["week_start"], "2027-03-08", "{date}");
        assert_eq!(r.json()["slots"].as_array().map(Vec::len), Some(336));
    }
    let r = client.get("/availability?tz=UTC&date=2027-03-15");
    assert_eq!(r.json()["week_start"], "2027-03-15");
    let r = client.get("/availability/slot?tz=Asia/Tokyo&date=2027-03-10&day=1&time=10:30");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["week_start"], "2027-03-08");
    assert_eq!(r.json()["timezone"], "Asia/Tokyo");
}

#[test]
fn date_in_the_current_week_matches_the_default_answer() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    let tz = chrono_tz::Asia::Tokyo;
    let before = monday_now(tz);
    let today = Utc::now().with_timezone(&tz).date_naive();
    let plain = client.get("/availability?tz=Asia/Tokyo");
    let dated = client.get(&format!("/availability?tz=Asia/Tokyo&date={today}"));
    if monday_now(tz) != before {
        return; // A week boundary passed mid-test; nothing to compare.
    }
    assert_eq!(plain.status, 200);
    assert_eq!(dated.status, 200);
    assert_eq!(plain.json()["week_start"], before.to_string());
    assert_eq!(plain.body, dated.body);
}

#[test]
fn unknown_timezone_is_400_on_every_read_route() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    for path in [
        "/availability?tz=Mars/Olympus_Mons",
        "/availability/csv?tz=Mars/Olympus_Mons",
        "/availability/slot?tz=Mars/Olympus_Mons&day=1&slot=2",
        "/availability?tz=Asia/Tokyo2",
    ] {
        let r = client.get(path);
        assert_json_error(&r, 400, "invalid_timezone");
    }
}

#[test]
fn slot_by_time_and_by_index_agree() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    let by_time = client.get("/availability/slot?tz=UTC&date=2027-03-10&day=2&time=14:00");
    let by_slot = client.get("/availability/slot?tz=UTC&date=2027-03-10&day=2&slot=28");
    assert_eq!(by_time.status, 200, "{}", by_time.text());
    assert_eq!(by_slot.status, 200, "{}", by_slot.text());
    let expected = r#"{"timezone":"UTC","week_start":"2027-03-08","day":2,"day_name":"Wednesday","time":"14:00","status":"unavailable"}"#;
    assert_eq!(without_whitespace(&by_time.body), expected);
    assert_eq!(by_time.body, by_slot.body);
    // The edges of the grid.
    let first = client.get("/availability/slot?tz=UTC&day=0&slot=0").json();
    assert_eq!(
        (&first["day_name"], &first["time"]),
        (&"Monday".into(), &"00:00".into())
    );
    let last = client
        .get("/availability/slot?tz=UTC&day=6&time=23:30")
        .json();
    assert_eq!(
        (&last["day_name"], &last["time"]),
        (&"Sunday".into(), &"23:30".into())
    );
}

#[test]
fn slot_query_errors_are_400() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    for (path, code) in [
        ("/availability/slot?day=2&time=14:15", "invalid_time"),
        ("/availability/slot?day=2&time=14:01", "invalid_time"),
        ("/availability/slot?day=2&time=24:00", "invalid_time"),
        ("/availability/slot?day=2&time=1400", "invalid_time"),
        (
            "/availability/slot?day=2&time=14:00&slot=28",
            "invalid_query",
        ),
        ("/availability/slot?time=14:00", "missing_parameter"),
        ("/availability/slot?slot=28", "missing_parameter"),
        ("/availability/slot?day=2", "missing_parameter"),
        ("/availability/slot?day=7&slot=0", "invalid_day"),
        ("/availability/slot?day=2&slot=48", "invalid_slot"),
        ("/availability/slot?day=x&slot=1", "invalid_day"),
        (
            "/availability/slot?day=1&slot=1&date=2027-02-30",
            "invalid_date",
        ),
    ] {
        let r = client.get(path);
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        assert_eq!(r.error_code(), code, "{path}: {}", r.text());
    }
}

#[test]
fn csv_is_a_crlf_grid_with_a_note() {
    let server = common::start(|_| {});
    let r = common::get(
        server.addr,
        "/availability/csv?tz=Europe/London&date=2027-03-10",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("Content-Type")
            .is_some_and(|t| t.starts_with("text/csv")),
        "content type {:?}",
        r.header("Content-Type")
    );
    let text = r.text();
    assert!(text.ends_with("\r\n"), "the last line ends with CRLF too");
    assert!(
        !text.replace("\r\n", "").contains(['\r', '\n']),
        "only CRLF line ends"
    );
    let lines: Vec<&str> = text.trim_end_matches("\r\n").split("\r\n").collect();
    assert_eq!(lines.len(), 1 + 48 + 1 + 1, "{text}");
    assert_eq!(
        lines[0],
        "Time,Monday,Tuesday,Wednesday,Thursday,Friday,Saturday,Sunday"
    );
    for (slot, line) in lines[1..49].iter().enumerate() {
        let expected = format!("{}{}", time_text(slot), ",unavailable".repeat(7));
        assert_eq!(*line, expected);
    }
    assert_eq!(lines[49], "");
    assert_eq!(
        lines[50],
        "Note: Availability is estimated. Please reach out to confirm!"
    );
}

#[test]
fn unknown_paths_are_404_json() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    for path in [
        "/",
        "/nope",
        "/availability/extra",
        "/availabilityx",
        "/metrics",
    ] {
        let r = client.get(path);
        assert_json_error(&r, 404, "not_found");
    }
}

/// The methods an `Allow` header lists, as a sorted set.
fn allow_set(r: &Response) -> Vec<String> {
    let mut methods: Vec<String> = r
        .header("Allow")
        .unwrap_or_else(|| panic!("405 without Allow: {:?}", r.headers))
        .split(',')
        .map(|m| m.trim().to_string())
        .collect();
    methods.sort();
    methods
}

#[test]
fn wrong_method_on_a_known_path_is_405_with_allow() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    let cases: &[(&str, &str, &[&str])] = &[
        ("DELETE", "/availability", &["GET", "HEAD", "PATCH"]),
        ("POST", "/availability", &["GET", "HEAD", "PATCH"]),
        ("POST", "/availability/slot", &["GET", "HEAD"]),
        ("PATCH", "/availability/csv", &["GET", "HEAD"]),
        ("PUT", "/health", &["GET", "HEAD"]),
        ("DELETE", "/ready", &["GET", "HEAD"]),
    ];
    for (method, path, allow) in cases {
        client.send(format!("{method} {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        let r = client.read_response(false).expect("a response");
        assert_json_error(&r, 405, "method_not_allowed");
        let mut expected: Vec<String> = allow.iter().map(|m| m.to_string()).collect();
        expected.sort();
        assert_eq!(allow_set(&r), expected, "{method} {path}");
    }
}

#[test]
fn health_and_ready() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    let health = client.get("/health");
    assert_eq!(health.status, 200);
    assert_eq!(without_whitespace(&health.body), r#"{"status":"ok"}"#);
    let ready = client.get("/ready");
    assert_eq!(ready.status, 200, "{}", ready.text());
    assert!(
        ready
            .header("Content-Type")
            .is_some_and(|t| t.starts_with("application/json"))
    );
}
