//! JSON bodies: the shared `slots` array of a grid, each zone's prefix, and the
//! single-slot answer rendered per request into a stack buffer.

use std::sync::OnceLock;

use crate::http::response::ByteWriter;
use crate::week::grid::Grid;
use crate::week::{DAY_NAMES, SLOTS_PER_DAY, SLOTS_PER_WEEK, Status};

/// `"slots":[…]}` closing the week object; shared by every zone with this grid.
/// Every snapshot renders one per distinct grid (dozens per write), so the 336 × 3
/// possible entries are rendered once, and a body is 336 copies out of that table.
pub fn render_slots(grid: &Grid, out: &mut Vec<u8>) {
    let entries = entries();
    out.reserve(entries.longest_body);
    out.push(b'[');
    for (cell, &status) in grid.iter().enumerate() {
        let (start, end) = entries.spans[cell][status as usize];
        out.extend_from_slice(&entries.bytes[start as usize..end as usize]);
    }
    out.extend_from_slice(b"]}");
}

/// Bytes of the longest `slots` body [`render_slots`] can write.
pub fn longest_slots_len_bytes() -> usize {
    entries().longest_body
}

/// Every `{"day":…,"status":"…"}` entry, each cell's with its leading comma.
struct Entries {
    bytes: Vec<u8>,
    /// `spans[cell][status code]`: the entry's byte range in `bytes`.
    spans: Box<[[(u32, u32); 3]; SLOTS_PER_WEEK]>,
    /// Bytes of the longest possible `slots` body.
    longest_body: usize,
}

fn entries() -> &'static Entries {
    static ENTRIES: OnceLock<Entries> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        let mut bytes = Vec::with_capacity(SLOTS_PER_WEEK * 3 * 80);
        let mut spans = Box::new([[(0u32, 0u32); 3]; SLOTS_PER_WEEK]);
        let mut longest_body = b"[]}".len();
        for (cell, cell_spans) in spans.iter_mut().enumerate() {
            let mut longest = 0;
            for status in Status::ALL {
                let start = bytes.len();
                if cell > 0 {
                    bytes.push(b',');
                }
                render_entry(cell, status, &mut bytes);
                cell_spans[status as usize] = (start as u32, bytes.len() as u32);
                longest = longest.max(bytes.len() - start);
            }
            longest_body += longest;
        }
        Entries {
            bytes,
            spans,
            longest_body,
        }
    })
}

/// One cell's entry, `{"day":2,"day_name":"Wednesday","time":"14:00","status":"…"}`.
fn render_entry(cell: usize, status: Status, out: &mut Vec<u8>) {
    let (day, slot) = (cell / SLOTS_PER_DAY, cell % SLOTS_PER_DAY);
    out.extend_from_slice(b"{\"day\":");
    out.push(b'0' + day as u8);
    out.extend_from_slice(b",\"day_name\":\"");
    out.extend_from_slice(DAY_NAMES[day].as_bytes());
    out.extend_from_slice(b"\",\"time\":\"");
    out.extend_from_slice(&time_text(slot as u8));
    out.extend_from_slice(b"\",\"status\":\"");
    out.extend_from_slice(status.as_str().as_bytes());
    out.extend_from_slice(b"\"}");
}

/// `{"timezone":"…","week_start":"…","slots":` — the per-zone part of a week body.
pub fn render_prefix(zone_name: &str, week_start: &[u8; 10], out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"timezone\":\"");
    out.extend_from_slice(zone_name.as_bytes());
    out.extend_from_slice(b"\",\"week_start\":\"");
    out.extend_from_slice(week_start);
    out.extend_from_slice(b"\",\"slots\":");
}

/// "HH:MM" for a half-hour slot.
pub fn time_text(slot: u8) -> [u8; 5] {
    debug_assert!((slot as usize) < SLOTS_PER_DAY);
    let (hour, minute) = (slot / 2, if slot % 2 == 1 { 30 } else { 0 });
    [
        b'0' + hour / 10,
        b'0' + hour % 10,
        b':',
        b'0' + minute / 10,
        b'0',
    ]
}

/// The single-slot body; no allocation (written into the caller's buffer).
pub fn render_slot(
    w: &mut ByteWriter<'_>,
    zone_name: &str,
    week_start: &[u8; 10],
    cell: usize,
    status: &str,
) {
    let (day, slot) = (cell / SLOTS_PER_DAY, cell % SLOTS_PER_DAY);
    w.put(b"{\"timezone\":\"")
        .put_str(zone_name)
        .put(b"\",\"week_start\":\"")
        .put(week_start)
        .put(b"\",\"day\":")
        .put(&[b'0' + day as u8])
        .put(b",\"day_name\":\"")
        .put_str(DAY_NAMES[day])
        .put(b"\",\"time\":\"")
        .put(&time_text(slot as u8))
        .put(b"\",\"status\":\"")
        .put_str(status)
        .put(b"\"}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every cell in every status, and a full-length body, against entry-by-entry
    /// rendering (what the table is made of, written out directly).
    #[test]
    fn table_rendering_matches_direct_rendering() {
        let mut grids = Vec::new();
        for status in Status::ALL {
            grids.push([status; SLOTS_PER_WEEK]);
        }
        let mut mixed = [Status::Unavailable; SLOTS_PER_WEEK];
        for (cell, status) in mixed.iter_mut().enumerate() {
            *status = Status::ALL[(cell * 7 + cell / 5) % 3];
        }
        grids.push(mixed);
        for grid in &grids {
            let mut expected = b"[".to_vec();
            for (cell, &status) in grid.iter().enumerate() {
                if cell > 0 {
                    expected.push(b',');
                }
                render_entry(cell, status, &mut expected);
            }
            expected.extend_from_slice(b"]}");
            let mut out = b"prefix".to_vec();
            render_slots(grid, &mut out);
            assert_eq!(&out[..6], b"prefix");
            assert_eq!(out[6..], expected[..]);
            assert!(expected.len() <= entries().longest_body);
        }
        assert_eq!(
            entries().longest_body,
            {
                let mut longest = Vec::new();
                render_slots(&[Status::Unavailable; SLOTS_PER_WEEK], &mut longest);
                longest.len()
            },
            "unavailable is the longest status"
        );
    }

    #[test]
    fn week_body_is_the_spec_shape() {
        let mut grid: Grid = [Status::Unavailable; SLOTS_PER_WEEK];
        grid[2 * 48 + 28] = Status::Available;
        grid[335] = Status::Maybe;
        let mut body = Vec::new();
        render_prefix("Asia/Tokyo", b"2026-11-23", &mut body);
        render_slots(&grid, &mut body);
        let v: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
        assert_eq!(v["timezone"], "Asia/Tokyo");
        assert_eq!(v["week_start"], "2026-11-23");
        let slots = v["slots"].as_array().expect("array");
        assert_eq!(slots.len(), 336);
        assert_eq!(
            slots[0],
            serde_json::json!({"day":0,"day_name":"Monday","time":"00:00","status":"unavailable"})
        );
        assert_eq!(
            slots[124],
            serde_json::json!({"day":2,"day_name":"Wednesday","time":"14:00","status":"available"})
        );
        assert_eq!(
            slots[335],
            serde_json::json!({"day":6,"day_name":"Sunday","time":"23:30","status":"maybe"})
        );
        // Key order is part of the contract, not just the values.
        assert!(body.starts_with(b"{\"timezone\":\"Asia/Tokyo\",\"week_start\":\"2026-11-23\",\"slots\":[{\"day\":0,\"day_name\":\"Monday\",\"time\":\"00:00\",\"status\":\"unavailable\"},"));
    }

    #[test]
    fn slot_body_matches_spec_example() {
        let mut buf = [0u8; 256];
        let mut w = ByteWriter::new(&mut buf);
        render_slot(&mut w, "UTC", b"2026-11-23", 2 * 48 + 28, "available");
        assert_eq!(
            w.written(),
            br#"{"timezone":"UTC","week_start":"2026-11-23","day":2,"day_name":"Wednesday","time":"14:00","status":"available"}"#
        );
    }

    #[test]
    fn times_cover_the_day() {
        assert_eq!(&time_text(0), b"00:00");
        assert_eq!(&time_text(1), b"00:30");
        assert_eq!(&time_text(47), b"23:30");
    }
}
