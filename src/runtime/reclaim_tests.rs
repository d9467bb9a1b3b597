//! Buffer reclaim on the in-memory transport: with every request buffer held, a
//! waiter's reclaim cuts off the slowest stalled holder, and only for a connection that
//! really waits (behaviours cargo-mutants found no test pinned in `lifecycle.rs`).

use super::slot_tests::{GET, PATCH, open, send, took, worker};
use super::*;

/// A buffer waiter that closed leaves its entry in the queue, and the slot's next
/// occupant needs no buffer: that entry must not cut off a stalled holder, which is
/// done only for a connection that waits for its buffer.
#[test]
fn a_stale_buffer_waiter_never_cuts_off_a_stalled_holder() {
    let mut w = worker(3, 1);
    let (a, a_pipe) = open(&mut w, ListenerKind::Public);
    send(&mut w, a, &a_pipe, b"GET /health HTTP/1.1\r\n"); // holds the one buffer
    let (b, b_pipe) = open(&mut w, ListenerKind::Public);
    send(&mut w, b, &b_pipe, b"GET /");
    assert!(w.conns[b as usize].waiting_for_buffer);
    w.close(b); // say, its head timed out
    let (c, _c_pipe) = open(&mut w, ListenerKind::Public);
    assert_eq!(c, b, "the newcomer has the waiter's slot and sends nothing");
    w.now_ms = 1_500; // A's head has stalled for 1.5 s
    w.serve_buffer_waiters();
    assert!(w.conns[a as usize].is_open(), "cut off for nobody");
    assert_eq!(w.cfg.stats[0].reclaimed.get(), 0);
    assert!(took(&a_pipe).is_empty(), "no 408");
}

/// A reclaim scan that finds no holder it may cut off (here the only one waits for
/// the writer) puts the next scan off only until a holder starting now could have
/// stalled: one that stalls later is found then.
#[test]
fn a_scan_that_finds_no_stalled_holder_looks_again_when_one_could_have_stalled() {
    let mut w = worker(3, 1);
    let (a, a_pipe) = open(&mut w, ListenerKind::Public);
    w.now_ms = 100;
    send(&mut w, a, &a_pipe, PATCH);
    assert_eq!(w.conns[a as usize].phase, Phase::Awaiting);
    let (b, b_pipe) = open(&mut w, ListenerKind::Public);
    send(&mut w, b, &b_pipe, b"GET /");
    w.serve_buffer_waiters(); // scans: the holder waits for the writer, not a candidate
    assert!(w.conns[b as usize].waiting_for_buffer);
    // The writer answers A, whose buffer goes to B; B's head then stalls.
    w.take_replies();
    w.serve_buffer_waiters();
    assert!(!w.conns[b as usize].waiting_for_buffer);
    let (c, c_pipe) = open(&mut w, ListenerKind::Public);
    send(&mut w, c, &c_pipe, GET);
    assert!(w.conns[c as usize].waiting_for_buffer);
    w.now_ms = 1_200; // B: five bytes in 1.1 s
    w.serve_buffer_waiters();
    assert!(
        took(&c_pipe).starts_with("HTTP/1.1 200"),
        "C still waits: next scan at {} ms",
        w.next_reclaim_scan_ms
    );
    assert!(!w.conns[b as usize].is_open(), "B cut off for it");
}

/// With every buffer held by a stalled head, a waiter's reclaim cuts off the slowest
/// (fewest bytes per ms since its head began), whichever holds the first buffer; and
/// a holder is stalled from the very millisecond `stalled_at_ms` gives.
#[test]
fn a_reclaim_cuts_off_the_slowest_holder_from_the_moment_it_stalls() {
    // A: 500 bytes since 0 ms (0.25 per ms at 2 s); B: 300 since 1 s (0.3 per ms).
    let partial = |len: usize| {
        let mut head = b"GET /health HTTP/1.1\r\nX: ".to_vec();
        head.resize(len, b'a');
        head
    };
    for a_first in [true, false] {
        let mut w = worker(4, 2);
        let (x, x_pipe) = open(&mut w, ListenerKind::Public);
        let (y, y_pipe) = open(&mut w, ListenerKind::Public);
        let ((a, a_pipe), (b, b_pipe)) = if a_first {
            ((x, x_pipe), (y, y_pipe))
        } else {
            ((y, y_pipe), (x, x_pipe))
        };
        if !a_first {
            w.now_ms = 1_000;
            send(&mut w, b, &b_pipe, &partial(300)); // B takes the first buffer
            w.now_ms = 0;
        }
        send(&mut w, a, &a_pipe, &partial(500));
        if a_first {
            w.now_ms = 1_000;
            send(&mut w, b, &b_pipe, &partial(300));
        }
        w.now_ms = 2_000; // both stalled: A since 1 s, B just now
        let (c, c_pipe) = open(&mut w, ListenerKind::Public);
        send(&mut w, c, &c_pipe, GET);
        w.serve_buffer_waiters();
        assert!(
            took(&c_pipe).starts_with("HTTP/1.1 200"),
            "a_first = {a_first}"
        );
        assert!(
            !w.conns[a as usize].is_open(),
            "a_first = {a_first}: A is slower"
        );
        assert!(w.conns[b as usize].is_open(), "a_first = {a_first}");
    }

    // A holder stalled from this very millisecond (five bytes at 0 ms: the minimum
    // 1 s) is cut off now.
    let mut w = worker(3, 1);
    let (a, a_pipe) = open(&mut w, ListenerKind::Public);
    send(&mut w, a, &a_pipe, b"GET /");
    let (c, c_pipe) = open(&mut w, ListenerKind::Public);
    send(&mut w, c, &c_pipe, GET);
    w.now_ms = 1_000;
    w.serve_buffer_waiters();
    assert!(
        took(&c_pipe).starts_with("HTTP/1.1 200"),
        "at {} ms",
        w.now_ms
    );
    assert!(!w.conns[a as usize].is_open());
}
