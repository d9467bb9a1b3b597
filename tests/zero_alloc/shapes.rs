//! The rarer read shapes, each checked on its own: `date=` weeks (this one and
//! the next, which the snapshot also holds), HEAD of errors, refusals made before
//! any route runs (431, 505, 400), `Connection: close` and HTTP/1.0 (a connection
//! accepted and closed inside the counted window), a client named by a trusted
//! proxy's `X-Forwarded-For`, the admin listener (no
//! RateLimit headers), a reader whose answers block the server's write, the 429
//! of the rate limiter and a server with the limiter off.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::common;
use super::{ONE_AT_A_TIME, WORKER_ALLOCS, read_one, tag_worker};

fn week_dates() -> (String, String) {
    use availability_server::week::{grid, zones};
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let tokyo = zones::lookup(b"Asia/Tokyo").expect("zone");
    let this_week = grid::current_week_start(tokyo, now_s);
    let next_week = this_week + chrono::Duration::days(7);
    (
        this_week.format("%Y-%m-%d").to_string(),
        next_week.format("%Y-%m-%d").to_string(),
    )
}

/// Sends `raw` on a new keep-alive connection; the statuses of the answers, one
/// per entry of `heads` (true: the answer to a HEAD).
fn keep_alive(addr: SocketAddr, raw: &[u8], heads: &[bool]) -> Vec<u16> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(raw).expect("send");
    let mut pending = Vec::new();
    heads
        .iter()
        .map(|&head| read_one(&mut s, &mut pending, head))
        .collect()
}

/// One request on a new connection, read until the server closes it.
fn one_shot(addr: SocketAddr, raw: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let _ = s.write_all(raw); // a refusal may come before the last byte is taken
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    String::from_utf8_lossy(&all[9..12])
        .parse()
        .expect("a status")
}

/// Worker allocations over 20 runs of `f`, after one run to warm up.
fn allocations(mut f: impl FnMut()) -> u64 {
    f();
    std::thread::sleep(Duration::from_millis(50));
    WORKER_ALLOCS.store(0, Ordering::SeqCst);
    for _ in 0..20 {
        f();
    }
    std::thread::sleep(Duration::from_millis(50)); // the close of the last connection
    WORKER_ALLOCS.load(Ordering::SeqCst)
}

fn assert_none(what: &str, f: impl FnMut()) {
    let n = allocations(f);
    assert_eq!(n, 0, "{what}: {n} worker allocations over 20 passes");
}

#[test]
fn workers_do_not_allocate_for_the_rarer_read_shapes() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (this_week, next_week) = week_dates();
    let server = common::start_with_hook(
        |c| {
            c.rate_limit_burst = 1_000_000;
            c.rate_limit_per_s = 1_000_000;
            c.admin_listen = Some("127.0.0.1:0".parse().expect("addr"));
            // Every request comes through a "trusted proxy": the client's address
            // is read from X-Forwarded-For where there is one.
            c.trusted_proxies =
                availability_server::forwarded::TrustedProxies::parse("127.0.0.1, 10.0.0.0/8")
                    .expect("list");
        },
        Some(tag_worker),
    );
    let addr = server.handle.http_addr.expect("http");
    let admin = server.handle.admin_addr.expect("admin");
    for (target, head) in [
        (
            format!("GET /availability/slot?tz=Asia/Tokyo&day=1&slot=3&date={this_week}"),
            false,
        ),
        (
            format!("GET /availability/csv?tz=Asia/Tokyo&date={this_week}"),
            false,
        ),
        (
            format!("HEAD /availability?tz=Asia/Tokyo&date={this_week}"),
            true,
        ),
        (
            format!("GET /availability?tz=Asia/Tokyo&date={next_week}"),
            false,
        ),
        (
            format!("GET /availability/csv?tz=Asia/Tokyo&date={next_week}"),
            false,
        ),
        (
            format!("GET /availability/slot?tz=Asia/Tokyo&day=1&time=10:00&date={next_week}"),
            false,
        ),
    ] {
        let raw = format!("{target} HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_none(&target, || {
            assert_eq!(keep_alive(addr, raw.as_bytes(), &[head]), [200]);
        });
    }
    for (raw, status) in [
        ("HEAD /no/such HTTP/1.1\r\nHost: a\r\n\r\n", 404),
        (
            "HEAD /availability?tz=Bad/Zone HTTP/1.1\r\nHost: a\r\n\r\n",
            400,
        ),
        (
            "POST /availability/slot HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
            405,
        ),
        (
            "GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            200,
        ),
        (
            "GET /availability/slot?day=1&slot=3 HTTP/1.1\r\nHost: a\r\n\
             X-Forwarded-For: 198.51.100.7, [2001:db8::9]:443, 10.1.1.1\r\n\r\n",
            200,
        ),
    ] {
        let head = raw.starts_with("HEAD");
        assert_none(raw, || {
            assert_eq!(keep_alive(addr, raw.as_bytes(), &[head]), [status]);
        });
    }
    let big_head = format!(
        "GET /health HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "a".repeat(9000)
    );
    for (raw, status) in [
        (
            "GET /availability/slot?tz=UTC&day=1&slot=3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            200,
        ),
        (
            "GET /availability?tz=UTC HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            200,
        ),
        (
            "GET /availability/slot?tz=UTC&day=1&slot=3 HTTP/1.0\r\n\r\n",
            200,
        ),
        ("GET /health HTTP/2.0\r\n\r\n", 505),
        (
            "GET /health HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab",
            400,
        ),
        ("GET /health HTTP/1.1\r\nHost: a\r\n\x01bad\r\n\r\n", 400),
        (big_head.as_str(), 431),
    ] {
        assert_none(&raw[..raw.len().min(60)], || {
            assert_eq!(one_shot(addr, raw.as_bytes()), status);
        });
    }
    let probes = "GET /health HTTP/1.1\r\nHost: a\r\n\r\nGET /ready HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_none("admin /health and /ready", || {
        assert_eq!(
            keep_alive(admin, probes.as_bytes(), &[false, false]),
            [200, 200]
        );
    });
    // 600 pipelined week answers (~14 MB) before the client reads: the server's
    // write blocks and resumes.
    let many = b"GET /availability?tz=Europe/London HTTP/1.1\r\nHost: a\r\n\r\n".repeat(600);
    assert_none("a reader that makes the write block", || {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s.write_all(&many).expect("send");
        std::thread::sleep(Duration::from_millis(100));
        let mut pending = Vec::new();
        for _ in 0..600 {
            assert_eq!(read_one(&mut s, &mut pending, false), 200);
        }
    });
    drop(server);

    let server = common::start_with_hook(
        |c| {
            c.rate_limit_burst = 2;
            c.rate_limit_per_s = 1;
        },
        Some(tag_worker),
    );
    let addr = server.handle.http_addr.expect("http");
    let burst = b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n".repeat(10);
    assert_none("429 from the rate limiter", || {
        let statuses = keep_alive(addr, &burst, &[false; 10]);
        assert!(
            statuses.iter().filter(|&&s| s == 429).count() >= 8,
            "{statuses:?}"
        );
    });
    drop(server);

    let server = common::start_with_hook(|c| c.rate_limit_burst = 0, Some(tag_worker));
    let addr = server.handle.http_addr.expect("http");
    let slot = b"GET /availability/slot?tz=UTC&day=1&slot=3 HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_none("the rate limiter off", || {
        assert_eq!(keep_alive(addr, slot, &[false]), [200]);
    });
}
