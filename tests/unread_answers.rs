//! A client that never reads its answers must not leave the server's kernel holding
//! them. Answers the client's window cannot take wait in the server's socket; a
//! socket closed with bytes still queued stays behind (FIN-WAIT-1) for as long as the
//! client acknowledges the kernel's zero-window probes, outside `--max-connections`
//! and with up to megabytes each (found by a black-box audit: 30 such connections
//! held 23.8 MB for minutes). The server's side of each socket is looked up in
//! `/proc/net/tcp`, which lists orphaned sockets too.

mod common;
#[path = "common/probe.rs"]
mod probe;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};

const WRITE_TIMEOUT_MS: u64 = 300;

/// A connected client whose receive buffer is as small as the kernel allows, set
/// before `connect` so the window it advertises stays small.
fn tiny_window_client(addr: SocketAddr) -> TcpStream {
    let SocketAddr::V4(v4) = addr else {
        panic!("the test server listens on IPv4");
    };
    // SAFETY: plain socket calls on a descriptor this function owns; errors checked.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let stream = TcpStream::from_raw_fd(fd);
        let rcvbuf_bytes: libc::c_int = 2048;
        let rc = libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &rcvbuf_bytes as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        assert_eq!(rc, 0, "SO_RCVBUF: {}", std::io::Error::last_os_error());
        let mut sin: libc::sockaddr_in = std::mem::zeroed();
        sin.sin_family = libc::AF_INET as libc::sa_family_t;
        sin.sin_port = v4.port().to_be();
        sin.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
        let rc = libc::connect(
            fd,
            &sin as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        assert_eq!(rc, 0, "connect: {}", std::io::Error::last_os_error());
        stream
    }
}

/// The TCP state (hex, as `/proc/net/tcp` gives it: `01` established, `04`
/// FIN-WAIT-1) of the server's end of the connection from `client_port`, if the kernel
/// still has one, and the bytes queued in it.
fn server_end(server_port: u16, client_port: u16) -> Option<(String, u64)> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let port = |field: &str| u16::from_str_radix(field.rsplit(':').next()?, 16).ok();
        if port(fields[1])? != server_port || port(fields[2])? != client_port {
            return None;
        }
        let tx_queue_bytes = u64::from_str_radix(fields[4].split(':').next()?, 16).ok()?;
        Some((fields[3].to_string(), tx_queue_bytes))
    })
}

/// Waits until the server's end of the connection is gone; on timeout, says what is left.
fn await_server_end_gone(
    server_port: u16,
    client_port: u16,
    within: Duration,
) -> Result<Duration, (String, u64)> {
    let start = Instant::now();
    loop {
        match server_end(server_port, client_port) {
            None => return Ok(start.elapsed()),
            Some(left) if start.elapsed() > within => return Err(left),
            Some(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Waits until the server's end holds bytes the client has not taken: the answer is
/// larger than the client's window.
fn await_bytes_queued_at_server_end(server_port: u16, client_port: u16) {
    let start = Instant::now();
    while server_end(server_port, client_port).is_none_or(|(_, queued_bytes)| queued_bytes == 0) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no bytes ever queued at the server's end"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn week_request(close: bool) -> String {
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!("GET /availability?tz=Asia/Tokyo HTTP/1.1\r\nHost: t\r\n{connection}\r\n")
}

/// Pipelined answers far beyond every buffer: the server cuts the client off 1 to
/// 1.25 write timeouts after it stopped taking bytes, with a reset, which leaves
/// nothing queued behind. (The kernel's own limit, TCP_USER_TIMEOUT, would end the
/// socket too, but not before two write timeouts; the deadline here is earlier.)
#[test]
fn a_reader_cut_off_mid_answer_is_reset_and_leaves_no_socket_behind() {
    const CUT_OFF_WRITE_TIMEOUT_MS: u64 = 1_500;
    let server = common::start(|c| c.write_timeout_ms = CUT_OFF_WRITE_TIMEOUT_MS);
    let mut client = tiny_window_client(server.addr);
    let client_port = client.local_addr().expect("addr").port();
    let pipeline = week_request(false).repeat(100); // ~2.3 MB of answers, 6 KB asked
    let sent = Instant::now();
    client.write_all(pipeline.as_bytes()).expect("send");
    let within = Duration::from_millis(CUT_OFF_WRITE_TIMEOUT_MS * 18 / 10);
    if let Err((state, queued_bytes)) =
        await_server_end_gone(server.addr.port(), client_port, within)
    {
        panic!(
            "the server's socket is still there in state {state} with {queued_bytes} bytes \
             queued, {within:?} after the request"
        );
    }
    assert!(sent.elapsed() >= Duration::from_millis(CUT_OFF_WRITE_TIMEOUT_MS));
    // The client is told, after the little its window had taken.
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut scratch = [0u8; 64 * 1024];
    let mut read_bytes = 0;
    let end = loop {
        match client.read(&mut scratch) {
            Ok(0) => break Ok(()),
            Ok(n) => read_bytes += n,
            Err(e) => break Err(e.kind()),
        }
    };
    assert_eq!(
        end,
        Err(ErrorKind::ConnectionReset),
        "after {read_bytes} bytes"
    );
}

/// An answer the server handed over whole before closing (`Connection: close`): once
/// our side is closed only the kernel holds the bytes, and it gives up on a client
/// that takes none of them for twice the write timeout (TCP_USER_TIMEOUT).
#[test]
fn an_answer_left_in_a_closed_socket_is_dropped_after_twice_the_write_timeout() {
    let server = common::start(|c| c.write_timeout_ms = WRITE_TIMEOUT_MS);
    let mut client = tiny_window_client(server.addr);
    let client_port = client.local_addr().expect("addr").port();
    client
        .write_all(week_request(true).as_bytes())
        .expect("send");
    await_bytes_queued_at_server_end(server.addr.port(), client_port);
    let within = Duration::from_millis(WRITE_TIMEOUT_MS * 10);
    if let Err((state, queued_bytes)) =
        await_server_end_gone(server.addr.port(), client_port, within)
    {
        panic!(
            "the server's socket is still there in state {state} with {queued_bytes} bytes \
             queued after {within:?}"
        );
    }
    drop(client);
}

/// The same answer on a kept-alive connection: the server handed it over whole and
/// holds nothing, so only the kernel can see that the client takes none of it. It
/// gives up on the socket after twice the write timeout, and the worker, told by
/// the error, frees the connection's slot then, not at the 60 s idle timeout.
#[test]
fn a_kept_alive_client_that_never_reads_is_dropped_after_twice_the_write_timeout() {
    let server = common::start(|c| {
        c.write_timeout_ms = WRITE_TIMEOUT_MS;
        common::with_admin(c);
        c.workers = 1;
    });
    let admin = server.admin();
    let open_connections = || {
        let text = common::get(admin, "/metrics").text();
        probe::count_in(&text, "availability_connections_open{worker=\"0\"}")
    };
    let mut client = tiny_window_client(server.addr);
    let client_port = client.local_addr().expect("addr").port();
    client
        .write_all(week_request(false).as_bytes())
        .expect("send");
    let start = Instant::now();
    await_bytes_queued_at_server_end(server.addr.port(), client_port);
    // This client and the one asking for metrics.
    assert_eq!(open_connections(), 2);
    let within = Duration::from_millis(WRITE_TIMEOUT_MS * 10);
    while open_connections() > 1 {
        assert!(
            start.elapsed() < within,
            "the connection is still open after {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(server_end(server.addr.port(), client_port).is_none());
    drop(client);
}
