//! The writer thread's group commit, driven directly (no sockets): writes queued
//! together are committed once, each still gets its own generation, refusals do not
//! touch the others, nobody gets 200 before the commit is durable and the new
//! snapshot is in place, and a failed commit fails the whole group.

mod common;
#[path = "write_batch/rig.rs"]
mod rig;
#[path = "common/writer.rs"]
mod writer_harness;

use std::sync::atomic::Ordering;

use availability_server::store::Store;
use availability_server::week::{Status, Week};
use availability_server::writer::Command;

const KEY: &str = "group-commit-test-key";

use rig::{Rig, cell};

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

#[test]
fn the_awaiting_gauge_counts_writes_while_their_key_is_checked() {
    // The gauge was stored only when a writer turn ended, so during a slow check (the
    // moment an operator looks) it still said 0. Three wrong keys, one group: while
    // the first is checked, three wait (two queued, one under the check); while the
    // second is, two; then none.
    let mut rig = Rig::new(|_| {});
    for index in 0..3 {
        rig.queue(
            index,
            &format!("wrong-key-number-{index}"),
            &cell(0, index as u8, "maybe"),
        );
    }
    let stats = rig.shared.clone();
    let checks = move || stats.writer_stats.bcrypt_checks.load(Ordering::Acquire);
    let stats = rig.shared.clone();
    let waiting = move || (stats.writer_stats.awaiting_key_check).load(Ordering::Relaxed);
    // Cost 11: each check takes on the order of 100 ms, long enough to look during it.
    rig.start_with_hash(11);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    for (check, expected_waiting) in [(1, 3), (2, 2), (3, 1)] {
        while checks() < check {
            assert!(
                std::time::Instant::now() < deadline,
                "check {check} never began"
            );
            std::thread::yield_now();
        }
        assert_eq!(waiting(), expected_waiting, "during check {check}");
        assert_eq!(rig.reply().1, 401);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while waiting() != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the gauge stays {}",
            waiting()
        );
        std::thread::yield_now();
    }
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
        .send(reload(hash.clone(), rig.dir.to_path_buf()))
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
        .send(reload(other, rig.dir.to_path_buf()))
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
