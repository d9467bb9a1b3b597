//! Buffer reclaiming (a worker short of I/O buffers cuts off the slowest stalled
//! holder), on the virtual clock. The write deadline is in `write_deadline.rs`.

use std::time::Duration;

use availability_server::runtime::sim::{ClientRead, SimConn};
use availability_server::server::SimServer;

use super::common;
use super::{HEALTH, PEER, Sim, WINDOW_BYTES, receive, send, server, server_with_buffers};

/// Every one of the worker's 1,024 I/O buffers held by `holders` connections that
/// each sent `first_bytes` at virtual time 0 (`window_bytes` each way); then a
/// newcomer sends a whole request at 300 ms and must wait for a buffer.
fn every_buffer_held(first_bytes: &[u8], window_bytes: usize) -> (Sim, Vec<SimConn>, SimConn) {
    const BUFFERS: usize = 1_024; // src/server/mod.rs: MAX_BUFFERS_PER_WORKER
    let mut s = server(|c| c.max_connections = BUFFERS + 16);
    let holders: Vec<SimConn> = (0..BUFFERS)
        .map(|_| {
            let conn = s.worker.connect(PEER, window_bytes).expect("a slot");
            send(&mut s, &conn, first_bytes);
            conn
        })
        .collect();
    s.worker.advance_ms(300);
    let newcomer = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
    send(&mut s, &newcomer, HEALTH);
    assert_eq!(
        receive(&mut s, &newcomer),
        (String::new(), ClientRead::Open)
    );
    (s, holders, newcomer)
}

/// A worker given two buffers (as the connection-cap fuzzer's is) has only two: with
/// both held by stalled heads, a third connection's request waits until a holder has
/// stalled for a second and is cut off for it.
#[test]
fn a_worker_given_two_buffers_makes_a_third_request_wait_for_one() {
    let mut s = server_with_buffers(|c| c.max_connections = 8, Some(2));
    let _holders: Vec<SimConn> = (0..2)
        .map(|_| {
            let conn = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
            send(&mut s, &conn, b"GET /health HTTP/1.1\r\nHost: x\r\n");
            conn
        })
        .collect();
    s.worker.advance_ms(300);
    let newcomer = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
    send(&mut s, &newcomer, HEALTH);
    s.worker.advance_ms(600);
    assert_eq!(
        receive(&mut s, &newcomer),
        (String::new(), ClientRead::Open),
        "no buffer for it yet"
    );
    s.worker.advance_ms(200);
    let (text, _) = receive(&mut s, &newcomer);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    assert_eq!(s.worker.buffer_reclaims(), 1);
}

#[test]
fn a_trickled_head_on_the_last_buffer_is_cut_off_after_a_second_for_a_waiting_request() {
    let (mut s, holders, newcomer) =
        every_buffer_held(b"GET /health HTTP/1.1\r\nHost: x\r\n", WINDOW_BYTES);
    // No holder has stalled for a second yet: nobody is cut off, the newcomer waits.
    s.worker.advance_ms(600);
    assert_eq!(
        receive(&mut s, &newcomer),
        (String::new(), ClientRead::Open)
    );
    assert_eq!(s.worker.buffer_reclaims(), 0);
    // At 1,100 ms the heads sent at 0 have stalled for over a second: one of them
    // gets a 408 and the close, and its buffer answers the newcomer.
    s.worker.advance_ms(200);
    let (text, end) = receive(&mut s, &newcomer);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    assert_eq!(end, ClientRead::Open);
    let mut cut_off = 0;
    for conn in &holders {
        match receive(&mut s, conn) {
            (text, ClientRead::Open) => assert_eq!(text, ""),
            (text, end) => {
                assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
                assert_eq!(end, ClientRead::Eof);
                cut_off += 1;
            }
        }
    }
    assert_eq!(cut_off, 1, "one stalled holder per waiting request");
    assert_eq!(s.worker.buffer_reclaims(), 1);
    assert_eq!(s.worker.open_connections(), holders.len());
}

#[test]
fn an_unread_answer_on_the_last_buffer_is_cut_off_after_a_second_for_a_waiting_request() {
    // A 64-byte window: every holder's answer blocks after its first 64 bytes.
    let (mut s, holders, newcomer) = every_buffer_held(HEALTH, 64);
    s.worker.advance_ms(600);
    assert_eq!(
        receive(&mut s, &newcomer),
        (String::new(), ClientRead::Open)
    );
    s.worker.advance_ms(200);
    let (text, _) = receive(&mut s, &newcomer);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    // The cut-off reader had the first 64 bytes of its answer, then the close.
    let ends: Vec<ClientRead> = holders
        .iter()
        .map(|conn| {
            let mut got = Vec::new();
            conn.receive(&mut got)
        })
        .collect();
    assert_eq!(ends.iter().filter(|&&e| e == ClientRead::Eof).count(), 1);
    assert_eq!(s.worker.buffer_reclaims(), 1);
}

#[test]
fn a_steady_upload_is_not_cut_off_while_trickled_heads_hold_the_other_buffers() {
    const BUFFERS: usize = 1_024;
    let mut s = server(|c| c.max_connections = BUFFERS + 16);
    // A PATCH whose 16,000-byte body arrives at 4 KB/s, begun before any slow head:
    // by phase age it would be the first to go, by progress it must be the last.
    let json = br#"{"slots":[{"day":2,"time":"14:00","status":"maybe"}]}"#;
    let mut body = json.to_vec();
    body.resize(16_000, b' ');
    let uploader = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
    let head = format!(
        "PATCH /availability HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\n\r\n",
        common::API_KEY,
        body.len()
    );
    send(&mut s, &uploader, head.as_bytes());
    let mut sent = 0;
    let step = |s: &mut SimServer, sent: &mut usize| {
        let end = (*sent + 400).min(body.len());
        send(s, &uploader, &body[*sent..end]);
        *sent = end;
        s.worker.advance_ms(100);
    };
    step(&mut s, &mut sent);
    let holders: Vec<SimConn> = (1..BUFFERS)
        .map(|_| {
            let conn = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
            send(&mut s, &conn, b"GET /health HTTP/1.1\r\nHost: x\r\n");
            conn
        })
        .collect();
    step(&mut s, &mut sent);
    step(&mut s, &mut sent);
    let newcomer = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
    send(&mut s, &newcomer, HEALTH);
    while s.worker.buffer_reclaims() == 0 {
        assert!(s.worker.now_ms() < 1_500, "a slow head is cut off by then");
        step(&mut s, &mut sent);
    }
    let (text, _) = receive(&mut s, &newcomer);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    assert_eq!(
        receive(&mut s, &uploader),
        (String::new(), ClientRead::Open),
        "the upload carries on"
    );
    let cut_off = holders
        .iter()
        .filter(|c| receive(&mut s, c).1 != ClientRead::Open)
        .count();
    assert_eq!(cut_off, 1);
    while sent < body.len() {
        step(&mut s, &mut sent);
    }
    assert!(
        s.worker.settle(Duration::from_secs(10)),
        "the writer answers"
    );
    let (text, _) = receive(&mut s, &uploader);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
}

#[test]
fn a_cut_off_whose_408_does_not_fit_closes_and_frees_one_buffer_per_waiter() {
    // The length of a /health answer, so that each holder's window is exactly full
    // after one: the 408 for its next, trickled, head cannot be written.
    let mut probe = server(|_| {});
    let conn = probe.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
    send(&mut probe, &conn, HEALTH);
    let answer_bytes = receive(&mut probe, &conn).0.len();
    drop(probe);

    let (mut s, holders, newcomer) = every_buffer_held(
        b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHo",
        answer_bytes,
    );
    s.worker.advance_ms(800); // 1,100 ms: the trickled heads are due
    let (text, _) = receive(&mut s, &newcomer);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    assert_eq!(s.worker.buffer_reclaims(), 1, "one holder for one waiter");
    assert_eq!(s.worker.open_connections(), holders.len());
}

#[test]
fn a_trickle_of_tiny_pipelined_requests_is_still_a_trickle() {
    // Each holder completes a request every 900 ms, always with the next one begun,
    // so its head clock restarts before any second passes: about 40 B/s.
    let first = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nG";
    let (mut s, holders, newcomer) = every_buffer_held(first, WINDOW_BYTES);
    s.worker.advance_ms(600); // 900 ms
    for conn in &holders {
        send(&mut s, conn, b"ET /health HTTP/1.1\r\nHost: x\r\n\r\nG");
    }
    s.worker.advance_ms(300); // 1,200 ms: under 1 KB/s for over a second
    let (text, _) = receive(&mut s, &newcomer);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    assert_eq!(s.worker.buffer_reclaims(), 1);
}

#[test]
fn a_steady_reader_of_a_long_answer_is_not_cut_off_while_the_socket_reports_no_room() {
    // Each holder's week answer (23 KB) blocks after its 4 KB window. The client then
    // takes 400 bytes every 100 ms, but the worker is not told (the kernel reports room
    // only once a third of the send buffer has drained): only the socket's queue of
    // unacknowledged bytes shows the reading.
    let (mut s, holders, newcomer) = every_buffer_held(
        b"GET /availability?tz=Asia/Tokyo HTTP/1.1\r\nHost: x\r\n\r\n",
        4096,
    );
    let mut got = Vec::new();
    for _ in 0..12 {
        for conn in &holders {
            conn.receive_at_most(400, &mut got);
        }
        s.worker.advance_ms(100);
    }
    assert_eq!(
        got.len(),
        holders.len() * 4096,
        "each took its whole window, 400 B a time"
    );
    // 1,500 ms: every holder has stalled on the socket's "room" for over a second, but
    // each reads 4 KB/s: none is cut off, and the newcomer waits.
    assert_eq!(s.worker.buffer_reclaims(), 0);
    assert_eq!(
        receive(&mut s, &newcomer),
        (String::new(), ClientRead::Open)
    );
}

/// As above, but the kernel reports the room (the worker sends more each time): what
/// it sent counts too, so 4 KB/s is still no stall.
#[test]
fn a_steady_reader_told_of_room_each_time_is_not_cut_off_either() {
    let (mut s, holders, newcomer) = every_buffer_held(
        b"GET /availability?tz=Asia/Tokyo HTTP/1.1\r\nHost: x\r\n\r\n",
        4096,
    );
    let mut got = Vec::new();
    for _ in 0..12 {
        for conn in &holders {
            conn.receive_at_most(400, &mut got);
            s.worker.notify(conn);
        }
        s.worker.advance_ms(100);
    }
    assert_eq!(got.len(), holders.len() * 12 * 400);
    assert_eq!(s.worker.buffer_reclaims(), 0, "1,500 ms at 4 KB/s");
    assert_eq!(
        receive(&mut s, &newcomer),
        (String::new(), ClientRead::Open)
    );
}
