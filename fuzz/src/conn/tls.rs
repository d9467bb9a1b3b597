//! The client's TLS layer for a `connection` run: a rustls client between the
//! script's plaintext and the in-memory connection, so every action also runs over
//! the worker's TLS path (records cut by small windows, rustls holding ciphertext
//! while the socket is full, a `close_notify` or a bare FIN as the client's close).
//!
//! Plaintext goes to rustls in chunks of at most [`CHUNK_BYTES`], one record each, and
//! a chunk counts as sent only once its whole record is in the window: the server
//! cannot decrypt part of a record, so a cut record delivers none of its bytes, and
//! the framing model (which is told what was sent) stays exact.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// Plaintext per record we send: under rustls' 16 KiB fragment size, so one record.
pub const CHUNK_BYTES: usize = 4096;

/// The server's certificate and a client trusting it, made once per fixture.
pub struct TlsSetup {
    pub server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
}

impl TlsSetup {
    /// Loads or generates the certificate in `dir` (the server's data directory).
    pub fn new(dir: &Path) -> TlsSetup {
        let setup = availability_server::tls::load_or_generate(dir, None, None)
            .expect("a certificate for the fuzz server");
        let cert = dir.join(availability_server::tls::CERT_FILE_NAME);
        let client =
            availability_server::tls::client_config_trusting(&cert).expect("a client trusting it");
        TlsSetup {
            server: setup.server_config,
            client,
        }
    }

    /// A client for one connection; `close_notify`: its close sends one before the FIN.
    pub fn client(&self, close_notify: bool) -> TlsEnd {
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        TlsEnd {
            client: rustls::ClientConnection::new(Arc::clone(&self.client), name)
                .expect("a client connection"),
            close_notify,
            failed: false,
        }
    }
}

/// One connection's client side of TLS.
pub struct TlsEnd {
    client: rustls::ClientConnection,
    /// Our close sends a `close_notify` before the FIN (else a bare FIN).
    pub close_notify: bool,
    /// rustls failed on the server's records (allowed only after we tampered): what
    /// arrives from then on is not decrypted.
    pub failed: bool,
}

impl TlsEnd {
    pub fn is_handshaking(&self) -> bool {
        self.client.is_handshaking()
    }

    /// Encrypts `chunk` (at most [`CHUNK_BYTES`]) into one record and appends it, and
    /// anything else rustls has to send, to `out`.
    pub fn seal(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        assert!(chunk.len() <= CHUNK_BYTES);
        let taken = std::io::Write::write(&mut self.client.writer(), chunk).expect("plaintext");
        assert_eq!(
            taken,
            chunk.len(),
            "rustls takes a whole chunk (its buffer is empty)"
        );
        self.take_ciphertext(out);
    }

    /// Appends what rustls has to send (handshake messages, alerts, records) to `out`.
    pub fn take_ciphertext(&mut self, out: &mut Vec<u8>) {
        while self.client.wants_write() {
            self.client.write_tls(out).expect("writing into a Vec");
        }
    }

    /// Queues our `close_notify` and appends it to `out`.
    pub fn close_notify(&mut self, out: &mut Vec<u8>) {
        self.client.send_close_notify();
        self.take_ciphertext(out);
    }

    /// Feeds the server's `ciphertext` to rustls and appends the plaintext it yields
    /// to `plaintext`. Records the server sends must always decrypt: an error is a
    /// finding.
    pub fn open(&mut self, mut ciphertext: &[u8], plaintext: &mut Vec<u8>) -> Result<(), String> {
        while !ciphertext.is_empty() {
            self.client
                .read_tls(&mut ciphertext)
                .map_err(|e| format!("reading the server's records: {e}"))?;
            self.client
                .process_new_packets()
                .map_err(|e| format!("the server's TLS records: {e}"))?;
            // Taken record by record: rustls refuses more ciphertext while 16 KiB of
            // plaintext waits. WouldBlock (no more yet), Ok at the server's
            // close_notify, or UnexpectedEof after a FIN without one: the bytes read
            // so far are kept either way, and the transport reports the close.
            let _ = self.client.reader().read_to_end(plaintext);
        }
        Ok(())
    }
}
