//! Properties of `http::query::parse_read_params` and `week::zones::lookup` (the
//! `query` target), checked against a small allocating reference parser written from
//! the documented rules (src/http/query.rs module docs, SPEC §4).

use availability_server::http::parse_read_params;
use availability_server::http::query::MAX_TZ_LEN_BYTES;
use availability_server::week::grid::is_supported_date;
use availability_server::week::zones::{self, ZoneId};
use chrono::Datelike;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The parameters as the reference parser sees them.
#[derive(Debug, Default, PartialEq, Eq)]
struct Expected {
    tz: Option<Vec<u8>>,
    date: Option<(i32, u32, u32)>,
    day: Option<u8>,
    time_slot: Option<u8>,
    slot: Option<u8>,
}

pub fn check(data: &[u8]) {
    let mut scratch = [0u8; MAX_TZ_LEN_BYTES];
    let parsed = parse_read_params(data, &mut scratch);
    let reference = reference_parse(data);
    match (&parsed, &reference) {
        (Ok(p), Ok(r)) => {
            let got = Expected {
                tz: p.tz.map(<[u8]>::to_vec),
                date: p.date.map(|d| (d.year(), d.month(), d.day())),
                day: p.day,
                time_slot: p.time_slot,
                slot: p.slot,
            };
            assert_eq!(&got, r, "query {:?}", data.escape_ascii().to_string());
            assert!(p.day.is_none_or(|d| d <= 6));
            assert!(p.slot.is_none_or(|s| s <= 47));
            assert!(p.time_slot.is_none_or(|s| s <= 47));
            assert!(
                p.date.is_none_or(is_supported_date),
                "date outside 1900..=2099"
            );
            if let Some(tz) = p.tz {
                assert!(!tz.is_empty() && tz.len() <= MAX_TZ_LEN_BYTES);
                assert!(std::str::from_utf8(tz).is_ok(), "tz is not UTF-8");
                check_lookup(tz);
            }
        }
        (Err(e), Err(code)) => {
            assert_eq!(e.code, *code, "query {:?}", data.escape_ascii().to_string())
        }
        _ => panic!(
            "query {:?}: parser {parsed:?}, reference {reference:?}",
            data.escape_ascii().to_string()
        ),
    }
    // The raw input as a zone name, too (lookup also runs on the data file's field).
    check_lookup(data);
}

/// `lookup` finds exactly the zones whose canonical name equals `name` ignoring ASCII
/// case, and every spelling of a found zone finds it again.
pub fn check_lookup(name: &[u8]) {
    let found = zones::lookup(name);
    let oracle = zone_by_lowercase_name(name);
    assert_eq!(
        found,
        oracle,
        "lookup of {:?}",
        name.escape_ascii().to_string()
    );
    if let Some(id) = found {
        let canonical = zones::name(id);
        assert!(canonical.as_bytes().eq_ignore_ascii_case(name));
        assert_eq!(zones::lookup(canonical.as_bytes()), Some(id));
        assert_eq!(zones::lookup(&name.to_ascii_uppercase()), Some(id));
        assert_eq!(zones::lookup(&name.to_ascii_lowercase()), Some(id));
    }
}

/// The oracle for `lookup`: a hash map from lower-cased canonical name to zone, built
/// once from the zone table (no binary search, no on-the-fly case folding).
pub fn zone_by_lowercase_name(name: &[u8]) -> Option<ZoneId> {
    static TABLE: OnceLock<HashMap<Vec<u8>, ZoneId>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        zones::all()
            .map(|id| (zones::name(id).to_ascii_lowercase().into_bytes(), id))
            .collect()
    });
    table.get(&name.to_ascii_lowercase()).copied()
}

fn reference_parse(query: &[u8]) -> Result<Expected, &'static str> {
    let mut out = Expected::default();
    for pair in query.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        // Every escape in the pair must be valid, even for keys that are ignored.
        if percent_decode(pair).is_none() {
            return Err("invalid_query");
        }
        let (raw_key, raw_value) = match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &[][..]),
        };
        let key = percent_decode(raw_key).expect("the pair's escapes are valid");
        let value = percent_decode(raw_value).expect("the pair's escapes are valid");
        match key.as_slice() {
            b"tz" => {
                if out.tz.is_some() {
                    return Err("duplicate_parameter");
                }
                let ok = !value.is_empty()
                    && value.len() <= MAX_TZ_LEN_BYTES
                    && std::str::from_utf8(&value).is_ok();
                out.tz = Some(if ok {
                    value
                } else {
                    return Err("invalid_timezone");
                });
            }
            b"date" => {
                if out.date.is_some() {
                    return Err("duplicate_parameter");
                }
                out.date = Some(reference_date(&value).ok_or("invalid_date")?);
            }
            b"day" => {
                if out.day.is_some() {
                    return Err("duplicate_parameter");
                }
                out.day = Some(small_number(&value, 6).ok_or("invalid_day")?);
            }
            b"time" => {
                if out.time_slot.is_some() {
                    return Err("duplicate_parameter");
                }
                out.time_slot = Some(reference_time(&value).ok_or("invalid_time")?);
            }
            b"slot" => {
                if out.slot.is_some() {
                    return Err("duplicate_parameter");
                }
                out.slot = Some(small_number(&value, 47).ok_or("invalid_slot")?);
            }
            _ => {}
        }
    }
    Ok(out)
}

/// `%XX` → byte, `+` kept; `None` on a `%` without two hex digits.
fn percent_decode(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            let text = std::str::from_utf8(hex).ok()?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(text, 16).ok()?);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Some(out)
}

fn number(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// One or two digits, at most `max`.
fn small_number(value: &[u8], max: u32) -> Option<u8> {
    if value.len() > 2 {
        return None;
    }
    let n = number(value)?;
    (n <= max).then_some(n as u8)
}

/// `HH:MM`, HH 00–23, MM 00 or 30, as a half-hour index.
fn reference_time(value: &[u8]) -> Option<u8> {
    let [h0, h1, b':', m0, m1] = value else {
        return None;
    };
    let hour = number(&[*h0, *h1])?;
    let minute = number(&[*m0, *m1])?;
    (hour < 24 && (minute == 0 || minute == 30)).then_some((hour * 2 + minute / 30) as u8)
}

/// `YYYY-MM-DD`, a real Gregorian date, years 1900–2099.
fn reference_date(value: &[u8]) -> Option<(i32, u32, u32)> {
    if value.len() != 10 || value[4] != b'-' || value[7] != b'-' {
        return None;
    }
    let year = number(&value[..4])?;
    let month = number(&value[5..7])?;
    let day = number(&value[8..])?;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    let ok = (1900..=2099).contains(&year) && (1..=days_in_month).contains(&day);
    ok.then_some((year as i32, month, day))
}
