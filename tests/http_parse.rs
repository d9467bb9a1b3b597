//! Tests of `availability_server::http`: request heads, chunked bodies, read-query
//! parameters and dates. One file per module under `tests/http_parse/`; this root also
//! installs a counting allocator to pin down that the read path never allocates.

#[path = "http_parse/chunked.rs"]
mod chunked;
#[path = "http_parse/date.rs"]
mod date;
#[path = "http_parse/query.rs"]
mod query;
#[path = "http_parse/request.rs"]
mod request;
#[path = "http_parse/request_fields.rs"]
mod request_fields;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use availability_server::http::{
    ChunkedDecoder, DateCache, HeadError, format_imf_fixdate, parse_head, parse_read_params,
    write_ymd,
};

/// Counts allocations per thread, so tests running in parallel do not disturb each other.
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: the slot may be gone while the thread is being torn down.
    let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Allocations made by `f` on this thread.
fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn counting_allocator_sees_allocations() {
    // Guards the test below against a counter that never counts.
    let n = allocations_during(|| drop(std::hint::black_box(vec![1u8; 16])));
    assert!(n >= 1);
}

#[test]
fn read_path_does_not_allocate() {
    let heads: [&[u8]; 5] = [
        b"GET /availability?tz=Asia%2FTokyo&date=2026-11-23 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"\r\nHEAD http://h/availability/csv HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.1\nHost: a\n\n",
        b"GET /availability HTTP/1.1\r\nHost: a\r\nUser-Agent: x",
    ];
    let n = allocations_during(|| {
        for head in heads {
            let _ = std::hint::black_box(parse_head(head, 8192));
        }
        let mut scratch = [0u8; 128];
        let params = parse_read_params(b"tz=America%2FNew_York&day=2&time=14:30", &mut scratch);
        assert!(params.is_ok());
        let mut scratch = [0u8; 128];
        let _ = std::hint::black_box(parse_read_params(b"date=2026-02-30", &mut scratch));
        let mut cache = DateCache::new(1_700_000_000);
        assert!(cache.refresh(1_700_000_001));
        std::hint::black_box(cache.get());
        let mut out = [0u8; 29];
        format_imf_fixdate(0, &mut out);
        let mut ymd = [0u8; 10];
        write_ymd(chrono::NaiveDate::MIN, &mut ymd);
        let mut decoder = ChunkedDecoder::new(64);
        let mut body = [0u8; 64];
        let mut body_len = 0;
        let input = b"5;a=b\r\nhello\r\n0\r\nX: y\r\n\r\n";
        let progress = decoder.decode(input, &mut body, &mut body_len);
        assert_eq!(progress.map(|p| p.done), Ok(true));
    });
    assert_eq!(n, 0, "the read path allocated");
    // The inputs above really were parsed (and rejected where malformed).
    assert!(matches!(parse_head(heads[3], 8192), Err(HeadError::Bad(_))));
}
