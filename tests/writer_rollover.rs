//! The writer rolls the weeks: when a zone's current week has ended (or the wall
//! clock stepped back before it began), its next turn rebuilds the snapshot for
//! the week that holds now, before any request needs it (SPEC §3: rebuilt in the
//! background, never on a request). The calendar is built as if the writer had
//! started days away from now, so the real clock is outside its window.

mod common;
#[path = "common/writer.rs"]
mod writer_harness;

use std::sync::atomic::Ordering;

use availability_server::week::grid::current_week_start;
use availability_server::week::zones;
use availability_server::writer::Command;

const DAY_S: i64 = 86_400;

fn rolls_to_now(tag: &str, calendar_offset_s: i64) {
    let dir = common::temp_dir(tag);
    let now_s = common::now_s();
    let (mut writer, shared, commands, inbox) =
        writer_harness::parts(&dir, now_s + calendar_offset_s);
    let zones_read = [
        "Asia/Tokyo",
        "America/New_York",
        "Pacific/Kiritimati",
        "UTC",
    ];
    for name in zones_read {
        let zone = zones::lookup(name.as_bytes()).expect("zone");
        assert!(
            shared.snapshot.load().answer(zone, now_s).is_none(),
            "{name}: the stale snapshot has no answer for now"
        );
    }
    // The turn rolls and publishes before it takes the next command (Stop, so that
    // it returns at once instead of waiting for work).
    commands.send(Command::Stop).expect("queued");
    assert!(!writer.turn(&inbox), "stopped");
    assert_eq!(shared.writer_stats.rebuilds.load(Ordering::Relaxed), 1);
    let now_s = common::now_s();
    let snapshot = shared.snapshot.load();
    for name in zones_read {
        let zone = zones::lookup(name.as_bytes()).expect("zone");
        let answer = snapshot.answer(zone, now_s).expect("an answer for now");
        assert_eq!(
            answer.week_start,
            current_week_start(zone, now_s),
            "{name}: this week"
        );
    }
    // Nothing left to roll: a second turn publishes nothing.
    commands.send(Command::Stop).expect("queued");
    assert!(!writer.turn(&inbox));
    assert_eq!(shared.writer_stats.rebuilds.load(Ordering::Relaxed), 1);
}

#[test]
fn a_week_that_ended_is_rolled_forward_on_the_next_turn() {
    // Past the snapshot's window: this week and the next of a fortnight ago.
    rolls_to_now("roll-forward", -15 * DAY_S);
}

#[test]
fn a_clock_stepped_back_rolls_the_weeks_back() {
    rolls_to_now("roll-back", 8 * DAY_S);
}
