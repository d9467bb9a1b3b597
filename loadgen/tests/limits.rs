//! `-c` beyond what the process may open is refused before the run, with the limit
//! named, instead of a run that quietly keeps fewer connections than it reports.

use std::os::unix::process::CommandExt;
use std::process::Command;

fn loadgen_with_fd_limit(limit: u64, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loadgen"));
    cmd.args(["-q", "--no-pin", "--json"]).args(args);
    // SAFETY: setrlimit is async-signal-safe; it only lowers this child's limits.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().expect("run loadgen")
}

#[test]
fn more_connections_than_open_files_allow_are_refused() {
    // Nothing needs to listen: the check comes before any connect.
    let url = "http://127.0.0.1:1/";
    let out = loadgen_with_fd_limit(256, &["-c", "1000", "-d", "1", url]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a bad flag for this machine: {stderr}"
    );
    assert!(
        stderr.contains("-c 1000 with -t 1 needs about 1067 open files"),
        "{stderr}"
    );
    assert!(stderr.contains("ulimit -n"), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "no report for a run that did not happen"
    );
    // Within the limit, the same command runs.
    let out = loadgen_with_fd_limit(256, &["-c", "100", "-d", "200ms", url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn threads_count_towards_the_open_files_a_run_needs() {
    // 150 connections fit in 400 descriptors, but not with 150 threads' own three
    // each: refused up front, not a thread failing mid-run with every result lost.
    let url = "http://127.0.0.1:1/";
    let out = loadgen_with_fd_limit(400, &["-t", "150", "-c", "150", "-d", "1", url]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("-c 150 with -t 150 needs about 664 open files"),
        "{stderr}"
    );
}
