//! The home pattern: 336 half-hour slots packed as 2-bit codes into 84 bytes.
//!
//! Slot `i = day * 48 + slot` lives at bits `2 * (i % 4)` of byte `i / 4` (SPEC §2).

use bytemuck::{Pod, Zeroable};

pub const DAYS_PER_WEEK: usize = 7;
pub const SLOTS_PER_DAY: usize = 48;
pub const SLOTS_PER_WEEK: usize = DAYS_PER_WEEK * SLOTS_PER_DAY;
pub const WEEK_LEN_BYTES: usize = SLOTS_PER_WEEK / 4;
pub const SLOT_LEN_SECS: i64 = 30 * 60;

pub const DAY_NAMES: [&str; DAYS_PER_WEEK] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// The slot of the day a wall-clock time names: `HH:MM` with HH 00..=23 and MM 00 or
/// 30 (SPEC §4: reads and writes name a time only on the half hour).
pub fn slot_of_time(text: &[u8]) -> Option<usize> {
    let &[h0, h1, b':', m0, m1] = text else {
        return None;
    };
    if ![h0, h1, m0, m1].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let hour = usize::from((h0 - b'0') * 10 + (h1 - b'0'));
    match (hour, [m0, m1]) {
        (0..=23, [b'0', b'0']) => Some(hour * 2),
        (0..=23, [b'3', b'0']) => Some(hour * 2 + 1),
        _ => None,
    }
}

/// One slot's status. The discriminant is the on-disk 2-bit code.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    Unavailable = 0,
    Available = 1,
    Maybe = 2,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Unavailable, Status::Available, Status::Maybe];

    /// Decodes a 2-bit code; 3 (and anything larger) is invalid.
    pub fn from_code(code: u8) -> Option<Status> {
        match code {
            0 => Some(Status::Unavailable),
            1 => Some(Status::Available),
            2 => Some(Status::Maybe),
            _ => None,
        }
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unavailable => "unavailable",
            Status::Available => "available",
            Status::Maybe => "maybe",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Position in the order `unavailable < maybe < available` used when a viewer
    /// cell covers several home slots: the cell takes the least available one.
    pub fn rank(self) -> u8 {
        match self {
            Status::Unavailable => 0,
            Status::Maybe => 1,
            Status::Available => 2,
        }
    }

    /// The less available of the two.
    pub fn least(self, other: Status) -> Status {
        if other.rank() < self.rank() {
            other
        } else {
            self
        }
    }
}

/// Byte offset of the first slot whose 2-bit code is 3, i.e. invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidCode {
    pub slot_index: usize,
}

/// A week of home slots. Always valid: every code is 0, 1 or 2.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct Week {
    bytes: [u8; WEEK_LEN_BYTES],
}

impl Default for Week {
    fn default() -> Self {
        Week::empty()
    }
}

impl Week {
    /// Every slot `unavailable`, as a new data file starts.
    pub const fn empty() -> Week {
        Week {
            bytes: [0; WEEK_LEN_BYTES],
        }
    }

    /// Validates packed bytes: any 2-bit code of 3 is rejected.
    pub fn from_bytes(bytes: &[u8; WEEK_LEN_BYTES]) -> Result<Week, InvalidCode> {
        for (byte_index, &byte) in bytes.iter().enumerate() {
            for lane in 0..4 {
                if (byte >> (2 * lane)) & 0b11 == 3 {
                    return Err(InvalidCode {
                        slot_index: byte_index * 4 + lane,
                    });
                }
            }
        }
        Ok(Week { bytes: *bytes })
    }

    pub fn as_bytes(&self) -> &[u8; WEEK_LEN_BYTES] {
        &self.bytes
    }

    /// Status of slot `index = day * 48 + slot`.
    pub fn get_index(&self, index: usize) -> Status {
        assert!(index < SLOTS_PER_WEEK, "slot index {index} out of range");
        let code = (self.bytes[index / 4] >> (2 * (index % 4))) & 0b11;
        // Invariant: constructors reject code 3.
        Status::from_code(code).expect("week holds only valid codes")
    }

    /// Every slot's status, in index order (one decode for callers that read them all).
    pub fn statuses(&self) -> [Status; SLOTS_PER_WEEK] {
        let mut out = [Status::Unavailable; SLOTS_PER_WEEK];
        for (index, status) in out.iter_mut().enumerate() {
            *status = self.get_index(index);
        }
        out
    }

    pub fn get(&self, day: usize, slot: usize) -> Status {
        assert!(day < DAYS_PER_WEEK && slot < SLOTS_PER_DAY);
        self.get_index(day * SLOTS_PER_DAY + slot)
    }

    pub fn set_index(&mut self, index: usize, status: Status) {
        assert!(index < SLOTS_PER_WEEK, "slot index {index} out of range");
        let shift = 2 * (index % 4);
        let byte = &mut self.bytes[index / 4];
        *byte = (*byte & !(0b11 << shift)) | (status.code() << shift);
    }

    pub fn set(&mut self, day: usize, slot: usize, status: Status) {
        assert!(day < DAYS_PER_WEEK && slot < SLOTS_PER_DAY);
        self.set_index(day * SLOTS_PER_DAY + slot, status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_on_the_half_hour_name_slots() {
        assert_eq!(slot_of_time(b"00:00"), Some(0));
        assert_eq!(slot_of_time(b"00:30"), Some(1));
        assert_eq!(slot_of_time(b"14:00"), Some(28));
        assert_eq!(slot_of_time(b"23:30"), Some(SLOTS_PER_DAY - 1));
        for bad in [
            &b"24:00"[..],
            b"12:15",
            b"12:31",
            b"9:00",
            b"09:0",
            b"09:000",
            b"09-00",
            b"+9:00",
            b"0a:00",
            b"",
        ] {
            assert_eq!(
                slot_of_time(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn new_week_is_all_unavailable() {
        let week = Week::empty();
        assert!((0..SLOTS_PER_WEEK).all(|i| week.get_index(i) == Status::Unavailable));
    }

    #[test]
    fn set_and_get_round_trip_without_touching_neighbours() {
        let mut week = Week::empty();
        week.set(2, 28, Status::Available);
        week.set(2, 29, Status::Maybe);
        assert_eq!(week.get(2, 27), Status::Unavailable);
        assert_eq!(week.get(2, 28), Status::Available);
        assert_eq!(week.get(2, 29), Status::Maybe);
        assert_eq!(week.get(2, 30), Status::Unavailable);
        week.set(2, 28, Status::Unavailable);
        assert_eq!(week.get(2, 28), Status::Unavailable);
        assert_eq!(week.get(2, 29), Status::Maybe);
    }

    #[test]
    fn layout_matches_spec() {
        let mut week = Week::empty();
        // Slot i = 2*48+28 = 124 → byte 31, bits 0..2.
        week.set(2, 28, Status::Maybe);
        assert_eq!(week.as_bytes()[31], 0b10);
        week.set_index(127, Status::Available);
        assert_eq!(week.as_bytes()[31], 0b0100_0010);
    }

    #[test]
    fn code_three_is_rejected_with_its_slot() {
        let mut bytes = [0u8; WEEK_LEN_BYTES];
        bytes[10] = 0b0011_0000;
        assert_eq!(
            Week::from_bytes(&bytes),
            Err(InvalidCode { slot_index: 42 })
        );
        bytes[10] = 0b1001_0100;
        assert!(Week::from_bytes(&bytes).is_ok());
    }

    #[test]
    fn least_available_order() {
        use Status::*;
        assert_eq!(Available.least(Maybe), Maybe);
        assert_eq!(Maybe.least(Unavailable), Unavailable);
        assert_eq!(Available.least(Available), Available);
        assert_eq!(Status::parse("maybe"), Some(Maybe));
        assert_eq!(Status::parse("Maybe"), None);
    }
}
