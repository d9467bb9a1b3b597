//! One group commit: admit each queued write (failure budget, key, body) in arrival
//! order, answering refusals at once; apply the admitted ones to one week; commit it
//! once; render its snapshot, swap it in, answer.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::reply::{Outbox, error_body, response};
use super::{WriteJob, Writer, unix_now_ms};
use crate::api::{Edit, STATE_STOPPED};
use crate::ratelimit::monotonic_ns;

impl Writer {
    pub(super) fn write_group(&mut self, group: Vec<WriteJob>) {
        let before = self.store.record();
        let mut week = before.week;
        let mut admitted: Vec<(WriteJob, usize)> = Vec::with_capacity(group.len());
        for job in group {
            if self.shared.state.load(Ordering::Acquire) == STATE_STOPPED {
                // The workers are gone, and with them every client of these jobs.
                return;
            }
            if let Some(edits) = self.admit(&job) {
                for edit in edits {
                    week.set_index(edit.slot_index as usize, edit.status);
                }
                let updated = edits.len();
                admitted.push((job, updated));
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
                self.publish();
                for (i, (job, updated)) in admitted.iter().enumerate() {
                    let body = format!(
                        "{{\"updated\":{updated},\"generation\":{}}}",
                        before.generation + 1 + i as u64
                    );
                    let bytes = response(&self.shared, job, 200, &[], body.as_bytes());
                    outbox.push(&job.reply, job.conn, bytes);
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
                    let bytes = response(&self.shared, job, 503, &[b"Retry-After: 1\r\n"], &body);
                    outbox.push(&job.reply, job.conn, bytes);
                }
            }
        }
        outbox.wake();
        // Unmapping the replaced file frees its (unlinked) inode, file-system work
        // (~0.3 ms here) with no reason to delay the replies.
        drop(self.store.take_retired());
    }

    /// The edits of `job` if its client may write now, its key is right and its body
    /// valid; otherwise answers it (429, 401 or 400) and returns `None`.
    fn admit<'j>(&mut self, job: &'j WriteJob) -> Option<&'j [Edit]> {
        let ip = job.peer_ip;
        // Checked again here: several jobs from one client may have passed the
        // workers' peek before any failure was counted.
        let failures = self.shared.auth_failures.peek(ip, monotonic_ns());
        if !failures.allowed {
            let retry = format!("Retry-After: {}\r\n", failures.retry_after_secs.max(1));
            let body = error_body(
                "too_many_auth_failures",
                "too many failed keys from this address",
                None,
            );
            self.refuse(job, 429, &[retry.as_bytes()], &body);
            return None;
        }
        if !self.keys.verify(&job.key) {
            self.shared.auth_failures.check(ip, monotonic_ns());
            let auth: &[u8] = b"WWW-Authenticate: Bearer error=\"invalid_token\"\r\n";
            let body = error_body("unauthorized", "the API key is not valid", None);
            self.refuse(job, 401, &[auth], &body);
            return None;
        }
        match &job.edits {
            Ok(edits) => Some(edits),
            Err(e) => {
                let body = error_body(e.code, &e.message, e.entry);
                self.refuse(job, 400, &[], &body);
                None
            }
        }
    }

    /// Answers a refused write at once: it does not wait for the group's commit.
    fn refuse(&self, job: &WriteJob, status: u16, extra_headers: &[&[u8]], body: &[u8]) {
        let bytes = response(&self.shared, job, status, extra_headers, body);
        job.reply.send(job.conn, bytes);
    }
}
