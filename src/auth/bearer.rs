//! The `Authorization: Bearer <token68>` header a write presents (RFC 6750 §2.1).

/// Why an `Authorization` header did not yield a bearer token.
#[derive(Debug, PartialEq, Eq)]
pub enum BearerError {
    /// No header, or an empty one.
    Missing,
    /// Another scheme, no token, or characters outside token68.
    Malformed,
}

/// Extracts the token from `Authorization: Bearer <token68>`. The scheme is matched
/// case-insensitively; whitespace around the value and spaces between scheme and token are
/// tolerated.
pub fn parse_bearer(authorization: Option<&[u8]>) -> Result<&[u8], BearerError> {
    let value = authorization.ok_or(BearerError::Missing)?.trim_ascii();
    if value.is_empty() {
        return Err(BearerError::Missing);
    }
    const SCHEME: &[u8] = b"bearer";
    if value.len() <= SCHEME.len()
        || !value[..SCHEME.len()].eq_ignore_ascii_case(SCHEME)
        || value[SCHEME.len()] != b' '
    {
        return Err(BearerError::Malformed);
    }
    // RFC 9110 §11.4: `auth-scheme 1*SP token68`; spaces only, no tabs.
    let after_scheme = &value[SCHEME.len()..];
    let token = &after_scheme[after_scheme.iter().take_while(|&&c| c == b' ').count()..];
    if is_token68(token) {
        Ok(token)
    } else {
        Err(BearerError::Malformed)
    }
}

/// RFC 9110 token68: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
pub(super) fn is_token68(bytes: &[u8]) -> bool {
    let body_len = bytes.len() - bytes.iter().rev().take_while(|&&c| c == b'=').count();
    body_len > 0
        && bytes[..body_len]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"-._~+/".contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token68_charset() {
        assert!(is_token68(b"abc-._~+/XYZ09"));
        assert!(is_token68(b"abc=="));
        assert!(!is_token68(b""));
        assert!(!is_token68(b"=="));
        assert!(!is_token68(b"a=b"));
        assert!(!is_token68(b"a b"));
        assert!(!is_token68(b"a\"b"));
        assert!(!is_token68("é".as_bytes()));
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(parse_bearer(Some(b"Bearer abc123")), Ok(&b"abc123"[..]));
        assert_eq!(parse_bearer(Some(b"bearer abc")), Ok(&b"abc"[..]));
        assert_eq!(parse_bearer(Some(b"BEARER abc")), Ok(&b"abc"[..]));
        assert_eq!(parse_bearer(Some(b"Bearer   abc  ")), Ok(&b"abc"[..]));
        assert_eq!(
            parse_bearer(Some(b"Bearer a-._~+/Z9==")),
            Ok(&b"a-._~+/Z9=="[..])
        );
        assert_eq!(parse_bearer(None), Err(BearerError::Missing));
        assert_eq!(parse_bearer(Some(b"")), Err(BearerError::Missing));
        assert_eq!(parse_bearer(Some(b"   ")), Err(BearerError::Missing));
        for malformed in [
            &b"Bearer"[..],
            b"Bearer ",
            b"Bearerabc",
            b"Basic dXNlcjpwYXNz",
            b"Bearer a b",
            b"Bearer a=b",
            b"Bearer ==",
            b"Bearer \"abc\"",
            b"Bearer\tabc",
            b"Bearer \tabc",
            b"Bearer abc\xff",
            b"Token abc",
        ] {
            assert_eq!(
                parse_bearer(Some(malformed)),
                Err(BearerError::Malformed),
                "{:?}",
                String::from_utf8_lossy(malformed)
            );
        }
    }
}
