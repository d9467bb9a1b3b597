//! Properties of `http::chunked::ChunkedDecoder` (run from the `request_head` target).

use availability_server::http::{ChunkError, ChunkedDecoder, Progress};

use std::cell::RefCell;

use crate::framing::{MAX_BODY_BYTES, split_points};
use crate::lines::find;

/// What feeding a decoder produced.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// `Ok(Some(n))`: done after `n` input bytes; `Ok(None)`: all input taken, not done.
    result: Result<Option<usize>, ChunkError>,
    body: Vec<u8>,
}

/// One-shot and split decoding agree; accepted bodies satisfy the strict grammar and
/// decode the same with a naive reference decoder.
pub fn check(input: &[u8], hash: u64) {
    // Mostly the server limit; sometimes a tiny one to reach `TooLarge` often.
    let max_body = if hash & 0x10 == 0 {
        MAX_BODY_BYTES
    } else {
        ((hash >> 5) % 64) as usize
    };
    let whole = feed(input, &[], max_body);
    if let Ok(Some(consumed)) = whole.result {
        assert!(whole.body.len() <= max_body, "decoded body over the limit");
        let encoded = &input[..consumed];
        assert!(encoded.ends_with(b"\r\n"), "done before the final CRLF");
        let reference = reference_decode(encoded);
        assert_eq!(
            reference,
            Some((whole.body.clone(), consumed)),
            "reference decoder disagrees on {:?}",
            encoded.escape_ascii().to_string()
        );
        check_strict_size_lines(encoded);
    }
    if let Ok(None) = whole.result {
        assert!(whole.body.len() <= max_body);
    }
    let cuts = split_points(input.len(), hash >> 3, &[]);
    let pieces = feed(input, &cuts, max_body);
    assert_eq!(
        whole, pieces,
        "decoding depends on where the input was split ({cuts:?})"
    );
}

/// Feeds `input` cut at `cuts`; stops at the first error or at `done`. After `done`,
/// the decoder must take nothing more.
fn feed(input: &[u8], cuts: &[usize], max_body: usize) -> Outcome {
    BODY.with_borrow_mut(|body| feed_into(input, cuts, max_body, &mut body[..max_body]))
}

thread_local! {
    /// Decoded-body scratch, reused across runs (allocating it each time was slow).
    static BODY: RefCell<Vec<u8>> = RefCell::new(vec![0u8; MAX_BODY_BYTES]);
}

fn feed_into(input: &[u8], cuts: &[usize], max_body: usize, body: &mut [u8]) -> Outcome {
    let mut decoder = ChunkedDecoder::new(max_body);
    let mut body_len = 0;
    let mut bounds: Vec<usize> = cuts.iter().copied().filter(|&c| c < input.len()).collect();
    bounds.push(input.len());
    let mut start = 0;
    for end in bounds {
        if end < start {
            continue;
        }
        let piece = &input[start..end];
        match decoder.decode(piece, body, &mut body_len) {
            Ok(Progress {
                consumed_bytes,
                done: true,
            }) => {
                let rest = &input[start + consumed_bytes..];
                let after = decoder.decode(rest, body, &mut body_len);
                assert_eq!(
                    after,
                    Ok(Progress {
                        consumed_bytes: 0,
                        done: true
                    }),
                    "a finished decoder took more input"
                );
                return Outcome {
                    result: Ok(Some(start + consumed_bytes)),
                    body: body[..body_len].to_vec(),
                };
            }
            Ok(progress) => assert_eq!(progress.consumed_bytes, piece.len(), "input left over"),
            Err(err) => {
                return Outcome {
                    result: Err(err),
                    body: body[..body_len].to_vec(),
                };
            }
        }
        start = end;
    }
    Outcome {
        result: Ok(None),
        body: body[..body_len].to_vec(),
    }
}

/// A naive chunked decoder: size line up to CRLF (hex digits before any `;`), data,
/// CRLF; after the zero chunk, trailer lines up to an empty line. Returns the body
/// and the bytes consumed, or `None` if the input is not a complete body.
fn reference_decode(input: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let line_len = find(&input[at..], b"\r\n")?;
        let line = &input[at..at + line_len];
        let digits = line.split(|&b| b == b';').next()?;
        let size = usize::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()?;
        at += line_len + 2;
        if size == 0 {
            break;
        }
        body.extend_from_slice(input.get(at..at + size)?);
        at += size;
        if input.get(at..at + 2)? != b"\r\n" {
            return None;
        }
        at += 2;
    }
    loop {
        let line_len = find(&input[at..], b"\r\n")?;
        at += line_len + 2;
        if line_len == 0 {
            return Some((body, at));
        }
    }
}

/// The decoder's promise (module docs of src/http/chunked.rs): 1–8 hex digits, no
/// whitespace on a size line, lines of at most 256 bytes, no bare CR or LF.
fn check_strict_size_lines(encoded: &[u8]) {
    let mut at = 0;
    loop {
        let Some(line_len) = find(&encoded[at..], b"\r\n") else {
            return;
        };
        let line = &encoded[at..at + line_len];
        assert!(line_len <= 256, "size line of {line_len} bytes accepted");
        assert!(
            !line.iter().any(|&b| b == b'\r' || b == b'\n'),
            "bare CR/LF in size line"
        );
        let digits = line.split(|&b| b == b';').next().unwrap_or(&[]);
        assert!(
            (1..=8).contains(&digits.len()) && digits.iter().all(u8::is_ascii_hexdigit),
            "chunk size {:?} accepted",
            digits.escape_ascii().to_string()
        );
        let unquoted_ws = !line.contains(&b'"') && line.iter().any(|&b| b == b' ' || b == b'\t');
        assert!(!unquoted_ws, "whitespace on a size line accepted");
        let size =
            usize::from_str_radix(std::str::from_utf8(digits).unwrap_or("0"), 16).unwrap_or(0);
        at += line_len + 2;
        if size == 0 {
            return; // Trailers follow; the reference decoder covered them.
        }
        at += size + 2;
        if at > encoded.len() {
            return;
        }
    }
}
