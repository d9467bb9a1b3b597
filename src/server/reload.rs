//! SIGHUP: the certificate and the API key hash are read again from where they were
//! configured, each on its own, and swapped in without dropping a connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{RecvTimeoutError, TrySendError};
use std::time::Duration;

use super::ServerHandle;
use crate::config::Config;
use crate::writer::Command;

/// What a [`ServerHandle::reload`] did; an `Err` part kept its old value.
#[derive(Debug)]
pub struct Reloaded {
    /// `None` when HTTPS is off.
    pub certificate: Option<Result<(), String>>,
    pub api_key: Result<KeyReload, String>,
}

/// What a reload did to the API key.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyReload {
    /// A new hash is in force; from where.
    Reloaded { from: String },
    /// The key comes from a source a running process cannot re-read (the
    /// environment, a flag): it stays as it was; why.
    Unchanged { why: &'static str },
}

/// How long a reload waits for the writer thread to swap the key.
pub const RELOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// The life of one key swap handed to the writer: whoever moves it out of
/// `PENDING` first decides whether it happens, so a reload that gave up waiting
/// (and said the old key stays) is never applied later behind the operator's back.
const PENDING: u8 = 0;
const APPLYING: u8 = 1;
const ABANDONED: u8 = 2;

impl ServerHandle {
    /// SIGHUP: reloads the certificate and the key hash, each on its own (a bad
    /// certificate does not keep a new key out, nor the reverse); whatever fails keeps
    /// its old value. Connections stay up. The key's files are read on this thread;
    /// then it waits for the writer thread, which owns the keys, to swap the new hash
    /// in (it may be finishing a commit).
    pub fn reload(&self) -> Reloaded {
        self.reload_waiting(RELOAD_TIMEOUT)
    }

    /// [`ServerHandle::reload`], waiting at most `timeout` for the writer thread.
    pub fn reload_waiting(&self, timeout: Duration) -> Reloaded {
        let certificate = self.reload_certificate();
        let api_key = self.reload_api_key(timeout);
        Reloaded {
            certificate,
            api_key,
        }
    }

    /// The certificate half of a reload, at once (`None` when HTTPS is off).
    pub fn reload_certificate(&self) -> Option<Result<(), String>> {
        self.tls_config.as_ref().map(|current| {
            let c = &self.config;
            crate::tls::load_configured(&c.data_dir, c.tls_cert.as_deref(), c.tls_key.as_deref())
                .map(|setup| current.store(setup.server_config))
        })
    }

    /// The key half of a reload: waits at most `timeout` for the writer thread.
    pub fn reload_api_key(&self, timeout: Duration) -> Result<KeyReload, String> {
        key_source(&self.config).and_then(|source| {
            let (hash, from) = match source {
                KeySource::Unchanged(why) => return Ok(KeyReload::Unchanged { why }),
                KeySource::Hash { hash, from } => (hash, from),
            };
            let c = self.config.clone();
            let (done_tx, done_rx) = std::sync::mpsc::sync_channel(1);
            let state = Arc::new(AtomicU8::new(PENDING));
            let writer_state = Arc::clone(&state);
            let reload = move |keys: &mut crate::auth::KeyStore| {
                let claim = writer_state.compare_exchange(
                    PENDING,
                    APPLYING,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                if claim.is_ok() {
                    let swapped = keys.reload(&c.data_dir, None, Some(&hash), c.bcrypt_cost);
                    let _ = done_tx.send(swapped);
                }
            };
            // Not `send`: it blocks while the queue is full, which anyone can make it
            // with wrong-key PATCHes.
            match self
                .writer_tx
                .try_send(Command::ReloadKeys(Box::new(reload)))
            {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    return Err("the writer thread's queue is full; send SIGHUP again".into());
                }
                Err(TrySendError::Disconnected(_)) => {
                    return Err("the writer thread has stopped".into());
                }
            }
            match done_rx.recv_timeout(timeout) {
                Ok(swapped) => swapped?,
                // The writer stopped (a shutdown) and dropped the queued swap unrun.
                Err(RecvTimeoutError::Disconnected) => {
                    return Err("the writer thread stopped before the swap".into());
                }
                Err(RecvTimeoutError::Timeout) => {
                    let gave_up = state.compare_exchange(
                        PENDING,
                        ABANDONED,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    );
                    if gave_up.is_ok() {
                        return Err(format!(
                            "the writer thread did not take the new key within {} s \
                             (a commit or one key check may be stuck); send SIGHUP again",
                            timeout.as_secs_f64()
                        ));
                    }
                    // The writer claimed it just now: the swap is quick, wait for it.
                    done_rx
                        .recv()
                        .map_err(|_| "the writer thread stopped during the swap".to_string())??;
                }
            }
            Ok(KeyReload::Reloaded { from })
        })
    }
}

/// Where a reload takes the API key hash from.
enum KeySource {
    /// Nowhere a running process can re-read; why.
    Unchanged(&'static str),
    /// This hash, read from `from`.
    Hash { hash: String, from: String },
}

/// Reads the API key hash again from where it was configured, if a running process
/// can: the `api_key_hash` of the config file, or the hash file in the data directory.
/// `API_KEY` and `--api-key-hash` / `API_KEY_HASH` came from the environment or the
/// command line, which cannot change under a running process. The files are read here,
/// on the caller's (signal) thread, not on the writer's: a slow read must not hold up
/// writes.
fn key_source(c: &Config) -> Result<KeySource, String> {
    if c.api_key.is_some() {
        return Ok(KeySource::Unchanged(
            "API_KEY is set in the environment, which a running process cannot re-read",
        ));
    }
    if let Some(path) = &c.api_key_hash_file {
        return Ok(KeySource::Hash {
            hash: crate::config::reread_api_key_hash(path)?,
            from: format!("api_key_hash in {}", path.display()),
        });
    }
    if c.api_key_hash.is_some() {
        return Ok(KeySource::Unchanged(
            "the hash is set by --api-key-hash or API_KEY_HASH, which a running process \
             cannot re-read",
        ));
    }
    let path = crate::auth::hash_path(&c.data_dir);
    match crate::auth::read_hash_file(&c.data_dir)? {
        Some(hash) => Ok(KeySource::Hash {
            hash,
            from: path.display().to_string(),
        }),
        None => Err(format!(
            "{} is missing (a new key is generated only by a start that finds none)",
            path.display()
        )),
    }
}
