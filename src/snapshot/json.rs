//! JSON bodies: the shared `slots` array of a grid, each zone's prefix, and the
//! single-slot answer rendered per request into a stack buffer.

use crate::http::response::ByteWriter;
use crate::week::grid::Grid;
use crate::week::{DAY_NAMES, SLOTS_PER_DAY};

/// `"slots":[…]}` closing the week object; shared by every zone with this grid.
pub fn render_slots(grid: &Grid, out: &mut Vec<u8>) {
    out.extend_from_slice(b"[");
    for (cell, status) in grid.iter().enumerate() {
        let (day, slot) = (cell / SLOTS_PER_DAY, cell % SLOTS_PER_DAY);
        if cell > 0 {
            out.push(b',');
        }
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
    out.extend_from_slice(b"]}");
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
    use crate::week::{SLOTS_PER_WEEK, Status};

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
