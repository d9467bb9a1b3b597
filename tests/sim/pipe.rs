//! The simulation's own model of TCP and epoll, which every other test on it (and the
//! connection fuzzers) trusts: an event only when something changed, a window that
//! bounds what a side may send, a FIN and a close seen as a real socket shows them,
//! accepting at the cap as the listener does, and a clock the server's `Date` follows.

use availability_server::runtime::sim::ClientRead;

use super::{PEER, WINDOW_BYTES, receive, send, server};

const WEEK: &[u8] = b"GET /availability HTTP/1.1\r\nHost: a\r\n\r\n";

#[test]
fn an_event_is_delivered_only_when_something_changed() {
    let (mut s, dir) = server(|_| {});
    let conn = s.worker.connect(PEER, 64).expect("a slot");
    s.worker.notify(&conn);
    assert_eq!(s.worker.events_delivered(), 0, "nothing sent yet");

    send(&mut s, &conn, WEEK);
    assert_eq!(s.worker.events_delivered(), 1, "the request");
    // The week's answer overflows the 64-byte window: the server waits for room.
    s.worker.notify(&conn);
    assert_eq!(
        s.worker.events_delivered(),
        1,
        "no room, nothing new to read"
    );

    let mut got = Vec::new();
    conn.receive_at_most(10, &mut got);
    s.worker.notify(&conn);
    assert_eq!(s.worker.events_delivered(), 2, "room again");
    drop(s);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_window_bounds_what_the_client_sends_and_a_close_ends_it() {
    let (mut s, dir) = server(|_| {});
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
    let _ = std::fs::remove_dir_all(dir);
}

/// A refused request whose body is still coming: the server shuts its write half only.
#[test]
fn a_lingering_close_shows_as_a_shut_write_half_of_an_open_connection() {
    let (mut s, dir) = server(|_| {});
    let conn = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
    send(
        &mut s,
        &conn,
        b"PATCH /availability HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000\r\n\r\n",
    );
    let (text, end) = receive(&mut s, &conn);
    assert!(text.starts_with("HTTP/1.1 413 "), "{text}");
    assert_eq!(end, ClientRead::Eof);
    assert!(conn.server_shut_write(), "our FIN came");
    assert!(!conn.server_closed(), "yet it still reads");
    drop(s);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn accepting_at_the_cap_takes_the_slot_of_a_connection_quiet_long_enough() {
    let (mut s, dir) = server(|c| c.max_connections = 2);
    let first = s.worker.accept(PEER, WINDOW_BYTES).expect("below the cap");
    let second = s.worker.accept(PEER, WINDOW_BYTES).expect("below the cap");
    for conn in [&first, &second] {
        send(&mut s, conn, b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n");
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
    send(&mut s, &third, b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(receive(&mut s, &third).0.starts_with("HTTP/1.1 200 "));
    drop(s);
    let _ = std::fs::remove_dir_all(dir);
}

/// The `Date` header's time of day, in seconds.
fn date_seconds(text: &str) -> u32 {
    let date = text
        .lines()
        .find_map(|l| l.strip_prefix("Date: "))
        .expect("a Date header");
    // "Mon, 07 Dec 2026 05:59:12 GMT"
    let time = date.split(' ').nth(4).expect("a time of day");
    let parts: Vec<u32> = time
        .split(':')
        .map(|p| p.parse().expect("digits"))
        .collect();
    parts[0] * 3600 + parts[1] * 60 + parts[2]
}

#[test]
fn the_date_follows_the_virtual_clock() {
    let (mut s, dir) = server(|_| {});
    let health = b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n";
    let conn = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
    send(&mut s, &conn, health);
    let before = date_seconds(&receive(&mut s, &conn).0);
    s.worker.advance_ms(3_723_400); // 1 h 2 min 3.4 s
    let conn = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
    send(&mut s, &conn, health);
    let after = date_seconds(&receive(&mut s, &conn).0);
    // The clock starts at a whole second, so 3.4 s later is 3 s on the Date.
    assert_eq!(after, (before + 3_723) % 86_400);
    drop(s);
    let _ = std::fs::remove_dir_all(dir);
}
