//! Which two weeks each zone's answers cover, and the distinct cell maps that
//! turn the home week into those zones' grids. Owned by the writer thread.

use std::collections::HashMap;

use chrono::{Days, NaiveDate};

use super::Snapshot;
use super::prefix::Prefixes;
use super::tags::TagKey;
use crate::http::date::write_ymd;
use crate::week::Week;
use crate::week::grid::{CellMap, current_week_start, week_end_unix_secs};
use crate::week::zones::{self, ZoneId};

#[derive(Clone, Copy, Debug)]
pub(crate) struct ZoneWeeks {
    pub starts: [NaiveDate; 2],
    /// `starts` as `YYYY-MM-DD`.
    pub start_texts: [[u8; 10]; 2],
    pub maps: [u32; 2],
    pub starts_at_unix_s: i64,
    pub switch_at_unix_s: i64,
    pub expires_at_unix_s: i64,
}

pub struct Calendar {
    home: ZoneId,
    maps: Vec<CellMap>,
    zones: Vec<ZoneWeeks>,
    /// Kept in step with `zones` (see `prefix.rs`).
    prefixes: Prefixes,
    /// Every snapshot's entity tags are made with it (see `tags.rs`).
    tag_key: TagKey,
}

impl Calendar {
    /// Builds every zone's cell maps for its current and next week.
    pub fn new(home: ZoneId, now_unix_s: i64) -> Calendar {
        let mut cal = Calendar {
            home,
            maps: Vec::new(),
            zones: Vec::new(),
            prefixes: Prefixes::render(&[]),
            tag_key: TagKey::new(),
        };
        let mut index = HashMap::new();
        let zones: Vec<ZoneWeeks> = zones::all()
            .map(|zone| {
                let start = current_week_start(zone, now_unix_s);
                cal.weeks_from(zone, start, &mut index)
            })
            .collect();
        cal.prefixes = Prefixes::render(&zones);
        cal.zones = zones;
        cal
    }

    fn weeks_from(
        &mut self,
        zone: ZoneId,
        start: NaiveDate,
        index: &mut HashMap<CellMap, u32>,
    ) -> ZoneWeeks {
        let next = start
            .checked_add_days(Days::new(7))
            .expect("dates stay far from chrono's limits");
        let mut map_id = |week_start: NaiveDate| {
            let map = CellMap::build(self.home, zone, week_start);
            *index.entry(map.clone()).or_insert_with(|| {
                self.maps.push(map);
                (self.maps.len() - 1) as u32
            })
        };
        let maps = [map_id(start), map_id(next)];
        let mut start_texts = [[0u8; 10]; 2];
        write_ymd(start, &mut start_texts[0]);
        write_ymd(next, &mut start_texts[1]);
        ZoneWeeks {
            starts: [start, next],
            start_texts,
            maps,
            starts_at_unix_s: week_end_unix_secs(zone, start - Days::new(7)),
            switch_at_unix_s: week_end_unix_secs(zone, start),
            expires_at_unix_s: week_end_unix_secs(zone, next),
        }
    }

    /// The earliest instant at which some zone moves to its next week.
    pub fn next_switch_unix_s(&self) -> i64 {
        self.zones
            .iter()
            .map(|z| z.switch_at_unix_s)
            .min()
            .unwrap_or(i64::MAX)
    }

    /// Moves every zone whose current week does not contain `now` to the week that
    /// does: one week on after a week ends, or back after the wall clock stepped back
    /// before it began. Returns true if anything changed (the snapshot must be rebuilt).
    pub fn roll(&mut self, now_unix_s: i64) -> bool {
        let stale =
            |zw: &ZoneWeeks| zw.switch_at_unix_s <= now_unix_s || zw.starts_at_unix_s > now_unix_s;
        if !self.zones.iter().any(stale) {
            return false;
        }
        let old_maps = std::mem::take(&mut self.maps);
        let mut index = HashMap::new();
        let old_zones = std::mem::take(&mut self.zones);
        let mut zones = Vec::with_capacity(old_zones.len());
        for (i, zw) in old_zones.iter().enumerate() {
            let zone = ZoneId(i as u16);
            let fresh = if stale(zw) {
                let start = current_week_start(zone, now_unix_s);
                self.weeks_from(zone, start, &mut index)
            } else {
                // Unchanged zone: re-intern its maps into the compacted list.
                let mut keep = |m: u32| {
                    let map = &old_maps[m as usize];
                    *index.entry(map.clone()).or_insert_with(|| {
                        self.maps.push(map.clone());
                        (self.maps.len() - 1) as u32
                    })
                };
                ZoneWeeks {
                    maps: [keep(zw.maps[0]), keep(zw.maps[1])],
                    ..*zw
                }
            };
            zones.push(fresh);
        }
        self.prefixes = Prefixes::render(&zones);
        self.zones = zones;
        true
    }

    pub fn distinct_maps(&self) -> usize {
        self.maps.len()
    }

    /// Renders every zone's answers for `week`.
    pub fn build(&self, week: &Week, generation: u64) -> Snapshot {
        super::build(
            self.home,
            week,
            generation,
            &self.maps,
            &self.zones,
            &self.prefixes,
            &self.tag_key,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_stepped_back_rolls_the_weeks_back() {
        // 2026-11-27T12:00:00Z, a Friday; two weeks earlier is the 13th.
        let now_s = 1_795_780_800;
        let earlier_s = now_s - 14 * 86_400;
        let tokyo = zones::lookup(b"Asia/Tokyo").expect("zone");
        let mut cal = Calendar::new(zones::utc(), now_s);
        assert!(
            !cal.roll(now_s),
            "nothing to do at the time it was built for"
        );
        let snap = cal.build(&Week::empty(), 0);
        assert!(
            snap.answer(tokyo, earlier_s).is_none(),
            "outside the window"
        );
        assert!(cal.roll(earlier_s), "the clock went back two weeks");
        let snap = cal.build(&Week::empty(), 0);
        let answer = snap.answer(tokyo, earlier_s).expect("in the new window");
        assert_eq!(answer.week_start, current_week_start(tokyo, earlier_s));
        assert!(!cal.roll(earlier_s), "and stays put");
    }

    #[test]
    fn a_roll_at_a_switch_instant_happens_once_and_keeps_one_map_per_distinct_map() {
        let now_s = 1_795_780_800; // 2026-11-27T12:00:00Z
        let home = zones::lookup(b"America/New_York").expect("zone");
        let mut cal = Calendar::new(home, now_s);
        let distinct = |cal: &Calendar| {
            let maps: std::collections::HashSet<CellMap> = zones::all()
                .flat_map(|z| cal.zones[usize::from(z.0)].starts.map(|start| (z, start)))
                .map(|(z, start)| CellMap::build(home, z, start))
                .collect();
            maps.len()
        };
        assert_eq!(cal.distinct_maps(), distinct(&cal));
        // At the first switch instant the zones whose week ends then roll, and their new
        // week starts at that very second: a second roll then has nothing to do.
        let switch_s = cal.next_switch_unix_s();
        assert!(cal.roll(switch_s));
        assert!(!cal.roll(switch_s), "a week starting now is current");
        assert_eq!(
            cal.distinct_maps(),
            distinct(&cal),
            "compacted after the roll"
        );
    }
}
