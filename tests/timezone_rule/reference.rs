//! The reference: walk real instants in fixed steps, convert each with chrono-tz, and
//! apply SPEC §3 literally. Deliberately naive; shares no code with the implementation.

use availability_server::week::grid::{CellMap, Grid, viewer_grid};
use availability_server::week::zones::{self, ZoneId};
use availability_server::week::{SLOTS_PER_WEEK, Status, Week};
use chrono::{Datelike, NaiveDate, TimeZone, Timelike, Utc};

use super::{XorShift, slot};

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
pub(crate) fn viewer_cells(
    viewer: ZoneId,
    week_start: NaiveDate,
    step_secs: i64,
) -> Vec<Option<usize>> {
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
pub(crate) fn home_slots(home: ZoneId, week_start: NaiveDate, step_secs: i64) -> Vec<usize> {
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
pub(crate) fn check_against(
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
pub(crate) fn assert_matches_reference(
    home: ZoneId,
    viewer: ZoneId,
    week_start: NaiveDate,
    step_secs: i64,
) {
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
