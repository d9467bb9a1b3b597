//! The rarer read shapes, each checked on its own: `date=` weeks (this one and
//! the next, which the snapshot also holds), each error a read's query can earn
//! (by its code), HEAD of errors, refusals made before any route runs (431, 505,
//! 400), `Connection: close` and HTTP/1.0 (a connection accepted and closed
//! inside the counted window), a client named by a trusted proxy's
//! `X-Forwarded-For`, the admin listener (no RateLimit headers), a reader whose
//! answers block the server's write, the 429 of the rate limiter (to probes and
//! to public reads, GET and HEAD) and a server with the limiter off.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::common;
use super::{
    ONE_AT_A_TIME, WORKER_ALLOCS, once_more_if_a_week_rolled_over, read_one, tag_worker,
    this_week_in_tokyo,
};

/// This week's and next week's Mondays in Tokyo, computed per call so that a
/// rerun after a rollover names the new weeks.
fn week_dates() -> (String, String) {
    let this_week = this_week_in_tokyo();
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
fn allocations(f: &mut impl FnMut()) -> u64 {
    f();
    std::thread::sleep(Duration::from_millis(50));
    WORKER_ALLOCS.store(0, Ordering::SeqCst);
    for _ in 0..20 {
        f();
    }
    std::thread::sleep(Duration::from_millis(50)); // the close of the last connection
    WORKER_ALLOCS.load(Ordering::SeqCst)
}

fn assert_none(what: &str, mut f: impl FnMut()) {
    let n = once_more_if_a_week_rolled_over(|| allocations(&mut f), |&n| n != 0);
    assert_eq!(n, 0, "{what}: {n} worker allocations over 20 passes");
}

#[test]
fn workers_do_not_allocate_for_the_rarer_read_shapes() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let server = common::start_with_hook(
        |c| {
            c.rate_limit_burst = 1_000_000;
            c.rate_limit_per_s = 1_000_000;
            common::with_admin(c);
            // Every request comes through a "trusted proxy": the client's address
            // is read from X-Forwarded-For where there is one.
            c.trusted_proxies =
                availability_server::forwarded::TrustedProxies::parse("127.0.0.1, 10.0.0.0/8")
                    .expect("list");
        },
        Some(tag_worker),
    );
    let addr = server.handle.http_addr.expect("http");
    let admin = server.admin();
    // THIS and NEXT stand for the weeks' Mondays, filled in at each pass.
    for (target, head) in [
        (
            "GET /availability/slot?tz=Asia/Tokyo&day=1&slot=3&date=THIS",
            false,
        ),
        ("GET /availability/csv?tz=Asia/Tokyo&date=THIS", false),
        ("HEAD /availability?tz=Asia/Tokyo&date=THIS", true),
        ("GET /availability?tz=Asia/Tokyo&date=NEXT", false),
        ("GET /availability/csv?tz=Asia/Tokyo&date=NEXT", false),
        (
            "GET /availability/slot?tz=Asia/Tokyo&day=1&time=10:00&date=NEXT",
            false,
        ),
    ] {
        assert_none(target, || {
            let (this_week, next_week) = week_dates();
            let target = target
                .replace("THIS", &this_week)
                .replace("NEXT", &next_week);
            let raw = format!("{target} HTTP/1.1\r\nHost: a\r\n\r\n");
            assert_eq!(keep_alive(addr, raw.as_bytes(), &[head]), [200]);
        });
    }
    // Each error a read's query can earn, checked by its code.
    for (target, code) in [
        ("/availability?tz=UTC&tz=UTC", "duplicate_parameter"),
        ("/availability/csv?date=2100-01-01", "invalid_date"),
        ("/availability?tz=%zz", "invalid_query"),
        ("/availability/slot?day=1&slot=48", "invalid_slot"),
        (
            "/availability/slot?day=1&time=10:00&slot=3",
            "invalid_query",
        ),
        ("/availability/slot?slot=3", "missing_parameter"),
        ("/availability/slot?day=1", "missing_parameter"),
    ] {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_none(target, || {
            let mut client = common::Client::connect(addr);
            client.send(raw.as_bytes());
            let r = client.read_response(false).expect("an answer");
            assert_eq!((r.status, r.error_code().as_str()), (400, code), "{target}");
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
    // Four /health take what the limiter has left (at most its burst of 2), so
    // every read after them gets the 429 of a public read (with CORS).
    let reads = [
        ("GET", "/availability?tz=UTC"),
        ("HEAD", "/availability?tz=UTC"),
        ("GET", "/availability/slot?day=1&slot=3"),
        ("HEAD", "/availability/slot?day=1&slot=3"),
        ("GET", "/availability/csv"),
        ("HEAD", "/availability/csv"),
    ];
    let mut burst = b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n".repeat(4);
    for (method, target) in reads {
        burst
            .extend_from_slice(format!("{method} {target} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
    }
    assert_none("429 from the rate limiter", || {
        let mut client = common::Client::connect(addr);
        client.send(&burst);
        for _ in 0..4 {
            let r = client.read_response(false).expect("an answer");
            assert!(matches!(r.status, 200 | 429), "/health: {}", r.status);
        }
        for (method, target) in reads {
            let r = client.read_response(method == "HEAD").expect("an answer");
            assert_eq!(r.status, 429, "{method} {target}");
            assert!(r.header("Retry-After").is_some(), "{method} {target}");
            assert_eq!(
                r.header("Access-Control-Allow-Origin"),
                Some("*"),
                "{method} {target}"
            );
        }
    });
    drop(server);

    let server = common::start_with_hook(|c| c.rate_limit_burst = 0, Some(tag_worker));
    let addr = server.handle.http_addr.expect("http");
    let slot = b"GET /availability/slot?tz=UTC&day=1&slot=3 HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_none("the rate limiter off", || {
        assert_eq!(keep_alive(addr, slot, &[false]), [200]);
    });
}
