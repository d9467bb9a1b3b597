//! Preconditions on a write (`If-Match`, `If-None-Match`), kept apart from the body
//! parser: they are checked first, and answer 412 where the body's errors answer 400.

use super::patch_body::BodyError;

impl BodyError {
    /// 412 for a precondition that does not hold, else 400.
    pub fn status(&self) -> u16 {
        if self.code == PRECONDITION_FAILED {
            412
        } else {
            400
        }
    }
}

pub(super) const PRECONDITION_FAILED: &str = "precondition_failed";

/// A write's preconditions (RFC 9110 §13.1). The target of a PATCH is the whole
/// week, which every zone's answer shows differently, so no one entity tag names
/// it: `If-Match: *` holds (the week always exists) and `If-None-Match: *` never
/// does (412); a tag in either is refused as unsupported rather than ignored, so a
/// client's lost-update guard is never silently skipped. Checked after the key, as
/// §13.2.1 orders, and before the body is looked at.
pub fn check_preconditions(
    if_match: Option<&[u8]>,
    if_none_match_lines: u8,
    if_none_match: Option<&[u8]>,
) -> Result<(), BodyError> {
    let unsupported = || BodyError {
        code: "unsupported_precondition",
        message: "a PATCH takes no entity tag in If-Match or If-None-Match (only If-Match: *); \
                  send it without, after a fresh GET"
            .to_string(),
        entry: None,
    };
    if if_none_match_lines > 0 {
        return match if_none_match {
            Some(value) if value.trim_ascii() == b"*" => Err(BodyError {
                code: PRECONDITION_FAILED,
                message: "If-None-Match: * fails: the week always exists".to_string(),
                entry: None,
            }),
            _ => Err(unsupported()),
        };
    }
    match if_match {
        None => Ok(()),
        Some(value) if value.trim_ascii() == b"*" => Ok(()),
        Some(_) => Err(unsupported()),
    }
}
