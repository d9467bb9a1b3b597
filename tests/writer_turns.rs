//! The writer's turns, driven one at a time on the test's thread: the failed-key
//! budget is checked again by the writer (not only by the worker that queued the
//! write), a group is bounded, an idle turn waits for work instead of spinning, and
//! a reply closes its connection when it should, a key reload queued among writes
//! waits for the next turn (not lost), and no turn leaves the writer marked busy.

mod common;
#[path = "write_batch/rig.rs"]
mod rig;
#[path = "common/writer.rs"]
mod writer_harness;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use availability_server::api::STATE_DRAINING;
use availability_server::ratelimit::RateLimiter;
use availability_server::writer::Command;

use rig::{Rig, cell};

const KEY: &str = "writer-turns-test-key";

/// Failed keys an address may spend in these tests before it gets 429.
const FAILURE_BURST: u32 = 3;

/// One address for every write of a test: the budget is per address.
const ONE_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

/// A rig whose key-failure limiter allows `FAILURE_BURST` failures per address and
/// then one a minute (the shared harness allows 100, more than any test here sends),
/// and in which `ONE_CLIENT` shares a bucket with none of `others` (addresses hash to
/// slots under a random seed; a collision is the documented behaviour, so the test
/// takes another seed rather than depend on luck).
fn rig_with_small_budget(others: &[IpAddr]) -> Rig {
    let mut rig = Rig::new(|_| {});
    let limiter = (0..8)
        .map(|_| RateLimiter::with_interval(FAILURE_BURST, 60_000, 64))
        .find(|l| {
            others
                .iter()
                .all(|&other| !l.same_bucket(ONE_CLIENT, other))
        })
        .expect("eight seeds cannot all collide");
    Arc::get_mut(&mut rig.shared)
        .expect("nothing shares the rig's state before a writer is made")
        .auth_failures = limiter;
    rig
}

/// Queues a PATCH (connection `index`) from `ONE_CLIENT`.
fn queue_from_one_client(rig: &Rig, index: u32, key: &str, body: &str) {
    let mut job = rig.job(index, key, body);
    job.peer_ip = ONE_CLIENT;
    rig.queue_job(job);
}

/// (connection, status, error code) of the next `n` replies, in arrival order.
fn next_replies(rig: &Rig, n: usize) -> Vec<(u32, u16, String)> {
    (0..n)
        .map(|_| {
            let (index, status, json, _) = rig.reply();
            let code = json["error"]["code"].as_str().unwrap_or("").to_owned();
            (index, status, code)
        })
        .collect()
}

fn expected_budget_replies(wrong_keys: u32) -> Vec<(u32, u16, String)> {
    (0..wrong_keys)
        .map(|index| match index < FAILURE_BURST {
            true => (index, 401, "unauthorized".to_owned()),
            false => (index, 429, "too_many_auth_failures".to_owned()),
        })
        .collect()
}

#[test]
fn wrong_keys_queued_together_from_one_address_stop_at_its_budget() {
    // All six passed the workers' peek before any of them failed (they are queued
    // together), so only the writer's own check can hold the excess to 429.
    let other = rig::job_address(7);
    let mut rig = rig_with_small_budget(&[other]);
    let (mut writer, inbox) = rig.writer_with_plain_key();
    for index in 0..6 {
        queue_from_one_client(&rig, index, "wrong-key-wrong-key", &cell(0, 0, "maybe"));
    }
    // The right key from the same address is refused too: the budget is the address's.
    queue_from_one_client(&rig, 6, KEY, &cell(0, 1, "maybe"));
    // Another address is not held back by this one's failures.
    let job = rig.job(7, KEY, &cell(0, 2, "maybe"));
    assert_eq!(job.peer_ip, other);
    rig.queue_job(job);
    assert!(writer.turn(&inbox));
    let mut expected = expected_budget_replies(6);
    expected.push((6, 429, "too_many_auth_failures".to_owned()));
    expected.push((7, 200, String::new()));
    assert_eq!(next_replies(&rig, 8), expected);
    assert_eq!(rig.snapshot().generation, 1, "only the other address wrote");
}

#[test]
fn writes_waiting_for_bcrypt_stop_costing_bcrypt_once_their_address_is_over_budget() {
    // Only a hash is configured: every key waits for its own bcrypt check. Once the
    // address has failed FAILURE_BURST times, its writes still waiting are refused
    // 429 without one; each would otherwise cost ~250 ms of the writer at cost 12.
    let mut rig = rig_with_small_budget(&[]);
    let (mut writer, inbox) = rig.writer_here(4);
    for index in 0..6 {
        let key = format!("wrong-key-number-{index}");
        queue_from_one_client(&rig, index, &key, &cell(0, 0, "maybe"));
    }
    assert!(writer.turn(&inbox));
    while writer.awaiting() {
        assert!(writer.turn(&inbox), "nothing queued: one check per turn");
    }
    assert_eq!(next_replies(&rig, 6), expected_budget_replies(6));
    assert_eq!(rig.bcrypt_checks(), u64::from(FAILURE_BURST));
}

#[test]
fn a_group_is_at_most_the_queue_capacity_and_the_rest_is_the_next_group() {
    // 256 writes share one commit; the 257th, queued before the turn began, waits for
    // the next turn. (The queue between the workers and the writer holds 256; a
    // channel twice that size here lets the test queue more than a group.)
    const GROUP: u32 = 256;
    let mut rig = Rig::new(|_| {});
    let (mut writer, _) = rig.writer_with_plain_key();
    let (commands, inbox) = sync_channel(2 * GROUP as usize);
    for index in 0..=GROUP {
        let (day, slot) = ((index / 48) as u8, (index % 48) as u8);
        let job = rig.job(index, KEY, &cell(day, slot, "available"));
        commands.send(Command::Write(Box::new(job))).expect("room");
    }
    assert!(writer.turn(&inbox));
    let first: Vec<u16> = next_replies(&rig, GROUP as usize)
        .iter()
        .map(|r| r.1)
        .collect();
    assert!(first.iter().all(|&status| status == 200), "{first:?}");
    assert!(
        rig.replies.try_recv().is_err(),
        "a group larger than {GROUP}"
    );
    assert_eq!((rig.rebuilds(), rig.snapshot().generation), (1, 256));
    assert!(writer.turn(&inbox));
    let (index, status, json, _) = rig.reply();
    assert_eq!(
        (index, status, json["generation"].as_u64()),
        (GROUP, 200, Some(257))
    );
    assert_eq!(rig.rebuilds(), 2);
}

#[test]
fn an_idle_turn_waits_for_work_instead_of_returning_at_once() {
    // Nothing queued and nothing waiting for bcrypt: the turn blocks on the queue
    // (until the next week switch, at least 50 ms and at most a minute), so an idle
    // writer does not spin a core. A command arriving during the wait ends it.
    let mut rig = Rig::new(|_| {});
    let (mut writer, inbox) = rig.writer_with_plain_key();
    let commands = rig.commands.clone();
    let delay = Duration::from_millis(300);
    // Before the spawn: the sender's sleep may begin before `spawn` returns.
    let started = Instant::now();
    let sender = std::thread::spawn(move || {
        std::thread::sleep(delay);
        commands.send(Command::Stop).expect("queued");
    });
    let mut turns = 0;
    while writer.turn(&inbox) {
        turns += 1;
    }
    let waited = started.elapsed();
    sender.join().expect("sender");
    assert!(waited >= delay, "the Stop was sent after {delay:?}");
    // A switch within a few seconds of the test could end a wait or two early; a
    // spinning writer takes hundreds of thousands of turns in 300 ms.
    assert!(turns <= 6, "{turns} turns in {waited:?} with nothing to do");
}

#[test]
fn a_write_reply_closes_when_its_request_asked_or_the_server_drains() {
    let mut rig = Rig::new(|_| {});
    let shared = rig.shared.clone();
    let (mut writer, inbox) = rig.writer_with_plain_key();
    let mut closing = rig.job(0, KEY, &cell(6, 0, "maybe"));
    closing.close = true;
    rig.queue_job(closing);
    rig.queue(1, KEY, &cell(6, 1, "maybe"));
    assert!(writer.turn(&inbox));
    // A drain that begins while a write waits closes its connection too.
    shared.state.store(STATE_DRAINING, Ordering::Release);
    rig.queue(2, KEY, &cell(6, 2, "maybe"));
    assert!(writer.turn(&inbox));
    let closes: Vec<(u32, bool)> = (0..3)
        .map(|_| {
            let (conn, reply) = rig
                .replies
                .recv_timeout(Duration::from_secs(20))
                .expect("a reply");
            let head = String::from_utf8_lossy(&reply.bytes).into_owned();
            assert_eq!(
                reply.close,
                head.contains("\r\nConnection: close\r\n"),
                "{head}"
            );
            (conn.index, reply.close)
        })
        .collect();
    assert_eq!(closes, [(0, true), (1, false), (2, true)]);
}

/// A key reload queued behind writes is not lost in their group: the turn that
/// gathers the writes stops at it and the next turn runs it. And once a turn is
/// over, the writer no longer reads as busy (`availability_writer_busy_seconds`).
#[test]
fn a_reload_queued_among_writes_runs_in_the_next_turn_and_busy_ends_with_each_turn() {
    let mut rig = Rig::new(|_| {});
    let shared = rig.shared.clone();
    let (mut writer, inbox) = rig.writer_with_plain_key();
    let reloaded = Arc::new(std::sync::atomic::AtomicBool::new(false));
    rig.queue(0, KEY, &cell(5, 0, "maybe"));
    let flag = Arc::clone(&reloaded);
    rig.commands
        .send(Command::ReloadKeys(Box::new(move |_keys| {
            flag.store(true, Ordering::Release);
        })))
        .expect("queued");
    rig.queue(1, KEY, &cell(5, 1, "maybe"));
    let busy_since_ms = || shared.writer_stats.busy_since_ms.load(Ordering::Relaxed);
    assert!(writer.turn(&inbox));
    assert_eq!(rig.reply().1, 200, "the write before the reload");
    assert!(!reloaded.load(Ordering::Acquire), "not in the writes' turn");
    assert_eq!(busy_since_ms(), 0, "not busy between turns");
    assert!(writer.turn(&inbox));
    assert!(reloaded.load(Ordering::Acquire), "the reload ran");
    assert!(writer.turn(&inbox));
    assert_eq!(rig.reply().1, 200, "the write after the reload");
    assert_eq!(busy_since_ms(), 0);
}

/// A bcrypt check run in a turn of its own (a key still waiting, nothing queued)
/// marks the writer busy while it runs, as a group's work does: a stuck check shows
/// in the busy gauge whichever turn it runs in.
#[test]
fn a_bcrypt_check_in_a_turn_of_its_own_marks_the_writer_busy() {
    let mut rig = Rig::new(|_| {});
    let shared = rig.shared.clone();
    let (mut writer, inbox) = rig.writer_here(10);
    rig.queue(0, "wrong-key-one", &cell(4, 0, "maybe"));
    rig.queue(1, "wrong-key-two", &cell(4, 1, "maybe"));
    // The group's turn: both keys wait for bcrypt, and the first is checked.
    assert!(writer.turn(&inbox));
    assert!(writer.awaiting(), "the second key still waits");
    let seen_busy = std::thread::scope(|s| {
        let writer = &mut writer;
        let turn = s.spawn(move || writer.turn(&inbox));
        let mut seen_busy = false;
        while !turn.is_finished() {
            seen_busy |= shared.writer_stats.busy_since_ms.load(Ordering::Relaxed) != 0;
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(turn.join().expect("the turn"));
        seen_busy
    });
    assert!(
        seen_busy,
        "busy during the second key's check (cost 10, ~60 ms)"
    );
    assert_eq!(
        rig.replies(2).iter().map(|r| r.1).collect::<Vec<_>>(),
        [401, 401]
    );
}
