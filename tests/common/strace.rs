#![allow(dead_code)]
//! The shipped binary under `strace -f`, and its trace read back into calls: for the
//! tests that check what the kernel sees (a commit's fsyncs, the read path's syscalls).
//!
//! Needs `strace` (and ptrace allowed). Without it [`start`] says SKIPPED and returns
//! `None`, unless `REQUIRE_STRACE=1` (set by `.ci/run`), which makes it fail instead.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_availability-server");

/// One traced call, joined back together if strace split it (`<unfinished ...>`).
#[derive(Debug, Clone)]
pub struct Call {
    pub pid: u32,
    pub name: String,
    pub args: String,
    /// The return value as strace prints it: a number, or `-1` before an errno name.
    pub ret: String,
    /// The errno name of a failed call (`EAGAIN`), else empty.
    pub errno: String,
    /// Trace line where the call started, and where it returned.
    pub start: usize,
    pub end: usize,
}

impl Call {
    pub fn first_arg(&self) -> &str {
        self.args.split(", ").next().unwrap_or("")
    }

    /// The return value as a number (`None` for a pointer or a failed parse).
    pub fn ret_value(&self) -> Option<i64> {
        self.ret.parse().ok()
    }

    pub fn shape(&self) -> String {
        format!("{}({}) = {} {}", self.name, self.args, self.ret, self.errno)
    }
}

/// Parses `strace -f` output into completed calls, in order of return.
pub fn parse(log: &str) -> Vec<Call> {
    let mut pending: std::collections::HashMap<u32, (usize, String)> = Default::default();
    let mut calls = Vec::new();
    for (line_no, line) in log.lines().enumerate() {
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        let rest = rest.trim_start();
        if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
            pending.insert(pid, (line_no, head.to_owned()));
            continue;
        }
        let (start, whole) = match rest.strip_prefix("<... ") {
            Some(resumed) => {
                let Some((start, head)) = pending.remove(&pid) else {
                    continue;
                };
                let tail = resumed.split_once("resumed>").map_or("", |(_, t)| t);
                (start, format!("{head}{tail}"))
            }
            None => (line_no, rest.to_owned()),
        };
        // strace pads before ` = RET`; signals and exits have no `(`.
        let Some((call, ret)) = whole.rsplit_once(" = ") else {
            continue;
        };
        let call = call.trim_end();
        let (Some(open), Some(args)) = (call.find('('), call.strip_suffix(')')) else {
            continue;
        };
        let mut ret_words = ret.split_whitespace();
        let ret = ret_words.next().unwrap_or("").to_owned();
        let errno = match ret.as_str() {
            "-1" => ret_words.next().unwrap_or("").to_owned(),
            _ => String::new(),
        };
        calls.push(Call {
            pid,
            name: call[..open].to_owned(),
            args: args[open + 1..].to_owned(),
            ret,
            errno,
            start,
            end: line_no,
        });
    }
    calls
}

/// A server running under strace; dropping it kills both.
pub struct Traced {
    pub strace: Child,
    pub server_pid: i32,
    /// The server's output lines up to "ready".
    pub seen: Vec<String>,
    pub log_path: PathBuf,
    stopped: bool,
}

impl Traced {
    /// Stops the server with SIGTERM (strace exits with it) and returns the trace.
    pub fn stop(mut self) -> Vec<Call> {
        let status =
            crate::common::signal_and_wait(self.server_pid, libc::SIGTERM, &mut self.strace);
        self.stopped = true;
        assert!(status.success(), "{status:?}");
        parse(&std::fs::read_to_string(&self.log_path).expect("trace"))
    }
}

impl Drop for Traced {
    fn drop(&mut self) {
        if !self.stopped {
            // SAFETY: signalling the server this test started, by its pid.
            unsafe { libc::kill(self.server_pid, libc::SIGKILL) };
        }
        let _ = self.strace.kill();
        let _ = self.strace.wait();
    }
}

fn strace_missing(why: &str) {
    assert!(
        std::env::var_os("REQUIRE_STRACE").is_none_or(|v| v != "1"),
        "REQUIRE_STRACE=1 but {why}"
    );
    eprintln!("SKIPPED: {why} (install strace to run this test)");
}

/// Starts the binary under `strace -f -e trace=CALLS`, logging to `log_path`, with
/// plain HTTP on an ephemeral port, one worker, no admin listener, bcrypt cost 4,
/// API key `k`; waits until it is ready. `None` (after saying
/// SKIPPED) when strace is missing or cannot trace here.
pub fn start(calls: &str, data_dir: &Path, log_path: &Path) -> Option<Traced> {
    if Command::new("strace").arg("-V").output().is_err() {
        strace_missing("strace is not installed");
        return None;
    }
    let mut strace = Command::new("strace")
        .args(["-f", "-qq", "-s", "48", "-e"])
        .arg(format!("trace=execve,{calls}"))
        .arg("-o")
        .arg(log_path)
        .arg(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--no-tls", "--http-listen", "127.0.0.1:0"])
        .args([
            "--admin-listen",
            "off",
            "--workers",
            "1",
            "--bcrypt-cost",
            "4",
        ])
        .env("API_KEY", "k")
        .env_remove("API_KEY_HASH")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn strace");
    let lines: Receiver<String> = crate::common::output_lines(&mut strace);
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen.iter().any(|l: &String| l.ends_with("ready")) {
        match lines.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => seen.push(line),
            Err(RecvTimeoutError::Disconnected) => {
                // strace (and the server) ended before "ready": ptrace refused?
                let _ = strace.wait();
                if seen.iter().any(|l| l.starts_with("strace:")) {
                    strace_missing(&format!("strace cannot trace here: {seen:#?}"));
                    return None;
                }
                panic!("the server ended before it was ready: {seen:#?}");
            }
            Err(RecvTimeoutError::Timeout) => {
                if Instant::now() >= deadline {
                    let _ = strace.kill();
                    let _ = strace.wait();
                    panic!("not ready: {seen:#?}");
                }
            }
        }
    }
    let log = std::fs::read_to_string(log_path).expect("trace");
    let server_pid: i32 = log
        .lines()
        .find(|l| l.contains(" execve("))
        .and_then(|l| l.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("the server's execve in the trace");
    Some(Traced {
        strace,
        server_pid,
        seen,
        log_path: log_path.to_owned(),
        stopped: false,
    })
}
