//! The zone table: every IANA zone chrono-tz knows, addressed by a small copyable id.
//!
//! Name lookup is ASCII case-insensitive and allocation-free (it runs on the read path):
//! a hash table of lower-cased names is built once ([`init`]), then probed with the
//! lower-cased input.

use std::ops::Range;
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

/// Name → id index for [`lookup`]: an open-addressed hash table over lower-cased
/// names. It replaced a binary search that lower-cased both sides of ~10 comparisons
/// and went through `Tz::name()` each time (~200 ns → one hash and one memcmp).
struct NameIndex {
    /// Every zone name, ASCII-lower-cased, concatenated.
    lower_names: Box<[u8]>,
    /// Per `ZoneId`: where its lower-cased name sits in `lower_names`.
    name_ranges: Box<[Range<u32>]>,
    /// `ZoneId + 1` per slot, 0 for empty; the length is a power of two.
    slots: Box<[u16]>,
}

impl NameIndex {
    fn build() -> NameIndex {
        let mut lower_names = Vec::new();
        let mut name_ranges = Vec::with_capacity(count());
        for id in all() {
            let start = u32::try_from(lower_names.len()).expect("names fit in u32");
            lower_names.extend(name(id).bytes().map(|b| b.to_ascii_lowercase()));
            let end = u32::try_from(lower_names.len()).expect("names fit in u32");
            name_ranges.push(start..end);
        }
        // A load factor below 1/2 keeps probe chains to a slot or two.
        let slot_count = (count() * 2).next_power_of_two();
        let mut slots = vec![0u16; slot_count].into_boxed_slice();
        for id in all() {
            let lower = &lower_names[usize_range(&name_ranges[usize::from(id.0)])];
            let mut slot = slot_of(hash_lower(lower), slot_count);
            while slots[slot] != 0 {
                slot = (slot + 1) & (slot_count - 1);
            }
            slots[slot] = id.0 + 1;
        }
        NameIndex {
            lower_names: lower_names.into_boxed_slice(),
            name_ranges: name_ranges.into_boxed_slice(),
            slots,
        }
    }

    fn lower_name(&self, id: u16) -> &[u8] {
        &self.lower_names[usize_range(&self.name_ranges[usize::from(id)])]
    }

    fn find(&self, lower: &[u8]) -> Option<ZoneId> {
        let mask = self.slots.len() - 1;
        let mut slot = slot_of(hash_lower(lower), self.slots.len());
        loop {
            let id = self.slots[slot].checked_sub(1)?;
            if self.lower_name(id) == lower {
                return Some(ZoneId(id));
            }
            slot = (slot + 1) & mask;
        }
    }
}

fn usize_range(range: &Range<u32>) -> Range<usize> {
    range.start as usize..range.end as usize
}

/// FxHash-style: eight bytes per multiply, then the length.
fn hash_lower(lower: &[u8]) -> u64 {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    let mut chunks = lower.chunks_exact(8);
    let mut hash = 0u64;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
        hash = (hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    hash = (hash.rotate_left(5) ^ u64::from_le_bytes(tail)).wrapping_mul(SEED);
    (hash.rotate_left(5) ^ lower.len() as u64).wrapping_mul(SEED)
}

/// The top bits of the hash are the best mixed.
fn slot_of(hash: u64, slot_count: usize) -> usize {
    (hash >> (u64::BITS - slot_count.trailing_zeros())) as usize
}

fn name_index() -> &'static NameIndex {
    static INDEX: OnceLock<NameIndex> = OnceLock::new();
    INDEX.get_or_init(NameIndex::build)
}

/// Builds the lookup table now, so the first read does not pay for it (nor allocate).
pub fn init() {
    name_index();
}

/// Finds a zone by name, ASCII case-insensitively (`"asia/TOKYO"` → Asia/Tokyo).
///
/// Returns `None` for empty, over-long (> 64 bytes), non-UTF-8 or unknown names.
/// Never allocates (after the table is built; see [`init`]).
pub fn lookup(name_bytes: &[u8]) -> Option<ZoneId> {
    if name_bytes.is_empty() || name_bytes.len() > MAX_NAME_LEN_BYTES {
        return None;
    }
    // No UTF-8 check needed: a match differs from a (UTF-8) zone name only in the case
    // of ASCII letters, so it is UTF-8 too, and non-UTF-8 input never matches.
    let mut lower_buf = [0u8; MAX_NAME_LEN_BYTES];
    let lower = &mut lower_buf[..name_bytes.len()];
    for (lower_byte, &byte) in lower.iter_mut().zip(name_bytes) {
        *lower_byte = byte.to_ascii_lowercase();
    }
    name_index().find(lower)
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
        let mut lower: Vec<String> = all().map(|id| name(id).to_ascii_lowercase()).collect();
        lower.sort();
        for pair in lower.windows(2) {
            assert_ne!(pair[0], pair[1]);
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
    fn probe_chains_stay_short() {
        // The point of the table is one hash and about one comparison per lookup; a
        // weak hash would still find every name, only slowly. Bound both a hit's
        // distance from its home slot and a miss's walk to an empty slot.
        let index = name_index();
        let mask = index.slots.len() - 1;
        let mut longest_hit_probes = 0;
        let mut total_hit_probes = 0;
        for id in all() {
            let mut slot = slot_of(hash_lower(index.lower_name(id.0)), index.slots.len());
            let mut probes = 1;
            while index.slots[slot] != id.0 + 1 {
                slot = (slot + 1) & mask;
                probes += 1;
            }
            longest_hit_probes = longest_hit_probes.max(probes);
            total_hit_probes += probes;
        }
        let mut longest_run = 0;
        let mut run = 0;
        for &entry in index.slots.iter().chain(index.slots.iter()) {
            run = if entry == 0 { 0 } else { run + 1 };
            longest_run = longest_run.max(run);
        }
        // Measured with chrono-tz 0.10's 599 zones: longest hit 5, mean 1.20, run 7; the
        // bounds leave room for tzdata to add zones.
        assert!(
            longest_hit_probes <= 8,
            "longest hit: {longest_hit_probes} probes"
        );
        assert!(
            total_hit_probes * 10 <= count() * 15,
            "mean over 1.5 probes"
        );
        assert!(longest_run <= 16, "a miss may walk {longest_run} slots");
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
