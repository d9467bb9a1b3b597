//! Snapshots: every zone's ready answers for its current and next week, built
//! off the read path and swapped in atomically.
//!
//! A worker answers a week read with slices of one immutable arena: a per-zone
//! head (status line … `Content-Length`), a per-zone JSON prefix, and a body
//! shared by every zone whose grid is the same. Holding the next week too means
//! a rollover needs no work at that instant: readers switch on the clock, and
//! the writer thread rolls the window forward afterwards.

mod calendar;
pub mod csv;
pub mod json;
mod prefix;

use chrono::NaiveDate;

use crate::http::date::write_ymd;
use crate::runtime::{SharedBytes, Span};
use crate::week::grid::{CellMap, Grid};
use crate::week::zones::{self, ZoneId};
use crate::week::{SLOTS_PER_WEEK, Week};

pub use calendar::Calendar;

/// One zone's answers for one week.
#[derive(Clone, Copy, Debug)]
pub struct WeekAnswer {
    pub week_start: NaiveDate,
    pub week_start_text: [u8; 10],
    pub grid: u32,
    /// `HTTP/1.1 200 OK` … `Content-Length: n\r\n` (no Date, no final CRLF).
    pub json_head: Span,
    pub json_prefix: Span,
    pub json_slots: Span,
    pub csv_head: Span,
    pub csv_body: Span,
}

#[derive(Clone, Copy, Debug)]
pub struct ZoneAnswers {
    pub weeks: [WeekAnswer; 2],
    /// First instant of `weeks[0]`: before it (the clock stepped back), no answer.
    pub starts_at_unix_s: i64,
    /// First instant of `weeks[1]` (the end of `weeks[0]`), Unix seconds.
    pub switch_at_unix_s: i64,
    /// End of `weeks[1]`: past it, this snapshot has no answer for "now".
    pub expires_at_unix_s: i64,
}

pub struct Snapshot {
    arena: Vec<u8>,
    zones: Vec<ZoneAnswers>,
    grids: Vec<Grid>,
    pub generation: u64,
    pub home_tz: ZoneId,
    pub home_week: Week,
}

/// Debug builds poison a dropped snapshot's bytes, so a response that still
/// pointed into it would show as garbage in tests instead of passing by luck.
#[cfg(debug_assertions)]
impl Drop for Snapshot {
    fn drop(&mut self) {
        self.arena.fill(b'#');
    }
}

impl SharedBytes for Snapshot {
    fn arena(&self) -> &[u8] {
        &self.arena
    }
}

impl Snapshot {
    /// The zone's answer for the week containing `now`, if this snapshot has it.
    pub fn answer(&self, zone: ZoneId, now_unix_s: i64) -> Option<&WeekAnswer> {
        let z = &self.zones[zone.0 as usize];
        if now_unix_s < z.starts_at_unix_s {
            None
        } else if now_unix_s < z.switch_at_unix_s {
            Some(&z.weeks[0])
        } else if now_unix_s < z.expires_at_unix_s {
            Some(&z.weeks[1])
        } else {
            None
        }
    }

    pub fn answer_for_week(&self, zone: ZoneId, week_start: NaiveDate) -> Option<&WeekAnswer> {
        self.zones[zone.0 as usize]
            .weeks
            .iter()
            .find(|w| w.week_start == week_start)
    }

    pub fn zone(&self, zone: ZoneId) -> &ZoneAnswers {
        &self.zones[zone.0 as usize]
    }

    pub fn grid(&self, answer: &WeekAnswer) -> &Grid {
        &self.grids[answer.grid as usize]
    }

    pub fn bytes(&self, span: Span) -> &[u8] {
        &self.arena[span.range()]
    }

    pub fn distinct_grids(&self) -> usize {
        self.grids.len()
    }
}

fn push_span(arena: &mut Vec<u8>, render: impl FnOnce(&mut Vec<u8>)) -> Span {
    let start = arena.len();
    render(arena);
    let len = arena.len() - start;
    assert!(
        arena.len() <= u32::MAX as usize,
        "snapshot arena fits u32 offsets"
    );
    Span {
        start: start as u32,
        len: len as u32,
    }
}

/// `HTTP/1.1 200 OK` through `Content-Length`, for a body of `len_bytes`.
pub fn render_head(content_type: &[u8], len_bytes: usize, out: &mut Vec<u8>) {
    use crate::http::response::{CACHE_READ, CORS_ANY, status_line};
    out.extend_from_slice(status_line(200));
    out.extend_from_slice(content_type);
    out.extend_from_slice(CACHE_READ);
    out.extend_from_slice(CORS_ANY);
    out.extend_from_slice(b"Content-Length: ");
    push_length_tail(len_bytes, out);
}

/// Which answer a request wants, for answers built on demand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    WeekJson,
    Csv,
}

/// Builds one answer outside the snapshot (a `date=` week it does not hold):
/// `(head, body, grid)`. Allocates; never used for the current week.
pub fn render_on_demand(
    snapshot: &Snapshot,
    zone: ZoneId,
    week_start: NaiveDate,
    kind: Kind,
) -> (Vec<u8>, Vec<u8>, Box<Grid>) {
    let grid =
        Box::new(CellMap::build(snapshot.home_tz, zone, week_start).apply(&snapshot.home_week));
    let mut body = Vec::with_capacity(32 * 1024);
    let content_type = match kind {
        Kind::WeekJson => {
            let mut text = [0u8; 10];
            write_ymd(week_start, &mut text);
            json::render_prefix(zones::name(zone), &text, &mut body);
            json::render_slots(&grid, &mut body);
            crate::http::response::JSON_TYPE
        }
        Kind::Csv => {
            csv::render(&grid, &mut body);
            crate::http::response::CSV_TYPE
        }
    };
    let mut head = Vec::with_capacity(128);
    render_head(content_type, body.len(), &mut head);
    (head, body, grid)
}

/// Renders a snapshot from distinct cell maps: `zone_weeks[zone].maps = [map index; 2]`.
///
/// Runs on every write, so it avoids per-zone work: the zones' JSON prefixes arrive
/// rendered (one copy), the home week is decoded once for all maps, and the arena is
/// sized up front so it never reallocates (a realloc copied ~1 MB per write).
pub(crate) fn build(
    home_tz: ZoneId,
    home_week: &Week,
    generation: u64,
    maps: &[CellMap],
    zone_weeks: &[calendar::ZoneWeeks],
    prefixes: &prefix::Prefixes,
) -> Snapshot {
    use std::collections::HashMap;
    let home = home_week.statuses();
    let mut grids: Vec<Grid> = Vec::new();
    // Keyed by the status codes as bytes: hashed in one go, where a `Grid` key would
    // be hashed one enum at a time (336 hasher calls per map).
    let mut grid_ids: HashMap<[u8; SLOTS_PER_WEEK], u32> = HashMap::new();
    let grid_of_map: Vec<u32> = maps
        .iter()
        .map(|map| {
            let grid = map.apply_to(&home);
            *grid_ids
                .entry(grid.map(|status| status as u8))
                .or_insert_with(|| {
                    grids.push(grid);
                    (grids.len() - 1) as u32
                })
        })
        .collect();
    let json_head_start = head_start(crate::http::response::JSON_TYPE);
    let per_grid_bytes = json::longest_slots_len_bytes()
        + csv::longest_len_bytes()
        + head_start(crate::http::response::CSV_TYPE).len()
        + LENGTH_TAIL_MAX_BYTES;
    let capacity_bytes = grids.len() * per_grid_bytes
        + prefixes.bytes.len()
        + zone_weeks.len() * 2 * (json_head_start.len() + LENGTH_TAIL_MAX_BYTES);
    let mut arena = Vec::with_capacity(capacity_bytes);
    // Per distinct grid: the shared bodies and the CSV head (no zone in it).
    let shared: Vec<(Span, Span, Span)> = grids
        .iter()
        .map(|grid| {
            let slots = push_span(&mut arena, |out| json::render_slots(grid, out));
            let csv_body = push_span(&mut arena, |out| csv::render(grid, out));
            let csv_head = push_span(&mut arena, |out| {
                render_head(crate::http::response::CSV_TYPE, csv_body.len as usize, out)
            });
            (slots, csv_body, csv_head)
        })
        .collect();
    let prefix_base = arena.len();
    arena.extend_from_slice(&prefixes.bytes);
    let zones_out = zone_weeks
        .iter()
        .enumerate()
        .map(|(zone_index, zw)| {
            let mut week = |w: usize| {
                let grid = grid_of_map[zw.maps[w] as usize];
                let (json_slots, csv_body, csv_head) = shared[grid as usize];
                let json_prefix = prefixes.span_at(prefix_base, zone_index, w);
                let body_len = (json_prefix.len + json_slots.len) as usize;
                let json_head = push_span(&mut arena, |out| {
                    out.extend_from_slice(&json_head_start);
                    push_length_tail(body_len, out);
                });
                WeekAnswer {
                    week_start: zw.starts[w],
                    week_start_text: zw.start_texts[w],
                    grid,
                    json_head,
                    json_prefix,
                    json_slots,
                    csv_head,
                    csv_body,
                }
            };
            let weeks = [week(0), week(1)];
            ZoneAnswers {
                weeks,
                starts_at_unix_s: zw.starts_at_unix_s,
                switch_at_unix_s: zw.switch_at_unix_s,
                expires_at_unix_s: zw.expires_at_unix_s,
            }
        })
        .collect();
    assert!(
        arena.len() <= capacity_bytes,
        "snapshot arena outgrew its estimate: {} > {capacity_bytes}",
        arena.len()
    );
    debug_assert!(grids.iter().all(|g| g.len() == SLOTS_PER_WEEK));
    Snapshot {
        arena,
        zones: zones_out,
        grids,
        generation,
        home_tz,
        home_week: *home_week,
    }
}

/// Longest `{n}\r\n` after `Content-Length: ` (a u32 length).
const LENGTH_TAIL_MAX_BYTES: usize = 10 + 2;

/// A 200 head up to and including `Content-Length: `.
fn head_start(content_type: &[u8]) -> Vec<u8> {
    let mut head = Vec::with_capacity(128);
    render_head(content_type, 0, &mut head);
    head.truncate(head.len() - b"0\r\n".len());
    head
}

fn push_length_tail(len_bytes: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(len_bytes).as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
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
        let cal = Calendar::new(zone("Europe/Berlin"), NOW_S);
        let mut week = Week::empty();
        week.set(0, 0, Status::Maybe);
        let snap = cal.build(&week, 1);
        let z = zone("Australia/Lord_Howe");
        let a = *snap.answer(z, NOW_S).expect("current");
        let (head, body, grid) = render_on_demand(&snap, z, a.week_start, Kind::WeekJson);
        assert_eq!(head, snap.bytes(a.json_head));
        assert_eq!(
            body,
            [snap.bytes(a.json_prefix), snap.bytes(a.json_slots)].concat()
        );
        assert_eq!(&*grid, snap.grid(&a));
        let (_, csv, _) = render_on_demand(&snap, z, a.week_start, Kind::Csv);
        assert_eq!(csv, snap.bytes(a.csv_body));
    }
}
