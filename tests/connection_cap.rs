//! The connection cap (`--max-connections`, here 4 on one worker): a newcomer takes
//! the slot of the connection that has been quiet longest, once that one has been quiet
//! for a second, else of a stalled one (a slowloris head); with every connection busy
//! it waits in the kernel's backlog instead of failing; the admin listener answers from
//! slots of its own and never takes a public connection's.

mod common;
#[path = "connection_cap/edges.rs"]
mod edges;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{Client, read_until_closed};

/// A cap of 4, and room for the long heads tricklers send.
fn cap_of_4(config: &mut availability_server::config::Config) {
    config.workers = 1;
    config.max_connections = 4;
    config.max_head_bytes = 64 * 1024;
}

/// One worker with a cap of `max_connections`, and an admin listener (its address).
fn start_with_admin(max_connections: usize) -> (common::TestServer, SocketAddr) {
    let server = common::start(|c| {
        cap_of_4(c);
        c.max_connections = max_connections;
        common::with_admin(c);
    });
    let admin = server.admin();
    (server, admin)
}

/// Whether a response arrives on `stream` within `wait`.
fn responds_within(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).expect("timeout");
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(n) => n > 0,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(e) => panic!("the waiting connection failed: {e}"),
    }
}

/// How long a connection must have been quiet before a newcomer may take its slot.
const MIN_QUIET: Duration = Duration::from_millis(1000);

/// `count` connections to `addr` that each had one answer and stay open, idle, the
/// first the longest (`gap` apart: the server's clock counts milliseconds).
fn idle_clients(addr: SocketAddr, count: usize, gap: Duration) -> Vec<Client> {
    (0..count)
        .map(|_| {
            let mut client = Client::connect(addr);
            assert_eq!(client.get("/health").status, 200);
            std::thread::sleep(gap);
            client
        })
        .collect()
}

/// Four idle connections, 20 ms apart.
fn four_idle(addr: SocketAddr) -> Vec<Client> {
    idle_clients(addr, 4, Duration::from_millis(20))
}

/// A connection sending its request head at about 2 KB/s (one header value growing by
/// 40 bytes every 20 ms): busy, and not stalled (that is under 1 KB/s), until
/// `finish` ends the head.
struct Trickler {
    stream: TcpStream,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Trickler {
    fn start(addr: SocketAddr) -> Trickler {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Pad: ")
            .expect("send");
        let stop = Arc::new(AtomicBool::new(false));
        let mut writer = stream.try_clone().expect("clone");
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Acquire) {
                if writer.write_all(&[b'a'; 40]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Trickler {
            stream,
            stop,
            thread: Some(thread),
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("trickler");
        }
    }

    /// Ends the head; the answer follows on the returned stream.
    fn finish(mut self) -> TcpStream {
        self.stop();
        let mut stream = self.stream.try_clone().expect("clone");
        stream.write_all(b"\r\n\r\n").expect("finish the head");
        stream
    }
}

impl Drop for Trickler {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Four connections each with part of a request head sent, and then nothing: stalled
/// after a second.
fn four_stalled(addr: SocketAddr) -> Vec<TcpStream> {
    (0..4)
        .map(|_| {
            let mut stream = TcpStream::connect(addr).expect("connect");
            stream
                .write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n")
                .expect("send");
            stream
        })
        .collect()
}

/// A fifth connection, its whole request sent.
fn fifth(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("the kernel accepts it");
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .expect("send");
    stream
}

/// Whether the server closed `stream` (with nothing more to read) within 2 s.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let (got, _) = read_until_closed(stream, Duration::from_secs(2));
    got.is_empty()
}

fn reuses(admin: SocketAddr) -> u64 {
    common::get(admin, "/metrics")
        .text()
        .lines()
        .filter(|l| l.starts_with("availability_slot_reuses_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn at_the_cap_a_newcomer_takes_the_slot_of_the_longest_idle_connection() {
    let (server, admin) = start_with_admin(4);
    let mut held = four_idle(server.addr);
    assert_eq!(reuses(admin), 0);
    std::thread::sleep(MIN_QUIET + Duration::from_millis(100));
    let mut newcomer = fifth(server.addr);
    assert!(
        responds_within(&mut newcomer, Duration::from_secs(2)),
        "the newcomer was kept waiting by idle connections"
    );
    assert!(
        closed_by_server(&mut held[0].stream),
        "the longest idle connection made room"
    );
    for (i, client) in held.iter_mut().enumerate().skip(1) {
        assert_eq!(client.get("/health").status, 200, "idle connection {i}");
    }
    assert_eq!(reuses(admin), 1);
}

#[test]
fn at_the_cap_with_every_connection_busy_a_newcomer_waits_for_a_quiet_one() {
    let server = common::start(cap_of_4);
    let mut busy: Vec<Trickler> = (0..4).map(|_| Trickler::start(server.addr)).collect();
    let mut newcomer = fifth(server.addr);
    // Past the second after which a slower head would count as stalled.
    assert!(
        !responds_within(&mut newcomer, Duration::from_millis(1500)),
        "a fifth connection was served while four requests were arriving"
    );
    // The first finishes its request and idles: once it has been quiet for a second,
    // the newcomer takes its slot.
    let mut first = busy.remove(0).finish();
    assert!(responds_within(&mut first, Duration::from_secs(2)));
    let started = Instant::now();
    assert!(
        responds_within(&mut newcomer, Duration::from_secs(3)),
        "the newcomer was not served once a connection went idle"
    );
    let waited = started.elapsed();
    assert!(
        waited > MIN_QUIET - Duration::from_millis(150) && waited < MIN_QUIET * 2,
        "served {waited:?} after a connection went idle"
    );
    let (rest, _) = read_until_closed(&mut newcomer, Duration::from_secs(2));
    assert!(String::from_utf8_lossy(&rest).starts_with("TTP/1.1 200 "));
    let (_, _) = read_until_closed(&mut first, Duration::from_secs(2));
    // The others' requests were left alone and still complete.
    for (i, trickler) in busy.into_iter().enumerate() {
        let mut stream = trickler.finish();
        assert!(
            responds_within(&mut stream, Duration::from_secs(2)),
            "busy {i}"
        );
    }
}

#[test]
fn at_the_cap_a_stalled_connection_makes_room_when_none_is_quiet() {
    let (server, admin) = start_with_admin(4);
    let mut stalled = four_stalled(server.addr);
    let sent = Instant::now();
    let mut newcomer = fifth(server.addr);
    assert!(responds_within(&mut newcomer, Duration::from_secs(3)));
    let waited = sent.elapsed();
    assert!(
        waited > Duration::from_millis(900) && waited < Duration::from_millis(2500),
        "a stalled head was cut off after {waited:?}, not about a second"
    );
    // Exactly one was cut off, with a 408; the others are still open.
    let mut cut = 0;
    for stream in &mut stalled {
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let mut got = Vec::new();
        match stream.read_to_end(&mut got) {
            Ok(_) => {
                cut += 1;
                let text = String::from_utf8_lossy(&got);
                assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                assert!(got.is_empty());
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(cut, 1);
    assert_eq!(reuses(admin), 1);
}

#[test]
fn at_the_cap_a_freed_slot_lets_a_waiting_newcomer_in() {
    let server = common::start(cap_of_4);
    let mut busy: Vec<Trickler> = (0..4).map(|_| Trickler::start(server.addr)).collect();
    let mut newcomer = fifth(server.addr);
    assert!(!responds_within(&mut newcomer, Duration::from_millis(400)));
    drop(busy.pop());
    assert!(
        responds_within(&mut newcomer, Duration::from_secs(2)),
        "the fifth connection was served once a slot freed"
    );
}

/// At the cap the admin listener still answers, from slots kept for it, and takes
/// no public connection's slot.
#[test]
fn at_the_connection_cap_the_admin_listener_still_answers() {
    let (server, admin) = start_with_admin(4);
    let mut held = four_idle(server.addr);
    // Quiet long enough that a public newcomer could take their slots.
    std::thread::sleep(MIN_QUIET + Duration::from_millis(100));
    for path in ["/health", "/ready", "/metrics"] {
        let started = Instant::now();
        assert_eq!(common::get(admin, path).status, 200, "{path}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{path} took {:?}",
            started.elapsed()
        );
    }
    for (i, client) in held.iter_mut().enumerate() {
        assert_eq!(client.get("/health").status, 200, "idle connection {i}");
    }
    assert_eq!(reuses(admin), 0);
}

/// Past one scan's batch (32): 40 newcomers at a cap of 64 idle connections take the
/// slots of the 40 that idled first, in that order, and the other 24 stay.
#[test]
fn newcomers_at_the_cap_take_the_longest_idle_slots_in_order() {
    let (server, admin) = start_with_admin(64);
    let mut held = idle_clients(server.addr, 64, Duration::from_millis(3));
    std::thread::sleep(MIN_QUIET + Duration::from_millis(100));
    // Each newcomer stays (kept alive), so the cap stays reached.
    let mut newcomers = Vec::new();
    for (n, oldest) in held.iter_mut().take(40).enumerate() {
        let mut newcomer = Client::connect(server.addr);
        assert_eq!(newcomer.get("/health").status, 200, "newcomer {n}");
        assert!(closed_by_server(&mut oldest.stream), "idle connection {n}");
        newcomers.push(newcomer);
    }
    for (i, client) in held.iter_mut().enumerate().skip(40) {
        assert_eq!(client.get("/health").status, 200, "idle connection {i}");
    }
    assert_eq!(reuses(admin), 40);
}
