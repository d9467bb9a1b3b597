//! The process around a running server: the open-file limit, the start-up report
//! (a generated key, the data file, the listeners) and the signal loop. Kept out of
//! `main.rs`, which stays flags → Config → run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::SIGHUP;
use signal_hook::iterator::Signals;

use super::{KeyReload, RELOAD_TIMEOUT, ServerHandle};
use crate::config::Config;
use crate::{say, say_err};

/// Prints what the start made and where the server listens. An `Err` means a generated
/// key could not be shown: the caller must stop the server and remove the key's hash.
pub fn announce(
    handle: &ServerHandle,
    key_source: &str,
    configured_home_tz: Option<&str>,
) -> Result<(), String> {
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
            return Err(format!("cannot print the generated API key: {e}; stopping"));
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
    Ok(())
}

/// Serves signals until SIGTERM or SIGINT, then drains and stops the server. SIGHUP
/// reloads the certificate and the key hash.
pub fn run_until_stopped(handle: ServerHandle, signals: &mut Signals) {
    let handle = Arc::new(handle);
    let reloading = Arc::new(AtomicBool::new(false));
    for signal in signals.forever() {
        match signal {
            SIGHUP => {
                // On a thread of its own: a reload waits for the writer thread, which a
                // stalled commit or one very long key check can hold, and a SIGTERM
                // meanwhile must still drain and exit in time. One reload at a time.
                if reloading.swap(true, Ordering::AcqRel) {
                    say_err!("a reload is still waiting for the writer thread; SIGHUP ignored");
                    continue;
                }
                let (handle, done) = (handle.clone(), reloading.clone());
                let spawned = std::thread::Builder::new()
                    .name("reload".into())
                    .spawn(move || {
                        // The certificate's outcome is logged before the key's wait.
                        report_certificate(handle.reload_certificate());
                        report_key(handle.reload_api_key(RELOAD_TIMEOUT));
                        done.store(false, Ordering::Release);
                    });
                if let Err(e) = spawned {
                    reloading.store(false, Ordering::Release);
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

fn report_key(api_key: Result<KeyReload, String>) {
    match api_key {
        Ok(KeyReload::Reloaded { from }) => say!("reloaded the API key hash from {from}"),
        Ok(KeyReload::Unchanged { why }) => {
            say_err!("API key unchanged: {why}; restart to change it")
        }
        Err(e) => say_err!("API key reload failed, keeping the old key: {e}"),
    }
}

/// Where the API key in force comes from, for the start-up log.
pub fn key_source(config: &Config) -> String {
    match (
        &config.api_key,
        &config.api_key_hash,
        &config.api_key_hash_file,
    ) {
        (Some(_), _, _) => {
            let hash_file = crate::auth::hash_path(&config.data_dir);
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
            crate::auth::hash_path(&config.data_dir).display()
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
/// the backlog instead of being served. Returns the soft limit now in force (`None`
/// when it cannot be read).
pub fn raise_fd_limit(max_connections: usize) -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
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
    Some(limit.rlim_cur)
}
