//! The 168-byte on-disk image (SPEC §2): layout, encoding and validation. Pure functions,
//! no I/O, so the fuzzer and the unit tests can drive `decode` with any bytes.

use std::mem::{align_of, offset_of, size_of};
use std::ops::Range;

use bytemuck::{Pod, Zeroable};

use crate::week::Week;
use crate::week::bitmap::{DAY_NAMES, SLOTS_PER_DAY, WEEK_LEN_BYTES};
use crate::week::zones::{self, ZoneId};

/// Exact size of the data file.
pub const FILE_LEN_BYTES: usize = 168;
/// First 8 bytes of every data file.
pub const MAGIC: [u8; 8] = *b"AVAILWK1";
/// The only format version this build reads and writes.
pub const FORMAT_VERSION: u16 = 1;
/// Room for the home timezone name, zero-padded (the longest IANA name is 32 bytes).
pub const TZ_FIELD_LEN_BYTES: usize = 52;

/// Bytes protected by the CRC-32: everything after the CRC field.
const CRC_COVERED: Range<usize> = 16..FILE_LEN_BYTES;

/// The file viewed in place as a `#[repr(C)]` Pod struct. Every field is a byte array, so
/// the struct has alignment 1 (any byte slice of the right length can be viewed as it)
/// and multi-byte numbers are explicitly little-endian on every host. The two long fields
/// are arrays of 4-byte chunks only so that the `Pod` derive needs no bytemuck
/// const-generics feature.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct RawFile {
    magic: [u8; 8],
    version_le: [u8; 2],
    reserved: [u8; 2],
    crc32_le: [u8; 4],
    generation_le: [u8; 8],
    written_unix_ms_le: [u8; 8],
    home_tz: [[u8; 4]; TZ_FIELD_LEN_BYTES / 4],
    week: [[u8; 4]; WEEK_LEN_BYTES / 4],
}

// The layout is the format: pin every offset of SPEC §2 at compile time.
const _: () = {
    assert!(size_of::<RawFile>() == FILE_LEN_BYTES);
    assert!(align_of::<RawFile>() == 1);
    assert!(offset_of!(RawFile, magic) == 0);
    assert!(offset_of!(RawFile, version_le) == 8);
    assert!(offset_of!(RawFile, reserved) == 10);
    assert!(offset_of!(RawFile, crc32_le) == 12);
    assert!(offset_of!(RawFile, generation_le) == 16);
    assert!(offset_of!(RawFile, written_unix_ms_le) == 24);
    assert!(offset_of!(RawFile, home_tz) == 32);
    assert!(size_of::<[[u8; 4]; TZ_FIELD_LEN_BYTES / 4]>() == TZ_FIELD_LEN_BYTES);
    assert!(offset_of!(RawFile, week) == 84);
    assert!(size_of::<[[u8; 4]; WEEK_LEN_BYTES / 4]>() == WEEK_LEN_BYTES);
};

/// The decoded content of a valid data file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// Increases by 1 on every committed write; 0 for a new file.
    pub generation: u64,
    /// Time of the write that produced this image, Unix milliseconds.
    pub written_unix_ms: u64,
    /// The owner's home timezone, in which `week` is expressed.
    pub home_tz: ZoneId,
    /// The home pattern.
    pub week: Week,
}

/// Encodes a record as the complete 168-byte file image, CRC included. The timezone is
/// written with its canonical spelling from the zone table.
pub fn encode(record: &Record) -> [u8; FILE_LEN_BYTES] {
    let name = zones::name(record.home_tz).as_bytes();
    // Invariant of the zone table: every IANA name is far shorter than the field.
    assert!(
        !name.is_empty() && name.len() <= TZ_FIELD_LEN_BYTES && !name.contains(&0),
        "zone name {name:?} does not fit the {TZ_FIELD_LEN_BYTES}-byte field"
    );
    let mut raw = RawFile::zeroed();
    raw.magic = MAGIC;
    raw.version_le = FORMAT_VERSION.to_le_bytes();
    raw.generation_le = record.generation.to_le_bytes();
    raw.written_unix_ms_le = record.written_unix_ms.to_le_bytes();
    raw.home_tz.as_flattened_mut()[..name.len()].copy_from_slice(name);
    raw.week
        .as_flattened_mut()
        .copy_from_slice(record.week.as_bytes());
    let crc = crc32fast::hash(&bytemuck::bytes_of(&raw)[CRC_COVERED]);
    raw.crc32_le = crc.to_le_bytes();
    bytemuck::bytes_of(&raw)
        .try_into()
        .expect("RawFile is FILE_LEN_BYTES long (checked at compile time)")
}

/// Validates a file image and decodes it. Checks, in order: size, magic, version,
/// reserved bytes, CRC-32 of bytes 16..168, the timezone name (UTF-8, zero padded, known
/// to the zone table) and every 2-bit week code. The error says what is wrong in words
/// fit for an operator. Never panics, whatever the input.
pub fn decode(bytes: &[u8]) -> Result<Record, String> {
    if bytes.len() != FILE_LEN_BYTES {
        return Err(size_problem(bytes.len() as u64));
    }
    let raw: &RawFile = bytemuck::try_from_bytes(bytes)
        .map_err(|err| format!("cannot view the bytes as the file layout: {err:?}"))?;
    if raw.magic != MAGIC {
        return Err(format!(
            "bad magic \"{}\" (expected \"{}\"): this is not an availability data file",
            raw.magic.escape_ascii(),
            MAGIC.escape_ascii()
        ));
    }
    let version = u16::from_le_bytes(raw.version_le);
    if version != FORMAT_VERSION {
        return Err(format!(
            "unsupported format version {version} (this build reads version {FORMAT_VERSION})"
        ));
    }
    if raw.reserved != [0, 0] {
        return Err(format!(
            "reserved bytes 10-11 are {:#04x} {:#04x}, expected zero",
            raw.reserved[0], raw.reserved[1]
        ));
    }
    let stored_crc = u32::from_le_bytes(raw.crc32_le);
    let computed_crc = crc32fast::hash(&bytes[CRC_COVERED]);
    if stored_crc != computed_crc {
        return Err(format!(
            "CRC-32 mismatch (stored {stored_crc:#010x}, computed {computed_crc:#010x})"
        ));
    }
    let home_tz = decode_zone(raw.home_tz.as_flattened())?;
    let week_bytes: &[u8; WEEK_LEN_BYTES] = raw
        .week
        .as_flattened()
        .try_into()
        .expect("week field is WEEK_LEN_BYTES long (checked at compile time)");
    let week = Week::from_bytes(week_bytes).map_err(|bad| slot_problem(bad.slot_index))?;
    Ok(Record {
        generation: u64::from_le_bytes(raw.generation_le),
        written_unix_ms: u64::from_le_bytes(raw.written_unix_ms_le),
        home_tz,
        week,
    })
}

/// The problem text for a file of the wrong length (shared with the loader, which checks
/// the length before mapping).
pub(super) fn size_problem(len_bytes: u64) -> String {
    format!("wrong size: {len_bytes} bytes, expected exactly {FILE_LEN_BYTES}")
}

fn decode_zone(field: &[u8]) -> Result<ZoneId, String> {
    let name_len = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    let (name, padding) = field.split_at(name_len);
    if name.is_empty() {
        return Err("home timezone name (bytes 32-83) is empty".to_owned());
    }
    if padding.iter().any(|&b| b != 0) {
        return Err(format!(
            "home timezone field (bytes 32-83) has non-zero bytes after the name \"{}\" \
             and its terminating NUL; it must be zero-padded",
            name.escape_ascii()
        ));
    }
    let text = std::str::from_utf8(name).map_err(|err| {
        format!(
            "home timezone name \"{}\" is not valid UTF-8 ({err})",
            name.escape_ascii()
        )
    })?;
    zones::lookup(text.as_bytes()).ok_or_else(|| {
        format!("unknown home timezone {text:?} (not an IANA zone this build knows)")
    })
}

fn slot_problem(slot_index: usize) -> String {
    let day = slot_index / SLOTS_PER_DAY;
    let slot = slot_index % SLOTS_PER_DAY;
    let day_name = DAY_NAMES.get(day).copied().unwrap_or("day out of range");
    let start_min = slot * 30;
    format!(
        "invalid status code 3 in week slot {slot_index} (day {day} slot {slot}: \
         {day_name} {:02}:{:02} home time); valid codes are 0, 1 and 2",
        start_min / 60,
        start_min % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::week::Status;

    fn tokyo() -> ZoneId {
        zones::lookup(b"Asia/Tokyo").expect("Asia/Tokyo is an IANA zone")
    }

    fn sample() -> Record {
        let mut week = Week::empty();
        week.set(0, 0, Status::Available);
        week.set(2, 28, Status::Maybe);
        week.set(6, 47, Status::Available);
        Record {
            generation: 7,
            written_unix_ms: 1_790_000_000_123,
            home_tz: tokyo(),
            week,
        }
    }

    /// Recomputes the CRC independently of `encode`, so a test can corrupt a field while
    /// keeping the checksum valid.
    fn reseal(bytes: &mut [u8; FILE_LEN_BYTES]) {
        let crc = crc32fast::hash(&bytes[16..168]);
        bytes[12..16].copy_from_slice(&crc.to_le_bytes());
    }

    fn with_tz(name: &[u8]) -> [u8; FILE_LEN_BYTES] {
        let mut bytes = encode(&sample());
        bytes[32..84].fill(0);
        bytes[32..32 + name.len()].copy_from_slice(name);
        reseal(&mut bytes);
        bytes
    }

    fn problem(bytes: &[u8]) -> String {
        decode(bytes).expect_err("the image is invalid")
    }

    #[test]
    fn round_trip() {
        assert_eq!(decode(&encode(&sample())), Ok(sample()));
        let utc_record = Record {
            home_tz: zones::utc(),
            week: Week::empty(),
            ..sample()
        };
        assert_eq!(decode(&encode(&utc_record)), Ok(utc_record));
    }

    #[test]
    fn wrong_sizes() {
        let good = encode(&sample());
        assert!(problem(&good[..167]).contains("wrong size: 167 bytes"));
        assert!(problem(&[]).contains("wrong size: 0 bytes"));
        let mut long = good.to_vec();
        long.push(0);
        assert!(problem(&long).contains("wrong size: 169 bytes, expected exactly 168"));
    }

    #[test]
    fn wrong_magic() {
        let mut bytes = encode(&sample());
        bytes[0..8].copy_from_slice(b"AVAILWK2");
        assert!(problem(&bytes).contains("bad magic \"AVAILWK2\""));
    }

    #[test]
    fn version_is_little_endian_and_checked() {
        let mut bytes = encode(&sample());
        assert_eq!(bytes[8..10], [1, 0]);
        bytes[8..10].copy_from_slice(&[2, 0]);
        assert!(problem(&bytes).contains("unsupported format version 2"));
        // Big-endian 1 reads as 256.
        bytes[8..10].copy_from_slice(&[0, 1]);
        assert!(problem(&bytes).contains("unsupported format version 256"));
    }

    #[test]
    fn reserved_must_be_zero() {
        let mut bytes = encode(&sample());
        bytes[11] = 0x80;
        assert!(problem(&bytes).contains("reserved bytes 10-11 are 0x00 0x80"));
    }

    #[test]
    fn crc_mismatch_names_both_values() {
        let mut bytes = encode(&sample());
        let stored = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
        bytes[100] ^= 0b0100; // Week byte 16, slot 65: code 0 -> 1, still valid.
        let computed = crc32fast::hash(&bytes[16..168]);
        assert_eq!(
            problem(&bytes),
            format!("CRC-32 mismatch (stored {stored:#010x}, computed {computed:#010x})")
        );
    }

    #[test]
    fn code_three_with_valid_crc_names_the_slot() {
        let mut bytes = encode(&sample());
        // Slot (2, 28) is index 124: byte 31 of the week, bits 0-1.
        bytes[84 + 31] |= 0b11;
        reseal(&mut bytes);
        let text = problem(&bytes);
        assert!(text.contains("slot 124"), "{text}");
        assert!(text.contains("Wednesday 14:00"), "{text}");
        // The CRC is checked first: without resealing, the CRC is what is reported.
        let mut unsealed = encode(&sample());
        unsealed[84 + 31] |= 0b11;
        assert!(problem(&unsealed).starts_with("CRC-32 mismatch"));
    }

    #[test]
    fn timezone_field_rules() {
        assert!(
            problem(&with_tz(b"Mars/Olympus_Mons"))
                .contains("unknown home timezone \"Mars/Olympus_Mons\"")
        );
        assert!(problem(&with_tz(b"Asia/\xffokyo")).contains("not valid UTF-8"));
        assert!(problem(&with_tz(b"")).contains("empty"));
        assert!(problem(&with_tz(b"UTC\0\0x")).contains("non-zero bytes after the name \"UTC\""));
        // Lookup is case-insensitive; the record holds the zone, whose name is canonical.
        let record = decode(&with_tz(b"asia/tokyo")).expect("a known zone in another case");
        assert_eq!(record.home_tz, tokyo());
        assert_eq!(zones::name(record.home_tz), "Asia/Tokyo");
        assert_eq!(&encode(&record)[32..42], b"Asia/Tokyo");
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let good = encode(&sample());
        for bit in 0..FILE_LEN_BYTES * 8 {
            let mut bytes = good;
            bytes[bit / 8] ^= 1 << (bit % 8);
            assert!(decode(&bytes).is_err(), "flip of bit {bit} went unnoticed");
        }
    }

    #[test]
    fn never_panics_on_noise() {
        // xorshift64: deterministic noise, lengths around the valid one, and valid images
        // with random bytes changed and the CRC fixed so the later checks run too.
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..4000 {
            let len = if round % 2 == 0 {
                FILE_LEN_BYTES
            } else {
                (next() % 200) as usize
            };
            let noise: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let _ = decode(&noise);
            let mut bytes = encode(&sample());
            for _ in 0..(next() % 4 + 1) {
                bytes[(next() % FILE_LEN_BYTES as u64) as usize] = next() as u8;
            }
            reseal(&mut bytes);
            let _ = decode(&bytes);
        }
    }
}
