//! Flags → Config → run, and the signals that end or reload it.

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use availability_server::config::{Config, parse_args};
use availability_server::server::{self, process};
use availability_server::{say, say_err};

fn main() {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let args = match parse_args(&argv) {
        Ok(args) => args,
        Err(e) => {
            // --help and --version land here too (exit code 0, printed to stdout).
            let _ = e.clap.print();
            if let Some(source) = &e.env_source {
                say_err!("availability-server: {source}");
            }
            std::process::exit(e.clap.exit_code());
        }
    };
    let config = match Config::from_args(args) {
        Ok(config) => config,
        Err(e) => {
            say_err!("availability-server: {e}");
            std::process::exit(2);
        }
    };
    // Registered before starting so no signal is lost in between.
    let mut signals = match Signals::new([SIGTERM, SIGINT, SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            say_err!("availability-server: cannot install signal handlers: {e}");
            std::process::exit(1);
        }
    };
    process::raise_fd_limit(config.max_connections);
    // Certificate paths kept (say, in a config file) while HTTPS is switched off are not
    // an error, but they are not read either: say so, so that a stray --no-tls shows.
    if config.https_listen.is_none() && (config.tls_cert.is_some() || config.tls_key.is_some()) {
        say!("HTTPS is off (--no-tls or --listen off): --tls-cert and --tls-key are not read");
    }
    let key_source = process::key_source(&config);
    let configured_home_tz = config
        .home_tz_configured
        .then(|| availability_server::week::zones::name(config.home_tz));
    let handle = match server::start(config) {
        Ok(handle) => handle,
        Err(e) => {
            say_err!("availability-server: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = process::announce(&handle, &key_source, configured_home_tz) {
        say_err!("availability-server: {e}");
        // Nobody saw the key: its hash must not stay, or no later start makes a new one.
        handle.shutdown();
        handle.discard_generated();
        std::process::exit(1);
    }
    process::run_until_stopped(handle, &mut signals);
}
