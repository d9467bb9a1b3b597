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
mod tags;

use chrono::NaiveDate;

use crate::http::date::write_ymd;
use crate::http::etag::{ETAG_LEN_BYTES, ETag, render as render_tag};
use crate::runtime::{SharedBytes, Span};
use crate::week::grid::{CellMap, Grid};
use crate::week::zones::{self, ZoneId};
use crate::week::{SLOTS_PER_WEEK, Week};

pub use calendar::Calendar;
pub use tags::TagKey;

/// One zone's answers for one week.
#[derive(Clone, Copy, Debug)]
pub struct WeekAnswer {
    pub week_start: NaiveDate,
    pub week_start_text: [u8; 10],
    pub grid: u32,
    /// Entity tags (see `tags.rs`): the week JSON's, which the slot answers share,
    /// and the CSV's.
    pub json_tag: ETag,
    pub csv_tag: ETag,
    /// `HTTP/1.1 200 OK` … `ETag` … `Content-Length: n\r\n` (no Date, no final CRLF).
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
    /// The key every tag of this process is made with (answers built on demand too).
    pub tag_key: TagKey,
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
        start_bytes: start as u32,
        len_bytes: len as u32,
    }
}

/// `HTTP/1.1 200 OK` through `Content-Length`, for a body of `len_bytes`.
pub fn render_head(content_type: &[u8], tag: &ETag, len_bytes: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(&head_start(content_type));
    push_tag_and_length(tag, len_bytes, out);
}

/// Which answer a request wants, for answers built on demand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    WeekJson,
    Csv,
}

/// An answer built outside the snapshot.
pub struct OnDemand {
    pub head: Vec<u8>,
    pub body: Vec<u8>,
    pub tag: ETag,
}

/// The grid of a week outside the snapshot, and the tag of its `kind` answer: what a
/// slot read needs of [`render_on_demand`] without rendering the week. Allocates.
pub fn grid_on_demand(
    snapshot: &Snapshot,
    zone: ZoneId,
    week_start: NaiveDate,
    kind: Kind,
) -> (Box<Grid>, ETag) {
    let grid =
        Box::new(CellMap::build(snapshot.home_tz, zone, week_start).apply(&snapshot.home_week));
    let tag = snapshot.tag_key.answer(&grid, zone, week_start, kind);
    (grid, tag)
}

/// Builds one answer outside the snapshot: a `date=` week it does not hold, or the
/// current week when the wall clock has left the snapshot's two weeks (stepped back
/// before them, or jumped past them until the writer rolls the weeks, within a
/// minute). Allocates.
pub fn render_on_demand(
    snapshot: &Snapshot,
    zone: ZoneId,
    week_start: NaiveDate,
    kind: Kind,
) -> OnDemand {
    let (grid, tag) = grid_on_demand(snapshot, zone, week_start, kind);
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
    let mut head = Vec::with_capacity(160);
    render_head(content_type, &tag, body.len(), &mut head);
    OnDemand { head, body, tag }
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
    tag_key: &TagKey,
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
    let grid_tags: Vec<u64> = grids.iter().map(|grid| tag_key.grid(grid)).collect();
    let json_head_start = head_start(crate::http::response::JSON_TYPE);
    let per_grid_bytes = json::longest_slots_len_bytes()
        + csv::longest_len_bytes()
        + head_start(crate::http::response::CSV_TYPE).len()
        + TAG_AND_LENGTH_MAX_BYTES;
    let capacity_bytes = grids.len() * per_grid_bytes
        + prefixes.bytes.len()
        + zone_weeks.len() * 2 * (json_head_start.len() + TAG_AND_LENGTH_MAX_BYTES);
    let mut arena = Vec::with_capacity(capacity_bytes);
    // Per distinct grid: the shared bodies, the CSV's tag and head (no zone in them).
    let csv_head_start = head_start(crate::http::response::CSV_TYPE);
    let shared: Vec<(Span, Span, Span, ETag)> = grids
        .iter()
        .zip(&grid_tags)
        .map(|(grid, &grid_tag)| {
            let slots = push_span(&mut arena, |out| json::render_slots(grid, out));
            let csv_body = push_span(&mut arena, |out| csv::render(grid, out));
            let csv_tag = render_tag(tag_key.csv(grid_tag));
            let csv_head = push_span(&mut arena, |out| {
                out.extend_from_slice(&csv_head_start);
                push_tag_and_length(&csv_tag, csv_body.len_bytes as usize, out);
            });
            (slots, csv_body, csv_head, csv_tag)
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
                let (json_slots, csv_body, csv_head, csv_tag) = shared[grid as usize];
                let json_prefix = prefixes.span_at(prefix_base, zone_index, w);
                let body_len = (json_prefix.len_bytes + json_slots.len_bytes) as usize;
                let grid_tag = grid_tags[grid as usize];
                let zone = ZoneId(zone_index as u16);
                let json_tag = render_tag(tag_key.json(grid_tag, zone, zw.starts[w]));
                let json_head = push_span(&mut arena, |out| {
                    out.extend_from_slice(&json_head_start);
                    push_tag_and_length(&json_tag, body_len, out);
                });
                WeekAnswer {
                    week_start: zw.starts[w],
                    week_start_text: zw.start_texts[w],
                    grid,
                    json_tag,
                    csv_tag,
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
        tag_key: tag_key.clone(),
    }
}

/// Longest `ETag: "…"\r\nContent-Length: {n}\r\n` (a u32 length).
const TAG_AND_LENGTH_MAX_BYTES: usize =
    ETAG_PREFIX.len() + ETAG_LEN_BYTES + 2 + LENGTH_PREFIX.len() + 10 + 2;
const ETAG_PREFIX: &[u8] = b"ETag: ";
const LENGTH_PREFIX: &[u8] = b"Content-Length: ";

/// A 200 head up to the `ETag` field: status, type, caching and CORS.
fn head_start(content_type: &[u8]) -> Vec<u8> {
    use crate::http::response::{CACHE_READ, CORS_ANY, status_line};
    [status_line(200), content_type, CACHE_READ, CORS_ANY].concat()
}

fn push_tag_and_length(tag: &ETag, len_bytes: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(ETAG_PREFIX);
    out.extend_from_slice(tag);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(LENGTH_PREFIX);
    out.extend_from_slice(itoa::Buffer::new().format(len_bytes).as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests;
