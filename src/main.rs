//! Flags → Config → run, and the signals that end or reload it.

use clap::Parser;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use availability_server::config::{Args, Config};
use availability_server::server;

fn main() {
    let config = match Config::from_args(Args::parse()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("availability-server: {e}");
            std::process::exit(2);
        }
    };
    // Registered before starting so no signal is lost in between.
    let mut signals = match Signals::new([SIGTERM, SIGINT, SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("availability-server: cannot install signal handlers: {e}");
            std::process::exit(1);
        }
    };
    let handle = match server::start(config) {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("availability-server: {e}");
            std::process::exit(1);
        }
    };
    if let Some(key) = &handle.generated_key {
        println!(
            "Generated an API key (shown only this once; only its bcrypt hash is kept):\n  {key}"
        );
    }
    if let Some(cert) = &handle.generated_cert {
        println!("Created a self-signed TLS certificate: {}", cert.display());
    }
    let show = |name: &str, addr: Option<std::net::SocketAddr>| {
        if let Some(addr) = addr {
            println!("{name} listening on {addr}");
        }
    };
    show("https", handle.https_addr);
    show("http", handle.http_addr);
    show("admin", handle.admin_addr);
    println!("home timezone {}; ready", handle.home_tz);
    for signal in signals.forever() {
        match signal {
            SIGHUP => {
                let reloaded = handle.reload();
                match reloaded.certificate {
                    Some(Ok(())) => println!("reloaded the TLS certificate"),
                    Some(Err(e)) => {
                        eprintln!("certificate reload failed, keeping the old one: {e}")
                    }
                    None => {}
                }
                match reloaded.api_key {
                    Ok(()) => println!("reloaded the API key hash"),
                    Err(e) => eprintln!("API key reload failed, keeping the old key: {e}"),
                }
            }
            _ => {
                println!("draining…");
                handle.shutdown();
                println!("stopped");
                return;
            }
        }
    }
}
