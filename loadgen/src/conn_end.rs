//! How a [`Conn`] ends: the server closes it (after a complete answer or mid-answer),
//! an error gives up what is in flight, or a connect fails; each drops the socket.
//! A child module of `conn`, so it works on the connection's private state.

use super::{BACKOFF_NS, Conn, Env, Phase};
use crate::report::{ErrorKind, Stats};
use crate::schedule::now_ns;

impl Conn {
    /// The server closed its side: an answer framed by the close completes; an idle
    /// connection just closes; anything else in flight failed.
    pub(super) fn on_eof(&mut self, env: &Env, stats: &mut Stats) {
        let now_ns = now_ns();
        if let Some(resp) = self.parser.on_eof() {
            if let Some(done) = self.inflight.pop_front() {
                stats.record(
                    done.req,
                    now_ns.saturating_sub(done.intended_ns),
                    resp.status,
                );
            }
            return self.server_closed(env, stats, now_ns);
        }
        if self.inflight.is_empty() && self.parser.is_idle() {
            // An idle keep-alive connection closed by the server: reopen when needed.
            self.drop_socket();
            self.phase = Phase::Closed;
            return;
        }
        self.fail(
            stats,
            ErrorKind::Read,
            "connection closed before the response ended",
        );
    }

    /// The server ends the connection after a complete response: anything still in
    /// flight was not processed and is re-sent on a new connection.
    pub(super) fn server_closed(&mut self, env: &Env, stats: &mut Stats, now_ns: u64) {
        self.drop_socket();
        self.phase = Phase::Closed;
        if !self.inflight.is_empty() {
            self.connect(env, stats, now_ns);
        }
    }

    /// Gives up every request in flight (counted as `kind`), closes, and backs off
    /// before the slot takes new work.
    pub(super) fn fail(&mut self, stats: &mut Stats, kind: ErrorKind, why: &str) {
        let lost = self.inflight.len() as u64;
        // An error with nothing in flight (say, garbage on an idle connection) still counts once.
        stats.error(kind, lost.max(1), || why.to_owned());
        stats.dropped += lost;
        self.inflight.clear();
        self.drop_socket();
        self.phase = Phase::Backoff {
            until_ns: now_ns().saturating_add(BACKOFF_NS),
        };
    }

    /// Connecting failed (the connect, its registration or the TLS handshake): one
    /// connect error, then the backoff; queued requests wait for the next try.
    pub(super) fn connect_failed(&mut self, stats: &mut Stats, now_ns: u64, why: &str) {
        stats.error(ErrorKind::Connect, 1, || why.to_owned());
        self.drop_socket();
        self.phase = Phase::Backoff {
            until_ns: now_ns.saturating_add(BACKOFF_NS),
        };
    }

    /// Forgets the socket and everything tied to it; the slot keeps its queue.
    pub(super) fn drop_socket(&mut self) {
        // Closing the descriptor removes it from the epoll set; no deregister syscall.
        self.sock = None;
        self.tls = None;
        self.wbuf.clear();
        self.wpos = 0;
        (self.rstart, self.rend) = (0, 0);
        self.parser.reset();
    }
}
