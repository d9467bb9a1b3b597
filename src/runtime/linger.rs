//! Lingering close: how a connection ends when the client may still be sending.
//!
//! Closing a TCP socket with unread input makes the kernel answer with RST, and a
//! client still writing its request then sees `EPIPE` or `ECONNRESET` instead of
//! the answer that explains why (a 413 for a body far over the limit, a 400, the
//! first answer of a pipeline sent after `Connection: close`). So such a connection
//! first shuts only its write half (the client reads our answer, then EOF), then
//! reads and discards whatever still comes until the client closes, for at most
//! `LINGER_MS` and `LINGER_MAX_BYTES` (nginx's `lingering_close` does the same).
//! A connection whose input was all consumed closes at once, as before.

use super::Handler;
use super::conn::{FlushResult, Phase};
use super::stream::Stream;
use super::worker::Worker;

/// How long a closing connection keeps reading what the client still sends.
pub(super) const LINGER_MS: u64 = 2_000;
/// How much it reads and discards before giving up (a client sending more is
/// not one that a 16 KiB API's refusal can help).
pub(super) const LINGER_MAX_BYTES: u64 = 8 * 1024 * 1024;
/// The worker's scratch for discarded bytes.
pub(super) const DISCARD_BYTES: usize = 16 * 1024;

impl<H: Handler, S: Stream> Worker<H, S> {
    /// Ends a connection whose answers are all sent: at once when nothing more can
    /// come from the client, else by lingering; over TLS, once our `close_notify` is
    /// out too.
    pub(super) fn finish(&mut self, idx: u32) {
        let c = &mut self.conns[idx as usize];
        // A drain lingers too: closing with the client's bytes unread would reset the
        // connection and drop any of the answer still queued. The linger's own bounds
        // (2 s, 8 MiB) and the drain deadline bound it.
        if c.peer_closed {
            return self.close(idx);
        }
        // TLS: our close_notify goes out before the FIN, as the answer did: to a
        // client with no room yet, once it reads (the write deadline bounds one that
        // never does; `close_after_flush` brings us back here). Left inside rustls
        // behind the FIN, it made the closing connection look like a blocked writer
        // whose next flush hit the shut socket and closed it with the client's bytes
        // unread: a reset, dropping the end of the answer still in flight.
        if let super::conn::Transport::Tls(tls) = &mut c.transport {
            tls.send_close_notify(); // once: rustls ignores a second
            match self.flush_conn(idx) {
                FlushResult::Done => {}
                FlushResult::Blocked => return self.settle(idx),
                FlushResult::Error => return self.close(idx),
            }
        }
        let c = &mut self.conns[idx as usize];
        let Some(socket) = c.socket.as_mut() else {
            return;
        };
        let mut probed_bytes = 0;
        if !c.unread_input && c.read_len_bytes == 0 {
            // Every request was read whole. `read_pending` is only a "maybe" here (set
            // for a reply the writer delivered, or by a TLS read that stopped at the
            // first plaintext): one look says whether the client sent more. Nothing
            // there, the usual case, closes at once.
            if !c.read_pending {
                return self.close(idx);
            }
            match socket.recv_into(&mut self.discard) {
                Ok(n) if n > 0 => probed_bytes = n as u64,
                _ => return self.close(idx), // nothing more, the client's FIN, or an error
            }
        }
        if socket.shutdown_write().is_err() {
            return self.close(idx);
        }
        c.read_len_bytes = 0;
        c.read_pending = true; // bytes may have come with the request's last ones
        c.enter_phase(Phase::Lingering, self.now_ms);
        c.rate_bytes = probed_bytes;
        if let Some(buf) = c.buf.take() {
            c.hold = None;
            c.owned.clear();
            self.pool.give_back(idx, buf);
        }
        self.linger(idx);
    }

    /// Reads and drops what the client sends, until it closes, errs, or the byte
    /// bound is reached (the deadline is the timer's, armed by `settle`).
    pub(super) fn linger(&mut self, idx: u32) {
        loop {
            let c = &mut self.conns[idx as usize];
            let Some(socket) = c.socket.as_mut() else {
                return;
            };
            if !c.read_pending {
                break;
            }
            // Raw bytes, even under TLS: our close_notify is sent, and nothing the
            // client says now is read.
            match socket.recv_into(&mut self.discard) {
                Ok(0) => return self.close(idx),
                Ok(n) => {
                    c.rate_bytes += n as u64;
                    c.read_pending = n == self.discard.len();
                    if c.rate_bytes >= LINGER_MAX_BYTES {
                        return self.close(idx);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => c.read_pending = false,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(idx),
            }
        }
        if self.conns[idx as usize].fin_seen {
            return self.close(idx);
        }
        self.settle(idx);
    }
}
