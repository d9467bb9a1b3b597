//! Bounded polling, and reading one value off the admin `/metrics` page. Declared by
//! the test files that use it with `#[path = "common/probe.rs"] mod probe;` (next to
//! `mod common;`, whose `get` it uses).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Polls `done` every 10 ms until it holds; panics naming `what` after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The value of the series `name` (an unlabelled metric, or one with its labels as
/// the page writes them) on the admin listener at `admin`.
pub fn metric(admin: SocketAddr, name: &str) -> f64 {
    metric_in(&crate::common::get(admin, "/metrics").text(), name)
}

/// The value of the series `name` (as for [`metric`]) in a `/metrics` page.
pub fn metric_in(text: &str, name: &str) -> f64 {
    sample_in(text, name)
}

/// The value of the counter or integer gauge `name` (as for [`metric`]) in a
/// `/metrics` page; a value written with a fraction or exponent fails the test.
pub fn count_in(text: &str, name: &str) -> u64 {
    sample_in(text, name)
}

fn sample_in<T: std::str::FromStr>(text: &str, name: &str) -> T {
    let prefix = format!("{name} ");
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"));
    value.trim().parse().unwrap_or_else(|_| {
        panic!(
            "metric {name}: {value:?} is not a {}",
            std::any::type_name::<T>()
        )
    })
}

/// Waits (at most 10 s) until the writer thread is inside a bcrypt check: one has
/// begun and the writer is still on it. A cost-16 check lasts about 5 s, so the
/// writer stays there for seconds after this returns.
pub fn wait_for_writer_in_bcrypt(admin: SocketAddr) {
    wait_until(
        Duration::from_secs(10),
        "the writer is in a bcrypt check",
        || {
            metric(admin, "availability_bcrypt_checks_total") >= 1.0
                && metric(admin, "availability_writer_busy_seconds") > 0.0
        },
    );
}
