//! A zone's UTC offset as a step function of time: where it changes, to the second.
//!
//! chrono-tz does not expose its transition table, so the offset is sampled every
//! 15 minutes and each change is bisected to the exact second. This finds every change
//! as long as no zone changes its offset twice within 15 minutes, which the tz database
//! never does (real transitions are months, at the very least days, apart).

use chrono::{DateTime, Offset, TimeZone};
use chrono_tz::Tz;

/// Distance between offset samples.
const SAMPLE_STEP_SECS: i64 = 15 * 60;

/// `local - UTC` in seconds for `zone` at the instant `unix_secs`.
///
/// Panics only outside chrono's representable range (about ±262 000 years).
pub(super) fn offset_secs(zone: Tz, unix_secs: i64) -> i64 {
    let utc = DateTime::from_timestamp(unix_secs, 0)
        .expect("instant within chrono's range")
        .naive_utc();
    i64::from(zone.offset_from_utc_datetime(&utc).fix().local_minus_utc())
}

/// Appends every instant in `(start_unix_secs, end_unix_secs]` at which `zone`'s offset
/// changes (the first second of the new offset), in increasing order.
pub(super) fn push_transitions(
    zone: Tz,
    start_unix_secs: i64,
    end_unix_secs: i64,
    out: &mut Vec<i64>,
) {
    let mut previous_secs = start_unix_secs;
    let mut previous_offset_secs = offset_secs(zone, previous_secs);
    while previous_secs < end_unix_secs {
        let sample_secs = previous_secs
            .saturating_add(SAMPLE_STEP_SECS)
            .min(end_unix_secs);
        let sample_offset_secs = offset_secs(zone, sample_secs);
        if sample_offset_secs != previous_offset_secs {
            out.push(first_change(
                zone,
                previous_secs,
                sample_secs,
                previous_offset_secs,
            ));
        }
        previous_secs = sample_secs;
        previous_offset_secs = sample_offset_secs;
    }
}

/// The first instant in `(before_secs, after_secs]` whose offset differs from
/// `before_offset_secs`, given that the offset at `after_secs` differs.
fn first_change(
    zone: Tz,
    mut before_secs: i64,
    mut after_secs: i64,
    before_offset_secs: i64,
) -> i64 {
    while after_secs - before_secs > 1 {
        let middle_secs = before_secs + (after_secs - before_secs) / 2;
        if offset_secs(zone, middle_secs) == before_offset_secs {
            before_secs = middle_secs;
        } else {
            after_secs = middle_secs;
        }
    }
    after_secs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_new_york_spring_forward_to_the_second() {
        // 2026-03-08 02:00 EST (-5 h) = 07:00:00 UTC = 1 772 953 200.
        let change_secs = 1_772_953_200;
        let mut found = Vec::new();
        push_transitions(
            chrono_tz::America::New_York,
            change_secs - 86_400,
            change_secs + 86_400,
            &mut found,
        );
        assert_eq!(found, vec![change_secs]);
        assert_eq!(
            offset_secs(chrono_tz::America::New_York, change_secs - 1),
            -5 * 3600
        );
        assert_eq!(
            offset_secs(chrono_tz::America::New_York, change_secs),
            -4 * 3600
        );
    }

    #[test]
    fn finds_nothing_in_a_fixed_zone() {
        let mut found = Vec::new();
        push_transitions(chrono_tz::Asia::Tokyo, 0, 30 * 86_400 + 17, &mut found);
        assert!(found.is_empty());
    }
}
