//! The thread-per-core HTTP/1.1 runtime: mio event loops (pinned on request), a fixed
//! connection table, pooled buffers, a timing wheel and vectored writes.
//!
//! It knows HTTP framing and nothing of availability: requests go to a
//! [`Handler`] (the server's is in `api/`), which appends response bytes to a
//! [`Sink`].

mod accept;
mod conn;
mod lifecycle;
mod linger;
pub mod listener;
pub mod out;
pub mod pool;
mod requests;
mod reuse;
mod serve;
pub mod sim;
mod sink;
pub mod stats;
mod stream;
pub mod timer;
mod worker;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::http::request::Head;

pub use sink::{SharedBytes, Sink, Span};
pub use stream::Stream;
pub use worker::{WorkerHandle, spawn_workers};

/// Which listener a connection arrived on; the handler routes by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListenerKind {
    Public,
    Admin,
}

/// Identifies a connection across threads: the slot plus a serial that changes
/// whenever the slot is reused, so a late reply never reaches a stranger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnRef {
    pub worker: u16,
    pub index: u32,
    pub serial: u32,
}

/// One complete request as the handler sees it.
pub struct Request<'a> {
    pub head: &'a Head<'a>,
    pub body: &'a [u8],
    pub peer_ip: IpAddr,
    pub listener: ListenerKind,
    pub conn: ConnRef,
}

pub enum Outcome {
    /// The response is in the sink.
    Done,
    /// The answer will come later through [`Handler::take_replies`]; the
    /// connection reads nothing more until it does.
    Deferred,
}

/// Why the protocol layer refused a request before it reached routing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub code: &'static str,
    pub message: &'static str,
}

pub trait Handler {
    /// Called before each batch of pipelined requests on one connection; a
    /// handler refreshes its view of shared state here, once per batch.
    /// `now_unix_s` is the worker's clock, read once per poll (the second its
    /// `Date` header states), so a handler needs no clock read of its own.
    fn begin_batch(&mut self, now_unix_s: i64);
    fn handle(&mut self, request: &Request<'_>, sink: &mut Sink<'_>) -> Outcome;
    /// Writes the response for a request the protocol layer rejected.
    fn reject(
        &mut self,
        peer_ip: IpAddr,
        listener: ListenerKind,
        rejection: Rejection,
        sink: &mut Sink<'_>,
    );
    /// A reference that keeps alive the shared bytes of the current batch;
    /// taken when a connection's write blocks with those bytes queued.
    fn hold(&self) -> Arc<dyn std::any::Any + Send + Sync>;
    /// Delivers finished deferred replies (complete response bytes); called
    /// when the worker's waker fires.
    fn take_replies(&mut self, deliver: &mut dyn FnMut(ConnRef, Reply));
}

/// A deferred request's finished response, with whether its connection closes after
/// it: decided by whoever wrote the response's `Connection` field, so the two agree.
pub struct Reply {
    pub bytes: Vec<u8>,
    pub close: bool,
}

pub trait HandlerFactory: Send + Sync + 'static {
    type Handler: Handler;
    fn make(&self, worker_index: usize, waker: Arc<mio::Waker>) -> Self::Handler;
}

/// What the runtime needs to know; built from `Config` by the server.
#[derive(Clone)]
pub struct RuntimeConfig {
    pub workers: usize,
    /// Confine worker i to the i-th allowed core (wrapping); off by default, see
    /// BENCHMARKS.md "Core pinning".
    pub pin_cores: bool,
    pub max_connections_per_worker: usize,
    pub buffers_per_worker: usize,
    pub max_head_bytes: usize,
    pub max_body_bytes: usize,
    pub header_timeout_ms: u64,
    pub idle_timeout_ms: u64,
    pub body_timeout_ms: u64,
    pub write_timeout_ms: u64,
    /// How long a drain waits for open connections before closing them.
    pub drain_timeout_ms: u64,
    /// Set by the shutdown path; workers stop accepting and drain.
    pub draining: Arc<AtomicBool>,
    /// Runs first on each worker thread (tests use it to tag worker threads
    /// for the allocation counter).
    pub on_worker_start: Option<fn(usize)>,
    /// One entry per worker, for metrics.
    pub stats: Arc<[stats::WorkerStats]>,
}

/// Listening addresses for one server: each gets one socket per worker
/// (the admin one only on worker 0).
pub struct Listeners {
    pub https: Option<(
        Vec<std::net::TcpListener>,
        Arc<arc_swap::ArcSwap<rustls::ServerConfig>>,
    )>,
    pub http: Option<Vec<std::net::TcpListener>>,
    pub admin: Option<std::net::TcpListener>,
}

impl Listeners {
    pub fn local_addrs(&self) -> (Option<SocketAddr>, Option<SocketAddr>, Option<SocketAddr>) {
        let first = |v: &Vec<std::net::TcpListener>| v.first().and_then(|l| l.local_addr().ok());
        (
            self.https.as_ref().and_then(|(v, _)| first(v)),
            self.http.as_ref().and_then(first),
            self.admin.as_ref().and_then(|l| l.local_addr().ok()),
        )
    }
}
