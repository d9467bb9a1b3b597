//! `--pin-cores`: each worker thread is confined to one core of the process's CPU set
//! (worker i to the i-th allowed core, wrapping); without it (the default) every
//! worker may run on any of them. Read back from /proc, as the scheduler sees it.
//! One test in its own binary: no other server's `worker-N` threads to confuse.

mod common;
#[path = "common/threads.rs"]
mod threads;

use std::fs;
use std::path::Path;

/// The CPUs in a `Cpus_allowed_list` value such as `0-3,6`.
fn parse_cpu_list(list: &str) -> Vec<usize> {
    let mut cpus = Vec::new();
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((low, high)) => {
                cpus.extend(low.parse::<usize>().unwrap()..=high.parse::<usize>().unwrap())
            }
            None => cpus.push(part.parse().unwrap()),
        }
    }
    cpus
}

fn allowed_cpus(status_path: impl AsRef<Path>) -> Vec<usize> {
    let status = fs::read_to_string(status_path).expect("status readable");
    let list = status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list in status");
    parse_cpu_list(list)
}

/// (thread name, allowed CPUs) of every `worker-N` thread of this process, by N.
fn worker_cpus() -> Vec<(String, Vec<usize>)> {
    threads::worker_threads("self")
        .into_iter()
        .map(|(name, path)| (name, allowed_cpus(path.join("status"))))
        .collect()
}

#[test]
fn pin_cores_confines_each_worker_to_its_own_core_and_the_default_does_not() {
    let process_cpus = allowed_cpus("/proc/self/status");
    assert!(!process_cpus.is_empty());

    let server = common::start(|config| {
        config.workers = 3;
        config.pin_cores = true;
    });
    let pinned = worker_cpus();
    assert_eq!(pinned.len(), 3, "{pinned:?}");
    for (index, (name, cpus)) in pinned.iter().enumerate() {
        assert_eq!(name, &format!("worker-{index}"));
        let core = process_cpus[index % process_cpus.len()];
        assert_eq!(cpus, &[core], "{name} with --pin-cores");
    }
    // Pinned workers still serve.
    assert_eq!(common::get(server.addr, "/health").status, 200);
    drop(server);

    let server = common::start(|config| config.workers = 2);
    let unpinned = worker_cpus();
    assert_eq!(unpinned.len(), 2, "{unpinned:?}");
    for (name, cpus) in &unpinned {
        assert_eq!(cpus, &process_cpus, "{name} by default");
    }
    drop(server);
}
