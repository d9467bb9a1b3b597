//! Response parser tests: framing, every split point, pipelining, errors.

use super::*;

/// Feeds `pieces` in order the way a connection does (keeping unconsumed bytes), then
/// signals EOF if `eof`. `head_requests[i]` says whether the i-th request was a HEAD.
fn drive(pieces: &[&[u8]], head_requests: &[bool], eof: bool) -> Result<Vec<Response>, ParseError> {
    let mut parser = ResponseParser::new(1024);
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            let head = head_requests.get(out.len()).copied().unwrap_or(false);
            let (used, resp) = parser.parse(&buf, head)?;
            buf.drain(..used);
            match resp {
                Some(r) => out.push(r),
                None if used == 0 || buf.is_empty() => break,
                None => {}
            }
        }
    }
    if eof {
        out.extend(parser.on_eof());
    }
    Ok(out)
}

fn ok(status: u16, keep_alive: bool) -> Response {
    Response { status, keep_alive }
}

/// Four pipelined responses exercising every framing rule the server uses.
const PIPELINED: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello\
HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n6\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nX-Trailer: yes\r\n\r\n\
HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n\
HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\nConnection: close\r\n\r\n{}";

fn pipelined_expected() -> Vec<Response> {
    vec![ok(200, true), ok(200, true), ok(204, true), ok(404, false)]
}

#[test]
fn whole_buffer_yields_every_pipelined_response_in_order() {
    assert_eq!(drive(&[PIPELINED], &[], false), Ok(pipelined_expected()));
}

#[test]
fn split_at_every_byte_boundary_gives_the_same_responses() {
    for split in 0..=PIPELINED.len() {
        let (a, b) = PIPELINED.split_at(split);
        assert_eq!(
            drive(&[a, b], &[], false),
            Ok(pipelined_expected()),
            "split at {split}"
        );
    }
}

#[test]
fn split_at_every_pair_of_boundaries_gives_the_same_responses() {
    let n = PIPELINED.len();
    for i in 0..=n {
        for j in i..=n {
            let pieces = [&PIPELINED[..i], &PIPELINED[i..j], &PIPELINED[j..]];
            assert_eq!(
                drive(&pieces, &[], false),
                Ok(pipelined_expected()),
                "{i}/{j}"
            );
        }
    }
}

#[test]
fn one_byte_at_a_time_gives_the_same_responses() {
    let pieces: Vec<&[u8]> = PIPELINED.chunks(1).collect();
    assert_eq!(drive(&pieces, &[], false), Ok(pipelined_expected()));
}

#[test]
fn incomplete_response_is_not_reported() {
    let cut = &PIPELINED[..PIPELINED.len() - 1];
    let got = drive(&[cut], &[], false).expect("valid prefix");
    assert_eq!(got, vec![ok(200, true), ok(200, true), ok(204, true)]);
}

#[test]
fn head_response_has_no_body_despite_content_length() {
    let stream = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n\
HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
    assert_eq!(
        drive(&[stream], &[true, false], false),
        Ok(vec![ok(200, true), ok(200, true)])
    );
    // Without the HEAD flag the second head would be read as 100 bytes of body.
    assert_eq!(drive(&[stream], &[false], false), Ok(vec![]));
}

#[test]
fn body_without_length_runs_to_close() {
    let stream = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome bytes";
    assert_eq!(drive(&[stream], &[], false), Ok(vec![]));
    assert_eq!(drive(&[stream], &[], true), Ok(vec![ok(200, false)]));
}

#[test]
fn eof_mid_length_body_completes_nothing() {
    let stream = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort";
    assert_eq!(drive(&[stream], &[], true), Ok(vec![]));
}

#[test]
fn http10_closes_unless_keep_alive_is_asked() {
    let close = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
    let keep = b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(drive(&[close], &[], false), Ok(vec![ok(200, false)]));
    assert_eq!(drive(&[keep], &[], false), Ok(vec![ok(200, true)]));
}

#[test]
fn connection_header_tokens_are_case_insensitive_lists() {
    let stream = b"HTTP/1.1 503 Busy\r\nconnection: upgrade, CLOSE\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(drive(&[stream], &[], false), Ok(vec![ok(503, false)]));
}

#[test]
fn interim_responses_are_skipped() {
    let stream = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(drive(&[stream], &[], false), Ok(vec![ok(201, true)]));
}

#[test]
fn not_modified_has_no_body() {
    let stream = b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n";
    assert_eq!(drive(&[stream], &[], false), Ok(vec![ok(304, true)]));
}

#[test]
fn chunked_wins_over_content_length_and_other_codings_run_to_close() {
    let both = b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n";
    assert_eq!(drive(&[both], &[], false), Ok(vec![ok(200, true)]));
    let gzip = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n";
    assert_eq!(drive(&[gzip], &[], true), Ok(vec![ok(200, false)]));
}

#[test]
fn chunk_data_that_looks_like_a_response_is_body() {
    let inner = b"HTTP/1.1 500 X\r\n\r\n";
    let mut stream = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    stream.extend_from_slice(format!("{:x}\r\n", inner.len()).as_bytes());
    stream.extend_from_slice(inner);
    stream.extend_from_slice(b"\r\n0\r\n\r\n");
    assert_eq!(drive(&[&stream], &[], false), Ok(vec![ok(200, true)]));
}

#[test]
fn malformed_heads_are_rejected() {
    let cases: &[(&[u8], ParseError)] = &[
        (b"HTTP/2 200 OK\r\n\r\n", ParseError::StatusLine),
        (b"HTTP/1.1 20 OK\r\n\r\n", ParseError::StatusLine),
        (b"HTTP/1.1 2000 OK\r\n\r\n", ParseError::StatusLine),
        (b"HTTP/1.1 099 Low\r\n\r\n", ParseError::StatusLine),
        (
            b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
            ParseError::HeaderLine,
        ),
        (
            b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
            ParseError::HeaderLine,
        ),
        (
            b"HTTP/1.1 200 OK\r\nA: b\nC: d\r\n\r\n",
            ParseError::HeaderLine,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
            ParseError::ContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            ParseError::ContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            ParseError::ContentLength,
        ),
        (
            b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
            ParseError::Upgrade,
        ),
    ];
    for (stream, want) in cases {
        let got = drive(&[stream], &[], false);
        assert_eq!(got, Err(*want), "{}", String::from_utf8_lossy(stream));
    }
}

#[test]
fn repeated_identical_content_length_is_accepted() {
    let stream = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab";
    assert_eq!(drive(&[stream], &[], false), Ok(vec![ok(200, true)]));
}

#[test]
fn malformed_chunks_are_rejected() {
    let prefix = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    let bodies: &[&[u8]] = &[
        b"zz\r\n",
        b"\r\n",
        b"3\r\nabcX\r\n",
        b"3\nabc\r\n",
        b"1234567890abcdef0\r\n",
        b"0\r\nTrailer: x\n\r\n",
    ];
    for body in bodies {
        let mut stream = prefix.to_vec();
        stream.extend_from_slice(body);
        let got = drive(&[&stream], &[], false);
        assert_eq!(
            got,
            Err(ParseError::Chunk),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn head_over_the_limit_is_rejected_even_before_it_ends() {
    let mut stream = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
    stream.resize(2000, b'a');
    assert_eq!(drive(&[&stream], &[], false), Err(ParseError::HeadTooLarge));
}

#[test]
fn parser_is_idle_only_between_responses() {
    let mut parser = ResponseParser::new(1024);
    assert!(parser.is_idle());
    assert_eq!(parser.parse(b"HTTP/1.1 200", false), Ok((0, None)));
    assert!(!parser.is_idle());
    let whole = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(
        parser.parse(whole, false),
        Ok((whole.len(), Some(ok(200, true))))
    );
    assert!(parser.is_idle());
}
