//! `read_into` and `flush` against a scripted stream: what each returns for every
//! way a read or a write can end, plain and through rustls. The simulation drives
//! them too, but only over plain pipes that never fail or get interrupted; here each
//! case is one call with its outcome spelled out.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use mio::event::Source;
use mio::{Interest, Registry, Token};

use super::{FlushResult, ReadResult, Transport, flush, read_into};
use crate::runtime::out::OutQueue;
use crate::runtime::stream::Stream;

/// A stream whose reads and writes are scripted: bytes to hand out, room to take
/// bytes, errors to return first, and a count of calls (each one a syscall on a socket).
#[derive(Default)]
struct Scripted {
    input: VecDeque<u8>,
    /// After `input`, reads return 0 (the peer's FIN) instead of `WouldBlock`.
    input_fin: bool,
    output: Vec<u8>,
    output_room_bytes: usize,
    /// Returned, in order, by the next reads (or writes) before any bytes move.
    read_errors: VecDeque<io::ErrorKind>,
    write_errors: VecDeque<io::ErrorKind>,
    reads: usize,
    writes: usize,
}

impl Scripted {
    fn with_room(output_room_bytes: usize) -> Scripted {
        Scripted {
            output_room_bytes,
            ..Scripted::default()
        }
    }
}

impl Read for Scripted {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        self.reads += 1;
        if let Some(kind) = self.read_errors.pop_front() {
            return Err(kind.into());
        }
        if self.input.is_empty() {
            return if self.input_fin {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        let n = dst.len().min(self.input.len());
        for (d, s) in dst.iter_mut().zip(self.input.drain(..n)) {
            *d = s;
        }
        Ok(n)
    }
}

impl Write for Scripted {
    fn write(&mut self, src: &[u8]) -> io::Result<usize> {
        self.writes += 1;
        if let Some(kind) = self.write_errors.pop_front() {
            return Err(kind.into());
        }
        let n = src.len().min(self.output_room_bytes);
        if n == 0 && !src.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.output.extend_from_slice(&src[..n]);
        self.output_room_bytes -= n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Stream for Scripted {
    unsafe fn write_iovecs(&mut self, iov: &[libc::iovec]) -> io::Result<usize> {
        // One call, as one `sendmsg`: gathers what fits of every iovec.
        let mut gathered = Vec::new();
        for v in iov {
            // SAFETY: the caller guarantees each iovec points at iov_len readable bytes.
            gathered.extend_from_slice(unsafe {
                std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len)
            });
        }
        self.write(&gathered)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn unacked_bytes(&self) -> u64 {
        0
    }
}

impl Source for Scripted {
    fn register(&mut self, _: &Registry, _: Token, _: Interest) -> io::Result<()> {
        Ok(())
    }
    fn reregister(&mut self, _: &Registry, _: Token, _: Interest) -> io::Result<()> {
        Ok(())
    }
    fn deregister(&mut self, _: &Registry) -> io::Result<()> {
        Ok(())
    }
}

/// One `read_into` into `buf` from `filled`; returns the result, the new fill and
/// the bytes counted as received.
fn read(
    stream: &mut Scripted,
    transport: &mut Transport,
    buf: &mut [u8],
    filled: usize,
) -> (ReadResult, usize, u64) {
    let mut filled_bytes = filled;
    let mut received_bytes = 0;
    let result = read_into(
        stream,
        transport,
        buf,
        &mut filled_bytes,
        &mut received_bytes,
    );
    (result, filled_bytes, received_bytes)
}

fn data(drained: bool, peer_closed: bool) -> ReadResult {
    ReadResult::Data {
        drained,
        peer_closed,
    }
}

#[test]
fn a_plain_read_says_whether_the_socket_was_emptied() {
    let mut buf = [0u8; 8];
    let mut plain = Transport::Plain;

    // A short read empties the kernel buffer: no EAGAIN read needed after it.
    let mut s = Scripted::default();
    s.input.extend(b"abc");
    let (r, filled, received) = read(&mut s, &mut plain, &mut buf, 2);
    assert_eq!((r, filled, received), (data(true, false), 5, 3));
    assert_eq!(&buf[2..5], b"abc");

    // A read that fills the space exactly may have left more behind.
    let mut s = Scripted::default();
    s.input.extend(b"abcdefgh");
    let (r, filled, received) = read(&mut s, &mut plain, &mut buf, 2);
    assert_eq!((r, filled, received), (data(false, false), 8, 6));

    // No space: nothing is read (no syscall), and the caller is told to come back.
    let mut s = Scripted::default();
    s.input.extend(b"x");
    let (r, filled, received) = read(&mut s, &mut plain, &mut buf, 8);
    assert_eq!((r, filled, received), (data(false, false), 8, 0));
    assert_eq!(s.reads, 0);

    // Nothing there, the peer's FIN, a signal, a reset.
    for (kind, fin, expected) in [
        (None, false, ReadResult::WouldBlock),
        (None, true, ReadResult::Eof),
        (Some(io::ErrorKind::Interrupted), false, data(false, false)),
        (
            Some(io::ErrorKind::ConnectionReset),
            false,
            ReadResult::Error,
        ),
    ] {
        let mut s = Scripted {
            input_fin: fin,
            read_errors: kind.into_iter().collect(),
            ..Scripted::default()
        };
        let (r, filled, received) = read(&mut s, &mut plain, &mut buf, 0);
        assert_eq!((r, filled, received), (expected, 0, 0), "{kind:?}");
    }
}

/// Queues `parts` (static, so they outlive the queue) on `out`.
fn queue(out: &mut OutQueue, parts: &[&'static [u8]]) {
    for part in parts {
        // SAFETY: 'static bytes stay valid until consumed.
        unsafe { out.push(part) };
    }
}

#[test]
fn a_plain_flush_stops_at_the_first_short_write() {
    let mut stage = [0u8; 0];
    let mut plain = Transport::Plain;

    // Everything fits: one call for all segments.
    let mut s = Scripted::with_room(100);
    let mut out = OutQueue::new();
    queue(&mut out, &[b"HTTP/1.1 200 OK\r\n", b"\r\n", b"body"]);
    let mut sent = 0;
    let r = flush(&mut s, &mut plain, &mut out, &mut stage, &mut sent);
    assert_eq!(r, FlushResult::Done);
    assert_eq!((s.writes, sent, out.is_empty()), (1, 23, true));
    assert_eq!(s.output, b"HTTP/1.1 200 OK\r\n\r\nbody");

    // A short write means the send buffer is full: no second call to hear EAGAIN.
    let mut s = Scripted::with_room(10);
    let mut out = OutQueue::new();
    queue(&mut out, &[b"HTTP/1.1 200 OK\r\n", b"body"]);
    let mut sent = 0;
    let r = flush(&mut s, &mut plain, &mut out, &mut stage, &mut sent);
    assert_eq!(r, FlushResult::Blocked);
    assert_eq!((s.writes, sent, out.pending_bytes()), (1, 10, 11));

    // Interrupted by a signal: tried again; a full buffer; a reset.
    for (kind, expected, expected_writes, expected_sent) in [
        (io::ErrorKind::Interrupted, FlushResult::Done, 2, 4),
        (io::ErrorKind::WouldBlock, FlushResult::Blocked, 1, 0),
        (io::ErrorKind::BrokenPipe, FlushResult::Error, 1, 0),
    ] {
        let mut s = Scripted::with_room(100);
        s.write_errors = [kind].into();
        let mut out = OutQueue::new();
        queue(&mut out, &[b"body"]);
        let mut sent = 0;
        let r = flush(&mut s, &mut plain, &mut out, &mut stage, &mut sent);
        assert_eq!(
            (r, s.writes, sent),
            (expected, expected_writes, expected_sent),
            "{kind:?}"
        );
    }
}

/// A server's rustls connection and a client talking to it through `Scripted`.
struct TlsPair {
    server: Transport,
    client: rustls::ClientConnection,
    socket: Scripted,
    dir: std::path::PathBuf,
}

impl Drop for TlsPair {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl TlsPair {
    /// Generates a certificate and completes a handshake through `read_into`/`flush`.
    fn connected(name: &str) -> TlsPair {
        let dir =
            std::env::temp_dir().join(format!("avail-test-conn-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let setup = crate::tls::load_or_generate(&dir, None, None).expect("certificate");
        let client_config =
            crate::tls::client_config_trusting(&dir.join(crate::tls::CERT_FILE_NAME))
                .expect("client config");
        let server_name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let server = rustls::ServerConnection::new(setup.server_config).expect("server");
        let mut pair = TlsPair {
            server: Transport::Tls(Box::new(server)),
            client: rustls::ClientConnection::new(client_config, server_name).expect("client"),
            socket: Scripted::with_room(usize::MAX),
            dir,
        };
        let mut buf = [0u8; 64];
        for _ in 0..10 {
            pair.deliver_to_server();
            let (r, filled, _) = read(&mut pair.socket, &mut pair.server, &mut buf, 0);
            assert_eq!((r, filled), (ReadResult::WouldBlock, 0));
            pair.server_flush(&mut OutQueue::new());
            pair.deliver_to_client();
            let server_done = match &pair.server {
                Transport::Tls(tls) => !tls.is_handshaking(),
                Transport::Plain => unreachable!(),
            };
            if server_done && !pair.client.is_handshaking() {
                return pair;
            }
        }
        panic!("no handshake in 10 round trips");
    }

    /// Moves what the client has to send onto the server's socket.
    fn deliver_to_server(&mut self) {
        let mut wire = Vec::new();
        while self.client.wants_write() {
            self.client.write_tls(&mut wire).expect("client write");
        }
        self.socket.input.extend(wire);
    }

    /// Hands the client what the server wrote.
    fn deliver_to_client(&mut self) {
        let wire = std::mem::take(&mut self.socket.output);
        let mut input = &wire[..];
        while !input.is_empty() {
            self.client.read_tls(&mut input).expect("client read");
            self.client.process_new_packets().expect("client process");
        }
    }

    fn server_flush(&mut self, out: &mut OutQueue) -> (FlushResult, u64) {
        let mut stage = [0u8; 100];
        let mut sent = 0;
        let r = flush(
            &mut self.socket,
            &mut self.server,
            out,
            &mut stage,
            &mut sent,
        );
        (r, sent)
    }

    /// Plaintext the client has received.
    fn client_received(&mut self) -> Vec<u8> {
        let mut got = Vec::new();
        let _ = self.client.reader().read_to_end(&mut got);
        got
    }
}

#[path = "conn_tls_tests.rs"]
mod tls;
