//! Splits the load over threads, pins them, prints progress, merges the results.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::cli::Config;
use crate::report::{Report, Stats};
use crate::worker::{self, Plan, Progress};

static SIGINT: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    if SIGINT.swap(true, Ordering::Relaxed) {
        // Second Ctrl-C: the user means it.
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(130) };
    }
}

/// Installs a SIGINT handler that asks the run to stop early (the report is still
/// printed); returns the flag to pass to [`run`].
pub fn sigint_flag() -> &'static AtomicBool {
    let handler: extern "C" fn(libc::c_int) = on_sigint;
    // SAFETY: the handler only touches an atomic and calls _exit.
    unsafe { libc::signal(libc::SIGINT, handler as libc::sighandler_t) };
    &SIGINT
}

/// Splits `total` into `parts` shares differing by at most one, larger first.
pub fn split(total: u64, parts: usize) -> Vec<u64> {
    let parts_u64 = parts as u64;
    (0..parts_u64)
        .map(|i| total / parts_u64 + u64::from(i < total % parts_u64))
        .collect()
}

/// Splits `total` in proportion to `weights` (largest remainder, ties to the first).
fn split_weighted(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let exact = |w: u64| u128::from(total) * u128::from(w);
    let mut shares: Vec<u64> = weights.iter().map(|&w| (exact(w) / sum) as u64).collect();
    let mut left = total - shares.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(exact(weights[i]) % sum));
    for i in order {
        if left == 0 {
            break;
        }
        shares[i] += 1;
        left -= 1;
    }
    shares
}

/// Each thread's connections and budget. The open-loop rate follows the connection
/// share (every connection sees the same pace), and so does the budget, so that every
/// thread spends its budget in the same time.
fn plans(cfg: &Config) -> Vec<Plan> {
    let conns = split(cfg.connections as u64, cfg.threads);
    let budgets = cfg.max_requests.map(|n| split_weighted(n, &conns));
    conns
        .iter()
        .enumerate()
        .map(|(index, &c)| Plan {
            index,
            connections: c as usize,
            budget: budgets.as_ref().map(|b| b[index]),
        })
        .collect()
}

/// Core for thread `index`: from `--cpus` in order, else the highest cores first
/// (servers in this project pin their workers from core 0 up).
fn core_for(cfg: &Config, index: usize) -> Option<core_affinity::CoreId> {
    let wanted = cfg.cpus.as_ref()?;
    if !wanted.is_empty() {
        return Some(core_affinity::CoreId {
            id: wanted[index % wanted.len()],
        });
    }
    let mut cores = core_affinity::get_core_ids()?;
    cores.reverse();
    cores.get(index % cores.len().max(1)).copied()
}

/// Descriptors beyond the connections and threads: stdio, files, the TLS config's reads.
const SPARE_FDS: u64 = 64;
/// Each thread's own: its epoll, the registry's clone of it, its timerfd.
const FDS_PER_THREAD: u64 = 3;

/// Raises the soft open-files limit towards the hard one when `-c` and `-t` need it,
/// and refuses a run the process cannot open: a run that quietly kept fewer
/// connections than it says would report a different test, and a thread that fails
/// to start mid-run would lose every thread's results.
pub fn raise_fd_limit(connections: usize, threads: usize) -> Result<(), String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid out-pointer; failure leaves the limit as it was.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Ok(()); // unknown: let the connects say so
    }
    let needed = connections as u64 + threads as u64 * FDS_PER_THREAD + SPARE_FDS;
    if needed > lim.rlim_cur {
        let raised = libc::rlimit {
            rlim_cur: needed.min(lim.rlim_max),
            rlim_max: lim.rlim_max,
        };
        // SAFETY: valid pointer; raising the soft limit up to the hard one is allowed.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = raised.rlim_cur;
        }
    }
    if needed > lim.rlim_cur {
        return Err(format!(
            "-c {connections} with -t {threads} needs about {needed} open files, and this \
             process may have {} (hard limit {}): lower -c or raise the limit (ulimit -n)",
            lim.rlim_cur, lim.rlim_max
        ));
    }
    Ok(())
}

/// Runs the whole test and merges the threads' counters.
pub fn run(cfg: &Config, stop: &AtomicBool) -> Result<Report, String> {
    raise_fd_limit(cfg.connections, cfg.threads)?;
    let plans = plans(cfg);
    let progress: Vec<Progress> = plans.iter().map(|_| Progress::default()).collect();
    let results: Vec<Result<Stats, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = plans
            .iter()
            .zip(&progress)
            .map(|(plan, prog)| {
                let core = core_for(cfg, plan.index);
                let spawned = std::thread::Builder::new()
                    .name(format!("loadgen-{}", plan.index))
                    .spawn_scoped(scope, move || {
                        if let Some(core) = core
                            && !core_affinity::set_for_current(core)
                        {
                            eprintln!(
                                "loadgen: could not pin thread {} to core {}",
                                plan.index, core.id
                            );
                        }
                        worker::run(cfg, plan, prog, stop)
                    });
                if spawned.is_err() {
                    // No thread will say it finished: say it for it.
                    prog.finished.store(true, Ordering::Release);
                }
                spawned.map_err(|e| format!("spawn: {e}"))
            })
            .collect();
        if cfg.progress {
            print_progress(&progress);
        }
        handles
            .into_iter()
            .map(|h| h?.join().map_err(|_| "a load thread panicked".to_owned())?)
            .collect()
    });
    let mut merged = Stats::default();
    for result in results {
        merged.merge(&result?);
    }
    let duration_s = merged.end_ns.saturating_sub(merged.start_ns) as f64 / 1e9;
    Ok(Report {
        stats: merged,
        duration_s,
        offered_rps: cfg.rate,
        target: cfg.target.clone(),
        threads: cfg.threads,
        connections: cfg.connections,
        pipeline: cfg.pipeline,
        mix: cfg
            .requests
            .iter()
            .map(|r| (r.label.clone(), r.weight))
            .collect(),
    })
}

/// `[3s] 51234 req/s, errors 0` on stderr once a second until every thread finished.
fn print_progress(progress: &[Progress]) {
    let start = Instant::now();
    let (mut last_requests, mut last_errors) = (0u64, 0u64);
    let mut second = 1u64;
    loop {
        let due = start + Duration::from_secs(second);
        while Instant::now() < due {
            if progress.iter().all(|p| p.finished.load(Ordering::Acquire)) {
                return;
            }
            std::thread::sleep(
                due.saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(20)),
            );
        }
        let requests: u64 = progress
            .iter()
            .map(|p| p.requests.load(Ordering::Relaxed))
            .sum();
        let errors: u64 = progress
            .iter()
            .map(|p| p.errors.load(Ordering::Relaxed))
            .sum();
        let _ = writeln!(
            std::io::stderr(),
            "[{second}s] {} req/s, errors {}",
            requests - last_requests,
            errors - last_errors
        );
        (last_requests, last_errors) = (requests, errors);
        second += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_even_and_complete() {
        assert_eq!(split(10, 3), vec![4, 3, 3]);
        assert_eq!(split(2, 4), vec![1, 1, 0, 0]);
        assert_eq!(split(64, 1), vec![64]);
        assert_eq!(split(7, 7).iter().sum::<u64>(), 7);
    }

    #[test]
    fn weighted_split_is_proportional_and_complete() {
        assert_eq!(split_weighted(3000, &[2, 1]), vec![2000, 1000]);
        assert_eq!(split_weighted(333, &[3, 2]), vec![200, 133]);
        assert_eq!(split_weighted(10, &[1, 1, 1]), vec![4, 3, 3]);
        assert_eq!(split_weighted(1, &[1, 2]), vec![0, 1]);
        assert_eq!(
            split_weighted(u64::MAX, &[1, 1])
                .iter()
                .map(|&n| u128::from(n))
                .sum::<u128>(),
            u128::from(u64::MAX)
        );
    }

    fn config(args: &[&str]) -> Config {
        let argv = ["loadgen"].iter().chain(args);
        <crate::Args as clap::Parser>::try_parse_from(argv)
            .expect("flags")
            .into_config()
            .expect("config")
    }

    #[test]
    fn the_budget_follows_the_connection_share_like_the_rate() {
        // -c 3 -t 2: thread 0 has 2 connections and 2/3 of -R; it gets 2/3 of the budget,
        // so both threads spend theirs in the same second.
        let cfg = config(&[
            "-c",
            "3",
            "-t",
            "2",
            "-R",
            "3000",
            "--max-requests",
            "3000",
            "http://127.0.0.1:1/",
        ]);
        let plans = plans(&cfg);
        assert_eq!(
            plans.iter().map(|p| p.connections).collect::<Vec<_>>(),
            [2, 1]
        );
        assert_eq!(
            plans.iter().map(|p| p.budget).collect::<Vec<_>>(),
            [Some(2000), Some(1000)]
        );
    }

    #[test]
    fn a_panicking_thread_still_ends_the_progress_line() {
        let progress = [Progress::default()];
        let panicked = std::panic::catch_unwind(|| {
            let _guard = worker::FinishGuard(&progress[0].finished);
            panic!("a load thread panicked");
        });
        assert!(panicked.is_err());
        // Returns at once instead of looping forever.
        print_progress(&progress);
    }
}
