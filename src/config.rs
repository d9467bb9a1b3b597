//! Settings: command-line flags, their environment twins, an optional TOML file, and
//! defaults, merged with precedence flag > env > file > default, then validated.
//!
//! Every clap argument is an `Option` without a clap default, so "not given" is visible
//! and the file can fill it; defaults are applied (and written into `--help` by hand) here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::auth;
use crate::week::zones::{self, ZoneId};

// The explicit path resolves the same whether this file is reached as `src/config.rs`
// (the crate) or through a `#[path]` include (a scratch crate).
#[path = "config/args.rs"]
mod args;
#[path = "config/check.rs"]
mod check;

use args::FileConfig;
pub use args::{Args, ArgsError, parse_args};
use check::{bad, check_listeners, in_range, parse_listen};

/// Upper bound for every timeout setting (one hour).
const MAX_TIMEOUT_MS: u64 = 3_600_000;

/// The validated settings the server runs with. `Debug` redacts the plaintext key.
#[derive(Clone)]
pub struct Config {
    /// Holds the data file, the key hash and a generated certificate.
    pub data_dir: PathBuf,
    /// HTTPS listener; `None` when TLS is off.
    pub https_listen: Option<SocketAddr>,
    /// Plain-HTTP listener, off by default.
    pub http_listen: Option<SocketAddr>,
    /// Admin listener (`/metrics`, `/health`, `/ready`); `None` when off.
    pub admin_listen: Option<SocketAddr>,
    /// Worker threads, 1..=256.
    pub workers: usize,
    /// Pin worker `i` to the `i`-th core the process may use (wrapping).
    pub pin_cores: bool,
    /// Home timezone for a newly created data file.
    pub home_tz: ZoneId,
    /// `home_tz` was set (flag, env or file), not the UTC default.
    pub home_tz_configured: bool,
    /// Connection cap across all workers.
    pub max_connections: usize,
    /// Largest request line + headers.
    pub max_head_bytes: usize,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Whole head within this of its first byte; also the limit for silent connections.
    pub header_timeout_ms: u64,
    /// Keep-alive idle limit.
    pub idle_timeout_ms: u64,
    /// Whole body within this after the head.
    pub body_timeout_ms: u64,
    /// Longest a client may accept none of our response bytes.
    pub write_timeout_ms: u64,
    /// Longest shutdown waits for in-flight requests.
    pub drain_timeout_ms: u64,
    /// Peers whose `X-Forwarded-For` names the client for rate limiting.
    pub trusted_proxies: crate::forwarded::TrustedProxies,
    /// Per-IP burst; 0 disables rate limiting.
    pub rate_limit_burst: u32,
    /// Per-IP sustained rate; 0 disables rate limiting.
    pub rate_limit_per_s: u32,
    /// Failed PATCH authentications per IP allowed at once.
    pub auth_fail_burst: u32,
    /// One failed authentication refilled per this interval.
    pub auth_fail_refill_ms: u64,
    /// bcrypt cost for hashing `API_KEY` or a generated key.
    pub bcrypt_cost: u32,
    /// Explicit certificate chain (PEM); set together with `tls_key`.
    pub tls_cert: Option<PathBuf>,
    /// Explicit private key (PEM); set together with `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Plaintext key from the `API_KEY` environment variable.
    pub api_key: Option<String>,
    /// bcrypt hash of the key from `--api-key-hash` / `API_KEY_HASH` or the file.
    pub api_key_hash: Option<String>,
    /// The TOML file `api_key_hash` came from, when it came from one (not a flag or
    /// the environment): SIGHUP re-reads it there.
    pub api_key_hash_file: Option<PathBuf>,
    /// No HTTPS listener.
    pub no_tls: bool,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = self;
        f.debug_struct("Config")
            .field("data_dir", &c.data_dir)
            .field("https_listen", &c.https_listen)
            .field("http_listen", &c.http_listen)
            .field("admin_listen", &c.admin_listen)
            .field("workers", &c.workers)
            .field("pin_cores", &c.pin_cores)
            .field("home_tz", &zones::name(c.home_tz))
            .field("max_connections", &c.max_connections)
            .field("max_head_bytes", &c.max_head_bytes)
            .field("max_body_bytes", &c.max_body_bytes)
            .field("header_timeout_ms", &c.header_timeout_ms)
            .field("idle_timeout_ms", &c.idle_timeout_ms)
            .field("body_timeout_ms", &c.body_timeout_ms)
            .field("write_timeout_ms", &c.write_timeout_ms)
            .field("drain_timeout_ms", &c.drain_timeout_ms)
            .field("trusted_proxies", &c.trusted_proxies)
            .field("rate_limit_burst", &c.rate_limit_burst)
            .field("rate_limit_per_s", &c.rate_limit_per_s)
            .field("auth_fail_burst", &c.auth_fail_burst)
            .field("auth_fail_refill_ms", &c.auth_fail_refill_ms)
            .field("bcrypt_cost", &c.bcrypt_cost)
            .field("tls_cert", &c.tls_cert)
            .field("tls_key", &c.tls_key)
            .field("api_key", &c.api_key.as_ref().map(|_| "<redacted>"))
            .field("api_key_hash", &c.api_key_hash)
            .field("no_tls", &c.no_tls)
            .finish()
    }
}

impl Config {
    /// Merges parsed flags/env with the TOML file named by `--config` (if any), the
    /// `API_KEY` environment variable and the defaults, then validates. Errors name the
    /// offending setting.
    pub fn from_args(args: Args) -> Result<Config, String> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let api_key = match std::env::var("API_KEY") {
            Ok(key) => Some(key),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err("API_KEY is not valid UTF-8".into());
            }
        };
        let config_path = args.config.clone();
        merge(args.clone(), file, api_key.clone()).map_err(|e| match config_path {
            // The message names the setting by flag, variable and key; whether the bad
            // value came from the file shows by merging again without it.
            Some(path) if merge(args, FileConfig::default(), api_key).err() != Some(e.clone()) => {
                format!("{e} (set in the config file {})", path.display())
            }
            _ => e,
        })
    }

    /// Parses `argv` (program name first) like the binary does, environment included,
    /// without exiting: `--help` and `--version` come back as `Err` holding their text.
    pub fn parse_from<I, T>(argv: I) -> Result<Config, String>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let argv: Vec<std::ffi::OsString> = argv.into_iter().map(Into::into).collect();
        let args = parse_args(&argv).map_err(|e| e.to_string())?;
        Config::from_args(args)
    }

    /// Defaults suited to tests: plain HTTP on an ephemeral localhost port, no TLS or
    /// admin listener, 2 unpinned workers, bcrypt cost 4; timeouts keep their defaults.
    pub fn for_tests(data_dir: PathBuf) -> Config {
        let mut config =
            merge(Args::default(), FileConfig::default(), None).expect("the defaults are valid");
        config.data_dir = data_dir;
        config.https_listen = None;
        config.no_tls = true;
        config.http_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        config.admin_listen = None;
        config.workers = 2;
        config.bcrypt_cost = 4;
        config
    }
}

/// `api_key_hash` as the TOML file at `path` sets it now (for SIGHUP), checked.
pub fn reread_api_key_hash(path: &Path) -> Result<String, String> {
    // A pipe (`--config <(…)`) cannot be read twice, and reading a FIFO would block.
    let regular = std::fs::metadata(path)
        .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?
        .is_file();
    if !regular {
        return Err(format!(
            "config file {} is not a regular file, so it cannot be read again",
            path.display()
        ));
    }
    let hash = read_file(path)?
        .api_key_hash
        .ok_or_else(|| format!("config file {} no longer sets api_key_hash", path.display()))?;
    checked_api_key_hash(&hash)
}

/// `api_key_hash` trimmed, if it is a bcrypt hash.
fn checked_api_key_hash(hash: &str) -> Result<String, String> {
    let hash = hash.trim();
    if !auth::looks_like_bcrypt_hash(hash) {
        return Err(bad(
            "api_key_hash",
            "not a bcrypt hash ($2a$/$2b$/$2y$, 60 characters)",
        ));
    }
    Ok(hash.to_string())
}

fn read_file(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))
}

/// Applies precedence (clap already resolved flag over env) and defaults, then validates.
fn merge(args: Args, file: FileConfig, api_key: Option<String>) -> Result<Config, String> {
    let no_tls = args.no_tls.or(file.no_tls).unwrap_or(false);
    let https_listen = match args.listen.or(file.listen) {
        _ if no_tls => None,
        Some(text) => parse_listen("listen", &text)?,
        None => Some(SocketAddr::from(([0, 0, 0, 0], 8443))),
    };
    let http_listen = match args.http_listen.or(file.http_listen) {
        Some(text) => parse_listen("http_listen", &text)?,
        None => None,
    };
    let admin_listen = match args.admin_listen.or(file.admin_listen) {
        Some(text) => parse_listen("admin_listen", &text)?,
        None => Some(SocketAddr::from(([127, 0, 0, 1], 9090))),
    };
    let home_tz_configured = args.home_tz.is_some() || file.home_tz.is_some();
    let home_tz = match args.home_tz.or(file.home_tz) {
        Some(name) => zones::lookup(name.trim().as_bytes())
            .ok_or_else(|| bad("home_tz", format!("unknown IANA timezone `{name}`")))?,
        None => zones::utc(),
    };
    let data_dir = args
        .data_dir
        .or(file.data_dir)
        .unwrap_or_else(|| "./data".into());
    if data_dir.as_os_str().is_empty() {
        return Err(bad("data_dir", "must not be empty"));
    }
    let default_workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(256));
    let tls_cert = args.tls_cert.or(file.tls_cert);
    let tls_key = args.tls_key.or(file.tls_key);
    if tls_cert.is_some() != tls_key.is_some() {
        return Err("--tls-cert and --tls-key must be given together (or neither)".into());
    }
    let trusted_proxies = crate::forwarded::TrustedProxies::parse(
        args.trusted_proxies
            .as_deref()
            .or(file.trusted_proxies.as_deref())
            .unwrap_or(""),
    )
    .map_err(|e| bad("trusted_proxies", e))?;
    let api_key_hash_file = match (&args.api_key_hash, &file.api_key_hash) {
        (None, Some(_)) => args.config.clone(),
        _ => None,
    };
    let api_key_hash = args
        .api_key_hash
        .or(file.api_key_hash)
        .map(|h| checked_api_key_hash(&h))
        .transpose()?;
    if let Some(key) = &api_key {
        auth::check_api_key(key)?;
        // Two keys in force at once would leave one of them silently unused (an old
        // API_KEY still exported would keep working over the hash meant to replace it).
        if api_key_hash.is_some() {
            return Err(
                "API_KEY and an API key hash (--api-key-hash, API_KEY_HASH or \
                        api_key_hash in the config file) are both set; give only one"
                    .into(),
            );
        }
    }
    // `setting!(key, default, min, max)`: flag/env, else file, else default; range-checked.
    macro_rules! setting {
        ($key:ident, $default:expr, $min:expr, $max:expr) => {
            in_range(
                stringify!($key),
                args.$key.or(file.$key),
                $default,
                $min,
                $max,
            )?
        };
    }
    let config = Config {
        data_dir,
        https_listen,
        http_listen,
        admin_listen,
        workers: setting!(workers, default_workers, 1, 256),
        // Off by default: issue 3's A/B (BENCHMARKS.md, "Core pinning").
        pin_cores: args.pin_cores.or(file.pin_cores).unwrap_or(false),
        home_tz,
        home_tz_configured,
        max_connections: setting!(max_connections, 16_384, 1, 1_000_000),
        max_head_bytes: setting!(max_head_bytes, 8192, 1024, 65_536),
        max_body_bytes: setting!(max_body_bytes, 16_384, 1024, 1_048_576),
        header_timeout_ms: setting!(header_timeout_ms, 10_000, 1, MAX_TIMEOUT_MS),
        idle_timeout_ms: setting!(idle_timeout_ms, 60_000, 1, MAX_TIMEOUT_MS),
        body_timeout_ms: setting!(body_timeout_ms, 10_000, 1, MAX_TIMEOUT_MS),
        write_timeout_ms: setting!(write_timeout_ms, 10_000, 1, MAX_TIMEOUT_MS),
        drain_timeout_ms: setting!(drain_timeout_ms, 10_000, 1, MAX_TIMEOUT_MS),
        trusted_proxies,
        rate_limit_burst: setting!(rate_limit_burst, 1000, 0, u32::MAX),
        rate_limit_per_s: setting!(rate_limit_per_s, 1000, 0, u32::MAX),
        auth_fail_burst: setting!(auth_fail_burst, 5, 1, 1_000_000),
        auth_fail_refill_ms: setting!(auth_fail_refill_ms, 12_000, 1, 86_400_000),
        bcrypt_cost: setting!(bcrypt_cost, bcrypt::DEFAULT_COST, 4, 31),
        tls_cert,
        tls_key,
        api_key,
        api_key_hash,
        api_key_hash_file,
        no_tls: https_listen.is_none(),
    };
    check_listeners(&config)?;
    // The failed-key limiter counts in nanoseconds: its whole window (burst × refill)
    // must stay far inside a u64, or its clock saturates and it never refuses again.
    let auth_window_ms = u64::from(config.auth_fail_burst) * config.auth_fail_refill_ms;
    if auth_window_ms > MAX_AUTH_WINDOW_MS {
        return Err(bad(
            "auth_fail_burst",
            format!(
                "{} failures × {} ms refill is {auth_window_ms} ms; at most {MAX_AUTH_WINDOW_MS} ms \
                 (about 31 years) is supported",
                config.auth_fail_burst, config.auth_fail_refill_ms
            ),
        ));
    }
    // Each worker takes an equal share of the cap, at least one connection.
    if config.max_connections < config.workers {
        return Err(bad(
            "max_connections",
            format!(
                "{} is fewer than the {} workers (each needs at least one connection)",
                config.max_connections, config.workers
            ),
        ));
    }
    Ok(config)
}

/// Longest failed-key window (`auth_fail_burst × auth_fail_refill_ms`): 10^12 ms is 10^18
/// ns, well inside a u64 with room for the clock.
const MAX_AUTH_WINDOW_MS: u64 = 1_000_000_000_000;
