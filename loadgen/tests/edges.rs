//! Edges of the command line that must end in a report or a clear error, never a
//! panic: a stdout that cannot take the report, a timeout too large to count in
//! nanoseconds.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

fn loadgen() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loadgen"));
    cmd.args(["-q", "--no-pin"]);
    cmd
}

#[test]
fn a_report_that_cannot_be_written_is_an_error_not_a_panic() {
    // Nothing listens on port 1: the run ends with connect errors and a report.
    for json in [true, false] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let mut cmd = loadgen();
        if json {
            cmd.arg("--json");
        }
        let out = cmd
            .args(["-d", "100ms", "http://127.0.0.1:1/"])
            .stdout(Stdio::from(full))
            .output()
            .expect("run loadgen");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "json {json}: {stderr}");
        assert!(
            stderr.contains("cannot write the report to stdout"),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn a_timeout_beyond_u64_nanoseconds_means_never() {
    // A server that answers each request 300 ms late: with the timeout wrapped to
    // a few nanoseconds, every request would time out.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(300));
                    let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    if stream.write_all(answer).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let out = loadgen()
        .args([
            "--json",
            "-c",
            "1",
            "-d",
            "1s",
            "--timeout",
            "18446744073.709552s",
        ])
        .arg(format!("http://{addr}/"))
        .output()
        .expect("run loadgen");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON report");
    assert_eq!(report["errors"]["timeout"], 0, "{stdout}");
    assert!(report["requests"].as_u64() >= Some(2), "{stdout}");
}
