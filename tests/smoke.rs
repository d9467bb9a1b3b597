mod common;

#[test]
fn harness_round_trip() {
    let server = common::start(|_| {});
    let r = common::get(server.addr, "/health");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
}
