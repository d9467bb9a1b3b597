//! The client end of one in-memory connection (`runtime::sim`): sends without ever
//! blocking on a server that is itself waiting for us to read, and cuts the byte
//! stream into responses, checking each is well-formed HTTP/1.1 with exactly one
//! Content-Length.

use std::time::Duration;

use availability_server::runtime::sim::{ClientRead, SimConn};
use availability_server::server::SimServer;

use super::tls::{CHUNK_BYTES, TlsEnd, TlsSetup};
use crate::lines::find;

/// Real time the writer thread may take to answer a deferred request (a PATCH).
pub const WRITER_DEADLINE: Duration = Duration::from_secs(5);

/// One response as received.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// `Connection: close` was present.
    pub close: bool,
    /// `Connection: keep-alive` was present.
    pub keep_alive: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How the read side ended, if it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadEnd {
    Open,
    /// Orderly close (FIN) after everything the server sent.
    Eof,
    /// Reset: bytes the server sent may have been discarded.
    Reset,
}

/// The rounds a TLS handshake may take: a 333-byte window passes the server's
/// flight in a few dozen.
const HANDSHAKE_MAX_ROUNDS: usize = 1000;

pub struct Wire {
    conn: SimConn,
    /// The client's TLS layer, on a connection opened with [`Wire::connect_tls`].
    tls: Option<Box<TlsEnd>>,
    /// Plaintext received and not yet taken as responses.
    pub buf: Vec<u8>,
    /// Bytes received over the connection's life, as they crossed the wire (ciphertext
    /// under TLS): the progress a wait's deadline watches.
    pub received_bytes: u64,
    pub end: ReadEnd,
    /// We shut down our write side, or a send could not finish.
    pub write_closed: bool,
    /// We sent a TLS record that cannot decrypt: the server may end the connection at
    /// any point after the requests before it, with an alert our rustls refuses.
    pub tampered: bool,
    fin_sent: bool,
}

impl Wire {
    /// Opens a connection whose buffers hold `window_bytes` each way.
    pub fn connect(server: &mut SimServer, window_bytes: usize) -> Wire {
        let conn = server
            .worker
            .connect(std::net::IpAddr::from([127, 0, 0, 1]), window_bytes)
            .expect("the connection table has room (every run closes its connections)");
        Wire::connect_over(conn)
    }

    fn connect_over(conn: SimConn) -> Wire {
        Wire {
            conn,
            tls: None,
            buf: Vec::new(),
            received_bytes: 0,
            end: ReadEnd::Open,
            write_closed: false,
            tampered: false,
            fin_sent: false,
        }
    }

    /// Opens a TLS connection and completes the handshake (no virtual time passes).
    /// `close_notify`: our close sends one before the FIN.
    pub fn connect_tls(
        server: &mut SimServer,
        window_bytes: usize,
        setup: &TlsSetup,
        close_notify: bool,
    ) -> Wire {
        let conn = server
            .worker
            .connect_tls(
                std::net::IpAddr::from([127, 0, 0, 1]),
                window_bytes,
                std::sync::Arc::clone(&setup.server),
            )
            .expect("the connection table has room (every run closes its connections)");
        let mut wire = Wire {
            tls: Some(Box::new(setup.client(close_notify))),
            ..Wire::connect_over(conn)
        };
        let mut unsent = Vec::new();
        for _ in 0..HANDSHAKE_MAX_ROUNDS {
            let tls = wire.tls.as_mut().expect("TLS");
            tls.take_ciphertext(&mut unsent);
            if !tls.is_handshaking() && unsent.is_empty() {
                return wire;
            }
            let taken = wire.conn.send(&unsent);
            unsent.drain(..taken);
            server.worker.notify(&wire.conn);
            wire.read_available(server);
            assert!(
                wire.end == ReadEnd::Open && wire.buf.is_empty(),
                "the server ended the handshake: {:?}, {:?}",
                wire.end,
                String::from_utf8_lossy(&wire.buf)
            );
        }
        panic!("the TLS handshake did not finish in {HANDSHAKE_MAX_ROUNDS} rounds");
    }

    /// Sends `bytes`, reading whatever arrives while the server's receive buffer is
    /// full (a server blocked writing to us stops reading from us). Returns how many
    /// bytes were sent (under TLS, how many went out in whole records); fewer than
    /// all if the server closed or stopped reading for good, and then nothing more
    /// is sent on this connection.
    pub fn send_counted(&mut self, server: &mut SimServer, bytes: &[u8]) -> usize {
        if self.write_closed {
            return 0;
        }
        let at = if self.tls.is_none() {
            self.push(server, bytes)
        } else {
            let mut sent = 0;
            let mut records = Vec::new();
            for chunk in bytes.chunks(CHUNK_BYTES) {
                records.clear();
                self.tls.as_mut().expect("TLS").seal(chunk, &mut records);
                if self.push(server, &records) < records.len() {
                    break;
                }
                sent += chunk.len();
            }
            sent
        };
        if at < bytes.len() {
            self.write_closed = true;
        }
        at
    }

    /// Puts `bytes` on the wire; returns how many went (see [`Wire::send_counted`]).
    fn push(&mut self, server: &mut SimServer, bytes: &[u8]) -> usize {
        let mut at = 0;
        while at < bytes.len() {
            let n = self.conn.send(&bytes[at..]);
            at += n;
            server.worker.notify(&self.conn);
            if n > 0 {
                continue;
            }
            // The server's buffer is full: let it answer and write, then look again.
            let unread = self.conn.unread_by_server_bytes();
            self.read_available(server);
            self.settle(server);
            let stuck = self.conn.unread_by_server_bytes() == unread;
            if self.end != ReadEnd::Open || (stuck && !self.read_available(server)) {
                break;
            }
        }
        at
    }

    /// On a TLS connection still sending, sends an application-data record whose
    /// authentication must fail; nothing is sent after it. A no-op on plain ones.
    /// `true` if the whole record is in the window.
    pub fn tamper(&mut self, server: &mut SimServer) -> bool {
        if self.tls.is_none() || self.write_closed || self.end != ReadEnd::Open {
            return false;
        }
        let mut record = vec![0x17, 0x03, 0x03, 0x00, 0x20];
        record.extend_from_slice(&[0xa5; 0x20]);
        self.tampered = true;
        self.write_closed = true;
        self.push(server, &record) == record.len()
    }

    /// Sends our FIN (once), even after a failed send.
    pub fn shutdown_write(&mut self, server: &mut SimServer) {
        if !self.fin_sent {
            // Not after a cut record: the alert would land inside it.
            if let Some(tls) = self
                .tls
                .as_mut()
                .filter(|tls| tls.close_notify && !self.write_closed)
            {
                let mut alert = Vec::new();
                tls.close_notify(&mut alert);
                self.conn.send(&alert); // if the window is full, a bare FIN after all
            }
            self.conn.shutdown_write();
            server.worker.notify(&self.conn);
            self.fin_sent = true;
            self.write_closed = true;
        }
    }

    /// Takes what the server has sent so far; `true` if bytes arrived. Reading frees
    /// room in the window, so the server is told (it may have a blocked write).
    pub fn read_available(&mut self, server: &mut SimServer) -> bool {
        if self.end != ReadEnd::Open {
            return false;
        }
        let mut wire_bytes = Vec::new();
        let end = self.conn.receive(&mut wire_bytes);
        server.worker.notify(&self.conn);
        self.received_bytes += wire_bytes.len() as u64;
        match self.tls.as_mut() {
            None => self.buf.extend_from_slice(&wire_bytes),
            Some(tls) if tls.failed => {}
            Some(tls) => {
                if let Err(problem) = tls.open(&wire_bytes, &mut self.buf) {
                    assert!(self.tampered, "connection invariant violated: {problem}");
                    tls.failed = true;
                }
            }
        }
        match end {
            ClientRead::Open => {}
            ClientRead::Eof => self.end = ReadEnd::Eof,
            ClientRead::Reset => self.end = ReadEnd::Reset,
        }
        !wire_bytes.is_empty()
    }

    /// Waits (real time) for the writer thread's replies to deferred requests.
    pub fn settle(&mut self, server: &mut SimServer) {
        assert!(
            server.worker.settle(WRITER_DEADLINE),
            "the writer thread did not answer a deferred request within {WRITER_DEADLINE:?}"
        );
    }

    /// Takes one complete response off the buffer (see [`take_response`]).
    pub fn take_response(&mut self, head_only: bool) -> Result<Option<Response>, String> {
        take_response(&mut self.buf, head_only)
    }
}

/// Takes one complete response off the front of `buf`, checking it is well-formed
/// HTTP/1.1 with exactly one Content-Length. `head_only`: the request was HEAD, so
/// the body is absent whatever Content-Length says. `Ok(None)`: incomplete so far.
pub fn take_response(buf: &mut Vec<u8>, head_only: bool) -> Result<Option<Response>, String> {
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        if buf.len() > 16_384 {
            return Err("response head longer than 16 KiB".into());
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| "response head is not UTF-8".to_string())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = parse_status_line(status_line)?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("header line without ':': {line:?}"))?;
        let token =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !token || line.contains('\r') || line.contains('\n') {
            return Err(format!("malformed header line {line:?}"));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let count = |name: &str| {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    };
    // A 304 never has a body (RFC 9112 §6.3), whatever its Content-Length says.
    let not_modified = status == 304;
    for required in ["Content-Length", "Content-Type", "Date", "Cache-Control"] {
        if count(required) != 1 {
            return Err(format!(
                "{} {required} headers in {head:?}",
                count(required)
            ));
        }
    }
    let length_text = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    let length: usize = length_text
        .parse()
        .map_err(|_| format!("Content-Length {length_text:?}"))?;
    let connection: Vec<String> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .map(|(_, v)| v.to_ascii_lowercase())
        .collect();
    let body_start = head_end + 4;
    let available = buf.len() - body_start;
    let body_len = if head_only || not_modified {
        0
    } else if available < length {
        return Ok(None);
    } else {
        length
    };
    let body = buf[body_start..body_start + body_len].to_vec();
    buf.drain(..body_start + body_len);
    Ok(Some(Response {
        status,
        close: connection.iter().any(|v| v == "close"),
        keep_alive: connection.iter().any(|v| v == "keep-alive"),
        headers,
        body,
    }))
}

fn parse_status_line(line: &str) -> Result<u16, String> {
    let rest = line
        .strip_prefix("HTTP/1.1 ")
        .ok_or_else(|| format!("status line {line:?} is not HTTP/1.1"))?;
    let (code, reason) = rest.split_at_checked(3).unwrap_or((rest, ""));
    let status: u16 = code.parse().map_err(|_| format!("status line {line:?}"))?;
    if !(100..=599).contains(&status) || !reason.starts_with(' ') || reason.len() < 2 {
        return Err(format!("status line {line:?}"));
    }
    Ok(status)
}
