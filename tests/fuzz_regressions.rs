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
    // Each 1-byte chunk carries a 200-byte extension: 150 of them are ~31 KB encoded,
    // just past the default read buffer (8 KiB head + 16 KiB body + 1 KiB), and only
    // 150 bytes decoded. Small enough for the socket buffers to take it all, so the
    // answer is there to read.
    let chunk = format!("1;e={}\r\nx\r\n", "a".repeat(200));
    let encoded = chunk.repeat(150);
    assert!(head.len() + encoded.len() > 8 * 1024 + 16 * 1024 + 1024);
    client.send(head.as_bytes());
    let _ = client.stream_write(encoded.as_bytes()); // the server may close first
    let r = client.read_response(false).expect("an answer");
    assert_eq!((r.status, r.error_code().as_str()), (413, "body_too_large"));
    let message = r.json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(message.contains("chunked encoding"), "{message}");
    // The worker is not stuck: a fresh connection is answered.
    assert_eq!(common::get(server.addr, "/health").status, 200);
}
