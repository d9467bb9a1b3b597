//! `ChunkedDecoder`: strict RFC 9112 §7.1 framing, limits, and split-independence.

use availability_server::http::{ChunkError, ChunkedDecoder, Progress};

const MAX: usize = 1024;

/// Decodes `input` fed in the given pieces; returns (decoded body, total consumed) once
/// done, or the first error. Stops feeding after `done`.
fn decode_pieces(pieces: &[&[u8]], max: usize) -> Result<(Vec<u8>, usize, bool), ChunkError> {
    let mut decoder = ChunkedDecoder::new(max);
    let mut body = vec![0u8; max];
    let mut body_len = 0;
    let mut consumed = 0;
    for piece in pieces {
        let Progress {
            consumed_bytes,
            done,
        } = decoder.decode(piece, &mut body, &mut body_len)?;
        consumed += consumed_bytes;
        if done {
            body.truncate(body_len);
            return Ok((body, consumed, true));
        }
        assert_eq!(
            consumed_bytes,
            piece.len(),
            "an unfinished decoder consumes everything"
        );
    }
    body.truncate(body_len);
    Ok((body, consumed, false))
}

fn decode_all(input: &[u8]) -> Result<(Vec<u8>, usize, bool), ChunkError> {
    decode_pieces(&[input], MAX)
}

fn bad(input: &[u8]) -> &'static str {
    match decode_all(input) {
        Err(ChunkError::Bad(message)) => message,
        other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(input)),
    }
}

/// Splitting the input at any byte, or feeding it byte by byte, changes nothing.
fn assert_split_independent(input: &[u8]) {
    let whole = decode_all(input);
    for split in 0..=input.len() {
        let parts = decode_pieces(&[&input[..split], &input[split..]], MAX);
        assert_eq!(
            parts,
            whole,
            "split at {split} of {:?}",
            String::from_utf8_lossy(input)
        );
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(decode_pieces(&bytes, MAX), whole);
}

#[test]
fn decodes_chunks_and_stops_at_the_end_of_the_body() {
    let body = b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n";
    let mut input = body.to_vec();
    input.extend_from_slice(b"GET / HTTP/1.1\r\n");
    let (decoded, consumed, done) = decode_all(&input).expect("valid");
    assert_eq!(decoded, b"hello, world");
    assert_eq!(consumed, body.len(), "pipelined bytes are left alone");
    assert!(done);
}

#[test]
fn hex_sizes_in_either_case() {
    let data = [b'x'; 26];
    for size in ["1a", "1A", "001A", "0000001a"] {
        let mut input = format!("{size}\r\n").into_bytes();
        input.extend_from_slice(&data);
        input.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(decode_all(&input).expect(size).0, data, "{size}");
    }
}

#[test]
fn split_anywhere_gives_the_same_result() {
    let inputs: [&[u8]; 9] = [
        b"5\r\nhello\r\n0\r\n\r\n",
        b"3;ext\r\nabc\r\n2;a=b;c=\"q \\\" ;x\"\r\nde\r\n0;last\r\n\r\nNEXT",
        b"4\r\nwxyz\r\n0\r\nExpires: never\r\nX-Sum: 12\r\n\r\n",
        b"a\r\n0123456789\r\n0\r\nEmpty:\r\n\r\n",
        // Invalid ones must fail identically however they arrive.
        b"5\r\nhello\n0\r\n\r\n",
        b"5 \r\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\r\n0\r\n folded\r\n\r\n",
        b"5\r\nhelloXY0\r\n\r\n",
        b"800\r\n",
    ];
    for input in inputs {
        assert_split_independent(input);
    }
    assert_eq!(decode_all(inputs[1]).expect("valid").0, b"abcde");
    assert_eq!(decode_all(inputs[1]).expect("valid").1, inputs[1].len() - 4);
}

#[test]
fn decoding_after_done_consumes_nothing() {
    let mut decoder = ChunkedDecoder::new(MAX);
    let mut body = [0u8; MAX];
    let mut body_len = 0;
    let first = decoder.decode(b"1\r\na\r\n0\r\n\r\n", &mut body, &mut body_len);
    assert_eq!(first.map(|p| p.done), Ok(true));
    let again = decoder.decode(b"1\r\nb\r\n", &mut body, &mut body_len);
    assert_eq!(again.map(|p| (p.consumed_bytes, p.done)), Ok((0, true)));
    assert_eq!(&body[..body_len], b"a");
}

#[test]
fn chunk_size_is_strict() {
    for input in [
        &b" 5\r\nhello\r\n0\r\n\r\n"[..],
        b"\t5\r\nhello\r\n0\r\n\r\n",
        b"5 \r\nhello\r\n0\r\n\r\n",
        b"5\t\r\nhello\r\n0\r\n\r\n",
        b"5 ;a\r\nhello\r\n0\r\n\r\n",
        b"\r\nhello\r\n0\r\n\r\n",
        b"0x5\r\nhello\r\n0\r\n\r\n",
        b"+5\r\nhello\r\n0\r\n\r\n",
        b"-5\r\nhello\r\n0\r\n\r\n",
        b"g\r\n",
        b";a\r\n",
    ] {
        bad(input);
    }
    assert_eq!(
        bad(b"000000005\r\nhello\r\n0\r\n\r\n"),
        "chunk size longer than 8 hex digits"
    );
    assert_eq!(
        decode_all(b"00000005\r\nhello\r\n0\r\n\r\n")
            .expect("8 digits")
            .0,
        b"hello"
    );
}

#[test]
fn line_endings_are_strict() {
    assert_eq!(bad(b"5\nhello\r\n0\r\n\r\n"), "bare LF in chunked body");
    assert_eq!(bad(b"5\rhello\r\n0\r\n\r\n"), "bare CR in chunked body");
    assert_eq!(bad(b"5\r\nhello\n0\r\n\r\n"), "bare LF in chunked body");
    assert_eq!(
        bad(b"5\r\nhello\rX0\r\n\r\n"),
        "chunk data not followed by CRLF"
    );
    assert_eq!(
        bad(b"5\r\nhelloo\r\n0\r\n\r\n"),
        "chunk data not followed by CRLF"
    );
    assert_eq!(bad(b"5\r\nhello\r\n0\n\r\n"), "bare LF in chunked body");
    assert_eq!(bad(b"5\r\nhello\r\n0\r\n\n"), "bare LF in chunked body");
    assert_eq!(bad(b"5\r\nhello\r\n0\r\n\rX"), "bare CR in chunked body");
    assert_eq!(bad(b"0\r\nA: b\rX\r\n\r\n"), "bare CR in chunked body");
    assert_eq!(bad(b"0\r\nA: b\n\r\n"), "bare LF in chunked body");
}

#[test]
fn chunk_extensions() {
    for ok in [
        &b"1;a\r\nx\r\n0\r\n\r\n"[..],
        b"1;a=b\r\nx\r\n0\r\n\r\n",
        b"1;a=b;c;d=\"\"\r\nx\r\n0\r\n\r\n",
        b"1;a=\"quoted \\\"string\\\" ;=\"\r\nx\r\n0\r\n\r\n",
        b"1\r\nx\r\n0;a=1\r\n\r\n",
        b"1;a=\"caf\xc3\xa9 \\\xc3\\\t\"\r\nx\r\n0\r\n\r\n", // obs-text, quoted-pairs
    ] {
        assert_eq!(decode_all(ok).expect("valid extension").0, b"x");
    }
    // Control bytes are neither qdtext nor the second byte of a quoted-pair.
    for input in [
        &b"1;a=\"x\x01y\"\r\nx\r\n0\r\n\r\n"[..],
        b"1;a=\"x\x7f\"\r\nx\r\n0\r\n\r\n",
        b"1;a=\"x\\\x01\"\r\nx\r\n0\r\n\r\n",
        b"1;a=\"x\\\x7f\"\r\nx\r\n0\r\n\r\n",
    ] {
        assert_eq!(bad(input), "invalid quoted-string in chunk extension");
    }
    for input in [
        &b"1;\r\nx\r\n0\r\n\r\n"[..],
        b"1; a\r\nx\r\n0\r\n\r\n",
        b"1;a =b\r\nx\r\n0\r\n\r\n",
        b"1;a= b\r\nx\r\n0\r\n\r\n",
        b"1;=b\r\nx\r\n0\r\n\r\n",
        b"1;a=\r\nx\r\n0\r\n\r\n",
        b"1;a=b c\r\nx\r\n0\r\n\r\n",
        b"1;a=\"open\r\nx\r\n0\r\n\r\n",
        b"1;a=\"x\"y\r\nx\r\n0\r\n\r\n",
        b"1;a\"b\r\nx\r\n0\r\n\r\n",
    ] {
        bad(input);
    }
}

#[test]
fn size_line_is_bounded_to_256_bytes() {
    let line = |len: usize| {
        let mut input = b"1;a=".to_vec();
        input.resize(len, b'v');
        input.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
        input
    };
    assert!(decode_all(&line(256)).is_ok());
    assert_eq!(bad(&line(257)), "chunk-size line longer than 256 bytes");
}

#[test]
fn body_limit() {
    let exact = b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    assert_eq!(
        decode_pieces(&[exact], 5).expect("exactly the limit").0,
        b"abcde"
    );
    assert_eq!(decode_pieces(&[exact], 4), Err(ChunkError::TooLarge));
    // Rejected on the size line, before any data arrives.
    assert_eq!(decode_pieces(&[b"6\r\n"], 5), Err(ChunkError::TooLarge));
    // The limit is on the sum of the chunks: the second size line is refused too.
    assert_eq!(
        decode_pieces(&[b"3\r\nabc\r\n2\r\n"], 4),
        Err(ChunkError::TooLarge)
    );
    assert_eq!(decode_pieces(&[b"ffffffff"], 5), Err(ChunkError::TooLarge));
    // A body buffer smaller than the limit is reported, never overrun.
    let mut decoder = ChunkedDecoder::new(100);
    let mut body = [0u8; 4];
    let mut body_len = 0;
    let result = decoder.decode(b"5\r\nhello\r\n", &mut body, &mut body_len);
    assert_eq!(result.err(), Some(ChunkError::TooLarge));
}

#[test]
fn trailer_fields() {
    assert_eq!(
        bad(b"0\r\n folded: x\r\n\r\n"),
        "obs-fold in chunked trailer"
    );
    assert_eq!(
        bad(b"0\r\nA: b\r\n\tmore\r\n\r\n"),
        "obs-fold in chunked trailer"
    );
    assert_eq!(bad(b"0\r\nno colon\r\n\r\n"), "invalid trailer field name");
    assert_eq!(bad(b"0\r\n: x\r\n\r\n"), "invalid trailer field name");
    assert_eq!(bad(b"0\r\nA : x\r\n\r\n"), "invalid trailer field name");
    assert_eq!(bad(b"0\r\nA: \x01\r\n\r\n"), "invalid trailer field value");
    let trailer = |value_len: usize| {
        let mut input = b"0\r\nX: ".to_vec();
        input.resize(input.len() + value_len, b'v');
        input.extend_from_slice(b"\r\n\r\n");
        input
    };
    // "X: " + value + CRLF + the final CR = value_len + 6 trailer bytes.
    assert!(decode_all(&trailer(4090)).is_ok());
    assert_eq!(decode_all(&trailer(4091)), Err(ChunkError::TrailerTooLarge));
}

#[test]
fn a_failed_decoder_stays_failed() {
    let mut decoder = ChunkedDecoder::new(MAX);
    let mut body = [0u8; MAX];
    let mut body_len = 0;
    assert!(decoder.decode(b"z", &mut body, &mut body_len).is_err());
    assert!(
        decoder
            .decode(b"0\r\n\r\n", &mut body, &mut body_len)
            .is_err()
    );
}
