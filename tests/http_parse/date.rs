//! `format_imf_fixdate`, `DateCache` and `write_ymd`, checked against chrono.

use availability_server::http::{DateCache, IMF_FIXDATE_LEN, format_imf_fixdate, write_ymd};
use chrono::{DateTime, NaiveDate};

fn ours(unix_secs: i64) -> String {
    let mut out = [0u8; IMF_FIXDATE_LEN];
    format_imf_fixdate(unix_secs, &mut out);
    String::from_utf8(out.to_vec()).expect("ASCII")
}

fn chrono_fixdate(unix_secs: i64) -> String {
    let instant = DateTime::from_timestamp(unix_secs, 0).expect("in chrono's range");
    instant.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn unix_secs(y: i32, m: u32, d: u32, hh: u32, mm: u32, ss: u32) -> i64 {
    NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|date| date.and_hms_opt(hh, mm, ss))
        .expect("valid instant")
        .and_utc()
        .timestamp()
}

#[test]
fn known_values() {
    // RFC 9110 §5.6.7's example, and the epoch.
    assert_eq!(ours(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(ours(0), "Thu, 01 Jan 1970 00:00:00 GMT");
}

#[test]
fn matches_chrono_on_every_day_from_1970_to_2200() {
    let end = unix_secs(2200, 12, 31, 23, 59, 59);
    let mut t = 0;
    let mut step = 0;
    while t <= end {
        assert_eq!(ours(t), chrono_fixdate(t), "at {t}");
        // One day plus a varying second offset, so every time of day gets visited.
        step = (step + 7_919) % 86_400;
        t += 86_400 + if step % 2 == 0 { 1 } else { -1 } * (step % 61);
    }
}

#[test]
fn matches_chrono_on_edges() {
    let instants = [
        unix_secs(1972, 2, 29, 12, 0, 0),
        unix_secs(1999, 12, 31, 23, 59, 59),
        unix_secs(2000, 1, 1, 0, 0, 0),
        unix_secs(2000, 2, 29, 23, 59, 59),
        unix_secs(2000, 3, 1, 0, 0, 0),
        unix_secs(2024, 2, 29, 0, 0, 0),
        unix_secs(2100, 2, 28, 23, 59, 59),
        unix_secs(2100, 3, 1, 0, 0, 0),
        unix_secs(2200, 12, 31, 23, 59, 59),
        unix_secs(1969, 12, 31, 23, 59, 59),
        unix_secs(1900, 3, 1, 0, 0, 0),
        unix_secs(1600, 2, 29, 6, 7, 8),
        unix_secs(9999, 12, 31, 23, 59, 59),
        unix_secs(0, 1, 1, 0, 0, 0),
        i64::from(i32::MAX),
    ];
    for t in instants {
        assert_eq!(ours(t), chrono_fixdate(t), "at {t}");
    }
}

#[test]
fn out_of_range_instants_are_clamped_not_panicking() {
    assert_eq!(ours(i64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
    assert_eq!(ours(i64::MIN), "Sat, 01 Jan 0000 00:00:00 GMT");
}

#[test]
fn date_cache_reformats_only_on_a_new_second() {
    let t = unix_secs(2026, 11, 23, 9, 59, 59);
    let mut cache = DateCache::new(t);
    assert_eq!(cache.unix_secs(), t);
    assert_eq!(cache.get(), ours(t).as_bytes());
    assert!(!cache.refresh(t));
    assert!(cache.refresh(t + 1));
    assert_eq!(cache.unix_secs(), t + 1);
    assert_eq!(cache.get(), b"Mon, 23 Nov 2026 10:00:00 GMT");
    // Going backwards (a clock step) is a change too.
    assert!(cache.refresh(t));
    assert_eq!(cache.get(), ours(t).as_bytes());
}

#[test]
fn write_ymd_matches_chrono() {
    let mut day = NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid");
    let end = NaiveDate::from_ymd_opt(2200, 12, 31).expect("valid");
    let mut out = [0u8; 10];
    while day <= end {
        write_ymd(day, &mut out);
        assert_eq!(out, day.format("%Y-%m-%d").to_string().as_bytes());
        day = day + chrono::Days::new(13);
    }
    write_ymd(
        NaiveDate::from_ymd_opt(2026, 11, 23).expect("valid"),
        &mut out,
    );
    assert_eq!(&out, b"2026-11-23");
}
