//! One connection of a `connection` run: performs actions, records every byte sent,
//! and matches what comes back against the framing of those bytes.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use availability_server::http::Method;

use super::actions::Action;
use super::client::{ReadEnd, Response, Wire};
use super::expect::{Mirror, check_response};
use super::menu::{self, MenuRequest};
use super::{HEAD_TIMEOUT_MS, IDLE_TIMEOUT_MS};
use crate::framing::{Framing, Stop, frame_stream};

/// The interim response to `Expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Longest a send, or the wait for answers to complete requests, may take.
const ANSWER_DEADLINE: Duration = Duration::from_secs(5);

pub struct Session {
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
    opened: Instant,
    /// (stream offset after the send, when it was sent), for every send.
    sends: Vec<(usize, Instant)>,
}

impl Session {
    pub fn open(addr: SocketAddr) -> Session {
        Session {
            wire: Wire::connect(addr),
            sent: Vec::new(),
            framing: frame_stream(&[], 0),
            menu: Vec::new(),
            received: 0,
            saw_close: false,
            timed_out: false,
            seq: 0,
            continued: None,
            opened: Instant::now(),
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
                    std::thread::sleep(Duration::from_millis(2));
                    self.send(&bytes[cut..], mirror);
                }
            }
            Action::Pause { ms: 255 } => {
                // An idle kept-alive connection outlives this; a fresh one or one holding
                // part of a request does not.
                let partial = matches!(self.framing.stop, Stop::NeedMore { partial_bytes, .. } if partial_bytes > 0);
                std::thread::sleep(Duration::from_millis(HEAD_TIMEOUT_MS + 300));
                self.timed_out |= partial || self.sent.is_empty();
                self.pump(mirror);
            }
            Action::Pause { ms } => std::thread::sleep(Duration::from_millis(u64::from(ms % 20))),
            Action::Read { ms } => {
                self.wire
                    .read_wait(Duration::from_millis(u64::from(ms % 50)));
                self.pump(mirror);
            }
            Action::HalfClose => self.wire.shutdown_write(),
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
        let sent = self.wire.send_counted(bytes, ANSWER_DEADLINE);
        self.sent.extend_from_slice(&bytes[..sent]);
        if self.sent.len() != before {
            self.framing = frame_stream(&self.sent, 0);
            self.sends.push((self.sent.len(), Instant::now()));
        }
        self.wire.read_available();
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
                    },
                ) if index == framing.requests.len() => (None, Some((status, head_method))),
                (None, Stop::NeedMore { partial_bytes, .. })
                    if index == framing.requests.len()
                        && partial_bytes > 0
                        && (self.timed_out || self.may_have_timed_out()) =>
                {
                    (None, Some((408, None)))
                }
                _ => (None, None),
            };
            let taken = match (&request, reject) {
                (Some(r), _) => self.wire.take_response(r.method == Method::Head),
                (None, Some((_, head_method))) => {
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
                (None, Some((status, _))) => {
                    if response.status != status || !response.close {
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

    /// Whether one of the server's timers may have fired by now (with 300 ms of slack
    /// for its 100 ms timer tick): the head/body timer counts from the first byte of
    /// the incomplete request, the fresh-connection timer from the accept, the idle
    /// timer from the last request.
    fn may_have_timed_out(&self) -> bool {
        let slack = Duration::from_millis(300);
        let head = Duration::from_millis(HEAD_TIMEOUT_MS) - slack;
        let since_send_of = |offset: usize| {
            let sent_at = self.sends.iter().find(|(end, _)| *end > offset);
            sent_at.map_or(Duration::ZERO, |(_, at)| at.elapsed())
        };
        match self.framing.stop {
            Stop::NeedMore { partial_bytes, .. } if partial_bytes > 0 => {
                since_send_of(self.framing.consumed_bytes) >= head
            }
            _ if self.sent.is_empty() => self.opened.elapsed() >= head,
            Stop::NeedMore { .. } => {
                let idle = Duration::from_millis(IDLE_TIMEOUT_MS) - slack;
                self.sends
                    .last()
                    .is_some_and(|(_, at)| at.elapsed() >= idle)
            }
            _ => false,
        }
    }

    /// Requests the server owes an answer to, counting a rejection's error response.
    fn owed(&self) -> usize {
        let rejected = matches!(self.framing.stop, Stop::Reject { .. });
        self.framing.requests.len() + usize::from(rejected)
    }

    /// The server ended the connection: was it entitled to?
    fn check_end(&self) {
        let framing_closes = matches!(self.framing.stop, Stop::Reject { .. } | Stop::Closed);
        let excused = self.wire.write_closed || self.timed_out || self.may_have_timed_out();
        match self.wire.end {
            ReadEnd::Eof => {
                if self.received < self.owed() && !excused {
                    fail(
                        self,
                        &format!(
                            "closed with {} of {} answers sent",
                            self.received,
                            self.owed()
                        ),
                    );
                }
                if !self.saw_close && !excused {
                    fail(
                        self,
                        "closed a kept-alive connection without Connection: close",
                    );
                }
            }
            ReadEnd::Reset if !(framing_closes || excused) => fail(self, "connection reset"),
            _ => {}
        }
    }

    /// Waits for every owed answer, closes our side and waits for the server's close.
    pub fn finish(mut self, mirror: &mut Mirror) {
        let until = Instant::now() + ANSWER_DEADLINE;
        while self.wire.end == ReadEnd::Open
            && self.received < self.owed()
            && !self.wire.write_closed
        {
            if Instant::now() >= until {
                fail(&self, "complete requests not answered within 5 s");
            }
            self.wire.read_wait(Duration::from_millis(20));
            self.pump(mirror);
        }
        // After our FIN the server answers what it holds, then closes (even when the FIN
        // came in the same segment as the last request bytes).
        self.wire.shutdown_write();
        let until = Instant::now() + ANSWER_DEADLINE;
        while self.wire.end == ReadEnd::Open {
            if Instant::now() >= until {
                fail(
                    &self,
                    "the server kept a half-closed connection open for 5 s",
                );
            }
            self.wire.read_wait(Duration::from_millis(20));
            self.pump(mirror);
        }
        self.pump(mirror);
        if self.wire.end == ReadEnd::Eof && !self.wire.buf.is_empty() {
            fail(&self, "a partial response before the close");
        }
        // Writes whose answers never came may or may not have happened.
        for request in self.framing.requests.iter().skip(self.received) {
            mirror.forget(request);
        }
    }
}

fn fail(session: &Session, problem: &str) -> ! {
    let sent = String::from_utf8_lossy(&session.sent);
    let shown: String = sent.chars().take(4000).collect();
    panic!(
        "connection invariant violated: {problem}\n  responses taken: {}\n  unparsed: {:?}\n  sent ({} bytes): {shown:?}",
        session.received,
        String::from_utf8_lossy(&session.wire.buf),
        session.sent.len()
    );
}
