//! Query parameters of the read routes (`tz`, `date`, `day`, `time`, `slot`), parsed
//! without allocation: values are decoded into stack buffers, `tz` into the caller's.
//!
//! Unknown keys are ignored, so cache-busting parameters (`?_=1700000000`) never break
//! a read; every `%` in the query, known key or not, must start a valid escape.

use std::ops::Range;

use chrono::NaiveDate;
use percent_encoding::percent_decode;

/// Longest accepted decoded `tz` value (the longest IANA name is far shorter).
pub const MAX_TZ_LEN_BYTES: usize = 128;

/// A rejected query: `code` and `message` go into the JSON error body (400).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryError {
    /// Machine-readable code, e.g. `invalid_date`.
    pub code: &'static str,
    /// Short human-readable explanation.
    pub message: &'static str,
}

/// The read parameters present in a query; all optional here, the routes decide
/// which they require.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadParams<'b> {
    /// Percent-decoded viewer zone (not yet looked up); `+` is kept literally
    /// because zone names such as `Etc/GMT+5` contain it.
    pub tz: Option<&'b [u8]>,
    /// `date=YYYY-MM-DD`: a real calendar date in years 1900..=2099 (see `parse_date`).
    pub date: Option<NaiveDate>,
    /// `day=0..6` (Monday = 0).
    pub day: Option<u8>,
    /// Slot index 0..=47 from `time=HH:MM` on the half hour.
    pub time_slot: Option<u8>,
    /// `slot=0..47`.
    pub slot: Option<u8>,
}

const INVALID_QUERY: QueryError = QueryError {
    code: "invalid_query",
    message: "malformed percent-escape in query",
};
/// A known parameter given twice; the message names it.
const fn duplicate(message: &'static str) -> QueryError {
    QueryError {
        code: "duplicate_parameter",
        message,
    }
}
const INVALID_TZ: QueryError = QueryError {
    code: "invalid_timezone",
    message: "tz must be a non-empty UTF-8 zone name of at most 128 bytes",
};
const INVALID_DATE: QueryError = QueryError {
    code: "invalid_date",
    message: "date must be a calendar date YYYY-MM-DD in years 1900 to 2099",
};
const INVALID_DAY: QueryError = QueryError {
    code: "invalid_day",
    message: "day must be 0 (Monday) to 6 (Sunday)",
};
const INVALID_TIME: QueryError = QueryError {
    code: "invalid_time",
    message: "time must be HH:MM on the half hour",
};
const INVALID_SLOT: QueryError = QueryError {
    code: "invalid_slot",
    message: "slot must be 0 to 47",
};

#[derive(Clone, Copy)]
enum Key {
    Tz,
    Date,
    Day,
    Time,
    Slot,
}

/// Parses the query string (without the `?`) of a read request.
///
/// Pairs are split on `&` (empty pairs ignored), then on the first `=`; keys and
/// values are percent-decoded (`+` is not a space). A known key given twice is
/// `duplicate_parameter`; an empty value for a known key is that key's `invalid_*`.
pub fn parse_read_params<'b>(
    query: &[u8],
    tz_scratch: &'b mut [u8; MAX_TZ_LEN_BYTES],
) -> Result<ReadParams<'b>, QueryError> {
    let mut parsed = Parsed::default();
    // One pass finds each pair's end, its first `=` and whether it has a `%`; separate
    // split / find / decode passes each paid a mispredicted loop exit per pair.
    let mut pair_start = 0;
    let mut eq_at: Option<usize> = None;
    let mut escaped = false;
    for (at, &byte) in query.iter().enumerate() {
        // Most bytes are none of the three: one load and a well-predicted branch.
        if !IS_DELIMITER[usize::from(byte)] {
            continue;
        }
        match byte {
            b'&' => {
                parsed.pair(query, pair_start..at, eq_at, escaped, tz_scratch)?;
                (pair_start, eq_at, escaped) = (at + 1, None, false);
            }
            b'=' => _ = eq_at.get_or_insert(at),
            _ => escaped = true,
        }
    }
    parsed.pair(query, pair_start..query.len(), eq_at, escaped, tz_scratch)?;
    let tz_scratch: &'b [u8; MAX_TZ_LEN_BYTES] = tz_scratch;
    let mut params = parsed.params;
    params.tz = parsed.tz_len_bytes.map(|len| &tz_scratch[..len]);
    Ok(params)
}

/// The parameters seen so far; `tz` is decoded into the caller's scratch.
#[derive(Default)]
struct Parsed {
    params: ReadParams<'static>,
    tz_len_bytes: Option<usize>,
}

/// `&`, `=` and `%`: the bytes that [`parse_read_params`] stops at.
static IS_DELIMITER: [bool; 256] = {
    let mut table = [false; 256];
    table[b'&' as usize] = true;
    table[b'=' as usize] = true;
    table[b'%' as usize] = true;
    table
};

impl Parsed {
    /// Applies the pair `query[pair]`, whose first `=` (if any) is at `eq_at`.
    fn pair(
        &mut self,
        query: &[u8],
        pair: Range<usize>,
        eq_at: Option<usize>,
        escaped: bool,
        tz_scratch: &mut [u8; MAX_TZ_LEN_BYTES],
    ) -> Result<(), QueryError> {
        if pair.is_empty() {
            return Ok(());
        }
        if escaped && !escapes_are_valid(&query[pair.clone()]) {
            return Err(INVALID_QUERY);
        }
        let (key, value) = match eq_at {
            Some(eq) => (&query[pair.start..eq], &query[eq + 1..pair.end]),
            None => (&query[pair.clone()], &query[pair.end..pair.end]),
        };
        let raw = |bytes| Raw { bytes, escaped };
        self.apply(raw(key), raw(value), tz_scratch)
    }

    fn apply(
        &mut self,
        raw_key: Raw<'_>,
        raw_value: Raw<'_>,
        tz_scratch: &mut [u8; MAX_TZ_LEN_BYTES],
    ) -> Result<(), QueryError> {
        let Some(key) = known_key(raw_key) else {
            return Ok(());
        };
        let params = &mut self.params;
        let seen = match key {
            Key::Tz => self.tz_len_bytes.is_some(),
            Key::Date => params.date.is_some(),
            Key::Day => params.day.is_some(),
            Key::Time => params.time_slot.is_some(),
            Key::Slot => params.slot.is_some(),
        };
        if seen {
            return Err(duplicate(match key {
                Key::Tz => "tz was given more than once",
                Key::Date => "date was given more than once",
                Key::Day => "day was given more than once",
                Key::Time => "time was given more than once",
                Key::Slot => "slot was given more than once",
            }));
        }
        match key {
            Key::Tz => self.tz_len_bytes = Some(decode_tz(raw_value, tz_scratch)?),
            Key::Date => params.date = Some(parse_date(raw_value).ok_or(INVALID_DATE)?),
            Key::Day => params.day = Some(parse_small(raw_value, LAST_DAY).ok_or(INVALID_DAY)?),
            Key::Time => params.time_slot = Some(parse_time(raw_value).ok_or(INVALID_TIME)?),
            Key::Slot => {
                params.slot = Some(parse_small(raw_value, LAST_SLOT).ok_or(INVALID_SLOT)?);
            }
        }
        Ok(())
    }
}

/// Every `%` is followed by two hex digits (the decoder would pass bad escapes through).
/// Also the `Host` check's (`fields`).
pub(super) fn escapes_are_valid(raw: &[u8]) -> bool {
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            match raw.get(i + 1..i + 3) {
                Some([hi, lo]) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => i += 3,
                _ => return false,
            }
        } else {
            i += 1;
        }
    }
    true
}

fn known_key(raw_key: Raw<'_>) -> Option<Key> {
    let mut buf = [0u8; 4];
    let key = raw_key.decode(&mut buf)?;
    match key {
        b"tz" => Some(Key::Tz),
        b"date" => Some(Key::Date),
        b"day" => Some(Key::Day),
        b"time" => Some(Key::Time),
        b"slot" => Some(Key::Slot),
        _ => None,
    }
}

/// A raw key or value, and whether its pair has a `%` at all.
#[derive(Clone, Copy)]
struct Raw<'q> {
    bytes: &'q [u8],
    escaped: bool,
}

impl<'q> Raw<'q> {
    /// Percent-decoded, into `out` if there is anything to decode; `None` if it does
    /// not fit in `out`.
    fn decode<'o>(self, out: &'o mut [u8]) -> Option<&'o [u8]>
    where
        'q: 'o,
    {
        if !self.escaped {
            return (self.bytes.len() <= out.len()).then_some(self.bytes);
        }
        let mut len = 0;
        for byte in percent_decode(self.bytes) {
            *out.get_mut(len)? = byte;
            len += 1;
        }
        Some(&out[..len])
    }
}

fn decode_tz(raw: Raw<'_>, scratch: &mut [u8; MAX_TZ_LEN_BYTES]) -> Result<usize, QueryError> {
    let len = if raw.escaped {
        raw.decode(scratch).ok_or(INVALID_TZ)?.len()
    } else {
        let out = scratch.get_mut(..raw.bytes.len()).ok_or(INVALID_TZ)?;
        out.copy_from_slice(raw.bytes);
        out.len()
    };
    let tz = &scratch[..len];
    // Zone names are ASCII: `is_ascii` checks a word at a time, while `from_utf8`
    // walks a string this short byte by byte (~250 instructions, callgrind).
    if tz.is_empty() || !(tz.is_ascii() || std::str::from_utf8(tz).is_ok()) {
        return Err(INVALID_TZ);
    }
    Ok(len)
}

/// Strict `YYYY-MM-DD`, a real date, years 1900..=2099: chrono-tz expands the zones'
/// recurring DST rules only up to 2099, so later weeks would have no DST anywhere.
fn parse_date(raw: Raw<'_>) -> Option<NaiveDate> {
    let mut buf = [0u8; 10];
    let text = raw.decode(&mut buf)?;
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = *text else {
        return None;
    };
    let year = digits([y0, y1, y2, y3])?;
    let month = digits([m0, m1])?;
    let day = digits([d0, d1])?;
    if !(1900..=2099).contains(&year) {
        return None;
    }
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)
}

/// The largest `day=` and `slot=` (the messages above spell them out).
const LAST_DAY: u32 = crate::week::DAYS_PER_WEEK as u32 - 1;
const LAST_SLOT: u32 = crate::week::SLOTS_PER_DAY as u32 - 1;

/// `HH:MM` with HH 00..=23 and MM 00 or 30, as a slot index 0..=47.
fn parse_time(raw: Raw<'_>) -> Option<u8> {
    let mut buf = [0u8; 5];
    let text = raw.decode(&mut buf)?;
    crate::week::slot_of_time(text).and_then(|slot| u8::try_from(slot).ok())
}

/// 1–2 decimal digits (no sign) with a value at most `max`.
fn parse_small(raw: Raw<'_>, max: u32) -> Option<u8> {
    let mut buf = [0u8; 2];
    let value = match *raw.decode(&mut buf)? {
        [d] => digits([d])?,
        [d0, d1] => digits([d0, d1])?,
        _ => return None,
    };
    if value > max {
        return None;
    }
    u8::try_from(value).ok()
}

/// The value of a fixed run of ASCII decimal digits.
fn digits<const N: usize>(bytes: [u8; N]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}
