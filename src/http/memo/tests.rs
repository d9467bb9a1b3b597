use super::*;
use crate::http::request::Method;

const MAX: usize = 8192;
const SLOT: &[u8] = b"GET /availability/slot?tz=Asia/Kolkata&day=2&time=14:00 HTTP/1.1\r\n\
Host: example.test\r\nIf-None-Match: \"w-1\"\r\nX-Forwarded-For: 192.0.2.7\r\n\r\n";

/// The same bytes at another address, followed by `rest` (a pipelined request).
fn copied(head: &[u8], rest: &[u8]) -> Vec<u8> {
    [head, rest].concat()
}

fn within(buf: &[u8], part: &[u8]) -> bool {
    span_in(buf, part).is_some()
}

#[test]
fn a_hit_is_the_full_parse_pointing_into_the_new_buffer() {
    let mut memo = HeadMemo::new();
    let first = copied(SLOT, b"");
    assert_eq!(memo.parse(&first, MAX), parse_head(&first, MAX));
    assert!(memo.remembers(SLOT));

    let second = copied(SLOT, b"GET /health HTTP/1.1\r\n");
    let head = memo.parse(&second, MAX).expect("parses");
    assert_eq!(Ok(head), parse_head(&second, MAX));
    assert_eq!(head.head_len_bytes, SLOT.len());
    assert_eq!(head.query, b"tz=Asia/Kolkata&day=2&time=14:00");
    assert_eq!(head.if_none_match, Some(&b"\"w-1\""[..]));
    assert_eq!(head.forwarded_for, Some(&b"192.0.2.7"[..]));
    // Every slice borrows from the buffer given, not from the memo or the first one.
    for part in [
        head.path,
        head.query,
        head.if_none_match.unwrap(),
        head.forwarded_for.unwrap(),
    ] {
        assert!(within(&second, part));
    }
}

#[test]
fn a_different_head_is_parsed_and_remembered_instead() {
    let mut memo = HeadMemo::new();
    memo.parse(SLOT, MAX).expect("parses");
    let other = b"HEAD /availability?tz=UTC HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    let head = memo.parse(other, MAX).expect("parses");
    assert_eq!(Ok(head), parse_head(other, MAX));
    assert!((head.method, head.minor_version, head.keep_alive) == (Method::Head, 0, true));
    assert!(memo.remembers(other) && !memo.remembers(SLOT));
    // One byte changed, anywhere, is another head.
    let mut changed = other.to_vec();
    changed[20] = b'X';
    assert_eq!(memo.parse(&changed, MAX), parse_head(&changed, MAX));
    assert!(memo.remembers(&changed));
}

#[test]
fn part_of_the_remembered_head_is_incomplete_and_keeps_the_memo() {
    let mut memo = HeadMemo::new();
    memo.parse(SLOT, MAX).expect("parses");
    for cut in [1, 40, SLOT.len() - 1] {
        assert_eq!(memo.parse(&SLOT[..cut], MAX), Err(HeadError::Incomplete));
    }
    assert_eq!(
        memo.parse(b"GET / HTTP/1.1\nHost: a\r\n\r\n", MAX),
        parse_head(b"GET / HTTP/1.1\nHost: a\r\n\r\n", MAX)
    );
    assert!(
        memo.remembers(SLOT),
        "refused and incomplete heads leave the memo as it was"
    );
}

#[test]
fn a_smaller_limit_refuses_the_remembered_head_like_a_full_parse() {
    let mut memo = HeadMemo::new();
    memo.parse(SLOT, MAX).expect("parses");
    let max = SLOT.len() - 1;
    assert_eq!(memo.parse(SLOT, max), Err(HeadError::TooLarge));
    assert_eq!(memo.parse(SLOT, SLOT.len()), parse_head(SLOT, SLOT.len()));
}

#[test]
fn a_leading_crlf_is_part_of_the_remembered_bytes() {
    let mut memo = HeadMemo::new();
    let with_crlf = copied(b"\r\n", SLOT);
    assert_eq!(memo.parse(&with_crlf, MAX), parse_head(&with_crlf, MAX));
    assert!(memo.remembers(&with_crlf));
    let again = copied(&with_crlf, b"\r\n");
    let head = memo.parse(&again, MAX).expect("parses");
    assert_eq!(Ok(head), parse_head(&again, MAX));
    assert_eq!(head.head_len_bytes, with_crlf.len());
    // Without the CRLF the bytes differ: a miss, and the right length.
    assert_eq!(
        memo.parse(SLOT, MAX).map(|h| h.head_len_bytes),
        Ok(SLOT.len())
    );
}

#[test]
fn heads_up_to_the_memo_size_are_remembered() {
    let start = b"GET /health HTTP/1.1\r\nHost: a\r\nX-Pad: ";
    let pad = MEMO_MAX_HEAD_BYTES - start.len() - 4;
    let longest = [start.as_slice(), &vec![b'p'; pad], b"\r\n\r\n"].concat();
    assert_eq!(longest.len(), MEMO_MAX_HEAD_BYTES);
    let mut memo = HeadMemo::new();
    assert_eq!(memo.parse(&longest, MAX), parse_head(&longest, MAX));
    assert!(memo.remembers(&longest));
    let one_more = [start.as_slice(), &vec![b'p'; pad + 1], b"\r\n\r\n"].concat();
    assert_eq!(memo.parse(&one_more, MAX), parse_head(&one_more, MAX));
    assert!(memo.head.is_none());
}

#[test]
fn heads_it_does_not_remember() {
    let authorized = b"PATCH /availability HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer secret\r\n\
Content-Length: 2\r\n\r\n{}";
    // "/" is not in the bytes of an absolute-form target without a path.
    let absolute = b"GET http://example.test HTTP/1.1\r\nHost: example.test\r\n\r\n";
    let long = [
        b"GET /health HTTP/1.1\r\nHost: a\r\nX-Pad: ".as_slice(),
        &[b'p'; 600],
        b"\r\n\r\n",
    ]
    .concat();
    for head in [&authorized[..], &absolute[..], &long[..]] {
        let mut memo = HeadMemo::new();
        memo.parse(SLOT, MAX).expect("parses");
        assert_eq!(memo.parse(head, MAX), parse_head(head, MAX));
        assert_eq!(memo.parse(head, MAX), parse_head(head, MAX), "and again");
        assert!(
            memo.head.is_none(),
            "{:?} was remembered",
            String::from_utf8_lossy(&head[..30])
        );
    }
}

/// Random streams of heads, several alike: through one memo, every result equals a
/// full parse of the same buffer.
#[test]
fn a_memo_never_changes_a_result() {
    let heads: [&[u8]; 9] = [
        SLOT,
        b"GET /availability?tz=UTC HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /availability?tz=UTC HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        b"GET /availability?tz=UTC HTTP/1.0\r\nHost: a\r\n\r\n",
        b"\r\nGET /availability/csv HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET http://a/availability?tz=UTC HTTP/1.1\r\nHost: a\r\n\r\n",
        b"PATCH /availability HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nIf-Match: \"x\"\r\n\r\n",
        b"GET /availability HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET /availability HTTP/1.1\r\nHost: a\nX: y\r\n\r\n",
    ];
    let mut memo = HeadMemo::new();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    };
    for _ in 0..5_000 {
        let head = heads[next(heads.len())];
        let suffix = heads[next(heads.len())];
        let mut buf = copied(head, &suffix[..next(suffix.len())]);
        if next(4) == 0 {
            let cut = next(buf.len() + 1);
            buf.truncate(cut);
        }
        let max = [MAX, 64, 80][next(3)];
        assert_eq!(
            memo.parse(&buf, max),
            parse_head(&buf, max),
            "{:?}",
            String::from_utf8_lossy(&buf)
        );
    }
}
