//! One connection's state and its transport (plain TCP or rustls over TCP).

use std::any::Any;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::sync::Arc;

use super::ListenerKind;
use super::out::OutQueue;
use super::pool::IoBuf;
use super::stream::Stream;

/// What the connection is waiting for; each has its own timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Accepted, nothing received yet.
    Fresh,
    /// Between requests on a kept-alive connection.
    Idle,
    /// Part of a request head has arrived.
    Head,
    /// The head is complete; part of the body has arrived.
    Body,
    /// Response bytes are queued but the peer is not reading them.
    Writing,
    /// A deferred request (a write) is with the writer thread.
    Awaiting,
    /// Every answer is sent and our write half is shut; what the client still
    /// sends is read and dropped until it closes (see `runtime::linger`).
    Lingering,
}

pub enum Transport {
    Plain,
    Tls(Box<rustls::ServerConnection>),
}

pub struct Conn<S> {
    pub serial: u32,
    pub socket: Option<S>,
    pub transport: Transport,
    pub peer_ip: IpAddr,
    pub listener: ListenerKind,
    pub buf: Option<Box<IoBuf>>,
    pub read_len_bytes: usize,
    /// Keeps alive the shared bytes queued responses point into — taken only
    /// when a write blocks, since until then the handler holds them.
    pub hold: Option<Arc<dyn Any + Send + Sync>>,
    /// Queued segments point into the handler's shared bytes.
    pub needs_hold: bool,
    /// Owned response buffers queued (off the read path only).
    pub owned: Vec<Vec<u8>>,
    pub phase: Phase,
    /// When the phase began, or (writing) when the client last took bytes: the
    /// timeouts count from it.
    pub phase_started_ms: u64,
    /// When the phase began, and the bytes received (head, body) or sent (writing)
    /// since: the phase's progress rate, by which a worker short of buffers picks
    /// the connection to cut off (see `Worker::reclaim_buffer`).
    pub rate_since_ms: u64,
    pub rate_bytes: u64,
    /// Writing: the socket's unacknowledged bytes when the phase began. The kernel
    /// reports room in lumps (a third of the send buffer), so `rate_bytes` alone can
    /// stand still for seconds while the client reads steadily from what was queued.
    pub rate_unacked_at_start: u64,
    /// Writing: `progress_bytes` when the write deadline last passed (see `on_timeout`).
    pub acked_bytes_at_deadline: u64,
    /// The socket may have more bytes we have not read (edge-triggered epoll).
    pub read_pending: bool,
    pub peer_closed: bool,
    /// epoll reported the peer's FIN; it takes effect once the data before it is read.
    pub fin_seen: bool,
    /// A `100 Continue` went out for the request whose body is awaited.
    pub continue_sent: bool,
    pub close_after_flush: bool,
    /// The connection's last answer refused a request whose bytes were not all
    /// read: the client may still be sending them, so its close lingers.
    pub unread_input: bool,
    /// Registered for writable events (only while a write is blocked).
    pub wants_writable: bool,
    pub waiting_for_buffer: bool,
}

impl<S> Conn<S> {
    pub fn vacant() -> Conn<S> {
        Conn {
            serial: 0,
            socket: None,
            transport: Transport::Plain,
            peer_ip: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            listener: ListenerKind::Public,
            buf: None,
            read_len_bytes: 0,
            hold: None,
            needs_hold: false,
            owned: Vec::new(),
            phase: Phase::Fresh,
            phase_started_ms: 0,
            rate_since_ms: 0,
            rate_bytes: 0,
            rate_unacked_at_start: 0,
            acked_bytes_at_deadline: 0,
            read_pending: false,
            peer_closed: false,
            fin_seen: false,
            continue_sent: false,
            close_after_flush: false,
            unread_input: false,
            wants_writable: false,
            waiting_for_buffer: false,
        }
    }

    /// Enters `phase` and starts its clocks: the timeouts' and the progress rate's.
    /// An answer that waits for the client also notes the socket's unacknowledged
    /// bytes (see `rate_unacked_at_start`; one `ioctl`, only when a write blocked).
    pub fn enter_phase(&mut self, phase: Phase, now_ms: u64)
    where
        S: super::stream::Stream,
    {
        self.phase = phase;
        self.phase_started_ms = now_ms;
        self.rate_since_ms = now_ms;
        self.rate_bytes = 0;
        if phase == Phase::Writing {
            self.rate_unacked_at_start = self.socket.as_ref().map_or(0, |s| s.unacked_bytes());
            self.acked_bytes_at_deadline = 0;
        }
    }

    /// The bytes the client has taken since the phase began: received ones for a
    /// request; for an answer, what left the socket's queue of unacknowledged bytes
    /// (one `ioctl`: only for a worker short of buffers).
    pub fn progress_bytes(&self) -> u64
    where
        S: super::stream::Stream,
    {
        match (&self.phase, &self.socket) {
            (Phase::Writing, Some(socket)) => (self.rate_bytes + self.rate_unacked_at_start)
                .saturating_sub(socket.unacked_bytes()),
            _ => self.rate_bytes,
        }
    }

    pub fn is_open(&self) -> bool {
        self.socket.is_some()
    }

    pub fn out_is_empty(&self) -> bool {
        self.buf.as_ref().is_none_or(|b| b.out.is_empty()) && !self.tls_wants_write()
    }

    pub fn tls_wants_write(&self) -> bool {
        match &self.transport {
            Transport::Tls(tls) => tls.wants_write(),
            Transport::Plain => false,
        }
    }

    /// Nothing buffered in either direction and no reply outstanding.
    pub fn is_quiet(&self) -> bool {
        self.read_len_bytes == 0 && self.out_is_empty() && self.phase != Phase::Awaiting
    }
}

/// Result of one read attempt into the connection's buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadResult {
    /// Bytes arrived; `drained` is true when the socket had no more, `peer_closed`
    /// when the peer's close (TLS close_notify, or the TCP FIN that ended the TLS
    /// stream) came after them: the bytes are served, then the connection ends.
    Data {
        drained: bool,
        peer_closed: bool,
    },
    WouldBlock,
    Eof,
    /// The socket failed (a reset, say).
    Error,
    /// The peer broke the TLS protocol (a bad record, an alert, a failed handshake).
    TlsError,
}

/// Reads what arrived into `buf[*len..]` (through TLS when the transport has it),
/// adding to `received_bytes` what came off the socket: with TLS, plaintext appears
/// only once a whole record (up to 16 KiB) is in, so only the socket's count says
/// whether a client is sending. Inlined: called once per readable event, and left
/// out of line (as code elsewhere grows) it cost ~50 instructions per request.
#[inline]
pub fn read_into<S: Stream>(
    socket: &mut S,
    transport: &mut Transport,
    buf: &mut [u8],
    filled_bytes: &mut usize,
    received_bytes: &mut u64,
) -> ReadResult {
    let space = buf.len() - *filled_bytes;
    if space == 0 {
        return ReadResult::Data {
            drained: false,
            peer_closed: false,
        };
    }
    match transport {
        Transport::Plain => match socket.recv_into(&mut buf[*filled_bytes..]) {
            Ok(0) => ReadResult::Eof,
            Ok(n) => {
                *filled_bytes += n;
                *received_bytes += n as u64;
                // A short read means the kernel buffer is empty: skip the EAGAIN read.
                ReadResult::Data {
                    drained: n < space,
                    peer_closed: false,
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => ReadResult::WouldBlock,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => ReadResult::Data {
                drained: false,
                peer_closed: false,
            },
            Err(_) => ReadResult::Error,
        },
        Transport::Tls(tls) => read_tls(
            socket,
            tls,
            &mut buf[*filled_bytes..],
            filled_bytes,
            received_bytes,
        ),
    }
}

fn read_tls<S: Stream>(
    socket: &mut S,
    tls: &mut rustls::ServerConnection,
    dst: &mut [u8],
    filled_bytes: &mut usize,
    received_bytes: &mut u64,
) -> ReadResult {
    let mut socket_eof = false;
    let mut socket_drained = false;
    // Pull ciphertext and decrypt it, a read at a time, until there is plaintext to
    // hand over or the socket is empty. rustls holds at most about one maximal record
    // of undecrypted input (18,437 bytes) and refuses more ("message buffer full")
    // until it has processed what it holds: reading on before processing dropped a
    // client that sent a burst of pipelined requests larger than that.
    loop {
        match tls.read_tls(socket) {
            Ok(0) => {
                socket_eof = true;
                break;
            }
            Ok(n) => *received_bytes += n as u64,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                socket_drained = true;
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Its plaintext buffer is full: hand that over first.
            Err(e) if e.kind() == io::ErrorKind::Other => break,
            Err(_) => return ReadResult::Error,
        }
        match tls.process_new_packets() {
            Ok(state) if state.plaintext_bytes_to_read() > 0 => break,
            Ok(_) => {}
            Err(_) => {
                // Try to tell the peer why (the alert is queued by rustls).
                let _ = tls.write_tls(socket);
                return ReadResult::TlsError;
            }
        }
    }
    let mut got = 0;
    let mut peer_closed = socket_eof;
    loop {
        match tls.reader().read(&mut dst[got..]) {
            // close_notify (the loop stops before `dst` is full, so 0 means that).
            Ok(0) => {
                peer_closed = true;
                break;
            }
            Ok(n) => {
                got += n;
                if got == dst.len() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            // The TCP stream ended without close_notify: what was read before still
            // counts (HTTP framing says whether a request is complete), then EOF.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                peer_closed = true;
                break;
            }
            Err(_) => return ReadResult::Error,
        }
    }
    *filled_bytes += got;
    if got > 0 {
        // With `dst` full rustls may hold more plaintext: the close is reported by a
        // later read, after it.
        ReadResult::Data {
            drained: socket_drained && got < dst.len(),
            peer_closed: peer_closed && got < dst.len(),
        }
    } else if peer_closed {
        ReadResult::Eof
    } else if socket_drained {
        ReadResult::WouldBlock
    } else {
        ReadResult::Data {
            drained: false,
            peer_closed: false,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum FlushResult {
    Done,
    Blocked,
    Error,
}

/// Sends queued bytes: one `sendmsg`/`sendto` for plain connections; for TLS, coalesced
/// into records of up to `stage.len()` bytes, then the ciphertext is written. Adds to
/// `sent_bytes` what the socket took: with TLS, `out` empties into rustls at once, so
/// only the socket's count says whether a client is reading.
pub fn flush<S: Stream>(
    socket: &mut S,
    transport: &mut Transport,
    out: &mut OutQueue,
    stage: &mut [u8],
    sent_bytes: &mut u64,
) -> FlushResult {
    match transport {
        Transport::Plain => {
            while !out.is_empty() {
                // SAFETY: the iovecs are valid by the OutQueue contract.
                let written = match unsafe { socket.write_iovecs(out.pending()) } {
                    Ok(n) => {
                        *sent_bytes += n as u64;
                        n
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return FlushResult::Blocked,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return FlushResult::Error,
                };
                let wanted = out.pending_bytes();
                out.consume(written);
                if written < wanted {
                    // The send buffer is full; waiting beats an EAGAIN syscall.
                    return FlushResult::Blocked;
                }
            }
            FlushResult::Done
        }
        Transport::Tls(tls) => loop {
            if !out.is_empty() {
                let staged = out.copy_pending_into(stage);
                match tls.writer().write(&stage[..staged]) {
                    Ok(accepted) => out.consume(accepted),
                    Err(_) => return FlushResult::Error,
                }
            }
            while tls.wants_write() {
                match tls.write_tls(socket) {
                    Ok(n) => *sent_bytes += n as u64,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return FlushResult::Blocked,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return FlushResult::Error,
                }
            }
            if out.is_empty() {
                return FlushResult::Done;
            }
        },
    }
}

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
