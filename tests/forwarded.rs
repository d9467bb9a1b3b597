//! Behind a trusted proxy (`--trusted-proxies`), rate limits and the failed-key
//! budget apply to the client named in `X-Forwarded-For`, not to the proxy; from
//! any other peer the header changes nothing.

mod common;

use common::{API_KEY, Client, Response};

const CELL: &str = r#"{"slots":[{"day":2,"time":"14:00","status":"maybe"}]}"#;

fn get_as(server: &common::TestServer, client: &str) -> u16 {
    let mut c = Client::connect(server.addr);
    c.send(
        format!("GET /health HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: {client}\r\n\r\n").as_bytes(),
    );
    c.read_response(false).expect("a response").status
}

fn patch_as(server: &common::TestServer, client: &str, key: &str) -> Response {
    let mut c = Client::connect(server.addr);
    c.send(
        format!(
            "PATCH /availability HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: {client}\r\n\
             Authorization: Bearer {key}\r\nContent-Length: {}\r\n\r\n{CELL}",
            CELL.len()
        )
        .as_bytes(),
    );
    c.read_response(false).expect("a response")
}

/// Trusts the proxies in `list` (addresses or CIDR networks).
fn trust(c: &mut availability_server::config::Config, list: &str) {
    c.trusted_proxies = availability_server::forwarded::TrustedProxies::parse(list).expect("list");
}

fn tight_limits(c: &mut availability_server::config::Config) {
    c.rate_limit_burst = 2;
    c.rate_limit_per_s = 1;
}

#[test]
fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_rate_budget() {
    let server = common::start(|c| {
        tight_limits(c);
        trust(c, "127.0.0.0/8");
    });
    let a = "198.51.100.1, 203.0.113.1"; // the client wrote the first entry itself
    assert_eq!(
        [get_as(&server, a), get_as(&server, a), get_as(&server, a)],
        [200, 200, 429]
    );
    assert_eq!(
        get_as(&server, "203.0.113.2"),
        200,
        "another client, its own budget"
    );
    // Varying what the client wrote itself buys nothing: the proxy's entry decides.
    assert_eq!(get_as(&server, "192.0.2.99, 203.0.113.1"), 429);
}

#[test]
fn from_an_untrusted_peer_x_forwarded_for_is_ignored() {
    let server = common::start(tight_limits);
    assert_eq!(get_as(&server, "203.0.113.1"), 200);
    assert_eq!(get_as(&server, "203.0.113.2"), 200);
    assert_eq!(
        get_as(&server, "203.0.113.3"),
        429,
        "one budget: the peer's"
    );
}

#[test]
fn failed_keys_count_against_the_forwarded_client() {
    let server = common::start(|c| {
        c.auth_fail_burst = 2;
        trust(c, "127.0.0.1");
    });
    let guesser = "203.0.113.66";
    for _ in 0..2 {
        assert_eq!(
            patch_as(&server, guesser, "wrong-key-wrong-key").status,
            401
        );
    }
    assert_eq!(
        patch_as(&server, guesser, "wrong-key-wrong-key").status,
        429
    );
    assert_eq!(
        patch_as(&server, guesser, API_KEY).status,
        429,
        "locked out"
    );
    let owner = patch_as(&server, "203.0.113.10", API_KEY);
    assert_eq!(
        owner.status,
        200,
        "another client behind the same proxy: {}",
        owner.text()
    );
}

/// A refusal made before the head is understood (400 for a GET with a body) cannot
/// know which client behind the proxy sent it: it states no budget rather than the
/// proxy's own.
#[test]
fn a_protocol_refusal_from_a_trusted_proxy_states_no_rate_budget() {
    let server = common::start(|c| {
        tight_limits(c);
        trust(c, "127.0.0.1");
    });
    let mut c = Client::connect(server.addr);
    c.send(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 203.0.113.1\r\nContent-Length: 2\r\n\r\nab");
    let r = c.read_response(false).expect("a response");
    assert_eq!(r.status, 400);
    assert_eq!(r.header("RateLimit-Remaining"), None, "{:?}", r.headers);
    // From an untrusted peer the same refusal states the peer's budget.
    let plain = common::start(tight_limits);
    let mut c = Client::connect(plain.addr);
    c.send(b"GET /health HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nab");
    let r = c.read_response(false).expect("a response");
    assert_eq!(r.status, 400);
    assert!(r.header("RateLimit-Remaining").is_some());
}
