//! One client of a `connection_cap` run: a non-blocking client of one in-memory
//! connection that queues menu requests, lets their bytes go when the script says,
//! checks every answer in order, and knows from the outside when the server may have
//! begun what it is doing for this connection (`phase_floor_ms`).

use std::collections::VecDeque;

use availability_server::http::Method;
use availability_server::runtime::sim::{ClientRead, SimConn};
use availability_server::server::SimServer;

use crate::conn::client::{Response, take_response};
use crate::conn::menu::MenuRequest;
use crate::framing::head_like;
use crate::lines::find;

/// The interim response to `Expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
/// The server's rule (runtime::reuse, runtime::lifecycle): no connection is closed for
/// a newcomer or cut off for a buffer before its phase has lasted this long.
pub const MIN_PHASE_MS: u64 = 1_000;

/// A queued request and what its answer must be.
struct Expected {
    /// Its bytes, and where they start in the connection's stream.
    bytes: Vec<u8>,
    start: usize,
    status: u16,
    marker: Option<Vec<u8>>,
}

impl Expected {
    fn end(&self) -> usize {
        self.start + self.bytes.len()
    }
    fn head_only(&self) -> bool {
        head_like(&self.bytes) == Some(Method::Head)
    }
    fn expects_continue(&self) -> bool {
        find(&self.bytes, b"Expect: 100-continue").is_some()
    }
}

/// How a connection ended, as the model judges it.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// Every answer owed came and the close was announced or asked for.
    Orderly,
    /// The server closed it with work owed or unannounced: for a newcomer or a buffer.
    Reclaimed,
}

pub struct Client {
    conn: SimConn,
    /// Received, not yet taken as responses.
    buf: Vec<u8>,
    /// Request bytes the server's window has not taken; `released_bytes` of them the
    /// script has let go, the rest are held back (a request sent in parts).
    pending: VecDeque<u8>,
    released_bytes: usize,
    /// Bytes the server's window has taken, and bytes received.
    sent_bytes: usize,
    received_bytes: usize,
    /// Queued requests without an answer yet, oldest first.
    requests: VecDeque<Expected>,
    /// The front request's `100 Continue` came.
    continued: bool,
    /// A response said `Connection: close`; the answer was a 408 cut-off if `cut_off`.
    close_announced: bool,
    cut_off: bool,
    fin_sent: bool,
    /// No later than when the server's current phase for this connection began: the
    /// accept, or a send that began or completed a request while no answer was owed.
    pub phase_floor_ms: u64,
    /// Since when nothing has been owed or held (all answers read, no bytes queued).
    pub quiet_since_ms: Option<u64>,
    /// When the server read the first byte of the head now arriving, begun with no
    /// answer owed: its stall clock started then (`None` if unknown).
    head_began_ms: Option<u64>,
}

impl Client {
    /// Connects as the listener would accept; `None` if the server refuses for now.
    pub fn accept(server: &mut SimServer, window_bytes: usize) -> Option<Client> {
        let conn = server
            .worker
            .accept(std::net::IpAddr::from([127, 0, 0, 1]), window_bytes)?;
        let now_ms = server.worker.now_ms();
        Some(Client {
            conn,
            buf: Vec::new(),
            pending: VecDeque::new(),
            released_bytes: 0,
            sent_bytes: 0,
            received_bytes: 0,
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
        if self.released_bytes == 0 || self.fin_sent {
            return;
        }
        let owed_before = self.complete_unanswered() > 0;
        let starts_request = self.requests.iter().any(|r| r.start == self.sent_bytes);
        let n = self
            .conn
            .send(&self.pending.make_contiguous()[..self.released_bytes]);
        if n == 0 {
            return;
        }
        self.pending.drain(..n);
        self.released_bytes -= n;
        // Ends exactly where a request ends: nothing of the next one came with it.
        let completes = self.requests.iter().any(|r| r.end() == self.sent_bytes + n);
        self.sent_bytes += n;
        if !owed_before && starts_request {
            // Confirmed by `note_state` if the server reads it in this step.
            self.head_began_ms = Some(server.worker.now_ms());
        }
        if !owed_before && (starts_request || completes) {
            // With every answer read, the server was between requests (a new phase
            // begins with this one's first byte), or it now has a whole request and
            // nothing after it (it answers, waits for the writer or blocks: a new
            // phase). A request completed with the next one begun is not a new phase
            // for the stall rule: a client that completes one tiny request a second,
            // always with the next begun, is still a trickle (runtime::requests).
            self.phase_floor_ms = server.worker.now_ms();
        }
        server.worker.notify(&self.conn);
    }

    /// Reads everything and tells the server (room may unblock its write), or takes
    /// at most `max_bytes` quietly (the server learns of it only as acknowledged bytes).
    pub fn read(&mut self, server: &mut SimServer, all: bool, max_bytes: usize) {
        let before = self.buf.len();
        if all {
            if self.conn.receive(&mut self.buf) == ClientRead::Reset {
                self.cut_off = true; // what was in flight is lost
            }
            server.worker.notify(&self.conn);
        } else {
            self.conn.receive_at_most(max_bytes, &mut self.buf);
        }
        self.received_bytes += self.buf.len() - before;
    }

    /// Bytes sent and received so far: progress.
    pub fn moved_bytes(&self) -> u64 {
        (self.sent_bytes + self.received_bytes) as u64
    }

    /// Sends our FIN (once).
    pub fn close(&mut self, server: &mut SimServer) {
        if !self.fin_sent {
            self.conn.shutdown_write();
            server.worker.notify(&self.conn);
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

    /// Takes every complete response and checks it against the request it answers.
    pub fn take_responses(&mut self) -> Result<(), String> {
        while !self.buf.is_empty() {
            if self.close_announced {
                return Err("bytes after a Connection: close response".into());
            }
            let Some(front) = self.requests.front() else {
                return Err("bytes that answer no request".into());
            };
            let complete = front.end() <= self.sent_bytes;
            // Sent once its head is in, before the body: the request may not be whole.
            let started = self.sent_bytes > front.start;
            if started && front.expects_continue() && !self.continued {
                if self.buf.starts_with(CONTINUE) {
                    self.buf.drain(..CONTINUE.len());
                    self.continued = true;
                    continue;
                }
                if CONTINUE.starts_with(&self.buf) {
                    return Ok(()); // part of the interim response so far
                }
            }
            // A refusal of a request not sent whole is headers only if what came of it
            // starts like a HEAD.
            let sent_part = &front.bytes[..self
                .sent_bytes
                .saturating_sub(front.start)
                .min(front.bytes.len())];
            let head_only = if complete {
                front.head_only()
            } else {
                head_like(sent_part) == Some(Method::Head)
            };
            let Some(response) = take_response(&mut self.buf, head_only)? else {
                return Ok(());
            };
            if !complete {
                // Only a stalled request is answered before it is whole: cut off, 408.
                if front.start >= self.sent_bytes || response.status != 408 || !response.close {
                    return Err(format!(
                        "an answer to a request not sent whole ({} of {} bytes): {response:?}",
                        self.sent_bytes.saturating_sub(front.start),
                        front.bytes.len()
                    ));
                }
                self.cut_off = true;
                self.close_announced = true;
                continue;
            }
            self.check(front, &response)?;
            self.requests.pop_front();
            self.continued = false;
            self.close_announced |= response.close;
        }
        Ok(())
    }

    fn check(&self, request: &Expected, response: &Response) -> Result<(), String> {
        if response.status != request.status {
            return Err(format!(
                "answered {}, SPEC says {}: {:?}",
                response.status,
                request.status,
                String::from_utf8_lossy(&request.bytes)
            ));
        }
        if let Some(marker) = &request.marker
            && !request.head_only()
            && find(&response.body, marker).is_none()
        {
            return Err(format!(
                "the answer lacks {:?}",
                String::from_utf8_lossy(marker)
            ));
        }
        Ok(())
    }

    /// Whether the server has shut its end; if so, reads the rest and judges the
    /// close. A close that is not orderly must come at least `MIN_PHASE_MS` after
    /// the phase began. A lingering server gets our FIN, so the slot comes free.
    pub fn ended(&mut self, server: &mut SimServer) -> Result<Option<End>, String> {
        if !self.conn.server_shut_write() {
            return Ok(None);
        }
        self.read(server, true, 0);
        let parsed = self.take_responses();
        let all_answered = self.close_announced && !self.cut_off
            || self.complete_unanswered() == 0 && self.fin_sent;
        self.close(server);
        let now_ms = server.worker.now_ms();
        // A cut-off may end an answer midway; nothing the server sent may be wrong.
        parsed?;
        if all_answered && self.buf.is_empty() {
            return Ok(Some(End::Orderly));
        }
        if now_ms < self.phase_floor_ms + MIN_PHASE_MS {
            return Err(format!(
                "cut off at {now_ms} ms, {} ms after its phase began (at {} ms at the \
                 latest), with {} answers owed, {} request bytes not sent, {} response \
                 bytes incomplete",
                now_ms - self.phase_floor_ms,
                self.phase_floor_ms,
                self.complete_unanswered(),
                self.pending.len(),
                self.buf.len()
            ));
        }
        Ok(Some(End::Reclaimed))
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
        Some(began_ms + MIN_PHASE_MS.max(sent.len() as u64 + 1))
    }

    /// Updates `quiet_since_ms` (quiet while nothing is owed, held, or closing) and
    /// `head_began_ms` (kept while the head it dates is the one arriving, and only if
    /// the server read its first bytes in the step they were sent).
    pub fn note_state(&mut self, now_ms: u64) {
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
            && !self.close_announced;
        if !quiet {
            self.quiet_since_ms = None;
        } else if self.quiet_since_ms.is_none() {
            self.quiet_since_ms = Some(now_ms);
        }
    }
}
