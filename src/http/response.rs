//! Building response bytes without allocating: a bounded byte writer over a
//! caller-owned buffer, status lines, and the JSON error shape of SPEC §4.

use super::date::IMF_FIXDATE_LEN;

/// Appends into a fixed slice; remembers overflow instead of panicking, so the
/// caller decides what an overflow means (callers size the slice so it cannot
/// happen, and assert so).
pub struct ByteWriter<'a> {
    buf: &'a mut [u8],
    len_bytes: usize,
    overflowed: bool,
}

impl<'a> ByteWriter<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        ByteWriter {
            buf,
            len_bytes: 0,
            overflowed: false,
        }
    }

    pub fn put(&mut self, bytes: &[u8]) -> &mut Self {
        let end = self.len_bytes + bytes.len();
        if end > self.buf.len() {
            self.overflowed = true;
        } else {
            self.buf[self.len_bytes..end].copy_from_slice(bytes);
            self.len_bytes = end;
        }
        self
    }

    pub fn put_str(&mut self, text: &str) -> &mut Self {
        self.put(text.as_bytes())
    }

    pub fn put_u64(&mut self, value: u64) -> &mut Self {
        let mut digits = itoa::Buffer::new();
        self.put(digits.format(value).as_bytes())
    }

    /// Writes `bytes` as the inside of a JSON string: escapes quotes, backslashes
    /// and control bytes; invalid UTF-8 bytes become U+FFFD.
    pub fn put_json_escaped(&mut self, bytes: &[u8]) -> &mut Self {
        let mut rest = bytes;
        while !rest.is_empty() {
            let (valid, invalid_len) = match std::str::from_utf8(rest) {
                Ok(text) => (text, 0),
                Err(e) => {
                    let valid_len = e.valid_up_to();
                    let bad = e.error_len().unwrap_or(rest.len() - valid_len);
                    // Safe: from_utf8 just said this prefix is valid.
                    (std::str::from_utf8(&rest[..valid_len]).unwrap_or(""), bad)
                }
            };
            for &b in valid.as_bytes() {
                match b {
                    b'"' => self.put(b"\\\""),
                    b'\\' => self.put(b"\\\\"),
                    0..=0x1f => {
                        const HEX: &[u8; 16] = b"0123456789abcdef";
                        self.put(&[
                            b'\\',
                            b'u',
                            b'0',
                            b'0',
                            HEX[(b >> 4) as usize],
                            HEX[(b & 15) as usize],
                        ])
                    }
                    _ => self.put(&[b]),
                };
            }
            if invalid_len > 0 {
                self.put("\u{fffd}".as_bytes());
            }
            rest = &rest[valid.len() + invalid_len..];
        }
        self
    }

    pub fn len_bytes(&self) -> usize {
        self.len_bytes
    }

    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    pub fn written(&self) -> &[u8] {
        &self.buf[..self.len_bytes]
    }
}

/// The status line for every status this server sends.
pub fn status_line(status: u16) -> &'static [u8] {
    match status {
        200 => b"HTTP/1.1 200 OK\r\n",
        304 => b"HTTP/1.1 304 Not Modified\r\n",
        400 => b"HTTP/1.1 400 Bad Request\r\n",
        401 => b"HTTP/1.1 401 Unauthorized\r\n",
        404 => b"HTTP/1.1 404 Not Found\r\n",
        405 => b"HTTP/1.1 405 Method Not Allowed\r\n",
        412 => b"HTTP/1.1 412 Precondition Failed\r\n",
        408 => b"HTTP/1.1 408 Request Timeout\r\n",
        413 => b"HTTP/1.1 413 Content Too Large\r\n",
        415 => b"HTTP/1.1 415 Unsupported Media Type\r\n",
        429 => b"HTTP/1.1 429 Too Many Requests\r\n",
        431 => b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
        500 => b"HTTP/1.1 500 Internal Server Error\r\n",
        503 => b"HTTP/1.1 503 Service Unavailable\r\n",
        505 => b"HTTP/1.1 505 HTTP Version Not Supported\r\n",
        _ => b"HTTP/1.1 500 Internal Server Error\r\n",
    }
}

pub const JSON_TYPE: &[u8] = b"Content-Type: application/json\r\n";
pub const CSV_TYPE: &[u8] = b"Content-Type: text/csv; charset=utf-8\r\n";
/// Reads may change on any write or week rollover: caches must revalidate.
pub const CACHE_READ: &[u8] = b"Cache-Control: no-cache\r\n";
pub const CACHE_NONE: &[u8] = b"Cache-Control: no-store\r\n";
/// On the public read answers and their errors: the availability is public, so a
/// web page on any origin may read it (no credentials are involved; writes answer
/// no CORS preflight, so a page cannot PATCH).
pub const CORS_ANY: &[u8] = b"Access-Control-Allow-Origin: *\r\n";

/// The head's first lines of a JSON answer that no cache keeps (health, readiness,
/// errors): status line, type, `Cache-Control: no-store`, `Content-Length`.
pub fn put_uncached_json_head(w: &mut ByteWriter<'_>, status: u16, content_len_bytes: usize) {
    w.put(status_line(status))
        .put(JSON_TYPE)
        .put(CACHE_NONE)
        .put(b"Content-Length: ")
        .put_u64(content_len_bytes as u64)
        .put(b"\r\n");
}

/// Writes `Date: …\r\n`.
pub fn put_date(w: &mut ByteWriter<'_>, date: &[u8; IMF_FIXDATE_LEN]) {
    w.put(b"Date: ").put(date).put(b"\r\n");
}

/// The `Connection` header a response needs, if any: `close` when the server will
/// close after it; `keep-alive` only for HTTP/1.0 clients that asked for it.
pub fn put_connection(w: &mut ByteWriter<'_>, close: bool, http10_keep_alive: bool) {
    if close {
        w.put(b"Connection: close\r\n");
    } else if http10_keep_alive {
        w.put(b"Connection: keep-alive\r\n");
    }
}

/// The JSON error body `{"error":{"code":…,"message":…}}`; `detail`, when given,
/// is appended to the message as a quoted, escaped value.
pub fn put_error_body(w: &mut ByteWriter<'_>, code: &str, message: &str, detail: Option<&[u8]>) {
    w.put(b"{\"error\":{\"code\":\"")
        .put_str(code)
        .put(b"\",\"message\":\"")
        .put_json_escaped(message.as_bytes());
    if let Some(detail) = detail {
        w.put(b": \\\"").put_json_escaped(detail).put(b"\\\"");
    }
    w.put(b"\"}}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_reports_overflow_without_partial_writes() {
        let mut buf = [0u8; 8];
        let mut w = ByteWriter::new(&mut buf);
        w.put(b"12345").put(b"6789");
        assert!(w.overflowed());
        assert_eq!(w.written(), b"12345");
        // Filling the buffer exactly is not an overflow.
        let mut w = ByteWriter::new(&mut buf);
        w.put(b"1234").put(b"5678");
        assert!(!w.overflowed());
        assert_eq!(w.written(), b"12345678");
    }

    #[test]
    fn every_status_sent_has_its_own_status_line() {
        for status in [
            200, 304, 400, 401, 404, 405, 408, 412, 413, 415, 429, 431, 500, 503, 505,
        ] {
            let line = std::str::from_utf8(status_line(status)).expect("ASCII");
            assert!(
                line.starts_with(&format!("HTTP/1.1 {status} ")) && line.ends_with("\r\n"),
                "{status}: {line:?}"
            );
        }
    }

    #[test]
    fn a_utf8_sequence_cut_short_at_the_end_is_one_replacement_character() {
        // `from_utf8` reports no error length for a sequence the input ends inside:
        // the rest of the input is that one bad sequence.
        for (input, expected) in [
            (&b"a\xc3"[..], "a\u{fffd}"),
            (b"abcd\xe2\x82", "abcd\u{fffd}"),
            (b"\xf0\x9f\x98", "\u{fffd}"),
            (b"ok\xffx\xe2\x82", "ok\u{fffd}x\u{fffd}"),
        ] {
            let mut buf = [0u8; 64];
            let mut w = ByteWriter::new(&mut buf);
            w.put_json_escaped(input);
            assert_eq!(w.written(), expected.as_bytes(), "{input:?}");
        }
    }

    #[test]
    fn json_escaping_is_valid_json() {
        let mut buf = [0u8; 256];
        let mut w = ByteWriter::new(&mut buf);
        put_error_body(
            &mut w,
            "invalid_timezone",
            "unknown timezone",
            Some(b"a\"b\\c\n\xff"),
        );
        let parsed: serde_json::Value = serde_json::from_slice(w.written()).expect("valid JSON");
        assert_eq!(parsed["error"]["code"], "invalid_timezone");
        assert_eq!(
            parsed["error"]["message"],
            "unknown timezone: \"a\"b\\c\n\u{fffd}\""
        );
    }
}
