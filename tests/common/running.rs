//! The shipped binary as a child process: its stdout and stderr merged line by line,
//! waited on for a line, signalled, and killed if the test ends first. Declared by the
//! test files that use it with `#[path = "common/running.rs"] mod running;` (next to
//! `mod common;`, whose `output_lines` and `signal_and_wait` it uses).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_availability-server");

/// The binary, running, and its output lines as they come.
pub struct Running {
    pub child: Child,
    pub lines: Receiver<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary with `args` and `envs`; the test's own `API_KEY` and
/// `API_KEY_HASH` are not passed on.
pub fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Running {
    spawn_in(Path::new("."), args, envs)
}

/// As [`spawn`], with `cwd` as the working directory (relative paths in `args` are
/// relative to it).
pub fn spawn_in(cwd: &Path, args: &[&str], envs: &[(&str, &str)]) -> Running {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(cwd)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("API_KEY")
        .env_remove("API_KEY_HASH");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn");
    let lines = crate::common::output_lines(&mut child);
    Running { child, lines }
}

impl Running {
    /// Output from now until a line contains `needle`; panics after `limit`.
    pub fn wait_for(&self, needle: &str, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if let Ok(line) = self
                .lines
                .recv_timeout(left.min(Duration::from_millis(100)))
            {
                let hit = line.contains(needle);
                seen.push(line);
                if hit {
                    return seen;
                }
            }
        }
        panic!("no line with {needle:?} within {limit:?}; output since: {seen:#?}");
    }

    /// Sends `signal` and returns at once.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with the pid of a child this test started and has not reaped.
        assert_eq!(
            unsafe { libc::kill(self.child.id() as i32, signal) },
            0,
            "kill {signal}"
        );
    }

    /// Sends `signal` and waits (at most 15 s) for the exit.
    pub fn stop_with(&mut self, signal: i32) -> ExitStatus {
        crate::common::signal_and_wait(self.child.id() as i32, signal, &mut self.child)
    }

    /// SIGTERM, and the exit status.
    pub fn terminate(mut self) -> ExitStatus {
        self.stop_with(libc::SIGTERM)
    }

    /// SIGTERM; the exit status and every line written since the last one read.
    pub fn terminate_with_output(mut self) -> (ExitStatus, Vec<String>) {
        let status = self.stop_with(libc::SIGTERM);
        // Both pipes end with the process: the channel closes once they are read.
        let lines = std::iter::from_fn(|| self.lines.recv_timeout(Duration::from_secs(5)).ok());
        (status, lines.collect())
    }
}
