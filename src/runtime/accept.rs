//! Taking newcomers off the listeners: `accept`, at the cap making room first
//! (`runtime::reuse`), and the retry after a failed `accept` (out of descriptors).

use std::io;

use mio::net::TcpStream;

use super::conn::Transport;
use super::worker::{ACCEPT_LOG_INTERVAL_MS, TIMER_TICK_MS, Worker};
use super::{Handler, ListenerKind};

impl<H: Handler> Worker<H, TcpStream> {
    /// After a failed `accept`, tries every listener again (see `accept`). Cold and
    /// out of line: it must not change how the hot loop is compiled.
    #[cold]
    #[inline(never)]
    pub(super) fn retry_accepts(&mut self) {
        self.accept_retry_at_ms = None;
        // The admin listener first: each freed descriptor would otherwise go to the
        // public backlog, and `/ready` probes wait behind it.
        for admin_first in [true, false] {
            for i in 0..self.listeners.len() {
                if (self.listeners[i].kind == ListenerKind::Admin) == admin_first {
                    self.accept(i);
                }
            }
        }
    }

    pub(super) fn accept(&mut self, listener_index: usize) {
        loop {
            let Some(listening) = self.listeners.get(listener_index) else {
                return;
            };
            if !listening.registered {
                return; // paused: a stale event from before `sync_listeners`
            }
            // At its cap, a newcomer replaces the longest-quiet connection of its kind,
            // or a stalled one; with neither, it waits in the backlog (the listener
            // pauses).
            let kind = listening.kind;
            let room = if self.at_cap(kind) {
                match self.room_for_newcomer(kind) {
                    Some(room) => Some(room),
                    None => return self.sync_listeners(),
                }
            } else {
                None
            };
            let listening = &self.listeners[listener_index];
            let (socket, peer) = match listening.socket.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if let Some(room) = room
                        && is_out_of_descriptors(&e) =>
                {
                    self.cfg.stats[self.index].accept_errors.inc();
                    // With a connection chosen to make room: closing it frees a
                    // descriptor too, and the next try is below the cap. Linux takes
                    // the descriptor before it looks at the backlog, so EMFILE does
                    // not say a newcomer waits: after one is taken, the next round
                    // would close a connection for nobody. An empty backlog stays
                    // quiet until the next connection's epoll edge.
                    if backlog_is_empty(&listening.socket) {
                        return;
                    }
                    self.make_room(room);
                    continue;
                }
                Err(e) => {
                    // EMFILE and friends: leave the rest in the backlog. epoll is
                    // edge-triggered, so nothing would call us again for them until
                    // another client connects: the timer tick retries (`run`).
                    self.accept_retry_at_ms = Some(self.now_ms + TIMER_TICK_MS);
                    self.cfg.stats[self.index].accept_errors.inc();
                    if self.now_ms >= self.next_accept_log_ms {
                        crate::say_err!(
                            "worker {}: accept failed: {e} (retrying every {TIMER_TICK_MS} ms; \
                             logged at most every {} s, counted in availability_accept_errors_total)",
                            self.index,
                            ACCEPT_LOG_INTERVAL_MS / 1000
                        );
                        self.next_accept_log_ms = self.now_ms + ACCEPT_LOG_INTERVAL_MS;
                    }
                    return;
                }
            };
            let transport = match &listening.tls {
                Some(config) => match rustls::ServerConnection::new(config.load_full()) {
                    Ok(tls) => Transport::Tls(Box::new(tls)),
                    Err(_) => continue,
                },
                None => Transport::Plain,
            };
            if let Some(room) = room {
                self.make_room(room);
            }
            // Inherited from the listener (`listener::bound_socket`):
            // checked in debug builds, where the tests run, at one syscall per accept.
            debug_assert!(
                socket.nodelay().unwrap_or(true),
                "TCP_NODELAY not inherited"
            );
            // `adopt` fails only if registration does; the socket is dropped (closed).
            let _ = self.adopt(socket, transport, canonical_ip(peer.ip()), kind);
        }
    }
}

/// Whether a failed `accept` ran out of descriptors (or kernel memory for one).
fn is_out_of_descriptors(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Whether no connection waits to be accepted on `listener` (a cold path: at the cap
/// and out of descriptors). If `poll` fails, one is assumed to wait.
fn backlog_is_empty(listener: &mio::net::TcpListener) -> bool {
    use std::os::fd::AsRawFd;
    let mut fds = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the call's duration; a zero timeout never blocks.
    unsafe { libc::poll(&mut fds, 1, 0) == 0 }
}

/// IPv4-mapped IPv6 peers are their IPv4 selves for rate limiting.
fn canonical_ip(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map(std::net::IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}
