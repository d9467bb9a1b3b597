//! Lingering close: a connection that refuses a request the client is still
//! sending shuts only its write half and drops what keeps coming, so the client
//! can finish its write and read the refusal instead of meeting a reset.

use availability_server::runtime::sim::{ClientRead, SimConn};
use availability_server::server::SimServer;

use super::{HEALTH, PEER, WINDOW_BYTES, one_cell_patch, receive, send, server};

const OVERSIZED_HEAD: &[u8] =
    b"PATCH /availability HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000\r\n\r\n";

#[test]
fn a_refused_body_is_read_and_dropped_after_the_answer_until_the_client_closes() {
    let mut s = server(|_| {});
    let conn = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
    send(&mut s, &conn, OVERSIZED_HEAD);
    let (text, end) = receive(&mut s, &conn);
    assert!(text.starts_with("HTTP/1.1 413 "), "{text}");
    assert!(text.contains("Connection: close\r\n"), "{text}");
    assert_eq!(end, ClientRead::Eof, "the answer, then our FIN: {text}");
    assert!(conn.server_shut_write(), "our FIN came");
    assert!(!conn.server_closed(), "yet it still reads");
    // The client goes on with its body: every window is taken and dropped.
    let piece = vec![b'x'; WINDOW_BYTES];
    for _ in 0..20 {
        send(&mut s, &conn, &piece);
        assert_eq!(conn.unread_by_server_bytes(), 0, "read and dropped");
    }
    assert_eq!(s.worker.open_connections(), 1, "still lingering");
    conn.shutdown_write();
    s.worker.notify(&conn);
    assert_eq!(s.worker.open_connections(), 0, "closed at the client's FIN");
}

#[test]
fn a_lingering_connection_closes_after_its_time_even_if_the_client_stays() {
    let mut s = server(|_| {});
    let conn = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
    send(&mut s, &conn, OVERSIZED_HEAD);
    let (text, _) = receive(&mut s, &conn);
    assert!(text.starts_with("HTTP/1.1 413 "), "{text}");
    s.worker.advance_ms(1_500);
    assert_eq!(s.worker.open_connections(), 1, "within the linger time");
    s.worker.advance_ms(1_000);
    assert_eq!(
        s.worker.open_connections(),
        0,
        "the linger is bounded in time"
    );
}

#[test]
fn a_lingering_connection_closes_after_its_byte_budget() {
    let mut s = server(|_| {});
    let conn = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
    send(&mut s, &conn, OVERSIZED_HEAD);
    let _ = receive(&mut s, &conn);
    let piece = vec![b'x'; WINDOW_BYTES];
    let mut sent_bytes = 0;
    while s.worker.open_connections() == 1 && sent_bytes < 16 * 1024 * 1024 {
        send(&mut s, &conn, &piece);
        sent_bytes += piece.len();
    }
    assert_eq!(
        s.worker.open_connections(),
        0,
        "the linger is bounded in bytes"
    );
    assert!(
        (8 * 1024 * 1024..=8 * 1024 * 1024 + WINDOW_BYTES).contains(&sent_bytes),
        "closed at 8 MiB: {sent_bytes}"
    );
}

#[test]
fn a_connection_with_nothing_more_to_read_closes_at_once() {
    let mut s = server(|_| {});
    let conn = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
    send(
        &mut s,
        &conn,
        b"GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    let (text, end) = receive(&mut s, &conn);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    assert_eq!(end, ClientRead::Eof);
    assert_eq!(
        s.worker.open_connections(),
        0,
        "no linger without input left"
    );
}

/// The client gets one answer, a 200, and an EOF, not a reset; the server keeps
/// reading until the client closes too.
fn lingers_after_one_200_until_the_client_closes(s: &mut SimServer, conn: &SimConn) {
    let (text, end) = receive(s, conn);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    assert_eq!(text.matches("HTTP/1.1 ").count(), 1, "{text}");
    assert_eq!(end, ClientRead::Eof, "not a reset: {text}");
    assert_eq!(s.worker.open_connections(), 1, "lingering");
    conn.shutdown_write();
    s.worker.notify(conn);
    assert_eq!(s.worker.open_connections(), 0);
}

#[test]
fn a_request_pipelined_after_connection_close_lingers_instead_of_resetting() {
    let mut s = server(|_| {});
    let conn = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
    send(
        &mut s,
        &conn,
        b"GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /health HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    lingers_after_one_200_until_the_client_closes(&mut s, &conn);
}

#[test]
fn a_patch_answered_with_connection_close_closes_at_once() {
    // The writer's reply marks the socket "maybe readable"; with nothing there, the
    // connection must close, not linger.
    let mut s = server(|_| {});
    let conn = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
    send(&mut s, &conn, &one_cell_patch("Connection: close\r\n"));
    assert!(
        s.worker.settle(std::time::Duration::from_secs(10)),
        "the writer replied"
    );
    let (text, end) = receive(&mut s, &conn);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    assert_eq!(end, ClientRead::Eof);
    assert_eq!(s.worker.open_connections(), 0, "closed at once, no linger");
}

#[test]
fn a_patch_answered_with_connection_close_lingers_if_the_client_sent_more_meanwhile() {
    // The worker reads nothing while the writer has the request; the one look after
    // the reply finds the client's next request, so the close must not reset it.
    let mut s = server(|_| {});
    let conn = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
    send(&mut s, &conn, &one_cell_patch("Connection: close\r\n"));
    send(&mut s, &conn, HEALTH);
    assert!(
        s.worker.settle(std::time::Duration::from_secs(10)),
        "the writer replied"
    );
    lingers_after_one_200_until_the_client_closes(&mut s, &conn);
}

/// A body past its deadline gets a 408 while the client may still be sending it: the
/// close lingers like a 413's. At the connection cap it does not, since a newcomer
/// may want the slot at once.
#[test]
fn a_timed_out_body_lingers_below_the_cap_and_closes_at_once_at_it() {
    const HEAD: &[u8] = b"PATCH /availability HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n";
    for (max_connections, lingers) in [(8, true), (1, false)] {
        let mut s = server(|c| {
            c.body_timeout_ms = 1_000;
            c.max_connections = max_connections;
        });
        let conn = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
        send(&mut s, &conn, HEAD);
        send(&mut s, &conn, b"{\"slots\":");
        s.worker.advance_ms(1_100);
        let (text, end) = receive(&mut s, &conn);
        assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
        assert_eq!(end, ClientRead::Eof, "the answer, then our FIN: {text}");
        let open = usize::from(lingers);
        assert_eq!(s.worker.open_connections(), open, "cap {max_connections}");
        if lingers {
            // The rest of the body is taken and dropped, then the client's FIN ends it.
            send(&mut s, &conn, &[b' '; 91]);
            assert_eq!(conn.unread_by_server_bytes(), 0, "read and dropped");
            conn.shutdown_write();
            s.worker.notify(&conn);
            assert_eq!(s.worker.open_connections(), 0, "closed at the client's FIN");
        }
    }
}
