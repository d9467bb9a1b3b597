//! Helpers for the unit tests on the in-memory transport, and the tests themselves:
//! slot lifetimes and the connection cap, batching, buffer reclaim.

use std::io::Write;

use super::super::stream::Stream;
use super::*;

/// One worker's configuration for the unit tests on this transport.
fn test_config(max_connections_per_worker: usize, buffers_per_worker: usize) -> RuntimeConfig {
    RuntimeConfig {
        workers: 1,
        pin_cores: false,
        max_connections_per_worker,
        buffers_per_worker,
        max_head_bytes: 8 * 1024,
        max_body_bytes: 16 * 1024,
        header_timeout_ms: 10_000,
        idle_timeout_ms: 60_000,
        body_timeout_ms: 10_000,
        write_timeout_ms: 10_000,
        drain_timeout_ms: 10_000,
        draining: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
        on_worker_start: None,
        stats: std::sync::Arc::from(vec![crate::runtime::stats::WorkerStats::default()]),
    }
}

/// Adopts a connection from localhost with 64 KiB windows, for the unit tests on this
/// transport; the pipe is the client's end.
fn open_test_conn<H: Handler>(
    w: &mut Worker<H, MemStream>,
    kind: ListenerKind,
) -> (u32, Rc<RefCell<Pipe>>) {
    let pipe = Rc::new(RefCell::new(Pipe::with_window(64 * 1024)));
    let peer_ip = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    let idx = w
        .adopt(MemStream(pipe.clone()), Transport::Plain, peer_ip, kind)
        .ok()
        .expect("a slot");
    (idx, pipe)
}

/// As a socket after `shutdown(SHUT_WR)`: a write fails (`EPIPE`) instead of
/// sending bytes after the FIN — a worker that wrote there would be caught.
#[test]
fn the_pipe_refuses_a_write_after_the_servers_shutdown() {
    let pipe = Rc::new(RefCell::new(Pipe::with_window(64)));
    let mut stream = MemStream(pipe.clone());
    assert_eq!(stream.write(b"ok").expect("room"), 2);
    stream.shutdown_write().expect("shut");
    let refused = stream.write(b"x").expect_err("after the FIN");
    assert_eq!(refused.kind(), io::ErrorKind::BrokenPipe);
    assert_eq!(pipe.borrow().to_client.len(), 2);
}

#[path = "slot_tests.rs"]
mod slot_tests;

#[path = "batch_tests.rs"]
mod batch_tests;

#[path = "reclaim_tests.rs"]
mod reclaim_tests;
