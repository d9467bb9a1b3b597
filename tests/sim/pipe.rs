//! The simulation's own model of TCP and epoll, which every other test on it (and the
//! connection fuzzers) trusts: an event only when something changed, a window that
//! bounds what a side may send, a close seen as a real socket shows it (a lingering
//! close, our FIN with the server still reading, is checked in `linger.rs`),
//! accepting at the cap as the listener does, and a clock the server's `Date` follows.

use super::{HEALTH, PEER, WINDOW_BYTES, receive, send, server};

const WEEK: &[u8] = b"GET /availability HTTP/1.1\r\nHost: a\r\n\r\n";

#[test]
fn an_event_is_delivered_only_when_something_changed() {
    let mut s = server(|_| {});
    let conn = s.worker.connect(PEER, 64).expect("a slot");
    s.worker.notify(&conn);
    assert_eq!(s.worker.events_delivered(), 0, "nothing sent yet");

    send(&mut s, &conn, WEEK);
    assert_eq!(s.worker.events_delivered(), 1, "the request");
    assert_eq!(
        conn.unread_by_client_bytes(),
        64,
        "the answer fills the window"
    );
    // The week's answer overflows the 64-byte window: the server waits for room.
    s.worker.notify(&conn);
    assert_eq!(
        s.worker.events_delivered(),
        1,
        "no room, nothing new to read"
    );

    let mut got = Vec::new();
    conn.receive_at_most(10, &mut got);
    assert_eq!(
        conn.unread_by_client_bytes(),
        54,
        "the server is not told yet"
    );
    s.worker.notify(&conn);
    assert_eq!(s.worker.events_delivered(), 2, "room again");
    assert_eq!(conn.unread_by_client_bytes(), 64, "it filled the room");
}

#[test]
fn the_window_bounds_what_the_client_sends_and_a_close_ends_it() {
    let mut s = server(|_| {});
    let conn = s.worker.connect(PEER, 16).expect("a slot");
    assert_eq!(conn.send(&[b'G'; 100]), 16, "a 16-byte window");
    assert_eq!(conn.send(b"x"), 0, "full until the server reads");
    assert_eq!(conn.unread_by_server_bytes(), 16);
    assert!(!conn.server_shut_write());
    s.worker.notify(&conn);
    assert_eq!(conn.unread_by_server_bytes(), 0, "the server read it");

    let other = s.worker.connect(PEER, 16).expect("a slot");
    other.shutdown_write();
    assert_eq!(other.send(b"GET"), 0, "nothing after our FIN");
    drop(s);
    assert!(conn.server_shut_write() && conn.server_closed());
    assert_eq!(conn.send(b"GET"), 0, "nothing after the server's close");
}

#[test]
fn accepting_at_the_cap_takes_the_slot_of_a_connection_quiet_long_enough() {
    let mut s = server(|c| c.max_connections = 2);
    let first = s.worker.accept(PEER, WINDOW_BYTES).expect("below the cap");
    let second = s.worker.accept(PEER, WINDOW_BYTES).expect("below the cap");
    for conn in [&first, &second] {
        send(&mut s, conn, HEALTH);
        let (text, _) = receive(&mut s, conn);
        assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    }
    assert!(
        s.worker.accept(PEER, WINDOW_BYTES).is_none(),
        "both just answered: the newcomer waits in the backlog"
    );
    assert_eq!(s.worker.slot_reuses(), 0);
    s.worker.advance_ms(1_500);
    let third = s
        .worker
        .accept(PEER, WINDOW_BYTES)
        .expect("a quiet one made room");
    assert_eq!(s.worker.slot_reuses(), 1);
    assert_eq!(
        [first.server_closed(), second.server_closed()],
        [true, false],
        "the one quiet longest"
    );
    send(&mut s, &third, HEALTH);
    assert!(receive(&mut s, &third).0.starts_with("HTTP/1.1 200 "));
}

/// The `Date` header's time, in Unix seconds.
fn date_unix_secs(text: &str) -> i64 {
    let date = text
        .lines()
        .find_map(|l| l.strip_prefix("Date: "))
        .expect("a Date header");
    chrono::DateTime::parse_from_rfc2822(date)
        .unwrap_or_else(|e| panic!("Date {date:?} is not an HTTP date: {e}"))
        .timestamp()
}

#[test]
fn the_date_follows_the_virtual_clock() {
    let mut s = server(|_| {});
    let conn = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
    send(&mut s, &conn, HEALTH);
    let before = date_unix_secs(&receive(&mut s, &conn).0);
    s.worker.advance_ms(3_723_400); // 1 h 2 min 3.4 s
    let conn = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
    send(&mut s, &conn, HEALTH);
    let after = date_unix_secs(&receive(&mut s, &conn).0);
    // The clock starts at a whole second, so 3.4 s later is 3 s on the Date.
    assert_eq!(after - before, 3_723);
}
