//! `read_into` and `flush` through rustls, after a real handshake over `Scripted`.

use std::io::{self, Write};

use super::super::{FlushResult, ReadResult};
use super::{TlsPair, data, queue, read};
use crate::runtime::out::OutQueue;

/// `read_into` on `pair`'s server `calls` times into a `dst_bytes` buffer: the
/// results, the plaintext and the bytes counted as received.
fn reads(pair: &mut TlsPair, dst_bytes: usize, calls: usize) -> (Vec<ReadResult>, Vec<u8>, u64) {
    let mut buf = vec![0u8; dst_bytes];
    let mut got = Vec::new();
    let mut received = 0;
    let mut results = Vec::new();
    for _ in 0..calls {
        let (r, filled, n) = read(&mut pair.socket, &mut pair.server, &mut buf, 0);
        got.extend_from_slice(&buf[..filled]);
        received += n;
        results.push(r);
    }
    (results, got, received)
}

/// The client's request ends with its close: a TLS `close_notify`, or a bare TCP
/// FIN after the records (no `close_notify`, as many clients do).
#[test]
fn plaintext_larger_than_the_buffer_comes_in_turns_and_the_close_after_all_of_it() {
    for close_notify in [true, false] {
        let mut pair = TlsPair::connected(&format!("close-{close_notify}"));
        let request: Vec<u8> = (0..100u8).collect();
        pair.client.writer().write_all(&request).expect("plaintext");
        if close_notify {
            pair.client.send_close_notify();
        }
        pair.deliver_to_server();
        pair.socket.input_fin = !close_notify;
        let wire_bytes = pair.socket.input.len() as u64;
        let (results, got, received) = reads(&mut pair, 40, 4);
        // A full buffer may leave plaintext inside rustls (the second read sees the
        // close, yet leaves 20 bytes there): the close is reported only with the
        // last of it, and then once more on its own.
        let expected = [data(false, false), data(false, false), data(false, true)];
        assert_eq!(results[..3], expected, "close_notify: {close_notify}");
        assert_eq!(results[3], ReadResult::Eof);
        assert_eq!(got, request);
        assert_eq!(received, wire_bytes, "every ciphertext byte counted");
    }
}

#[test]
fn plaintext_left_inside_rustls_is_not_a_drained_socket() {
    let mut pair = TlsPair::connected("left-inside");
    let request: Vec<u8> = (0..100u8).collect();
    pair.client.writer().write_all(&request).expect("plaintext");
    pair.deliver_to_server();
    // The second read finds the socket empty but fills the buffer from what rustls
    // holds: "drained" there would leave 20 bytes unread until the client sent more
    // (epoll is edge-triggered).
    let (results, got, _) = reads(&mut pair, 40, 4);
    let expected = [data(false, false), data(false, false), data(true, false)];
    assert_eq!(results[..3], expected);
    assert_eq!(results[3], ReadResult::WouldBlock);
    assert_eq!(got, request);
}

#[test]
fn a_close_notify_read_with_the_last_plaintext_is_reported_with_it() {
    let mut pair = TlsPair::connected("close-with-data");
    pair.client
        .writer()
        .write_all(b"GET / HTTP/1.1")
        .expect("plaintext");
    pair.client.send_close_notify();
    pair.deliver_to_server();
    let (results, got, _) = reads(&mut pair, 200, 2);
    assert_eq!(results, [data(false, true), ReadResult::Eof]);
    assert_eq!(got, b"GET / HTTP/1.1");
}

#[test]
fn a_signal_is_retried_and_a_reset_or_a_forged_record_fails_the_read() {
    let mut buf = [0u8; 64];

    let mut pair = TlsPair::connected("eintr");
    pair.client.writer().write_all(b"GET /").expect("plaintext");
    pair.deliver_to_server();
    pair.socket.read_errors = [io::ErrorKind::Interrupted].into();
    let (r, filled, _) = read(&mut pair.socket, &mut pair.server, &mut buf, 0);
    assert_eq!((r, &buf[..filled]), (data(false, false), &b"GET /"[..]));

    pair.socket.read_errors = [io::ErrorKind::ConnectionReset].into();
    let (r, filled, _) = read(&mut pair.socket, &mut pair.server, &mut buf, 0);
    assert_eq!((r, filled), (ReadResult::Error, 0));

    // An application-data record that fails authentication: the peer is told why.
    let mut pair = TlsPair::connected("forged");
    let mut record = vec![0x17, 0x03, 0x03, 0x00, 0x20];
    record.extend([0x55; 32]);
    pair.socket.input.extend(record);
    let (r, filled, _) = read(&mut pair.socket, &mut pair.server, &mut buf, 0);
    assert_eq!((r, filled), (ReadResult::TlsError, 0));
    let wire = std::mem::take(&mut pair.socket.output);
    pair.client.read_tls(&mut &wire[..]).expect("client read");
    let told = pair.client.process_new_packets().err();
    assert_eq!(
        told,
        Some(rustls::Error::AlertReceived(
            rustls::AlertDescription::BadRecordMac
        ))
    );
}

#[test]
fn a_burst_beyond_rustls_buffers_is_read_whole_in_turns() {
    let mut pair = TlsPair::connected("burst");
    let burst: Vec<u8> = (0..96 * 1024).map(|i| (i % 251) as u8).collect();
    // In pieces: the client buffers at most 64 KiB it has not sent.
    for piece in burst.chunks(16 * 1024) {
        pair.client.writer().write_all(piece).expect("plaintext");
        pair.deliver_to_server();
    }
    let wire_bytes = pair.socket.input.len() as u64;

    let mut buf = [0u8; 1000];
    let mut got = Vec::new();
    let mut received = 0;
    for _ in 0..1000 {
        let (r, filled, n) = read(&mut pair.socket, &mut pair.server, &mut buf, 0);
        got.extend_from_slice(&buf[..filled]);
        received += n;
        match r {
            ReadResult::WouldBlock => break,
            ReadResult::Data { .. } => {}
            other => panic!("{other:?} after {} bytes", got.len()),
        }
    }
    assert_eq!(got.len(), burst.len());
    assert!(got == burst, "plaintext arrives whole and in order");
    assert_eq!(received, wire_bytes);
}

#[test]
fn a_tls_flush_coalesces_segments_into_records_and_waits_for_room() {
    let mut pair = TlsPair::connected("flush");
    static HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 250\r\n\r\n";
    static BODY: &[u8] = &[b'x'; 250];
    let mut out = OutQueue::new();
    queue(&mut out, &[HEAD, BODY]);

    // No room at all: one stage's worth moves into rustls, nothing onto the socket.
    pair.socket.output_room_bytes = 0;
    let (r, sent) = pair.server_flush(&mut out);
    assert_eq!(r, FlushResult::Blocked);
    assert_eq!((sent, out.pending_bytes()), (0, 290 - 100));

    // Room again, and a signal on the first write: tried again until done.
    pair.socket.output_room_bytes = usize::MAX;
    pair.socket.write_errors = [io::ErrorKind::Interrupted].into();
    let (r, sent) = pair.server_flush(&mut out);
    assert_eq!(r, FlushResult::Done);
    assert_eq!(sent, pair.socket.output.len() as u64);
    // A 100-byte stage: 290 bytes leave as three records (each 22 bytes of overhead
    // in TLS 1.3), not one.
    assert_eq!(HEAD.len() + BODY.len(), 290);
    assert_eq!(sent, 290 + 3 * 22);
    pair.deliver_to_client();
    let mut expected = HEAD.to_vec();
    expected.extend_from_slice(BODY);
    assert_eq!(pair.client_received(), expected);

    // A reset while writing.
    queue(&mut out, &[HEAD]);
    pair.socket.write_errors = [io::ErrorKind::BrokenPipe].into();
    let (r, _) = pair.server_flush(&mut out);
    assert_eq!(r, FlushResult::Error);
}
