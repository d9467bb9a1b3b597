//! How a [`Session`] ends: whether the server was entitled to end it, the orderly
//! finish (every answer, our FIN, the server's close), and the close a corrupt TLS
//! record must bring on its own.

use super::{Session, fail};
use crate::conn::client::ReadEnd;
use crate::conn::expect::Mirror;
use crate::conn::{HEAD_TIMEOUT_MS, IDLE_TIMEOUT_MS, TIMER_TICK_MS};
use crate::framing::Stop;

/// Virtual time within which the server must close after a record that cannot
/// decrypt, counted only while nothing arrives: under any of its timeouts, so the
/// close is the bad record's.
const TAMPER_CLOSE_MS: u64 = 1000;

impl Session<'_> {
    /// Whether one of the server's timers may have fired by now. The clock is
    /// virtual, so this is exact up to the timer wheel's tick: a timer may fire up to
    /// one tick late, never early. The head/body timer counts from the first byte of
    /// the incomplete request, the fresh-connection timer from the accept, the idle
    /// timer from the last request.
    pub(super) fn may_have_timed_out(&self) -> bool {
        let now_ms = self.server.worker.now_ms();
        let since_send_of = |offset: usize| {
            let sent_at = self.sends.iter().find(|(end, _)| *end > offset);
            sent_at.map_or(0, |(_, at_ms)| now_ms - at_ms)
        };
        match self.framing.stop {
            Stop::NeedMore { partial_bytes, .. } if partial_bytes > 0 => {
                since_send_of(self.framing.consumed_bytes) >= HEAD_TIMEOUT_MS
            }
            _ if self.sent.is_empty() => now_ms - self.opened_ms >= HEAD_TIMEOUT_MS,
            Stop::NeedMore { .. } => self
                .sends
                .last()
                .is_some_and(|(_, at_ms)| now_ms - at_ms >= IDLE_TIMEOUT_MS - TIMER_TICK_MS),
            _ => false,
        }
    }

    /// Requests the server owes an answer to, counting a rejection's error response.
    pub(super) fn owed(&self) -> usize {
        let rejected = matches!(self.framing.stop, Stop::Reject { .. });
        self.framing.requests.len() + usize::from(rejected)
    }

    /// The server ended the connection: was it entitled to?
    pub(super) fn check_end(&self) {
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
        self.wait_while(
            mirror,
            |s| s.wire.end == ReadEnd::Open && s.received < s.owed() && !s.wire.write_closed,
            "complete requests not answered (no byte for 5 s)",
        );
        // After our FIN the server answers what it holds, then closes (even when the FIN
        // came in the same event as the last request bytes).
        self.wire.shutdown_write(self.server);
        self.wait_while(
            mirror,
            |s| s.wire.end == ReadEnd::Open,
            "the server kept a half-closed connection open (no byte for 5 s)",
        );
        self.pump(mirror);
        // After a corrupt record the server may drop what it was sending.
        if self.wire.end == ReadEnd::Eof && !self.wire.buf.is_empty() && !self.wire.tampered {
            fail(&self, "a partial response before the close");
        }
        // Writes whose answers never came may or may not have happened.
        for request in self.framing.requests.iter().skip(self.received) {
            mirror.forget(request);
        }
    }

    /// After a corrupt record, the server sends what it owes before it (or not) and
    /// closes, on its own: no FIN from us, no timeout.
    pub(super) fn wait_for_close_after_tamper(&mut self, mirror: &mut Mirror) {
        let started_ms = self.server.worker.now_ms();
        while self.wire.end == ReadEnd::Open {
            if self.server.worker.now_ms() >= started_ms + TAMPER_CLOSE_MS {
                fail(
                    self,
                    "the server kept a connection open after a record that cannot decrypt",
                );
            }
            self.look(mirror);
        }
    }
}
