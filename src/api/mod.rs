//! Where HTTP meets availability: routes, the read handlers (allocation-free),
//! and the hand-off of writes to the writer thread.

mod patch;
mod patch_body;
mod precondition;
mod read;
mod reply;
mod strict_json;
mod target_memo;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::http::request::Method;
use crate::ratelimit::{Decision, RateLimiter, monotonic_ns};
use crate::runtime::{
    ConnRef, Handler, HandlerFactory, ListenerKind, Outcome, Rejection, Reply, Request, Sink,
};
use crate::snapshot::Snapshot;
use crate::writer::Command;

pub use patch_body::{BodyError, Edit, parse_patch_body};
pub use precondition::check_preconditions;
pub use reply::{Extra, put_tail, write_error};

/// Server lifecycle as `/ready` reports it.
pub const STATE_STARTING: u8 = 0;
pub const STATE_SERVING: u8 = 1;
pub const STATE_DRAINING: u8 = 2;
/// Every worker has exited: nobody can receive a reply, so the writer drops the writes
/// still queued instead of running their bcrypt and fsync past the drain deadline.
pub const STATE_STOPPED: u8 = 3;

/// State every worker shares with the writer thread.
pub struct Shared {
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    pub limiter: RateLimiter,
    pub auth_failures: RateLimiter,
    pub state: AtomicU8,
    pub writer: SyncSender<Command>,
    /// Proxies whose `X-Forwarded-For` names the client that limits apply to.
    pub trusted_proxies: crate::forwarded::TrustedProxies,
    pub runtime_stats: Arc<[crate::runtime::stats::WorkerStats]>,
    pub writer_stats: crate::metrics::WriterStats,
}

/// Where the writer sends a worker's deferred replies.
#[derive(Clone)]
pub struct ReplyTo {
    pub tx: Sender<Delivery>,
    pub waker: Arc<mio::Waker>,
}

impl ReplyTo {
    pub fn send(&self, conn: ConnRef, reply: Reply) {
        if self.tx.send((conn, reply)).is_ok() {
            let _ = self.waker.wake();
        }
    }
}

/// A finished response for a deferred request, and its connection.
pub type Delivery = (ConnRef, Reply);
type ReplyChannel = (Sender<Delivery>, Receiver<Delivery>);

pub struct ApiFactory {
    pub shared: Arc<Shared>,
    /// Receivers are created up front and taken by each worker as it starts.
    pub reply_channels: Mutex<Vec<Option<ReplyChannel>>>,
}

impl ApiFactory {
    pub fn new(shared: Arc<Shared>, workers: usize) -> ApiFactory {
        let channels = (0..workers)
            .map(|_| Some(std::sync::mpsc::channel()))
            .collect();
        ApiFactory {
            shared,
            reply_channels: Mutex::new(channels),
        }
    }
}

impl HandlerFactory for ApiFactory {
    type Handler = ApiHandler;

    fn make(&self, worker_index: usize, waker: Arc<mio::Waker>) -> ApiHandler {
        let (tx, rx) = self
            .reply_channels
            .lock()
            .expect("reply channel table")
            .get_mut(worker_index)
            .and_then(Option::take)
            .expect("one reply channel per worker");
        let snap = self.shared.snapshot.load_full();
        ApiHandler {
            cache: arc_swap::Cache::new(self.shared.snapshot.clone()),
            shared: self.shared.clone(),
            snap,
            now_unix_s: 0,
            target_memo: Box::default(),
            replies: rx,
            reply_to: ReplyTo { tx, waker },
        }
    }
}

pub struct ApiHandler {
    shared: Arc<Shared>,
    cache: arc_swap::Cache<Arc<ArcSwap<Snapshot>>, Arc<Snapshot>>,
    /// The snapshot this batch answers from (one atomic load per batch).
    snap: Arc<Snapshot>,
    now_unix_s: i64,
    /// The last read query resolved (polling clients repeat theirs).
    target_memo: Box<target_memo::TargetMemo>,
    replies: Receiver<Delivery>,
    reply_to: ReplyTo,
}

const ALLOW_WEEK: &[u8] = b"Allow: GET, HEAD, PATCH\r\n";
const ALLOW_READ: &[u8] = b"Allow: GET, HEAD\r\n";

enum Route {
    Week,
    Slot,
    Csv,
    Health,
    Ready,
    Metrics,
}

impl Handler for ApiHandler {
    fn begin_batch(&mut self, now_unix_s: i64) {
        let latest = self.cache.load();
        if !Arc::ptr_eq(latest, &self.snap) {
            self.snap = latest.clone();
        }
        self.now_unix_s = now_unix_s;
    }

    fn handle(&mut self, req: &Request<'_>, sink: &mut Sink<'_>) -> Outcome {
        let client_ip =
            (self.shared.trusted_proxies).client_ip(req.peer_ip, req.head.forwarded_for);
        let rate = match req.listener {
            ListenerKind::Admin => None,
            ListenerKind::Public => self.rate_check(client_ip),
        };
        let head_only = req.head.method == Method::Head;
        // The token is spent above, but a 429 is answered only after routing, so
        // that the 429 of a public read can say what the read's answer says.
        let route = match (req.listener, req.head.path) {
            (ListenerKind::Public, b"/availability") => Some(Route::Week),
            (ListenerKind::Public, b"/availability/slot") => Some(Route::Slot),
            (ListenerKind::Public, b"/availability/csv") => Some(Route::Csv),
            (_, b"/health") => Some(Route::Health),
            (_, b"/ready") => Some(Route::Ready),
            (ListenerKind::Admin, b"/metrics") => Some(Route::Metrics),
            _ => None,
        };
        if let Some(d) = rate
            && !d.allowed
        {
            let read = matches!(req.head.method, Method::Get | Method::Head)
                && matches!(route, Some(Route::Week | Route::Slot | Route::Csv));
            let extra = if read {
                Extra::RetryAfterCors(d.retry_after_secs)
            } else {
                Extra::RetryAfter(d.retry_after_secs)
            };
            write_error(
                sink,
                429,
                "rate_limited",
                "too many requests",
                None,
                rate,
                extra,
                head_only,
            );
            return Outcome::Done;
        }
        let Some(route) = route else {
            write_error(
                sink,
                404,
                "not_found",
                "no such resource",
                Some(req.head.path),
                rate,
                Extra::None,
                head_only,
            );
            return Outcome::Done;
        };
        let allow = if matches!(route, Route::Week) {
            ALLOW_WEEK
        } else {
            ALLOW_READ
        };
        match (req.head.method, route) {
            (Method::Patch, Route::Week) => return self.patch(req, client_ip, sink, rate),
            (Method::Get | Method::Head, Route::Week) => {
                self.week(req, sink, rate, crate::snapshot::Kind::WeekJson)
            }
            (Method::Get | Method::Head, Route::Csv) => {
                self.week(req, sink, rate, crate::snapshot::Kind::Csv)
            }
            (Method::Get | Method::Head, Route::Slot) => self.slot(req, sink, rate),
            (Method::Get | Method::Head, Route::Health) => {
                read::status_body(sink, 200, b"{\"status\":\"ok\"}", rate, head_only)
            }
            (Method::Get | Method::Head, Route::Ready) => {
                match self.shared.state.load(Ordering::Acquire) {
                    STATE_SERVING => {
                        read::status_body(sink, 200, b"{\"status\":\"ready\"}", rate, head_only)
                    }
                    STATE_DRAINING => {
                        read::status_body(sink, 503, b"{\"status\":\"draining\"}", rate, head_only)
                    }
                    _ => {
                        read::status_body(sink, 503, b"{\"status\":\"starting\"}", rate, head_only)
                    }
                }
            }
            (Method::Get | Method::Head, Route::Metrics) => self.metrics(sink, head_only),
            _ => write_error(
                sink,
                405,
                "method_not_allowed",
                "method not allowed here",
                None,
                rate,
                Extra::Allow(allow),
                head_only,
            ),
        }
        Outcome::Done
    }

    fn reject(
        &mut self,
        peer_ip: IpAddr,
        listener: ListenerKind,
        rejection: Rejection,
        sink: &mut Sink<'_>,
    ) {
        // Protocol errors still state the client's limit, without spending a token;
        // not behind a trusted proxy, where the client is unknown without a head.
        let rate = match listener {
            ListenerKind::Public
                if self.shared.limiter.is_enabled()
                    && !self.shared.trusted_proxies.contains(peer_ip) =>
            {
                Some(self.shared.limiter.peek(peer_ip, monotonic_ns()))
            }
            _ => None,
        };
        write_error(
            sink,
            rejection.status,
            rejection.code,
            rejection.message,
            None,
            rate,
            Extra::None,
            sink.head_request,
        );
    }

    fn hold(&self) -> Arc<dyn std::any::Any + Send + Sync> {
        self.snap.clone()
    }

    fn take_replies(&mut self, deliver: &mut dyn FnMut(ConnRef, Reply)) {
        while let Ok((conn, reply)) = self.replies.try_recv() {
            deliver(conn, reply);
        }
    }
}

impl ApiHandler {
    fn rate_check(&self, ip: IpAddr) -> Option<Decision> {
        let limiter = &self.shared.limiter;
        limiter
            .is_enabled()
            .then(|| limiter.check(ip, monotonic_ns()))
    }
}

impl ApiHandler {
    /// Prometheus text on the admin listener (allocates; not an API read).
    fn metrics(&self, sink: &mut Sink<'_>, head_only: bool) {
        let gauges = crate::metrics::Gauges {
            generation: self.snap.generation,
            distinct_grids: self.snap.distinct_grids(),
            ready: self.shared.state.load(Ordering::Acquire) == STATE_SERVING,
        };
        let body = crate::metrics::render(
            &self.shared.runtime_stats,
            &self.shared.writer_stats,
            &gauges,
        )
        .into_bytes();
        sink.status = 200;
        let date = *sink.date;
        let (close, keep_alive) = (sink.close, sink.http10_keep_alive);
        let len_bytes = body.len() as u64;
        let fitted = sink.write(|w| {
            w.put(crate::http::response::status_line(200))
                .put(b"Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n")
                .put(crate::http::response::CACHE_NONE)
                .put(b"Content-Length: ")
                .put_u64(len_bytes)
                .put(b"\r\n");
            reply::put_tail(w, &date, None, close, keep_alive);
        });
        assert!(fitted, "the runtime reserves scratch for one response");
        if !head_only {
            sink.push_owned(body);
        }
    }
}
