//! Checks and error messages shared by the settings' validation: ranges, listener
//! addresses, and messages that name a setting by its file key, flag and variable.

use std::net::SocketAddr;

use super::Config;

/// At least one public listener, and no two listeners on the same fixed address.
pub(super) fn check_listeners(config: &Config) -> Result<(), String> {
    if config.https_listen.is_none() && config.http_listen.is_none() {
        return Err("no listener: enable HTTPS (--listen) or plain HTTP (--http-listen)".into());
    }
    let named = [
        ("listen", config.https_listen),
        ("http_listen", config.http_listen),
        ("admin_listen", config.admin_listen),
    ];
    for (i, (name_a, a)) in named.iter().enumerate() {
        for (name_b, b) in &named[i + 1..] {
            if let (Some(a), Some(b)) = (a, b)
                && a == b
                && a.port() != 0
            {
                return Err(format!(
                    "{} and {} are both {a}",
                    names(name_a),
                    names(name_b)
                ));
            }
        }
    }
    Ok(())
}

/// An error message naming the setting by its file key, flag and environment variable.
pub(super) fn bad(key: &str, problem: impl std::fmt::Display) -> String {
    format!("invalid {}: {problem}", names(key))
}

/// A setting's three names: `max_connections (--max-connections, AVAILABILITY_MAX_CONNECTIONS)`.
fn names(key: &str) -> String {
    let env = if key == "api_key_hash" {
        "API_KEY_HASH".to_string()
    } else {
        format!("AVAILABILITY_{}", key.to_ascii_uppercase())
    };
    format!("{key} (--{}, {env})", key.replace('_', "-"))
}

/// `value`, or `default` when not given, if it lies within `min..=max`.
pub(super) fn in_range<T>(
    key: &str,
    value: Option<T>,
    default: T,
    min: T,
    max: T,
) -> Result<T, String>
where
    T: PartialOrd + std::fmt::Display + Copy,
{
    let value = value.unwrap_or(default);
    if value < min || value > max {
        return Err(bad(key, format!("{value} is outside {min}..={max}")));
    }
    Ok(value)
}

/// `off` (any case) disables a listener; anything else must be `IP:PORT`.
pub(super) fn parse_listen(key: &str, text: &str) -> Result<Option<SocketAddr>, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        bad(
            key,
            format!("`{text}` is neither an address like 0.0.0.0:8443 or [::]:8443 nor `off`"),
        )
    })
}
