//! `loadgen` binary: flags in, report out. Everything else lives in the library.

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
    if let Err(e) = loadgen::runner::raise_fd_limit(config.connections) {
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
    if config.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.human());
    }
}
