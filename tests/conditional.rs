//! Black-box tests of validators: every read answer carries an `ETag`, and a read whose
//! `If-None-Match` names it gets `304 Not Modified` (RFC 9110 §13.1.2, §15.4.5).

mod common;

use common::{API_KEY, Client, Response};

const READS: [&str; 6] = [
    "/availability?tz=UTC",
    "/availability?tz=Asia/Kolkata",
    "/availability/csv?tz=America/New_York",
    "/availability/slot?tz=Asia/Tokyo&day=2&time=14:00",
    "/availability/slot?day=0&slot=0",
    "/availability",
];

fn etag_of(r: &Response) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header_count("ETag"), 1, "{:?}", r.headers);
    let tag = r.header("ETag").expect("ETag").to_string();
    let inside = tag
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .expect("a quoted strong tag");
    assert!(
        inside.len() == 16 && inside.bytes().all(|b| b.is_ascii_hexdigit()),
        "{tag}"
    );
    tag
}

/// A 304 standing for `full` (the 200 with tag `tag`): no body, the same `ETag`,
/// caching and CORS fields, and (SPEC §4: every response has them) the 200's
/// `Content-Type` and `Content-Length` (RFC 9110 §8.6 allows exactly that length).
fn assert_not_modified(r: &Response, full: &Response, what: &str) {
    assert_eq!(r.status, 304, "{what}: {:?} {}", r.headers, r.text());
    assert!(r.body.is_empty(), "{what}: a 304 has no body");
    assert_eq!(r.header_count("Date"), 1, "{what}");
    for same in [
        "ETag",
        "Cache-Control",
        "Access-Control-Allow-Origin",
        "Content-Type",
        "Content-Length",
    ] {
        assert_eq!(r.header_count(same), 1, "{what}: {same}");
        assert_eq!(r.header(same), full.header(same), "{what}: {same}");
    }
    assert_eq!(
        full.header("Content-Length"),
        Some(full.body.len().to_string().as_str())
    );
}

#[test]
fn every_read_has_a_tag_and_naming_it_gets_304() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    for path in READS {
        let full = client.get(path);
        let tag = etag_of(&full);
        // The same answer on other connections (other workers) has the same tag.
        for _ in 0..4 {
            assert_eq!(etag_of(&common::get(server.addr, path)), tag, "{path}");
        }
        assert_not_modified(&client.conditional("GET", path, &tag), &full, path);
        assert_not_modified(&client.conditional("HEAD", path, &tag), &full, path);
        let head = {
            client.send(format!("HEAD {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
            client.read_response(true).expect("a response")
        };
        assert_eq!(etag_of(&head), tag, "HEAD {path}");
    }
    // Different answers have different tags; a slot shares its week's.
    let tags: Vec<String> = READS[..4].iter().map(|p| etag_of(&client.get(p))).collect();
    for (i, a) in tags.iter().enumerate() {
        for b in &tags[i + 1..] {
            assert_ne!(a, b);
        }
    }
    let week = etag_of(&client.get("/availability?tz=Asia/Tokyo"));
    let slot = etag_of(&client.get("/availability/slot?tz=Asia/Tokyo&day=6&slot=47"));
    assert_eq!(week, slot);
}

#[test]
fn weak_tags_lists_and_star_match_and_nothing_else_does() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    let path = "/availability/csv?tz=Europe/Paris";
    let full = client.get(path);
    let tag = etag_of(&full);
    let inside = &tag[1..tag.len() - 1];
    for matching in [
        tag.clone(),
        format!("W/{tag}"),
        format!("\"other\", {tag}"),
        format!(" , W/\"x\",{tag} ,"),
        "*".to_string(),
    ] {
        assert_not_modified(
            &client.conditional("GET", path, &matching),
            &full,
            &matching,
        );
    }
    for not_matching in [
        "\"0000000000000000\"".to_string(),
        inside.to_string(),          // unquoted
        inside.to_ascii_uppercase(), // tags compare byte for byte
        format!("{tag} {tag}"),      // not a list
        format!("*, {tag}"),         // `*` only alone
        format!("\"a b\", {tag}"),   // an invalid member spoils the list
        String::new(),
    ] {
        let r = client.conditional("GET", path, &not_matching);
        assert_eq!(etag_of(&r), tag, "{not_matching:?}");
        assert!(!r.body.is_empty());
    }
    // Two If-None-Match lines are one list; rather than join them, the full answer.
    client.send(
        format!(
            "GET {path} HTTP/1.1\r\nHost: t\r\nIf-None-Match: {tag}\r\nIf-None-Match: *\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(
        etag_of(&client.read_response(false).expect("a response")),
        tag
    );
}

#[test]
fn errors_ignore_the_condition() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    for path in [
        "/availability?tz=Nowhere/Never",
        "/availability/slot?day=9&slot=0",
        "/availability/slot?tz=UTC",
        "/nope",
    ] {
        let r = client.conditional("GET", path, "*");
        assert!(r.status >= 400, "{path}: {}", r.status);
        assert_eq!(r.header_count("ETag"), 0, "{path}");
        assert!(!r.error_code().is_empty(), "{path}");
    }
    let r = client.conditional("POST", "/availability", "*");
    assert_eq!(r.status, 405);
}

#[test]
fn tags_follow_the_bytes_across_writes() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    let paths = [
        "/availability?tz=Asia/Tokyo",
        "/availability/csv?tz=Asia/Tokyo",
        "/availability/slot?tz=Asia/Tokyo&day=0&slot=0",
    ];
    let full: Vec<Response> = paths.iter().map(|p| client.get(p)).collect();
    let before: Vec<String> = full.iter().map(etag_of).collect();
    // A write that changes nothing (the slot is already unavailable): same bytes, same tags.
    let same = r#"{"slots":[{"day":3,"time":"10:00","status":"unavailable"}]}"#;
    assert_eq!(common::patch(server.addr, Some(API_KEY), same).status, 200);
    for ((path, tag), full) in paths.iter().zip(&before).zip(&full) {
        assert_not_modified(&client.conditional("GET", path, tag), full, path);
    }
    // A write that changes the week: every answer here has new bytes and a new tag.
    let change = r#"{"slots":[{"day":3,"time":"10:00","status":"available"}]}"#;
    assert_eq!(
        common::patch(server.addr, Some(API_KEY), change).status,
        200
    );
    for (path, tag) in paths.iter().zip(&before) {
        let r = client.conditional("GET", path, tag);
        let fresh = etag_of(&r);
        assert_ne!(&fresh, tag, "{path}");
        assert_not_modified(&client.conditional("GET", path, &fresh), &r, path);
    }
}

#[test]
fn weeks_built_on_demand_have_tags_too() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    for path in [
        "/availability?tz=Australia/Lord_Howe&date=2031-04-06",
        "/availability/csv?tz=Australia/Lord_Howe&date=2031-04-06",
        "/availability/slot?tz=Australia/Lord_Howe&date=2031-04-06&day=6&slot=4",
    ] {
        let full = client.get(path);
        let tag = etag_of(&full);
        assert_eq!(
            etag_of(&client.get(path)),
            tag,
            "{path}: built again, same tag"
        );
        assert_not_modified(&client.conditional("GET", path, &tag), &full, path);
    }
    // Another week of the same zone: another tag.
    let a = etag_of(&client.get("/availability?tz=Europe/London&date=2031-03-24"));
    let b = etag_of(&client.get("/availability?tz=Europe/London&date=2031-03-31"));
    assert_ne!(a, b);
}

#[test]
fn pipelined_conditional_reads_answer_in_order() {
    let server = common::start(|_| {});
    let mut client = Client::connect(server.addr);
    let path = "/availability?tz=Europe/Berlin";
    let full = client.get(path);
    let tag = etag_of(&full);
    let mut batch = String::new();
    for i in 0..12 {
        let condition = if i % 3 == 0 { "\"no\"" } else { tag.as_str() };
        batch.push_str(&format!(
            "GET {path} HTTP/1.1\r\nHost: t\r\nIf-None-Match: {condition}\r\n\r\n"
        ));
    }
    client.send(batch.as_bytes());
    for i in 0..12 {
        let r = client.read_response(false).expect("a response");
        if i % 3 == 0 {
            assert_eq!(etag_of(&r), tag);
        } else {
            assert_not_modified(&r, &full, "pipelined");
        }
    }
}

/// A PATCH with preconditions: `If-Match: *` holds, `If-None-Match: *` fails (412), and
/// an entity tag in either is refused as unsupported (400) rather than ignored; a wrong
/// key is still 401 first; nothing refused is applied.
#[test]
fn writes_never_skip_a_precondition_silently() {
    let server = common::start(|_| {});
    let body = r#"{"slots":[{"day":1,"slot":2,"status":"maybe"}]}"#;
    let patch = |key: &str, fields: &str| {
        let mut client = Client::connect(server.addr);
        client.send(
            format!(
                "PATCH /availability HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\n\
                 {fields}Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        client.read_response(false).expect("an answer")
    };
    let tag = etag_of(&common::get(server.addr, "/availability"));
    for (fields, status, code) in [
        (
            format!("If-Match: {tag}\r\n"),
            400,
            "unsupported_precondition",
        ),
        (
            "If-Match: W/\"x\", \"y\"\r\n".to_string(),
            400,
            "unsupported_precondition",
        ),
        (
            "If-Match: *\r\nIf-Match: *\r\n".to_string(),
            400,
            "unsupported_precondition",
        ),
        (
            "If-None-Match: *\r\n".to_string(),
            412,
            "precondition_failed",
        ),
        (
            format!("If-None-Match: {tag}\r\n"),
            400,
            "unsupported_precondition",
        ),
    ] {
        let r = patch(common::API_KEY, &fields);
        assert_eq!(r.status, status, "{fields:?}: {}", r.text());
        assert_eq!(r.error_code(), code, "{fields:?}");
    }
    assert_eq!(
        etag_of(&common::get(server.addr, "/availability")),
        tag,
        "nothing refused was applied"
    );
    assert_eq!(patch("not-the-key", "If-None-Match: *\r\n").status, 401);
    let r = patch(common::API_KEY, "If-Match: *\r\n");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["generation"], 1);
}
