//! Findings of the `connection` fuzz target, pinned as black-box tests.

mod common;

/// A HEAD refused for carrying a body must still get a body-less answer:
/// otherwise the error body reads as the start of the next response.
#[test]
fn a_refused_head_request_gets_no_body() {
    let server = common::start(|_| {});
    let mut client = common::Client::connect(server.addr);
    client.send(b"HEAD /health HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab");
    let r = client.read_response(true).expect("an answer");
    assert_eq!(r.status, 400);
    assert!(r.header("Content-Length").is_some());
    assert!(
        client.is_closed(),
        "closed, with no stray body bytes before the close"
    );
}

/// A chunked body whose encoding (long chunk extensions) outgrows the read
/// buffer while its decoded size stays small used to spin the worker: now
/// it is a 413 and the worker serves others.
#[test]
fn a_chunked_body_larger_encoded_than_the_buffer_is_refused() {
    let server = common::start(|c| c.workers = 1);
    let mut client = common::Client::connect(server.addr);
    let head = "PATCH /availability HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    client.send(head.as_bytes());
    // Each 1-byte chunk carries a 200-byte extension: ~200 KiB encoded, 1 KiB decoded.
    let chunk = format!("1;e={}\r\nx\r\n", "a".repeat(200));
    let mut refused = false;
    for _ in 0..1000 {
        if client.stream_write(chunk.as_bytes()).is_err() {
            refused = true;
            break;
        }
    }
    let r = client.read_response(false);
    assert!(refused || r.is_some());
    if let Some(r) = r {
        assert_eq!(r.status, 413);
        let message = r.json()["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(message.contains("chunked encoding"), "{message}");
    }
    // The worker is not stuck: a fresh connection is answered.
    assert_eq!(common::get(server.addr, "/health").status, 200);
}
