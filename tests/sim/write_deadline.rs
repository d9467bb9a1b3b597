//! The write deadline on the virtual clock: a client that stops taking an answer is
//! cut off between 1 and 1.25 write timeouts after it last took bytes, judged by what
//! it acknowledged (a kernel reports room in lumps), looked at every quarter timeout.

use availability_server::runtime::sim::SimConn;
use availability_server::server::SimServer;

use super::{HEALTH, PEER, declared_and_received_body_bytes, send, server};

/// A connection whose week answer (23 KB) blocks after its 4 KB window.
fn blocked_week(s: &mut SimServer) -> SimConn {
    let conn = s.worker.connect(PEER, 4096).expect("a slot");
    ask_week(s, &conn);
    conn
}

fn ask_week(s: &mut SimServer, conn: &SimConn) {
    send(
        s,
        conn,
        b"GET /availability?tz=Asia/Tokyo HTTP/1.1\r\nHost: x\r\n\r\n",
    );
}

/// Moves the clock to `at_ms` (or just past) a tick at a time, as the event loop
/// wakes at least every 100 ms.
fn tick_until(s: &mut SimServer, at_ms: u64) {
    while s.worker.now_ms() < at_ms {
        s.worker.advance_ms(100);
    }
}

#[test]
fn the_write_deadline_spares_a_reader_who_reads_what_is_queued_and_cuts_one_who_stops() {
    let mut s = server(|_| {});
    // The week answer (23 KB) blocks after a 4 KB window; the client then takes 100
    // bytes a second, and the worker is never told (no room reported, as a kernel
    // does in lumps): only the acknowledged bytes show the reading.
    let conn = blocked_week(&mut s);
    let mut got = Vec::new();
    for _ in 0..25 {
        conn.receive_at_most(100, &mut got);
        s.worker.advance_ms(1_000);
    }
    assert_eq!(got.len(), 2_500);
    assert_eq!(
        s.worker.open_connections(),
        1,
        "25 s, past two write deadlines"
    );
    // It stops reading: the next deadline with nothing acknowledged cuts it off.
    for _ in 0..21 {
        s.worker.advance_ms(1_000);
    }
    assert_eq!(s.worker.open_connections(), 0);
}

#[test]
fn a_reader_who_stops_is_cut_off_within_a_quarter_timeout_of_the_write_timeout() {
    let mut s = server(|c| c.write_timeout_ms = 4_000);
    let conn = blocked_week(&mut s);
    // It takes a few bytes early on (unannounced, as a kernel reports room in lumps),
    // then nothing more.
    s.worker.advance_ms(200);
    let mut got = Vec::new();
    conn.receive_at_most(100, &mut got);
    let last_read_ms = s.worker.now_ms();
    // One timeout after that read it may still be open; by 1.25 it must be gone. (A
    // check only at every full timeout let it stay until about 2.)
    tick_until(&mut s, last_read_ms + 3_900);
    assert_eq!(s.worker.open_connections(), 1, "not before one timeout");
    tick_until(&mut s, last_read_ms + 5_000 + 100);
    assert_eq!(
        s.worker.open_connections(),
        0,
        "cut off by 1.25 timeouts after the last read"
    );
}

/// The schedule behind that bound: a blocked answer is looked at every quarter of the
/// write timeout — not at every tick (a wake-up per 100 ms for each blocked answer),
/// not only at the cut-off (which let a reader that stops stay about two timeouts) —
/// and is cut off the moment a whole timeout has passed since the look that last saw
/// bytes taken.
#[test]
fn a_blocked_answer_is_looked_at_each_quarter_and_cut_off_at_the_deadline_itself() {
    let mut s = server(|c| c.write_timeout_ms = 4_000);
    let conn = blocked_week(&mut s);
    let mut got = Vec::new();
    // Reads at 0.2 s and 1.2 s; the looks at 1 s and 2 s see them.
    for read_at_ms in [200, 1_200] {
        tick_until(&mut s, read_at_ms);
        conn.receive_at_most(100, &mut got);
    }
    while s.worker.now_ms() < 5_900 {
        s.worker.advance_ms(100);
        assert_eq!(
            s.worker.open_connections(),
            1,
            "at {} ms: the look at 2 s saw bytes taken, so the cut-off is at 6 s",
            s.worker.now_ms()
        );
    }
    s.worker.advance_ms(100);
    assert_eq!(s.worker.open_connections(), 0, "cut off at 6 s");
}

/// A client that stops reading an answer but goes on sending (pipelined requests, a
/// byte at a time) still has its answer cut off at the write timeout: bytes it sends
/// are not bytes it took.
#[test]
fn a_client_that_sends_but_never_reads_is_cut_off_at_the_write_timeout() {
    let mut s = server(|c| c.write_timeout_ms = 4_000);
    let conn = blocked_week(&mut s);
    for (i, byte) in HEALTH.iter().enumerate() {
        assert_eq!(
            s.worker.open_connections(),
            1,
            "at {} ms",
            s.worker.now_ms()
        );
        send(&mut s, &conn, std::slice::from_ref(byte));
        s.worker.advance_ms(if i == 0 { 3_900 } else { 100 });
        if s.worker.now_ms() >= 4_000 {
            break;
        }
    }
    assert_eq!(s.worker.now_ms(), 4_000);
    assert_eq!(
        s.worker.open_connections(),
        0,
        "cut off at the write timeout"
    );
}

/// Each blocked answer is judged by what the client took of it: a connection whose
/// first answer was read slowly for a while starts its second one from nothing, not
/// from the bytes it took of the first (with that bar kept, a client reading the
/// second as steadily, but fewer bytes in all, was cut off).
#[test]
fn a_second_blocked_answer_on_the_connection_is_judged_by_its_own_progress() {
    let mut s = server(|c| c.write_timeout_ms = 4_000);
    let conn = blocked_week(&mut s);
    // The first answer: 100 bytes every half second for 10 s (2,000 bytes seen by
    // the looks, unannounced), then the rest in bulk.
    let mut first = Vec::new();
    for _ in 0..20 {
        conn.receive_at_most(100, &mut first);
        s.worker.advance_ms(500);
    }
    for _ in 0..100 {
        conn.receive(&mut first);
        s.worker.notify(&conn);
        let (declared, received) =
            declared_and_received_body_bytes(&String::from_utf8_lossy(&first));
        if received >= declared {
            break;
        }
    }
    let text = String::from_utf8(first).expect("UTF-8 answer");
    let (declared, received) = declared_and_received_body_bytes(&text);
    assert_eq!(declared, received, "the first answer, whole");
    // The second blocks after the window too; the client now takes 50 bytes every
    // half second: steady, and 1,000 bytes in 10 s — fewer than it took of the first.
    ask_week(&mut s, &conn);
    let mut second = Vec::new();
    for _ in 0..20 {
        conn.receive_at_most(50, &mut second);
        s.worker.advance_ms(500);
        assert_eq!(
            s.worker.open_connections(),
            1,
            "at {} ms: the client is reading the second answer",
            s.worker.now_ms()
        );
    }
    assert_eq!(second.len(), 1_000);
}
