//! Black-box tests of what every response carries (SPEC §4): the standard headers,
//! HEAD on every GET route, and per-IP rate limiting.

mod common;

use common::{Client, Response};

/// Headers that may legitimately differ between two responses to the same request.
const VOLATILE: [&str; 3] = ["date", "ratelimit-remaining", "ratelimit-reset"];

fn stable_headers(r: &Response) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .filter(|(n, _)| !VOLATILE.contains(&n.as_str()))
        .collect();
    headers.sort();
    headers
}

fn assert_standard_headers(r: &Response, what: &str, rate_limited_listener: bool) {
    for name in ["Content-Length", "Content-Type", "Date", "Cache-Control"] {
        assert_eq!(
            r.header_count(name),
            1,
            "{what}: exactly one {name}: {:?}",
            r.headers
        );
    }
    let date = r.header("Date").expect("Date");
    let parsed = chrono::DateTime::parse_from_rfc2822(date)
        .unwrap_or_else(|e| panic!("{what}: Date {date:?} is not an HTTP date: {e}"));
    assert!(date.ends_with(" GMT"), "{what}: IMF-fixdate ends in GMT");
    let skew_s = (chrono::Utc::now().timestamp() - parsed.timestamp()).abs();
    assert!(skew_s <= 5, "{what}: Date {date} is {skew_s} s off");
    if rate_limited_listener {
        for name in ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"] {
            let value = r
                .header(name)
                .unwrap_or_else(|| panic!("{what}: no {name}: {:?}", r.headers));
            assert!(
                value.parse::<u64>().is_ok(),
                "{what}: {name}: {value:?} is not a number"
            );
        }
    }
}

/// The `Date` header follows the clock on a kept-alive connection: the worker
/// refreshes its cached date each time its loop wakes (one request's skew check above
/// passes with a date frozen at start).
#[test]
fn the_date_header_moves_with_the_clock() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    let date_s = |r: &Response| {
        chrono::DateTime::parse_from_rfc2822(r.header("Date").expect("Date"))
            .expect("an HTTP date")
            .timestamp()
    };
    let first_s = date_s(&client.get("/health"));
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    let second_s = date_s(&client.get("/health"));
    assert!(
        second_s > first_s,
        "1.1 s later the Date still says {second_s} (first {first_s})"
    );
}

#[test]
fn every_response_has_the_standard_headers() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    let reads = [
        "/availability?tz=UTC",
        "/availability/slot?day=1&slot=3",
        "/availability/csv?tz=Asia/Kolkata",
        "/availability?tz=Nowhere/Never",
        "/availability/slot?day=1&time=01:15",
        "/nope",
        "/health",
        "/ready",
    ];
    for path in reads {
        let r = client.get(path);
        assert_standard_headers(&r, path, true);
        assert_eq!(
            r.header("Content-Length").and_then(|v| v.parse().ok()),
            Some(r.body.len())
        );
    }
    client.send(b"DELETE /availability HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = client.read_response(false).expect("405");
    assert_eq!(r.status, 405);
    assert_standard_headers(&r, "405", true);
    // Writes, answered by the writer thread: 401 and 200.
    let body = r#"{"slots":[{"day":0,"slot":0,"status":"maybe"}]}"#;
    let r = common::patch(server.addr, None, body);
    assert_eq!(r.status, 401);
    assert_standard_headers(&r, "PATCH 401", true);
    let r = common::patch(server.addr, Some("wrong-key-wrong-key"), body);
    assert_eq!(r.status, 401);
    assert_standard_headers(&r, "PATCH 401 (wrong key)", true);
    let r = common::patch(server.addr, Some(common::API_KEY), body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_standard_headers(&r, "PATCH 200", true);
    // A protocol error still states the headers.
    client.send(b"GET /health HTTP/1.1\r\n\r\n");
    let r = client.read_response(false).expect("400");
    assert_eq!(r.status, 400);
    assert_standard_headers(&r, "400 missing Host", true);
}

#[test]
fn head_matches_get_without_a_body() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    let paths = [
        "/availability?tz=America/Sao_Paulo",
        "/availability?tz=UTC&date=2027-03-10",
        "/availability/slot?tz=UTC&day=4&time=09:30",
        "/availability/csv?tz=Asia/Tokyo",
        "/availability/csv?tz=UTC&date=2031-01-01",
        "/health",
        "/ready",
        "/availability?tz=Bad/Zone",
        "/nope",
    ];
    for path in paths {
        let get = client.get(path);
        client.send(format!("HEAD {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        let head = client.read_response(true).expect("a HEAD response");
        assert_eq!(head.status, get.status, "{path}");
        assert_eq!(stable_headers(&head), stable_headers(&get), "{path}");
        assert_eq!(
            head.header("Content-Length").and_then(|v| v.parse().ok()),
            Some(get.body.len()),
            "{path}: HEAD states the GET body length"
        );
        // Had the HEAD response carried body bytes, this would read them as a response.
        let next = client.get("/health");
        assert_eq!(next.status, 200, "{path}: the stream is still in sync");
        assert_eq!(next.json()["status"], "ok");
    }
}

#[test]
fn sixth_quick_request_is_rate_limited() {
    let server = common::start(|c| {
        c.rate_limit_burst = 5;
        c.rate_limit_per_s = 1;
    });
    let mut client = Client::connect(server.addr);
    let mut remaining = Vec::new();
    for _ in 0..5 {
        let r = client.get("/health");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("RateLimit-Limit"), Some("5"));
        remaining.push(r.header("RateLimit-Remaining").unwrap_or("").to_string());
    }
    assert_eq!(remaining, ["4", "3", "2", "1", "0"]);
    let r = client.get("/availability?tz=UTC");
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.error_code(), "rate_limited");
    let retry_s: u64 = r
        .header("Retry-After")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=2).contains(&retry_s), "Retry-After {retry_s}");
    assert_eq!(r.header("RateLimit-Remaining"), Some("0"));
    // The budget is per IP, not per connection.
    let r = common::get(server.addr, "/health");
    assert_eq!(r.status, 429);
    // HEAD is limited too, and its 429 has no body.
    client.send(b"HEAD /health HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = client.read_response(true).expect("429 to HEAD");
    assert_eq!(r.status, 429);
    assert_eq!(client.get("/health").status, 429, "stream still in sync");
}

/// The budget is each client address's own: another address (127.0.0.2, loopback
/// too) is served in full while the first is limited.
#[test]
fn another_client_address_has_a_rate_budget_of_its_own() {
    let server = common::start(|c| {
        c.rate_limit_burst = 2;
        c.rate_limit_per_s = 1;
    });
    let mut first = Client::connect(server.addr);
    for _ in 0..2 {
        assert_eq!(first.get("/health").status, 200);
    }
    assert_eq!(first.get("/health").status, 429);
    let mut second = Client::connect_from(server.addr, std::net::Ipv4Addr::new(127, 0, 0, 2));
    let r = second.get("/health");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("RateLimit-Remaining"), Some("1"));
    assert_eq!(
        first.get("/health").status,
        429,
        "the first is still limited"
    );
}

#[test]
fn rate_limit_refills_over_time() {
    let server = common::start(|c| {
        c.rate_limit_burst = 2;
        c.rate_limit_per_s = 10;
    });
    let mut client = Client::connect(server.addr);
    assert_eq!(client.get("/health").status, 200);
    assert_eq!(client.get("/health").status, 200);
    assert_eq!(client.get("/health").status, 429);
    std::thread::sleep(std::time::Duration::from_millis(250));
    assert_eq!(client.get("/health").status, 200, "one token per 100 ms");
}

#[test]
fn zero_burst_disables_rate_limiting() {
    let server = common::start(|c| {
        c.rate_limit_burst = 0;
        c.rate_limit_per_s = 1;
    });
    let mut client = Client::connect(server.addr);
    for i in 0..200 {
        let r = client.get("/availability/slot?day=1&slot=1");
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
    }
}

/// The availability is public: its reads, and their errors, are readable from a web
/// page on any origin. Writes, other routes and the admin listener say nothing.
#[test]
fn public_reads_and_their_errors_allow_any_origin_and_nothing_else_does() {
    let server = common::start(common::with_admin);
    let cors = |r: &Response| r.header("Access-Control-Allow-Origin").map(str::to_owned);
    for path in [
        "/availability?tz=UTC",
        "/availability?tz=UTC&date=2020-01-06",
        "/availability/csv?tz=Asia/Kolkata",
        "/availability/slot?day=1&slot=3",
        "/availability?tz=Nowhere/Never",
        "/availability/slot?day=1&time=01:15",
    ] {
        let r = common::get(server.addr, path);
        assert_eq!(cors(&r).as_deref(), Some("*"), "{path}: {:?}", r.headers);
    }
    for path in ["/nope", "/health"] {
        assert_eq!(cors(&common::get(server.addr, path)), None, "{path}");
    }
    let admin = server.admin();
    assert_eq!(cors(&common::get(admin, "/metrics")), None, "/metrics");
    let r = common::patch(
        server.addr,
        Some(common::API_KEY),
        r#"{"slots":[{"day":2,"time":"14:00","status":"maybe"}]}"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(cors(&r), None, "PATCH");
}

/// A rate-limited read is still readable from a web page: its 429 and `Retry-After`
/// carry the CORS header too.
#[test]
fn a_rate_limited_read_is_readable_from_any_origin() {
    let server = common::start(|c| {
        c.rate_limit_burst = 1;
        c.rate_limit_per_s = 1;
    });
    assert_eq!(common::get(server.addr, "/availability?tz=UTC").status, 200);
    let r = common::get(server.addr, "/availability?tz=UTC");
    assert_eq!(r.status, 429);
    assert!(r.header("Retry-After").is_some());
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    let r = common::get(server.addr, "/health");
    assert_eq!(r.status, 429);
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        None,
        "not a public read"
    );
}
