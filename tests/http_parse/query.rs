//! `parse_read_params`: decoding, duplicates, unknown keys and each value's grammar.

use availability_server::http::{QueryError, ReadParams, parse_read_params};
use chrono::NaiveDate;

/// Parses `query` and hands the result (with the decoded tz copied out) to the caller.
fn parse(query: &str) -> Result<(Option<String>, ReadParams<'static>), QueryError> {
    let mut scratch = [0u8; 128];
    let params = parse_read_params(query.as_bytes(), &mut scratch)?;
    let tz = params
        .tz
        .map(|tz| String::from_utf8(tz.to_vec()).expect("utf-8 tz"));
    let rest = ReadParams {
        tz: None,
        date: params.date,
        day: params.day,
        time_slot: params.time_slot,
        slot: params.slot,
    };
    Ok((tz, rest))
}

fn code(query: &str) -> &'static str {
    match parse(query) {
        Err(e) => e.code,
        Ok(ok) => panic!("{query:?} was accepted: {ok:?}"),
    }
}

fn date(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

#[test]
fn parses_all_parameters() {
    let (tz, params) = parse("tz=Asia/Tokyo&date=2026-11-23&day=2&time=14:30&slot=5").expect("ok");
    assert_eq!(tz.as_deref(), Some("Asia/Tokyo"));
    assert_eq!(params.date, date(2026, 11, 23));
    assert_eq!(params.day, Some(2));
    assert_eq!(params.time_slot, Some(29));
    assert_eq!(params.slot, Some(5));
    assert_eq!(
        parse("").expect("empty query"),
        (None, ReadParams::default())
    );
}

#[test]
fn percent_decoding_keeps_plus() {
    let tz = |q: &str| parse(q).expect(q).0;
    assert_eq!(
        tz("tz=America%2FNew_York").as_deref(),
        Some("America/New_York")
    );
    assert_eq!(
        tz("tz=america%2fnew_york").as_deref(),
        Some("america/new_york")
    );
    assert_eq!(tz("tz=Etc/GMT+5").as_deref(), Some("Etc/GMT+5"));
    assert_eq!(tz("tz=Etc%2FGMT%2B5").as_deref(), Some("Etc/GMT+5"));
    // Keys are decoded too.
    assert_eq!(tz("t%7A=UTC").as_deref(), Some("UTC"));
    assert_eq!(
        parse("time=14%3A00").expect("encoded colon").1.time_slot,
        Some(28)
    );
}

#[test]
fn pairs_split_on_ampersand_and_first_equals() {
    let (tz, params) = parse("&&tz=a=b&&day=1&").expect("ok");
    assert_eq!(tz.as_deref(), Some("a=b"));
    assert_eq!(params.day, Some(1));
}

#[test]
fn malformed_escapes_are_invalid_query() {
    for q in [
        "tz=%",
        "tz=%4",
        "tz=%zz",
        "tz=%G1",
        "tz=UTC%",
        "x=%zz",
        "%=1",
        "day=1&_=%2",
        // A bad escape after a good one, anywhere: every escape is checked.
        "tz=Europe%2FBerlin%zz",
        "tz=%2F%zz",
    ] {
        assert_eq!(code(q), "invalid_query", "{q}");
    }
}

#[test]
fn a_known_key_twice_is_a_duplicate() {
    for q in [
        "tz=UTC&tz=UTC",
        "date=2026-01-05&date=2026-01-06",
        "day=1&day=1",
        "time=00:00&time=00:30",
        "slot=1&slot=2",
        "t%7A=UTC&tz=UTC",
        "tz=UTC&tz=",
    ] {
        assert_eq!(code(q), "duplicate_parameter", "{q}");
    }
    // `time` and `slot` are different parameters; the route decides about both.
    let params = parse("time=00:30&slot=1").expect("both").1;
    assert_eq!((params.time_slot, params.slot), (Some(1), Some(1)));
}

#[test]
fn unknown_keys_are_ignored() {
    let (tz, params) = parse("_=1700000000&cb&TZ=x&tz=UTC&utm_source=a%20b&=x").expect("ok");
    assert_eq!(tz.as_deref(), Some("UTC"));
    assert_eq!(params, ReadParams::default());
}

#[test]
fn empty_values_are_the_keys_own_error() {
    let cases = [
        ("tz=", "invalid_timezone"),
        ("tz", "invalid_timezone"),
        ("date=", "invalid_date"),
        ("day=", "invalid_day"),
        ("day", "invalid_day"),
        ("time=", "invalid_time"),
        ("slot=", "invalid_slot"),
    ];
    for (q, expected) in cases {
        assert_eq!(code(q), expected, "{q}");
    }
}

#[test]
fn tz_length_and_encoding() {
    let name = "A".repeat(128);
    assert_eq!(
        parse(&format!("tz={name}")).expect("128 bytes").0,
        Some(name.clone())
    );
    assert_eq!(code(&format!("tz={name}A")), "invalid_timezone");
    // The limit is on decoded bytes: 128 escapes decode to 128 bytes.
    let escaped = "%41".repeat(128);
    assert_eq!(
        parse(&format!("tz={escaped}")).expect("decoded 128").0,
        Some(name)
    );
    assert_eq!(code("tz=%FF%FE"), "invalid_timezone");
    // Not ASCII but UTF-8: a name, if not one of a zone (the answer then names it).
    assert_eq!(
        parse("tz=Caf%C3%A9").expect("UTF-8").0.as_deref(),
        Some("Café")
    );
}

#[test]
fn dates_are_strict_real_and_in_range() {
    let cases = [
        ("2026-11-23", date(2026, 11, 23)),
        ("2024-02-29", date(2024, 2, 29)),
        ("2000-02-29", date(2000, 2, 29)),
        ("1900-01-01", date(1900, 1, 1)),
        ("2099-12-31", date(2099, 12, 31)),
    ];
    for (value, expected) in cases {
        assert_eq!(
            parse(&format!("date={value}")).expect(value).1.date,
            expected
        );
    }
    for value in [
        "2023-02-29",
        "2100-02-29",
        "1899-12-31",
        "2100-01-01",
        "2200-12-31",
        "2026-1-23",
        "2026-11-3",
        "2026-11-23x",
        "+2026-11-23",
        "2026/11/23",
        "2026-13-01",
        "2026-00-10",
        "2026-04-31",
        "20261123",
        "2026-11-23T00:00",
        "２026-11-23",
    ] {
        assert_eq!(code(&format!("date={value}")), "invalid_date", "{value}");
    }
}

#[test]
fn day_is_0_to_6() {
    for (value, expected) in [("0", 0), ("6", 6), ("06", 6), ("00", 0)] {
        assert_eq!(
            parse(&format!("day={value}")).expect(value).1.day,
            Some(expected)
        );
    }
    for value in ["7", "+1", "-0", "007", "1.0", "%201", "1%20", "a", "10"] {
        assert_eq!(code(&format!("day={value}")), "invalid_day", "{value}");
    }
}

#[test]
fn time_is_on_the_half_hour() {
    for (value, expected) in [("00:00", 0), ("00:30", 1), ("14:00", 28), ("23:30", 47)] {
        assert_eq!(
            parse(&format!("time={value}")).expect(value).1.time_slot,
            Some(expected)
        );
    }
    for value in [
        "14:15", "24:00", "9:00", "09:0", "14:00:00", "1400", "-1:00", "14:60",
    ] {
        let err = parse(&format!("time={value}")).expect_err(value);
        assert_eq!(err.code, "invalid_time", "{value}");
        assert_eq!(err.message, "time must be HH:MM on the half hour");
    }
}

#[test]
fn slot_is_0_to_47() {
    for (value, expected) in [("0", 0), ("47", 47), ("09", 9)] {
        assert_eq!(
            parse(&format!("slot={value}")).expect(value).1.slot,
            Some(expected)
        );
    }
    for value in ["48", "047", "-1", "+1", "99", "x"] {
        assert_eq!(code(&format!("slot={value}")), "invalid_slot", "{value}");
    }
}
