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
