//! The viewer-grid rule (SPEC §3), black-box: an independent brute-force reference over
//! every zone, plus cases whose expected values are derived by hand in the comments.

use availability_server::week::grid::{
    CellMap, Grid, current_week_start, viewer_grid, week_end_unix_secs, week_start_of,
};
use availability_server::week::zones::{self, ZoneId};
use availability_server::week::{SLOTS_PER_WEEK, Status, Week};
use chrono::{Datelike, NaiveDate, TimeZone, Timelike, Utc};

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

// ---------------------------------------------------------------------------------
// The reference: walk real instants in fixed steps and convert each with chrono-tz.
// ---------------------------------------------------------------------------------

/// Instants sampled: the naive week ± 30 h, which contains every instant whose wall
/// clock can fall in the week (UTC offsets are under 24 h).
fn sample_instants(week_start: NaiveDate, step_secs: i64) -> impl Iterator<Item = i64> {
    let naive_start = week_start
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp();
    let first = naive_start - 30 * 3600;
    let last = naive_start + 7 * 86_400 + 30 * 3600;
    (first..last).step_by(step_secs as usize)
}

fn local_time(zone: ZoneId, instant_secs: i64) -> chrono::NaiveDateTime {
    Utc.timestamp_opt(instant_secs, 0)
        .single()
        .expect("instant in range")
        .with_timezone(&zones::tz(zone))
        .naive_local()
}

/// For each sampled instant, its viewer cell if its viewer wall clock is in the week.
fn viewer_cells(viewer: ZoneId, week_start: NaiveDate, step_secs: i64) -> Vec<Option<usize>> {
    sample_instants(week_start, step_secs)
        .map(|instant| {
            let local = local_time(viewer, instant);
            let day = (local.date() - week_start).num_days();
            (0..7)
                .contains(&day)
                .then(|| slot(day as usize, local.hour() as usize, local.minute() as usize))
        })
        .collect()
}

/// For each sampled instant, the home slot of its home wall clock.
fn home_slots(home: ZoneId, week_start: NaiveDate, step_secs: i64) -> Vec<usize> {
    sample_instants(week_start, step_secs)
        .map(|instant| {
            let local = local_time(home, instant);
            let day = local.weekday().num_days_from_monday() as usize;
            slot(day, local.hour() as usize, local.minute() as usize)
        })
        .collect()
}

/// Per viewer cell, the sorted set of home slots met by its instants; and the grid for
/// `week`: per cell the least available status of those slots, `Unavailable` if none.
fn reference(cells: &[Option<usize>], slots: &[usize], week: &Week) -> (Vec<Vec<u16>>, Grid) {
    // A 336-bit set of home slots per viewer cell.
    let mut met = vec![[0u64; 6]; SLOTS_PER_WEEK];
    for (cell, &home_slot) in cells.iter().zip(slots) {
        if let Some(cell) = *cell {
            met[cell][home_slot / 64] |= 1 << (home_slot % 64);
        }
    }
    let sets: Vec<Vec<u16>> = met
        .iter()
        .map(|words| {
            let mut set = Vec::new();
            for (word_index, &word) in words.iter().enumerate() {
                let mut rest = word;
                while rest != 0 {
                    set.push((word_index * 64) as u16 + rest.trailing_zeros() as u16);
                    rest &= rest - 1;
                }
            }
            set
        })
        .collect();
    let grid = std::array::from_fn(|cell| {
        let statuses = sets[cell].iter().map(|&s| week.get_index(usize::from(s)));
        statuses
            .reduce(Status::least)
            .unwrap_or(Status::Unavailable)
    });
    (sets, grid)
}

/// Builds the map and compares it, and the grid of a random week, with the reference
/// computed from per-instant `cells` and `slots`.
fn check_against(
    (home, viewer, week_start): (ZoneId, ZoneId, NaiveDate),
    cells: &[Option<usize>],
    slots: &[usize],
    rng: &mut XorShift,
) {
    let week = rng.week();
    let (expected_sets, expected_grid) = reference(cells, slots, &week);
    let map = CellMap::build(home, viewer, week_start);
    for (cell, expected) in expected_sets.iter().enumerate() {
        assert_eq!(
            map.home_slots(cell),
            expected.as_slice(),
            "home {} viewer {} week {week_start} cell {cell}",
            zones::name(home),
            zones::name(viewer)
        );
    }
    assert_eq!(map.apply(&week), expected_grid);
}

/// Compares one (home, viewer, week) with a reference stepping `step_secs` at a time,
/// through the one-call `viewer_grid`.
fn assert_matches_reference(home: ZoneId, viewer: ZoneId, week_start: NaiveDate, step_secs: i64) {
    let cells = viewer_cells(viewer, week_start, step_secs);
    let slots = home_slots(home, week_start, step_secs);
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    check_against((home, viewer, week_start), &cells, &slots, &mut rng);
    for _ in 0..3 {
        let week = rng.week();
        let (_, expected_grid) = reference(&cells, &slots, &week);
        assert_eq!(viewer_grid(home, &week, viewer, week_start), expected_grid);
    }
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

#[test]
fn zone_lookup() {
    assert!(zones::count() > 400);
    zones::init();
    for spelling in ["asia/TOKYO", "Asia/Tokyo", "ASIA/TOKYO"] {
        assert_eq!(
            zones::lookup(spelling.as_bytes()).map(zones::name),
            Some("Asia/Tokyo")
        );
    }
    assert_eq!(
        zones::lookup(b"america/port-au-prince").map(zones::name),
        Some("America/Port-au-Prince")
    );
    assert_eq!(zones::name(zones::utc()), "UTC");
    assert_eq!(zones::tz(zone("Europe/Paris")), chrono_tz::Europe::Paris);
    assert_eq!(zones::id_of(chrono_tz::Europe::Paris), zone("europe/paris"));
    for garbage in [
        &b""[..],
        b"Mars/Olympus",
        b"Asia/",
        b"Asia/Tokyo\0",
        b"\xc3\x28",
        b"/",
    ] {
        assert_eq!(zones::lookup(garbage), None, "{garbage:?}");
    }
    assert_eq!(zones::lookup("x".repeat(65).as_bytes()), None);
    assert_eq!(zones::all().count(), zones::count());
}

#[test]
fn week_boundaries_by_hand() {
    let tokyo = zone("Asia/Tokyo");
    // 2026-11-27T12:00Z is Friday 21:00 JST.
    assert_eq!(
        current_week_start(tokyo, unix_secs("2026-11-27T12:00:00Z")),
        date(2026, 11, 23)
    );
    // That week ends Monday 2026-11-30 00:00 JST = 2026-11-29T15:00Z.
    let end_secs = week_end_unix_secs(tokyo, date(2026, 11, 23));
    assert_eq!(end_secs, unix_secs("2026-11-29T15:00:00Z"));
    assert_eq!(current_week_start(tokyo, end_secs - 1), date(2026, 11, 23));
    assert_eq!(current_week_start(tokyo, end_secs), date(2026, 11, 30));
    // Los Angeles: Monday 2026-11-30 00:00 PST (-8) = 08:00Z.
    let la = zone("America/Los_Angeles");
    assert_eq!(
        current_week_start(la, unix_secs("2026-11-30T07:59:59Z")),
        date(2026, 11, 23)
    );
    assert_eq!(
        week_end_unix_secs(la, date(2026, 11, 23)),
        unix_secs("2026-11-30T08:00:00Z")
    );
    // New York weeks ending after its changes: Monday 00:00 EDT (-4) and EST (-5).
    let ny = zone("America/New_York");
    assert_eq!(
        week_end_unix_secs(ny, date(2026, 3, 2)),
        unix_secs("2026-03-09T04:00:00Z")
    );
    assert_eq!(
        week_end_unix_secs(ny, date(2026, 10, 26)),
        unix_secs("2026-11-02T05:00:00Z")
    );
    // Tehran skipped Monday 2021-03-22 00:00 (+3:30 -> +4:30): the week ends when the
    // jump happens, 2021-03-21T20:30Z.
    let tehran = zone("Asia/Tehran");
    assert_eq!(
        week_end_unix_secs(tehran, date(2021, 3, 15)),
        unix_secs("2021-03-21T20:30:00Z")
    );
    assert_eq!(week_start_of(date(2026, 11, 29)), date(2026, 11, 23));
    assert_eq!(week_start_of(date(2026, 11, 30)), date(2026, 11, 30));
    assert_eq!(week_start_of(date(2026, 11, 23)), date(2026, 11, 23));
}

#[test]
fn week_end_is_where_the_current_week_rolls_over_in_every_zone() {
    for viewer in zones::all() {
        for &(year, month, day) in &TRANSITION_WEEKS {
            let week_start = date(year, month, day);
            let end_secs = week_end_unix_secs(viewer, week_start);
            let next = week_start + chrono::Days::new(7);
            let name = zones::name(viewer);
            assert_eq!(
                current_week_start(viewer, end_secs - 1),
                week_start,
                "{name}"
            );
            assert_eq!(current_week_start(viewer, end_secs), next, "{name}");
        }
    }
}

#[test]
fn supported_dates_never_panic() {
    let first = date(1900, 1, 1);
    let last = date(2200, 12, 31);
    let sitka = zone("America/Sitka");
    let kiritimati = zone("Pacific/Kiritimati");
    let mut day = first;
    let mut day_count = 0u32;
    while day <= last {
        let week_start = week_start_of(day);
        assert!(week_start <= day && (day - week_start).num_days() < 7);
        assert_eq!(week_start.weekday(), chrono::Weekday::Mon);
        if day == week_start {
            // Every week: the cheap calls; every 50th week, a full map in both directions.
            let end_secs = week_end_unix_secs(kiritimati, week_start);
            assert_eq!(current_week_start(kiritimati, end_secs - 1), week_start);
            if day_count.is_multiple_of(350) {
                CellMap::build(sitka, kiritimati, week_start);
                CellMap::build(kiritimati, sitka, week_start);
            }
        }
        day = day.succ_opt().expect("inside chrono's range");
        day_count += 1;
    }
    assert_eq!(
        current_week_start(zones::utc(), i64::MIN),
        week_start_of(current_week_start(zones::utc(), i64::MIN))
    );
    current_week_start(kiritimati, i64::MAX);
}
