//! Settings: precedence (flag over environment over file over default), validation
//! that names the setting, the API key only from the environment. (Key bootstrap is
//! in `auth_bootstrap.rs`, TLS and its handshake in `tls.rs`.)

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use availability_server::config::Config;
use availability_server::week::zones;

/// Tests run on parallel threads of one process: every test that reads or writes the
/// environment (all `Config` parsing does) holds this lock.
static ENV_LOCK: Mutex<()> = Mutex::new(());

/// Sets environment variables for the lifetime of the guard (call with `ENV_LOCK` held).
struct EnvVars(Vec<&'static str>);

impl EnvVars {
    fn set(vars: &[(&'static str, &str)]) -> EnvVars {
        for (name, value) in vars {
            // SAFETY: callers hold ENV_LOCK, so no other test thread touches the
            // environment concurrently.
            unsafe { std::env::set_var(name, value) };
        }
        EnvVars(vars.iter().map(|(name, _)| *name).collect())
    }
}

impl Drop for EnvVars {
    fn drop(&mut self) {
        for name in &self.0 {
            // SAFETY: as in `set`; the lock is still held while the guard drops.
            unsafe { std::env::remove_var(name) };
        }
    }
}

fn env_lock() -> std::sync::MutexGuard<'static, ()> {
    ENV_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write_toml(dir: &Path, text: &str) -> String {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("write config file");
    path.to_str().expect("utf-8 temp path").to_string()
}

fn parse(argv: &[&str]) -> Result<Config, String> {
    Config::parse_from(std::iter::once("availability-server").chain(argv.iter().copied()))
}

#[test]
fn defaults_without_flags_env_or_file() {
    let _lock = env_lock();
    let config = parse(&[]).expect("defaults are valid");
    assert_eq!(config.data_dir, PathBuf::from("./data"));
    assert_eq!(
        config.https_listen,
        Some("0.0.0.0:8443".parse().expect("addr"))
    );
    assert_eq!(config.http_listen, None);
    assert_eq!(
        config.admin_listen,
        Some("127.0.0.1:9090".parse().expect("addr"))
    );
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get().min(256));
    assert_eq!(config.workers, cpus);
    assert!(!config.pin_cores);
    assert_eq!(config.home_tz, zones::utc());
    assert_eq!(config.max_connections, 16_384);
    assert_eq!(config.max_head_bytes, 8192);
    assert_eq!(config.max_body_bytes, 16 * 1024);
    assert_eq!(config.header_timeout_ms, 10_000);
    assert_eq!(config.idle_timeout_ms, 60_000);
    assert_eq!(config.rate_limit_burst, 1000);
    assert_eq!(config.rate_limit_per_s, 1000);
    assert_eq!(config.auth_fail_burst, 5);
    assert_eq!(config.auth_fail_refill_ms, 12_000);
    assert_eq!(config.bcrypt_cost, 12);
    assert!(!config.no_tls);
    assert!(config.api_key.is_none() && config.api_key_hash.is_none());
}

#[test]
fn precedence_flag_over_env_over_file_over_default() {
    let _lock = env_lock();
    let dir = common::created_dir("precedence");
    let file = write_toml(
        &dir,
        "workers = 3\ndata_dir = \"/from/file\"\nmax_head_bytes = 2048\npin_cores = true\n",
    );
    // File over default.
    let config = parse(&["--config", &file]).expect("file config");
    assert_eq!(config.workers, 3);
    assert_eq!(config.data_dir, PathBuf::from("/from/file"));
    assert_eq!(config.max_head_bytes, 2048);
    assert!(config.pin_cores);
    {
        // Env over file (including an explicit `false` overriding the file's `true`).
        let _env = EnvVars::set(&[
            ("AVAILABILITY_WORKERS", "5"),
            ("AVAILABILITY_DATA_DIR", "/from/env"),
            ("AVAILABILITY_PIN_CORES", "false"),
        ]);
        let config = parse(&["--config", &file]).expect("env config");
        assert_eq!(config.workers, 5);
        assert_eq!(config.data_dir, PathBuf::from("/from/env"));
        assert_eq!(
            config.max_head_bytes, 2048,
            "file still fills what env does not"
        );
        assert!(!config.pin_cores);
        // Flag over env.
        let config = parse(&[
            "--config",
            &file,
            "--workers",
            "7",
            "--data-dir",
            "/from/flag",
        ])
        .expect("flag config");
        assert_eq!(config.workers, 7);
        assert_eq!(config.data_dir, PathBuf::from("/from/flag"));
        let config = parse(&["--config", &file, "--pin-cores"]).expect("bool flag");
        assert!(config.pin_cores);
    }
    // The config file itself can be named by the environment.
    let _env = EnvVars::set(&[("AVAILABILITY_CONFIG", &file)]);
    assert_eq!(parse(&[]).expect("env-named file").workers, 3);
}

#[test]
fn help_mentions_every_environment_variable() {
    let _lock = env_lock();
    let help = parse(&["--help"]).expect_err("--help is not a config");
    let names = "AVAILABILITY_CONFIG AVAILABILITY_DATA_DIR AVAILABILITY_LISTEN \
        AVAILABILITY_HTTP_LISTEN AVAILABILITY_ADMIN_LISTEN AVAILABILITY_NO_TLS AVAILABILITY_WORKERS \
        AVAILABILITY_PIN_CORES AVAILABILITY_HOME_TZ AVAILABILITY_MAX_CONNECTIONS \
        AVAILABILITY_MAX_HEAD_BYTES AVAILABILITY_MAX_BODY_BYTES AVAILABILITY_HEADER_TIMEOUT_MS \
        AVAILABILITY_IDLE_TIMEOUT_MS AVAILABILITY_BODY_TIMEOUT_MS AVAILABILITY_WRITE_TIMEOUT_MS \
        AVAILABILITY_DRAIN_TIMEOUT_MS AVAILABILITY_RATE_LIMIT_BURST AVAILABILITY_RATE_LIMIT_PER_S \
        AVAILABILITY_AUTH_FAIL_BURST AVAILABILITY_AUTH_FAIL_REFILL_MS AVAILABILITY_BCRYPT_COST \
        AVAILABILITY_TLS_CERT AVAILABILITY_TLS_KEY AVAILABILITY_TRUSTED_PROXIES API_KEY_HASH";
    assert_eq!(names.split_whitespace().count(), 26);
    // `API_KEY` followed by spaces: the plaintext key's own entry, not API_KEY_HASH.
    for name in names.split_whitespace().chain(["API_KEY "]) {
        assert!(
            help.contains(name),
            "--help does not mention {name}:\n{help}"
        );
    }
    assert!(help.contains("[default: 0.0.0.0:8443]"));
    assert!(help.contains("[default: 127.0.0.1:9090]"));
    assert!(
        !help.contains("--api-key "),
        "the plaintext key must not be a flag"
    );
    assert!(parse(&["--api-key", "x"]).is_err());
}

#[test]
fn validation_errors_name_the_setting() {
    let _lock = env_lock();
    let cases: [(&[&str], &str); 15] = [
        (&["--workers", "0"], "workers"),
        (
            &[
                "--auth-fail-burst",
                "300000",
                "--auth-fail-refill-ms",
                "86400000",
            ],
            "auth_fail_burst",
        ),
        (
            &["--workers", "4", "--max-connections", "3"],
            "max_connections",
        ),
        (&["--workers", "257"], "workers"),
        (&["--max-head-bytes", "100"], "max_head_bytes"),
        (&["--max-connections", "0"], "max_connections"),
        (&["--bcrypt-cost", "3"], "bcrypt_cost"),
        (&["--header-timeout-ms", "0"], "header_timeout_ms"),
        (&["--home-tz", "Mars/Olympus"], "home_tz"),
        (&["--listen", "localhost"], "listen"),
        (&["--admin-listen", "nope"], "admin_listen"),
        (&["--tls-cert", "/c.pem"], "--tls-key"),
        (&["--no-tls"], "no listener"),
        (&["--api-key-hash", "plaintext"], "api_key_hash"),
        (&["--trusted-proxies", "10.0.0.0/33"], "trusted_proxies"),
    ];
    for (argv, needle) in cases {
        let err = parse(argv).expect_err(&format!("{argv:?} should be rejected"));
        assert!(
            err.contains(needle),
            "{argv:?}: error {err:?} lacks {needle:?}"
        );
    }
    // Same address twice.
    let err = parse(&["--http-listen", "127.0.0.1:9090"]).expect_err("clash with admin");
    assert!(
        err.contains("http_listen (--http-listen, AVAILABILITY_HTTP_LISTEN)")
            && err.contains("admin_listen (--admin-listen, AVAILABILITY_ADMIN_LISTEN)"),
        "{err}"
    );
    // A value clap cannot parse.
    assert!(
        parse(&["--workers", "many"])
            .expect_err("nan")
            .contains("--workers")
    );
    // File: unknown key, wrong type, missing file.
    let dir = common::created_dir("validation");
    let err = parse(&["--config", &write_toml(&dir, "wrokers = 2\n")]).expect_err("typo");
    assert!(err.contains("wrokers"), "{err}");
    let err = parse(&["--config", &write_toml(&dir, "workers = \"2\"\n")]).expect_err("type");
    assert!(err.contains("workers"), "{err}");
    let missing = dir.join("absent.toml");
    let err = parse(&["--config", missing.to_str().expect("utf-8")]).expect_err("missing");
    assert!(err.contains("absent.toml"), "{err}");
    // Range checks apply to file values too, and then the error names the file.
    let file = write_toml(&dir, "bcrypt_cost = 40\n");
    let err = parse(&["--config", &file]).expect_err("cost");
    assert!(err.contains("bcrypt_cost"), "{err}");
    assert!(
        err.ends_with(&format!("(set in the config file {file})")),
        "{err}"
    );
    let file = write_toml(&dir, "home_tz = \"Mars/X\"\n");
    let err = parse(&["--config", &file]).expect_err("zone");
    assert!(err.contains("home_tz") && err.contains(&file), "{err}");
    // A bad flag beside a good file: not the file's fault.
    let err = parse(&["--config", &file, "--home-tz", "Mars/Y"]).expect_err("flag");
    assert!(
        err.contains("Mars/Y") && !err.contains("config file"),
        "{err}"
    );
}

/// clap names only the flag when a value does not parse; the error must also say when
/// the value came from the environment, and must not blame the environment when the
/// flag gave it.
#[test]
fn a_value_from_the_environment_that_does_not_parse_names_the_variable() {
    let _lock = env_lock();
    let _env = EnvVars::set(&[
        ("AVAILABILITY_MAX_CONNECTIONS", "-5"),
        ("AVAILABILITY_NO_TLS", "maybe"),
    ]);
    let err = parse(&[]).expect_err("env value");
    assert!(
        err.contains("--max-connections") || err.contains("--no-tls"),
        "{err}"
    );
    assert!(
        err.contains("came from the environment variable AVAILABILITY_MAX_CONNECTIONS")
            || err.contains("came from the environment variable AVAILABILITY_NO_TLS"),
        "{err}"
    );
    drop(_env);
    let _env = EnvVars::set(&[("AVAILABILITY_MAX_CONNECTIONS", "-5")]);
    let err = parse(&[]).expect_err("env value");
    assert!(
        err.contains("came from the environment variable AVAILABILITY_MAX_CONNECTIONS"),
        "{err}"
    );
    // The flag wins over the variable, so a bad flag is the flag's fault, in both forms.
    for argv in [
        &["--max-connections", "lots"][..],
        &["--max-connections=lots"],
    ] {
        let err = parse(argv).expect_err("flag value");
        assert!(
            err.contains("'lots'") && !err.contains("environment variable"),
            "{argv:?}: {err}"
        );
    }
    // A good flag over a bad variable: clap never reads the variable.
    assert!(parse(&["--max-connections", "100"]).is_ok());
}

#[test]
fn listener_switches_and_zone_names() {
    let _lock = env_lock();
    let config = parse(&[
        "--no-tls",
        "--http-listen",
        "127.0.0.1:8080",
        "--admin-listen",
        "off",
    ])
    .expect("plain http only");
    assert_eq!(config.https_listen, None);
    assert!(config.no_tls);
    assert_eq!(
        config.http_listen,
        Some(SocketAddr::from(([127, 0, 0, 1], 8080)))
    );
    assert_eq!(config.admin_listen, None);
    let config = parse(&["--listen", "[::]:443", "--home-tz", "asia/tokyo"]).expect("v6 + tz");
    assert_eq!(config.https_listen, Some("[::]:443".parse().expect("addr")));
    assert_eq!(zones::name(config.home_tz), "Asia/Tokyo");
}

#[test]
fn api_key_comes_from_the_environment_only() {
    let _lock = env_lock();
    {
        let _env = EnvVars::set(&[("API_KEY", "owner-Key_1")]);
        let config = parse(&[]).expect("key");
        assert_eq!(config.api_key.as_deref(), Some("owner-Key_1"));
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("owner-Key_1") && debug.contains("redacted"),
            "{debug}"
        );
    }
    {
        let _env = EnvVars::set(&[("API_KEY", "has a space")]);
        assert!(parse(&[]).expect_err("bad key").contains("API_KEY"));
    }
    let hash = bcrypt::hash("k", 4).expect("hash");
    {
        let _env = EnvVars::set(&[("API_KEY_HASH", &hash)]);
        assert_eq!(
            parse(&[]).expect("hash").api_key_hash.as_deref(),
            Some(hash.as_str())
        );
    }
    // A plaintext key and a hash at once: one would be silently unused (API_KEY used
    // to win, even over the flag), so the start is refused instead.
    let dir = common::created_dir("two-keys");
    let file = write_toml(&dir, &format!("api_key_hash = \"{hash}\"\n"));
    let _env = EnvVars::set(&[("API_KEY", "an-old-key")]);
    for argv in [
        vec!["--api-key-hash", hash.as_str()],
        vec!["--config", file.as_str()],
    ] {
        let err = parse(&argv).expect_err("two keys");
        assert!(err.contains("both set"), "{argv:?}: {err}");
    }
    let _env2 = EnvVars::set(&[("API_KEY_HASH", &hash)]);
    assert!(parse(&[]).expect_err("two keys").contains("both set"));
}

#[test]
fn test_config_is_small_and_plain() {
    let config = Config::for_tests(PathBuf::from("/tmp/x"));
    assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
    assert_eq!(
        config.http_listen,
        Some(SocketAddr::from(([127, 0, 0, 1], 0)))
    );
    assert!(config.https_listen.is_none() && config.admin_listen.is_none() && config.no_tls);
    assert_eq!(
        (config.workers, config.pin_cores, config.bcrypt_cost),
        (2, false, 4)
    );
    assert_eq!(config.header_timeout_ms, 10_000);
}
