//! Slot lifetimes on the in-memory transport, with a handler that answers GET at once
//! and defers PATCH like a write: events of a closed connection must not reach the
//! next occupant of its slot, and a newcomer at the cap must not delay a buffer reclaim
//! (reproductions from a review of slot reuse); which connection a newcomer at the cap
//! takes, and when a listener at its cap looks again (behaviours cargo-mutants found
//! no test pinned). Its handler and helpers serve `reclaim_tests.rs` too.

use std::sync::Arc;

pub(super) use super::open_test_conn as open;
use super::*;
use crate::runtime::reuse::Room;
use crate::runtime::{ConnRef, Outcome, Rejection, Reply, Request, Sink};

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
/// A complete request `TestHandler` answers at once, and one it defers as a write.
pub(super) const GET: &[u8] = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
pub(super) const PATCH: &[u8] = b"PATCH / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";

/// Answers GET at once; defers PATCH (as a write to the writer thread) until
/// `take_replies`.
#[derive(Default)]
pub(super) struct TestHandler {
    deferred: Vec<ConnRef>,
}

impl Handler for TestHandler {
    fn begin_batch(&mut self, _: i64) {}
    fn handle(&mut self, request: &Request<'_>, sink: &mut Sink<'_>) -> Outcome {
        if request.head.method == crate::http::request::Method::Patch {
            self.deferred.push(request.conn);
            return Outcome::Deferred;
        }
        sink.status = 200;
        sink.push_static(OK);
        Outcome::Done
    }
    fn reject(&mut self, _: IpAddr, _: ListenerKind, r: Rejection, sink: &mut Sink<'_>) {
        sink.status = r.status;
        sink.push_static(
            b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
    fn hold(&self) -> Arc<dyn std::any::Any + Send + Sync> {
        Arc::new(())
    }
    fn take_replies(&mut self, deliver: &mut dyn FnMut(ConnRef, Reply)) {
        for conn in self.deferred.drain(..) {
            // Says whose it is: a reply must reach only its own connection.
            let bytes = format!(
                "HTTP/1.1 200 OK\r\nX-Serial: {}\r\nContent-Length: 0\r\n\r\n",
                conn.serial
            );
            let reply = Reply {
                bytes: bytes.into_bytes(),
                close: false,
            };
            deliver(conn, reply);
        }
    }
}

struct Factory;
impl HandlerFactory for Factory {
    type Handler = TestHandler;
    fn make(&self, _: usize, _: Arc<mio::Waker>) -> TestHandler {
        TestHandler::default()
    }
}

pub(super) fn worker(max_connections: usize, buffers: usize) -> Worker<TestHandler, MemStream> {
    let cfg = test_config(max_connections, buffers);
    let (w, _waker) = Worker::build(0, cfg, Poll::new().unwrap(), Vec::new(), &Factory).unwrap();
    w
}

pub(super) fn send(
    w: &mut Worker<TestHandler, MemStream>,
    idx: u32,
    pipe: &Rc<RefCell<Pipe>>,
    b: &[u8],
) {
    pipe.borrow_mut().to_server.extend(b);
    w.on_ready(idx, true, false);
}

pub(super) fn took(pipe: &Rc<RefCell<Pipe>>) -> String {
    let mut p = pipe.borrow_mut();
    let bytes: Vec<u8> = p.to_client.drain(..).collect();
    String::from_utf8(bytes).unwrap()
}

/// `Worker::run` hands every event of a batch to `on_ready`. A deferred reply
/// (WAKER, earlier in the batch) closes connection A; A's FIN event later in the
/// same batch must not set `fin_seen` on the vacant slot, or the next occupant of the
/// slot (a deferred accept of the same pass, or any later one) would be taken for a
/// client that already sent its FIN.
#[test]
fn an_event_of_a_closed_connection_never_reaches_the_next_occupant_of_its_slot() {
    let mut w = worker(4, 4);
    let (a, a_pipe) = open(&mut w, ListenerKind::Public);
    send(&mut w, a, &a_pipe, PATCH);
    assert_eq!(w.conns[a as usize].phase, Phase::Awaiting);
    // The client gives up and closes just as the writer's reply is ready: the
    // waker and A's FIN are in one epoll batch, the waker first.
    a_pipe.borrow_mut().client_fin = true;
    w.take_replies(); // WAKER_TOKEN
    assert!(
        !w.conns[a as usize].is_open(),
        "closed: its client had sent FIN"
    );
    w.on_ready(a, true, true); // A's event, later in the same batch
    // Accepts run after the batch: the newcomer gets A's slot (LIFO free list).
    let (b, b_pipe) = open(&mut w, ListenerKind::Public);
    assert_eq!(b, a, "same slot");
    // Its request arrives in two segments (a head written in two calls, say).
    send(&mut w, b, &b_pipe, b"GET /health HTTP/1.1\r\n");
    send(&mut w, b, &b_pipe, b"Host: x\r\n\r\n");
    let answer = took(&b_pipe);
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the newcomer's request went unanswered: {answer:?}, open = {}",
        w.conns[b as usize].is_open()
    );
}

/// `room_for_newcomer` scans the buffer holders with `public_only` and stores when
/// to scan again in the shared `next_reclaim_scan_ms`: the admin holders it skips
/// must count there, or a buffer waiter that an admin holder's stall would free
/// would wait up to another second (`serve_buffer_waiters` runs after the accepts).
#[test]
fn a_public_newcomer_at_the_cap_never_delays_a_buffer_reclaim_from_an_admin_holder() {
    for with_newcomer in [false, true] {
        let mut w = worker(2, 1);
        let (adm, adm_pipe) = open(&mut w, ListenerKind::Admin);
        send(&mut w, adm, &adm_pipe, b"GET /metrics HTTP/1.1\r\n"); // stalls
        let (p, p_pipe) = open(&mut w, ListenerKind::Public);
        send(&mut w, p, &p_pipe, GET);
        assert!(w.conns[p as usize].waiting_for_buffer);
        w.now_ms = 1_500; // the admin head has stalled for 1.5 s
        if with_newcomer {
            assert!(w.at_cap(ListenerKind::Public));
            assert_eq!(w.room_for_newcomer(ListenerKind::Public), None); // what `accept` asks first
        }
        w.serve_buffer_waiters();
        let answer = took(&p_pipe);
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "with_newcomer = {with_newcomer}: the waiter is still waiting at 1.5 s \
             (next reclaim scan at {} ms)",
            w.next_reclaim_scan_ms
        );
    }
}

/// The newcomer at the cap takes the connection quiet the longest, and a remembered
/// candidate that has since been given to a newcomer, or has begun a request, is
/// passed over (`oldest_candidate`): its own serial and phase must both still match.
#[test]
fn newcomers_at_the_cap_take_the_oldest_quiet_connection_still_quiet() {
    let mut w = worker(3, 3);
    let (a, _a_pipe) = open(&mut w, ListenerKind::Public);
    w.now_ms = 100;
    let (b, b_pipe) = open(&mut w, ListenerKind::Public);
    w.now_ms = 200;
    let (c, _c_pipe) = open(&mut w, ListenerKind::Public);
    assert!(w.at_cap(ListenerKind::Public));
    w.now_ms = 1_300; // all three quiet for 1 s or more; the scan remembers them
    assert_eq!(
        w.room_for_newcomer(ListenerKind::Public),
        Some(Room::Quiet(a))
    );
    w.make_room(Room::Quiet(a));
    // A newcomer gets A's slot, and B begins a request.
    let (d, _d_pipe) = open(&mut w, ListenerKind::Public);
    assert_eq!(d, a, "same slot, another serial");
    send(&mut w, b, &b_pipe, b"GET /health HTTP/1.1\r\n");
    // D has been quiet for 1.1 s by now, but it is not the one remembered in that
    // slot; B is remembered but busy. C is next.
    w.now_ms = 2_400;
    assert_eq!(
        w.room_for_newcomer(ListenerKind::Public),
        Some(Room::Quiet(c))
    );
}

/// The scan keeps its candidates sorted by when they went quiet, whatever their order
/// in the table: here the table's first went quiet last.
#[test]
fn the_scan_orders_candidates_by_how_long_they_have_been_quiet() {
    let mut w = worker(3, 3);
    let opened: Vec<_> = (0..3).map(|_| open(&mut w, ListenerKind::Public)).collect();
    let mut by_slot = opened.clone();
    by_slot.sort_by_key(|(idx, _)| *idx);
    let [(first, first_pipe), (second, _), (third, third_pipe)] = &by_slot[..] else {
        unreachable!()
    };
    // The third answers a request at 50 ms, the first at 100 ms: each is idle since.
    for (now_ms, idx, pipe) in [(50, *third, third_pipe), (100, *first, first_pipe)] {
        w.now_ms = now_ms;
        send(&mut w, idx, pipe, GET);
        assert!(took(pipe).starts_with("HTTP/1.1 200"));
    }
    w.now_ms = 1_200;
    for expected in [*second, *third, *first] {
        let room = w.room_for_newcomer(ListenerKind::Public);
        assert_eq!(room, Some(Room::Quiet(expected)));
        w.make_room(Room::Quiet(expected));
    }
}

/// More quiet connections than one scan remembers (`REUSE_BATCH`): the scan keeps the
/// oldest of them without growing its list (its capacity is fixed at the start), and
/// newcomers take every one oldest first, across rescans. Here too age runs against
/// the table's order.
#[test]
fn a_scan_over_more_quiet_connections_than_it_remembers_keeps_the_oldest() {
    let total = crate::runtime::reuse::REUSE_BATCH + 8;
    let mut w = worker(total, total);
    let opened: Vec<_> = (0..total)
        .map(|_| open(&mut w, ListenerKind::Public))
        .collect();
    for (i, (idx, pipe)) in opened.iter().rev().enumerate() {
        w.now_ms = 10 * i as u64;
        send(&mut w, *idx, pipe, GET);
        assert!(took(pipe).starts_with("HTTP/1.1 200"));
    }
    w.now_ms = 10 * total as u64 + 1_000;
    let capacity = w.reuse_candidates.capacity();
    for (expected, _) in opened.iter().rev() {
        let room = w.room_for_newcomer(ListenerKind::Public);
        assert_eq!(room, Some(Room::Quiet(*expected)));
        w.make_room(Room::Quiet(*expected));
        assert_eq!(w.reuse_candidates.capacity(), capacity, "a scan allocated");
    }
}

/// With every admin connection busy, the admin listener at its cap looks again after
/// at most `REUSE_RESCAN_MS.1`, not later.
#[test]
fn a_busy_admin_side_is_looked_at_again_within_a_second() {
    let mut w = worker(2, 2);
    w.admin_reserve = 1;
    let (adm, adm_pipe) = open(&mut w, ListenerKind::Admin);
    send(&mut w, adm, &adm_pipe, b"GET /metrics HTTP/1.1\r\n"); // busy: a head arriving
    w.now_ms = 5_000;
    assert!(w.at_cap(ListenerKind::Admin));
    assert_eq!(w.room_for_newcomer(ListenerKind::Admin), None);
    w.now_ms = 5_999;
    assert!(!w.may_reuse(ListenerKind::Admin));
    w.now_ms = 6_000;
    assert!(w.may_reuse(ListenerKind::Admin));
}

/// Quiet for exactly `REUSE_MIN_QUIET_MS` is quiet enough, on either side; among admin
/// connections too, the one quiet the longest goes first.
#[test]
fn quiet_for_the_minimum_is_enough_and_the_oldest_admin_goes_first() {
    let mut w = worker(1, 2);
    let (p, _p_pipe) = open(&mut w, ListenerKind::Public);
    w.now_ms = 1_000;
    assert_eq!(
        w.room_for_newcomer(ListenerKind::Public),
        Some(Room::Quiet(p))
    );

    let mut w = worker(3, 2); // three slots in the table, two of them admin
    w.admin_reserve = 2;
    let (x, _x_pipe) = open(&mut w, ListenerKind::Admin);
    w.now_ms = 100;
    let (y, _y_pipe) = open(&mut w, ListenerKind::Admin);
    w.now_ms = 1_100;
    assert_eq!(
        w.room_for_newcomer(ListenerKind::Admin),
        Some(Room::Quiet(x))
    );
    w.make_room(Room::Quiet(x));
    assert_eq!(
        w.room_for_newcomer(ListenerKind::Admin),
        Some(Room::Quiet(y))
    );
}

/// A writer's reply for a connection closed while its PATCH was with the writer (say,
/// a send of the answers queued before it failed) must not reach the slot's next
/// occupant, even one whose own PATCH is with the writer: only its own reply does.
#[test]
fn a_reply_for_a_closed_connection_never_reaches_the_next_occupant_of_its_slot() {
    let mut w = worker(4, 4);
    let (a, a_pipe) = open(&mut w, ListenerKind::Public);
    send(&mut w, a, &a_pipe, PATCH);
    assert_eq!(w.conns[a as usize].phase, Phase::Awaiting);
    let a_serial = w.conns[a as usize].serial;
    w.close(a);
    let (b, b_pipe) = open(&mut w, ListenerKind::Public);
    assert_eq!(b, a, "same slot");
    send(&mut w, b, &b_pipe, PATCH);
    assert_eq!(w.conns[b as usize].phase, Phase::Awaiting);
    let b_serial = w.conns[b as usize].serial;
    // The replies say whose they are by serial: with one serial for both, A's
    // would pass for B's below.
    assert_ne!(
        b_serial, a_serial,
        "the next occupant has a serial of its own"
    );
    w.take_replies(); // A's reply, then B's
    let answers = took(&b_pipe);
    assert_eq!(
        answers.matches("HTTP/1.1 200").count(),
        1,
        "B got A's reply as well as its own: {answers}"
    );
    assert!(
        answers.contains(&format!("X-Serial: {b_serial}\r\n")),
        "B got A's reply instead of its own: {answers}"
    );
    assert!(
        w.conns[b as usize].is_open(),
        "B was closed: its own reply came when it no longer waited (it had A's)"
    );
}
