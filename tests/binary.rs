//! The shipped binary as an operator meets it: flags and env, first-start key
//! and certificate, refusing corrupt or locked data, and SIGTERM draining.

mod common;
#[path = "binary/refused_starts.rs"]
mod refused_starts;
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
    run_to_exit_with_env(args, &[])
}

fn run_to_exit_with_env(args: &[&str], envs: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("API_KEY")
        .envs(envs.iter().copied())
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
    // The HTTPS listener is announced too, and serves with the generated certificate.
    let cert = dir.join(availability_server::tls::CERT_FILE_NAME);
    let config = availability_server::tls::client_config_trusting(&cert).expect("client config");
    let mut tls = common::tls_connect(addr(&lines, "https"), config);
    std::io::Write::write_all(&mut tls, b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("send over TLS");
    let mut answer = Vec::new();
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut chunk = [0u8; 512];
        let n = std::io::Read::read(&mut tls, &mut chunk).expect("answer over TLS");
        assert!(n > 0, "closed: {answer:?}");
        answer.extend_from_slice(&chunk[..n]);
    }
    assert!(answer.starts_with(b"HTTP/1.1 200 "), "{answer:?}");
    drop(tls);
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

/// clap's own message names only the flag; the binary adds a line naming the variable
/// the refused value came from (the library's half is in tests/config.rs).
#[test]
fn a_bad_value_from_the_environment_names_the_variable_on_stderr() {
    let (code, text) = run_to_exit_with_env(
        &["--no-tls", "--http-listen", "127.0.0.1:0"],
        &[("AVAILABILITY_MAX_CONNECTIONS", "-5")],
    );
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("--max-connections"), "{text}");
    assert!(
        text.contains("came from the environment variable AVAILABILITY_MAX_CONNECTIONS"),
        "{text}"
    );
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
