//! The zone table: every IANA zone chrono-tz knows, addressed by a small copyable id.
//!
//! Name lookup is ASCII case-insensitive and allocation-free (it runs on the read path):
//! a table of ids sorted by lower-cased name is built once, then binary-searched while
//! lower-casing bytes on the fly.

use std::cmp::Ordering;
use std::sync::OnceLock;

use chrono_tz::{TZ_VARIANTS, Tz};

/// Longest name `lookup` accepts; the longest IANA name is 32 bytes.
pub const MAX_NAME_LEN_BYTES: usize = 64;

/// A zone, as its index into `chrono_tz::TZ_VARIANTS`.
///
/// Obtain ids from [`lookup`], [`all`], [`id_of`] or [`utc`]; functions taking a
/// `ZoneId` panic on an index `>= count()` (a programming error, never input-derived).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ZoneId(pub u16);

/// Number of known zones.
pub fn count() -> usize {
    TZ_VARIANTS.len()
}

/// Every zone, in `TZ_VARIANTS` order.
pub fn all() -> impl Iterator<Item = ZoneId> {
    // Invariant: chrono-tz has far fewer than 65 536 zones (597 in 0.10).
    let zone_count = u16::try_from(count()).expect("zone count fits in u16");
    (0..zone_count).map(ZoneId)
}

/// The chrono-tz zone for `id`.
pub fn tz(id: ZoneId) -> Tz {
    TZ_VARIANTS[usize::from(id.0)]
}

/// The zone's canonical spelling, e.g. `"Asia/Tokyo"`.
pub fn name(id: ZoneId) -> &'static str {
    tz(id).name()
}

/// The id of a chrono-tz zone.
pub fn id_of(zone: Tz) -> ZoneId {
    // `Tz` is a field-less enum generated in the same order as `TZ_VARIANTS`; the check
    // keeps this correct even if a future chrono-tz breaks that.
    let index = zone as usize;
    let index = if TZ_VARIANTS.get(index) == Some(&zone) {
        index
    } else {
        TZ_VARIANTS
            .iter()
            .position(|&known| known == zone)
            .expect("every Tz is in TZ_VARIANTS")
    };
    ZoneId(u16::try_from(index).expect("zone count fits in u16"))
}

/// The `UTC` zone.
pub fn utc() -> ZoneId {
    id_of(Tz::UTC)
}

/// Ids sorted by ASCII-lower-cased name, built once.
fn sorted_ids() -> &'static [ZoneId] {
    static SORTED: OnceLock<Box<[ZoneId]>> = OnceLock::new();
    SORTED.get_or_init(|| {
        let mut ids: Vec<ZoneId> = all().collect();
        ids.sort_by(|a, b| compare_ignoring_case(name(*a).as_bytes(), name(*b).as_bytes()));
        ids.into_boxed_slice()
    })
}

/// Builds the lookup table now, so the first read does not pay for it.
pub fn init() {
    sorted_ids();
}

fn compare_ignoring_case(left: &[u8], right: &[u8]) -> Ordering {
    let left_lower = left.iter().map(u8::to_ascii_lowercase);
    let right_lower = right.iter().map(u8::to_ascii_lowercase);
    left_lower.cmp(right_lower)
}

/// Finds a zone by name, ASCII case-insensitively (`"asia/TOKYO"` → Asia/Tokyo).
///
/// Returns `None` for empty, over-long (> 64 bytes), non-UTF-8 or unknown names.
/// Never allocates (after the table is built; see [`init`]).
pub fn lookup(name_bytes: &[u8]) -> Option<ZoneId> {
    if name_bytes.is_empty() || name_bytes.len() > MAX_NAME_LEN_BYTES {
        return None;
    }
    std::str::from_utf8(name_bytes).ok()?;
    let ids = sorted_ids();
    let index = ids
        .binary_search_by(|id| compare_ignoring_case(name(*id).as_bytes(), name_bytes))
        .ok()?;
    Some(ids[index])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_variant_order() {
        for (index, &zone) in TZ_VARIANTS.iter().enumerate() {
            assert_eq!(usize::from(id_of(zone).0), index);
            assert_eq!(tz(id_of(zone)), zone);
        }
        assert_eq!(all().count(), count());
    }

    #[test]
    fn names_are_unique_ignoring_case() {
        // Case-insensitive matching is only well defined if no two names collide.
        let ids = sorted_ids();
        for pair in ids.windows(2) {
            let (a, b) = (name(pair[0]).as_bytes(), name(pair[1]).as_bytes());
            assert_eq!(compare_ignoring_case(a, b), Ordering::Less, "{a:?} {b:?}");
        }
    }

    #[test]
    fn every_name_round_trips_in_any_case() {
        for id in all() {
            let canonical = name(id);
            assert_eq!(lookup(canonical.as_bytes()), Some(id));
            assert_eq!(lookup(canonical.to_ascii_uppercase().as_bytes()), Some(id));
            assert_eq!(lookup(canonical.to_ascii_lowercase().as_bytes()), Some(id));
        }
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(lookup(b""), None);
        assert_eq!(lookup(b"Asia/Tokyo "), None);
        assert_eq!(lookup(b"Asia/Tokyoo"), None);
        assert_eq!(lookup(b"Asia/Toky"), None);
        assert_eq!(lookup(b"\xffsia/Tokyo"), None);
        assert_eq!(lookup(&[b'a'; MAX_NAME_LEN_BYTES + 1]), None);
        assert_eq!(lookup(b"UTC").map(name), Some("UTC"));
        assert_eq!(utc(), lookup(b"utc").expect("UTC is known"));
    }
}
