//! Timers firing inside the counted window (short timeouts, so that they fire
//! within a pass): a partial head answered 408, a silent connection and an idle
//! keep-alive one closed, and a paused reader checked and then cut off by the
//! write timeout.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::common;
use super::{ONE_AT_A_TIME, WORKER_ALLOCS, read_one, tag_worker};

/// Header, idle and write timeout; the timer wheel ticks every 100 ms.
const SHORT_TIMEOUT_MS: u64 = 300;
/// Long past every timeout (the write cut-off comes within 1.25 of it, plus a
/// tick), with room for a loaded machine.
const WAIT_PAST_TIMEOUTS_MS: u64 = 1500;
/// Week answers pipelined by the paused reader: ~14 MB, more than the sockets'
/// buffers hold, so the server's write blocks.
const PIPELINED_WEEKS: usize = 600;
const WEEK: &[u8] = b"GET /availability?tz=Europe/London HTTP/1.1\r\nHost: a\r\n\r\n";
/// How long any one read or write of the test may take.
const IO_LIMIT: Duration = Duration::from_secs(10);

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(IO_LIMIT)).expect("timeout");
    s.set_write_timeout(Some(IO_LIMIT)).expect("timeout");
    s
}

/// One pass: every kind of timer fires once, on connections opened here.
fn pass(addr: SocketAddr, week_len_bytes: usize) {
    let mut partial = connect(addr);
    partial
        .write_all(b"GET /health HTTP/1.1\r\nHost: a\r\n")
        .expect("send");
    let mut silent = connect(addr);
    let mut idle = connect(addr);
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("send");
    assert_eq!(read_one(&mut idle, &mut Vec::new(), false), 200);
    let mut paused = connect(addr);
    paused
        .write_all(&WEEK.repeat(PIPELINED_WEEKS))
        .expect("send");
    std::thread::sleep(Duration::from_millis(WAIT_PAST_TIMEOUTS_MS));

    let got = common::read_until_closed(&mut partial, IO_LIMIT).0;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408 "), "partial head: {text}");
    assert!(text.contains("\"request_timeout\""), "partial head: {text}");
    assert!(
        common::read_until_closed(&mut silent, IO_LIMIT)
            .0
            .is_empty(),
        "silent"
    );
    assert!(
        common::read_until_closed(&mut idle, IO_LIMIT).0.is_empty(),
        "idle"
    );
    let got_bytes = common::read_until_closed(&mut paused, IO_LIMIT).0.len();
    assert!(
        got_bytes < PIPELINED_WEEKS * week_len_bytes,
        "the paused reader got all {got_bytes} bytes: the write timeout never cut it off"
    );
}

#[test]
fn workers_do_not_allocate_when_timers_fire() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let server = common::start_with_hook(
        |c| {
            c.header_timeout_ms = SHORT_TIMEOUT_MS;
            c.idle_timeout_ms = SHORT_TIMEOUT_MS;
            c.write_timeout_ms = SHORT_TIMEOUT_MS;
            c.rate_limit_burst = 1_000_000;
            c.rate_limit_per_s = 1_000_000;
        },
        Some(tag_worker),
    );
    let addr = server.handle.http_addr.expect("http");
    let week_len_bytes = common::get(addr, "/availability?tz=Europe/London")
        .body
        .len();
    pass(addr, week_len_bytes); // warm-up
    WORKER_ALLOCS.store(0, Ordering::SeqCst);
    const COUNTED_PASSES: usize = 3;
    for _ in 0..COUNTED_PASSES {
        pass(addr, week_len_bytes);
    }
    let n = WORKER_ALLOCS.load(Ordering::SeqCst);
    assert_eq!(
        n, 0,
        "{n} worker allocations over {COUNTED_PASSES} passes of firing timers"
    );
}
