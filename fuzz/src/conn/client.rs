//! The client end of one loopback connection: sends without ever blocking on a server
//! that is itself waiting for us to read, and cuts the byte stream into responses,
//! checking each is well-formed HTTP/1.1 with exactly one Content-Length.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::lines::find;

/// One response as received.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// `Connection: close` was present.
    pub close: bool,
    /// `Connection: keep-alive` was present.
    pub keep_alive: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How the read side ended, if it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadEnd {
    Open,
    /// Orderly close (FIN) after everything the server sent.
    Eof,
    /// Reset: bytes the server sent may have been discarded by our kernel.
    Reset,
}

pub struct Wire {
    stream: TcpStream,
    pub buf: Vec<u8>,
    pub end: ReadEnd,
    /// We shut down our write side, or a send failed.
    pub write_closed: bool,
    fin_sent: bool,
}

impl Wire {
    pub fn connect(addr: SocketAddr) -> Wire {
        let stream = TcpStream::connect(addr).expect("connect to the fuzzing server");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        Wire {
            stream,
            buf: Vec::new(),
            end: ReadEnd::Open,
            write_closed: false,
            fin_sent: false,
        }
    }

    /// Sends `bytes`, reading whatever arrives while the socket will not take more
    /// (a server blocked writing to us stops reading from us). Returns how many bytes
    /// were sent; fewer than all if the send failed (the server closed) or did not
    /// finish within `deadline`, and then nothing more is sent on this connection.
    pub fn send_counted(&mut self, bytes: &[u8], deadline: Duration) -> usize {
        if self.write_closed {
            return 0;
        }
        let until = Instant::now() + deadline;
        let mut at = 0;
        self.stream.set_nonblocking(true).expect("nonblocking");
        while at < bytes.len() {
            match self.stream.write(&bytes[at..]) {
                Ok(0) => break,
                Ok(n) => at += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.read_available();
                    if Instant::now() >= until {
                        break;
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        self.stream.set_nonblocking(false).expect("blocking");
        if at < bytes.len() {
            self.write_closed = true;
        }
        at
    }

    /// Sends our FIN (once), even after a failed send.
    pub fn shutdown_write(&mut self) {
        if !self.fin_sent {
            let _ = self.stream.shutdown(Shutdown::Write);
            self.fin_sent = true;
            self.write_closed = true;
        }
    }

    /// Reads what is already there without waiting.
    pub fn read_available(&mut self) {
        if self.end != ReadEnd::Open {
            return;
        }
        self.stream.set_nonblocking(true).expect("nonblocking");
        while self.read_once() {}
        self.stream.set_nonblocking(false).expect("blocking");
    }

    /// Waits up to `timeout` for at least one read to return (data or end).
    pub fn read_wait(&mut self, timeout: Duration) {
        if self.end != ReadEnd::Open {
            return;
        }
        let timeout = timeout.max(Duration::from_millis(1));
        self.stream
            .set_read_timeout(Some(timeout))
            .expect("read timeout");
        if self.read_once() {
            self.read_available();
        }
    }

    /// One read; `true` if bytes arrived.
    fn read_once(&mut self) -> bool {
        let mut chunk = [0u8; 65_536];
        match self.stream.read(&mut chunk) {
            Ok(0) => {
                self.end = ReadEnd::Eof;
                false
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
            Err(e) if e.kind() == ErrorKind::Interrupted => true,
            Err(_) => {
                self.end = ReadEnd::Reset;
                false
            }
        }
    }

    /// Takes one complete response off the buffer. `head_only`: the request was HEAD,
    /// so the body is absent whatever Content-Length says. `Ok(None)`: incomplete so far.
    pub fn take_response(&mut self, head_only: bool) -> Result<Option<Response>, String> {
        let Some(head_end) = find(&self.buf, b"\r\n\r\n") else {
            if self.buf.len() > 16_384 {
                return Err("response head longer than 16 KiB".into());
            }
            return Ok(None);
        };
        let head = std::str::from_utf8(&self.buf[..head_end])
            .map_err(|_| "response head is not UTF-8".to_string())?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = parse_status_line(status_line)?;
        let mut headers = Vec::new();
        for line in lines {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| format!("header line without ':': {line:?}"))?;
            let token =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !token || line.contains('\r') || line.contains('\n') {
                return Err(format!("malformed header line {line:?}"));
            }
            headers.push((name.to_string(), value.trim().to_string()));
        }
        let count = |name: &str| {
            headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .count()
        };
        for required in ["Content-Length", "Content-Type", "Date", "Cache-Control"] {
            if count(required) != 1 {
                return Err(format!(
                    "{} {required} headers in {head:?}",
                    count(required)
                ));
            }
        }
        let length_text = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        let length: usize = length_text
            .parse()
            .map_err(|_| format!("Content-Length {length_text:?}"))?;
        let connection: Vec<String> = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
            .map(|(_, v)| v.to_ascii_lowercase())
            .collect();
        let body_start = head_end + 4;
        let available = self.buf.len() - body_start;
        let body_len = if head_only {
            0
        } else if available < length {
            return Ok(None);
        } else {
            length
        };
        let body = self.buf[body_start..body_start + body_len].to_vec();
        self.buf.drain(..body_start + body_len);
        Ok(Some(Response {
            status,
            close: connection.iter().any(|v| v == "close"),
            keep_alive: connection.iter().any(|v| v == "keep-alive"),
            headers,
            body,
        }))
    }
}

fn parse_status_line(line: &str) -> Result<u16, String> {
    let rest = line
        .strip_prefix("HTTP/1.1 ")
        .ok_or_else(|| format!("status line {line:?} is not HTTP/1.1"))?;
    let (code, reason) = rest.split_at_checked(3).unwrap_or((rest, ""));
    let status: u16 = code.parse().map_err(|_| format!("status line {line:?}"))?;
    if !(100..=599).contains(&status) || !reason.starts_with(' ') || reason.len() < 2 {
        return Err(format!("status line {line:?}"));
    }
    Ok(status)
}
