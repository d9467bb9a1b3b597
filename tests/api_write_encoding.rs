//! A PATCH body in a content coding the server does not decode (RFC 9110
//! §8.4): refused with 415 rather than read as if it were plain JSON.

mod common;

use common::{API_KEY, Client};

const BODY: &str = r#"{"slots":[{"day":2,"time":"14:00","status":"maybe"}]}"#;

fn patch_with(server: &common::TestServer, encoding: &str) -> common::Response {
    let mut client = Client::connect(server.addr);
    client.send(
        format!(
            "PATCH /availability HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {API_KEY}\r\n\
             Content-Type: application/json\r\nContent-Encoding: {encoding}\r\n\
             Content-Length: {}\r\n\r\n{BODY}",
            BODY.len()
        )
        .as_bytes(),
    );
    client.read_response(false).expect("a response")
}

#[test]
fn an_encoded_patch_body_is_415_and_nothing_is_written() {
    let server = common::start(|_| {});
    for encoding in ["gzip", "br", "deflate, gzip", "x-unknown"] {
        let r = patch_with(&server, encoding);
        assert_eq!(r.status, 415, "{encoding}: {}", r.text());
        assert_eq!(r.json()["error"]["code"], "unsupported_encoding");
    }
    assert_eq!(server.handle.generation(), 0, "nothing was written");
    let r = patch_with(&server, "x-unknown");
    assert_eq!(
        r.header("Accept-Encoding"),
        Some("identity"),
        "RFC 9110 §15.5.16: the 415 says what is accepted"
    );
    for (n, encoding) in ["identity", "Identity, identity", "identity, "]
        .into_iter()
        .enumerate()
    {
        let r = patch_with(&server, encoding);
        assert_eq!(r.status, 200, "{encoding:?} is no coding: {}", r.text());
        assert_eq!(server.handle.generation(), n as u64 + 1);
    }
}
