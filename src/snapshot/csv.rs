//! The CSV grid: a header, 48 rows of seven statuses, a blank line and a note;
//! every line ends with CRLF (SPEC §4). It names no zone, so it is shared by
//! every zone with the same grid.

use super::json::time_text;
use crate::week::grid::Grid;
use crate::week::{DAYS_PER_WEEK, SLOTS_PER_DAY, Status};

pub const NOTE: &str = "Note: Availability is estimated. Please reach out to confirm!";

const HEADER: &[u8] = b"Time,Monday,Tuesday,Wednesday,Thursday,Friday,Saturday,Sunday\r\n";

/// Bytes of the longest grid [`render`] can write (every cell `unavailable`).
pub fn longest_len_bytes() -> usize {
    let longest_status = Status::ALL.iter().map(|s| s.as_str().len()).max();
    let row = "HH:MM".len() + DAYS_PER_WEEK * (1 + longest_status.unwrap_or(0)) + 2;
    HEADER.len() + SLOTS_PER_DAY * row + 2 + NOTE.len() + 2
}

pub fn render(grid: &Grid, out: &mut Vec<u8>) {
    out.extend_from_slice(HEADER);
    for slot in 0..SLOTS_PER_DAY {
        out.extend_from_slice(&time_text(slot as u8));
        for day in 0..DAYS_PER_WEEK {
            out.push(b',');
            out.extend_from_slice(grid[day * SLOTS_PER_DAY + slot].as_str().as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(NOTE.as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::week::SLOTS_PER_WEEK;

    #[test]
    fn rows_are_times_and_columns_are_days() {
        let mut grid: Grid = [Status::Unavailable; SLOTS_PER_WEEK];
        grid[2 * 48 + 28] = Status::Available; // Wednesday 14:00
        grid[6 * 48] = Status::Maybe; // Sunday 00:00
        let mut out = Vec::new();
        render(&grid, &mut out);
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines.len(), 1 + 48 + 1 + 1 + 1); // trailing CRLF leaves an empty tail
        assert_eq!(
            lines[0],
            "Time,Monday,Tuesday,Wednesday,Thursday,Friday,Saturday,Sunday"
        );
        assert_eq!(
            lines[1],
            "00:00,unavailable,unavailable,unavailable,unavailable,unavailable,unavailable,maybe"
        );
        assert_eq!(
            lines[29],
            "14:00,unavailable,unavailable,available,unavailable,unavailable,unavailable,unavailable"
        );
        assert_eq!(lines[49], "");
        assert_eq!(lines[50], NOTE);
        assert!(!text.replace("\r\n", "").contains('\n'), "no bare LF");
    }

    #[test]
    fn the_longest_grid_is_all_unavailable_and_fits_the_bound() {
        let mut longest = 0;
        for status in Status::ALL {
            let mut out = Vec::new();
            render(&[status; SLOTS_PER_WEEK], &mut out);
            assert!(out.len() <= longest_len_bytes(), "{status:?}");
            longest = longest.max(out.len());
        }
        assert_eq!(longest, longest_len_bytes());
    }
}
