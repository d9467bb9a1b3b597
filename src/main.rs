//! Flags → Config → run, and the signals that end or reload it.

use clap::Parser;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use availability_server::config::{Args, Config, env_source_of_bad_value};
use availability_server::{say, say_err, server};

fn main() {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let args = match Args::try_parse_from(&argv) {
        Ok(args) => args,
        Err(e) => {
            // --help and --version land here too (exit code 0, printed to stdout).
            let source = env_source_of_bad_value(&e, &argv);
            let _ = e.print();
            if let Some(source) = source {
                say_err!("availability-server: {source}");
            }
            std::process::exit(e.exit_code());
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
    raise_fd_limit(config.max_connections);
    let key_source = key_source(&config);
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
    if let Some(key) = &handle.generated_key {
        use std::io::Write as _;
        let shown = if stdout_is_dev_null() {
            // `>/dev/null`, or a closed stdout that the Rust runtime reopened there.
            Err(std::io::Error::other(
                "stdout is /dev/null (set API_KEY or API_KEY_HASH, or let stdout reach you)",
            ))
        } else {
            writeln!(
                std::io::stdout().lock(),
                "Generated an API key (shown only this once; only its bcrypt hash is kept):\n  {key}"
            )
            .and_then(|()| std::io::stdout().flush())
        };
        if let Err(e) = shown {
            // Nobody saw the key: its hash must not stay, or no later start makes a new one.
            say_err!("availability-server: cannot print the generated API key: {e}; stopping");
            handle.shutdown();
            handle.discard_generated();
            std::process::exit(1);
        }
    }
    match &handle.created_data_file {
        Some(path) => say!(
            "Created a new data file {} (an empty week, home timezone {})",
            path.display(),
            handle.home_tz
        ),
        None => {
            if let Some(configured) = configured_home_tz.filter(|&tz| tz != handle.home_tz) {
                say!(
                    "The data file's home timezone {} is kept; the configured one \
                     ({configured}) only seeds a new data file",
                    handle.home_tz
                );
            }
        }
    }
    if handle.generated_key.is_none() {
        // Which key is in force: an exported API_KEY overrides the hash file unseen.
        say!("API key: {key_source}");
    }
    if let Some(cert) = &handle.generated_cert {
        say!("Created a self-signed TLS certificate: {}", cert.display());
    }
    let show = |name: &str, addr: Option<std::net::SocketAddr>| {
        if let Some(addr) = addr {
            say!("{name} listening on {addr}");
        }
    };
    show("https", handle.https_addr);
    show("http", handle.http_addr);
    show("admin", handle.admin_addr);
    say!("home timezone {}; ready", handle.home_tz);
    let handle = std::sync::Arc::new(handle);
    let reloading = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in signals.forever() {
        match signal {
            SIGHUP => {
                // On a thread of its own: a reload waits for the writer thread, which a
                // stalled commit or one very long key check can hold, and a SIGTERM
                // meanwhile must still drain and exit in time. One reload at a time.
                if reloading.swap(true, std::sync::atomic::Ordering::AcqRel) {
                    say_err!("a reload is still waiting for the writer thread; SIGHUP ignored");
                    continue;
                }
                let (handle, done) = (handle.clone(), reloading.clone());
                let spawned = std::thread::Builder::new()
                    .name("reload".into())
                    .spawn(move || {
                        // The certificate's outcome is logged before the key's wait.
                        report_certificate(handle.reload_certificate());
                        report_key(handle.reload_api_key(server::RELOAD_TIMEOUT));
                        done.store(false, std::sync::atomic::Ordering::Release);
                    });
                if let Err(e) = spawned {
                    reloading.store(false, std::sync::atomic::Ordering::Release);
                    say_err!("cannot start the reload: {e}");
                }
            }
            _ => {
                say!("draining…");
                handle.shutdown();
                say!("stopped");
                return;
            }
        }
    }
}

fn report_certificate(certificate: Option<Result<(), String>>) {
    match certificate {
        Some(Ok(())) => say!("reloaded the TLS certificate"),
        Some(Err(e)) => say_err!("certificate reload failed, keeping the old one: {e}"),
        None => {}
    }
}

fn report_key(api_key: Result<server::KeyReload, String>) {
    match api_key {
        Ok(server::KeyReload::Reloaded { from }) => say!("reloaded the API key hash from {from}"),
        Ok(server::KeyReload::Unchanged { why }) => {
            say_err!("API key unchanged: {why}; restart to change it")
        }
        Err(e) => say_err!("API key reload failed, keeping the old key: {e}"),
    }
}

/// Where the API key in force comes from, for the start-up log.
fn key_source(config: &Config) -> String {
    match (
        &config.api_key,
        &config.api_key_hash,
        &config.api_key_hash_file,
    ) {
        (Some(_), _, _) => {
            let hash_file = availability_server::auth::hash_path(&config.data_dir);
            if hash_file.exists() {
                format!(
                    "from API_KEY (for this run only; {} is not used)",
                    hash_file.display()
                )
            } else {
                "from API_KEY (for this run only; not saved)".to_string()
            }
        }
        (None, Some(_), Some(file)) => format!("hash from api_key_hash in {}", file.display()),
        (None, Some(_), None) => "hash from --api-key-hash or API_KEY_HASH".to_string(),
        (None, None, _) => format!(
            "hash from {}",
            availability_server::auth::hash_path(&config.data_dir).display()
        ),
    }
}

/// Whether standard output is the null device, where a generated key would be lost.
fn stdout_is_dev_null() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(out) = std::io::stdout().as_fd().try_clone_to_owned() else {
        return false;
    };
    let (Ok(out), Ok(null)) = (
        std::fs::File::from(out).metadata(),
        std::fs::metadata("/dev/null"),
    ) else {
        return false;
    };
    out.file_type().is_char_device() && out.rdev() == null.rdev()
}

/// Descriptors the server needs beyond one per connection: listeners, epoll and
/// waker per worker, the data file and directory, stdio.
const FD_OVERHEAD: u64 = 64;

/// Raises the soft limit on open files to the hard limit (the usual soft limit,
/// 1,024, is far below the default `--max-connections`), and warns when even that
/// cannot hold `max_connections`: past it, `accept` fails and newcomers wait in
/// the backlog instead of being served.
fn raise_fd_limit(max_connections: usize) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    let needed = max_connections as u64 + FD_OVERHEAD;
    if limit.rlim_cur < needed {
        say_err!(
            "availability-server: warning: the open-file limit ({}) is below --max-connections \
             ({max_connections}) plus {FD_OVERHEAD}; connections past it wait in the backlog \
             (raise `ulimit -n` or lower --max-connections)",
            limit.rlim_cur
        );
    }
}
