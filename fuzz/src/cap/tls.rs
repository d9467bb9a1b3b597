//! A `connection_cap` client's TLS layer: its plaintext goes out as records of what
//! the script let go (a trickle is a record per trickle, as from a slow TLS client),
//! behind the handshake's messages, and the window takes ciphertext.
//!
//! The model stays in plaintext, as the server's request clocks do: a record's bytes
//! count as sent once the whole record is in the window (the server cannot decrypt
//! less). What the socket carried — handshakes, record overhead, records still
//! arriving — is counted apart, because the server's stall rule counts it
//! (`runtime::lifecycle::stalled_at_ms` over the bytes off the socket).

use std::collections::VecDeque;

use availability_server::runtime::sim::SimConn;

use crate::conn::tls::{CHUNK_BYTES, TlsEnd};

/// A record (or a handshake flight) in the queue.
struct Record {
    len_bytes: usize,
    /// Its bytes the window has not taken.
    left_bytes: usize,
    /// The plaintext it carries.
    plain_bytes: usize,
}

pub struct TlsLink {
    end: TlsEnd,
    /// Ciphertext the window has not taken, oldest first.
    out: VecDeque<u8>,
    /// The records (or handshake flights) in `out`, oldest first.
    records: VecDeque<Record>,
    /// Plaintext at the front of the client's unsent bytes already sealed into `out`.
    sealed_plain_bytes: usize,
    scratch: Vec<u8>,
}

impl TlsLink {
    pub fn new(end: TlsEnd) -> TlsLink {
        TlsLink {
            end,
            out: VecDeque::new(),
            records: VecDeque::new(),
            sealed_plain_bytes: 0,
            scratch: Vec::new(),
        }
    }

    /// Whether everything sealed or owed to the handshake is in the window.
    pub fn out_is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// Hands the window what it takes of the handshake's messages and of records of
    /// `released` (the plaintext let go, from the first byte not yet delivered);
    /// returns the ciphertext taken and the plaintext of the records taken whole.
    pub fn send(&mut self, conn: &SimConn, released: &[u8]) -> (usize, usize) {
        self.seal(released);
        if self.out.is_empty() {
            return (0, 0);
        }
        let taken = conn.send(self.out.make_contiguous());
        self.out.drain(..taken);
        let (mut left, mut plain) = (taken, 0);
        while left > 0 {
            let front = self
                .records
                .front_mut()
                .expect("every byte queued is a record's");
            let part = left.min(front.left_bytes);
            front.left_bytes -= part;
            left -= part;
            if front.left_bytes == 0 {
                plain += front.plain_bytes;
                self.records.pop_front();
            }
        }
        self.sealed_plain_bytes -= plain;
        (taken, plain)
    }

    /// Queues the handshake's pending messages, then (once it is done: plaintext
    /// waits for it) one record per chunk of `released` not yet sealed.
    fn seal(&mut self, released: &[u8]) {
        self.queue_handshake();
        if self.end.is_handshaking() {
            return;
        }
        while self.sealed_plain_bytes < released.len() {
            let rest = &released[self.sealed_plain_bytes..];
            let chunk = &rest[..rest.len().min(CHUNK_BYTES)];
            self.scratch.clear();
            self.end.seal(chunk, &mut self.scratch);
            self.queue(chunk.len());
            self.sealed_plain_bytes += chunk.len();
        }
    }

    fn queue_handshake(&mut self) {
        self.scratch.clear();
        self.end.take_ciphertext(&mut self.scratch);
        self.queue(0);
    }

    fn queue(&mut self, plain_bytes: usize) {
        if !self.scratch.is_empty() {
            self.out.extend(&self.scratch);
            self.records.push_back(Record {
                len_bytes: self.scratch.len(),
                left_bytes: self.scratch.len(),
                plain_bytes,
            });
        }
    }

    /// Our close: a `close_notify` if this client sends one, its handshake is done
    /// (a client giving up on a handshake just drops the connection) and nothing
    /// queued is ahead of it, as far as the window takes it (the FIN follows at
    /// once). Returns
    /// the bytes taken, and whether the FIN cuts a record (or a handshake message):
    /// then the server may answer with an alert.
    pub fn close_notify(&mut self, conn: &SimConn) -> (usize, bool) {
        let cut_record = self
            .records
            .front()
            .is_some_and(|r| r.left_bytes < r.len_bytes);
        if !self.end.close_notify || self.end.is_handshaking() || !self.out.is_empty() {
            return (0, cut_record);
        }
        self.scratch.clear();
        self.end.close_notify(&mut self.scratch);
        let taken = conn.send(&self.scratch);
        (taken, taken < self.scratch.len())
    }

    /// Decrypts the server's `ciphertext` into `plaintext` (every record must open)
    /// and queues what the handshake answers.
    pub fn open(&mut self, ciphertext: &[u8], plaintext: &mut Vec<u8>) -> Result<(), String> {
        let opened = self.end.open(ciphertext, plaintext);
        self.queue_handshake();
        opened
    }
}
