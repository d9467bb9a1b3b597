//! Incremental HTTP/1.1 response parser (RFC 9112 framing).
//!
//! The parser never owns bytes: the caller keeps a read buffer and hands the parser
//! the unconsumed part. A response head must be complete in the buffer before it is
//! parsed (the parser returns `(0, None)` until then); bodies are skipped as they
//! stream past, so a 20 KiB body never has to sit in the buffer whole.

use std::fmt;

/// One complete response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    /// Status code, 100..=599 (1xx interim responses are skipped, never returned).
    pub status: u16,
    /// Whether the connection may carry another response after this one.
    pub keep_alive: bool,
}

/// Why a response could not be framed. The connection is unusable afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// No end of head (`CRLF CRLF`) within the head limit.
    HeadTooLarge,
    /// The status line is not `HTTP/1.x NNN reason`.
    StatusLine,
    /// A header line is not `name: value`.
    HeaderLine,
    /// `Content-Length` is not one decimal number (or repeats with another value).
    ContentLength,
    /// A chunk size or chunk delimiter is malformed.
    Chunk,
    /// `101 Switching Protocols`: this client never asks for an upgrade.
    Upgrade,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            ParseError::HeadTooLarge => "response head too large",
            ParseError::StatusLine => "malformed status line",
            ParseError::HeaderLine => "malformed header line",
            ParseError::ContentLength => "invalid Content-Length",
            ParseError::Chunk => "malformed chunked encoding",
            ParseError::Upgrade => "unexpected 101 Switching Protocols",
        };
        f.write_str(what)
    }
}

impl std::error::Error for ParseError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading hex digits of a chunk size; `digits` counts them.
    Size {
        value: u64,
        digits: u8,
    },
    /// Skipping a chunk extension up to CR; `value` is the size already read.
    Ext {
        value: u64,
    },
    /// Saw CR after the size line, expecting LF.
    SizeLf {
        value: u64,
    },
    /// Skipping chunk data; bytes still to skip.
    Data(u64),
    DataCr,
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    /// Inside a trailer field line, skipping to CR.
    TrailerLine,
    TrailerLf,
    /// Saw CR of the final empty line, expecting LF.
    FinalLf,
}

const START_CHUNK: Chunk = Chunk::Size {
    value: 0,
    digits: 0,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Length(u64),
    Chunked(Chunk),
    UntilClose,
}

/// Streaming response framer: feed it the unconsumed bytes, it says how many it used.
#[derive(Debug)]
pub struct ResponseParser {
    state: State,
    status: u16,
    keep_alive: bool,
    /// Bytes of the pending head already searched for the terminator.
    scanned_bytes: usize,
    max_head_bytes: usize,
}

impl ResponseParser {
    /// A parser that rejects response heads longer than `max_head_bytes`.
    pub fn new(max_head_bytes: usize) -> Self {
        ResponseParser {
            state: State::Head,
            status: 0,
            keep_alive: true,
            scanned_bytes: 0,
            max_head_bytes,
        }
    }

    /// Forget any partial response (used when the connection is replaced).
    pub fn reset(&mut self) {
        self.state = State::Head;
        self.scanned_bytes = 0;
    }

    /// True when no byte of a response is pending (a clean place to close).
    pub fn is_idle(&self) -> bool {
        self.state == State::Head && self.scanned_bytes == 0
    }

    /// Consumes bytes from the front of `buf`, finishing at most one response.
    ///
    /// `head_request` tells whether the request this response answers was a HEAD (no
    /// body follows whatever the headers say). Returns the number of bytes used and the
    /// response if it completed. `(0, None)` means "need more bytes"; the caller must keep
    /// the unconsumed bytes and call again with them plus whatever arrives next.
    pub fn parse(
        &mut self,
        buf: &[u8],
        head_request: bool,
    ) -> Result<(usize, Option<Response>), ParseError> {
        match self.state {
            State::Head => self.parse_head(buf, head_request),
            State::Length(left) => {
                let take = left.min(buf.len() as u64);
                let left = left - take;
                self.state = State::Length(left);
                let done = (left == 0).then(|| self.finish());
                Ok((take as usize, done))
            }
            State::Chunked(chunk) => self.parse_chunked(chunk, buf),
            State::UntilClose => Ok((buf.len(), None)),
        }
    }

    /// The peer closed the connection: completes a body delimited by close.
    pub fn on_eof(&mut self) -> Option<Response> {
        if self.state == State::UntilClose {
            self.keep_alive = false;
            Some(self.finish())
        } else {
            None
        }
    }

    fn finish(&mut self) -> Response {
        self.state = State::Head;
        self.scanned_bytes = 0;
        Response {
            status: self.status,
            keep_alive: self.keep_alive,
        }
    }

    fn parse_head(
        &mut self,
        buf: &[u8],
        head_request: bool,
    ) -> Result<(usize, Option<Response>), ParseError> {
        // Resume the search a few bytes back so a terminator split across reads is found.
        let from = self.scanned_bytes.saturating_sub(3).min(buf.len());
        let Some(end) = find_head_end(buf, from) else {
            self.scanned_bytes = buf.len();
            if buf.len() >= self.max_head_bytes {
                return Err(ParseError::HeadTooLarge);
            }
            return Ok((0, None));
        };
        if end > self.max_head_bytes {
            return Err(ParseError::HeadTooLarge);
        }
        // Keep each line's CR; drop the final `\n\r\n` so every line ends in CR.
        let head = parse_head_fields(&buf[..end - 3])?;
        self.status = head.status;
        self.keep_alive = head.keep_alive;
        self.scanned_bytes = 0;
        if head.status == 101 {
            return Err(ParseError::Upgrade);
        }
        if head.status < 200 {
            // Interim response (100 Continue, 103 Early Hints): the real one follows.
            return Ok((end, None));
        }
        let no_body = head_request || head.status == 204 || head.status == 304;
        // RFC 9112 §6.3: no body, then Transfer-Encoding, then Content-Length, else close.
        self.state = match (no_body, head.chunked, head.content_length) {
            (true, _, _) => State::Length(0),
            (_, Some(true), _) => State::Chunked(START_CHUNK),
            (_, Some(false), _) | (_, None, None) => State::UntilClose,
            (_, None, Some(len)) => State::Length(len),
        };
        if self.state == State::UntilClose {
            self.keep_alive = false;
        }
        if self.state == State::Length(0) {
            return Ok((end, Some(self.finish())));
        }
        Ok((end, None))
    }

    fn parse_chunked(
        &mut self,
        mut chunk: Chunk,
        buf: &[u8],
    ) -> Result<(usize, Option<Response>), ParseError> {
        let mut pos = 0;
        while pos < buf.len() {
            if let Chunk::Data(left) = chunk {
                let take = left.min((buf.len() - pos) as u64);
                pos += take as usize;
                chunk = if left == take {
                    Chunk::DataCr
                } else {
                    Chunk::Data(left - take)
                };
                continue;
            }
            let byte = buf[pos];
            pos += 1;
            chunk = match (chunk, byte) {
                (Chunk::Size { value, digits }, _) if byte.is_ascii_hexdigit() => {
                    if digits >= 15 {
                        return Err(ParseError::Chunk);
                    }
                    let digit = u64::from((byte as char).to_digit(16).unwrap_or(0));
                    Chunk::Size {
                        value: value * 16 + digit,
                        digits: digits + 1,
                    }
                }
                (Chunk::Size { digits: 0, .. }, _) => return Err(ParseError::Chunk),
                (Chunk::Size { value, .. }, b'\r') => Chunk::SizeLf { value },
                // Extensions (and whitespace before them) are ignored up to CR.
                (Chunk::Size { value, .. }, b';' | b' ' | b'\t') => Chunk::Ext { value },
                (Chunk::Ext { value }, b'\r') => Chunk::SizeLf { value },
                (Chunk::Ext { .. }, b'\n') => return Err(ParseError::Chunk),
                (Chunk::Ext { value }, _) => Chunk::Ext { value },
                (Chunk::SizeLf { value: 0 }, b'\n') => Chunk::TrailerStart,
                (Chunk::SizeLf { value }, b'\n') => Chunk::Data(value),
                (Chunk::DataCr, b'\r') => Chunk::DataLf,
                (Chunk::DataLf, b'\n') => START_CHUNK,
                (Chunk::TrailerStart, b'\r') => Chunk::FinalLf,
                (Chunk::TrailerLine, b'\r') => Chunk::TrailerLf,
                (Chunk::TrailerStart | Chunk::TrailerLine, b'\n') => return Err(ParseError::Chunk),
                (Chunk::TrailerStart | Chunk::TrailerLine, _) => Chunk::TrailerLine,
                (Chunk::TrailerLf, b'\n') => Chunk::TrailerStart,
                (Chunk::FinalLf, b'\n') => {
                    return Ok((pos, Some(self.finish())));
                }
                _ => return Err(ParseError::Chunk),
            };
        }
        self.state = State::Chunked(chunk);
        Ok((pos, None))
    }
}

/// Position just past the first `\r\n\r\n` in `buf`, searching from `from`.
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(off) = buf[i..].iter().position(|&b| b == b'\n') {
        let lf = i + off;
        if lf >= 3 && &buf[lf - 3..=lf] == b"\r\n\r\n" {
            return Some(lf + 1);
        }
        i = lf + 1;
    }
    None
}

/// What the framing rules need from a response head.
struct Head {
    status: u16,
    keep_alive: bool,
    content_length: Option<u64>,
    /// `Some(true)` if the final transfer coding is chunked, `Some(false)` for any
    /// other transfer coding (body then runs to close), `None` without the header.
    chunked: Option<bool>,
}

/// Parses a head given as LF-separated lines that each end in CR (the bytes before the
/// final `\n\r\n`).
fn parse_head_fields(head: &[u8]) -> Result<Head, ParseError> {
    let mut lines = head.split(|&b| b == b'\n');
    let status_line = lines.next().ok_or(ParseError::StatusLine)?;
    let status_line = status_line
        .strip_suffix(b"\r")
        .ok_or(ParseError::StatusLine)?;
    let (http11, status) = parse_status_line(status_line)?;
    let mut out = Head {
        status,
        keep_alive: http11,
        content_length: None,
        chunked: None,
    };
    let (mut saw_close, mut saw_keep_alive) = (false, false);
    for line in lines {
        let line = line.strip_suffix(b"\r").ok_or(ParseError::HeaderLine)?;
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(ParseError::HeaderLine)?;
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(ParseError::HeaderLine);
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            let len = parse_decimal(value).ok_or(ParseError::ContentLength)?;
            if out.content_length.is_some_and(|prev| prev != len) {
                return Err(ParseError::ContentLength);
            }
            out.content_length = Some(len);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            let last = value.rsplit(|&b| b == b',').next().map(trim);
            out.chunked = Some(last.is_some_and(|c| c.eq_ignore_ascii_case(b"chunked")));
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',').map(trim) {
                saw_close |= token.eq_ignore_ascii_case(b"close");
                saw_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    out.keep_alive = if saw_close {
        false
    } else {
        out.keep_alive || saw_keep_alive
    };
    Ok(out)
}

/// `HTTP/1.1 200 OK` → (is HTTP/1.1, 200).
fn parse_status_line(line: &[u8]) -> Result<(bool, u16), ParseError> {
    let http11 = match line.get(..9) {
        Some(b"HTTP/1.1 ") => true,
        Some(b"HTTP/1.0 ") => false,
        _ => return Err(ParseError::StatusLine),
    };
    let code = line.get(9..12).ok_or(ParseError::StatusLine)?;
    if !code.iter().all(u8::is_ascii_digit) || line.get(12).is_some_and(|&b| b != b' ') {
        return Err(ParseError::StatusLine);
    }
    let status = code
        .iter()
        .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
    if !(100..=599).contains(&status) {
        return Err(ParseError::StatusLine);
    }
    Ok((http11, status))
}

fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0')),
    )
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// RFC 9110 token characters (header names).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
