//! The `Date` header (IMF-fixdate, RFC 9110 §5.6.7) and `YYYY-MM-DD` formatting, by
//! hand and into fixed arrays so the per-second refresh on the read path never allocates.

use chrono::{Datelike, NaiveDate};

/// Length of an IMF-fixdate such as `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const IMF_FIXDATE_LEN: usize = 29;

/// 0000-01-01T00:00:00Z: the earliest instant with a four-digit year.
const MIN_UNIX_SECS: i64 = -62_167_219_200;
/// 9999-12-31T23:59:59Z: the latest instant with a four-digit year.
const MAX_UNIX_SECS: i64 = 253_402_300_799;
const SECS_PER_DAY: i64 = 86_400;

const WEEKDAYS: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Writes `unix_secs` as an IMF-fixdate. Instants outside years 0000..=9999 are clamped
/// to that range, since the format has exactly four year digits.
pub fn format_imf_fixdate(unix_secs: i64, out: &mut [u8; IMF_FIXDATE_LEN]) {
    let secs = unix_secs.clamp(MIN_UNIX_SECS, MAX_UNIX_SECS);
    let days = secs.div_euclid(SECS_PER_DAY);
    let secs_of_day = secs.rem_euclid(SECS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday (index 4 with Sunday = 0).
    let weekday = (days + 4).rem_euclid(7) as usize;

    out[0..3].copy_from_slice(WEEKDAYS[weekday]);
    out[3..5].copy_from_slice(b", ");
    write_digits(&mut out[5..7], day as u32);
    out[7] = b' ';
    out[8..11].copy_from_slice(MONTHS[month as usize - 1]);
    out[11] = b' ';
    write_digits(&mut out[12..16], year as u32);
    out[16] = b' ';
    write_digits(&mut out[17..19], (secs_of_day / 3600) as u32);
    out[19] = b':';
    write_digits(&mut out[20..22], (secs_of_day / 60 % 60) as u32);
    out[22] = b':';
    write_digits(&mut out[23..25], (secs_of_day % 60) as u32);
    out[25..29].copy_from_slice(b" GMT");
}

/// (year, month 1..=12, day 1..=31) of the proleptic Gregorian date `days` after
/// 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468; // Days since 0000-03-01.
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097; // 0..=146096
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let march_month = (5 * day_of_year + 2) / 153; // 0 = March … 11 = February
    let day = day_of_year - (153 * march_month + 2) / 5 + 1;
    let month = if march_month < 10 {
        march_month + 3
    } else {
        march_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Writes `value` as exactly `out.len()` decimal digits, zero-padded (high digits dropped).
fn write_digits(out: &mut [u8], mut value: u32) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// The current second's `Date` value, reformatted only when the second changes.
#[derive(Clone, Debug)]
pub struct DateCache {
    unix_secs: i64,
    bytes: [u8; IMF_FIXDATE_LEN],
}

impl DateCache {
    /// A cache holding the IMF-fixdate of `unix_secs`.
    pub fn new(unix_secs: i64) -> Self {
        let mut bytes = [0u8; IMF_FIXDATE_LEN];
        format_imf_fixdate(unix_secs, &mut bytes);
        DateCache { unix_secs, bytes }
    }

    /// Moves the cache to `unix_secs`; returns true if the value changed.
    pub fn refresh(&mut self, unix_secs: i64) -> bool {
        if unix_secs == self.unix_secs {
            return false;
        }
        self.unix_secs = unix_secs;
        format_imf_fixdate(unix_secs, &mut self.bytes);
        true
    }

    /// The cached IMF-fixdate.
    pub fn get(&self) -> &[u8; IMF_FIXDATE_LEN] {
        &self.bytes
    }

    /// The second the cached value describes.
    pub fn unix_secs(&self) -> i64 {
        self.unix_secs
    }
}

/// Writes `date` as `YYYY-MM-DD`. Years outside 0000..=9999 are clamped to that range
/// (the server only formats years 1900..=2200).
pub fn write_ymd(date: NaiveDate, out: &mut [u8; 10]) {
    write_digits(&mut out[0..4], date.year().clamp(0, 9999) as u32);
    out[4] = b'-';
    write_digits(&mut out[5..7], date.month());
    out[7] = b'-';
    write_digits(&mut out[8..10], date.day());
}
