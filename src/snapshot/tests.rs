//! Snapshot tests: the rule applied per zone, shared bodies, the window, on-demand
//! answers and entity tags.

use super::*;
use crate::week::Status;
use crate::week::grid::{current_week_start, viewer_grid};

fn zone(name: &str) -> ZoneId {
    zones::lookup(name.as_bytes()).expect("known zone")
}

// 2026-11-27T12:00:00Z, a Friday.
const NOW_S: i64 = 1_795_780_800;

#[test]
fn answers_are_the_rule_applied_and_bodies_are_shared() {
    let home = zone("America/New_York");
    let mut week = Week::empty();
    week.set(2, 28, Status::Available); // Wednesday 14:00 New York
    let cal = Calendar::new(home, NOW_S);
    let snap = cal.build(&week, 3);
    assert_eq!(snap.generation, 3);
    for name in [
        "Asia/Tokyo",
        "Asia/Kathmandu",
        "Europe/London",
        "America/New_York",
    ] {
        let z = zone(name);
        let a = snap.answer(z, NOW_S).expect("current week");
        assert_eq!(a.week_start, current_week_start(z, NOW_S));
        assert_eq!(
            snap.grid(a),
            &viewer_grid(home, &week, z, a.week_start),
            "{name}"
        );
        let body = [snap.bytes(a.json_prefix), snap.bytes(a.json_slots)].concat();
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["timezone"], name);
        let head = String::from_utf8(snap.bytes(a.json_head).to_vec()).expect("ascii");
        assert!(
            head.ends_with(&format!("Content-Length: {}\r\n", body.len())),
            "{head}"
        );
    }
    // Tokyo and Seoul have the same offsets all year: one shared body.
    let (tokyo, seoul) = (
        snap.answer(zone("Asia/Tokyo"), NOW_S).expect("a"),
        snap.answer(zone("Asia/Seoul"), NOW_S).expect("b"),
    );
    assert_eq!(tokyo.grid, seoul.grid);
    assert_eq!(tokyo.json_slots, seoul.json_slots);
    assert_ne!(tokyo.json_prefix, seoul.json_prefix);
    assert!(
        snap.distinct_grids() < zones::count() / 4,
        "{} grids",
        snap.distinct_grids()
    );
    // One stored grid per distinct answer (the metrics report this count): the same
    // number as the rule gives zone by zone, for both weeks each zone holds.
    let distinct: std::collections::HashSet<Grid> = zones::all()
        .flat_map(|z| snap.zone(z).weeks.iter().map(move |w| (z, w.week_start)))
        .map(|(z, week_start)| viewer_grid(home, &week, z, week_start))
        .collect();
    assert_eq!(snap.distinct_grids(), distinct.len());
}

#[test]
fn the_next_week_is_ready_before_the_rollover() {
    let tokyo = zone("Asia/Tokyo");
    let mut cal = Calendar::new(zones::utc(), NOW_S);
    let snap = cal.build(&Week::empty(), 0);
    let z = snap.zone(tokyo);
    // Tokyo's week of 2026-11-23 ends at Monday 00:00 JST = Sunday 15:00 UTC.
    assert_eq!(z.switch_at_unix_s, 1_795_964_400);
    let before = snap.answer(tokyo, z.switch_at_unix_s - 1).expect("current");
    let after = snap.answer(tokyo, z.switch_at_unix_s).expect("next");
    assert_eq!(before.week_start.to_string(), "2026-11-23");
    assert_eq!(after.week_start.to_string(), "2026-11-30");
    assert!(
        snap.answer(tokyo, z.expires_at_unix_s).is_none(),
        "no answer past the window"
    );
    // Tokyo's week of 2026-11-23 began at Sunday 2026-11-22 15:00 UTC; a clock
    // stepped back before that is not in this snapshot's window either.
    assert_eq!(z.starts_at_unix_s, 1_795_964_400 - 7 * 86_400);
    assert!(snap.answer(tokyo, z.starts_at_unix_s).is_some());
    assert!(snap.answer(tokyo, z.starts_at_unix_s - 1).is_none());
    // Rolling after the switch moves the window one week on.
    let first_switch = cal.next_switch_unix_s();
    assert!(first_switch <= z.switch_at_unix_s);
    assert!(
        !cal.roll(first_switch - 1),
        "nothing rolls before the first switch"
    );
    assert!(cal.roll(z.switch_at_unix_s + 1));
    let rolled = cal.build(&Week::empty(), 0);
    let r = rolled
        .answer(tokyo, z.switch_at_unix_s + 1)
        .expect("current after roll");
    assert_eq!(r.week_start.to_string(), "2026-11-30");
    assert_eq!(
        rolled.zone(tokyo).weeks[1].week_start.to_string(),
        "2026-12-07"
    );
}

#[test]
fn on_demand_answers_match_the_snapshot_rendering() {
    let mut cal = Calendar::new(zone("Europe/Berlin"), NOW_S);
    let mut week = Week::empty();
    week.set(0, 0, Status::Maybe);
    let z = zone("Australia/Lord_Howe");
    // Both weeks of the window, before and after the window moves on a week.
    let snap = cal.build(&week, 1);
    for a in snap.zone(z).weeks {
        assert_matches_on_demand(&snap, z, a);
    }
    let switch_at_unix_s = snap.zone(z).switch_at_unix_s;
    assert!(cal.roll(switch_at_unix_s));
    let rolled = cal.build(&week, 2);
    assert_eq!(
        rolled.zone(z).weeks[0].week_start,
        snap.zone(z).weeks[1].week_start
    );
    for a in rolled.zone(z).weeks {
        assert_matches_on_demand(&rolled, z, a);
    }
}

/// The snapshot's bytes for `a` are what rendering that zone-week on demand gives.
fn assert_matches_on_demand(snap: &Snapshot, z: ZoneId, a: WeekAnswer) {
    assert_eq!(a.week_start_text, a.week_start.to_string().as_bytes());
    let json = render_on_demand(snap, z, a.week_start, Kind::WeekJson);
    assert_eq!(json.head, snap.bytes(a.json_head));
    // As text, so a failure shows which week the prefix names.
    let snapshot_body = [snap.bytes(a.json_prefix), snap.bytes(a.json_slots)].concat();
    assert_eq!(
        String::from_utf8_lossy(&json.body),
        String::from_utf8_lossy(&snapshot_body),
        "the week of {}",
        a.week_start
    );
    assert_eq!(json.tag, a.json_tag);
    let (grid, tag) = grid_on_demand(snap, z, a.week_start, Kind::WeekJson);
    assert_eq!(&*grid, snap.grid(&a));
    assert_eq!(tag, a.json_tag);
    let csv = render_on_demand(snap, z, a.week_start, Kind::Csv);
    assert_eq!(csv.body, snap.bytes(a.csv_body));
    assert_eq!(csv.head, snap.bytes(a.csv_head));
    assert_eq!(csv.tag, a.csv_tag);
}

#[test]
fn tags_change_exactly_when_the_bytes_can() {
    let cal = Calendar::new(zone("Europe/Berlin"), NOW_S);
    let mut week = Week::empty();
    week.set(0, 0, Status::Maybe);
    let first = cal.build(&week, 1);
    let tag_in_head = |snap: &Snapshot, head: Span, tag: ETag| {
        let head = snap.bytes(head);
        let line = [b"ETag: ".as_slice(), &tag, b"\r\n"].concat();
        head.windows(line.len()).any(|w| w == line.as_slice())
    };
    let (berlin, paris, tokyo) = (
        zone("Europe/Berlin"),
        zone("Europe/Paris"),
        zone("Asia/Tokyo"),
    );
    let [b, p, t] = [berlin, paris, tokyo].map(|z| *first.answer(z, NOW_S).expect("current"));
    for a in [b, p, t] {
        assert!(tag_in_head(&first, a.json_head, a.json_tag));
        assert!(tag_in_head(&first, a.csv_head, a.csv_tag));
    }
    // Berlin and Paris share a grid: one CSV (it names no zone), two JSON bodies.
    assert_eq!(first.bytes(b.csv_body), first.bytes(p.csv_body));
    assert_eq!(b.csv_tag, p.csv_tag);
    assert_ne!(b.json_tag, p.json_tag);
    assert_ne!(b.csv_tag, t.csv_tag);
    assert_ne!(b.json_tag, b.csv_tag);
    let [this_week, next_week] = first.zone(berlin).weeks.map(|w| w.json_tag);
    assert_eq!(this_week, b.json_tag);
    assert_ne!(next_week, b.json_tag, "next week: another body");
    // The same week again (a write that changes nothing here): the same tags.
    let mut elsewhere = week;
    elsewhere.set(6, 47, Status::Available);
    let second = cal.build(&week, 2);
    assert_eq!(
        second.answer(berlin, NOW_S).expect("current").json_tag,
        b.json_tag
    );
    assert_eq!(
        second.answer(berlin, NOW_S).expect("current").csv_tag,
        b.csv_tag
    );
    // A change to the week: new tags.
    let third = cal.build(&elsewhere, 3);
    let changed = third.answer(berlin, NOW_S).expect("current");
    assert_ne!(changed.json_tag, b.json_tag);
    assert_ne!(changed.csv_tag, b.csv_tag);
    // Another process (another key): other tags for the same bytes.
    let other = Calendar::new(zone("Europe/Berlin"), NOW_S).build(&week, 1);
    let again = other.answer(berlin, NOW_S).expect("current");
    assert_eq!(other.bytes(again.json_slots), first.bytes(b.json_slots));
    assert_ne!(again.json_tag, b.json_tag);
}
