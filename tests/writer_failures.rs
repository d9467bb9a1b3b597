//! When the writer thread fails: a panic stops the whole process (a server with
//! no writer would still call itself ready), and a writer stuck in a long bcrypt
//! (or a stalled fsync) does not hold the exit past the drain.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::sync::atomic::AtomicU8;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use availability_server::api::{STATE_SERVING, Shared};
use availability_server::ratelimit::RateLimiter;
use availability_server::snapshot::Calendar;
use availability_server::store::Store;
use availability_server::week::zones;
use availability_server::writer::{Command, Writer};

const CHILD: &str = "AVAILABILITY_TEST_WRITER_PANIC_CHILD";

/// The writer thread of a real store, with its command queue.
fn writer(
    dir: &std::path::Path,
) -> (
    std::thread::JoinHandle<()>,
    std::sync::mpsc::SyncSender<Command>,
) {
    let store = Store::open(dir, zones::utc(), 1_000).expect("store opens");
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let calendar = Calendar::new(zones::utc(), now_s);
    let record = store.record();
    let (commands, inbox) = std::sync::mpsc::sync_channel(16);
    let shared = Arc::new(Shared {
        snapshot: Arc::new(ArcSwap::from_pointee(
            calendar.build(&record.week, record.generation),
        )),
        limiter: RateLimiter::new(0, 0, 1),
        auth_failures: RateLimiter::with_interval(5, 12_000, 64),
        state: AtomicU8::new(STATE_SERVING),
        writer: commands.clone(),
        trusted_proxies: Default::default(),
        runtime_stats: Arc::from(Vec::new()),
        writer_stats: Default::default(),
    });
    let keys = availability_server::auth::bootstrap(dir, Some(common::API_KEY), None, 4)
        .expect("keys")
        .keys;
    let writer = Writer::new(store, keys, calendar, shared);
    (std::thread::spawn(move || writer.run(inbox)), commands)
}

#[test]
fn a_panic_on_the_writer_thread_aborts_the_process() {
    if std::env::var_os(CHILD).is_some() {
        let dir = common::temp_dir("writer-panic");
        let (_thread, commands) = writer(&dir);
        commands
            .send(Command::ReloadKeys(Box::new(|_| {
                panic!("an injected writer panic")
            })))
            .expect("queued");
        std::thread::sleep(Duration::from_secs(10));
        panic!("still running 10 s after the writer panicked");
    }
    // Run the scenario above in a child process: it must die by SIGABRT.
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "a_panic_on_the_writer_thread_aborts_the_process",
            "--nocapture",
        ])
        .env(CHILD, "1")
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
    // The drain (0.3 s), then at most the writer's grace (1 s); the check alone
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
    let server = slow_key_server(|c| c.admin_listen = Some("127.0.0.1:0".parse().expect("addr")));
    let admin = server.handle.admin_addr.expect("admin");
    let busy = || -> f64 {
        let text = common::get(admin, "/metrics").text();
        text.lines()
            .find_map(|l| l.strip_prefix("availability_writer_busy_seconds "))
            .and_then(|v| v.parse().ok())
            .expect("the gauge")
    };
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
