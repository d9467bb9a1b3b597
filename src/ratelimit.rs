//! Per-client-IP rate limiting with GCRA (the generic cell rate algorithm), shared by
//! every worker without locks or allocation.
//!
//! Each table slot holds one bucket's *theoretical arrival time* (TAT) in nanoseconds of
//! [`monotonic_ns`]. A request at `now` is allowed when `max(TAT, now) + interval - now`
//! stays within `burst * interval`; allowing it stores the new TAT with a CAS loop. A slot
//! whose TAT is in the past is a full bucket, so the table needs no initialisation beyond
//! zeroes and no cleanup. Clients are mapped to slots by a hash keyed with a random seed
//! chosen at start, so nobody can aim collisions at another client; a collision merely
//! makes two clients share one budget.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const NS_PER_S: u64 = 1_000_000_000;
const NS_PER_MS: u64 = 1_000_000;

/// The outcome of one rate-limit check, ready for the `RateLimit-*` and `Retry-After`
/// headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The bucket size (`RateLimit-Limit`); 0 when limiting is disabled.
    pub limit: u32,
    /// Tokens left after this request (`RateLimit-Remaining`).
    pub remaining: u32,
    /// Seconds, rounded up, until the bucket is full again (`RateLimit-Reset`).
    pub reset_secs: u32,
    /// Seconds, rounded up and at least 1, until a request would be allowed; 0 when allowed.
    pub retry_after_secs: u32,
}

/// A fixed-size table of GCRA buckets indexed by a keyed hash of the client IP.
pub struct RateLimiter {
    /// Theoretical arrival time per slot, in `monotonic_ns` nanoseconds.
    tats_ns: Box<[AtomicU64]>,
    /// `tats_ns.len() - 1`; the length is a power of two.
    slot_mask: usize,
    /// Time one token takes to refill.
    interval_ns: u64,
    /// `burst * interval_ns`: how far ahead of `now` a TAT may run.
    tolerance_ns: u64,
    burst: u32,
    seed: RandomState,
}

impl RateLimiter {
    /// A limiter allowing `burst` requests at once and `per_second` sustained.
    /// `burst == 0` or `per_second == 0` disables it (every check is allowed, limit 0).
    pub fn new(burst: u32, per_second: u32, table_slots: usize) -> RateLimiter {
        let interval_ns = if per_second == 0 {
            0
        } else {
            (NS_PER_S / u64::from(per_second)).max(1)
        };
        Self::build(burst, interval_ns, table_slots)
    }

    /// A limiter allowing `burst` events at once and one more per `refill_interval_ms`
    /// (used for failed authentication attempts). Either value 0 disables it.
    pub fn with_interval(burst: u32, refill_interval_ms: u64, table_slots: usize) -> RateLimiter {
        Self::build(
            burst,
            refill_interval_ms.saturating_mul(NS_PER_MS),
            table_slots,
        )
    }

    fn build(burst: u32, interval_ns: u64, table_slots: usize) -> RateLimiter {
        let enabled = burst > 0 && interval_ns > 0;
        // A disabled limiter never touches its table: keep one slot so indexing stays valid.
        let slots = if enabled {
            table_slots.max(1).next_power_of_two()
        } else {
            1
        };
        let tats_ns: Box<[AtomicU64]> = (0..slots).map(|_| AtomicU64::new(0)).collect();
        RateLimiter {
            tats_ns,
            slot_mask: slots - 1,
            interval_ns: if enabled { interval_ns } else { 0 },
            tolerance_ns: interval_ns.saturating_mul(u64::from(burst)),
            burst: if enabled { burst } else { 0 },
            seed: RandomState::new(),
        }
    }

    /// Whether this limiter ever denies anything.
    pub fn is_enabled(&self) -> bool {
        self.burst > 0
    }

    /// Takes one token for `ip` if one is available.
    pub fn check(&self, ip: IpAddr, now_ns: u64) -> Decision {
        if !self.is_enabled() {
            return DISABLED;
        }
        let slot = &self.tats_ns[self.slot_index(ip)];
        let mut stored_ns = slot.load(Ordering::Relaxed);
        loop {
            let new_tat_ns = stored_ns.max(now_ns).saturating_add(self.interval_ns);
            if new_tat_ns - now_ns > self.tolerance_ns {
                return self.denied(stored_ns, now_ns);
            }
            match slot.compare_exchange_weak(
                stored_ns,
                new_tat_ns,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return self.allowed(new_tat_ns, now_ns),
                Err(current_ns) => stored_ns = current_ns,
            }
        }
    }

    /// Reports `ip`'s state without taking a token: `allowed` says whether a token is
    /// available now and `remaining` how many are.
    pub fn peek(&self, ip: IpAddr, now_ns: u64) -> Decision {
        if !self.is_enabled() {
            return DISABLED;
        }
        let stored_ns = self.tats_ns[self.slot_index(ip)].load(Ordering::Relaxed);
        let new_tat_ns = stored_ns.max(now_ns).saturating_add(self.interval_ns);
        if new_tat_ns - now_ns > self.tolerance_ns {
            return self.denied(stored_ns, now_ns);
        }
        // Same as `allowed` for a request now, plus the token we did not take, and the
        // bucket is full again when the stored TAT is reached (not one interval later).
        let mut decision = self.allowed(new_tat_ns, now_ns);
        decision.remaining = decision.remaining.saturating_add(1).min(self.burst);
        decision.reset_secs = ceil_secs(stored_ns.saturating_sub(now_ns));
        decision
    }

    fn allowed(&self, new_tat_ns: u64, now_ns: u64) -> Decision {
        let ahead_ns = new_tat_ns - now_ns;
        let remaining = (self.tolerance_ns - ahead_ns) / self.interval_ns;
        Decision {
            allowed: true,
            limit: self.burst,
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            reset_secs: ceil_secs(ahead_ns),
            retry_after_secs: 0,
        }
    }

    fn denied(&self, stored_ns: u64, now_ns: u64) -> Decision {
        // A request is allowed again once `stored + interval - t <= tolerance`.
        let allowed_at_ns = stored_ns
            .saturating_add(self.interval_ns)
            .saturating_sub(self.tolerance_ns);
        Decision {
            allowed: false,
            limit: self.burst,
            remaining: 0,
            reset_secs: ceil_secs(stored_ns.saturating_sub(now_ns)),
            retry_after_secs: ceil_secs(allowed_at_ns.saturating_sub(now_ns)).max(1),
        }
    }

    /// Whether `a` and `b` share one bucket (their slots collide under this limiter's
    /// seed, or they are the same client): the documented price of a fixed table.
    pub fn same_bucket(&self, a: IpAddr, b: IpAddr) -> bool {
        self.slot_index(a) == self.slot_index(b)
    }

    fn slot_index(&self, ip: IpAddr) -> usize {
        // IPv4-mapped IPv6 (from dual-stack sockets) must share the IPv4 client's bucket.
        // An IPv6 client is its /64: one host usually holds a whole /64 (SLAAC, privacy
        // addresses), so keying by all 128 bits would hand it 2^64 budgets.
        // Except behind NAT64 (RFC 6052's 64:ff9b::/96), where every IPv4 client shares
        // the prefix: its own address is the last 32 bits.
        let hash = match ip.to_canonical() {
            IpAddr::V4(v4) => self.seed.hash_one(v4.to_bits()),
            IpAddr::V6(v6) if v6.to_bits() >> 32 == NAT64_PREFIX >> 32 => {
                self.seed.hash_one(v6.to_bits() as u32)
            }
            IpAddr::V6(v6) => self.seed.hash_one(v6.to_bits() >> 64),
        };
        // Truncating the hash is intended: only the low bits pick the slot.
        (hash as usize) & self.slot_mask
    }
}

/// The well-known NAT64 prefix, 64:ff9b::/96 (RFC 6052).
const NAT64_PREFIX: u128 = 0x0064_ff9b_0000_0000_0000_0000_0000_0000;

const DISABLED: Decision = Decision {
    allowed: true,
    limit: 0,
    remaining: 0,
    reset_secs: 0,
    retry_after_secs: 0,
};

fn ceil_secs(duration_ns: u64) -> u32 {
    u32::try_from(duration_ns.div_ceil(NS_PER_S)).unwrap_or(u32::MAX)
}

/// Nanoseconds on a monotonic clock, counted from the first call in this process.
pub fn monotonic_ns() -> u64 {
    static ANCHOR: OnceLock<Instant> = OnceLock::new();
    let anchor = ANCHOR.get_or_init(Instant::now);
    u64::try_from(anchor.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
