//! The API key: where it comes from, how it is stored (only as a bcrypt hash), and how a
//! presented bearer token is checked.
//!
//! bcrypt is deliberately slow (~250 ms at cost 12), so [`KeyStore::verify`] must only run
//! on the writer thread, never on a worker serving reads. After one successful bcrypt
//! check the store remembers an HMAC tag of the accepted key under a random per-process
//! secret, so the owner's following writes cost one HMAC instead of another bcrypt, and
//! so does refusing any other key (no second key can match the same hash).

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

mod bearer;

use bearer::is_token68;
pub use bearer::{BearerError, parse_bearer};

/// Name of the file, inside the data directory, holding the key's bcrypt hash.
pub const HASH_FILE_NAME: &str = "api_key.bcrypt";

/// Longest key accepted. bcrypt only looks at the first 72 bytes, so a longer presented
/// token could pass for the key while differing from it; such tokens are refused outright.
pub const MAX_KEY_LEN_BYTES: usize = 72;

/// Random bytes in a generated key (256 bits).
const GENERATED_KEY_BYTES: usize = 32;

/// The result of [`bootstrap`].
pub struct Bootstrap {
    /// The key material used to check bearer tokens.
    pub keys: KeyStore,
    /// A key generated on this start; `main` prints it once and it is never stored.
    pub generated_key: Option<String>,
}

/// The configured key's bcrypt hash plus the fast-path state.
pub struct KeyStore {
    hash: String,
    /// Per-process random HMAC key; the tag below is worthless outside this process.
    secret: hmac::Key,
    /// HMAC-SHA256 of the last key that passed bcrypt.
    verified_tag: Option<[u8; 32]>,
}

/// Loads or creates the API key, in this order: `api_key` (the plaintext `API_KEY`, hashed
/// now and kept only as a hash in memory), `api_key_hash`, the hash file in `data_dir`,
/// else a newly generated key whose hash is written to that file (mode 0600).
pub fn bootstrap(
    data_dir: &Path,
    api_key: Option<&str>,
    api_key_hash: Option<&str>,
    bcrypt_cost: u32,
) -> Result<Bootstrap, String> {
    if let Some(keys) = load_configured(data_dir, api_key, api_key_hash, bcrypt_cost)? {
        return Ok(Bootstrap {
            keys,
            generated_key: None,
        });
    }
    let rng = SystemRandom::new();
    let mut raw = [0u8; GENERATED_KEY_BYTES];
    rng.fill(&mut raw)
        .map_err(|_| "cannot read the system random generator".to_string())?;
    let key = base64url(&raw);
    let hash = bcrypt::hash(&key, bcrypt_cost).map_err(|e| format!("bcrypt failed: {e}"))?;
    write_hash_file(data_dir, &hash)?;
    let mut keys = KeyStore::new(hash)?;
    keys.arm(key.as_bytes());
    Ok(Bootstrap {
        keys,
        generated_key: Some(key),
    })
}

impl KeyStore {
    fn new(hash: String) -> Result<KeyStore, String> {
        let secret = hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new())
            .map_err(|_| "cannot read the system random generator".to_string())?;
        Ok(KeyStore {
            hash,
            secret,
            verified_tag: None,
        })
    }

    /// Remembers `key` as verified, so the next `verify` of it skips bcrypt.
    fn arm(&mut self, key: &[u8]) {
        let tag = hmac::sign(&self.secret, key);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(tag.as_ref());
        self.verified_tag = Some(bytes);
    }

    /// Whether `presented` is the API key. Slow (bcrypt) unless it equals the last key
    /// that passed, which is checked by a constant-time HMAC comparison. Call only on the
    /// writer thread, after checking the client's failure budget.
    pub fn verify(&mut self, presented: &[u8]) -> bool {
        match self.verify_fast(presented) {
            Some(verdict) => verdict,
            None => self.verify_slow(presented),
        }
    }

    /// The verdict on `presented` when it needs no bcrypt, by a constant-time HMAC
    /// comparison with the key that passed last: once a key has passed, every other
    /// token is refused without bcrypt, as no second key of at most 72 bytes can match
    /// the same hash (that would be a bcrypt collision). Also `Some(false)` for a
    /// token no key can be (empty, too long); `None` while no key has passed yet.
    pub fn verify_fast(&self, presented: &[u8]) -> Option<bool> {
        if presented.is_empty() || presented.len() > MAX_KEY_LEN_BYTES {
            return Some(false);
        }
        let tag = self.verified_tag.as_ref()?;
        Some(hmac::verify(&self.secret, presented, tag).is_ok())
    }

    /// The bcrypt check (~250 ms at cost 12); a key that passes is remembered for
    /// [`KeyStore::verify_fast`].
    pub fn verify_slow(&mut self, presented: &[u8]) -> bool {
        if presented.is_empty() || presented.len() > MAX_KEY_LEN_BYTES {
            return false;
        }
        if bcrypt::verify(presented, &self.hash).unwrap_or(false) {
            self.arm(presented);
            true
        } else {
            false
        }
    }

    /// Re-reads the key from the same sources as [`bootstrap`] (for SIGHUP) but never
    /// generates one. On error the current key stays in force. A new hash forgets the
    /// fast-path tag (unless the plaintext key is configured, which re-arms it); the
    /// same hash keeps it, so a SIGHUP that changed nothing costs no bcrypt.
    pub fn reload(
        &mut self,
        data_dir: &Path,
        api_key: Option<&str>,
        api_key_hash: Option<&str>,
        bcrypt_cost: u32,
    ) -> Result<(), String> {
        match load_configured(data_dir, api_key, api_key_hash, bcrypt_cost)? {
            // The same hash: the key that passed still does, without a new bcrypt.
            Some(keys) if keys.hash == self.hash => Ok(()),
            Some(keys) => {
                *self = keys;
                Ok(())
            }
            None => Err(format!(
                "{} is missing (a new key is generated only by a start that finds none)",
                hash_path(data_dir).display()
            )),
        }
    }
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("fast_path_armed", &self.verified_tag.is_some())
            .finish_non_exhaustive()
    }
}

/// The key from the configured sources, or `None` when there is none and no hash file.
fn load_configured(
    data_dir: &Path,
    api_key: Option<&str>,
    api_key_hash: Option<&str>,
    bcrypt_cost: u32,
) -> Result<Option<KeyStore>, String> {
    if let Some(key) = api_key {
        check_api_key(key)?;
        let hash = bcrypt::hash(key, bcrypt_cost).map_err(|e| format!("bcrypt failed: {e}"))?;
        let mut keys = KeyStore::new(hash)?;
        keys.arm(key.as_bytes());
        return Ok(Some(keys));
    }
    if let Some(hash) = api_key_hash {
        let hash = hash.trim();
        if !looks_like_bcrypt_hash(hash) {
            return Err(
                "API_KEY_HASH is not a bcrypt hash ($2a$, $2b$ or $2y$, 60 characters)".into(),
            );
        }
        return KeyStore::new(hash.to_string()).map(Some);
    }
    read_hash_file(data_dir)?.map(KeyStore::new).transpose()
}

/// The bcrypt hash in the data directory's hash file, checked; `None` when there is no
/// such file. Only a regular file is read: a FIFO there would block the caller.
pub fn read_hash_file(data_dir: &Path) -> Result<Option<String>, String> {
    let path = hash_path(data_dir);
    match fs::metadata(&path) {
        Ok(meta) if !meta.is_file() => {
            return Err(format!("{} is not a regular file", path.display()));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    match fs::read_to_string(&path) {
        Ok(text) => {
            let hash = text.trim();
            if !looks_like_bcrypt_hash(hash) {
                return Err(format!(
                    "{} does not hold a bcrypt hash; write one there, or delete it and \
                     restart to generate a new key",
                    path.display()
                ));
            }
            Ok(Some(hash.to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Where the data directory keeps the key's bcrypt hash.
pub fn hash_path(data_dir: &Path) -> PathBuf {
    data_dir.join(HASH_FILE_NAME)
}

/// Writes the hash file atomically and without replacing an existing one: the content
/// goes to a temporary file (0600, fsynced), which is then hard-linked to the final name
/// (fails if it exists) and the directory fsynced. A crash leaves no half-written file.
fn write_hash_file(data_dir: &Path, hash: &str) -> Result<(), String> {
    crate::store::create_data_dir(data_dir)
        .map_err(|e| format!("cannot create data directory {}: {e}", data_dir.display()))?;
    let path = hash_path(data_dir);
    let tmp = data_dir.join(format!("{HASH_FILE_NAME}.tmp"));
    let io_err = |what: &str, p: &Path, e: std::io::Error| format!("{what} {}: {e}", p.display());
    // A leftover temporary file (say, 0644 from someone's hand) is removed, and the new
    // one created exclusively: an existing file or symlink would keep its own mode.
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(io_err("cannot remove the stale", &tmp, e));
        }
        _ => {}
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io_err("cannot create", &tmp, e))?;
    file.write_all(format!("{hash}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io_err("cannot write", &tmp, e))?;
    drop(file);
    let linked = fs::hard_link(&tmp, &path).map_err(|e| io_err("cannot create", &path, e));
    let _ = fs::remove_file(&tmp);
    linked?;
    fs::File::open(data_dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| io_err("cannot fsync directory", data_dir, e))
}

/// Removes the hash file [`bootstrap`] wrote for a generated key (best effort), so
/// that the next start generates and prints a new key.
pub fn discard_generated(data_dir: &Path) {
    let path = hash_path(data_dir);
    if let Err(e) = fs::remove_file(&path).and_then(|()| fs::File::open(data_dir)?.sync_all()) {
        crate::say_err!(
            "cannot remove {}: {e}; delete it to get a new key",
            path.display()
        );
    }
}

/// Checks a plaintext key from `API_KEY`: 1..=72 bytes of token68 characters, so that it
/// can be sent as `Authorization: Bearer <key>` and bcrypt sees all of it.
pub fn check_api_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("API_KEY is set but empty".into());
    }
    if key.len() > MAX_KEY_LEN_BYTES {
        return Err(format!(
            "API_KEY is {} bytes; at most {MAX_KEY_LEN_BYTES} are allowed (bcrypt ignores the rest)",
            key.len()
        ));
    }
    if !is_token68(key.as_bytes()) {
        return Err(
            "API_KEY may contain only letters, digits and - . _ ~ + / (then trailing =), \
             as a bearer token requires"
                .into(),
        );
    }
    Ok(())
}

/// Whether `s` has the shape of a bcrypt hash: `$2a$`, `$2b$` or `$2y$`, a two-digit cost
/// 04..=31, `$`, then 53 characters of bcrypt's base64 alphabet.
pub fn looks_like_bcrypt_hash(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 60 || !(s.starts_with("$2a$") || s.starts_with("$2b$") || s.starts_with("$2y$")) {
        return false;
    }
    let cost_ok = b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
        && (4..=31).contains(&((b[4] - b'0') * 10 + (b[5] - b'0')));
    cost_ok
        && b[6] == b'$'
        && b[7..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'.' || c == b'/')
}

/// Unpadded base64url (RFC 4648 §5), which is also token68.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        // A chunk of k bytes yields k + 1 characters.
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests;
