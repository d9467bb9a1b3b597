//! The durability of a commit as the kernel sees it: the shipped binary runs under
//! `strace`, and the trace must show, for the first start's empty week and for a
//! PATCH, the temporary file created exclusively, its 168 bytes written and
//! `fdatasync`ed, renamed over the data file, and the directory `fsync`ed — and the
//! PATCH's `200` sent only after that last fsync. `tests/store_file.rs` stops a
//! commit at each step; only a trace can show the fsyncs themselves happen.
//!
//! Needs `strace` (and ptrace allowed). Without it the test says so and passes,
//! unless `REQUIRE_STRACE=1` (set by `.ci/run`), which makes a missing strace fail.

mod common;
#[path = "common/strace.rs"]
mod strace;

use std::path::Path;

use strace::Call;

const TEMP: &str = "\"availability.dat.tmp\"";
const DATA: &str = "\"availability.dat\"";
const FILE_LEN_BYTES: &str = "168";

/// Every commit in the trace, checked step by step; returns the thread and the
/// trace line where each commit's directory fsync returned.
fn commits(calls: &[Call], dir_fd: &str) -> Vec<(u32, usize)> {
    let mut found = Vec::new();
    for (i, create) in calls.iter().enumerate() {
        if !(create.name == "openat"
            && create.args.starts_with(&format!("{dir_fd}, {TEMP}, "))
            && create.args.contains("O_CREAT|O_EXCL"))
        {
            continue;
        }
        let fd = create.ret.as_str();
        assert!(fd.parse::<u32>().is_ok(), "the create failed: {create:?}");
        // What this thread then does to the temporary file and the directory.
        let steps: Vec<&Call> = calls[i + 1..]
            .iter()
            .filter(|c| c.pid == create.pid)
            .filter(|c| {
                let first = c.first_arg();
                matches!(c.name.as_str(), "rename" | "renameat" | "renameat2")
                    || (matches!(c.name.as_str(), "write" | "fdatasync" | "fsync")
                        && (first == fd || first == dir_fd))
            })
            .take(4)
            .collect();
        let shape: Vec<String> = steps.iter().map(|c| c.shape()).collect();
        let ok = steps.len() == 4
            && steps[0].name == "write"
            && steps[0].args.ends_with(&format!(", {FILE_LEN_BYTES}"))
            && steps[0].ret == FILE_LEN_BYTES
            && steps[1].name == "fdatasync"
            && steps[1].args == fd
            && steps[1].ret == "0"
            && steps[2].name.starts_with("renameat")
            && steps[2]
                .args
                .starts_with(&format!("{dir_fd}, {TEMP}, {dir_fd}, {DATA}"))
            && steps[2].ret == "0"
            && steps[3].name == "fsync"
            && steps[3].args == dir_fd
            && steps[3].ret == "0";
        assert!(
            ok,
            "commit by thread {} on fd {fd}: want write 168 bytes, fdatasync, renameat \
             over the data file, fsync of the directory (fd {dir_fd}); got {shape:#?}",
            create.pid
        );
        found.push((create.pid, steps[3].end));
    }
    found
}

#[test]
fn every_commit_fsyncs_the_file_and_the_directory_before_it_is_acknowledged() {
    let root = common::created_dir("strace");
    let data_dir = root.join("data"); // created by the server
    let log_path = root.join("trace.log");
    let calls = "openat,write,fdatasync,fsync,rename,renameat,renameat2,sendto,sendmsg,writev";
    let Some(traced) = strace::start(calls, &data_dir, &log_path) else {
        return;
    };
    let http = common::listening_addr(&traced.seen, "http");
    let r = common::patch(
        http,
        Some("k"),
        r#"{"slots":[{"day":2,"time":"14:00","status":"available"}]}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());

    let calls = traced.stop();
    let opened = |path: &Path| {
        let want = format!("AT_FDCWD, \"{}\", ", path.display());
        calls
            .iter()
            .find(|c| c.name == "openat" && c.args.starts_with(&want) && !c.ret.starts_with('-'))
            .unwrap_or_else(|| panic!("no open of {}", path.display()))
            .clone()
    };
    // The new data directory's own entry is made durable in its parent.
    let parent = opened(&root);
    assert!(
        calls
            .iter()
            .any(|c| c.name == "fsync" && c.args == parent.ret && c.start > parent.end),
        "the parent of the new data directory is never fsynced"
    );
    let dir_fd = opened(&data_dir).ret;
    let found = commits(&calls, &dir_fd);
    assert_eq!(
        found.len(),
        2,
        "want two commits (the first start's empty week, the PATCH): {found:?}"
    );
    let (writer, synced_at) = found[1];
    let answer = calls
        .iter()
        .find(|c| {
            matches!(c.name.as_str(), "sendto" | "sendmsg" | "writev")
                && c.args.contains("HTTP/1.1 200")
        })
        .expect("the PATCH's 200 in the trace");
    assert_ne!(answer.pid, writer, "the answer is sent by a worker");
    assert!(
        answer.start > synced_at,
        "the 200 left (trace line {}) before the directory fsync returned (line {synced_at})",
        answer.start + 1
    );
}

#[test]
fn the_parser_joins_calls_strace_split() {
    let log = "\
7 openat(AT_FDCWD, \"/d\", O_RDONLY|O_CLOEXEC) = 6
9 fsync(6 <unfinished ...>
8 sendto(11, \"HTTP/1.1 200 OK\\r\\n\"..., 230, MSG_NOSIGNAL, NULL, 0) = 230
9 <... fsync resumed>)                  = 0
7 --- SIGTERM {si_signo=SIGTERM} ---
8 recvfrom(11, 0x7f00, 16384, 0, NULL, NULL) = -1 EAGAIN (Resource temporarily unavailable)
";
    let calls = strace::parse(log);
    assert_eq!(calls.len(), 4, "{calls:#?}");
    let failed = &calls[3];
    assert_eq!(
        (
            failed.name.as_str(),
            failed.ret_value(),
            failed.errno.as_str()
        ),
        ("recvfrom", Some(-1), "EAGAIN")
    );
    assert_eq!(calls[0].errno, "", "a call that succeeded has no errno");
    assert_eq!(
        (calls[0].name.as_str(), calls[0].ret.as_str()),
        ("openat", "6")
    );
    assert_eq!((calls[1].pid, calls[1].start, calls[1].end), (8, 2, 2));
    let fsync = &calls[2];
    assert_eq!((fsync.name.as_str(), fsync.args.as_str()), ("fsync", "6"));
    assert_eq!((fsync.ret.as_str(), fsync.start, fsync.end), ("0", 1, 3));
}
