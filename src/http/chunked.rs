//! A strict, incremental decoder for `Transfer-Encoding: chunked` request bodies
//! (RFC 9112 §7.1). A byte-at-a-time state machine (chunk data is copied in bulk), so
//! input may arrive split anywhere; it never allocates.
//!
//! Stricter than the RFC where leniency only helps request smuggling: the chunk-size is
//! 1–8 hex digits with no whitespace anywhere on its line (the RFC's BWS around
//! extensions is not accepted), and every line ends in CRLF.

/// Longest chunk-size line, extensions included, CRLF excluded.
const MAX_SIZE_LINE_BYTES: usize = 256;
/// Longest trailer section, counting every field line with its CRLF.
pub const MAX_TRAILER_BYTES: usize = 4096;
/// Most hex digits in a chunk-size (so a size always fits in a u32).
const MAX_SIZE_DIGITS: u8 = 8;

/// Why a chunked body was rejected.
#[derive(Debug, PartialEq, Eq)]
pub enum ChunkError {
    /// The decoded body exceeds its limit (413).
    TooLarge,
    /// The trailer section exceeds [`MAX_TRAILER_BYTES`] (431: its fields, not the
    /// body, are too large, and `--max-body-bytes` would not help).
    TrailerTooLarge,
    /// Malformed chunked framing (400); the message is for the JSON error body.
    Bad(&'static str),
}

/// The outcome of one [`ChunkedDecoder::decode`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Input bytes consumed; all of them unless `done`.
    pub consumed_bytes: usize,
    /// The body ended: the last chunk and the trailer section's final CRLF were consumed.
    pub done: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading chunk-size hex digits.
    Size,
    /// After the size or a complete extension: expects `;` or CR.
    ExtDelimiter,
    /// After `;`: expects the first byte of an extension name.
    ExtNameStart,
    /// Inside an extension name.
    ExtName,
    /// After `=`: expects a token or a quoted-string.
    ExtValueStart,
    /// Inside a token extension value.
    ExtToken,
    /// Inside a quoted-string extension value.
    ExtQuoted,
    /// After a backslash inside a quoted-string.
    ExtQuotedEscape,
    /// CR of the chunk-size line seen; expects LF.
    SizeLf,
    /// Copying chunk data; `remaining_bytes` left in this chunk.
    Data,
    /// Chunk data done; expects CR.
    DataCr,
    /// Expects the LF after chunk data.
    DataLf,
    /// At the start of a trailer line (a field, or the empty line that ends the body).
    TrailerLineStart,
    /// Inside a trailer field name.
    TrailerName,
    /// Inside a trailer field value.
    TrailerValue,
    /// CR of a trailer field line seen; expects LF.
    TrailerLf,
    /// CR of the final empty line seen; expects LF.
    EndLf,
    /// The body is complete.
    Done,
    /// An error was returned; the decoder must not be used further.
    Failed,
}

/// Incremental chunked-body decoder; see the module docs for its strictness.
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: State,
    max_body_len_bytes: u64,
    decoded_bytes: u64,
    /// Chunk-size being read, then the bytes left in the current chunk.
    remaining_bytes: u64,
    size_digits: u8,
    line_len_bytes: usize,
    trailer_len_bytes: usize,
}

impl ChunkedDecoder {
    /// A decoder for one body whose decoded size may not exceed `max_body_len_bytes`.
    pub fn new(max_body_len_bytes: usize) -> Self {
        ChunkedDecoder {
            state: State::Size,
            max_body_len_bytes: max_body_len_bytes as u64,
            decoded_bytes: 0,
            remaining_bytes: 0,
            size_digits: 0,
            line_len_bytes: 0,
            trailer_len_bytes: 0,
        }
    }

    /// Consumes as much of `input` as possible, appending decoded data to
    /// `body[*body_len_bytes..]` and advancing `body_len_bytes`. Returns `done = true` after the
    /// last chunk and the trailer section's final CRLF; `consumed_bytes` then stops
    /// exactly there, so pipelined bytes after the body are left alone.
    ///
    /// `body` should have room for `max_body_len_bytes`; if it has less, running out
    /// of room is reported as [`ChunkError::TooLarge`].
    pub fn decode(
        &mut self,
        input: &[u8],
        body: &mut [u8],
        body_len_bytes: &mut usize,
    ) -> Result<Progress, ChunkError> {
        let result = self.run(input, body, body_len_bytes);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    fn run(
        &mut self,
        input: &[u8],
        body: &mut [u8],
        body_len_bytes: &mut usize,
    ) -> Result<Progress, ChunkError> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Done => return Ok(self.progress(i)),
                State::Failed => return Err(ChunkError::Bad("chunked decoder already failed")),
                State::Data => {
                    let available = input.len() - i;
                    let n = usize::try_from(self.remaining_bytes)
                        .map_or(available, |remaining| remaining.min(available));
                    let start = *body_len_bytes;
                    let dest = start
                        .checked_add(n)
                        .and_then(|end| body.get_mut(start..end))
                        .ok_or(ChunkError::TooLarge)?;
                    dest.copy_from_slice(&input[i..i + n]);
                    *body_len_bytes += n;
                    i += n;
                    self.remaining_bytes -= n as u64;
                    if self.remaining_bytes == 0 {
                        self.state = State::DataCr;
                    }
                }
                _ => {
                    self.step(input[i])?;
                    i += 1;
                }
            }
        }
        Ok(self.progress(i))
    }

    fn progress(&self, consumed_bytes: usize) -> Progress {
        Progress {
            consumed_bytes,
            done: self.state == State::Done,
        }
    }

    /// Advances the state machine by one byte (any state but `Data`).
    fn step(&mut self, b: u8) -> Result<(), ChunkError> {
        use State::*;
        if matches!(
            self.state,
            Size | ExtDelimiter
                | ExtNameStart
                | ExtName
                | ExtValueStart
                | ExtToken
                | ExtQuoted
                | ExtQuotedEscape
        ) && b != b'\r'
        {
            self.line_len_bytes += 1;
            if self.line_len_bytes > MAX_SIZE_LINE_BYTES {
                return Err(ChunkError::Bad("chunk-size line longer than 256 bytes"));
            }
        }
        if matches!(
            self.state,
            TrailerLineStart | TrailerName | TrailerValue | TrailerLf
        ) {
            self.trailer_len_bytes += 1;
            if self.trailer_len_bytes > MAX_TRAILER_BYTES {
                return Err(ChunkError::TrailerTooLarge);
            }
        }
        self.state = match (self.state, b) {
            (_, b'\n') if !matches!(self.state, SizeLf | DataLf | TrailerLf | EndLf) => {
                return Err(ChunkError::Bad("bare LF in chunked body"));
            }
            (Size, _) if b.is_ascii_hexdigit() => {
                if self.size_digits == MAX_SIZE_DIGITS {
                    return Err(ChunkError::Bad("chunk size longer than 8 hex digits"));
                }
                self.size_digits += 1;
                self.remaining_bytes = self.remaining_bytes * 16 + u64::from(hex_value(b));
                if self.decoded_bytes + self.remaining_bytes > self.max_body_len_bytes {
                    return Err(ChunkError::TooLarge);
                }
                Size
            }
            (Size, _) if self.size_digits == 0 => {
                return Err(ChunkError::Bad("chunk size must be hex digits"));
            }
            (Size | ExtDelimiter | ExtName | ExtToken, b';') => ExtNameStart,
            (Size | ExtDelimiter | ExtName | ExtToken, b'\r') => SizeLf,
            (Size | ExtDelimiter, _) => {
                return Err(ChunkError::Bad("invalid byte after chunk size"));
            }
            (ExtNameStart | ExtName, _) if is_tchar(b) => ExtName,
            (ExtName, b'=') => ExtValueStart,
            (ExtValueStart, b'"') => ExtQuoted,
            (ExtValueStart | ExtToken, _) if is_tchar(b) => ExtToken,
            (ExtNameStart | ExtName | ExtValueStart | ExtToken, _) => {
                return Err(ChunkError::Bad("invalid chunk extension"));
            }
            (ExtQuoted, b'"') => ExtDelimiter,
            (ExtQuoted, b'\\') => ExtQuotedEscape,
            (ExtQuoted, _) if is_qdtext(b) => ExtQuoted,
            (ExtQuotedEscape, _) if is_field_byte(b) => ExtQuoted,
            (ExtQuoted | ExtQuotedEscape, _) => {
                return Err(ChunkError::Bad("invalid quoted-string in chunk extension"));
            }
            (SizeLf, b'\n') => self.end_size_line(),
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => Size,
            (DataCr | DataLf, _) => {
                return Err(ChunkError::Bad("chunk data not followed by CRLF"));
            }
            (TrailerLineStart, b'\r') => EndLf,
            (TrailerLineStart, b' ' | b'\t') => {
                return Err(ChunkError::Bad("obs-fold in chunked trailer"));
            }
            (TrailerLineStart | TrailerName, _) if is_tchar(b) => TrailerName,
            (TrailerName, b':') => TrailerValue,
            (TrailerLineStart | TrailerName, _) => {
                return Err(ChunkError::Bad("invalid trailer field name"));
            }
            (TrailerValue, b'\r') => TrailerLf,
            (TrailerValue, _) if is_field_byte(b) => TrailerValue,
            (TrailerValue, _) => return Err(ChunkError::Bad("invalid trailer field value")),
            (TrailerLf, b'\n') => TrailerLineStart,
            (EndLf, b'\n') => Done,
            (SizeLf | TrailerLf | EndLf, _) => {
                return Err(ChunkError::Bad("bare CR in chunked body"));
            }
            (Data | Done | Failed, _) => unreachable!("handled by run()"),
        };
        Ok(())
    }

    /// The chunk-size line is complete: start the data, or the trailer after the last chunk.
    fn end_size_line(&mut self) -> State {
        self.line_len_bytes = 0;
        self.size_digits = 0;
        if self.remaining_bytes == 0 {
            State::TrailerLineStart
        } else {
            // The limit was checked digit by digit in `step`.
            self.decoded_bytes += self.remaining_bytes;
            State::Data
        }
    }
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => unreachable!("caller checked is_ascii_hexdigit"),
    }
}

/// RFC 9110 tchar.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// RFC 9110 qdtext: HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text.
fn is_qdtext(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21 | 0x23..=0x5B | 0x5D..=0x7E | 0x80..=0xFF)
}

/// Field-value bytes: HTAB / SP / VCHAR / obs-text (also the quoted-pair range).
fn is_field_byte(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21..=0x7E | 0x80..=0xFF)
}
