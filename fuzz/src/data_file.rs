//! Properties of `store::decode` / `store::encode` (the `data_file` target), against an
//! oracle written from SPEC §2 with its own bitwise CRC-32.
//!
//! Exact round-trip property: `decode` accepts a zone name in any ASCII case and the
//! record keeps only the zone, so `encode(decode(x))` equals `x` except that bytes
//! 32–83 hold the canonical spelling and bytes 12–15 the CRC over that. Hence:
//! `encode(decode(x)) == x` exactly when the stored name is already canonical; in every
//! case it differs from `x` only in the case of name letters and in the CRC field.

use availability_server::store::{FILE_LEN_BYTES, decode, encode};
use availability_server::week::zones;

use crate::crc32::crc32;

const MAGIC: &[u8; 8] = b"AVAILWK1";

pub fn check(data: &[u8]) {
    check_image(data);
    if data.len() == FILE_LEN_BYTES {
        // Random bytes almost never carry a valid CRC: also check the image resealed,
        // so the checks after the CRC run on mutated content.
        let mut sealed = data.to_vec();
        reseal(&mut sealed);
        check_image(&sealed);
    }
    // And forced to the right size with a valid header, so the zone and week checks
    // see fuzzed bytes on nearly every run.
    let mut fixed = data.to_vec();
    fixed.resize(FILE_LEN_BYTES, 0);
    fixed[..8].copy_from_slice(MAGIC);
    fixed[8..12].copy_from_slice(&[1, 0, 0, 0]);
    reseal(&mut fixed);
    check_image(&fixed);
}

fn reseal(image: &mut [u8]) {
    let crc = crc32(&image[16..FILE_LEN_BYTES]);
    image[12..16].copy_from_slice(&crc.to_le_bytes());
}

/// accept ⇔ the oracle accepts, and accepted images decode to exactly their fields.
fn check_image(bytes: &[u8]) {
    let decoded = decode(bytes);
    let oracle = oracle_accepts(bytes);
    assert_eq!(
        decoded.is_ok(),
        oracle,
        "decode {:?} but the SPEC §2 oracle says {oracle}",
        decoded.as_ref().map(|_| "accepted")
    );
    let Ok(record) = decoded else { return };
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    assert_eq!(record.generation, u64_at(16));
    assert_eq!(record.written_unix_ms, u64_at(24));
    assert_eq!(record.week.as_bytes()[..], bytes[84..168]);
    let stored_name = stored_zone_name(bytes);
    let canonical = zones::name(record.home_tz).as_bytes();
    assert!(
        canonical.eq_ignore_ascii_case(stored_name),
        "zone {canonical:?} for {stored_name:?}"
    );

    let again = encode(&record);
    assert_eq!(again[..12], bytes[..12], "header bytes changed");
    assert_eq!(again[16..32], bytes[16..32], "generation or time changed");
    assert_eq!(again[84..], bytes[84..], "week changed");
    assert_eq!(&again[32..32 + canonical.len()], canonical);
    assert!(
        again[32 + canonical.len()..84].iter().all(|&b| b == 0),
        "padding"
    );
    assert_eq!(
        again[12..16],
        crc32(&again[16..]).to_le_bytes(),
        "CRC of the encoding"
    );
    if stored_name == canonical {
        assert_eq!(
            again[..],
            bytes[..],
            "canonical image did not round-trip byte for byte"
        );
    }
    assert_eq!(
        decode(&again),
        Ok(record),
        "encode(decode(x)) does not decode to the same"
    );
}

/// The acceptance rule of SPEC §2 and store/format.rs, written independently.
fn oracle_accepts(bytes: &[u8]) -> bool {
    if bytes.len() != FILE_LEN_BYTES || &bytes[..8] != MAGIC || bytes[8..12] != [1, 0, 0, 0] {
        return false;
    }
    let stored_crc = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
    if stored_crc != crc32(&bytes[16..]) {
        return false;
    }
    let field = &bytes[32..84];
    let name = stored_zone_name(bytes);
    let padding_zero = field[name.len()..].iter().all(|&b| b == 0);
    let known = crate::query::zone_by_lowercase_name(name).is_some();
    let codes_valid = bytes[84..]
        .iter()
        .all(|&b| (0..4).all(|lane| (b >> (2 * lane)) & 3 != 3));
    !name.is_empty() && padding_zero && known && codes_valid
}

/// Bytes 32–83 up to the first NUL.
fn stored_zone_name(bytes: &[u8]) -> &[u8] {
    let field = &bytes[32..84];
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}
