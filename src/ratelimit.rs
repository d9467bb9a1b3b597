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
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
    const START_NS: u64 = 5 * NS_PER_S;

    #[test]
    fn burst_then_deny_then_refill() {
        // 10 per second: one token per 100 ms.
        let limiter = RateLimiter::new(3, 10, 64);
        for expected_remaining in [2, 1, 0] {
            let d = limiter.check(A, START_NS);
            assert!(d.allowed);
            assert_eq!(d.limit, 3);
            assert_eq!(d.remaining, expected_remaining);
            assert_eq!(d.retry_after_secs, 0);
        }
        let denied = limiter.check(A, START_NS);
        assert!(!denied.allowed);
        assert_eq!(denied.remaining, 0);
        assert_eq!(denied.retry_after_secs, 1);
        // 300 ms of debt: full again within one second.
        assert_eq!(denied.reset_secs, 1);
        // 99 ms later still no token; at 100 ms exactly one.
        assert!(!limiter.check(A, START_NS + 99 * NS_PER_MS).allowed);
        let refilled = limiter.check(A, START_NS + 100 * NS_PER_MS);
        assert!(refilled.allowed);
        assert_eq!(refilled.remaining, 0);
        assert!(!limiter.check(A, START_NS + 100 * NS_PER_MS).allowed);
        // After a long pause the bucket is full again, not fuller.
        let later = START_NS + 60 * NS_PER_S;
        assert_eq!(limiter.check(A, later).remaining, 2);
    }

    #[test]
    fn slow_refill_reports_whole_seconds() {
        // One token per 12 s, burst 5: the auth-failure defaults.
        let limiter = RateLimiter::with_interval(5, 12_000, 16);
        for _ in 0..5 {
            assert!(limiter.check(A, START_NS).allowed);
        }
        let denied = limiter.check(A, START_NS + NS_PER_S);
        assert!(!denied.allowed);
        // Next token at START + 12 s, i.e. 11 s after this attempt.
        assert_eq!(denied.retry_after_secs, 11);
        // Full again at START + 60 s.
        assert_eq!(denied.reset_secs, 59);
    }

    #[test]
    fn the_longest_allowed_failed_key_window_still_refuses() {
        // config.rs allows burst × refill up to 10^12 ms: 1,000,000 failures, one more
        // every 1,000 s. The clock must not saturate before the burst is spent.
        let limiter = RateLimiter::with_interval(1_000_000, 1_000_000, 16);
        for _ in 0..1_000_000 {
            assert!(limiter.check(A, START_NS).allowed);
        }
        let denied = limiter.check(A, START_NS);
        assert!(!denied.allowed);
        assert_eq!(denied.retry_after_secs, 1_000);
    }

    #[test]
    fn peek_does_not_consume() {
        let limiter = RateLimiter::with_interval(2, 1_000, 16);
        for _ in 0..10 {
            let d = limiter.peek(A, START_NS);
            assert!(d.allowed);
            assert_eq!(d.remaining, 2);
            // A full bucket is full now: no reset time (not "full in 1 s").
            assert_eq!(d.reset_secs, 0);
        }
        limiter.check(A, START_NS);
        let d = limiter.peek(A, START_NS);
        assert_eq!((d.remaining, d.reset_secs), (1, 1));
        limiter.check(A, START_NS);
        let d = limiter.peek(A, START_NS);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_secs, 1);
    }

    #[test]
    fn disabled_always_allows() {
        for limiter in [
            RateLimiter::new(0, 1000, 64),
            RateLimiter::new(1000, 0, 64),
            RateLimiter::with_interval(5, 0, 64),
        ] {
            assert!(!limiter.is_enabled());
            for _ in 0..10_000 {
                let d = limiter.check(A, START_NS);
                assert!(d.allowed);
                assert_eq!(d.limit, 0);
            }
        }
        assert!(RateLimiter::new(1, 1, 1).is_enabled());
    }

    #[test]
    fn clients_are_independent() {
        // Enough slots that two addresses almost surely differ; if the random seed makes
        // them collide, sharing a bucket is the documented behaviour, so retry with a
        // fresh seed rather than assert on luck.
        let limiter = (0..8)
            .map(|_| RateLimiter::new(2, 1, 1 << 16))
            .find(|l| !l.same_bucket(A, B))
            .expect("eight seeds cannot all collide");
        assert!(limiter.check(A, START_NS).allowed);
        assert!(limiter.check(A, START_NS).allowed);
        assert!(!limiter.check(A, START_NS).allowed);
        assert!(limiter.check(B, START_NS).allowed);
        assert_eq!(limiter.check(B, START_NS).remaining, 0);
    }

    #[test]
    fn ipv4_mapped_ipv6_shares_the_ipv4_bucket() {
        let limiter = RateLimiter::new(2, 1, 1 << 16);
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        assert!(limiter.same_bucket(A, mapped));
        assert!(limiter.check(A, START_NS).allowed);
        assert!(limiter.check(mapped, START_NS).allowed);
        assert!(!limiter.check(A, START_NS).allowed);
        // A plain IPv6 address is its own client (unless the seed collides it).
        let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        if !limiter.same_bucket(v6, A) {
            assert!(limiter.check(v6, START_NS).allowed);
        }
    }

    #[test]
    fn an_ipv6_client_is_its_slash_64() {
        let limiter = RateLimiter::new(2, 1, 1 << 16);
        let host = |prefix: u16, iid: u16| {
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, prefix, 0, 0, 0, iid))
        };
        assert!(limiter.check(host(1, 1), START_NS).allowed);
        assert!(limiter.check(host(1, 2), START_NS).allowed);
        assert!(
            !limiter.check(host(1, 3), START_NS).allowed,
            "same /64, one budget"
        );
        // Another /64 is another client (unless the seed collides the two).
        if !limiter.same_bucket(host(2, 1), host(1, 1)) {
            assert!(limiter.check(host(2, 1), START_NS).allowed);
        }
    }

    #[test]
    fn a_nat64_client_is_its_ipv4_address() {
        let limiter = RateLimiter::new(1, 1, 1 << 16);
        let nat64 =
            |v4: Ipv4Addr| IpAddr::V6(Ipv6Addr::from_bits(NAT64_PREFIX | u128::from(v4.to_bits())));
        assert!(limiter.same_bucket(nat64(Ipv4Addr::new(192, 0, 2, 1)), A));
        assert!(
            limiter
                .check(nat64(Ipv4Addr::new(192, 0, 2, 1)), START_NS)
                .allowed
        );
        assert!(!limiter.check(A, START_NS).allowed, "the same client");
        // Another IPv4 client behind the same NAT64 (unless the seed collides the two).
        let other = nat64(Ipv4Addr::new(198, 51, 100, 7));
        if !limiter.same_bucket(other, A) {
            assert!(limiter.check(other, START_NS).allowed);
        }
    }

    #[test]
    fn concurrent_checks_never_exceed_burst() {
        const BURST: u32 = 500;
        // One token per hour: no refill while the threads race at a fixed `now`.
        let limiter = RateLimiter::with_interval(BURST, 3_600_000, 4);
        let allowed_total: u32 = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    scope.spawn(|| {
                        (0..2_000)
                            .filter(|_| limiter.check(A, START_NS).allowed)
                            .count() as u32
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("thread")).sum()
        });
        assert_eq!(allowed_total, BURST);
    }

    #[test]
    fn monotonic_clock_does_not_go_back() {
        let first = monotonic_ns();
        let second = monotonic_ns();
        assert!(second >= first);
    }

    #[test]
    fn is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RateLimiter>();
    }
}
