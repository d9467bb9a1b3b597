//! One group commit: admit each queued write (failure budget, key, body) in arrival
//! order, answering refusals at once; apply the admitted ones to one week; commit it
//! once; render its snapshot, swap it in, answer.
//!
//! Until a key has passed once (a start or a reload with only its hash), every key
//! needs bcrypt (~250 ms at cost 12); after that, `KeyStore::verify_fast` settles
//! every key without it. Writes that need bcrypt wait in `Writer::awaiting_bcrypt` (at
//! most [`MAX_AWAITING_BCRYPT`]), and the writer checks one of them after each group
//! and whenever nothing else is queued: wrong keys from many addresses delay other
//! writes by at most one bcrypt, not by the whole queue of checks ahead of them, and
//! a steady stream of writes cannot keep the waiting ones from their checks.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::reply::{Outbox, error_body, response};
use super::{WriteJob, Writer, unix_now_ms};
use crate::api::{Edit, STATE_STOPPED};
use crate::ratelimit::monotonic_ns;

/// Writes waiting for bcrypt at most; more get 503 (the queue to the writer no longer
/// holds them back once they have moved here). Like the queue, 256: over a minute of
/// bcrypt at cost 12.
const MAX_AWAITING_BCRYPT: usize = 256;

/// What [`Writer::admit`] decided about one write.
enum Admission<'j> {
    /// Key and body are good: apply these edits.
    Admitted(&'j [Edit]),
    /// Answered already (429, 401 or 400).
    Refused,
    /// Only bcrypt can tell whether the key is right.
    NeedsBcrypt,
}

impl Writer {
    /// Admits and commits, in arrival order, the writes waiting for bcrypt and then
    /// `group`, except those whose key still needs bcrypt: they (stay) queued.
    pub(super) fn write_group(&mut self, group: Vec<WriteJob>) {
        let before = self.store.record();
        let mut week = before.week;
        let mut jobs = std::mem::take(&mut self.awaiting_bcrypt);
        jobs.extend(group);
        let mut admitted: Vec<(WriteJob, usize)> = Vec::with_capacity(jobs.len());
        for job in jobs {
            if self.shared.state.load(Ordering::Acquire) == STATE_STOPPED {
                // The workers are gone, and with them every client of these jobs.
                self.awaiting_bcrypt.clear();
                return;
            }
            match self.admit(&job) {
                Admission::Admitted(edits) => {
                    for edit in edits {
                        week.set_index(edit.slot_index as usize, edit.status);
                    }
                    let updated = edits.len();
                    admitted.push((job, updated));
                }
                Admission::Refused => {}
                Admission::NeedsBcrypt if self.awaiting_bcrypt.len() < MAX_AWAITING_BCRYPT => {
                    self.awaiting_bcrypt.push_back(job);
                }
                Admission::NeedsBcrypt => {
                    let body = error_body(
                        "busy",
                        "too many writes are waiting for a key check; retry shortly",
                        None,
                    );
                    self.refuse(&job, 503, &[b"Retry-After: 1\r\n"], &body);
                }
            }
        }
        if admitted.is_empty() {
            return;
        }
        let writes = admitted.len() as u64;
        let started = Instant::now();
        let committed = self.store.commit_writes(&week, writes, unix_now_ms());
        self.shared
            .writer_stats
            .last_commit_us
            .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        let mut outbox = Outbox::default();
        match committed {
            Ok(record) => {
                debug_assert_eq!(record.generation, before.generation + writes);
                self.shared
                    .writer_stats
                    .commits
                    .fetch_add(1, Ordering::Relaxed);
                self.publish();
                for (i, (job, updated)) in admitted.iter().enumerate() {
                    let body = format!(
                        "{{\"updated\":{updated},\"generation\":{}}}",
                        before.generation + 1 + i as u64
                    );
                    let reply = response(&self.shared, job, 200, &[], body.as_bytes());
                    outbox.push(&job.reply, job.conn, reply);
                }
            }
            Err(e) => {
                let now = self.store.record();
                crate::say_err!(
                    "a group of {writes} write(s) failed, still serving generation {}: {e}",
                    now.generation
                );
                if now.generation != before.generation {
                    // The directory fsync failed and the old image could not be put
                    // back: the file holds the refused write, so serve what a restart
                    // would load (see `store`'s durability contract).
                    self.publish();
                }
                let body = error_body(
                    "storage_failed",
                    "the write could not be made durable; nothing was acknowledged",
                    None,
                );
                for (job, _) in &admitted {
                    let reply = response(&self.shared, job, 503, &[b"Retry-After: 1\r\n"], &body);
                    outbox.push(&job.reply, job.conn, reply);
                }
            }
        }
        outbox.wake();
        // Unmapping the replaced file frees its (unlinked) inode, file-system work
        // (~0.3 ms here) with no reason to delay the replies.
        drop(self.store.take_retired());
    }

    /// Runs bcrypt on the oldest write waiting for it: a wrong key is refused 401 (and
    /// counted against its client), a right one is remembered, and every write waiting
    /// with it is admitted by the next [`Writer::write_group`], which this calls.
    pub(super) fn check_one_bcrypt(&mut self) {
        let Some(job) = self.awaiting_bcrypt.pop_front() else {
            return;
        };
        if !self.within_failure_budget(&job) {
            return;
        }
        let stats = &self.shared.writer_stats;
        // Shown now, not when the turn ends: a slow check is when the gauge matters.
        // The write under the check still waits for its answer, so it counts.
        let waiting = self.awaiting_bcrypt.len() as u64 + 1;
        stats.awaiting_key_check.store(waiting, Ordering::Relaxed);
        stats.bcrypt_checks.fetch_add(1, Ordering::Release);
        if self.keys.verify_slow(&job.key) {
            self.awaiting_bcrypt.push_front(job);
            self.write_group(Vec::new());
        } else {
            self.refuse_key(&job);
        }
    }

    /// Whether `job` may write now, its key is right and its body valid, as far as
    /// that can be told without bcrypt; a refused job is answered (429, 401 or 400).
    fn admit<'j>(&mut self, job: &'j WriteJob) -> Admission<'j> {
        if !self.within_failure_budget(job) {
            return Admission::Refused;
        }
        match self.keys.verify_fast(&job.key) {
            None => return Admission::NeedsBcrypt,
            Some(false) => {
                self.refuse_key(job);
                return Admission::Refused;
            }
            Some(true) => {}
        }
        match &job.edits {
            Ok(edits) => Admission::Admitted(edits),
            Err(e) => {
                let body = error_body(e.code, &e.message, e.entry);
                self.refuse(job, e.status(), &[], &body);
                Admission::Refused
            }
        }
    }

    /// Whether `job`'s client has failed keys to spare; if not, answers it 429.
    fn within_failure_budget(&self, job: &WriteJob) -> bool {
        // Checked again here: several jobs from one client may have passed the
        // workers' peek before any failure was counted.
        let failures = self.shared.auth_failures.peek(job.peer_ip, monotonic_ns());
        if !failures.allowed {
            let retry = format!("Retry-After: {}\r\n", failures.retry_after_secs.max(1));
            let body = error_body(
                "too_many_auth_failures",
                "too many failed keys from this address",
                None,
            );
            self.refuse(job, 429, &[retry.as_bytes()], &body);
        }
        failures.allowed
    }

    /// Answers a wrong key 401 and counts it against its client.
    fn refuse_key(&self, job: &WriteJob) {
        self.shared.auth_failures.check(job.peer_ip, monotonic_ns());
        let auth: &[u8] = b"WWW-Authenticate: Bearer error=\"invalid_token\"\r\n";
        let body = error_body("unauthorized", "the API key is not valid", None);
        self.refuse(job, 401, &[auth], &body);
    }

    /// Answers a refused write at once: it does not wait for the group's commit.
    fn refuse(&self, job: &WriteJob, status: u16, extra_headers: &[&[u8]], body: &[u8]) {
        let reply = response(&self.shared, job, status, extra_headers, body);
        job.reply.send(job.conn, reply);
    }
}
