//! The one writer thread: verifies keys (bcrypt never runs on a worker), commits the
//! 168-byte file, rebuilds the snapshot and swaps it in before the PATCH is answered.
//! It also rolls the calendar forward after a zone's week ends, so readers always
//! find their week precomputed.
//!
//! Writes are group-committed: the writes queued when the thread gets to them are
//! checked one by one (key, then body), the accepted ones applied in order to one
//! week and made durable by one commit, the generation advancing by one per write
//! (`Store::commit_writes`); each gets its own generation in its reply. The
//! snapshot for the result is rendered once the commit is durable and swapped in
//! before anyone is answered 200. If the commit fails, every write of the group
//! gets 503. A write whose key needs bcrypt waits while writes that need none go
//! ahead (see `batch`).

mod batch;
mod reply;

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use crate::api::{BodyError, Edit, ReplyTo, Shared};
use crate::auth::KeyStore;
use crate::ratelimit::Decision;
use crate::runtime::ConnRef;
use crate::snapshot::Calendar;
use crate::store::Store;
use crate::unix_now_ms;

/// At most this many queued writes share one commit (the queue holds 256).
const MAX_GROUP: usize = 256;

/// A validated-or-refused PATCH waiting for its key check and commit.
pub struct WriteJob {
    pub conn: ConnRef,
    pub reply: ReplyTo,
    pub peer_ip: IpAddr,
    pub key: Vec<u8>,
    pub edits: Result<Vec<Edit>, BodyError>,
    pub close: bool,
    pub http10_keep_alive: bool,
    pub rate: Option<Decision>,
}

pub enum Command {
    Write(Box<WriteJob>),
    /// SIGHUP: re-read the API key hash.
    ReloadKeys(Box<dyn FnOnce(&mut KeyStore) + Send>),
    Stop,
}

pub struct Writer {
    store: Store,
    keys: KeyStore,
    calendar: Calendar,
    shared: Arc<Shared>,
    /// Writes whose key only bcrypt can check, oldest first (bounded by `batch`).
    awaiting_bcrypt: VecDeque<WriteJob>,
    /// A command met while gathering a group, handled next.
    next_command: Option<Command>,
}

impl Writer {
    pub fn new(store: Store, keys: KeyStore, calendar: Calendar, shared: Arc<Shared>) -> Writer {
        Writer {
            store,
            keys,
            calendar,
            shared,
            awaiting_bcrypt: VecDeque::new(),
            next_command: None,
        }
    }

    /// Runs until stopped. A panic here stops the whole process: a server whose
    /// writer is gone would answer every PATCH 503 (or never), stop rolling the weeks
    /// and still report itself ready, with no supervisor the wiser. The data file is
    /// crash-safe, so the next start serves the last durable week.
    pub fn run(mut self, commands: Receiver<Command>) {
        let ran =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(
                || {
                    while self.turn(&commands) {}
                },
            ));
        if ran.is_err() {
            crate::say_err!(
                "the writer thread panicked: stopping the process (the data file keeps the \
                 last durable week)"
            );
            std::process::abort();
        }
    }

    /// One turn of the writer's loop: roll the weeks if one ended, then handle the
    /// next command (a group of writes, a key reload), or check one key waiting for
    /// bcrypt when nothing is queued. False once stopped (or the queue is gone).
    pub fn turn(&mut self, commands: &Receiver<Command>) -> bool {
        let running = self.turn_once(commands);
        let waiting = self.awaiting_bcrypt.len() as u64;
        let stats = &self.shared.writer_stats;
        stats.awaiting_key_check.store(waiting, Ordering::Relaxed);
        stats.busy_since_ms.store(0, Ordering::Relaxed);
        running
    }

    /// Work begins (not the wait for it): a stuck fsync or bcrypt shows in the
    /// `availability_writer_busy_seconds` gauge.
    fn mark_busy(&self) {
        let stats = &self.shared.writer_stats;
        stats
            .busy_since_ms
            .store(crate::metrics::monotonic_ms(), Ordering::Relaxed);
    }

    fn turn_once(&mut self, commands: &Receiver<Command>) -> bool {
        let now_s = (unix_now_ms() / 1000) as i64;
        if self.calendar.roll(now_s) {
            self.publish();
        }
        let command = match self.next_command.take() {
            Some(command) => command,
            // Waiting writes get one bcrypt check per turn: when nothing else is
            // queued, and after each group (below). A write with the known key
            // waits for at most the one check in progress.
            None if !self.awaiting_bcrypt.is_empty() => match commands.try_recv() {
                Ok(command) => command,
                Err(TryRecvError::Empty) => {
                    self.mark_busy();
                    self.check_one_bcrypt();
                    return true;
                }
                Err(TryRecvError::Disconnected) => return false,
            },
            None => {
                let wait = idle_wait(self.calendar.next_switch_unix_s(), now_s);
                match commands.recv_timeout(wait) {
                    Ok(command) => command,
                    Err(RecvTimeoutError::Timeout) => return true,
                    Err(RecvTimeoutError::Disconnected) => return false,
                }
            }
        };
        self.mark_busy();
        match command {
            Command::Write(job) => {
                let mut group = vec![*job];
                while group.len() < MAX_GROUP {
                    match commands.try_recv() {
                        Ok(Command::Write(job)) => group.push(*job),
                        Ok(other) => {
                            self.next_command = Some(other);
                            break;
                        }
                        Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                    }
                }
                self.write_group(group);
                // Writes keep coming while some wait for bcrypt: one check between
                // two groups, or a steady stream (say, every write after a restart
                // with only a hash configured) would never get one.
                self.check_one_bcrypt();
                true
            }
            Command::ReloadKeys(reload) => {
                reload(&mut self.keys);
                true
            }
            Command::Stop => false,
        }
    }

    /// Whether any write waits for a bcrypt check.
    pub fn awaiting(&self) -> bool {
        !self.awaiting_bcrypt.is_empty()
    }

    /// Builds and swaps in the snapshot for what the store holds now.
    fn publish(&mut self) {
        let started = Instant::now();
        let record = self.store.record();
        let snapshot = self.calendar.build(&record.week, record.generation);
        self.shared.snapshot.store(Arc::new(snapshot));
        let stats = &self.shared.writer_stats;
        stats.rebuilds.fetch_add(1, Ordering::Relaxed);
        stats
            .last_rebuild_us
            .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    }
}

/// How long an idle writer waits for a command: until the next week switch, so the
/// weeks roll on time, but at most a minute and at least 50 ms. The wait runs on the
/// monotonic clock, so a jump of the wall clock (a resumed VM) is noticed within that
/// minute, and the weeks rolled, instead of reads computing answers until the next
/// hour; the 50 ms floor keeps a switch that is due (or a clock behind it) from
/// turning the loop into a spin.
fn idle_wait(next_switch_unix_s: i64, now_unix_s: i64) -> Duration {
    let wait_s = next_switch_unix_s.saturating_sub(now_unix_s).clamp(0, 60) as u64;
    Duration::from_secs(wait_s).max(Duration::from_millis(50))
}

#[cfg(test)]
mod tests {
    use super::idle_wait;
    use std::time::Duration;

    #[test]
    fn an_idle_writer_waits_for_the_next_switch_within_its_bounds() {
        let now_s = 1_790_000_000;
        let cases = [
            (now_s + 7, Duration::from_secs(7)),
            (now_s + 60, Duration::from_secs(60)),
            (now_s + 61, Duration::from_secs(60)),
            (now_s + 3 * 86_400, Duration::from_secs(60)),
            (i64::MAX, Duration::from_secs(60)), // no switch ahead
            (now_s, Duration::from_millis(50)),  // due: the next turn rolls it
            (now_s - 30, Duration::from_millis(50)),
        ];
        for (switch_s, expected) in cases {
            let offset_s = switch_s.saturating_sub(now_s);
            assert_eq!(
                idle_wait(switch_s, now_s),
                expected,
                "switch {offset_s} s on"
            );
        }
    }
}
