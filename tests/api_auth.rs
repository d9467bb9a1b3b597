//! Black-box tests of the write path's authentication (SPEC §4): 401 with a
//! `WWW-Authenticate: Bearer` challenge, and the per-IP failed-key budget that keeps
//! wrong keys from burning bcrypt time.

mod common;

use std::time::Duration;

use common::{API_KEY, Response};

const WEDNESDAY_2PM: &str = r#"{"slots":[{"day":2,"time":"14:00","status":"available"}]}"#;

fn ok_generation(r: &Response, generation: u64) {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["generation"], generation, "{}", r.text());
}

#[test]
fn missing_malformed_or_wrong_keys_are_401() {
    let server = common::start(|_| {});
    let addr = server.addr;
    let body = WEDNESDAY_2PM;
    let cases: [(&str, Option<&str>); 4] = [
        ("missing", None),
        ("basic", Some("Basic x")),
        ("empty bearer", Some("Bearer ")),
        ("wrong key", Some("Bearer not-the-key-at-all")),
    ];
    for (what, auth) in cases {
        let r = common::patch_with_authorization(addr, auth, body);
        assert_eq!(r.status, 401, "{what}: {}", r.text());
        assert_eq!(r.error_code(), "unauthorized", "{what}");
        let challenge = r.header("WWW-Authenticate").unwrap_or("");
        assert!(challenge.starts_with("Bearer"), "{what}: {challenge:?}");
    }
    assert_eq!(server.handle.generation(), 0);
    let r = common::get(
        addr,
        "/availability/slot?tz=UTC&date=2027-03-10&day=2&time=14:00",
    );
    assert_eq!(r.json()["status"], "unavailable", "{}", r.text());
}

/// What we see: after `auth_fail_burst` wrong keys, further attempts from that IP get
/// 429 with Retry-After, and so does the right key, until a failure is refilled.
#[test]
fn repeated_wrong_keys_lock_the_ip_out_until_refill() {
    let server = common::start(|c| {
        c.auth_fail_burst = 2;
        c.auth_fail_refill_ms = 600;
    });
    let addr = server.addr;
    for _ in 0..2 {
        assert_eq!(
            common::patch(addr, Some("wrong-key-wrong-key"), WEDNESDAY_2PM).status,
            401
        );
    }
    let r = common::patch(addr, Some("wrong-key-wrong-key"), WEDNESDAY_2PM);
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.error_code(), "too_many_auth_failures", "{}", r.text());
    let retry: u64 = r
        .header("Retry-After")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!(retry >= 1);
    let r = common::patch(addr, Some(API_KEY), WEDNESDAY_2PM);
    assert_eq!(r.status, 429, "even the right key waits: {}", r.text());
    assert!(r.header("Retry-After").is_some());
    assert_eq!(server.handle.generation(), 0);
    std::thread::sleep(Duration::from_millis(700));
    ok_generation(&common::patch(addr, Some(API_KEY), WEDNESDAY_2PM), 1);
}

/// A missing or malformed `Authorization` offers no key, so it spends none of the
/// failed-key budget: with a budget of one, the right key still passes after several.
#[test]
fn malformed_authorization_spends_no_failed_key_budget() {
    let server = common::start(|c| {
        c.auth_fail_burst = 1;
        c.auth_fail_refill_ms = 60_000;
    });
    let addr = server.addr;
    for auth in [None, Some("Basic x"), Some("Bearer")] {
        for _ in 0..3 {
            let r = common::patch_with_authorization(addr, auth, WEDNESDAY_2PM);
            assert_eq!(r.status, 401, "{auth:?}: {}", r.text());
        }
    }
    ok_generation(&common::patch(addr, Some(API_KEY), WEDNESDAY_2PM), 1);
    // The budget is real: one wrong key spends it and the right key then waits.
    assert_eq!(
        common::patch(addr, Some("wrong-key-wrong-key"), WEDNESDAY_2PM).status,
        401
    );
    assert_eq!(
        common::patch(addr, Some(API_KEY), WEDNESDAY_2PM).status,
        429
    );
}
