//! The viewer-grid rule (SPEC §3): the home pattern seen on a viewer's wall clock.
//!
//! A viewer cell covers the real instants of its week whose viewer wall-clock time falls
//! in the cell; each instant is looked up in the home pattern by its home wall-clock
//! time; the cell takes the least available status found, `unavailable` if none.
//!
//! The instants-to-slots relation depends only on (home zone, viewer zone, week), not on
//! the pattern, so it is computed once as a [`CellMap`] (tens of microseconds, it
//! samples both zones' offsets) and applied to each new pattern (about a microsecond).
//!
//! Dates: everything here is exact and panic-free for dates from [`FIRST_SUPPORTED_DATE`]
//! to [`LAST_SUPPORTED_DATE`]; callers restrict user-supplied dates to that range.
//! Beyond it the arithmetic is still checked and only fails near chrono's own limits.

mod offsets;

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime};

use super::bitmap::{SLOT_LEN_SECS, SLOTS_PER_DAY, SLOTS_PER_WEEK, Status, Week};
use super::zones::{self, ZoneId};
use offsets::{offset_secs, push_transitions};

/// A viewer grid: cell `viewer_day * 48 + viewer_slot`.
pub type Grid = [Status; SLOTS_PER_WEEK];

/// First date whose week the server answers for.
pub const FIRST_SUPPORTED_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(date) => date,
    None => panic!("valid date"),
};

/// Last date whose week the server answers for.
pub const LAST_SUPPORTED_DATE: NaiveDate = match NaiveDate::from_ymd_opt(2099, 12, 31) {
    Some(date) => date,
    None => panic!("valid date"),
};

const DAY_SECS: i64 = 86_400;
const WEEK_SECS: i64 = 7 * DAY_SECS;
/// Window margin around a week: offsets are below 24 h in magnitude, so instants more
/// than 26 h outside the naive week cannot have a wall-clock time inside it.
const MARGIN_SECS: i64 = 26 * 3600;
/// 1970-01-01 was a Thursday; Monday = 0.
const EPOCH_WEEKDAY_FROM_MONDAY: i64 = 3;

/// Whether `date` is within the range this module guarantees to handle.
pub fn is_supported_date(date: NaiveDate) -> bool {
    (FIRST_SUPPORTED_DATE..=LAST_SUPPORTED_DATE).contains(&date)
}

/// The Monday on or before `date`.
pub fn week_start_of(date: NaiveDate) -> NaiveDate {
    let days_since_monday = u64::from(date.weekday().num_days_from_monday());
    date.checked_sub_days(Days::new(days_since_monday))
        .expect("date within the supported range")
}

/// Monday of the viewer-local week containing the instant `now_unix_secs`.
pub fn current_week_start(viewer: ZoneId, now_unix_secs: i64) -> NaiveDate {
    // Far beyond any real clock, but keeps every input inside chrono's range.
    const CLOCK_LIMIT_SECS: i64 = 1 << 40;
    let now_secs = now_unix_secs.clamp(-CLOCK_LIMIT_SECS, CLOCK_LIMIT_SECS);
    let local_secs = now_secs + offset_secs(zones::tz(viewer), now_secs);
    let local_date = DateTime::from_timestamp(local_secs, 0)
        .expect("clamped instant within chrono's range")
        .date_naive();
    week_start_of(local_date)
}

/// The first instant (unix seconds) whose viewer wall-clock time is at or after
/// `week_start + 7 days, 00:00`: when answers for this week go stale.
///
/// If that wall-clock time is skipped by a DST jump, this is the end of the jump.
pub fn week_end_unix_secs(viewer: ZoneId, week_start: NaiveDate) -> i64 {
    let end_naive_secs = naive_midnight_secs(week_start) + WEEK_SECS;
    let viewer_tz = zones::tz(viewer);
    let window_start_secs = end_naive_secs - MARGIN_SECS;
    let window_end_secs = end_naive_secs + MARGIN_SECS;
    let mut breaks = Vec::with_capacity(4);
    breaks.push(window_start_secs);
    push_transitions(viewer_tz, window_start_secs, window_end_secs, &mut breaks);
    breaks.push(window_end_secs);
    for span in breaks.windows(2) {
        let (span_start_secs, span_end_secs) = (span[0], span[1]);
        let span_offset_secs = offset_secs(viewer_tz, span_start_secs);
        // Wall clock over the span is [start + offset, end + offset).
        if span_end_secs + span_offset_secs > end_naive_secs {
            return span_start_secs.max(end_naive_secs - span_offset_secs);
        }
    }
    unreachable!("the window extends past the week end in every zone")
}

/// Seconds since the epoch of `date` 00:00 read as if it were UTC.
fn naive_midnight_secs(date: NaiveDate) -> i64 {
    date.and_time(NaiveTime::MIN).and_utc().timestamp()
}

/// Home slot index (Monday-based day * 48 + half-hour) of a wall-clock time given as
/// naive seconds since the epoch.
fn home_slot_index(local_secs: i64) -> u16 {
    let day_from_monday =
        (local_secs.div_euclid(DAY_SECS) + EPOCH_WEEKDAY_FROM_MONDAY).rem_euclid(7);
    let slot = local_secs.rem_euclid(DAY_SECS) / SLOT_LEN_SECS;
    let index = day_from_monday * SLOTS_PER_DAY as i64 + slot;
    u16::try_from(index).expect("slot index below 336")
}

/// Seconds from a wall-clock time to the next half-hour boundary (1..=1800).
fn secs_to_next_slot(local_secs: i64) -> i64 {
    SLOT_LEN_SECS - local_secs.rem_euclid(SLOT_LEN_SECS)
}

/// For each viewer cell of one week, the home slots its instants fall in.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CellMap {
    /// `slots[starts[cell]..starts[cell + 1]]` belong to `cell`; 337 entries.
    starts: Box<[u16]>,
    /// Home slot indices, sorted and deduplicated within each cell.
    slots: Box<[u16]>,
}

impl CellMap {
    /// Maps each viewer cell of the viewer week starting `week_start` (a Monday; other
    /// dates are taken as written, i.e. the 7 days from `week_start`) to home slots.
    pub fn build(home: ZoneId, viewer: ZoneId, week_start: NaiveDate) -> CellMap {
        let home_tz = zones::tz(home);
        let viewer_tz = zones::tz(viewer);
        let week_start_naive_secs = naive_midnight_secs(week_start);
        let week_end_naive_secs = week_start_naive_secs + WEEK_SECS;
        let window_start_secs = week_start_naive_secs - MARGIN_SECS;
        let window_end_secs = week_end_naive_secs + MARGIN_SECS;

        // Breakpoints: between two consecutive ones both offsets are constant.
        let mut breaks = Vec::with_capacity(8);
        breaks.push(window_start_secs);
        push_transitions(viewer_tz, window_start_secs, window_end_secs, &mut breaks);
        push_transitions(home_tz, window_start_secs, window_end_secs, &mut breaks);
        breaks.push(window_end_secs);
        breaks.sort_unstable();
        breaks.dedup();

        // (cell << 16 | home slot) for every piece of time inside the viewer week.
        let mut pairs: Vec<u32> = Vec::with_capacity(2 * SLOTS_PER_WEEK + 64);
        for span in breaks.windows(2) {
            let (span_start_secs, span_end_secs) = (span[0], span[1]);
            let viewer_offset_secs = offset_secs(viewer_tz, span_start_secs);
            let home_offset_secs = offset_secs(home_tz, span_start_secs);
            let mut piece_start_secs = span_start_secs;
            while piece_start_secs < span_end_secs {
                let viewer_local_secs = piece_start_secs + viewer_offset_secs;
                let home_local_secs = piece_start_secs + home_offset_secs;
                // Neither wall clock crosses a half-hour inside the piece.
                let piece_len_secs = secs_to_next_slot(viewer_local_secs)
                    .min(secs_to_next_slot(home_local_secs))
                    .min(span_end_secs - piece_start_secs);
                if (week_start_naive_secs..week_end_naive_secs).contains(&viewer_local_secs) {
                    let cell = (viewer_local_secs - week_start_naive_secs) / SLOT_LEN_SECS;
                    let cell = u32::try_from(cell).expect("cell below 336");
                    pairs.push(cell << 16 | u32::from(home_slot_index(home_local_secs)));
                }
                piece_start_secs += piece_len_secs;
            }
        }
        pairs.sort_unstable();
        pairs.dedup();

        let mut starts = Vec::with_capacity(SLOTS_PER_WEEK + 1);
        let mut next_pair = 0;
        for cell in 0..SLOTS_PER_WEEK as u32 {
            starts.push(u16::try_from(next_pair).expect("fewer than 65 536 pairs"));
            while next_pair < pairs.len() && pairs[next_pair] >> 16 == cell {
                next_pair += 1;
            }
        }
        starts.push(u16::try_from(pairs.len()).expect("fewer than 65 536 pairs"));
        let slots: Vec<u16> = pairs.iter().map(|&pair| (pair & 0xffff) as u16).collect();
        CellMap {
            starts: starts.into_boxed_slice(),
            slots: slots.into_boxed_slice(),
        }
    }

    /// The sorted, deduplicated home slot indices covered by viewer `cell`; empty when
    /// the cell's wall-clock times never occur (a DST gap). Panics if `cell >= 336`.
    pub fn home_slots(&self, cell: usize) -> &[u16] {
        let start = usize::from(self.starts[cell]);
        let end = usize::from(self.starts[cell + 1]);
        &self.slots[start..end]
    }

    /// The viewer grid for `home_week`: each cell is the least available of its home
    /// slots, `Unavailable` when it has none.
    pub fn apply(&self, home_week: &Week) -> Grid {
        self.apply_to(&home_week.statuses())
    }

    /// [`CellMap::apply`] to a week already decoded with [`Week::statuses`]: a
    /// snapshot applies dozens of maps to one week and decodes it once.
    pub fn apply_to(&self, home: &[Status; SLOTS_PER_WEEK]) -> Grid {
        let mut grid = [Status::Unavailable; SLOTS_PER_WEEK];
        for (cell, status) in grid.iter_mut().enumerate() {
            let slots = self.home_slots(cell);
            if !slots.is_empty() {
                *status = slots.iter().fold(Status::Available, |least, &slot| {
                    least.least(home[usize::from(slot)])
                });
            }
        }
        grid
    }
}

/// The viewer grid of `home_week` for `viewer`'s week starting `week_start`.
pub fn viewer_grid(home: ZoneId, home_week: &Week, viewer: ZoneId, week_start: NaiveDate) -> Grid {
    CellMap::build(home, viewer, week_start).apply(home_week)
}

#[cfg(test)]
mod tests;
