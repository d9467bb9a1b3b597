//! Request framing across reads: a body that arrives in pieces is decoded as it
//! comes, and the next request on the connection starts afresh.

use std::time::Duration;

use availability_server::runtime::sim::{ClientRead, SimConn};
use availability_server::server::SimServer;

use super::common;
use super::{PEER, WINDOW_BYTES, receive, send, server};

/// `body` as chunks of 1, 2 and 3 bytes in turn, each with a chunk extension.
fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    for len in [1, 2, 3].into_iter().cycle() {
        if at == body.len() {
            break;
        }
        let piece = &body[at..(at + len).min(body.len())];
        out.extend_from_slice(format!("{:x};ext=\"v\"\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
        at += piece.len();
    }
    out.extend_from_slice(b"0\r\nTrailer-Field: x\r\n\r\n");
    out
}

/// Waits for the writer, then expects the PATCH's 200 with this generation.
fn expect_write_answered(s: &mut SimServer, conn: &SimConn, generation: u64) {
    assert!(
        s.worker.settle(Duration::from_secs(10)),
        "the writer replied"
    );
    let (text, _) = receive(s, conn);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    assert!(
        text.contains(&format!("\"generation\":{generation}")),
        "{text}"
    );
}

fn chunked_patch(body: &[u8]) -> Vec<u8> {
    let head = format!(
        "PATCH /availability HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        common::API_KEY
    );
    [head.as_bytes(), &chunked(body)].concat()
}

#[test]
fn a_chunked_body_sent_a_byte_at_a_time_is_decoded_whole_and_the_next_starts_afresh() {
    let mut s = server(|_| {});
    let conn = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
    let first = chunked_patch(br#"{"slots":[{"day":2,"time":"14:00","status":"maybe"}]}"#);
    for byte in &first {
        send(&mut s, &conn, std::slice::from_ref(byte));
    }
    expect_write_answered(&mut s, &conn, 1);

    // The second body is split inside a chunk-size line, then inside chunk data; a
    // decoder left over from the first would misread it.
    let second = chunked_patch(br#"{"slots":[{"day":3,"time":"09:30","status":"available"}]}"#);
    let head_len = second
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head")
        + 4;
    for piece in [
        &second[..head_len + 1],
        &second[head_len + 1..head_len + 14],
        &second[head_len + 14..],
    ] {
        send(&mut s, &conn, piece);
    }
    expect_write_answered(&mut s, &conn, 2);

    send(
        &mut s,
        &conn,
        b"GET /availability/slot?day=2&time=14:00 HTTP/1.1\r\nHost: a\r\n\r\n\
          GET /availability/slot?day=3&time=09:30 HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    let (text, _) = receive(&mut s, &conn);
    let maybe = text.find("\"maybe\"").expect("the first write is in");
    let available = text.find("\"available\"").expect("the second write is in");
    assert!(maybe < available, "{text}");
}

/// The head deadline counts from a request's first byte: a head begun with the last
/// bytes of the one before has its own 10 s (`--header-timeout-ms`), not what is left
/// of the previous head's.
#[test]
fn a_pipelined_head_gets_its_own_deadline() {
    let mut s = server(|_| {});
    let conn = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
    send(&mut s, &conn, b"GET /health HTTP/1.1\r\n");
    s.worker.advance_ms(9_000);
    send(&mut s, &conn, b"Host: a\r\n\r\nGET /health HTTP/1.1\r\n");
    let (text, _) = receive(&mut s, &conn);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    // 18 s after the first head began, 9 s into the second's.
    s.worker.advance_ms(9_000);
    let (text, end) = receive(&mut s, &conn);
    assert_eq!(
        (text.as_str(), end),
        ("", ClientRead::Open),
        "timed out early"
    );
    // Past the second head's own 10 s.
    s.worker.advance_ms(1_200);
    let (text, _) = receive(&mut s, &conn);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
}
