//! Command-line flags and their validation into a [`Config`].

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

use crate::request::{self, HeaderOptions, Request, RequestSpec};
use crate::target::{self, Url};
use crate::tls::{self, TlsSettings};

const EXAMPLES: &str = "Examples:
  loadgen -c 64 -t 1 -d 10s 'http://127.0.0.1:8080/availability?tz=Asia/Tokyo'
  loadgen -c 64 -R 20000 -d 30s 'http://127.0.0.1:8080/availability?tz=UTC'
  API_KEY=... loadgen -c 16 --bearer-env API_KEY \\
      --request '90 GET http://127.0.0.1:8080/availability?tz=UTC' \\
      --request '10 PATCH http://127.0.0.1:8080/availability @patch.json'
  loadgen --insecure -c 32 https://127.0.0.1:8443/health";

/// The highest `-R`: one request per nanosecond.
const MAX_RATE: f64 = 1e9;

/// HTTP/1.1 load generator: closed loop (wrk) or constant-rate open loop (wrk2).
#[derive(Debug, Parser)]
#[command(name = "loadgen", version, after_help = EXAMPLES)]
pub struct Args {
    /// Target URL, requested with GET (or give one or more --request instead).
    pub url: Option<String>,
    /// Open connections, spread evenly over the threads.
    #[arg(short = 'c', long, default_value_t = 10)]
    pub connections: usize,
    /// Threads, each pinned to its own core and owning its connections.
    #[arg(short = 't', long, default_value_t = 1)]
    pub threads: usize,
    /// Test length: 10s, 500ms, 2m, 1h, 1.5s (a bare number is seconds).
    #[arg(short = 'd', long, default_value = "10s", value_parser = parse_duration, allow_hyphen_values = true)]
    pub duration: Duration,
    /// Open loop: total requests per second, latency from each request's intended time.
    #[arg(short = 'R', long, value_name = "N", allow_negative_numbers = true)]
    pub rate: Option<f64>,
    /// Requests written back to back per connection before waiting for the answers.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub pipeline: usize,
    /// New connection per request (sends `Connection: close`).
    #[arg(long)]
    pub close: bool,
    /// Speak TLS even to an http:// URL (https:// implies it).
    #[arg(long)]
    pub tls: bool,
    /// TLS: accept any server certificate.
    #[arg(long)]
    pub insecure: bool,
    /// TLS: trust the certificate(s) in this PEM file.
    #[arg(long, value_name = "PEM")]
    pub cacert: Option<String>,
    /// TLS: full handshake on every connection (no session resumption).
    #[arg(long)]
    pub no_tls_resume: bool,
    /// TLS: key exchange groups to offer, in order, e.g. X25519 or X25519MLKEM768:X25519
    /// (known: X25519MLKEM768, X25519, P-256, P-384) [default: rustls' own list,
    /// X25519MLKEM768 first]
    #[arg(long, value_name = "LIST")]
    pub tls_groups: Option<String>,
    /// Weighted mix entry `WEIGHT METHOD URL [@BODYFILE]` (repeatable).
    #[arg(long = "request", value_name = "SPEC")]
    pub requests: Vec<String>,
    /// Add `Authorization: Bearer $VAR` to unsafe methods (PATCH, POST, PUT, DELETE, …).
    #[arg(long, value_name = "VAR")]
    pub bearer_env: Option<String>,
    /// Extra request header 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// Give up on a response (or a connect) after this long.
    #[arg(long, default_value = "5s", value_parser = parse_duration, allow_hyphen_values = true)]
    pub timeout: Duration,
    /// Stop after this many requests in total (still bounded by -d).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_requests: Option<u64>,
    /// Print exactly one JSON object on stdout instead of the text report.
    #[arg(long)]
    pub json: bool,
    /// Allow a target that is not this machine (127.0.0.0/8, ::1, localhost).
    #[arg(long)]
    pub allow_remote: bool,
    /// Do not pin threads to cores.
    #[arg(long)]
    pub no_pin: bool,
    /// Cores to pin threads to, e.g. `1` or `2,3` or `0-3` (default: highest cores first).
    #[arg(long, value_name = "LIST", value_parser = parse_cpus)]
    pub cpus: Option<CpuList>,
    /// No per-second progress line on stderr.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Busy-poll instead of sleeping between events: each thread keeps its core at
    /// 100 %, but sends leave within about a microsecond of their intended time and
    /// answers are seen as they land. For open-loop latency on dedicated cores, where
    /// a sleep and wake-up per request would make the client the bottleneck.
    #[arg(long)]
    pub spin: bool,
    /// Accepted for wrk compatibility; the latency distribution is always printed.
    #[arg(long, hide = true)]
    pub latency: bool,
}

/// A `--cpus` list of core ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

/// Everything a run needs, validated; built by [`Args::into_config`] or by hand.
#[derive(Debug, Clone)]
pub struct Config {
    /// Label for reports: the URL, or the first URL of a mix.
    pub target: String,
    pub addr: SocketAddr,
    /// Host for TLS server-name checks.
    pub host: String,
    pub requests: Vec<Request>,
    pub connections: usize,
    pub threads: usize,
    pub duration: Duration,
    /// Open loop rate, requests per second in total.
    pub rate: Option<f64>,
    pub pipeline: usize,
    pub close: bool,
    pub tls: Option<TlsSettings>,
    pub timeout: Duration,
    pub max_requests: Option<u64>,
    /// Pin plan: `None` = do not pin; `Some(empty)` = default order; else these cores.
    pub cpus: Option<Vec<usize>>,
    pub progress: bool,
    pub json: bool,
    /// Busy-poll (`--spin`) instead of sleeping in `epoll_wait`.
    pub spin: bool,
}

/// Parses `10s`, `500ms`, `250us`, `2m`, `1h`, `1.5s`; a bare number means seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("bad duration {text:?}: want e.g. 10s, 500ms, 2m"))?;
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("bad duration unit {unit:?}: use us, ms, s, m or h")),
    };
    Duration::try_from_secs_f64(value * scale).map_err(|e| format!("bad duration {text:?}: {e}"))
}

/// Parses `1`, `0,2`, `0-3,6`.
pub fn parse_cpus(text: &str) -> Result<CpuList, String> {
    let mut cpus = Vec::new();
    for part in text.split(',').map(str::trim) {
        let bad = || format!("bad --cpus {text:?}: want e.g. 1 or 0,2 or 0-3");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b || b - a > 4096 {
                    return Err(bad());
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().map_err(|_| bad())?),
        }
    }
    Ok(CpuList(cpus))
}

/// Checks that every core of `--cpus` is one this process may run on: pinning to any
/// other fails (and a core id past the kernel's CPU set size aborts inside libc).
fn usable_cpus(wanted: Vec<usize>) -> Result<Vec<usize>, String> {
    let allowed: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .iter()
        .map(|c| c.id)
        .collect();
    let limit = libc::CPU_SETSIZE as usize;
    match wanted
        .iter()
        .find(|&&id| id >= limit || !(allowed.is_empty() || allowed.contains(&id)))
    {
        Some(id) => Err(format!(
            "--cpus: core {id} is not one this process may run on (allowed: {allowed:?})"
        )),
        None => Ok(wanted),
    }
}

impl Args {
    /// Validates flags, reads body files and the bearer key, serialises every request.
    pub fn into_config(self) -> Result<Config, String> {
        if self.threads == 0 || self.connections < self.threads {
            return Err("need -t ≥ 1 and -c ≥ -t (every thread owns a connection)".into());
        }
        if self.pipeline == 0 || self.pipeline > 1024 {
            return Err("--pipeline must be 1..=1024".into());
        }
        if self.close && self.pipeline > 1 {
            return Err("--close sends one request per connection: no --pipeline".into());
        }
        // At most one request per nanosecond, the schedule's resolution.
        if self.rate.is_some_and(|r| !(r > 0.0 && r <= MAX_RATE)) {
            return Err(format!(
                "--rate must be a number of requests per second above 0, at most {MAX_RATE:e}"
            ));
        }
        if self.duration.is_zero() || self.timeout.is_zero() {
            return Err("-d and --timeout must be longer than zero".into());
        }
        let specs = match (&self.url, self.requests.is_empty()) {
            (Some(url), true) => vec![RequestSpec {
                weight: 1,
                method: "GET".into(),
                url: target::parse_url(url)?,
                body_path: None,
            }],
            (None, false) => self
                .requests
                .iter()
                .map(|s| request::parse_request_spec(s))
                .collect::<Result<_, _>>()?,
            (Some(_), false) => {
                return Err("give either a URL or --request entries, not both".into());
            }
            (None, true) => return Err("no target: give a URL or --request (see --help)".into()),
        };
        let first: &Url = &specs[0].url;
        if let Some(other) = specs.iter().find(|s| s.url.origin() != first.origin()) {
            return Err(format!(
                "every request must go to the same scheme, host and port ({} vs {})",
                first.authority, other.url.authority
            ));
        }
        let addr = target::resolve(first, self.allow_remote)?;
        let tls = if first.tls || self.tls {
            if !self.insecure && self.cacert.is_none() {
                return Err("TLS needs --cacert PEM (to trust the server) or --insecure".into());
            }
            let ca_certs = match &self.cacert {
                Some(path) => tls::load_ca_file(path)?,
                None => Vec::new(),
            };
            let kx_groups = self
                .tls_groups
                .as_deref()
                .map(tls::parse_groups)
                .transpose()?;
            Some(TlsSettings {
                insecure: self.insecure,
                ca_certs,
                resume: !self.no_tls_resume,
                kx_groups,
            })
        } else {
            None
        };
        for header in &self.headers {
            request::check_header(header)?;
        }
        let bearer = match &self.bearer_env {
            Some(var) => {
                let key =
                    std::env::var(var).map_err(|_| format!("--bearer-env: ${var} is not set"))?;
                if key.is_empty() || key.bytes().any(|b| b.is_ascii_control() || b == b' ') {
                    return Err(format!(
                        "--bearer-env: ${var} is empty or holds spaces/control characters"
                    ));
                }
                Some(key)
            }
            None => None,
        };
        let opts = HeaderOptions {
            headers: self.headers.clone(),
            bearer,
            close: self.close,
        };
        let mut requests = Vec::with_capacity(specs.len());
        for spec in &specs {
            let body = match &spec.body_path {
                Some(path) => {
                    Some(std::fs::read(path).map_err(|e| format!("body file {path}: {e}"))?)
                }
                None => None,
            };
            requests.push(request::serialize(spec, body.as_deref(), &opts));
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        Ok(Config {
            target: format!("{scheme}://{}{}", first.authority, first.path),
            addr,
            host: first.host.clone(),
            requests,
            connections: self.connections,
            threads: self.threads,
            duration: self.duration,
            rate: self.rate,
            pipeline: self.pipeline,
            close: self.close,
            tls,
            timeout: self.timeout,
            max_requests: self.max_requests,
            cpus: match (self.no_pin, self.cpus) {
                (true, _) => None,
                (false, Some(list)) => Some(usable_cpus(list.0)?),
                (false, None) => Some(Vec::new()),
            },
            progress: !self.quiet,
            json: self.json,
            spin: self.spin,
        })
    }
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
