//! The server's `worker-N` threads, as /proc lists them.

use std::path::PathBuf;

/// (name, /proc task directory) of every `worker-N` thread of process `pid` (`"self"`
/// for this one), sorted by name.
pub fn worker_threads(pid: &str) -> Vec<(String, PathBuf)> {
    let mut workers = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("task list") {
        let path = task.expect("task entry").path();
        let Ok(name) = std::fs::read_to_string(path.join("comm")) else {
            continue; // the thread ended meanwhile
        };
        let name = name.trim().to_string();
        if name.starts_with("worker-") {
            workers.push((name, path));
        }
    }
    workers.sort();
    workers
}
