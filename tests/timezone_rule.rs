//! The viewer-grid rule (SPEC §3), black-box: an independent brute-force reference over
//! every zone, plus cases whose expected values are derived by hand in the comments.
//!
//! Submodules (under `tests/timezone_rule/`): `reference` (the brute-force rule),
//! `hand_cases` (grids reasoned by hand), `calendar` (zone names and week boundaries).

#[path = "timezone_rule/calendar.rs"]
mod calendar;
#[path = "timezone_rule/hand_cases.rs"]
mod hand_cases;
#[path = "timezone_rule/reference.rs"]
mod reference;

use reference::{assert_matches_reference, check_against, home_slots, viewer_cells};

use availability_server::week::zones::{self, ZoneId};
use availability_server::week::{SLOTS_PER_WEEK, Status, Week};
use chrono::NaiveDate;

fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("valid test date")
}

fn zone(name: &str) -> ZoneId {
    zones::lookup(name.as_bytes()).expect("known test zone")
}

fn unix_secs(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("valid test instant")
        .timestamp()
}

/// Day-of-week and half-hour as a slot/cell index.
fn slot(day: usize, hour: usize, minute: usize) -> usize {
    day * 48 + hour * 2 + minute / 30
}

/// xorshift64: deterministic pseudo-random home weeks without a dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn week(&mut self) -> Week {
        let mut week = Week::empty();
        for index in 0..SLOTS_PER_WEEK {
            week.set_index(index, Status::ALL[(self.next() % 3) as usize]);
        }
        week
    }
}

fn filled(status: Status) -> Week {
    let mut week = Week::empty();
    for index in 0..SLOTS_PER_WEEK {
        week.set_index(index, status);
    }
    week
}

/// Mondays of weeks with transitions: US start (03-08), EU start (03-29), Lord Howe /
/// NZ / Chatham end (04-05), Lord Howe / AU start (10-04), EU end (10-25), US end (11-01).
const TRANSITION_WEEKS: [(i32, u32, u32); 6] = [
    (2026, 3, 2),
    (2026, 3, 23),
    (2026, 3, 30),
    (2026, 9, 28),
    (2026, 10, 19),
    (2026, 10, 26),
];

/// A quiet week, and the weeks after the US changes (their margins hold the US change
/// for far-east viewers: Monday 2026-03-09 00:00 in Kiritimati is LA's change instant).
const OTHER_WEEKS: [(i32, u32, u32); 3] = [(2026, 1, 5), (2026, 3, 9), (2026, 11, 2)];

const SWEEP_HOMES: [&str; 5] = [
    "UTC",
    "America/Los_Angeles",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
];

/// Every zone as viewer, minute by minute, against every sweep home, in every
/// transition week plus one of the other weeks chosen by zone index (each of those is
/// seen by a third of the zones): 597 × 5 × 7 combinations, under 10 s.
#[test]
fn every_zone_matches_the_minute_reference() {
    let homes: Vec<ZoneId> = SWEEP_HOMES.iter().map(|name| zone(name)).collect();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let all_weeks = TRANSITION_WEEKS.iter().chain(&OTHER_WEEKS);
    for (week_index, &(year, month, day)) in all_weeks.enumerate() {
        let week_start = date(year, month, day);
        let home_slot_lists: Vec<Vec<usize>> = homes
            .iter()
            .map(|&home| home_slots(home, week_start, 60))
            .collect();
        let other_index = week_index.checked_sub(TRANSITION_WEEKS.len());
        let viewers = zones::all()
            .filter(|viewer| other_index.is_none_or(|other| usize::from(viewer.0) % 3 == other));
        for viewer in viewers {
            let cells = viewer_cells(viewer, week_start, 60);
            for (&home, slots) in homes.iter().zip(&home_slot_lists) {
                check_against((home, viewer, week_start), &cells, slots, &mut rng);
            }
        }
    }
}

/// Second by second where offsets are not whole minutes, so the transition instant and
/// the slot cuts must be exact to the second.
#[test]
fn odd_second_offsets_match_the_second_reference() {
    // Africa/Monrovia was -0:44:30 until 1972-01-07 00:00 local, then GMT.
    let monrovia_week = date(1972, 1, 3);
    assert_matches_reference(zone("UTC"), zone("Africa/Monrovia"), monrovia_week, 1);
    assert_matches_reference(
        zone("Africa/Monrovia"),
        zone("Asia/Kathmandu"),
        monrovia_week,
        1,
    );
    // Asia/Kolkata was +5:21:10 until 1906-01-01 00:00 local, then +5:30.
    assert_matches_reference(
        zone("Europe/London"),
        zone("Asia/Kolkata"),
        date(1906, 1, 1),
        1,
    );
}
