//! The availability domain with no I/O: the packed home week, the viewer-grid rule
//! and the zone table. Nothing here knows about HTTP, files or threads.

pub mod bitmap;
pub mod grid;
pub mod zones;

pub use bitmap::{
    DAY_NAMES, DAYS_PER_WEEK, SLOTS_PER_DAY, SLOTS_PER_WEEK, Status, Week, slot_of_time,
};
