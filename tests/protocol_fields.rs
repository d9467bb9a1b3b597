//! The field-line limit: a head with more than 64 header fields is refused with
//! 431 whatever its size, and the message says which limit it hit.

mod common;

use common::Client;

#[test]
fn more_than_64_header_fields_is_431_naming_that_limit() {
    let server = common::start(|_| {});
    let fields: String = (0..100).map(|i| format!("X-{i}: v\r\n")).collect();
    let mut client = Client::connect(server.addr);
    client.send(format!("GET /health HTTP/1.1\r\nHost: t\r\n{fields}\r\n").as_bytes());
    let r = client.read_response(false).expect("a response");
    assert_eq!(r.status, 431, "{}", r.text());
    assert_eq!(r.json()["error"]["message"], "more than 64 header fields");
    assert_eq!(r.header("Connection"), Some("close"));
    // 63 fields and Host: fine.
    let fields: String = (0..63).map(|i| format!("X-{i}: v\r\n")).collect();
    let mut client = Client::connect(server.addr);
    client.send(format!("GET /health HTTP/1.1\r\nHost: t\r\n{fields}\r\n").as_bytes());
    assert_eq!(client.read_response(false).expect("a response").status, 200);
}
