//! SPEC §4: `/ready` is 503 while starting. The admin listener is bound first and
//! answers "starting" while the binary hashes its key and builds the first snapshot;
//! a probe never meets a refused connection once it has had an answer, and sees 200
//! once the server serves.

mod common;
#[path = "common/running.rs"]
mod running;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// What one `GET /ready` on a fresh connection met.
#[derive(Debug, PartialEq)]
enum Probe {
    Refused,
    Answered(u16, String),
}

fn probe(addr: SocketAddr, path: &str) -> Probe {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return Probe::Refused;
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw[9..12].parse().unwrap();
    let body = raw.split_once("\r\n\r\n").unwrap().1.to_string();
    Probe::Answered(status, body)
}

#[test]
fn ready_is_503_starting_until_the_server_serves() {
    let dir = common::temp_dir("starting");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let admin: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let admin_flag = admin.to_string();
    // Hashing API_KEY at cost 13 takes a few hundred ms: a start slow enough to probe.
    let server = running::spawn(
        &[
            "--data-dir",
            dir.to_str().unwrap(),
            "--no-tls",
            "--http-listen",
            "127.0.0.1:0",
            "--admin-listen",
            &admin_flag,
            "--bcrypt-cost",
            "13",
        ],
        &[("API_KEY", "k")],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    let mut health_while_starting = None;
    let mut first_starting = None;
    let starting_for = loop {
        assert!(Instant::now() < deadline, "never ready: {seen:?}");
        let p = probe(admin, "/ready");
        if p == Probe::Answered(503, r#"{"status":"starting"}"#.into()) && first_starting.is_none()
        {
            first_starting = Some(Instant::now());
            health_while_starting = Some(probe(admin, "/health"));
        }
        let ready = matches!(p, Probe::Answered(200, _));
        if seen.last() != Some(&p) {
            seen.push(p);
        }
        if ready {
            break first_starting.map(|t| t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // Refused only before the binary got as far as binding (its first microseconds),
    // then "starting", then ready: nothing else, in that order.
    let answers: Vec<&Probe> = seen.iter().skip_while(|p| **p == Probe::Refused).collect();
    assert_eq!(
        answers,
        [
            &Probe::Answered(503, r#"{"status":"starting"}"#.into()),
            &Probe::Answered(200, r#"{"status":"ready"}"#.into()),
        ],
        "{seen:?}"
    );
    // Not only the instant between binding the public listeners and the workers'
    // start: the whole key hashing (bcrypt at cost 13: ~0.5 s here).
    let starting_for = starting_for.expect("seen above");
    assert!(
        starting_for >= Duration::from_millis(100),
        "\"starting\" for only {starting_for:?}: bound after the slow part?"
    );
    assert_eq!(
        health_while_starting,
        Some(Probe::Answered(200, r#"{"status":"ok"}"#.into())),
        "liveness holds while starting"
    );
    server.wait_for("ready", Duration::from_secs(10));
    // The listener the workers took over is the same one: still answering.
    assert!(matches!(probe(admin, "/metrics"), Probe::Answered(200, _)));
}
