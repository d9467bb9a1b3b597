//! TLS on the in-memory transport: a rustls client over a `SimConn`, so the moments
//! TCP makes rare (ciphertext left inside rustls when the socket is full) are exact.

use std::io::{Read, Write};
use std::sync::Arc;

use availability_server::runtime::sim::{ClientRead, SimConn};
use availability_server::server::SimServer;

use super::{HEALTH, PEER, WINDOW_BYTES, declared_and_received_body_bytes, server};

/// A rustls client on the client's end of `conn`.
struct TlsClient {
    tls: rustls::ClientConnection,
    conn: SimConn,
    /// Ciphertext the window had no room for yet.
    unsent: Vec<u8>,
    plaintext: Vec<u8>,
}

impl TlsClient {
    fn connect(s: &mut SimServer, dir: &std::path::Path, window_bytes: usize) -> TlsClient {
        Self::open(s, dir, window_bytes, false).expect("a slot")
    }

    /// A connection into a free slot, or (`at_cap`) as the listener accepts one at
    /// the cap; `None` if it must wait.
    fn open(
        s: &mut SimServer,
        dir: &std::path::Path,
        window_bytes: usize,
        at_cap: bool,
    ) -> Option<TlsClient> {
        let setup = availability_server::tls::load_or_generate(dir, None, None).expect("cert");
        let cert = dir.join(availability_server::tls::CERT_FILE_NAME);
        let config = availability_server::tls::client_config_trusting(&cert).expect("client");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let server_config = setup.server_config;
        let conn = if at_cap {
            s.worker.accept_tls(PEER, window_bytes, server_config)?
        } else {
            s.worker.connect_tls(PEER, window_bytes, server_config)?
        };
        Some(TlsClient {
            tls: rustls::ClientConnection::new(Arc::clone(&config), name).expect("client"),
            conn,
            unsent: Vec::new(),
            plaintext: Vec::new(),
        })
    }

    /// One round: sends what fits, then takes at most `read_bytes` of the server's
    /// ciphertext, telling the worker after each.
    fn round(&mut self, s: &mut SimServer, read_bytes: usize) {
        while self.tls.wants_write() {
            self.tls.write_tls(&mut self.unsent).expect("client write");
        }
        let taken = self.conn.send(&self.unsent);
        self.unsent.drain(..taken);
        s.worker.notify(&self.conn);
        let mut wire = Vec::new();
        self.conn.receive_at_most(read_bytes, &mut wire);
        s.worker.notify(&self.conn);
        self.decrypt(&wire);
    }

    /// Feeds the server's `wire` bytes to rustls and keeps the plaintext they yield.
    fn decrypt(&mut self, mut wire: &[u8]) {
        while !wire.is_empty() {
            self.tls.read_tls(&mut wire).expect("client read");
            self.tls.process_new_packets().expect("server's records");
        }
        let _ = self.tls.reader().read_to_end(&mut self.plaintext);
    }

    /// Whether the server's `close_notify` has arrived: rustls' reader then ends
    /// with `Ok(0)` (without it, a FIN reads as a truncation).
    fn saw_close_notify(&mut self) -> bool {
        matches!(self.tls.reader().read(&mut [0u8; 1]), Ok(0))
    }
}

/// The week's answer is larger than the window: rustls takes it whole from the
/// connection's queue, and the socket only part. The rest waits inside rustls with
/// nothing queued, and must still go out as the client reads — in 1,000-byte sips.
#[test]
fn a_tls_answer_larger_than_the_window_reaches_a_slow_reader_whole() {
    let mut s = server(|_| {});
    let dir = s.dir().to_path_buf();
    let mut client = TlsClient::connect(&mut s, &dir, 4096);
    let request = b"GET /availability HTTP/1.1\r\nHost: a\r\n\r\n";
    client.tls.writer().write_all(request).expect("request");
    let mut rounds = 0;
    while rounds < 1_000 {
        rounds += 1;
        client.round(&mut s, 1_000);
        assert!(!client.conn.server_closed(), "the server closed mid-answer");
        let text = String::from_utf8_lossy(&client.plaintext);
        if text.contains("\r\n\r\n") {
            let (declared, received) = declared_and_received_body_bytes(&text);
            assert!(declared > 4096, "larger than the window: {declared} bytes");
            if received == declared {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&client.plaintext);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    let (declared, received) = declared_and_received_body_bytes(&text);
    assert_eq!(
        received, declared,
        "the whole body arrived in {rounds} rounds"
    );
}

/// What `SimWorker::accept_tls` must do for the `connection_cap` fuzzer: a TLS newcomer
/// at the cap takes the slot of a TLS connection that finished its handshake and
/// went quiet, once its handshake bytes (about 1.5 KB, a ClientHello with a
/// post-quantum key share) count as arriving under 1 KB/s (`runtime::reuse`).
#[test]
fn a_tls_newcomer_at_the_cap_takes_the_slot_of_a_quiet_tls_connection() {
    let mut s = server(|c| c.max_connections = 1);
    let dir = s.dir().to_path_buf();
    let mut first = TlsClient::open(&mut s, &dir, WINDOW_BYTES, true).expect("below the cap");
    for _ in 0..4 {
        first.round(&mut s, usize::MAX);
    }
    assert!(!first.tls.is_handshaking(), "the handshake is done");
    assert_eq!(first.conn.unread_by_client_bytes(), 0, "all read");
    assert!(
        TlsClient::open(&mut s, &dir, WINDOW_BYTES, true).is_none(),
        "just connected: the newcomer waits in the backlog"
    );
    s.worker.advance_ms(2_500);
    let mut second =
        TlsClient::open(&mut s, &dir, WINDOW_BYTES, true).expect("the quiet one made room");
    assert_eq!(s.worker.slot_reuses(), 1);
    assert!(first.conn.server_closed(), "the quiet one was closed");
    second.tls.writer().write_all(HEALTH).expect("request");
    for _ in 0..4 {
        second.round(&mut s, usize::MAX);
    }
    let text = String::from_utf8_lossy(&second.plaintext);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
}

/// Every close the server begins over TLS sends a `close_notify` before the FIN, so
/// a client can tell the end of the stream from a truncation: after an answer to
/// `Connection: close` (closed at once), after the idle timeout, and in a drain.
#[test]
fn every_tls_close_the_server_begins_sends_a_close_notify() {
    type End = fn(&mut SimServer, &mut TlsClient);
    let ends: [(&str, End); 3] = [
        ("Connection: close", |s, client| {
            let close = b"GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
            client.tls.writer().write_all(close).expect("request");
            client.round(s, usize::MAX);
        }),
        ("idle timeout", |s, _| s.worker.advance_ms(61_000)),
        ("drain", |s, _| s.worker.start_drain()),
    ];
    for (name, end) in ends {
        let mut s = server(|c| c.idle_timeout_ms = 60_000);
        let dir = s.dir().to_path_buf();
        let mut client = TlsClient::connect(&mut s, &dir, WINDOW_BYTES);
        client.tls.writer().write_all(HEALTH).expect("request");
        for _ in 0..4 {
            client.round(&mut s, usize::MAX);
        }
        assert!(!client.conn.server_closed(), "{name}: kept alive");
        end(&mut s, &mut client);
        let mut rest = Vec::new();
        assert_eq!(client.conn.receive(&mut rest), ClientRead::Eof, "{name}");
        client.decrypt(&rest);
        assert!(client.saw_close_notify(), "{name}: no close_notify");
        let text = String::from_utf8_lossy(&client.plaintext);
        assert!(text.starts_with("HTTP/1.1 200 "), "{name}: {text}");
    }
}

/// A TLS connection closing after `Connection: close` while its client reads slowly
/// and still sends (a pipelined request): the answer's end and our close must come
/// with no reset, which would drop what is in flight. Our `close_notify` went out
/// with a bare `write_tls`; when the client's window had no room for it, it stayed
/// inside rustls behind our FIN, the lingering connection then looked like a blocked
/// writer, and its next flush hit the shut socket and closed it with the client's
/// bytes unread: a reset (found by the `connection_cap` fuzzer over TLS). The sips
/// vary so that the last record leaves the window every amount of room. The
/// `close_notify` must arrive too: without it a client cannot tell our close from
/// a truncation.
#[test]
fn a_tls_close_after_connection_close_resets_nothing_for_a_slow_reader() {
    let week_close = b"GET /availability HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    let mut s = server(|_| {});
    let dir = s.dir().to_path_buf();
    for sip_bytes in 100..=140 {
        let mut client = TlsClient::connect(&mut s, &dir, 333);
        while client.tls.is_handshaking() {
            client.round(&mut s, usize::MAX);
        }
        client.tls.writer().write_all(week_close).expect("request");
        let mut rounds = 0;
        while !client.conn.server_closed() {
            rounds += 1;
            assert!(rounds < 1_000, "sips of {sip_bytes}: no close");
            if !client.conn.server_shut_write() {
                client
                    .tls
                    .writer()
                    .write_all(HEALTH)
                    .expect("a pipelined request");
            } else if rounds % 2 == 0 {
                // A lingering close lasts until we close too.
                client.conn.shutdown_write();
            }
            client.round(&mut s, sip_bytes);
        }
        let mut rest = Vec::new();
        let end = client.conn.receive(&mut rest);
        assert_ne!(end, ClientRead::Reset, "sips of {sip_bytes}: reset");
        client.decrypt(&rest);
        let text = String::from_utf8_lossy(&client.plaintext);
        let (declared, received) = declared_and_received_body_bytes(&text);
        assert_eq!(received, declared, "sips of {sip_bytes}: the whole answer");
        assert!(
            client.saw_close_notify(),
            "sips of {sip_bytes}: no close_notify"
        );
    }
}
