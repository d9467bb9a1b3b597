//! The rig of `write_batch.rs`: a writer over a fresh data directory, driven by
//! the test, with one reply channel standing in for a worker.
#![allow(dead_code)] // each test file that declares this rig uses part of it

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::time::Duration;

use availability_server::api::{Delivery, ReplyTo, Shared, parse_patch_body};
use availability_server::http::date::IMF_FIXDATE_LEN;
use availability_server::runtime::ConnRef;
use availability_server::snapshot::{Calendar, Snapshot};
use availability_server::store::Store;
use availability_server::week::zones;
use availability_server::writer::{Command, WriteJob, Writer};

use super::{KEY, common, writer_harness};

/// A writer thread over a fresh data directory, with one reply channel standing in
/// for a worker.
pub(crate) struct Rig {
    /// Removed after the writer thread is joined (fields drop after `Drop::drop`).
    pub(crate) dir: common::TempDir,
    pub(crate) shared: Arc<Shared>,
    pub(crate) commands: SyncSender<Command>,
    pub(crate) replies: Receiver<Delivery>,
    pub(crate) reply_to: ReplyTo,
    _poll: mio::Poll,
    pub(crate) writer: Option<(Store, Receiver<Command>)>,
    pub(crate) thread: Option<std::thread::JoinHandle<()>>,
}

impl Rig {
    /// `prepare` may arm a store fault before the writer takes the store.
    pub(crate) fn new(prepare: impl FnOnce(&mut Store)) -> Rig {
        zones::init();
        let dir = common::temp_dir("group");
        let mut store = Store::open(&dir, zones::utc(), 1_000).expect("store opens");
        prepare(&mut store);
        let (commands, inbox) = sync_channel(256);
        let calendar = Calendar::new(zones::utc(), common::now_s());
        let shared = writer_harness::shared(&store, &calendar, commands.clone());
        let poll = mio::Poll::new().expect("poll");
        let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).expect("waker"));
        let (tx, replies) = channel();
        Rig {
            dir,
            shared,
            commands,
            replies,
            reply_to: ReplyTo { tx, waker },
            _poll: poll,
            writer: Some((store, inbox)),
            thread: None,
        }
    }

    /// Queues a PATCH (connection `index`) without the writer running yet.
    pub(crate) fn queue(&self, index: u32, key: &str, body: &str) {
        self.queue_job(self.job(index, key, body));
    }

    /// Queues a job the test has made (or changed) itself.
    pub(crate) fn queue_job(&self, job: WriteJob) {
        self.commands
            .try_send(Command::Write(Box::new(job)))
            .unwrap_or_else(|_| panic!("queue has room"));
    }

    /// A PATCH from connection `index` (and its own address, 10.0.0.x).
    pub(crate) fn job(&self, index: u32, key: &str, body: &str) -> WriteJob {
        job(&self.reply_to, index, key, body)
    }

    /// Like `queue`, but waits for room in the queue.
    pub(crate) fn queue_blocking(&self, index: u32, key: &str, body: &str) {
        let job = self.job(index, key, body);
        self.commands
            .send(Command::Write(Box::new(job)))
            .unwrap_or_else(|_| panic!("writer is running"));
    }

    /// Starts the writer thread: everything queued so far is one group. The key is
    /// configured in plaintext, so the writer knows it without a bcrypt check.
    pub(crate) fn start(&mut self) {
        let keys = self.plain_keys();
        self.start_with(keys);
    }

    /// The key in plaintext: the writer knows it without a bcrypt check.
    fn plain_keys(&self) -> availability_server::auth::KeyStore {
        availability_server::auth::bootstrap(&self.dir, Some(KEY), None, 4)
            .expect("keys")
            .keys
    }

    /// The writer (with the key in plaintext) and its queue, to be driven turn by
    /// turn on the test's thread.
    pub(crate) fn writer_with_plain_key(&mut self) -> (Writer, Receiver<Command>) {
        let keys = self.plain_keys();
        self.writer_with(keys)
    }

    /// Starts the writer with only a bcrypt hash of the key (of this cost): its first
    /// right key costs a bcrypt check, like every wrong one.
    pub(crate) fn start_with_hash(&mut self, cost: u32) {
        let (writer, inbox) = self.writer_here(cost);
        self.thread = Some(std::thread::spawn(move || writer.run(inbox)));
    }

    /// Starts the writer thread with these keys.
    pub(crate) fn start_with(&mut self, keys: availability_server::auth::KeyStore) {
        let (writer, inbox) = self.writer_with(keys);
        self.thread = Some(std::thread::spawn(move || writer.run(inbox)));
    }

    /// The writer (with only a hash of the key, of this cost) and its queue, to be
    /// driven turn by turn on the test's thread.
    pub(crate) fn writer_here(&mut self, cost: u32) -> (Writer, Receiver<Command>) {
        let hash = bcrypt::hash(KEY, cost).expect("hash");
        let keys = availability_server::auth::bootstrap(&self.dir, None, Some(&hash), cost)
            .expect("keys")
            .keys;
        self.writer_with(keys)
    }

    pub(crate) fn writer_with(
        &mut self,
        keys: availability_server::auth::KeyStore,
    ) -> (Writer, Receiver<Command>) {
        let (store, inbox) = self.writer.take().expect("not started yet");
        let calendar = Calendar::new(zones::utc(), common::now_s());
        (
            Writer::new(store, keys, calendar, self.shared.clone()),
            inbox,
        )
    }

    /// The next reply: connection index, status, JSON body; and the generation of
    /// the snapshot being served when it arrived.
    pub(crate) fn reply(&self) -> (u32, u16, serde_json::Value, u64) {
        let (conn, reply) = self
            .replies
            .recv_timeout(Duration::from_secs(20))
            .expect("a reply");
        let serving = self.shared.snapshot.load().generation;
        let text = String::from_utf8(reply.bytes).expect("utf-8");
        let status: u16 = text[9..12].parse().expect("status code");
        let (head, body) = text.split_once("\r\n\r\n").expect("head end");
        assert_eq!(
            reply.close,
            head.contains("\r\nConnection: close"),
            "the reply's close flag and its Connection field agree: {head}"
        );
        assert_recent_date(head);
        let json = serde_json::from_str(body).expect("JSON body");
        (conn.index, status, json, serving)
    }

    pub(crate) fn replies(&self, n: usize) -> Vec<(u32, u16, serde_json::Value, u64)> {
        let mut all: Vec<_> = (0..n).map(|_| self.reply()).collect();
        all.sort_by_key(|r| r.0);
        all
    }

    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.snapshot.load_full()
    }

    pub(crate) fn bcrypt_checks(&self) -> u64 {
        self.shared
            .writer_stats
            .bcrypt_checks
            .load(Ordering::Relaxed)
    }

    pub(crate) fn rebuilds(&self) -> u64 {
        self.shared.writer_stats.rebuilds.load(Ordering::Relaxed)
    }

    /// Stops the writer and reopens the data directory.
    pub(crate) fn stop_and_reopen(mut self) -> Store {
        let _ = self.commands.send(Command::Stop);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("writer thread");
        }
        Store::open(&self.dir, zones::utc(), 2_000).expect("reopen")
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A PATCH from connection `index` (and its own address, 10.0.0.x), answered to `reply`.
pub(crate) fn job(reply: &ReplyTo, index: u32, key: &str, body: &str) -> WriteJob {
    WriteJob {
        conn: ConnRef {
            worker: 0,
            index,
            serial: 0,
        },
        reply: reply.clone(),
        peer_ip: job_address(index),
        key: key.as_bytes().to_vec(),
        edits: parse_patch_body(body.as_bytes()),
        close: false,
        http10_keep_alive: false,
        rate: None,
    }
}

/// The reply's `Date` is an IMF-fixdate of the last minute (a reply may wait in the
/// channel while the test drives bcrypt checks). Parsed by chrono, as
/// `tests/api_headers.rs` checks the workers' answers, not by the server's formatter.
fn assert_recent_date(head: &str) {
    let date = head
        .split("\r\n")
        .find_map(|line| line.strip_prefix("Date: "))
        .unwrap_or_else(|| panic!("a Date field: {head}"));
    let parsed = chrono::DateTime::parse_from_rfc2822(date)
        .unwrap_or_else(|e| panic!("Date {date:?} is not an HTTP date: {e}"));
    assert!(
        date.len() == IMF_FIXDATE_LEN && date.ends_with(" GMT"),
        "Date {date:?} is not an IMF-fixdate"
    );
    let age_s = common::now_s() - parsed.timestamp();
    assert!(
        (0..=60).contains(&age_s),
        "Date {date} is {age_s} s old, not of the last minute"
    );
}

/// The client address of connection `index`'s job: 10.0.0.x.
pub(crate) fn job_address(index: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, (index % 200) as u8 + 1))
}

pub(crate) fn cell(day: u8, slot: u8, status: &str) -> String {
    format!(r#"{{"slots":[{{"day":{day},"slot":{slot},"status":"{status}"}}]}}"#)
}
