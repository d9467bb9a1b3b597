//! A real store's writer, built as `server::start` builds it but driven by the
//! test: a thread of its own, or one turn at a time. Declared by the test files
//! that use it with `#[path = "common/writer.rs"] mod writer_harness;` (next to
//! `mod common;`).
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU8;
use std::sync::mpsc::{Receiver, SyncSender};

use arc_swap::ArcSwap;
use availability_server::api::{STATE_SERVING, Shared};
use availability_server::ratelimit::RateLimiter;
use availability_server::snapshot::Calendar;
use availability_server::store::Store;
use availability_server::week::zones;
use availability_server::writer::{Command, Writer};

/// A writer on a store in `dir` (home zone UTC, key `common::API_KEY`) whose
/// calendar was built as if the time were `calendar_now_s`, with the snapshot
/// readers would see and the command queue.
pub fn parts(
    dir: &Path,
    calendar_now_s: i64,
) -> (Writer, Arc<Shared>, SyncSender<Command>, Receiver<Command>) {
    let store = Store::open(dir, zones::utc(), 1_000).expect("store opens");
    let calendar = Calendar::new(zones::utc(), calendar_now_s);
    let (commands, inbox) = std::sync::mpsc::sync_channel(16);
    let shared = shared(&store, &calendar, commands.clone());
    let keys = availability_server::auth::bootstrap(dir, Some(crate::common::API_KEY), None, 4)
        .expect("keys")
        .keys;
    let writer = Writer::new(store, keys, calendar, Arc::clone(&shared));
    (writer, shared, commands, inbox)
}

/// What the workers and the writer share, as `server::start` makes it: the
/// snapshot of `store` by `calendar`, no rate limit, 100 key failures a minute.
pub fn shared(store: &Store, calendar: &Calendar, commands: SyncSender<Command>) -> Arc<Shared> {
    let record = store.record();
    Arc::new(Shared {
        snapshot: Arc::new(ArcSwap::from_pointee(
            calendar.build(&record.week, record.generation),
        )),
        limiter: RateLimiter::new(0, 0, 1),
        auth_failures: RateLimiter::with_interval(100, 60_000, 64),
        state: AtomicU8::new(STATE_SERVING),
        writer: commands,
        trusted_proxies: Default::default(),
        runtime_stats: Arc::from(Vec::new()),
        writer_stats: Default::default(),
    })
}

/// The writer thread of a real store (calendar built now), with its command queue.
pub fn spawn(dir: &Path) -> (std::thread::JoinHandle<()>, SyncSender<Command>) {
    let (writer, _shared, commands, inbox) = parts(dir, crate::common::now_s());
    (std::thread::spawn(move || writer.run(inbox)), commands)
}
