//! How many pipelined requests one batch answers before the queue must flush, on the
//! in-memory transport with a client that reads nothing: the reserves every response
//! can count on (`MIN_SEGMENTS` iovecs, `MIN_SCRATCH_BYTES` of scratch) and the bound
//! on heap-built answers (`MAX_OWNED_OUT_BYTES`). With a 1-byte receive window the
//! first flush blocks, so the handler's call count is exactly one batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::runtime::out::MAX_SEGMENTS;
use crate::runtime::sink::{MIN_SCRATCH_BYTES, MIN_SEGMENTS};
use crate::runtime::{ConnRef, Outcome, Rejection, Reply, Request, Sink};

/// One way of answering every GET, so that a batch's size follows from the reserves.
#[derive(Clone, Copy)]
enum Answer {
    /// This many static segments (the first is the head, with the body's length).
    Segments(usize),
    /// One segment of this many scratch bytes (a head and padding).
    Scratch(usize),
    /// One heap-built answer of this many bytes.
    Owned(usize),
}

struct CountingHandler {
    answer: Answer,
    handled: Arc<AtomicUsize>,
}

/// A head with a one-byte body per extra segment: `Content-Length` matches what follows.
fn segments_head(extra: usize) -> &'static [u8] {
    const HEADS: [&[u8]; 8] = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n",
    ];
    HEADS[extra]
}

/// A complete response of exactly `len_bytes`, its body padding.
fn padded_response(len_bytes: usize) -> Vec<u8> {
    let head_len_bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 00000\r\n\r\n".len();
    let body_len_bytes = len_bytes - head_len_bytes;
    let mut bytes =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {body_len_bytes:05}\r\n\r\n").into_bytes();
    bytes.resize(len_bytes, b'x');
    bytes
}

impl Handler for CountingHandler {
    fn begin_batch(&mut self, _: i64) {}
    fn handle(&mut self, _: &Request<'_>, sink: &mut Sink<'_>) -> Outcome {
        self.handled.fetch_add(1, Ordering::Relaxed);
        sink.status = 200;
        match self.answer {
            Answer::Segments(n) => {
                sink.push_static(segments_head(n - 1));
                for _ in 1..n {
                    sink.push_static(b"x");
                }
            }
            Answer::Scratch(len_bytes) => {
                let bytes = padded_response(len_bytes);
                assert!(sink.write(|w| {
                    w.put(&bytes);
                }));
            }
            Answer::Owned(len_bytes) => sink.push_owned(padded_response(len_bytes)),
        }
        Outcome::Done
    }
    fn reject(&mut self, _: IpAddr, _: ListenerKind, r: Rejection, _: &mut Sink<'_>) {
        panic!("every request here is well-formed: {}", r.message);
    }
    fn hold(&self) -> Arc<dyn std::any::Any + Send + Sync> {
        Arc::new(())
    }
    fn take_replies(&mut self, _: &mut dyn FnMut(ConnRef, Reply)) {}
}

struct Factory(Answer, Arc<AtomicUsize>);
impl HandlerFactory for Factory {
    type Handler = CountingHandler;
    fn make(&self, _: usize, _: Arc<mio::Waker>) -> CountingHandler {
        CountingHandler {
            answer: self.0,
            handled: self.1.clone(),
        }
    }
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
const PIPELINED: usize = 40;

/// Sends `PIPELINED` GETs at once to a client with a 1-byte receive window; returns
/// how many were answered before the first flush blocked, then reads until every
/// answer has come and checks they are whole and in order.
fn first_batch(answer: Answer) -> usize {
    let handled = Arc::new(AtomicUsize::new(0));
    let cfg = test_config(4, 4);
    let factory = Factory(answer, handled.clone());
    let (mut w, _waker) =
        Worker::build(0, cfg, Poll::new().unwrap(), Vec::new(), &factory).unwrap();
    let (idx, pipe) = open_test_conn(&mut w, ListenerKind::Public);
    {
        let mut client = pipe.borrow_mut();
        client.to_client_cap_bytes = 1;
        client.to_server.extend(GET.repeat(PIPELINED));
    }
    w.on_ready(idx, true, false);
    let first = handled.load(Ordering::Relaxed);
    // Now the client reads everything, and the rest are answered.
    let mut received = Vec::new();
    pipe.borrow_mut().to_client_cap_bytes = 1 << 20;
    for _ in 0..PIPELINED {
        received.extend(pipe.borrow_mut().to_client.drain(..));
        w.on_ready(idx, false, false);
    }
    received.extend(pipe.borrow_mut().to_client.drain(..));
    assert_eq!(
        handled.load(Ordering::Relaxed),
        PIPELINED,
        "every request answered"
    );
    let one: Vec<u8> = match answer {
        Answer::Segments(n) => [segments_head(n - 1), &b"x".repeat(n - 1)].concat(),
        Answer::Scratch(len_bytes) | Answer::Owned(len_bytes) => padded_response(len_bytes),
    };
    assert!(
        received == one.repeat(PIPELINED),
        "answers whole and in order"
    );
    first
}

#[test]
fn a_batch_fills_the_iovecs_up_to_the_reserve_and_never_past_them() {
    // Eight segments per answer: the 64 iovecs hold exactly eight answers, the last
    // one using the whole reserve.
    assert_eq!(
        first_batch(Answer::Segments(MIN_SEGMENTS)),
        MAX_SEGMENTS / MIN_SEGMENTS
    );
    // Five: twelve answers leave four iovecs, under the reserve, so the batch ends
    // there (checking for exactly the reserve would go on, and overrun the queue).
    assert_eq!(first_batch(Answer::Segments(5)), 12);
}

#[test]
fn a_batch_goes_on_while_the_scratch_reserve_is_left() {
    // 1 KiB of scratch per answer out of 16 KiB: after twelve, exactly the reserve
    // (4 KiB) is left, which is still enough for one more.
    let per_answer_bytes = 1024;
    let batch = first_batch(Answer::Scratch(per_answer_bytes));
    assert_eq!(
        batch,
        (16 * 1024 - MIN_SCRATCH_BYTES) / per_answer_bytes + 1
    );
}

#[test]
fn heap_built_answers_stop_a_batch_at_64_kib() {
    // 10 KiB each: the seventh takes the queued total past 64 KiB, and no eighth is
    // built while the client reads nothing.
    assert_eq!(first_batch(Answer::Owned(10 * 1024)), 7);
}
