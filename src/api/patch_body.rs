//! The PATCH body (SPEC §4): `{"slots":[{"day":…,"time"|"slot":…,"status":…}]}`,
//! validated whole — every entry, no unknown or repeated field, no cell twice — into
//! the edits the writer applies, or one error naming the first bad entry.

use serde_json::Value;

use super::strict_json::{self, Repeat, Step};
use crate::week::{DAYS_PER_WEEK, SLOTS_PER_DAY, Status};

pub const MAX_BATCH_ENTRIES: usize = 100;

/// One validated cell change, in the home zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edit {
    pub slot_index: u16,
    pub status: Status,
}

/// Why a body was refused; `entry` names the offending index when there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyError {
    pub code: &'static str,
    pub message: String,
    pub entry: Option<usize>,
}

fn entry_error(index: usize, message: impl Into<String>) -> BodyError {
    BodyError {
        code: "invalid_entry",
        message: format!("slots[{index}]: {}", message.into()),
        entry: Some(index),
    }
}

fn parse_time(text: &str) -> Option<u16> {
    crate::week::slot_of_time(text.as_bytes()).and_then(|slot| u16::try_from(slot).ok())
}

fn parse_entry(index: usize, entry: &Value) -> Result<Edit, BodyError> {
    let Some(fields) = entry.as_object() else {
        return Err(entry_error(index, "must be an object"));
    };
    if let Some(unknown) = fields
        .keys()
        .find(|k| !matches!(k.as_str(), "day" | "time" | "slot" | "status"))
    {
        return Err(entry_error(index, format!("unknown field \"{unknown}\"")));
    }
    let day = match fields.get("day").map(Value::as_u64) {
        Some(Some(d)) if (d as usize) < DAYS_PER_WEEK => d as u16,
        Some(_) => {
            return Err(entry_error(
                index,
                "day must be an integer 0..6 (0 = Monday)",
            ));
        }
        None => return Err(entry_error(index, "day is required")),
    };
    let slot = match (fields.get("time"), fields.get("slot")) {
        (Some(time), Some(slot)) => {
            // A `null` is still a field given; say so, or the message reads as wrong.
            let null_field = match (time.is_null(), slot.is_null()) {
                (true, _) => "time is null: ",
                (_, true) => "slot is null: ",
                _ => "",
            };
            return Err(entry_error(
                index,
                format!("{null_field}give time or slot, not both"),
            ));
        }
        (None, None) => {
            return Err(entry_error(
                index,
                "time (HH:MM) or slot (0..47) is required",
            ));
        }
        (Some(time), None) => match time.as_str().and_then(parse_time) {
            Some(s) => s,
            None => {
                return Err(entry_error(
                    index,
                    "time must be \"HH:MM\" on the half hour",
                ));
            }
        },
        (None, Some(slot)) => match slot.as_u64() {
            Some(s) if (s as usize) < SLOTS_PER_DAY => s as u16,
            _ => return Err(entry_error(index, "slot must be an integer 0..47")),
        },
    };
    let status = match fields.get("status") {
        Some(Value::String(s)) => match Status::parse(s) {
            Some(status) => status,
            None => {
                return Err(entry_error(
                    index,
                    "status must be \"available\", \"unavailable\" or \"maybe\"",
                ));
            }
        },
        Some(_) => return Err(entry_error(index, "status must be a string")),
        None => return Err(entry_error(index, "status is required")),
    };
    Ok(Edit {
        slot_index: day * SLOTS_PER_DAY as u16 + slot,
        status,
    })
}

/// Validates a whole PATCH body; nothing is applied unless all of it is valid.
/// Two entries for the same cell are refused: the intent would be ambiguous.
pub fn parse_patch_body(body: &[u8]) -> Result<Vec<Edit>, BodyError> {
    let whole = |code, message: &str| BodyError {
        code,
        message: message.to_string(),
        entry: None,
    };
    if body.trim_ascii().is_empty() {
        return Err(whole(
            "invalid_json",
            "the body is empty; expected {\"slots\":[{\"day\":…,\"time\":…,\"status\":…}]}",
        ));
    }
    let (value, repeats) = strict_json::from_slice(body).map_err(|e| BodyError {
        code: "invalid_json",
        message: format!("body is not valid JSON: {e}"),
        entry: None,
    })?;
    // A repeated key is an ambiguous intent, refused like an unknown field: in an
    // entry (or anything inside it) as that entry's error, in its turn; elsewhere as
    // the body's.
    let entry_of = |repeat: &Repeat| match repeat.path.as_slice() {
        [Step::Key(slots), Step::Index(index), ..] if &**slots == "slots" => Some(*index),
        _ => None,
    };
    if let Some(repeat) = repeats.iter().find(|r| entry_of(r).is_none()) {
        return Err(BodyError {
            code: "invalid_body",
            message: format!("field \"{}\" is given twice", repeat.key),
            entry: None,
        });
    }
    let Some(object) = value.as_object() else {
        return Err(whole(
            "invalid_body",
            "body must be an object {\"slots\":[…]}",
        ));
    };
    if let Some(unknown) = object.keys().find(|k| k.as_str() != "slots") {
        return Err(BodyError {
            code: "invalid_body",
            message: format!("unknown field \"{unknown}\""),
            entry: None,
        });
    }
    let Some(slots) = object.get("slots") else {
        return Err(whole("invalid_body", "\"slots\" is required"));
    };
    let Some(entries) = slots.as_array() else {
        return Err(whole("invalid_body", "\"slots\" must be an array"));
    };
    if entries.is_empty() || entries.len() > MAX_BATCH_ENTRIES {
        return Err(whole(
            "invalid_batch",
            "\"slots\" must hold 1 to 100 entries",
        ));
    }
    let mut seen = [u8::MAX; crate::week::SLOTS_PER_WEEK];
    let mut edits = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        if let Some(repeat) = repeats.iter().find(|r| entry_of(r) == Some(index)) {
            let key = &repeat.key;
            return Err(entry_error(
                index,
                format!("field \"{key}\" is given twice"),
            ));
        }
        let edit = parse_entry(index, entry)?;
        let first = &mut seen[edit.slot_index as usize];
        if *first != u8::MAX {
            return Err(entry_error(
                index,
                format!("sets the same slot as slots[{}]", *first),
            ));
        }
        *first = index as u8;
        edits.push(edit);
    }
    Ok(edits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_time_and_slot_forms() {
        let edits = parse_patch_body(br#"{"slots":[{"day":2,"time":"14:00","status":"available"},{"day":4,"slot":20,"status":"maybe"}]}"#)
            .expect("valid");
        assert_eq!(
            edits[0],
            Edit {
                slot_index: 2 * 48 + 28,
                status: Status::Available
            }
        );
        assert_eq!(
            edits[1],
            Edit {
                slot_index: 4 * 48 + 20,
                status: Status::Maybe
            }
        );
    }

    #[test]
    fn names_the_bad_entry() {
        let cases: &[(&[u8], usize)] = &[
            (br#"{"slots":[{"day":1,"slot":0,"status":"maybe"},{"day":7,"slot":0,"status":"maybe"}]}"#, 1),
            (br#"{"slots":[{"day":1,"time":"14:15","status":"maybe"}]}"#, 0),
            (br#"{"slots":[{"day":1,"time":"24:00","status":"maybe"}]}"#, 0),
            (br#"{"slots":[{"day":1,"slot":48,"status":"maybe"}]}"#, 0),
            (br#"{"slots":[{"day":1,"slot":3,"status":"busy"}]}"#, 0),
            (br#"{"slots":[{"day":1,"slot":3,"time":"01:30","status":"maybe"}]}"#, 0),
            (br#"{"slots":[{"day":1,"slot":3,"status":"maybe","x":1}]}"#, 0),
            (br#"{"slots":[{"day":-1,"slot":3,"status":"maybe"}]}"#, 0),
            (br#"{"slots":[{"day":1,"slot":3,"status":"maybe"},{"day":1,"time":"01:30","status":"available"}]}"#, 1),
            (br#"{"slots":[5]}"#, 0),
            (br#"{"slots":[{"day":0,"slot":1,"status":"maybe","day":5}]}"#, 0),
            (br#"{"slots":[{"day":0,"slot":1,"status":"maybe"},{"day":1,"slot":1,"status":"maybe","status":"available"}]}"#, 1),
        ];
        for (body, index) in cases {
            let err = parse_patch_body(body).expect_err(std::str::from_utf8(body).unwrap_or("?"));
            assert_eq!(err.entry, Some(*index), "{}", err.message);
            assert!(
                err.message.starts_with(&format!("slots[{index}]")),
                "{}",
                err.message
            );
        }
    }

    #[test]
    fn a_null_time_or_slot_is_named_as_given() {
        let err = parse_patch_body(
            br#"{"slots":[{"day":1,"time":"10:00","slot":null,"status":"maybe"}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            err.message,
            "slots[0]: slot is null: give time or slot, not both"
        );
        let err =
            parse_patch_body(br#"{"slots":[{"day":1,"time":null,"slot":3,"status":"maybe"}]}"#)
                .unwrap_err();
        assert_eq!(
            err.message,
            "slots[0]: time is null: give time or slot, not both"
        );
        let err =
            parse_patch_body(br#"{"slots":[{"day":1,"time":"10:00","slot":3,"status":"maybe"}]}"#)
                .unwrap_err();
        assert_eq!(err.message, "slots[0]: give time or slot, not both");
    }

    #[test]
    fn batch_bounds_and_shape() {
        assert_eq!(
            parse_patch_body(br#"{"slots":[]}"#)
                .expect_err("empty")
                .code,
            "invalid_batch"
        );
        let many: Vec<String> = (0..101)
            .map(|i| format!(r#"{{"day":{},"slot":{},"status":"maybe"}}"#, i / 48, i % 48))
            .collect();
        let body = format!(r#"{{"slots":[{}]}}"#, many.join(","));
        assert_eq!(
            parse_patch_body(body.as_bytes()).expect_err("101").code,
            "invalid_batch"
        );
        let hundred = format!(r#"{{"slots":[{}]}}"#, many[..100].join(","));
        assert_eq!(
            parse_patch_body(hundred.as_bytes())
                .expect("100 is fine")
                .len(),
            100
        );
        assert_eq!(
            parse_patch_body(b"{").expect_err("json").code,
            "invalid_json"
        );
        for empty in [&b""[..], b" \r\n"] {
            let e = parse_patch_body(empty).expect_err("empty");
            assert_eq!(e.code, "invalid_json");
            assert!(e.message.starts_with("the body is empty"), "{}", e.message);
        }
        let twice =
            parse_patch_body(br#"{"slots":[{"day":0,"slot":1,"status":"maybe"}],"slots":[]}"#)
                .expect_err("slots twice");
        assert_eq!((twice.code, twice.entry), ("invalid_body", None));
        assert!(
            twice.message.contains("\"slots\" is given twice"),
            "{}",
            twice.message
        );
        // A key repeated inside an array that is not "slots" is the body's error, not
        // an entry's: the entry indices of "x" mean nothing.
        let elsewhere = parse_patch_body(br#"{"slots":[],"x":[{"a":1,"a":2}]}"#)
            .expect_err("repeated outside slots");
        assert_eq!((elsewhere.code, elsewhere.entry), ("invalid_body", None));
        assert_eq!(elsewhere.message, "field \"a\" is given twice");
        assert_eq!(
            parse_patch_body(b"[]").expect_err("shape").code,
            "invalid_body"
        );
        assert_eq!(
            parse_patch_body(br#"{"slots":[],"x":1}"#)
                .expect_err("field")
                .code,
            "invalid_body"
        );
        // A missing field and a wrong type get messages of their own.
        let missing = parse_patch_body(b"{}").expect_err("no slots");
        assert_eq!(missing.message, "\"slots\" is required");
        let wrong = parse_patch_body(br#"{"slots":{}}"#).expect_err("not an array");
        assert_eq!(wrong.message, "\"slots\" must be an array");
    }
}
