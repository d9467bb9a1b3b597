//! Entity tags of the answers: a keyed hash of what each body is made of.
//!
//! A week's JSON is a function of (zone, week, grid) and its CSV of the grid
//! alone, so within one process equal inputs give equal bytes and a tag can stand
//! for them without hashing 23 KB bodies on every write. The key is random per
//! process: a restart (perhaps a build that renders differently, or a data file
//! made anew at generation 0) never repeats an earlier process's tag, at the cost
//! of one full answer per client after it.

use std::hash::{BuildHasher, RandomState};

use chrono::NaiveDate;

use super::Kind;
use crate::http::etag::{ETag, render};
use crate::week::grid::Grid;
use crate::week::zones::ZoneId;

#[derive(Clone, Debug)]
pub struct TagKey(RandomState);

impl TagKey {
    pub fn new() -> TagKey {
        TagKey(RandomState::new())
    }

    /// A grid's tag, from its status codes as bytes (hashed in one go).
    pub fn grid(&self, grid: &Grid) -> u64 {
        self.0.hash_one(grid.map(|status| status as u8))
    }

    /// The week JSON's (and the slot answers') tag; `grid_tag` from [`TagKey::grid`].
    pub fn json(&self, grid_tag: u64, zone: ZoneId, week_start: NaiveDate) -> u64 {
        self.0.hash_one((b'j', grid_tag, zone.0, week_start))
    }

    /// The CSV's tag: the CSV names no zone and no week.
    pub fn csv(&self, grid_tag: u64) -> u64 {
        self.0.hash_one((b'c', grid_tag))
    }

    /// The quoted tag of one answer built outside a snapshot (the snapshot's build
    /// hashes each distinct grid once instead); the same value the build gives.
    pub fn answer(&self, grid: &Grid, zone: ZoneId, week_start: NaiveDate, kind: Kind) -> ETag {
        let grid_tag = self.grid(grid);
        render(match kind {
            Kind::WeekJson => self.json(grid_tag, zone, week_start),
            Kind::Csv => self.csv(grid_tag),
        })
    }
}

impl Default for TagKey {
    fn default() -> Self {
        TagKey::new()
    }
}
