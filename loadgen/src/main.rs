//! `loadgen` binary: flags in, report out. Everything else lives in the library.

use std::io::Write;

use clap::Parser;

fn main() {
    let config = match loadgen::Args::parse().into_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    // A -c the process cannot open is a bad flag for this machine (exit 2), not a
    // failed run; `run` checks again for library callers.
    if let Err(e) = loadgen::runner::raise_fd_limit(config.connections, config.threads) {
        eprintln!("loadgen: {e}");
        std::process::exit(2);
    }
    let report = match loadgen::run(&config, loadgen::runner::sigint_flag()) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(1);
        }
    };
    // Not println!: it panics when stdout is a closed pipe or a full disk, and the
    // run's result deserves a clear error instead.
    let text = if config.json {
        format!("{}\n", report.to_json())
    } else {
        report.human()
    };
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        eprintln!("loadgen: cannot write the report to stdout: {e}");
        std::process::exit(1);
    }
}
