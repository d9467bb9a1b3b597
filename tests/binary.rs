//! The shipped binary as an operator meets it: flags and env, first-start key
//! and certificate, refusing corrupt or locked data, and SIGTERM draining.

mod common;
#[path = "common/running.rs"]
mod running;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use running::{BIN, Running, spawn};

fn addr(lines: &[String], label: &str) -> std::net::SocketAddr {
    common::listening_addr(lines, label)
}

/// What a failed start left in data directory `dir`, besides the lock file (which a
/// start takes before anything can fail, and which holds nothing).
fn left_behind(dir: &Path) -> Vec<std::ffi::OsString> {
    std::fs::read_dir(dir)
        .expect("data dir")
        .map(|e| e.expect("entry").file_name())
        .filter(|name| name != "availability.lock")
        .collect()
}

fn run_to_exit(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("API_KEY")
        .output()
        .expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

#[test]
fn the_documented_plain_http_invocation_just_works_and_drains_on_sigterm() {
    let dir = common::temp_dir("bin");
    let d = dir.to_str().expect("utf-8");
    let server = spawn(
        &[
            "--data-dir",
            d,
            "--http-listen",
            "127.0.0.1:0",
            "--no-tls",
            "--home-tz",
            "America/New_York",
            "--admin-listen",
            "127.0.0.1:0",
            "--bcrypt-cost",
            "4",
            "--drain-timeout-ms",
            "5000",
        ],
        &[("API_KEY", "k")],
    );
    let lines = server.wait_for("ready", Duration::from_secs(10));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Created a new data file")
                && l.contains("home timezone America/New_York")),
        "a first start says it made the data file: {lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l == "API key: from API_KEY (for this run only; not saved)"),
        "the start says which key is in force (no hash file to mention): {lines:#?}"
    );
    let http = addr(&lines, "http");
    let admin = addr(&lines, "admin");
    assert_eq!(common::get(admin, "/ready").status, 200);
    assert_eq!(common::get(admin, "/health").json()["status"], "ok");
    let r = common::patch(
        http,
        Some("k"),
        r#"{"slots":[{"day":2,"time":"14:00","status":"available"}]}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let slot = common::get(http, "/availability/slot?day=2&time=14:00");
    assert_eq!(slot.json()["timezone"], "America/New_York");
    assert_eq!(slot.json()["status"], "available");
    // An idle keep-alive connection must not hold up the drain: it is closed at once,
    // not at the drain's deadline (5 s).
    let mut idle = common::Client::connect(http);
    assert_eq!(idle.get("/health").status, 200);
    let started = Instant::now();
    let (status, lines) = server.terminate_with_output();
    let took = started.elapsed();
    assert!(status.success(), "exit status {status:?}");
    // Reads and a PATCH log nothing (not even an error about a stale temporary file
    // that was not there); the drain says what it does.
    assert_eq!(lines, ["draining…", "stopped"], "output after ready");
    assert!(
        took < Duration::from_millis(1_500),
        "the exit waited for an idle connection: {took:?}"
    );
    assert!(idle.is_closed());
    // Each restart below: `extra` flags on top of these; its start-up log, up to "ready".
    let args = ["--data-dir", d, "--http-listen", "127.0.0.1:0", "--no-tls"];
    let start_log = |extra: &[&str]| {
        let server = spawn(
            &[&args[..], &["--admin-listen", "off"], extra].concat(),
            &[("API_KEY", "k")],
        );
        let lines = server.wait_for("ready", Duration::from_secs(10));
        assert!(server.terminate().success());
        lines
    };
    // Restarted with another --home-tz: the file's zone stays, and the log says so.
    let lines = start_log(&["--home-tz", "Asia/Tokyo"]);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("home timezone America/New_York is kept")),
        "{lines:#?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("Created a new data file"))
    );
    // Without --home-tz nothing was configured, so there is nothing to report.
    let lines = start_log(&[]);
    assert!(!lines.iter().any(|l| l.contains("is kept")), "{lines:#?}");
    assert!(
        !lines.iter().any(|l| l.contains("are not read")),
        "{lines:#?}"
    );
    // Certificate files named while HTTPS is off are not read (missing ones do not
    // stop the start), and the log says so.
    let lines = start_log(&[
        "--tls-cert",
        "/nonexistent/c.pem",
        "--tls-key",
        "/nonexistent/k.pem",
    ]);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("--tls-cert and --tls-key are not read")),
        "{lines:#?}"
    );
}

#[test]
fn first_start_generates_a_key_and_certificate_once() {
    let dir = common::temp_dir("first");
    let d = dir.to_str().expect("utf-8");
    let args = [
        "--data-dir",
        d,
        "--listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
        "--admin-listen",
        "off",
        "--bcrypt-cost",
        "4",
    ];
    let server = spawn(&args, &[]);
    let lines = server.wait_for("ready", Duration::from_secs(10));
    let key_line = lines
        .iter()
        .position(|l| l.contains("Generated an API key"))
        .expect("key announced");
    let key = lines[key_line + 1].trim().to_string();
    assert!(key.len() >= 32, "a strong key: {key:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("self-signed TLS certificate"))
    );
    let hash_file = dir.join(availability_server::auth::HASH_FILE_NAME);
    let mode = std::fs::metadata(&hash_file)
        .expect("hash file")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let stored = std::fs::read_to_string(&hash_file).expect("read");
    assert!(!stored.contains(&key), "only the hash is kept");
    let http = addr(&lines, "http");
    let body = r#"{"slots":[{"day":0,"slot":0,"status":"maybe"}]}"#;
    assert_eq!(common::patch(http, Some(&key), body).status, 200);
    assert_eq!(common::patch(http, Some("not-the-key"), body).status, 401);
    assert!(server.terminate().success());

    let again = spawn(&args, &[]);
    let lines = again.wait_for("ready", Duration::from_secs(10));
    assert!(
        !lines.iter().any(|l| l.contains("Generated")),
        "no second key: {lines:?}"
    );
    let http = addr(&lines, "http");
    assert_eq!(
        common::patch(http, Some(&key), body).status,
        200,
        "the first key still works"
    );
    assert!(again.terminate().success());
}

fn corrupt_start(dir: &Path, bytes: &[u8]) -> (i32, String) {
    std::fs::create_dir_all(dir).expect("dir");
    let file = dir.join(availability_server::store::DATA_FILE_NAME);
    std::fs::write(&file, bytes).expect("write");
    let d = dir.to_str().expect("utf-8");
    let result = run_to_exit(&[
        "--data-dir",
        d,
        "--http-listen",
        "127.0.0.1:0",
        "--no-tls",
        "--admin-listen",
        "off",
    ]);
    assert_eq!(
        std::fs::read(&file).expect("read"),
        bytes,
        "the bad file is left exactly as it was"
    );
    result
}

#[test]
fn a_corrupt_data_file_stops_the_start_with_a_clear_error() {
    let dir = common::temp_dir("corrupt");
    let (code, output) = corrupt_start(&dir, &[0u8; 100]);
    assert_ne!(code, 0);
    assert!(
        output.contains("availability.dat"),
        "names the file: {output}"
    );
    assert!(output.contains("168"), "names the problem (size): {output}");
    let (code, output) = corrupt_start(&dir, &[7u8; 168]);
    assert_ne!(code, 0);
    assert!(
        output.to_lowercase().contains("magic"),
        "names the problem: {output}"
    );
}

#[test]
fn a_bad_key_file_stops_the_first_start_and_leaves_only_that_file() {
    let dir = common::created_dir("bad-key-file");
    let key_file = dir.join(availability_server::auth::HASH_FILE_NAME);
    std::fs::write(&key_file, "not a hash\n").expect("write");
    let d = dir.to_str().expect("utf-8");
    let (code, output) = Command::new(BIN)
        .args(["--data-dir", d, "--http-listen", "127.0.0.1:0", "--no-tls"])
        .args(["--admin-listen", "127.0.0.1:0"])
        .env_remove("API_KEY")
        .env_remove("API_KEY_HASH")
        .output()
        .map(|o| {
            (
                o.status.code(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        })
        .expect("run");
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("does not hold a bcrypt hash"), "{output}");
    // The data file this start created (an empty week) goes with the failed start,
    // so the next start says it creates one.
    let left = left_behind(&dir);
    assert_eq!(
        left,
        [availability_server::auth::HASH_FILE_NAME],
        "{output}"
    );
    assert_eq!(std::fs::read(&key_file).expect("read"), b"not a hash\n");
}

#[test]
fn a_second_process_on_the_same_data_dir_is_refused() {
    let dir = common::temp_dir("lock");
    let d = dir.to_str().expect("utf-8");
    let args = ["--data-dir", d, "--http-listen", "127.0.0.1:0", "--no-tls"];
    let first = spawn(
        &[&args[..], &["--admin-listen", "127.0.0.1:0"]].concat(),
        &[("API_KEY", "k")],
    );
    let lines = first.wait_for("ready", Duration::from_secs(10));
    let admin = addr(&lines, "admin").to_string();
    // The same data directory and, as a copy of the first's command would have,
    // the same admin port: the lock is what the second is told of.
    let (code, text) = run_to_exit(&[&args[..], &["--admin-listen", &admin]].concat());
    assert_ne!(code, 0);
    assert!(text.contains("is locked"), "says why: {text}");
    assert!(!text.contains("admin"), "not the port: {text}");
    // Another directory with the admin port taken: refused before anything is made.
    let other = common::temp_dir("lock-other");
    let o = other.to_str().expect("utf-8");
    let (code, text) = run_to_exit(&[
        "--data-dir",
        o,
        "--http-listen",
        "127.0.0.1:0",
        "--admin-listen",
        &admin,
    ]);
    assert_ne!(code, 0);
    assert!(text.contains("--admin-listen"), "{text}");
    let left = left_behind(&other);
    assert!(left.is_empty(), "left behind {left:?}");
    assert!(first.terminate().success());
}

#[test]
fn help_documents_every_setting_with_its_env_twin() {
    let (code, text) = run_to_exit(&["--help"]);
    assert_eq!(code, 0);
    for needle in [
        "--data-dir",
        "AVAILABILITY_DATA_DIR",
        "--listen",
        "--http-listen",
        "AVAILABILITY_HTTP_LISTEN",
        "--no-tls",
        "--admin-listen",
        "--workers",
        "AVAILABILITY_WORKERS",
        "--home-tz",
        "--max-connections",
        "API_KEY",
        "--api-key-hash",
    ] {
        assert!(text.contains(needle), "--help mentions {needle}");
    }
    let (code, text) = run_to_exit(&[
        "--home-tz",
        "Mars/Olympus",
        "--no-tls",
        "--http-listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(code, 2);
    assert!(text.contains("Mars/Olympus"), "{text}");
}

#[test]
fn a_closed_stdout_does_not_stop_a_reload_or_the_drain() {
    let dir = common::temp_dir("bin-pipe");
    let d = dir.to_str().expect("utf-8");
    let mut child = Command::new(BIN)
        .args(["--data-dir", d, "--http-listen", "127.0.0.1:0", "--no-tls"])
        .args(["--admin-listen", "off", "--bcrypt-cost", "4"])
        .env("API_KEY", "k")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    while !line.contains("ready") {
        line.clear();
        assert!(
            stdout.read_line(&mut line).expect("read") > 0,
            "exited early"
        );
    }
    // The logger reading our stdout goes away: every later line meets EPIPE.
    drop(stdout);
    let running = Running {
        child,
        lines: std::sync::mpsc::channel().1,
    };
    running.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(300));
    let status = running.terminate();
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn a_generated_key_nobody_can_see_stops_the_first_start_and_leaves_nothing() {
    // /dev/full: the write fails (ENOSPC). /dev/null: it "succeeds" into nothing
    // (also what a closed stdout becomes: the Rust runtime reopens fd 1 there).
    for (sink, expected) in [("/dev/full", "No space left"), ("/dev/null", "/dev/null")] {
        let dir = common::temp_dir("bin-unseen-key");
        let d = dir.to_str().expect("utf-8");
        let mut child = Command::new(BIN)
            .args(["--data-dir", d, "--http-listen", "127.0.0.1:0", "--no-tls"])
            .args(["--admin-listen", "off", "--bcrypt-cost", "4"])
            .env_remove("API_KEY")
            .env_remove("API_KEY_HASH")
            .stdout(std::fs::File::options().write(true).open(sink).expect(sink))
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        // A server that started anyway would run forever: give it 15 s.
        let deadline = Instant::now() + Duration::from_secs(15);
        while child.try_wait().expect("wait").is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let output = child.wait_with_output().expect("output");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{sink}: {stderr}");
        assert!(
            stderr.contains("cannot print the generated API key"),
            "{sink}: {stderr}"
        );
        assert!(stderr.contains(expected), "{sink}: {stderr}");
        let left = left_behind(&dir);
        assert!(left.is_empty(), "{sink}: left behind {left:?}");
    }
}
