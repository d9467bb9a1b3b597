//! Focused unit tests; the exhaustive comparison with a reference lives in
//! `tests/timezone_rule.rs`.

use super::*;

fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("valid test date")
}

fn zone(name: &str) -> ZoneId {
    zones::lookup(name.as_bytes()).expect("known test zone")
}

#[test]
fn home_slot_index_counts_from_monday() {
    // 1970-01-01 00:00 was a Thursday: day 3, slot 0.
    assert_eq!(home_slot_index(0), 3 * 48);
    // 1969-12-31 23:59:59 was a Wednesday, last slot.
    assert_eq!(home_slot_index(-1), 2 * 48 + 47);
    // 1970-01-05 was a Monday; 14:29 is slot 28.
    assert_eq!(home_slot_index(4 * DAY_SECS + 14 * 3600 + 29 * 60), 28);
}

#[test]
fn week_start_of_is_the_monday_on_or_before() {
    assert_eq!(week_start_of(date(2026, 11, 23)), date(2026, 11, 23));
    assert_eq!(week_start_of(date(2026, 11, 29)), date(2026, 11, 23));
    assert_eq!(week_start_of(date(2026, 11, 30)), date(2026, 11, 30));
    // 1900-01-01 was a Monday, so the supported range starts on a week boundary.
    assert_eq!(week_start_of(FIRST_SUPPORTED_DATE), FIRST_SUPPORTED_DATE);
    assert!(is_supported_date(FIRST_SUPPORTED_DATE) && is_supported_date(LAST_SUPPORTED_DATE));
    assert!(!is_supported_date(date(1899, 12, 31)) && !is_supported_date(date(2100, 1, 1)));
}

#[test]
fn same_zone_maps_each_cell_to_itself() {
    for name in ["UTC", "Asia/Kathmandu", "Europe/Berlin"] {
        // The week of 2026-01-05 has no transition in these zones.
        let map = CellMap::build(zone(name), zone(name), date(2026, 1, 5));
        for cell in 0..SLOTS_PER_WEEK {
            assert_eq!(map.home_slots(cell), &[cell as u16], "{name} cell {cell}");
        }
    }
}

#[test]
fn apply_takes_the_least_available_and_gap_is_unavailable() {
    let map = CellMap {
        starts: (0..=SLOTS_PER_WEEK as u16)
            .map(|cell| cell.saturating_sub(1).min(3) * 2)
            .collect(),
        // Cell 0 -> {}, 1 -> {0, 1}, 2 -> {2, 3}, 3 -> {4, 5}, 4.. -> {}.
        slots: vec![0, 1, 2, 3, 4, 5].into_boxed_slice(),
    };
    assert_eq!(map.home_slots(0), &[] as &[u16]);
    assert_eq!(map.home_slots(1), &[0, 1]);
    assert_eq!(map.home_slots(3), &[4, 5]);
    let mut week = Week::empty();
    for slot in 0..6 {
        week.set_index(slot, Status::Available);
    }
    week.set_index(1, Status::Maybe);
    week.set_index(4, Status::Unavailable);
    let grid = map.apply(&week);
    assert_eq!(grid[0], Status::Unavailable, "empty cell");
    assert_eq!(grid[1], Status::Maybe);
    assert_eq!(grid[2], Status::Available);
    assert_eq!(grid[3], Status::Unavailable);
}

#[test]
fn week_end_of_a_fixed_zone_is_its_monday_midnight() {
    // Asia/Tokyo (+9, no DST): Monday 2026-11-30 00:00 JST = 2026-11-29 15:00 UTC.
    assert_eq!(
        week_end_unix_secs(zone("Asia/Tokyo"), date(2026, 11, 23)),
        1_795_964_400
    );
}

#[test]
fn every_supported_edge_week_builds_without_panicking() {
    let last_week = week_start_of(LAST_SUPPORTED_DATE);
    for week_start in [FIRST_SUPPORTED_DATE, last_week] {
        for viewer in [zone("UTC"), zone("Pacific/Kiritimati"), zone("Etc/GMT+12")] {
            let map = CellMap::build(zone("America/Sitka"), viewer, week_start);
            let covered = (0..SLOTS_PER_WEEK).filter(|&cell| !map.home_slots(cell).is_empty());
            assert_eq!(covered.count(), SLOTS_PER_WEEK);
            let end_secs = week_end_unix_secs(viewer, week_start);
            assert_eq!(current_week_start(viewer, end_secs - 1), week_start);
        }
    }
}

#[test]
fn week_end_follows_dst_changes_near_the_monday_midnight() {
    // Expected instants from Python's zoneinfo (an independent reading of the same
    // tzdata): the first second whose wall clock is at or after Monday 00:00.
    let cases = [
        // Spring forward on the Sunday before (02:00 → 03:00): ends at 00:00 CEST.
        ("Europe/Berlin", date(2026, 3, 23), 1_774_821_600),
        // Fall back on the Sunday before: ends at 00:00 CET.
        ("Europe/Berlin", date(2026, 10, 19), 1_792_969_200),
        // Spring forward at Sunday 00:00, a day before the end.
        ("America/Sao_Paulo", date(2018, 10, 29), 1_541_383_200),
        // Fall back at 24:00 Sunday to 23:00: the wall clock touches 00:00 only an
        // hour after the change (20:30 UTC, not 19:30).
        ("Asia/Tehran", date(2020, 9, 14), 1_600_633_800),
        // Monday 00:00 itself is skipped (00:00 → 01:00): the end of the jump.
        ("Asia/Tehran", date(2021, 3, 15), 1_616_358_600),
        // Monday 00:00 happens twice (01:00 → 00:00): its first occurrence.
        ("Asia/Jerusalem", date(2002, 9, 30), 1_033_938_000),
    ];
    for (name, week_start, expected_secs) in cases {
        let viewer = zone(name);
        let end_secs = week_end_unix_secs(viewer, week_start);
        assert_eq!(end_secs, expected_secs, "{name} week of {week_start}");
        assert_eq!(
            current_week_start(viewer, end_secs - 1),
            week_start,
            "{name}"
        );
        assert_eq!(
            current_week_start(viewer, end_secs),
            week_start + chrono::Days::new(7),
            "{name}"
        );
    }
}
