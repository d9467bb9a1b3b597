//! The JSON prefixes `{"timezone":…,"week_start":…,"slots":` of every zone-week
//! in the calendar's window. They depend on the window, not on the week's
//! contents, so they are rendered when the window moves (start-up, rollover)
//! and each snapshot copies the whole block with one `memcpy` instead of
//! rendering some 1,200 of them per write.

use super::calendar::ZoneWeeks;
use super::json;
use crate::runtime::Span;
use crate::week::zones::{self, ZoneId};

pub(crate) struct Prefixes {
    /// Every prefix, back to back.
    pub bytes: Vec<u8>,
    /// `spans[zone][week]`: the prefix's range in `bytes`.
    pub spans: Vec<[Span; 2]>,
}

impl Prefixes {
    pub fn render(zone_weeks: &[ZoneWeeks]) -> Prefixes {
        let mut bytes = Vec::with_capacity(zone_weeks.len() * 2 * 96);
        let spans = zone_weeks
            .iter()
            .enumerate()
            .map(|(zone_index, zw)| {
                let name = zones::name(ZoneId(zone_index as u16));
                let mut prefix = |w: usize| {
                    let start = bytes.len();
                    json::render_prefix(name, &zw.start_texts[w], &mut bytes);
                    Span {
                        start_bytes: start as u32,
                        len_bytes: (bytes.len() - start) as u32,
                    }
                };
                [prefix(0), prefix(1)]
            })
            .collect();
        assert!(
            bytes.len() <= u32::MAX as usize,
            "prefix block fits u32 offsets"
        );
        Prefixes { bytes, spans }
    }

    /// Zone `zone`'s prefix for window week `week` once the block is copied to `base`.
    pub fn span_at(&self, base: usize, zone: usize, week: usize) -> Span {
        let span = self.spans[zone][week];
        Span {
            start_bytes: span.start_bytes + base as u32,
            len_bytes: span.len_bytes,
        }
    }
}
