//! A `connection_cap` client's clocks, as far as it can tell from the outside: when
//! the server must count its connection as stalled or quiet, and what the server has
//! read of its bytes, and when.

use super::client::{Client, MIN_PHASE_MS};
use crate::lines::find;

/// How long after its phase began a connection that moved `progress_bytes` since
/// may count as stalled: `MIN_PHASE_MS`, or longer at 1 KB/s (the model's copy of
/// `runtime::lifecycle::stalled_at_ms`).
fn stalled_after_ms(progress_bytes: u64) -> u64 {
    MIN_PHASE_MS.max(progress_bytes + 1)
}

impl Client {
    /// Notes what the server has read since last seen, as read no earlier than
    /// `read_ms`, and forgets reads too old to matter to the stall rule.
    pub(super) fn see_reads(&mut self, read_ms: u64, now_ms: u64) {
        let read_bytes = self.wire_sent_bytes - self.conn.unread_by_server_bytes() as u64;
        if read_bytes > self.seen_read_bytes {
            self.server_reads
                .push_back((read_ms, read_bytes - self.seen_read_bytes));
            self.seen_read_bytes = read_bytes;
        }
        self.seen_ms = now_ms;
        while self
            .server_reads
            .front()
            .is_some_and(|&(ms, _)| ms + MIN_PHASE_MS <= now_ms)
        {
            self.server_reads.pop_front();
        }
    }

    /// When the server must count this connection as stalled (runtime::lifecycle):
    /// a head begun with nothing owed, all of it read by the server, moving slower
    /// than 1 KB/s for 1 s since its first byte. `None` if it is not such a head.
    pub fn head_stalled_at_ms(&self) -> Option<u64> {
        let began_ms = self.head_began_ms?;
        let front = self.requests.front()?;
        let sent = &front.bytes[..self.sent_bytes.checked_sub(front.start)?];
        let in_head =
            !sent.is_empty() && sent.len() < front.bytes.len() && find(sent, b"\r\n\r\n").is_none();
        if !in_head || self.fin_sent || self.conn.unread_by_server_bytes() > 0 {
            return None;
        }
        // The server counts what came off the socket since the head began: over TLS,
        // the records' ciphertext (and any record still arriving), read at once.
        let progress_bytes = match self.tls {
            None => sent.len() as u64,
            Some(_) => self.wire_sent_bytes - self.head_mark_bytes,
        };
        Some(began_ms + stalled_after_ms(progress_bytes))
    }

    /// When a quiet connection must be one the server may close for a newcomer
    /// (`runtime::reuse::reusable_at_ms`): `MIN_PHASE_MS` after it became quiet, or
    /// over TLS, later if the socket carried bytes since the server's phase began
    /// that it would count as a record or handshake arriving slowly — at most all it
    /// carried since the server read the last request, or since the accept.
    pub fn reusable_by_ms(&self) -> Option<u64> {
        let since_ms = self.quiet_since_ms?;
        let carried_bytes = match self.tls {
            None => 0,
            Some(_) => self.wire_sent_bytes - self.answered_mark_bytes,
        };
        Some(since_ms + stalled_after_ms(carried_bytes))
    }

    /// Updates `quiet_since_ms` (quiet while nothing is owed, held, or closing; over
    /// TLS also nothing left to send, mid-handshake or not: every byte we sent read,
    /// and room in our window the server knows of, so it wrote all it had) and
    /// `head_began_ms` (kept while the head it dates is the one arriving, and only if
    /// the server read its first bytes in the step they were sent).
    pub fn note_state(&mut self, now_ms: u64) {
        // Read since the last look, which may have been before the clock moved.
        self.see_reads(self.seen_ms, now_ms);
        let same_head = self.complete_unanswered() == 0
            && self
                .requests
                .front()
                .is_some_and(|r| r.start < self.sent_bytes);
        let read_at_once = self.conn.unread_by_server_bytes() == 0;
        if !same_head || self.head_began_ms == Some(now_ms) && !read_at_once {
            self.head_began_ms = None;
        }
        let quiet = self.requests.is_empty()
            && self.pending.is_empty()
            && self.buf.is_empty()
            && !self.fin_sent
            && !self.close_announced
            && self.tls.as_ref().is_none_or(|link| {
                link.out_is_empty()
                    && read_at_once
                    && self.conn.unread_by_client_bytes() < self.window_bytes
                    && !self.room_untold
            });
        if !quiet {
            self.quiet_since_ms = None;
        } else if self.quiet_since_ms.is_none() {
            self.quiet_since_ms = Some(now_ms);
        }
    }
}
