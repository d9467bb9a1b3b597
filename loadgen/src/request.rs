//! The request mix: `--request` specs, pre-serialised request bytes, weighted choice.

use crate::target::{Url, parse_url};

/// One entry of the mix, serialised once at start and only copied afterwards.
#[derive(Debug, Clone)]
pub struct Request {
    /// Relative weight in the mix (> 0).
    pub weight: u32,
    /// `GET /path` style label for reports.
    pub label: String,
    /// The answer to a HEAD has no body whatever its headers say.
    pub is_head: bool,
    /// Complete request: request line, headers, blank line, body.
    pub bytes: Vec<u8>,
}

/// A `--request 'WEIGHT METHOD URL [@BODYFILE]'` before its body file is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    pub weight: u32,
    pub method: String,
    pub url: Url,
    pub body_path: Option<String>,
}

/// Parses `WEIGHT METHOD URL [@BODYFILE]`.
pub fn parse_request_spec(text: &str) -> Result<RequestSpec, String> {
    let bad =
        |why: &str| format!("bad --request {text:?}: {why} (want 'WEIGHT METHOD URL [@BODYFILE]')");
    let parts: Vec<&str> = text.split_whitespace().collect();
    let (weight, method, url, body) = match parts.as_slice() {
        [w, m, u] => (w, m, u, None),
        [w, m, u, b] => (w, m, u, Some(b)),
        _ => return Err(bad("expected 3 or 4 fields")),
    };
    let weight: u32 = weight
        .parse()
        .map_err(|_| bad("weight is not a whole number"))?;
    if weight == 0 {
        return Err(bad("weight must be at least 1"));
    }
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(bad("method must be upper-case letters, like GET or PATCH"));
    }
    let body_path = match body {
        Some(b) => Some(
            b.strip_prefix('@')
                .ok_or_else(|| bad("body must be @FILE"))?
                .to_owned(),
        ),
        None => None,
    };
    Ok(RequestSpec {
        weight,
        method: (*method).to_owned(),
        url: parse_url(url)?,
        body_path,
    })
}

/// Everything that shapes the serialised bytes besides method, URL and body.
#[derive(Debug, Clone, Default)]
pub struct HeaderOptions {
    /// Extra `Name: value` headers (already validated).
    pub headers: Vec<String>,
    /// Bearer token for unsafe methods (anything but GET, HEAD, OPTIONS).
    pub bearer: Option<String>,
    /// Ask the server to close after each answer.
    pub close: bool,
}

/// Validates a user header line `Name: value`: framing headers are refused because the
/// tool owns framing (`--close` instead of `Connection`).
pub fn check_header(line: &str) -> Result<(), String> {
    let (name, value) = line
        .split_once(':')
        .ok_or_else(|| format!("header {line:?} is not 'Name: value'"))?;
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(format!("header name {name:?} is not a token"));
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(format!("header {name} holds a line break"));
    }
    for owned in ["content-length", "transfer-encoding", "connection"] {
        if name.eq_ignore_ascii_case(owned) {
            return Err(format!("header {name} is set by loadgen itself"));
        }
    }
    Ok(())
}

fn has_header(opts: &HeaderOptions, name: &str) -> bool {
    opts.headers.iter().any(|h| {
        h.split_once(':')
            .is_some_and(|(n, _)| n.eq_ignore_ascii_case(name))
    })
}

/// Serialises one request. Bodies get `Content-Length` and (unless given) a JSON
/// `Content-Type`; unsafe methods always carry a `Content-Length`.
pub fn serialize(spec: &RequestSpec, body: Option<&[u8]>, opts: &HeaderOptions) -> Request {
    let mut out = Vec::with_capacity(128 + body.map_or(0, <[u8]>::len));
    let mut line = |s: &str| {
        out.extend_from_slice(s.as_bytes());
        out.extend_from_slice(b"\r\n");
    };
    line(&format!("{} {} HTTP/1.1", spec.method, spec.url.path));
    if !has_header(opts, "host") {
        line(&format!("Host: {}", spec.url.authority));
    }
    for header in &opts.headers {
        line(header);
    }
    let safe = matches!(spec.method.as_str(), "GET" | "HEAD" | "OPTIONS");
    if let Some(key) = opts.bearer.as_deref().filter(|_| !safe)
        && !has_header(opts, "authorization")
    {
        line(&format!("Authorization: Bearer {key}"));
    }
    if body.is_some() && !has_header(opts, "content-type") {
        line("Content-Type: application/json");
    }
    if body.is_some() || !safe {
        line(&format!("Content-Length: {}", body.map_or(0, <[u8]>::len)));
    }
    if opts.close {
        line("Connection: close");
    }
    line("");
    out.extend_from_slice(body.unwrap_or_default());
    Request {
        weight: spec.weight,
        label: format!("{} {}", spec.method, spec.url.path),
        is_head: spec.method == "HEAD",
        bytes: out,
    }
}

/// xorshift64*: tiny, allocation-free, good enough to pick from a mix.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is remapped: xorshift must not start at zero).
    pub fn new(seed: u64) -> Self {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// Next pseudo-random 64-bit value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Weighted choice among the requests of the mix.
#[derive(Debug, Clone)]
pub struct Picker {
    /// Running sums of weights; entry i covers `[cumulative[i-1], cumulative[i])`.
    cumulative: Vec<u64>,
}

impl Picker {
    /// A picker over `weights`; at least one weight, all > 0.
    pub fn new(weights: &[u32]) -> Self {
        assert!(!weights.is_empty(), "a mix has at least one request");
        let mut sum = 0u64;
        let cumulative = weights
            .iter()
            .map(|&w| {
                sum += u64::from(w);
                sum
            })
            .collect();
        Picker { cumulative }
    }

    /// Index of the next request: entry i with probability weight_i / total.
    pub fn pick(&self, rng: &mut Rng) -> usize {
        let total = *self.cumulative.last().expect("non-empty by construction");
        if self.cumulative.len() == 1 {
            return 0;
        }
        // Multiply-shift maps a 64-bit draw onto [0, total) without modulo bias worth noting.
        let draw = ((u128::from(rng.next_u64()) * u128::from(total)) >> 64) as u64;
        self.cumulative.partition_point(|&c| c <= draw)
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
