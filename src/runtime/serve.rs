//! Driving one connection: flush, answer buffered requests, read more — until
//! the socket, the writer or the pool makes it wait; plus reply delivery and
//! closing. All of it allocation-free for reads.

use super::conn::{self, Conn, FlushResult, Phase, ReadResult, Transport};
use super::stream::Stream;
use super::worker::Worker;
use super::{ConnRef, Handler};

use super::requests::Parsed;

impl<H: Handler, S: Stream> Worker<H, S> {
    /// Runs the connection until it must wait for the network, the writer or a buffer.
    pub(super) fn drive(&mut self, idx: u32) {
        loop {
            if !self.conns[idx as usize].is_open() {
                return;
            }
            if self.conns[idx as usize].phase == Phase::Lingering {
                return self.linger(idx);
            }
            match self.flush_conn(idx) {
                FlushResult::Done => {}
                FlushResult::Blocked => break,
                FlushResult::Error => return self.close(idx),
            }
            let c = &mut self.conns[idx as usize];
            if c.phase == Phase::Awaiting {
                break; // its reply comes first, whatever happens after it
            }
            // While draining, a quiet connection closes unless bytes may be waiting (a
            // request already on its way is read and answered, `Connection: close`).
            // Admin connections are exempt: the admin listener stays open during the
            // drain for `/ready` probes, and a probe connects before it sends; the head
            // timeout and the drain deadline still bound it.
            let drain_closes = self.draining
                && c.is_quiet()
                && !c.read_pending
                && c.listener == super::ListenerKind::Public;
            if c.close_after_flush {
                return self.finish(idx);
            }
            if drain_closes {
                return self.close(idx);
            }
            let mut in_body = false;
            if c.read_len_bytes > 0 {
                match self.parse_buffered(idx) {
                    Parsed::Progress => continue,
                    Parsed::NeedMore { in_body: b } => in_body = b,
                }
            }
            let c = &mut self.conns[idx as usize];
            if c.peer_closed {
                // Nothing more will come; an incomplete request cannot be answered.
                return self.close(idx);
            }
            if !c.read_pending {
                let phase = self.next_phase(idx, in_body);
                let c = &mut self.conns[idx as usize];
                if c.phase != phase {
                    c.enter_phase(phase, self.now_ms);
                }
                break;
            }
            if !self.ensure_buffer(idx) {
                break;
            }
            if self.buffer_is_full(idx) {
                // A request whose encoding (say, chunk extensions) outgrows the
                // buffer although its head and decoded body are within limits.
                // The client is still sending that request: its close lingers.
                self.reject_and_close(idx, super::requests::TOO_LARGE_ENCODED, true);
                continue;
            }
            let c = &mut self.conns[idx as usize];
            let (Some(socket), Some(buf)) = (c.socket.as_mut(), c.buf.as_mut()) else {
                return;
            };
            let before_bytes = c.read_len_bytes;
            let mut received_bytes = 0;
            let read = conn::read_into(
                socket,
                &mut c.transport,
                &mut buf.read,
                &mut c.read_len_bytes,
                &mut received_bytes,
            );
            match read {
                ReadResult::Data {
                    drained,
                    peer_closed,
                } => {
                    c.read_pending = !drained && !peer_closed;
                    // The FIN (or TLS close) came with the data: no further edge will
                    // tell us.
                    c.peer_closed |= peer_closed || (drained && c.fin_seen);
                    if before_bytes == 0 && c.read_len_bytes > 0 {
                        // The head deadline counts from a request's first byte.
                        c.enter_phase(Phase::Head, self.now_ms);
                    }
                }
                ReadResult::WouldBlock => c.read_pending = false,
                ReadResult::Eof => {
                    c.read_pending = false;
                    c.peer_closed = true;
                }
                ReadResult::Error => return self.close(idx),
                ReadResult::TlsError => {
                    self.cfg.stats[self.index].tls_errors.inc();
                    return self.close(idx);
                }
            }
            // Counted after a new head's clock started, so its first bytes count.
            c.rate_bytes += received_bytes;
        }
        self.settle(idx);
    }

    fn next_phase(&self, idx: u32, in_body: bool) -> Phase {
        let c = &self.conns[idx as usize];
        if c.phase == Phase::Awaiting {
            Phase::Awaiting
        } else if !c.out_is_empty() {
            Phase::Writing
        } else if c.read_len_bytes > 0 {
            if in_body { Phase::Body } else { Phase::Head }
        } else if c.phase == Phase::Fresh {
            Phase::Fresh
        } else {
            Phase::Idle
        }
    }

    /// After driving: re-arm the deadline for the phase and lend the buffer back
    /// if the connection is quiet.
    // Inlined into `drive`, the hot caller (a lingering close calls it too): as a
    // call of its own it cost ~60 instructions per request more (callgrind).
    #[inline(always)]
    pub(super) fn settle(&mut self, idx: u32) {
        let c = &mut self.conns[idx as usize];
        if !c.is_open() {
            return;
        }
        if c.phase != Phase::Awaiting && !c.out_is_empty() && c.phase != Phase::Writing {
            c.enter_phase(Phase::Writing, self.now_ms);
        }
        let timeout_ms = match c.phase {
            Phase::Fresh | Phase::Head => self.cfg.header_timeout_ms,
            Phase::Idle => self.cfg.idle_timeout_ms,
            Phase::Body => self.cfg.body_timeout_ms,
            // Checked every quarter; `on_timeout` cuts off after a whole timeout.
            Phase::Writing => super::lifecycle::write_check_interval_ms(self.cfg.write_timeout_ms),
            Phase::Lingering => super::linger::LINGER_MS,
            Phase::Awaiting => {
                self.wheel.disarm(&mut self.timers, idx);
                return;
            }
        };
        let deadline_ms = c.phase_started_ms + timeout_ms;
        if c.is_quiet()
            && let Some(buf) = c.buf.take()
        {
            c.hold = None;
            c.owned.clear();
            self.pool.give_back(idx, buf);
        }
        self.wheel.arm(&mut self.timers, idx, deadline_ms);
    }

    fn buffer_is_full(&self, idx: u32) -> bool {
        let c = &self.conns[idx as usize];
        c.buf
            .as_ref()
            .is_some_and(|b| c.read_len_bytes == b.read.len())
    }

    /// Queues `rejection` as the connection's last answer: whatever is
    /// buffered is dropped and the connection closes once it is sent. With
    /// `client_still_sending`, the rest of the request may still be on its way, so
    /// that close lingers (see `linger`) instead of resetting the client's writes.
    pub(super) fn reject_and_close(
        &mut self,
        idx: u32,
        rejection: super::Rejection,
        client_still_sending: bool,
    ) {
        let c = &mut self.conns[idx as usize];
        let Some(buf) = c.buf.as_mut() else {
            return;
        };
        // A partial HEAD (a head timeout, say) gets its refusal without content too.
        let head_request = crate::http::starts_as_head_request(&buf.read[..c.read_len_bytes]);
        let mut sink = super::Sink {
            out: &mut buf.out,
            scratch: &mut buf.scratch,
            needs_hold: &mut c.needs_hold,
            owned: &mut c.owned,
            date: self.date.get(),
            close: true,
            http10_keep_alive: false,
            status: 0,
            head_request,
        };
        self.handler
            .reject(c.peer_ip, c.listener, rejection, &mut sink);
        self.cfg.stats[self.index].record_status(rejection.status);
        c.close_after_flush = true;
        c.unread_input |= client_still_sending;
        c.read_len_bytes = 0;
        c.read_pending = false;
    }

    fn ensure_buffer(&mut self, idx: u32) -> bool {
        let c = &mut self.conns[idx as usize];
        if c.buf.is_some() {
            return true;
        }
        match self.pool.take(idx) {
            Some(buf) => {
                c.buf = Some(buf);
                true
            }
            None => {
                if !c.waiting_for_buffer {
                    c.waiting_for_buffer = true;
                    self.buffer_waiters.push_back(idx);
                }
                false
            }
        }
    }

    pub(super) fn flush_conn(&mut self, idx: u32) -> FlushResult {
        let c = &mut self.conns[idx as usize];
        let tls_pending = c.tls_wants_write();
        let Some(socket) = c.socket.as_mut() else {
            return FlushResult::Error;
        };
        let mut sent_bytes = 0;
        let result = match c.buf.as_mut() {
            Some(buf) => conn::flush(
                socket,
                &mut c.transport,
                &mut buf.out,
                &mut self.tls_stage,
                &mut sent_bytes,
            ),
            None if tls_pending => {
                let mut empty = super::out::OutQueue::new();
                let stage = &mut self.tls_stage;
                conn::flush(socket, &mut c.transport, &mut empty, stage, &mut sent_bytes)
            }
            None => FlushResult::Done,
        };
        if sent_bytes > 0 && c.phase == Phase::Writing {
            c.phase_started_ms = self.now_ms; // the client took bytes: the stall clock restarts
            c.rate_bytes += sent_bytes;
        }
        match result {
            FlushResult::Done => {
                if c.buf.as_ref().is_some_and(|b| b.out.is_empty()) {
                    c.hold = None;
                    c.needs_hold = false;
                    c.owned.clear();
                }
                if c.wants_writable {
                    c.wants_writable = false;
                    let _ = self.poll.registry().reregister(
                        socket,
                        mio::Token(idx as usize),
                        mio::Interest::READABLE,
                    );
                }
                if c.phase == Phase::Writing {
                    c.enter_phase(Phase::Idle, self.now_ms);
                }
            }
            FlushResult::Blocked => {
                if c.needs_hold && c.hold.is_none() {
                    // The handler moves on to other connections now: keep the
                    // shared bytes this queue points into alive ourselves.
                    c.hold = Some(self.handler.hold());
                }
                if !c.wants_writable {
                    c.wants_writable = true;
                    let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
                    if self
                        .poll
                        .registry()
                        .reregister(socket, mio::Token(idx as usize), interest)
                        .is_err()
                    {
                        return FlushResult::Error;
                    }
                }
            }
            FlushResult::Error => {}
        }
        result
    }

    /// Queues a deferred reply on its connection, if that connection still exists.
    pub(super) fn deliver(&mut self, conn: ConnRef, reply: super::Reply) {
        let c = &mut self.conns[conn.index as usize];
        if !c.is_open() || c.serial != conn.serial || c.phase != Phase::Awaiting {
            return; // the client left; the write itself already happened
        }
        let Some(buf) = c.buf.as_mut() else {
            return self.close(conn.index);
        };
        super::sink::queue_owned(&mut buf.out, &mut c.owned, reply.bytes);
        c.enter_phase(Phase::Writing, self.now_ms);
        c.read_pending = true; // pipelined bytes may be waiting in the socket
        // The reply decides, as its `Connection` field does: one made after the drain
        // began says close, and nothing may follow it. One the writer made just
        // before (it read the server's state an instant before the shutdown changed
        // it) promised the connection stays: it does, and the drain then answers what
        // follows with `Connection: close` or closes it as idle. Deciding here by the
        // drain flag instead cut such a connection after a keep-alive reply.
        if reply.close {
            c.close_after_flush = true;
        }
        self.drive(conn.index);
    }

    /// Ends a connection whose client stopped taking our bytes. A FIN would queue
    /// behind everything it never took, and the kernel would keep those bytes, and the
    /// socket, past our close and outside `--max-connections`, for as long as the
    /// client acknowledges zero-window probes; a reset frees both now. No TLS
    /// close_notify: it could not reach the client either.
    pub(super) fn close_with_reset(&mut self, idx: u32) {
        let c = &mut self.conns[idx as usize];
        if let Some(socket) = c.socket.as_mut() {
            // On failure the close is a plain one, bounded by TCP_USER_TIMEOUT.
            let _ = socket.reset_on_close();
        }
        c.transport = Transport::Plain;
        self.close(idx);
    }

    pub(super) fn close(&mut self, idx: u32) {
        let c = &mut self.conns[idx as usize];
        let Some(mut socket) = c.socket.take() else {
            return;
        };
        if let Transport::Tls(tls) = &mut c.transport {
            tls.send_close_notify();
            let _ = tls.write_tls(&mut socket);
        }
        // Dropping the socket closes it, and close(2) alone does what a deregister
        // and a shutdown(2) before it would: the kernel drops the fd from the epoll set
        // (nothing else holds it: no dup, no fork) and sends the FIN, or a reset if
        // unread bytes remain, as it would after a shutdown too. Two syscalls fewer
        // per connection, which new-connection-per-request clients pay every time.
        drop(socket);
        c.transport = Transport::Plain;
        c.hold = None;
        c.owned.clear();
        if let Some(mut buf) = c.buf.take() {
            buf.out.reset();
            self.pool.give_back(idx, buf);
        }
        let serial = c.serial.wrapping_add(1);
        if c.listener == super::ListenerKind::Admin {
            self.admin_open -= 1;
        }
        *c = Conn::vacant();
        c.serial = serial;
        self.wheel.disarm(&mut self.timers, idx);
        self.free_slots.push(idx);
        self.open_conns -= 1;
        self.cfg.stats[self.index].closed.inc();
    }
}
