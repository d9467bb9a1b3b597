//! availability-server: one person's weekly availability, converted into any
//! IANA timezone, answered from precomputed bytes by thread-per-core mio event loops.
//!
//! Module map: [`week`] is the domain (no I/O); [`store`] the 168-byte file;
//! [`snapshot`] the per-zone answers; [`http`] the wire format; [`runtime`] the
//! event loops (no availability knowledge); [`api`] joins HTTP to the domain;
//! [`writer`] is the single write path; [`server`] assembles it all.

pub mod api;
pub mod auth;
pub mod config;
pub mod forwarded;
pub mod http;
pub mod log;
pub mod metrics;
pub mod ratelimit;
pub mod runtime;
pub mod server;
pub mod snapshot;
pub mod store;
pub mod tls;
pub mod week;
pub mod writer;

/// Wall-clock milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
