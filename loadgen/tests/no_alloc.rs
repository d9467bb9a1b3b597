//! The hot loop does not allocate: heap allocations of a whole run must not grow with
//! the number of requests. The server here is allocation-free per request too (stack
//! buffer, static answer), so any growth would be loadgen's.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use clap::Parser;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// Accepts connections up front (allocation happens only at accept), then answers each
/// request head with [`ANSWER`], counting `\r\n\r\n` in a stack buffer.
fn spawn_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let mut buf = [0u8; 4096];
                let mut matched = 0usize;
                loop {
                    let n = match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    for &b in &buf[..n] {
                        matched = match (matched, b) {
                            (0 | 2, b'\r') | (1 | 3, b'\n') => matched + 1,
                            (_, b'\r') => 1,
                            _ => 0,
                        };
                        if matched == 4 {
                            matched = 0;
                            if stream.write_all(ANSWER).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    port
}

fn allocations_for(port: u16, requests: u64, extra: &[&str]) -> u64 {
    let url = format!("http://127.0.0.1:{port}/");
    let n = requests.to_string();
    let mut argv = vec!["loadgen", "-q", "--no-pin", "-c", "4", "--max-requests", &n];
    argv.extend_from_slice(extra);
    argv.push(&url);
    let config = loadgen::Args::try_parse_from(argv)
        .expect("flags")
        .into_config()
        .expect("config");
    let stop = AtomicBool::new(false);
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let report = loadgen::run(&config, &stop).expect("run");
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(report.stats.requests, requests);
    after - before
}

#[test]
fn allocations_do_not_grow_with_requests() {
    let port = spawn_server();
    for extra in [&[][..], &["--pipeline", "4"], &["-R", "20000"]] {
        // Warm-up run so one-time lazy initialisation is not counted below.
        allocations_for(port, 100, extra);
        let small = allocations_for(port, 200, extra);
        let large = allocations_for(port, 4000, extra);
        // Server threads allocate only on accept (4 connections per run, same in both).
        assert!(
            large <= small + 8,
            "{extra:?}: {small} allocations for 200 requests, {large} for 4000"
        );
    }
}
