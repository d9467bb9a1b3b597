//! The one writer thread: verifies keys (bcrypt never runs on a worker),
//! commits the 168-byte file, rebuilds the snapshot and swaps it in before the
//! PATCH is answered. It also rolls the calendar forward after a zone's week
//! ends, so readers always find their week precomputed.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use crate::api::{BodyError, Edit, ReplyTo, Shared};
use crate::auth::KeyStore;
use crate::http::date::format_imf_fixdate;
use crate::http::response::{CACHE_NONE, JSON_TYPE, status_line};
use crate::ratelimit::{Decision, monotonic_ns};
use crate::runtime::ConnRef;
use crate::snapshot::Calendar;
use crate::store::Store;

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
    pub store: Store,
    pub keys: KeyStore,
    pub calendar: Calendar,
    pub shared: Arc<Shared>,
}

fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Writer {
    pub fn run(mut self, commands: Receiver<Command>) {
        loop {
            let now_s = (unix_now_ms() / 1000) as i64;
            if self.calendar.roll(now_s) {
                self.publish();
            }
            let wait_s = (self.calendar.next_switch_unix_s() - now_s).clamp(0, 3600) as u64;
            match commands.recv_timeout(Duration::from_secs(wait_s).max(Duration::from_millis(50)))
            {
                Ok(Command::Write(job)) => self.write(*job),
                Ok(Command::ReloadKeys(reload)) => reload(&mut self.keys),
                Ok(Command::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Builds and swaps in the snapshot for what the store holds now.
    fn publish(&mut self) {
        let started = std::time::Instant::now();
        let record = self.store.record();
        let snapshot = self.calendar.build(&record.week, record.generation);
        self.shared.snapshot.store(Arc::new(snapshot));
        let stats = &self.shared.writer_stats;
        stats
            .rebuilds
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        stats.last_rebuild_us.store(
            started.elapsed().as_micros() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    fn write(&mut self, job: WriteJob) {
        let ip = job.peer_ip;
        // Checked again here: several jobs from one client may have passed the
        // workers' peek before any failure was counted.
        let failures = self.shared.auth_failures.peek(ip, monotonic_ns());
        if !failures.allowed {
            let retry = format!("Retry-After: {}\r\n", failures.retry_after_secs.max(1));
            return self.respond(
                &job,
                429,
                &[retry.as_bytes()],
                error_body(
                    "too_many_auth_failures",
                    "too many failed keys from this address",
                    None,
                ),
            );
        }
        if !self.keys.verify(&job.key) {
            self.shared.auth_failures.check(ip, monotonic_ns());
            let auth: &[u8] = b"WWW-Authenticate: Bearer error=\"invalid_token\"\r\n";
            return self.respond(
                &job,
                401,
                &[auth],
                error_body("unauthorized", "the API key is not valid", None),
            );
        }
        let edits = match &job.edits {
            Ok(edits) => edits,
            Err(e) => return self.respond(&job, 400, &[], error_body(e.code, &e.message, e.entry)),
        };
        let before = self.store.record();
        let mut week = before.week;
        for edit in edits {
            week.set_index(edit.slot_index as usize, edit.status);
        }
        let started = std::time::Instant::now();
        let committed = self.store.commit(&week, unix_now_ms());
        let commit_us = started.elapsed().as_micros() as u64;
        self.shared
            .writer_stats
            .last_commit_us
            .store(commit_us, std::sync::atomic::Ordering::Relaxed);
        match committed {
            Ok(record) => {
                self.publish();
                let body = format!(
                    "{{\"updated\":{},\"generation\":{}}}",
                    edits.len(),
                    record.generation
                );
                self.respond(&job, 200, &[], body.into_bytes());
            }
            Err(e) => {
                eprintln!(
                    "write failed, still serving generation {}: {e}",
                    self.store.record().generation
                );
                if self.store.record().generation != before.generation {
                    // The rename happened but its durability is unknown: serve
                    // what a restart would load.
                    self.publish();
                }
                self.respond(
                    &job,
                    503,
                    &[b"Retry-After: 1\r\n"],
                    error_body(
                        "storage_failed",
                        "the write could not be made durable; nothing was acknowledged",
                        None,
                    ),
                );
            }
        }
    }
}

fn error_body(code: &str, message: &str, entry: Option<usize>) -> Vec<u8> {
    let mut error = serde_json::json!({ "code": code, "message": message });
    if let Some(index) = entry {
        error["index"] = index.into();
    }
    serde_json::json!({ "error": error })
        .to_string()
        .into_bytes()
}

impl Writer {
    /// Sends a complete response to the worker that owns the connection.
    fn respond(&self, job: &WriteJob, status: u16, extra_headers: &[&[u8]], body: Vec<u8>) {
        self.shared.writer_stats.record_reply(status);
        // A drain that began while the key was checked still closes the connection.
        let draining = self.shared.state.load(std::sync::atomic::Ordering::Acquire)
            == crate::api::STATE_DRAINING;
        let mut out = Vec::with_capacity(256 + body.len());
        out.extend_from_slice(status_line(status));
        out.extend_from_slice(JSON_TYPE);
        out.extend_from_slice(CACHE_NONE);
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        for header in extra_headers {
            out.extend_from_slice(header);
        }
        let mut date = [0u8; 29];
        format_imf_fixdate((unix_now_ms() / 1000) as i64, &mut date);
        out.extend_from_slice(b"Date: ");
        out.extend_from_slice(&date);
        out.extend_from_slice(b"\r\n");
        if let Some(d) = job.rate {
            out.extend_from_slice(
                format!(
                    "RateLimit-Limit: {}\r\nRateLimit-Remaining: {}\r\nRateLimit-Reset: {}\r\n",
                    d.limit, d.remaining, d.reset_secs
                )
                .as_bytes(),
            );
        }
        if job.close || draining {
            out.extend_from_slice(b"Connection: close\r\n");
        } else if job.http10_keep_alive {
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&body);
        job.reply.send(job.conn, out);
    }
}
