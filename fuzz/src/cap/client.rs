//! One client of a `connection_cap` run: a non-blocking client of one in-memory
//! connection, plain or TLS (`tls.rs`), that queues menu requests, lets their bytes
//! go when the script says, checks every answer in order, and knows from the outside
//! when the server may have begun what it is doing for this connection
//! (`phase_floor_ms`).

use std::collections::VecDeque;

use availability_server::runtime::sim::{ClientRead, SimConn};
use availability_server::server::SimServer;

use super::answers::Expected;
use super::tls::TlsLink;
use crate::conn::menu::MenuRequest;
use crate::conn::tls::TlsSetup;

/// The server's rule (runtime::reuse, runtime::lifecycle): no connection is closed for
/// a newcomer or cut off for a buffer before its phase has lasted this long.
pub const MIN_PHASE_MS: u64 = 1_000;

/// How a connection ended, as the model judges it.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// Every answer owed came and the close was announced or asked for.
    Orderly,
    /// The server closed it with work owed or unannounced: for a newcomer or a buffer.
    Reclaimed,
    /// Over TLS, after our FIN with every answer read, the server closed while it may
    /// still have had handshake bytes to send (our window full, or room it was not
    /// told of): done, or cut off as a stalled writer; the model cannot tell.
    Either,
}

pub struct Client {
    pub(super) conn: SimConn,
    /// The TLS layer, if this connection speaks TLS.
    pub(super) tls: Option<TlsLink>,
    /// The send/receive window each way.
    pub(super) window_bytes: usize,
    /// Received (decrypted), not yet taken as responses.
    pub(super) buf: Vec<u8>,
    /// Request bytes the server's window has not taken; `released_bytes` of them the
    /// script has let go, the rest are held back (a request sent in parts).
    pub(super) pending: VecDeque<u8>,
    pub(super) released_bytes: usize,
    /// Request bytes the server's window has taken (over TLS: in whole records).
    pub(super) sent_bytes: usize,
    /// What the socket carried each way (over TLS, ciphertext: handshakes too).
    pub(super) wire_sent_bytes: u64,
    pub(super) wire_received_bytes: u64,
    /// TLS: `wire_sent_bytes` when the server read, at once, the record completing
    /// the last request with none after it; the server's phase after its answer
    /// counts only what came later.
    pub(super) answered_mark_bytes: u64,
    /// TLS: `wire_sent_bytes` before the send that began the head now arriving, less
    /// what the server had not read of it: its stall counts what came later.
    pub(super) head_mark_bytes: u64,
    /// The client took bytes without telling the server (`Read` of some): the
    /// server has not had the chance to fill the room.
    pub(super) room_untold: bool,
    /// What the server read of our bytes (ciphertext over TLS) and no earlier than
    /// when, over the last `MIN_PHASE_MS`; the totals as last seen, and when.
    pub(super) server_reads: VecDeque<(u64, u64)>,
    pub(super) seen_read_bytes: u64,
    pub(super) seen_ms: u64,
    /// TLS: our FIN came in the middle of a record.
    pub(super) record_cut: bool,
    /// TLS: the server's records failed to open (a finding, reported by
    /// `take_responses`).
    pub(super) tls_problem: Option<String>,
    /// Queued requests without an answer yet, oldest first.
    pub(super) requests: VecDeque<Expected>,
    /// The front request's `100 Continue` came.
    pub(super) continued: bool,
    /// A response said `Connection: close`; the answer was a 408 cut-off if `cut_off`.
    pub(super) close_announced: bool,
    pub(super) cut_off: bool,
    pub(super) fin_sent: bool,
    /// No later than when the server's current phase for this connection began: the
    /// accept, or a send that began or completed a request while no answer was owed.
    pub phase_floor_ms: u64,
    /// Since when nothing has been owed or held (all answers read, no bytes queued).
    pub quiet_since_ms: Option<u64>,
    /// When the server read the first byte of the head now arriving, begun with no
    /// answer owed: its stall clock started then (`None` if unknown).
    pub(super) head_began_ms: Option<u64>,
}

impl Client {
    /// Connects as the listener would accept, over TLS with `tls` (whose client
    /// sends a `close_notify` before its FIN if the flag says so); `None` if the
    /// server refuses for now.
    pub fn accept(
        server: &mut SimServer,
        window_bytes: usize,
        tls: Option<(&TlsSetup, bool)>,
    ) -> Option<Client> {
        let ip = std::net::IpAddr::from([127, 0, 0, 1]);
        let conn = match tls {
            None => server.worker.accept(ip, window_bytes)?,
            Some((setup, _)) => {
                let config = std::sync::Arc::clone(&setup.server);
                server.worker.accept_tls(ip, window_bytes, config)?
            }
        };
        let now_ms = server.worker.now_ms();
        Some(Client {
            conn,
            tls: tls.map(|(setup, close_notify)| TlsLink::new(setup.client(close_notify))),
            window_bytes,
            buf: Vec::new(),
            pending: VecDeque::new(),
            released_bytes: 0,
            sent_bytes: 0,
            wire_sent_bytes: 0,
            wire_received_bytes: 0,
            answered_mark_bytes: 0,
            head_mark_bytes: 0,
            room_untold: false,
            tls_problem: None,
            record_cut: false,
            server_reads: VecDeque::new(),
            seen_read_bytes: 0,
            seen_ms: now_ms,
            requests: VecDeque::new(),
            continued: false,
            close_announced: false,
            cut_off: false,
            fin_sent: false,
            phase_floor_ms: now_ms,
            quiet_since_ms: Some(now_ms),
            head_began_ms: None,
        })
    }

    /// Queues `request` and lets go of its first `cut` bytes (0: all of it), and of
    /// every byte held before it.
    pub fn queue(&mut self, request: MenuRequest, cut: usize) {
        if self.fin_sent {
            return;
        }
        let len = request.bytes.len();
        let held = if cut == 0 { 0 } else { len - cut.min(len) };
        self.requests.push_back(Expected {
            start: self.sent_bytes + self.pending.len(),
            bytes: request.bytes,
            status: request.status,
            marker: request.marker,
        });
        self.pending
            .extend(&self.requests.back().expect("just queued").bytes);
        self.released_bytes = self.pending.len() - held;
    }

    /// Lets go of `bytes` more held bytes (a slow client).
    pub fn trickle(&mut self, bytes: usize) {
        self.released_bytes = (self.released_bytes + bytes).min(self.pending.len());
    }

    /// Lets go of everything held.
    pub fn release_all(&mut self) {
        self.released_bytes = self.pending.len();
    }

    /// Hands the server what its window takes of the released bytes.
    pub fn push(&mut self, server: &mut SimServer) {
        if self.fin_sent {
            return;
        }
        let owed_before = self.complete_unanswered() > 0;
        let starts_request = self.requests.iter().any(|r| r.start == self.sent_bytes);
        let unread_before = self.conn.unread_by_server_bytes() as u64;
        let released = &self.pending.make_contiguous()[..self.released_bytes];
        let (wire_n, n) = match self.tls.as_mut() {
            None => {
                let n = self.conn.send(released);
                (n, n)
            }
            Some(link) => link.send(&self.conn, released),
        };
        if wire_n == 0 {
            return;
        }
        let wire_before = self.wire_sent_bytes;
        self.wire_sent_bytes += wire_n as u64;
        self.pending.drain(..n);
        self.released_bytes -= n;
        // Ends exactly where a request ends: nothing of the next one came with it.
        let completes = n > 0 && self.requests.iter().any(|r| r.end() == self.sent_bytes + n);
        let starts_request = n > 0 && starts_request;
        self.sent_bytes += n;
        if !owed_before && starts_request {
            // Confirmed by `note_state` if the server reads it in this step.
            self.head_began_ms = Some(server.worker.now_ms());
            self.head_mark_bytes = wire_before - unread_before;
        }
        if !owed_before && (starts_request || completes) {
            // With every answer read, the server was between requests (a new phase
            // begins with this one's first byte), or it now has a whole request and
            // nothing after it (it answers, waits for the writer or blocks: a new
            // phase). A request completed with the next one begun is not a new phase
            // for the stall rule: a client that completes one tiny request a second,
            // always with the next begun, is still a trickle (runtime::requests).
            // Over TLS a record still arriving is not a phase either: the server's
            // request clock starts with plaintext.
            self.phase_floor_ms = server.worker.now_ms();
        }
        self.notify(server);
        self.see_reads(server.worker.now_ms(), server.worker.now_ms());
        if completes && self.conn.unread_by_server_bytes() == 0 {
            self.answered_mark_bytes = self.wire_sent_bytes;
        }
    }

    pub(super) fn notify(&mut self, server: &mut SimServer) {
        server.worker.notify(&self.conn);
        self.room_untold = false;
    }

    /// Reads everything and tells the server (room may unblock its write), or takes
    /// at most `max_bytes` quietly (the server learns of it only as acknowledged bytes).
    pub fn read(&mut self, server: &mut SimServer, all: bool, max_bytes: usize) {
        let mut wire = Vec::new();
        if all {
            if self.conn.receive(&mut wire) == ClientRead::Reset {
                self.cut_off = true; // what was in flight is lost
            }
            self.notify(server);
        } else {
            self.conn.receive_at_most(max_bytes, &mut wire);
            self.room_untold |= !wire.is_empty();
        }
        self.wire_received_bytes += wire.len() as u64;
        match self.tls.as_mut() {
            None => self.buf.extend_from_slice(&wire),
            Some(link) => {
                // After our FIN cut a record the server may answer with an alert.
                if let Err(problem) = link.open(&wire, &mut self.buf)
                    && !self.record_cut
                {
                    self.tls_problem.get_or_insert(problem);
                }
            }
        }
    }

    /// Bytes sent and received so far: progress.
    pub fn moved_bytes(&self) -> u64 {
        self.wire_sent_bytes + self.wire_received_bytes
    }

    /// Sends our FIN (once): over TLS, after a `close_notify` if this client sends
    /// one and nothing is queued ahead of it.
    pub fn close(&mut self, server: &mut SimServer) {
        if !self.fin_sent {
            if let Some(link) = self.tls.as_mut() {
                let (taken, cut_record) = link.close_notify(&self.conn);
                self.wire_sent_bytes += taken as u64;
                self.record_cut |= cut_record;
            }
            self.conn.shutdown_write();
            self.notify(server);
            self.fin_sent = true;
        }
    }

    /// Requests sent whole and not answered yet.
    pub fn complete_unanswered(&self) -> usize {
        self.requests
            .iter()
            .filter(|r| r.end() <= self.sent_bytes)
            .count()
    }

    /// Whether the script holds bytes back or the window has not taken them all.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether the server has shut its end; if so, reads the rest and judges the
    /// close. A close that is not orderly must come at least `MIN_PHASE_MS` after
    /// the phase began, and to a connection moving under 1 KB/s. A lingering server
    /// gets our FIN, so the slot comes free.
    pub fn ended(&mut self, server: &mut SimServer) -> Result<Option<End>, String> {
        if !self.conn.server_shut_write() {
            return Ok(None);
        }
        let now_ms = server.worker.now_ms();
        self.see_reads(self.seen_ms, now_ms);
        let server_may_owe = self.tls.is_some()
            && (self.room_untold || self.conn.unread_by_client_bytes() == self.window_bytes);
        self.read(server, true, 0);
        let parsed = self.take_responses();
        let all_answered = self.close_announced && !self.cut_off
            || self.complete_unanswered() == 0 && self.fin_sent;
        self.close(server);
        // A cut-off may end an answer midway; nothing the server sent may be wrong.
        parsed?;
        if all_answered && self.buf.is_empty() {
            let end = if server_may_owe && !self.close_announced {
                End::Either
            } else {
                End::Orderly
            };
            return Ok(Some(end));
        }
        if now_ms < self.phase_floor_ms + MIN_PHASE_MS {
            return Err(format!(
                "cut off at {now_ms} ms, {} ms after its phase began (at {} ms at the \
                 earliest), with {} answers owed, {} request bytes not sent, {} response \
                 bytes incomplete",
                now_ms - self.phase_floor_ms,
                self.phase_floor_ms,
                self.complete_unanswered(),
                self.pending.len(),
                self.buf.len()
            ));
        }
        // Stalled means under 1 KB/s since the phase began: the server counts at least
        // what it read of ours in the last second, in a phase begun no earlier than
        // the floor (`runtime::lifecycle::stalled_at_ms`).
        let recent_bytes: u64 = self.server_reads.iter().map(|&(_, n)| n).sum();
        if recent_bytes + 1 > now_ms - self.phase_floor_ms {
            return Err(format!(
                "cut off at {now_ms} ms as stalled, though the server read {recent_bytes} \
                 bytes of ours in the last second of a phase begun at {} ms at the earliest",
                self.phase_floor_ms
            ));
        }
        Ok(Some(End::Reclaimed))
    }
}
