//! SIGHUP while the writer thread is stuck (here in a cost-16 bcrypt check standing in
//! for a stalled fsync): the reload gives up without ever applying the key it said it
//! kept out, and the binary still drains and exits on SIGTERM in time.

mod common;
#[path = "common/running.rs"]
mod running;

use std::time::{Duration, Instant};

use availability_server::server::KeyReload;

const CELL: &str = r#"{"slots":[{"day":1,"slot":3,"status":"maybe"}]}"#;

/// A config file setting `api_key_hash` (a cost-16 hash: every wrong key costs ~5 s).
fn config_file(tag: &str) -> std::path::PathBuf {
    let file = common::temp_dir(tag).with_extension("toml");
    std::fs::write(
        &file,
        format!("api_key_hash = \"{}\"\n", common::COST_16_HASH),
    )
    .expect("write");
    file
}

#[test]
fn a_reload_that_gave_up_is_never_applied_later() {
    let file = config_file("reload-stuck");
    let server = common::start(|c| {
        c.api_key = None;
        c.api_key_hash = Some(common::COST_16_HASH.to_string());
        c.api_key_hash_file = Some(file.clone());
    });
    let _busy = common::send_a_wrong_key(server.addr);
    std::thread::sleep(Duration::from_millis(300)); // the writer is in bcrypt now

    let new_key = "the-key-after-the-reload";
    let new_hash = bcrypt::hash(new_key, 4).expect("hash");
    std::fs::write(&file, format!("api_key_hash = \"{new_hash}\"\n")).expect("rewrite");
    let started = Instant::now();
    let reloaded = server.handle.reload_waiting(Duration::from_millis(500));
    assert!(started.elapsed() < Duration::from_secs(2));
    let why = reloaded.api_key.expect_err("the writer is busy");
    assert!(why.contains("send SIGHUP again"), "{why}");

    // Once the writer is free, the key it was told about is still the old one: the
    // new key is checked against the cost-16 hash and refused.
    // (Two cost-16 checks come first: allow them time on a loaded machine.)
    let mut client = common::Client::connect(server.addr);
    client
        .stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    client.send(
        format!(
            "PATCH /availability HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {new_key}\r\n\
             Content-Length: {}\r\n\r\n{CELL}",
            CELL.len()
        )
        .as_bytes(),
    );
    let r = client.read_response(false).expect("an answer");
    assert_eq!(r.status, 401, "the abandoned reload was applied later");

    // A reload the writer answers in time swaps the key as usual.
    let reloaded = server.handle.reload();
    assert!(
        matches!(&reloaded.api_key, Ok(KeyReload::Reloaded { .. })),
        "{reloaded:?}"
    );
    assert_eq!(common::patch(server.addr, Some(new_key), CELL).status, 200);
    let _ = std::fs::remove_file(file);
}

#[test]
fn sigterm_during_a_reload_waiting_for_the_writer_still_exits_in_time() {
    let dir = common::temp_dir("bin-reload-stuck");
    let file = config_file("bin-reload-stuck");
    let (dir_arg, file_arg) = (dir.to_str().expect("utf-8"), file.to_str().expect("utf-8"));
    let mut server = running::spawn(
        &[
            "--data-dir",
            dir_arg,
            "--config",
            file_arg,
            "--http-listen",
            "127.0.0.1:0",
            "--no-tls",
            "--admin-listen",
            "off",
            "--drain-timeout-ms",
            "300",
            "--workers",
            "1",
        ],
        &[],
    );
    let lines = server.wait_for("ready", Duration::from_secs(20));
    let addr = common::listening_addr(&lines, "http");
    let _busy = common::send_a_wrong_key(addr);
    std::thread::sleep(Duration::from_millis(300)); // the writer is in bcrypt now
    server.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(200)); // the reload waits for the writer
    let started = Instant::now();
    let status = server.stop_with(libc::SIGTERM);
    let took = started.elapsed();
    assert!(status.success(), "{status:?}");
    // The drain (0.3 s, the writer left behind at its end); the bcrypt alone is ~5 s, which
    // is what a SIGTERM queued behind the reload used to wait for.
    assert!(took < Duration::from_millis(3_000), "exit took {took:?}");
    let _ = std::fs::remove_file(file);
}
