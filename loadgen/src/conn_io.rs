//! Socket I/O paths of [`Conn`]: plain and TLS reads, and the write helpers.
//! A child module of `conn`, so it works on the connection's private state.

use std::io::{self, Read, Write};

use mio::net::TcpStream;
use rustls::ClientConnection;

use super::{Conn, Env, Phase};
use crate::report::{ErrorKind, Stats};
use crate::schedule::now_ns;

/// A socket adapter noting whether the last read came up short (the kernel buffer is
/// drained, so with edge-triggered polling there is no need to read until EAGAIN).
struct ShortRead<'a> {
    sock: &'a mut TcpStream,
    short: bool,
}

impl Read for ShortRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.sock.read(buf)?;
        self.short = n < buf.len();
        Ok(n)
    }
}

impl Conn {
    /// Reads until the socket is drained: a short read is taken as drained (saving a
    /// read that would only say EAGAIN) unless the peer has closed, when the reads go on
    /// to the end of the stream.
    pub(super) fn read_plain(&mut self, env: &Env, stats: &mut Stats, peer_closed: bool) {
        loop {
            let Some(sock) = self.sock.as_mut() else {
                return;
            };
            let space = self.rbuf.len() - self.rend;
            match sock.read(&mut self.rbuf[self.rend..]) {
                Ok(0) => return self.on_eof(env, stats),
                Ok(n) => {
                    self.rend += n;
                    stats.bytes_read += n as u64;
                    if !self.process(env, stats) || (n < space && !peer_closed) {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.fail(stats, ErrorKind::Read, &e.to_string()),
            }
        }
    }

    /// As [`Conn::read_plain`], through the TLS session.
    pub(super) fn read_tls(&mut self, env: &Env, stats: &mut Stats, peer_closed: bool) {
        loop {
            let (Some(sock), Some(tls)) = (self.sock.as_mut(), self.tls.as_deref_mut()) else {
                return;
            };
            let mut src = ShortRead { sock, short: false };
            let mut eof = false;
            match tls.read_tls(&mut src) {
                Ok(0) => eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => src.short = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.fail(stats, ErrorKind::Read, &e.to_string()),
            }
            let drained = src.short;
            let was_handshaking = tls.is_handshaking();
            if let Err(e) = tls.process_new_packets() {
                let _ = tls.write_tls(src.sock); // best effort: tell the server why
                let why = format!("TLS: {e}");
                if tls.is_handshaking() {
                    // Like a refused connect: keep the requests, retry after a pause.
                    return self.connect_failed(stats, now_ns(), &why);
                }
                return self.fail(stats, ErrorKind::Read, &why);
            }
            if was_handshaking && !tls.is_handshaking() {
                self.note_established(stats);
            }
            loop {
                let Some(tls) = self.tls.as_deref_mut() else {
                    return;
                };
                debug_assert!(self.rend < self.rbuf.len(), "process() leaves room");
                match tls.reader().read(&mut self.rbuf[self.rend..]) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => {
                        self.rend += n;
                        stats.bytes_read += n as u64;
                        if !self.process(env, stats) {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    // TCP closed without close_notify: common after `Connection: close`.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        eof = true;
                        break;
                    }
                    Err(e) => return self.fail(stats, ErrorKind::Read, &e.to_string()),
                }
            }
            // Handshake messages, key updates and any plaintext queued before the
            // handshake finished go out now.
            self.flush(stats);
            if eof {
                return self.on_eof(env, stats);
            }
            if (drained && !peer_closed) || self.phase != Phase::Open {
                return;
            }
        }
    }
}

pub(super) fn write_plain(sock: &mut TcpStream, buf: &[u8], pos: &mut usize) -> io::Result<()> {
    while *pos < buf.len() {
        match sock.write(&buf[*pos..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *pos += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Hands plaintext from `buf[*pos..]` to rustls and writes the TLS records it makes,
/// in pieces: rustls buffers at most 64 KiB (plaintext before the handshake ends,
/// records after), so a larger batch goes in as the records drain. When the socket is
/// full, or rustls holds its limit while the handshake runs, the rest stays in `buf`
/// (`*pos` marks it) for the next writable event or the end of the handshake.
pub(super) fn write_tls(
    sock: &mut TcpStream,
    tls: &mut ClientConnection,
    buf: &[u8],
    pos: &mut usize,
) -> io::Result<()> {
    loop {
        while tls.wants_write() {
            match tls.write_tls(sock) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if *pos == buf.len() {
            return Ok(());
        }
        match tls.writer().write(&buf[*pos..])? {
            // rustls is full and has nothing to send yet (handshake still running).
            0 => return Ok(()),
            n => *pos += n,
        }
    }
}
