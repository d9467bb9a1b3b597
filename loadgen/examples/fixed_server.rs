//! A trivial single-threaded HTTP/1.1 server answering every request with the same
//! bytes, used to compare load generators (`loadgen` vs `wrk`) without a real server's
//! costs in the way.
//!
//! ```text
//! cargo run --release -p loadgen --example fixed_server -- [ADDR] [BODY_BYTES]
//! ```
//! Defaults: `127.0.0.1:8080`, 13-byte body. Requests are recognised by their blank
//! line only (request bodies are not supported), so pipelining works.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const LISTENER: Token = Token(usize::MAX);
/// Responses kept pre-concatenated so a pipelined batch is one write.
const BATCH: usize = 64;

struct Client {
    sock: TcpStream,
    /// Bytes of `\r\n\r\n` matched at the end of the previous read.
    matched: usize,
    /// Responses owed, and bytes of the first one already written.
    owed: usize,
    offset: usize,
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:8080".into())
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("address: {e}")))?;
    let body_bytes: usize = args
        .next()
        .map(|b| b.parse())
        .transpose()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("body bytes: {e}")))?
        .unwrap_or(13);
    let mut one = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {body_bytes}\r\n\r\n"
    )
    .into_bytes();
    one.extend((0..body_bytes).map(|i| b'a' + (i % 26) as u8));
    let batch: Vec<u8> = one.repeat(BATCH);

    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(addr)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    eprintln!(
        "fixed_server: listening on {addr}, {} byte responses",
        one.len()
    );
    let mut events = Events::with_capacity(1024);
    let mut clients: HashMap<usize, Client> = HashMap::new();
    let mut next_token = 0usize;
    let mut rbuf = vec![0u8; 64 * 1024];
    loop {
        match poll.poll(&mut events, None) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue, // a signal (SIGCONT, say)
            result => result?,
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                while let Ok((mut sock, _)) = listener.accept() {
                    let _ = sock.set_nodelay(true);
                    let token = Token(next_token);
                    next_token += 1;
                    poll.registry().register(
                        &mut sock,
                        token,
                        Interest::READABLE | Interest::WRITABLE,
                    )?;
                    clients.insert(
                        token.0,
                        Client {
                            sock,
                            matched: 0,
                            owed: 0,
                            offset: 0,
                        },
                    );
                }
                continue;
            }
            let Some(client) = clients.get_mut(&event.token().0) else {
                continue;
            };
            let alive = serve(client, &mut rbuf, &one, &batch);
            if !alive {
                clients.remove(&event.token().0);
            }
        }
    }
}

/// Reads whatever arrived, counts request heads, writes what is owed. False = closed.
fn serve(c: &mut Client, rbuf: &mut [u8], one: &[u8], batch: &[u8]) -> bool {
    loop {
        match c.sock.read(rbuf) {
            Ok(0) => return false,
            Ok(n) => {
                for &b in &rbuf[..n] {
                    c.matched = match (c.matched, b) {
                        (0 | 2, b'\r') => c.matched + 1,
                        (1 | 3, b'\n') => c.matched + 1,
                        (_, b'\r') => 1,
                        _ => 0,
                    };
                    if c.matched == 4 {
                        c.owed += 1;
                        c.matched = 0;
                    }
                }
                if n < rbuf.len() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    while c.owed > 0 {
        let k = c.owed.min(BATCH);
        let bytes = &batch[c.offset..k * one.len()];
        match c.sock.write(bytes) {
            Ok(n) => {
                let done = (c.offset + n) / one.len();
                c.owed -= done;
                c.offset = (c.offset + n) % one.len();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}
