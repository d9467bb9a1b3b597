//! One connection of a `connection` run: performs actions, records every byte sent,
//! and matches what comes back against the framing of those bytes.

use availability_server::http::Method;
use availability_server::server::SimServer;

use super::HEAD_TIMEOUT_MS;
use super::actions::Action;
use super::client::{ReadEnd, Response, Wire};
use super::expect::{Mirror, check_response};
use super::menu::{self, MenuRequest};
use super::tls::TlsSetup;
use crate::framing::{Framing, Stop, a_prefix_is_too_big, frame_stream, head_like};

mod end;

/// The interim response to `Expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Virtual time the server may go without sending a byte while it owes answers, or
/// before it closes after our FIN. A deadline on progress, not on the whole wait:
/// eleven pipelined 22 KB answers through a 333-byte window legitimately take longer
/// than 5 s of 20 ms looks (a false finding the fuzzer made of a fixed deadline).
const ANSWER_DEADLINE_MS: u64 = 5000;
/// Virtual time between looks while waiting for answers.
const WAIT_STEP_MS: u64 = 20;

pub struct Session<'s> {
    server: &'s mut SimServer,
    wire: Wire,
    sent: Vec<u8>,
    framing: Framing,
    menu: Vec<(usize, MenuRequest)>,
    /// Responses taken so far.
    received: usize,
    /// A response said `Connection: close`.
    saw_close: bool,
    /// We slept past the server's head timeout while it held an incomplete request (or
    /// none yet, on a fresh connection): it may answer 408 and close. Nothing more is
    /// sent on this connection.
    timed_out: bool,
    seq: u64,
    /// Index of the request a `100 Continue` was last taken for (at most one each).
    continued: Option<usize>,
    /// Virtual ms at the accept.
    opened_ms: u64,
    /// (stream offset after the send, virtual ms when it was sent), for every send.
    sends: Vec<(usize, u64)>,
}

impl<'s> Session<'s> {
    /// Opens a connection; with `tls`, over TLS (our close sending a
    /// `close_notify` first if its flag says so).
    pub fn open(
        server: &'s mut SimServer,
        window_bytes: usize,
        tls: Option<(&TlsSetup, bool)>,
    ) -> Session<'s> {
        let wire = match tls {
            None => Wire::connect(server, window_bytes),
            Some((setup, close_notify)) => {
                Wire::connect_tls(server, window_bytes, setup, close_notify)
            }
        };
        let opened_ms = server.worker.now_ms();
        Session {
            server,
            wire,
            sent: Vec::new(),
            framing: frame_stream(&[], 0),
            menu: Vec::new(),
            received: 0,
            saw_close: false,
            timed_out: false,
            seq: 0,
            continued: None,
            opened_ms,
            sends: Vec::new(),
        }
    }

    pub fn act(&mut self, action: &Action, mirror: &mut Mirror) {
        match action {
            Action::Raw(bytes) => self.send(bytes, mirror),
            Action::Repeat { unit, count } => self.send(&Action::repeated(unit, *count), mirror),
            Action::Menu { item, arg, split } => {
                self.seq += 1;
                let request = menu::build(*item, *arg, self.seq);
                let cut = usize::from(*split).min(request.bytes.len());
                let start = self.sent.len();
                let bytes = request.bytes.clone();
                self.menu.push((start, request));
                if cut == 0 || cut == bytes.len() {
                    self.send(&bytes, mirror);
                } else {
                    self.send(&bytes[..cut], mirror);
                    self.server.worker.advance_ms(2);
                    self.send(&bytes[cut..], mirror);
                }
            }
            Action::Pause { ms: 255 } => {
                // An idle kept-alive connection outlives this; a fresh one or one holding
                // part of a request does not.
                let partial = matches!(self.framing.stop, Stop::NeedMore { partial_bytes, .. } if partial_bytes > 0);
                self.server.worker.advance_ms(HEAD_TIMEOUT_MS + 300);
                self.timed_out |= partial || self.sent.is_empty();
                self.wire.read_available(self.server);
                self.pump(mirror);
            }
            Action::Pause { ms } => self.server.worker.advance_ms(u64::from(ms % 20)),
            Action::Read { ms } => {
                self.wire.settle(self.server);
                self.wire.read_available(self.server);
                self.server.worker.advance_ms(u64::from(ms % 50));
                self.wire.read_available(self.server);
                self.pump(mirror);
            }
            Action::HalfClose { tamper } => {
                if *tamper && self.wire.tamper(self.server) {
                    self.wait_for_close_after_tamper(mirror);
                }
                self.wire.shutdown_write(self.server);
            }
            Action::Reconnect => unreachable!("handled by the caller"),
        }
    }

    fn send(&mut self, bytes: &[u8], mirror: &mut Mirror) {
        if bytes.is_empty()
            || self.timed_out
            || self.wire.write_closed
            || self.wire.end != ReadEnd::Open
        {
            return;
        }
        let before = self.sent.len();
        let sent = self.wire.send_counted(self.server, bytes);
        self.sent.extend_from_slice(&bytes[..sent]);
        if self.sent.len() != before {
            self.framing = frame_stream(&self.sent, 0);
            self.sends
                .push((self.sent.len(), self.server.worker.now_ms()));
        }
        self.wire.read_available(self.server);
        self.pump(mirror);
    }

    /// Takes every complete response off the wire and checks it.
    fn pump(&mut self, mirror: &mut Mirror) {
        loop {
            if self.saw_close && !self.wire.buf.is_empty() {
                fail(self, "bytes after a Connection: close response");
            }
            let index = self.received;
            let framing = &self.framing;
            // An interim `100 Continue` may precede the answer to a request that asked
            // for it, once (SPEC §5 via RFC 9110 §10.1.1), and no other.
            let expects = match framing.requests.get(index) {
                Some(r) => r.expects_continue,
                None => index == framing.requests.len() && framing.tail_expects_continue,
            };
            if expects && self.continued != Some(index) && !self.saw_close {
                if self.wire.buf.starts_with(CONTINUE) {
                    self.wire.buf.drain(..CONTINUE.len());
                    self.continued = Some(index);
                    continue;
                }
                if !self.wire.buf.is_empty() && CONTINUE.starts_with(&self.wire.buf) {
                    break; // Part of the interim response so far.
                }
            }
            let (request, reject) = match (framing.requests.get(index), framing.stop) {
                (Some(r), _) => (Some(r.clone()), None),
                (
                    None,
                    Stop::Reject {
                        status,
                        head_method,
                        head_refused,
                    },
                ) if index == framing.requests.len() => {
                    (None, Some((status, head_method, head_refused)))
                }
                (None, Stop::NeedMore { partial_bytes, .. })
                    if index == framing.requests.len()
                        && partial_bytes > 0
                        && (self.timed_out || self.may_have_timed_out()) =>
                {
                    // The partial request's refusal is headers only if it is a HEAD's.
                    let partial = &self.sent[self.sent.len() - partial_bytes..];
                    (None, Some((408, head_like(partial), false)))
                }
                _ => (None, None),
            };
            let taken = match (&request, reject) {
                (Some(r), _) => self.wire.take_response(r.method == Method::Head),
                (None, Some((_, head_method, _))) => {
                    // RFC 9110 §9.3.2: no content in a response to HEAD, errors included.
                    self.wire.take_response(head_method == Some(Method::Head))
                }
                (None, None) => {
                    if !self.wire.buf.is_empty() {
                        fail(self, "bytes that answer no request");
                    }
                    break;
                }
            };
            let response = match taken {
                Ok(Some(response)) => response,
                Ok(None) => break,
                Err(problem) => fail(self, &problem),
            };
            self.received += 1;
            self.saw_close |= response.close;
            match (&request, reject) {
                (Some(r), _) => {
                    let half_closed = self.wire.write_closed;
                    if let Err(problem) = check_response(r, &response, mirror, half_closed) {
                        fail(self, &format!("response {index}: {problem}"));
                    }
                    self.check_menu(r.start, r.len_bytes, &response);
                }
                (None, Some((status, _, head_refused))) => {
                    // The model frames everything sent as if it had arrived at once;
                    // the worker may have refused a malformed head as too big (431)
                    // on a part of it (README, fuzzing finding 6).
                    let expected = response.status == status
                        || (head_refused
                            && status == 400
                            && response.status == 431
                            && a_prefix_is_too_big(&self.sent[framing.consumed_bytes..]));
                    if !expected || !response.close {
                        fail(
                            self,
                            &format!("expected a closing {status}, got {response:?}"),
                        );
                    }
                }
                (None, None) => unreachable!("handled above"),
            }
        }
        if self.wire.end != ReadEnd::Open {
            self.check_end();
        }
    }

    /// A menu request's answer has the status and marker the menu states.
    fn check_menu(&self, start: usize, len: usize, response: &Response) {
        let Some((_, request)) = self.menu.iter().find(|(s, _)| *s == start) else {
            return;
        };
        if request.bytes.len() != len {
            fail(self, "the framing model cut a menu request differently");
        }
        if response.status != request.status {
            fail(
                self,
                &format!(
                    "menu request answered {}, SPEC says {}",
                    response.status, request.status
                ),
            );
        }
        if let Some(marker) = &request.marker
            && crate::lines::find(&response.body, marker).is_none()
        {
            fail(
                self,
                &format!("menu answer lacks {:?}", String::from_utf8_lossy(marker)),
            );
        }
    }

    /// Looks while `waiting` holds; fails with `problem` after `ANSWER_DEADLINE_MS` of
    /// virtual time without a byte from the server.
    fn wait_while(&mut self, mirror: &mut Mirror, waiting: fn(&Self) -> bool, problem: &str) {
        let mut progress = (self.wire.received_bytes, self.server.worker.now_ms());
        while waiting(self) {
            if self.wire.received_bytes != progress.0 {
                progress = (self.wire.received_bytes, self.server.worker.now_ms());
            }
            if self.server.worker.now_ms() >= progress.1 + ANSWER_DEADLINE_MS {
                fail(self, problem);
            }
            self.look(mirror);
        }
    }

    /// One wait step: the writer's replies, what arrived, then a little virtual time.
    /// Time moves only when nothing came: we are a fast reader, and a long transfer
    /// must not run into the server's write timeout on our account.
    fn look(&mut self, mirror: &mut Mirror) {
        self.wire.settle(self.server);
        let arrived = self.wire.read_available(self.server);
        self.pump(mirror);
        if self.wire.end == ReadEnd::Open && !arrived {
            self.server.worker.advance_ms(WAIT_STEP_MS);
            self.wire.read_available(self.server);
            self.pump(mirror);
        }
    }
}

fn fail(session: &Session<'_>, problem: &str) -> ! {
    let sent = String::from_utf8_lossy(&session.sent);
    let shown: String = sent.chars().take(4000).collect();
    panic!(
        "connection invariant violated: {problem}\n  responses taken: {}\n  unparsed: {:?}\n  sent ({} bytes): {shown:?}",
        session.received,
        String::from_utf8_lossy(&session.wire.buf),
        session.sent.len()
    );
}
