//! The command-line flags of `availability-server` (clap) and the same settings as read
//! from the TOML file (serde). Both are all-`Option`, so the merge in `config.rs` can tell
//! "not given" from a value and apply flag > env > file > default.

use std::path::PathBuf;

use clap::Parser;
use clap::builder::BoolishValueParser;
use serde::Deserialize;

const AFTER_HELP: &str = "\
Every setting can also be given by the environment variable shown, or in the TOML file
named by --config, keyed by the flag name with '_' for '-' (e.g. data_dir = \"/var/lib/a\").
Precedence: flag > environment > file > default.

API_KEY   The API key in plain text, from the environment only (never a flag, so it does
          not show in `ps`). It is hashed with bcrypt at start. Without API_KEY,
          API_KEY_HASH or a key file in the data directory, the first start generates a
          key, prints it once and stores only its bcrypt hash (mode 0600).";

/// Command-line flags (each with an environment twin) of `availability-server`.
#[derive(Parser, Debug, Default, Clone)]
#[command(
    name = "availability-server",
    version,
    about = "Publishes one person's weekly availability, converted to any IANA timezone.",
    after_help = AFTER_HELP
)]
pub struct Args {
    /// TOML config file [default: none]
    #[arg(long, env = "AVAILABILITY_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Directory for the data file, the API key hash and a generated certificate [default: ./data]
    #[arg(long, env = "AVAILABILITY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// HTTPS listen address, or "off" [default: 0.0.0.0:8443]
    #[arg(long, env = "AVAILABILITY_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Plain-HTTP listen address (for use behind a proxy), or "off" [default: off]
    #[arg(long, env = "AVAILABILITY_HTTP_LISTEN", value_name = "ADDR")]
    pub http_listen: Option<String>,
    /// Admin listener (/metrics, /health, /ready), or "off" [default: 127.0.0.1:9090]
    #[arg(long, env = "AVAILABILITY_ADMIN_LISTEN", value_name = "ADDR")]
    pub admin_listen: Option<String>,
    /// Disable the HTTPS listener [default: false]
    #[arg(long, env = "AVAILABILITY_NO_TLS", value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true",
          value_parser = BoolishValueParser::new())]
    pub no_tls: Option<bool>,
    /// Worker threads, 1..=256 [default: number of CPUs]
    #[arg(long, env = "AVAILABILITY_WORKERS", value_name = "N")]
    pub workers: Option<usize>,
    /// Pin worker i to the i-th core this process may use, wrapping (for cores no other busy process shares) [default: false]
    #[arg(long, env = "AVAILABILITY_PIN_CORES", value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true",
          value_parser = BoolishValueParser::new())]
    pub pin_cores: Option<bool>,
    /// Owner's IANA timezone, used only when the data file is created [default: UTC]
    #[arg(long, env = "AVAILABILITY_HOME_TZ", value_name = "ZONE")]
    pub home_tz: Option<String>,
    /// Open connections across all workers, 1..=1000000 [default: 16384]
    #[arg(long, env = "AVAILABILITY_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
    /// Largest request line + headers, 1024..=65536 [default: 8192]
    #[arg(long, env = "AVAILABILITY_MAX_HEAD_BYTES", value_name = "BYTES")]
    pub max_head_bytes: Option<usize>,
    /// Largest request body, 1024..=1048576 [default: 16384]
    #[arg(long, env = "AVAILABILITY_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Whole request head must arrive within this of its first byte; also closes silent connections, 1..=3600000 [default: 10000]
    #[arg(long, env = "AVAILABILITY_HEADER_TIMEOUT_MS", value_name = "MS")]
    pub header_timeout_ms: Option<u64>,
    /// Idle keep-alive connections are closed after this, 1..=3600000 [default: 60000]
    #[arg(long, env = "AVAILABILITY_IDLE_TIMEOUT_MS", value_name = "MS")]
    pub idle_timeout_ms: Option<u64>,
    /// Whole request body must arrive within this after the head, 1..=3600000 [default: 10000]
    #[arg(long, env = "AVAILABILITY_BODY_TIMEOUT_MS", value_name = "MS")]
    pub body_timeout_ms: Option<u64>,
    /// A client that accepts none of our response bytes for this long is cut off, 1..=3600000 [default: 10000]
    #[arg(long, env = "AVAILABILITY_WRITE_TIMEOUT_MS", value_name = "MS")]
    pub write_timeout_ms: Option<u64>,
    /// On SIGTERM/SIGINT, in-flight requests get this long to finish, 1..=3600000 [default: 10000]
    #[arg(long, env = "AVAILABILITY_DRAIN_TIMEOUT_MS", value_name = "MS")]
    pub drain_timeout_ms: Option<u64>,
    /// Requests per client IP allowed at once; 0 disables rate limiting [default: 1000]
    #[arg(long, env = "AVAILABILITY_RATE_LIMIT_BURST", value_name = "N")]
    pub rate_limit_burst: Option<u32>,
    /// Sustained requests per second per client IP; 0 disables rate limiting [default: 1000]
    #[arg(long, env = "AVAILABILITY_RATE_LIMIT_PER_S", value_name = "N")]
    pub rate_limit_per_s: Option<u32>,
    /// Failed write authentications per client IP allowed at once, 1..=1000000 [default: 5]
    #[arg(long, env = "AVAILABILITY_AUTH_FAIL_BURST", value_name = "N")]
    pub auth_fail_burst: Option<u32>,
    /// One more failed authentication is allowed per this interval [default: 12000]
    #[arg(long, env = "AVAILABILITY_AUTH_FAIL_REFILL_MS", value_name = "MS")]
    pub auth_fail_refill_ms: Option<u64>,
    /// bcrypt cost for hashing the API key, 4..=31 [default: 12]
    #[arg(long, env = "AVAILABILITY_BCRYPT_COST", value_name = "COST")]
    pub bcrypt_cost: Option<u32>,
    /// TLS certificate chain (PEM); requires --tls-key [default: self-signed, in the data dir]
    #[arg(long, env = "AVAILABILITY_TLS_CERT", value_name = "PATH")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM); requires --tls-cert [default: self-signed, in the data dir]
    #[arg(long, env = "AVAILABILITY_TLS_KEY", value_name = "PATH")]
    pub tls_key: Option<PathBuf>,
    /// Proxies (addresses or CIDR networks, comma-separated) whose X-Forwarded-For names the client for rate limits [default: none]
    #[arg(long, env = "AVAILABILITY_TRUSTED_PROXIES", value_name = "LIST")]
    pub trusted_proxies: Option<String>,
    /// bcrypt hash of the API key ($2b$…); not together with API_KEY [default: the hash file in the data dir]
    #[arg(
        long,
        env = "API_KEY_HASH",
        value_name = "HASH",
        hide_env_values = true
    )]
    pub api_key_hash: Option<String>,
}

/// Flags and environment refused by clap, or `--help` / `--version` (which clap reports
/// as errors with exit code 0).
#[derive(Debug)]
pub struct ArgsError {
    pub clap: clap::Error,
    /// The environment variable a value that does not parse came from, said in a
    /// line of its own (clap names only the flag).
    pub env_source: Option<String>,
}

impl std::fmt::Display for ArgsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.clap)?;
        match &self.env_source {
            Some(source) => write!(f, "{source}"),
            None => Ok(()),
        }
    }
}

/// Parses `argv` (program name first) and the environment like clap does, adding to
/// a refused value where it came from.
pub fn parse_args(argv: &[std::ffi::OsString]) -> Result<Args, ArgsError> {
    Args::try_parse_from(argv).map_err(|clap| ArgsError {
        env_source: env_source_of_bad_value(&clap, argv),
        clap,
    })
}

/// clap names only the flag when a value does not parse (`invalid value '-5' for
/// '--max-connections <N>'`), which misleads when the value came from the environment.
/// Returns which variable it came from, when `argv` (program name first) does not give
/// the flag and the variable is set; `None` for any other error.
fn env_source_of_bad_value(error: &clap::Error, argv: &[std::ffi::OsString]) -> Option<String> {
    use clap::CommandFactory;
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(
        error.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return None;
    }
    let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    // "--max-connections <N>" or "--no-tls[=<BOOL>]" -> the long name alone
    let long = arg.strip_prefix("--")?;
    let long = &long[..long
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or(long.len())];
    let command = Args::command();
    let env = command
        .get_arguments()
        .find(|spec| spec.get_long() == Some(long))?
        .get_env()?;
    let flag = format!("--{long}");
    let given = argv.iter().skip(1).any(|word| {
        word.to_str()
            .is_some_and(|word| word == flag || word.starts_with(&format!("{flag}=")))
    });
    (!given && std::env::var_os(env).is_some()).then(|| {
        format!(
            "the value for {flag} came from the environment variable {}",
            env.to_string_lossy()
        )
    })
}

/// The same settings read from the TOML file; unknown keys are an error.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    pub(super) data_dir: Option<PathBuf>,
    pub(super) listen: Option<String>,
    pub(super) http_listen: Option<String>,
    pub(super) admin_listen: Option<String>,
    pub(super) no_tls: Option<bool>,
    pub(super) workers: Option<usize>,
    pub(super) pin_cores: Option<bool>,
    pub(super) home_tz: Option<String>,
    pub(super) max_connections: Option<usize>,
    pub(super) max_head_bytes: Option<usize>,
    pub(super) max_body_bytes: Option<usize>,
    pub(super) header_timeout_ms: Option<u64>,
    pub(super) idle_timeout_ms: Option<u64>,
    pub(super) body_timeout_ms: Option<u64>,
    pub(super) write_timeout_ms: Option<u64>,
    pub(super) drain_timeout_ms: Option<u64>,
    pub(super) rate_limit_burst: Option<u32>,
    pub(super) rate_limit_per_s: Option<u32>,
    pub(super) auth_fail_burst: Option<u32>,
    pub(super) auth_fail_refill_ms: Option<u64>,
    pub(super) bcrypt_cost: Option<u32>,
    pub(super) tls_cert: Option<PathBuf>,
    pub(super) tls_key: Option<PathBuf>,
    pub(super) trusted_proxies: Option<String>,
    pub(super) api_key_hash: Option<String>,
}
