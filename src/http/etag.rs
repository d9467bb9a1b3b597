//! Entity tags (RFC 9110 §8.8.3) and `If-None-Match` (§13.1.2): the validator every
//! read carries, and the check that turns a repeated read into `304 Not Modified`.
//!
//! Hand-written rather than taken from a crate: it runs on the read path, where
//! nothing may allocate, and the grammar is a few lines.

/// `"` + 16 lowercase hex digits + `"`: a strong tag naming one 64-bit value.
pub const ETAG_LEN_BYTES: usize = 18;

/// An entity tag as sent, quotes included. Kept rendered: the read path copies it.
pub type ETag = [u8; ETAG_LEN_BYTES];

/// The quoted tag for `tag`, as it appears after `ETag: `.
pub fn render(tag: u64) -> ETag {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'"'; ETAG_LEN_BYTES];
    for (i, digit) in out[1..ETAG_LEN_BYTES - 1].iter_mut().enumerate() {
        *digit = HEX[((tag >> (60 - 4 * i)) & 0xf) as usize];
    }
    out
}

/// Whether an `If-None-Match` field value names `etag` (a quoted tag as [`render`]
/// writes it) under the weak comparison §13.1.2 asks for, or is `*`. A value that is
/// not a valid list of entity-tags matches nothing: the full answer is always a
/// correct reply to a conditional request, a wrong `304` never is.
pub fn none_match(value: &[u8], etag: &[u8]) -> bool {
    let value = trim_ows(value);
    if value == b"*" {
        return true;
    }
    let mut matched = false;
    let mut rest = value;
    loop {
        // Empty list elements (`a, , b`) are allowed and mean nothing (§5.6.1).
        rest = trim_ows(rest);
        match rest {
            [] => return matched,
            [b',', tail @ ..] => {
                rest = tail;
                continue;
            }
            _ => {}
        }
        let tag = rest.strip_prefix(b"W/").unwrap_or(rest);
        let [b'"', inside @ ..] = tag else {
            return false;
        };
        let Some(close) = inside.iter().position(|&b| b == b'"') else {
            return false;
        };
        if !inside[..close].iter().all(|&b| is_etagc(b)) {
            return false;
        }
        matched |= &tag[..close + 2] == etag;
        rest = trim_ows(&inside[close + 1..]);
        match rest {
            [] => return matched,
            [b',', tail @ ..] => rest = tail,
            _ => return false,
        }
    }
}

/// `etagc = %x21 / %x23-7E / obs-text`
fn is_etagc(b: u8) -> bool {
    b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80
}

/// Strips optional whitespace (SP / HTAB) at both ends.
fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: u64 = 0x0123_4567_89ab_cdef;
    const QUOTED: &[u8] = b"\"0123456789abcdef\"";

    #[test]
    fn renders_sixteen_hex_digits_in_quotes() {
        assert_eq!(render(TAG), *QUOTED);
        assert_eq!(render(0), *b"\"0000000000000000\"");
        assert_eq!(render(u64::MAX), *b"\"ffffffffffffffff\"");
    }

    #[test]
    fn matches_the_tag_alone_weak_or_in_a_list() {
        for value in [
            &b"\"0123456789abcdef\""[..],
            b"W/\"0123456789abcdef\"",
            b"  \"0123456789abcdef\"\t",
            b"\"x\", \"0123456789abcdef\"",
            b"\"0123456789abcdef\",\"x\"",
            b", ,\"a\" ,W/\"0123456789abcdef\" , ",
            b"*",
            b" * ",
        ] {
            assert!(
                none_match(value, QUOTED),
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
    }

    #[test]
    fn other_tags_and_invalid_lists_match_nothing() {
        for value in [
            &b""[..],
            b"\"0123456789ABCDEF\"",          // tags compare byte for byte
            b"\"0123456789abcde\"",           // a prefix
            b"\"0123456789abcdef0\"",         // longer
            b"0123456789abcdef",              // unquoted
            b"w/\"0123456789abcdef\"",        // `W/` is case-sensitive
            b"\"0123456789abcdef",            // unterminated
            b"\"0123456789abcdef\" \"x\"",    // no comma between tags
            b"*, \"0123456789abcdef\"",       // `*` is the whole value or nothing
            b"\"0123456789abcdef\", *",       // ... in either place
            b"\"a b\", \"0123456789abcdef\"", // a space is no etagc: invalid list
            b"\"0123456789abcdef\", \"bad\x01tag\"", // so is a control byte
            b"\"0123456789abcdef\"x",         // junk after the tag
        ] {
            assert!(
                !none_match(value, QUOTED),
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
    }
}
