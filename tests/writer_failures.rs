//! When the writer thread fails: a panic stops the whole process (a server with
//! no writer would still call itself ready), and a writer stuck in a long bcrypt
//! (or a stalled fsync) does not hold the exit past the drain.

mod common;
#[path = "common/probe.rs"]
mod probe;
#[path = "common/writer.rs"]
mod writer_harness;

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use availability_server::writer::Command;

const CHILD: &str = "AVAILABILITY_TEST_WRITER_PANIC_CHILD";

#[test]
fn a_panic_on_the_writer_thread_aborts_the_process() {
    if let Some(dir) = std::env::var_os(CHILD) {
        let dir = std::path::PathBuf::from(dir);
        let (_thread, commands) = writer_harness::spawn(&dir);
        commands
            .send(Command::ReloadKeys(Box::new(|_| {
                panic!("an injected writer panic")
            })))
            .expect("queued");
        std::thread::sleep(Duration::from_secs(10));
        panic!("still running 10 s after the writer panicked");
    }
    // Run the scenario above in a child process: it must die by SIGABRT.
    // The parent owns the child's data directory: the child dies without cleaning up.
    let dir = common::temp_dir("writer-panic");
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "a_panic_on_the_writer_thread_aborts_the_process",
            "--nocapture",
        ])
        .env(CHILD, dir.path())
        .output()
        .expect("the child runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "{:?}: {stderr}",
        out.status
    );
    assert!(stderr.contains("the writer thread panicked"), "{stderr}");
}

/// A server whose key is known only by its cost-16 hash, with a 0.3 s drain.
fn slow_key_server(
    tweak: impl FnOnce(&mut availability_server::config::Config),
) -> common::TestServer {
    common::start(|c| {
        c.api_key = None;
        c.api_key_hash = Some(common::COST_16_HASH.to_string());
        c.drain_timeout_ms = 300;
        tweak(c);
    })
}

#[test]
fn a_writer_stuck_in_a_long_bcrypt_does_not_hold_the_exit() {
    let server = slow_key_server(|_| {});
    let mut client = common::send_a_wrong_key(server.addr);
    std::thread::sleep(Duration::from_millis(300)); // the writer is in bcrypt now
    let started = Instant::now();
    server.handle.shutdown();
    let took = started.elapsed();
    // The drain (0.3 s; the writer is left behind at its end); the check alone
    // takes about 5 s.
    assert!(
        took < Duration::from_millis(2_500),
        "shutdown took {took:?}"
    );
    assert!(
        client.read_response(false).is_none(),
        "nothing was acknowledged: the connection ended without an answer"
    );
}

/// `/ready` stays 200 while the writer is stuck (reads do not need it), so the
/// gauge `availability_writer_busy_seconds` is what shows it.
#[test]
fn a_busy_writer_shows_in_the_metrics() {
    let server = slow_key_server(common::with_admin);
    let admin = server.admin();
    let busy = || probe::metric(admin, "availability_writer_busy_seconds");
    assert_eq!(busy(), 0.0, "idle");
    let _client = common::send_a_wrong_key(server.addr); // held open while the writer works
    // The PATCH reaches the writer within moments; its check takes about 5 s.
    std::thread::sleep(Duration::from_millis(1_500));
    let seconds = busy();
    assert!(
        (0.5..10.0).contains(&seconds),
        "in a cost-16 bcrypt for about 1.5 s: {seconds}"
    );
    assert_eq!(common::get(admin, "/ready").status, 200, "reads still work");
}

/// SPEC: bcrypt never runs on a thread that serves reads. With one worker, for the
/// whole life of a wrong key that worker handed the writer (a ~5 s cost-16 check), it
/// answers reads and the admin page at once, not after the check.
#[test]
fn reads_are_answered_at_once_while_the_writer_is_in_bcrypt() {
    // Generous for a loaded machine; waiting out the check would take seconds.
    const LIMIT: Duration = Duration::from_millis(1_000);
    let server = slow_key_server(|c| {
        c.workers = 1;
        common::with_admin(c);
    });
    let admin = server.admin();
    let timed = |addr, path: &str| {
        let started = Instant::now();
        let r = common::get(addr, path);
        let took = started.elapsed();
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert!(
            took < LIMIT,
            "{path} took {took:?} while a wrong key was being checked"
        );
        r
    };
    let mut client = common::send_a_wrong_key(server.addr);
    client
        .stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let (tx, answered) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(client.read_response(false).map(|r| r.status)));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut rounds_in_bcrypt = 0;
    let status = loop {
        if let Ok(status) = answered.try_recv() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the wrong key was never answered"
        );
        let metrics = timed(admin, "/metrics").text();
        if probe::metric_in(&metrics, "availability_bcrypt_checks_total") >= 1.0
            && probe::metric_in(&metrics, "availability_writer_busy_seconds") > 0.0
        {
            rounds_in_bcrypt += 1;
        }
        for path in [
            "/health",
            "/availability?tz=Asia/Tokyo",
            "/availability/slot?tz=America/New_York&day=2&slot=18",
            "/availability/csv?tz=Europe/Paris",
        ] {
            timed(server.addr, path);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status, Some(401));
    // The reads did overlap the check (it lasts seconds; a round takes milliseconds).
    assert!(rounds_in_bcrypt >= 3, "{rounds_in_bcrypt} rounds in bcrypt");
}
