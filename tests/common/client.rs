//! A small blocking HTTP/1.1 client over real sockets, and one-request helpers.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `error.code` of a JSON error body.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

/// A keep-alive connection that can send raw bytes and read responses.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        Client::over(TcpStream::connect(addr).expect("connect"))
    }

    /// A connection from another loopback address (Linux routes all of 127/8 to
    /// loopback), so one test can be two clients to the server's per-address limits.
    pub fn connect_from(addr: SocketAddr, source: std::net::Ipv4Addr) -> Client {
        use std::os::fd::{AsRawFd, FromRawFd};
        let SocketAddr::V4(target) = addr else {
            panic!("an IPv4 server: {addr}");
        };
        let sockaddr = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(ip).to_be(),
            },
            sin_zero: [0; 8],
        };
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let (local, remote) = (sockaddr(source, 0), sockaddr(*target.ip(), target.port()));
        // Safety: a new descriptor, owned by the stream at once (closed on a panic
        // below); the addresses are valid sockaddr_in values of `len` bytes.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
            let stream = TcpStream::from_raw_fd(fd);
            let bound = libc::bind(stream.as_raw_fd(), (&raw const local).cast(), len);
            assert_eq!(
                bound,
                0,
                "bind {source}: {}",
                std::io::Error::last_os_error()
            );
            let connected = libc::connect(stream.as_raw_fd(), (&raw const remote).cast(), len);
            assert_eq!(connected, 0, "connect: {}", std::io::Error::last_os_error());
            Client::over(stream)
        }
    }

    fn over(stream: TcpStream) -> Client {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).expect("send");
    }

    /// `GET path` with Host, keep-alive.
    pub fn get(&mut self, path: &str) -> Response {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        self.read_response(false).expect("a response")
    }

    /// `METHOD path` with Host and `If-None-Match: if_none_match`, keep-alive.
    pub fn conditional(&mut self, method: &str, path: &str, if_none_match: &str) -> Response {
        self.send(
            format!(
                "{method} {path} HTTP/1.1\r\nHost: t\r\nIf-None-Match: {if_none_match}\r\n\r\n"
            )
            .as_bytes(),
        );
        self.read_response(method == "HEAD").expect("a response")
    }

    /// Reads one response (None if the server closed first). `head` = response to HEAD.
    pub fn read_response(&mut self, head: bool) -> Option<Response> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head_text = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                let mut lines = head_text.split("\r\n");
                let status_line = lines.next().unwrap_or("");
                assert!(
                    status_line.starts_with("HTTP/1.1 "),
                    "status line: {status_line:?}"
                );
                let status = status_line[9..12].parse().expect("status code");
                let headers: Vec<(String, String)> = lines
                    .map(|l| {
                        let (n, v) = l.split_once(':').expect("header line has a colon");
                        (n.to_string(), v.trim().to_string())
                    })
                    .collect();
                let len: usize = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .map(|(_, v)| v.parse().expect("content-length"))
                    .unwrap_or(0);
                // A 304's Content-Length is the 200's; it has no body (RFC 9112 §6.3).
                let body_len = if head || status == 304 { 0 } else { len };
                while self.buf.len() < end + 4 + body_len {
                    if !self.fill() {
                        panic!("connection closed inside a response body");
                    }
                }
                let body = self.buf[end + 4..end + 4 + body_len].to_vec();
                self.buf.drain(..end + 4 + body_len);
                return Some(Response {
                    status,
                    headers,
                    body,
                });
            }
            if !self.fill() {
                assert!(
                    self.buf.is_empty(),
                    "partial response before close: {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
                return None;
            }
        }
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => false,
            Err(e) => panic!("read failed: {e}"),
        }
    }

    /// True if the server closed the connection (EOF or reset) within the timeout.
    pub fn is_closed(&mut self) -> bool {
        !self.fill() && self.buf.is_empty()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// One request on a fresh connection.
pub fn get(addr: SocketAddr, path: &str) -> Response {
    Client::connect(addr).get(path)
}

/// A PATCH with the given bearer key (None = no Authorization header).
pub fn patch(addr: SocketAddr, key: Option<&str>, body: &str) -> Response {
    let authorization = key.map(|k| format!("Bearer {k}"));
    patch_with_authorization(addr, authorization.as_deref(), body)
}

/// A PATCH with `authorization` as the whole Authorization value, well-formed or not
/// (None = no Authorization header).
pub fn patch_with_authorization(
    addr: SocketAddr,
    authorization: Option<&str>,
    body: &str,
) -> Response {
    let mut client = Client::connect(addr);
    let auth = authorization
        .map(|value| format!("Authorization: {value}\r\n"))
        .unwrap_or_default();
    client.send(
        format!(
            "PATCH /availability HTTP/1.1\r\nHost: test\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    client.read_response(false).expect("a response")
}

impl Client {
    /// Writes without panicking (the server may have closed already).
    pub fn stream_write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }
}

/// Reads until EOF or reset, returning what arrived and when the stream ended;
/// panics if it is still open after `limit`.
pub fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let started = std::time::Instant::now();
    stream
        .set_read_timeout(Some(limit))
        .expect("set read timeout");
    let mut got = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return (got, started.elapsed()),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return (got, started.elapsed()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!(
                    "still open after {:?}; got {:?}",
                    started.elapsed(),
                    String::from_utf8_lossy(&got)
                )
            }
            Err(e) => panic!("read failed: {e}"),
        }
        assert!(started.elapsed() < limit, "still sending after {limit:?}");
    }
}
