//! The writer thread's group commit, driven directly (no sockets): writes queued
//! together are committed once, each still gets its own generation, refusals do not
//! touch the others, nobody gets 200 before the commit is durable and the new
//! snapshot is in place, and a failed commit fails the whole group.

mod common;
#[path = "common/writer.rs"]
mod writer_harness;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::time::Duration;

use availability_server::api::{ReplyTo, Shared, parse_patch_body};
use availability_server::runtime::ConnRef;
use availability_server::snapshot::{Calendar, Snapshot};
use availability_server::store::Store;
use availability_server::week::zones;
use availability_server::week::{Status, Week};
use availability_server::writer::{Command, WriteJob, Writer};

const KEY: &str = "group-commit-test-key";

/// A writer thread over a fresh data directory, with one reply channel standing in
/// for a worker.
struct Rig {
    dir: PathBuf,
    shared: Arc<Shared>,
    commands: SyncSender<Command>,
    replies: Receiver<(ConnRef, Vec<u8>)>,
    reply_to: ReplyTo,
    _poll: mio::Poll,
    writer: Option<(Store, Receiver<Command>)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Rig {
    /// `prepare` may arm a store fault before the writer takes the store.
    fn new(prepare: impl FnOnce(&mut Store)) -> Rig {
        zones::init();
        let dir = common::temp_dir("group");
        let mut store = Store::open(&dir, zones::utc(), 1_000).expect("store opens");
        prepare(&mut store);
        let (commands, inbox) = sync_channel(256);
        let calendar = Calendar::new(zones::utc(), now_s());
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
    fn queue(&self, index: u32, key: &str, body: &str) {
        let job = self.job(index, key, body);
        self.commands
            .try_send(Command::Write(Box::new(job)))
            .unwrap_or_else(|_| panic!("queue has room"));
    }

    /// A PATCH from connection `index` (and its own address, 10.0.0.x).
    fn job(&self, index: u32, key: &str, body: &str) -> WriteJob {
        job(&self.reply_to, index, key, body)
    }

    /// Like `queue`, but waits for room in the queue.
    fn queue_blocking(&self, index: u32, key: &str, body: &str) {
        let job = self.job(index, key, body);
        self.commands
            .send(Command::Write(Box::new(job)))
            .unwrap_or_else(|_| panic!("writer is running"));
    }

    /// Starts the writer thread: everything queued so far is one group. The key is
    /// configured in plaintext, so the writer knows it without a bcrypt check.
    fn start(&mut self) {
        let keys = availability_server::auth::bootstrap(&self.dir, Some(KEY), None, 4)
            .expect("keys")
            .keys;
        self.start_with(keys);
    }

    /// Starts the writer with only a bcrypt hash of the key (of this cost): its first
    /// right key costs a bcrypt check, like every wrong one.
    fn start_with_hash(&mut self, cost: u32) {
        let (writer, inbox) = self.writer_here(cost);
        self.thread = Some(std::thread::spawn(move || writer.run(inbox)));
    }

    /// Starts the writer thread with these keys.
    fn start_with(&mut self, keys: availability_server::auth::KeyStore) {
        let (writer, inbox) = self.writer_with(keys);
        self.thread = Some(std::thread::spawn(move || writer.run(inbox)));
    }

    /// The writer (with only a hash of the key, of this cost) and its queue, to be
    /// driven turn by turn on the test's thread.
    fn writer_here(&mut self, cost: u32) -> (Writer, Receiver<Command>) {
        let hash = bcrypt::hash(KEY, cost).expect("hash");
        let keys = availability_server::auth::bootstrap(&self.dir, None, Some(&hash), cost)
            .expect("keys")
            .keys;
        self.writer_with(keys)
    }

    fn writer_with(
        &mut self,
        keys: availability_server::auth::KeyStore,
    ) -> (Writer, Receiver<Command>) {
        let (store, inbox) = self.writer.take().expect("not started yet");
        let calendar = Calendar::new(zones::utc(), now_s());
        (
            Writer::new(store, keys, calendar, self.shared.clone()),
            inbox,
        )
    }

    /// The next reply: connection index, status, JSON body; and the generation of
    /// the snapshot being served when it arrived.
    fn reply(&self) -> (u32, u16, serde_json::Value, u64) {
        let (conn, bytes) = self
            .replies
            .recv_timeout(Duration::from_secs(20))
            .expect("a reply");
        let serving = self.shared.snapshot.load().generation;
        let text = String::from_utf8(bytes).expect("utf-8");
        let status: u16 = text[9..12].parse().expect("status code");
        let body = text.split_once("\r\n\r\n").expect("head end").1;
        let json = serde_json::from_str(body).expect("JSON body");
        (conn.index, status, json, serving)
    }

    fn replies(&self, n: usize) -> Vec<(u32, u16, serde_json::Value, u64)> {
        let mut all: Vec<_> = (0..n).map(|_| self.reply()).collect();
        all.sort_by_key(|r| r.0);
        all
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.snapshot.load_full()
    }

    fn bcrypt_checks(&self) -> u64 {
        self.shared
            .writer_stats
            .bcrypt_checks
            .load(Ordering::Relaxed)
    }

    fn rebuilds(&self) -> u64 {
        self.shared.writer_stats.rebuilds.load(Ordering::Relaxed)
    }

    /// Stops the writer and reopens the data directory.
    fn stop_and_reopen(mut self) -> Store {
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
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A PATCH from connection `index` (and its own address, 10.0.0.x), answered to `reply`.
fn job(reply: &ReplyTo, index: u32, key: &str, body: &str) -> WriteJob {
    WriteJob {
        conn: ConnRef {
            worker: 0,
            index,
            serial: 0,
        },
        reply: reply.clone(),
        peer_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, (index % 200) as u8 + 1)),
        key: key.as_bytes().to_vec(),
        edits: parse_patch_body(body.as_bytes()),
        close: false,
        http10_keep_alive: false,
        rate: None,
    }
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn cell(day: u8, slot: u8, status: &str) -> String {
    format!(r#"{{"slots":[{{"day":{day},"slot":{slot},"status":"{status}"}}]}}"#)
}

#[test]
fn a_queued_group_is_one_commit_with_a_generation_per_write() {
    let mut rig = Rig::new(|_| {});
    rig.queue(0, KEY, &cell(0, 0, "available"));
    rig.queue(1, "not-the-key-at-all", &cell(0, 1, "available"));
    rig.queue(2, KEY, &cell(1, 5, "available"));
    rig.queue(3, KEY, r#"{"slots":[{"day":9,"slot":0,"status":"maybe"}]}"#);
    rig.queue(4, KEY, &cell(1, 5, "maybe")); // later write to the same cell wins
    rig.queue(
        5,
        KEY,
        r#"{"slots":[{"day":2,"slot":3,"status":"maybe"},{"day":2,"slot":4,"status":"maybe"}]}"#,
    );
    rig.start();
    let replies = rig.replies(6);
    let statuses: Vec<u16> = replies.iter().map(|r| r.1).collect();
    assert_eq!(statuses, [200, 401, 200, 400, 200, 200]);
    // Generations in queue order among the accepted writes, one each.
    let generations: Vec<u64> = replies
        .iter()
        .filter(|r| r.1 == 200)
        .map(|r| r.2["generation"].as_u64().expect("generation"))
        .collect();
    assert_eq!(generations, [1, 2, 3, 4]);
    assert_eq!(replies[5].2["updated"], 2);
    for (index, status, _, serving) in &replies {
        if *status == 200 {
            assert_eq!(*serving, 4, "connection {index}: answered before the swap");
        }
    }
    assert_eq!(replies[3].2["error"]["index"], 0);
    assert_eq!(rig.rebuilds(), 1, "one group, one snapshot");

    let mut expected = Week::empty();
    expected.set(0, 0, Status::Available);
    expected.set(1, 5, Status::Maybe);
    expected.set(2, 3, Status::Maybe);
    expected.set(2, 4, Status::Maybe);
    let snapshot = rig.snapshot();
    assert_eq!(snapshot.generation, 4);
    assert_eq!(snapshot.home_week, expected);
    let reopened = rig.stop_and_reopen();
    assert_eq!(reopened.record().generation, 4);
    assert_eq!(reopened.record().week, expected);
}

#[test]
fn writes_after_a_group_continue_the_generations() {
    let mut rig = Rig::new(|_| {});
    rig.queue(0, KEY, &cell(3, 0, "available"));
    rig.queue(1, KEY, &cell(3, 1, "available"));
    rig.start();
    assert_eq!(
        rig.replies(2).iter().map(|r| r.1).collect::<Vec<_>>(),
        [200, 200]
    );
    rig.queue(2, KEY, &cell(3, 2, "available"));
    let (_, status, json, serving) = rig.reply();
    assert_eq!(status, 200);
    assert_eq!(json["generation"], 3);
    assert_eq!(serving, 3);
    let reopened = rig.stop_and_reopen();
    assert_eq!(reopened.record().generation, 3);
    let week = reopened.record().week;
    assert!((0..3).all(|slot| week.get(3, slot) == Status::Available));
}

#[test]
fn a_failed_fsync_fails_the_whole_group_and_publishes_nothing() {
    let mut rig = Rig::new(Store::fail_next_fsync);
    rig.queue(0, KEY, &cell(0, 0, "available"));
    rig.queue(1, "not-the-key-at-all", &cell(0, 1, "available"));
    rig.queue(2, KEY, &cell(0, 2, "available"));
    rig.queue(3, KEY, &cell(0, 3, "available"));
    rig.start();
    let replies = rig.replies(4);
    let statuses: Vec<u16> = replies.iter().map(|r| r.1).collect();
    assert_eq!(statuses, [503, 401, 503, 503]);
    for (_, status, json, _) in &replies {
        if *status == 503 {
            assert_eq!(json["error"]["code"], "storage_failed");
        }
    }
    assert_eq!(rig.rebuilds(), 0, "nothing uncommitted was published");
    let snapshot = rig.snapshot();
    assert_eq!(snapshot.generation, 0);
    assert_eq!(snapshot.home_week, Week::empty());

    // The next write is generation 1: the failed group left no trace.
    the_next_write_starts_over(rig, 4);
}

#[test]
fn a_failed_directory_fsync_fails_the_group_and_keeps_serving_the_durable_week() {
    let mut rig = Rig::new(Store::fail_next_dir_fsync);
    rig.queue(0, KEY, &cell(0, 0, "available"));
    rig.queue(1, KEY, &cell(0, 1, "available"));
    rig.start();
    let replies = rig.replies(2);
    assert!(replies.iter().all(|r| r.1 == 503), "{replies:?}");
    // Nothing was acknowledged, so nothing of the group is served or on disk.
    assert_eq!(rig.rebuilds(), 0);
    let snapshot = rig.snapshot();
    assert_eq!(snapshot.generation, 0);
    assert_eq!(snapshot.home_week.get(0, 1), Status::Unavailable);
    the_next_write_starts_over(rig, 2);
}

#[test]
fn when_the_durable_week_cannot_be_written_back_the_server_serves_what_the_file_holds() {
    let mut rig = Rig::new(Store::fail_next_dir_fsync_and_restore);
    rig.queue(0, KEY, &cell(0, 0, "available"));
    rig.queue(1, KEY, &cell(0, 1, "available"));
    rig.start();
    let replies = rig.replies(2);
    assert!(replies.iter().all(|r| r.1 == 503), "{replies:?}");
    // The file holds the refused group and a restart would load it: serve the same.
    let snapshot = rig.snapshot();
    assert_eq!(snapshot.generation, 2);
    assert_eq!(snapshot.home_week.get(0, 1), Status::Available);
    let reopened = rig.stop_and_reopen();
    assert_eq!(reopened.record().generation, 2);
}

#[test]
fn a_group_of_only_refusals_commits_nothing() {
    let mut rig = Rig::new(|_| {});
    rig.queue(0, "wrong-key-wrong-key", &cell(0, 0, "available"));
    rig.queue(1, KEY, "{");
    rig.start();
    let statuses: Vec<u16> = rig.replies(2).iter().map(|r| r.1).collect();
    assert_eq!(statuses, [401, 400]);
    assert_eq!(rig.rebuilds(), 0);
    let reopened = rig.stop_and_reopen();
    assert_eq!(reopened.record().generation, 0);
}

#[test]
fn once_the_key_has_passed_wrong_keys_are_refused_without_waiting_for_bcrypt() {
    let mut rig = Rig::new(|_| {});
    let (mut writer, inbox) = rig.writer_here(4);
    rig.queue(0, KEY, &cell(4, 4, "available"));
    assert!(writer.turn(&inbox));
    assert_eq!(rig.reply().1, 200, "the first right key passes bcrypt");
    for index in 1..7 {
        rig.queue(
            index,
            &format!("wrong-key-number-{index}"),
            &cell(0, 0, "maybe"),
        );
    }
    rig.queue(7, KEY, &cell(4, 5, "available"));
    assert!(writer.turn(&inbox));
    // One group: every wrong key refused as it comes, none left for bcrypt.
    assert!(!writer.awaiting(), "a wrong key waits for bcrypt");
    let replies: Vec<(u32, u16)> = (0..7).map(|_| rig.reply()).map(|r| (r.0, r.1)).collect();
    let mut expected: Vec<(u32, u16)> = (1..7).map(|i| (i, 401)).collect();
    expected.push((7, 200));
    assert_eq!(replies, expected);
}

#[test]
fn writes_that_waited_for_bcrypt_with_the_right_key_share_one_commit() {
    let mut rig = Rig::new(|_| {});
    rig.queue(0, "wrong-key-number-0", &cell(0, 0, "maybe"));
    rig.queue(1, KEY, &cell(1, 1, "available"));
    rig.queue(2, "wrong-key-number-2", &cell(0, 2, "maybe"));
    rig.queue(3, KEY, &cell(1, 3, "available"));
    rig.start_with_hash(4);
    // Oldest first: the first wrong key, then the right one; once it has passed, the
    // second wrong key is refused at once and the other right-key write admitted.
    let order: Vec<(u32, u16)> = (0..4).map(|_| rig.reply()).map(|r| (r.0, r.1)).collect();
    assert_eq!(order, [(0, 401), (2, 401), (1, 200), (3, 200)]);
    assert_eq!(rig.rebuilds(), 1, "both right-key writes in one commit");
    let reopened = rig.stop_and_reopen();
    assert_eq!(reopened.record().generation, 2);
}

#[test]
fn writes_waiting_for_bcrypt_are_bounded_and_the_overflow_gets_503() {
    let mut rig = Rig::new(|_| {});
    // 256 wrong keys fill the wait; at cost 10 each check takes tens of milliseconds,
    // so the two queued right after the start find it full (at most one check done).
    for index in 0..256 {
        rig.queue(
            index,
            &format!("wrong-key-number-{index}"),
            &cell(0, 0, "maybe"),
        );
    }
    rig.start_with_hash(10);
    rig.queue_blocking(256, "wrong-key-number-256", &cell(0, 0, "maybe"));
    rig.queue_blocking(257, "wrong-key-number-257", &cell(0, 0, "maybe"));
    let mut busy = Vec::new();
    while busy.is_empty() {
        let (index, status, json, _) = rig.reply();
        if status == 503 {
            assert_eq!(json["error"]["code"], "busy");
            busy.push(index);
        } else {
            assert_eq!(status, 401);
        }
    }
    assert!(busy[0] >= 256, "an older write was turned away: {busy:?}");
    // Dropping the rig stops the writer after the check in progress.
}

#[test]
fn each_group_is_followed_by_one_bcrypt_check_so_a_steady_stream_cannot_starve_it() {
    // Only a hash is configured, so every key needs bcrypt until one passes. Driven
    // turn by turn: were the waiting writes checked only when the queue is empty, a
    // steady stream of writes (each turn finding the next already queued) would leave
    // them waiting, and then overflowing into 503s, for as long as it lasts.
    let mut rig = Rig::new(|_| {});
    let (mut writer, inbox) = rig.writer_here(4);
    rig.queue(0, "wrong-key-number-0", &cell(2, 2, "maybe"));
    rig.queue(1, "wrong-key-number-1", &cell(2, 3, "maybe"));
    assert!(writer.turn(&inbox));
    // The group [0, 1] waits; then the oldest, 0, is checked.
    assert_eq!((rig.reply().0, rig.replies.try_recv().is_err()), (0, true));
    rig.queue(2, KEY, &cell(2, 4, "maybe"));
    assert!(writer.turn(&inbox));
    // The group [2] waits behind 1, which is checked after it.
    assert_eq!((rig.reply().0, rig.replies.try_recv().is_err()), (1, true));
    assert!(writer.awaiting());
    let waiting = || {
        rig.shared
            .writer_stats
            .awaiting_key_check
            .load(Ordering::Relaxed)
    };
    assert_eq!(waiting(), 1, "the /metrics gauge");
    assert!(writer.turn(&inbox), "nothing queued: a check");
    let (index, status, json, _) = rig.reply();
    assert_eq!((index, status), (2, 200), "{json}");
    assert!(!writer.awaiting());
    assert_eq!(waiting(), 0);
}

/// After a group that failed and left no trace: the next write (on connection `index`)
/// is generation 1, and after a restart it alone is on disk.
fn the_next_write_starts_over(rig: Rig, index: u32) {
    rig.queue(index, KEY, &cell(5, 5, "maybe"));
    let (_, status, json, _) = rig.reply();
    assert_eq!(status, 200);
    assert_eq!(json["generation"], 1);
    let reopened = rig.stop_and_reopen();
    assert_eq!(reopened.record().generation, 1);
    let mut expected = Week::empty();
    expected.set(5, 5, Status::Maybe);
    assert_eq!(reopened.record().week, expected);
}

#[test]
fn a_reload_with_the_same_hash_keeps_the_key_that_passed() {
    let mut rig = Rig::new(|_| {});
    let hash = bcrypt::hash(KEY, 4).expect("hash");
    let keys = availability_server::auth::bootstrap(&rig.dir, None, Some(&hash), 4)
        .expect("keys")
        .keys;
    let (mut writer, inbox) = rig.writer_with(keys);
    rig.queue(0, KEY, &cell(4, 4, "available"));
    assert!(writer.turn(&inbox));
    assert_eq!(rig.reply().1, 200, "the right key passes bcrypt");
    let reload = |hash: String, dir: std::path::PathBuf| {
        Command::ReloadKeys(Box::new(move |keys| {
            keys.reload(&dir, None, Some(&hash), 4).expect("reload")
        }))
    };
    // A SIGHUP that changed nothing: a wrong key is still refused without bcrypt.
    rig.commands
        .send(reload(hash.clone(), rig.dir.clone()))
        .expect("queued");
    assert!(writer.turn(&inbox));
    rig.queue(1, "wrong-key-number-1", &cell(0, 0, "maybe"));
    assert!(writer.turn(&inbox));
    assert_eq!(rig.reply().1, 401);
    assert_eq!(
        rig.bcrypt_checks(),
        1,
        "the same hash kept the key that passed"
    );
    // A new hash: the next key needs bcrypt again.
    let other = bcrypt::hash("another-key-entirely", 4).expect("hash");
    rig.commands
        .send(reload(other, rig.dir.clone()))
        .expect("queued");
    assert!(writer.turn(&inbox));
    rig.queue(2, "wrong-key-number-2", &cell(0, 0, "maybe"));
    assert!(writer.turn(&inbox));
    assert_eq!(rig.reply().1, 401);
    assert_eq!(
        rig.bcrypt_checks(),
        2,
        "a new hash forgets the key that passed"
    );
}
