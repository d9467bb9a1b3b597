//! Time: the monotonic clock, the open-loop send schedule and a timerfd to wake on it.
//!
//! `mio::Poll` rounds timeouts up to whole milliseconds (epoll_wait), which would bunch
//! sends at 1 kHz. The schedule instead arms a `timerfd` (nanosecond resolution, no timer
//! slack) registered in the same poll, so the thread sleeps until exactly the next send.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Nanoseconds on CLOCK_MONOTONIC, the clock the timerfd also uses.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    assert_eq!(rc, 0, "CLOCK_MONOTONIC is always readable");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Constant-rate schedule: slot k of the whole run is intended at `start + k / rate`.
///
/// With several threads the slots are dealt out by connection: slot k belongs to
/// connection lane `k mod connections`, and lane l to thread `l mod threads` (the
/// same counts as the even split of connections), so thread i of n takes slots i,
/// i + n, i + 2n, … and every slot of the run goes to exactly one thread: the
/// threads together offer exactly the rate, each paced at its connection share.
///
/// Latency is measured from the intended time, not from when the request could be
/// written, so a stalled server is charged for every request it delayed
/// (coordinated omission corrected, as in wrk2).
#[derive(Debug, Clone)]
pub struct OpenLoop {
    start_ns: u64,
    /// Period of the whole run's schedule (all threads), ns.
    period_ns: f64,
    /// This thread's index, the number of threads, connection lanes in all, and this
    /// thread's lanes.
    index: u64,
    threads: u64,
    lanes: u64,
    mine: u64,
    issued: u64,
}

impl OpenLoop {
    /// A schedule of `rate_per_s` requests per second starting at `start_ns`.
    pub fn new(start_ns: u64, rate_per_s: f64) -> Self {
        Self::for_thread(start_ns, rate_per_s, 0, 1, 1)
    }

    /// Thread `index`'s share of a schedule of `rate_per_s` in total over `threads`
    /// threads and `connections` connections (split as the runner splits them).
    pub fn for_thread(
        start_ns: u64,
        rate_per_s: f64,
        index: usize,
        threads: usize,
        connections: usize,
    ) -> Self {
        assert!(rate_per_s > 0.0, "rate is validated positive");
        assert!(
            index < threads && threads <= connections,
            "every thread owns a lane"
        );
        let (index, threads, lanes) = (index as u64, threads as u64, connections as u64);
        OpenLoop {
            start_ns,
            period_ns: 1e9 / rate_per_s,
            index,
            threads,
            lanes,
            mine: (lanes - index).div_ceil(threads),
            issued: 0,
        }
    }

    /// The run-wide slot of this thread's request number `k`.
    fn slot(&self, k: u64) -> u64 {
        (k / self.mine)
            .saturating_mul(self.lanes)
            .saturating_add(self.index + self.threads * (k % self.mine))
    }

    /// Intended send time of request number `k` (0-based); saturates at `u64::MAX`
    /// (never, in effect) for a time beyond the clock's range.
    pub fn intended_ns(&self, k: u64) -> u64 {
        // f64 → u64 casts saturate, so a huge offset cannot wrap.
        let offset = (self.slot(k) as f64 * self.period_ns) as u64;
        self.start_ns.saturating_add(offset)
    }

    /// Intended time of the next request not yet handed out.
    pub fn next_ns(&self) -> u64 {
        self.intended_ns(self.issued)
    }

    /// Hands out the next request: returns its intended time.
    pub fn take(&mut self) -> u64 {
        let at = self.next_ns();
        self.issued += 1;
        at
    }

    /// Requests handed out so far.
    pub fn issued(&self) -> u64 {
        self.issued
    }

    /// This thread's requests whose intended time is at or before `now_ns` but not yet
    /// handed out: the backlog a saturated target (or generator) leaves behind.
    pub fn backlog(&self, now_ns: u64) -> u64 {
        if now_ns < self.start_ns {
            return 0;
        }
        let slots =
            (((now_ns - self.start_ns) as f64 / self.period_ns).floor() as u64).saturating_add(1);
        let (cycles, rest) = (slots / self.lanes, slots % self.lanes);
        let partial = if rest > self.index {
            (rest - self.index).div_ceil(self.threads).min(self.mine)
        } else {
            0
        };
        cycles
            .saturating_mul(self.mine)
            .saturating_add(partial)
            .saturating_sub(self.issued)
    }
}

/// A non-blocking CLOCK_MONOTONIC timerfd armed at absolute times.
#[derive(Debug)]
pub struct TimerFd {
    fd: OwnedFd,
    armed_ns: u64,
}

impl TimerFd {
    /// Creates a disarmed timer.
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain syscall; the result is checked before use.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(TimerFd { fd, armed_ns: 0 })
    }

    /// Fires (becomes readable) at `at_ns` on [`now_ns`]'s clock; a past time fires at once.
    pub fn arm_at(&mut self, at_ns: u64) -> io::Result<()> {
        let at_ns = at_ns.max(1); // 0 would disarm
        if at_ns == self.armed_ns {
            return Ok(());
        }
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: (at_ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (at_ns % 1_000_000_000) as libc::c_long,
            },
        };
        // SAFETY: valid fd and itimerspec; the old value is not requested.
        let rc = unsafe {
            libc::timerfd_settime(
                self.fd.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        self.armed_ns = at_ns;
        Ok(())
    }

    /// Consumes an expiry so the edge-triggered poll can report the next one.
    pub fn drain(&mut self) {
        let mut expirations = [0u8; 8];
        // SAFETY: reads at most 8 bytes into an 8-byte buffer; EAGAIN is fine.
        let _ = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                expirations.as_mut_ptr().cast(),
                expirations.len(),
            )
        };
        self.armed_ns = 0;
    }

    /// Adds the timer to a mio poll under `token` (edge-triggered, like mio's own
    /// sources). Done with epoll_ctl on the poll's descriptor because mio's `SourceFd`
    /// needs a crate feature this workspace does not enable.
    pub fn register(&self, registry: &mio::Registry, token: mio::Token) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLET) as u32,
            u64: token.0 as u64,
        };
        // SAFETY: both descriptors are valid for the call; `event` is a valid pointer.
        let rc = unsafe {
            libc::epoll_ctl(
                registry.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                self.fd.as_raw_fd(),
                &mut event,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The raw descriptor (for tests that poll it directly).
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intended_times_follow_the_rate() {
        let mut s = OpenLoop::new(1_000, 4.0); // every 250 ms
        assert_eq!(s.take(), 1_000);
        assert_eq!(s.take(), 1_000 + 250_000_000);
        assert_eq!(s.next_ns(), 1_000 + 500_000_000);
        assert_eq!(s.issued(), 2);
    }

    #[test]
    fn backlog_counts_due_but_unsent() {
        let mut s = OpenLoop::new(0, 1000.0); // every 1 ms
        assert_eq!(s.backlog(0), 1);
        assert_eq!(s.backlog(9_999_999), 10); // t = 0, 1, …, 9 ms are due
        s.take();
        s.take();
        assert_eq!(s.backlog(9_999_999), 8);
    }

    #[test]
    fn threads_share_the_slots_of_one_schedule() {
        // -R 10 for 1 s: slots at 0, 100 ms, …, 900 ms, each sent by exactly one thread.
        for (threads, connections) in [(1, 1), (3, 3), (2, 5), (3, 7), (4, 64)] {
            let mut all = Vec::new();
            for i in 0..threads {
                let mut s = OpenLoop::for_thread(0, 10.0, i, threads, connections);
                let before_end = s.backlog(999_999_999);
                while s.next_ns() < 1_000_000_000 {
                    all.push(s.take());
                }
                assert_eq!(before_end, s.issued(), "backlog agrees with the schedule");
            }
            all.sort_unstable();
            let want: Vec<u64> = (0..10).map(|k| k * 100_000_000).collect();
            assert_eq!(all, want, "{threads} threads, {connections} connections");
        }
    }

    #[test]
    fn a_thread_is_paced_at_its_connection_share() {
        // 2 threads over 3 connections at 3000/s: thread 0 has 2 lanes, 2000/s.
        let s = OpenLoop::for_thread(0, 3000.0, 0, 2, 3);
        assert_eq!(s.backlog(999_999_999), 2000);
        let s = OpenLoop::for_thread(0, 3000.0, 1, 2, 3);
        assert_eq!(s.backlog(999_999_999), 1000);
    }

    #[test]
    fn a_tiny_rate_does_not_wrap() {
        let start = u64::MAX / 2;
        let mut s = OpenLoop::new(start, 1e-11);
        assert_eq!(s.take(), start);
        assert_eq!(s.next_ns(), u64::MAX, "far beyond the clock saturates");
        assert_eq!(s.backlog(u64::MAX - 1), 0);
        let s = OpenLoop::for_thread(5, 1e-300, 1, 2, 2);
        assert_eq!(s.intended_ns(u64::MAX), u64::MAX);
    }

    #[test]
    fn timerfd_wakes_at_a_sub_millisecond_deadline() {
        let mut t = TimerFd::new().expect("timerfd");
        let start = now_ns();
        t.arm_at(start + 300_000).expect("arm");
        let mut pfd = libc::pollfd {
            fd: t.raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, 1000) };
        let waited_ns = now_ns() - start;
        assert_eq!(n, 1);
        assert!(waited_ns >= 300_000, "woke early after {waited_ns} ns");
        t.drain();
    }
}
