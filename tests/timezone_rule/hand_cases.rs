//! Grids whose expected values are derived by hand (see each comment).

use availability_server::week::grid::{CellMap, viewer_grid};
use availability_server::week::zones;
use availability_server::week::{SLOTS_PER_WEEK, Status, Week};

use super::{XorShift, date, filled, slot, zone};

#[test]
fn monrovia_1972_gap_by_hand() {
    let map = CellMap::build(zone("UTC"), zone("Africa/Monrovia"), date(1972, 1, 3));
    // Thursday 23:30-24:00 at -0:44:30 is Friday 00:14:30-00:44:30 UTC: home Friday
    // slots 0 and 1.
    assert_eq!(
        map.home_slots(slot(3, 23, 30)),
        &[slot(4, 0, 0) as u16, slot(4, 0, 30) as u16]
    );
    // At 00:44:30 UTC the wall clock jumps from 00:00:00 to 00:44:30: Friday 00:00-00:30
    // never happens, and 00:30-01:00 only from 00:44:30 on (UTC Friday 00:44:30-01:00).
    assert_eq!(map.home_slots(slot(4, 0, 0)), &[] as &[u16]);
    assert_eq!(map.home_slots(slot(4, 0, 30)), &[slot(4, 0, 30) as u16]);
}

#[test]
fn same_zone_is_the_identity_outside_gaps() {
    let mut rng = XorShift(7);
    let week = rng.week();
    for name in [
        "UTC",
        "Asia/Kathmandu",
        "America/New_York",
        "Australia/Lord_Howe",
    ] {
        let grid = viewer_grid(zone(name), &week, zone(name), date(2026, 1, 5));
        assert!(
            (0..SLOTS_PER_WEEK).all(|i| grid[i] == week.get_index(i)),
            "{name}"
        );
    }
    // New York's fall-back week: the repeated 01:00-02:00 maps onto the same home
    // slots twice, so the grid is still the identity.
    let fall_back = viewer_grid(
        zone("America/New_York"),
        &week,
        zone("America/New_York"),
        date(2026, 10, 26),
    );
    assert!((0..SLOTS_PER_WEEK).all(|i| fall_back[i] == week.get_index(i)));
    // Its spring-forward week: Sunday 02:00 and 02:30 never happen, everything else is
    // the identity.
    let spring = viewer_grid(
        zone("America/New_York"),
        &week,
        zone("America/New_York"),
        date(2026, 3, 2),
    );
    for (i, &status) in spring.iter().enumerate() {
        let gap = i == slot(6, 2, 0) || i == slot(6, 2, 30);
        let expected = if gap {
            Status::Unavailable
        } else {
            week.get_index(i)
        };
        assert_eq!(status, expected, "cell {i}");
    }
}

#[test]
fn tokyo_viewer_wraps_into_the_previous_utc_sunday() {
    // Monday 00:00 JST (+9) is Sunday 15:00 UTC: viewer cell c shows home slot c - 18,
    // wrapping to the end of the home week.
    let mut only_sunday_1500 = Week::empty();
    only_sunday_1500.set(6, 30, Status::Available);
    let tokyo_week = date(2026, 11, 23);
    let grid = viewer_grid(
        zones::utc(),
        &only_sunday_1500,
        zone("Asia/Tokyo"),
        tokyo_week,
    );
    assert_eq!(grid[0], Status::Available);
    assert!(grid[1..].iter().all(|&s| s == Status::Unavailable));

    let week = XorShift(11).week();
    let grid = viewer_grid(zones::utc(), &week, zone("Asia/Tokyo"), tokyo_week);
    for (cell, &status) in grid.iter().enumerate() {
        assert_eq!(
            status,
            week.get_index((cell + SLOTS_PER_WEEK - 18) % SLOTS_PER_WEEK)
        );
    }
}

#[test]
fn kathmandu_cell_straddles_two_home_slots() {
    // +5:45: Monday 06:00-06:30 NPT is Monday 00:15-00:45 UTC, home slots 0 and 1.
    let viewer = zone("Asia/Kathmandu");
    let week_start = date(2026, 6, 1);
    let cell = slot(0, 6, 0);
    assert_eq!(
        CellMap::build(zones::utc(), viewer, week_start).home_slots(cell),
        &[0, 1]
    );
    // Monday 00:00 NPT is Sunday 18:15 UTC: home slots (6, 36) and (6, 37).
    let map = CellMap::build(zones::utc(), viewer, week_start);
    assert_eq!(
        map.home_slots(0),
        &[slot(6, 18, 0) as u16, slot(6, 18, 30) as u16]
    );
    let cases = [
        (Status::Available, Status::Maybe, Status::Maybe),
        (Status::Unavailable, Status::Available, Status::Unavailable),
        (Status::Maybe, Status::Available, Status::Maybe),
        (Status::Available, Status::Available, Status::Available),
    ];
    for (first, second, expected) in cases {
        let mut week = filled(Status::Available);
        week.set_index(0, first);
        week.set_index(1, second);
        assert_eq!(
            viewer_grid(zones::utc(), &week, viewer, week_start)[cell],
            expected
        );
    }
}

#[test]
fn forty_five_minute_zones_by_hand() {
    let utc = zones::utc();
    let eucla = zone("Australia/Eucla");
    let chatham = zone("Pacific/Chatham");
    // Eucla (+8:45, no DST): Monday 00:00 is Sunday 15:15 UTC -> home (6, 30), (6, 31);
    // the other way, Monday 00:00 UTC is Monday 08:45 Eucla -> home (0, 17), (0, 18).
    let week_start = date(2026, 6, 1);
    assert_eq!(
        CellMap::build(utc, eucla, week_start).home_slots(0),
        &[318, 319]
    );
    assert_eq!(
        CellMap::build(eucla, utc, week_start).home_slots(0),
        &[17, 18]
    );
    // Chatham in June (+12:45): Monday 00:00 is Sunday 11:15 UTC -> (6, 22), (6, 23);
    // in January (+13:45): Sunday 10:15 UTC -> (6, 20), (6, 21).
    assert_eq!(
        CellMap::build(utc, chatham, week_start).home_slots(0),
        &[310, 311]
    );
    assert_eq!(
        CellMap::build(utc, chatham, date(2026, 1, 5)).home_slots(0),
        &[308, 309]
    );
}

#[test]
fn chatham_fall_back_covers_both_occurrences() {
    // 2026-04-05 02:45 CHAST (+12:45) = Saturday 14:00 UTC: clocks go from 03:45 back to
    // 02:45, so Sunday 02:45-03:45 happens twice. Home is UTC.
    let map = CellMap::build(zones::utc(), zone("Pacific/Chatham"), date(2026, 3, 30));
    let saturday = |hour, minute| slot(5, hour, minute) as u16;
    // 02:30-03:00: at +13:45 it is UTC 12:45-13:15; at +12:45 only 02:45-03:00 exists
    // (UTC 14:00-14:15).
    assert_eq!(
        map.home_slots(slot(6, 2, 30)),
        &[saturday(12, 30), saturday(13, 0), saturday(14, 0)]
    );
    // 03:00-03:30: UTC 13:15-13:45, then again 14:15-14:45.
    let expected = [
        saturday(13, 0),
        saturday(13, 30),
        saturday(14, 0),
        saturday(14, 30),
    ];
    assert_eq!(map.home_slots(slot(6, 3, 0)), &expected);
    // 03:30-04:00: at +13:45 only 03:30-03:45 (UTC 13:45-14:00); at +12:45 UTC 14:45-15:15.
    assert_eq!(
        map.home_slots(slot(6, 3, 30)),
        &[saturday(13, 30), saturday(14, 30), saturday(15, 0)]
    );
}

#[test]
fn new_york_spring_forward_cells_are_unavailable() {
    // 2026-03-08 02:00 EST jumps to 03:00 EDT: Sunday 02:00 and 02:30 never occur.
    let grid = viewer_grid(
        zones::utc(),
        &filled(Status::Available),
        zone("America/New_York"),
        date(2026, 3, 2),
    );
    for (cell, &status) in grid.iter().enumerate() {
        let gap = cell == slot(6, 2, 0) || cell == slot(6, 2, 30);
        let expected = if gap {
            Status::Unavailable
        } else {
            Status::Available
        };
        assert_eq!(status, expected, "cell {cell}");
    }
}

#[test]
fn new_york_fall_back_cells_cover_both_occurrences() {
    // 2026-11-01 02:00 EDT falls back to 01:00 EST. Sunday 01:00-01:30 happens at
    // 05:00 UTC (EDT) and 06:00 UTC (EST); 01:30-02:00 at 05:30 and 06:30; 02:00 only
    // at 07:00 UTC.
    let ny = zone("America/New_York");
    let map = CellMap::build(zones::utc(), ny, date(2026, 10, 26));
    assert_eq!(
        map.home_slots(slot(6, 1, 0)),
        &[slot(6, 5, 0) as u16, slot(6, 6, 0) as u16]
    );
    assert_eq!(
        map.home_slots(slot(6, 1, 30)),
        &[slot(6, 5, 30) as u16, slot(6, 6, 30) as u16]
    );
    assert_eq!(map.home_slots(slot(6, 2, 0)), &[slot(6, 7, 0) as u16]);
    // Only the second occurrence of 01:00 unavailable at home: the cell is unavailable.
    let mut week = filled(Status::Available);
    week.set(6, 12, Status::Unavailable);
    let grid = viewer_grid(zones::utc(), &week, ny, date(2026, 10, 26));
    assert_eq!(grid[slot(6, 1, 0)], Status::Unavailable);
    assert_eq!(grid[slot(6, 1, 30)], Status::Available);
}

#[test]
fn lord_howe_half_hour_shifts() {
    let utc = zones::utc();
    let lord_howe = zone("Australia/Lord_Howe");
    let saturday = |hour, minute| slot(5, hour, minute) as u16;
    // 2026-04-05 02:00 +11 (Saturday 15:00 UTC) falls back to 01:30 +10:30.
    let map = CellMap::build(utc, lord_howe, date(2026, 3, 30));
    // 01:00-01:30 only at +11: UTC 14:00-14:30.
    assert_eq!(map.home_slots(slot(6, 1, 0)), &[saturday(14, 0)]);
    // 01:30-02:00 twice: UTC 14:30-15:00 and 15:00-15:30.
    assert_eq!(
        map.home_slots(slot(6, 1, 30)),
        &[saturday(14, 30), saturday(15, 0)]
    );
    // 02:00-02:30 only at +10:30: UTC 15:30-16:00.
    assert_eq!(map.home_slots(slot(6, 2, 0)), &[saturday(15, 30)]);
    // 2026-10-04 02:00 +10:30 (Saturday 15:30 UTC) jumps to 02:30 +11.
    let map = CellMap::build(utc, lord_howe, date(2026, 9, 28));
    assert_eq!(map.home_slots(slot(6, 1, 30)), &[saturday(15, 0)]);
    assert_eq!(map.home_slots(slot(6, 2, 0)), &[] as &[u16]);
    assert_eq!(map.home_slots(slot(6, 2, 30)), &[saturday(15, 30)]);
}
