//! Listening sockets: one `SO_REUSEPORT` socket per worker and address, so the
//! kernel spreads connections across workers with no shared accept queue.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd};

const BACKLOG: libc::c_int = 4096;

/// A [`bound_socket`], listening.
fn listening(
    addr: SocketAddr,
    reuseport: bool,
    write_timeout_ms: u64,
) -> io::Result<std::net::TcpListener> {
    let listener = bound_socket(addr, reuseport, write_timeout_ms)?;
    // Safety: listen(2) on a descriptor we own; the error is checked.
    if unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(listener)
}

/// The kernel's limit on how long a peer may leave our bytes untaken
/// (TCP_USER_TIMEOUT, see `bound_socket`): twice the write timeout, so that on an
/// open connection our own cut-off (1 to 1.25 write timeouts) always comes first, and
/// the kernel's only bounds what a closed socket was left holding.
fn unacked_limit_ms(write_timeout_ms: u64) -> u32 {
    write_timeout_ms.saturating_mul(2).min(i32::MAX as u64) as u32
}

/// Fails with `AddrInUse` when some socket already listens on `addr`.
///
/// SO_REUSEPORT would let our group join a listener of another process of the same
/// user (a second server on another data directory, say) and silently split the
/// connections with it. A socket bound without SO_REUSEPORT cannot share the port, so
/// binding one first and closing it tells whether the port is free. Another process
/// could still take the port between the probe and our bind; that window is a few
/// microseconds at start-up.
fn check_port_free(addr: SocketAddr) -> io::Result<()> {
    if addr.port() == 0 {
        return Ok(()); // The kernel picks a free port.
    }
    bound_socket(addr, false, 0).map(drop)
}

/// A non-blocking TCP socket bound to `addr`, with SO_REUSEADDR (so connections in
/// TIME_WAIT do not block a restart), optionally SO_REUSEPORT, TCP_NODELAY, and
/// TCP_USER_TIMEOUT = [`unacked_limit_ms`] of the write timeout (0: the kernel's
/// default).
///
/// Linux copies a listener's options into every socket `accept` returns, so setting
/// them here, before `listen`, saves `setsockopt`s per connection (issue 3's syscall
/// budget); set after `listen`, connections already queued would miss them.
/// `an_accepted_socket_inherits_its_options` checks that the kernel still copies them.
///
/// TCP_USER_TIMEOUT bounds how long the kernel keeps bytes a peer does not take: sent
/// and never acknowledged, or waiting behind a window the peer keeps at zero while it
/// answers the kernel's probes (since Linux 5.11). Without it such a socket, once we
/// close it, stays in FIN-WAIT-1 with what it holds for as long as the peer answers,
/// outside any limit of ours.
fn bound_socket(
    addr: SocketAddr,
    reuseport: bool,
    write_timeout_ms: u64,
) -> io::Result<std::net::TcpListener> {
    let unacked_limit_ms = unacked_limit_ms(write_timeout_ms);
    let (domain, storage, len) = sockaddr_of(addr);
    // Safety: plain socket syscalls on a descriptor we own; errors are checked.
    unsafe {
        let fd = libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        );
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // Owning it first means every early return closes the descriptor.
        let listener = std::net::TcpListener::from_raw_fd(fd);
        let one: libc::c_int = 1;
        let options: &[libc::c_int] = if reuseport {
            &[libc::SO_REUSEADDR, libc::SO_REUSEPORT]
        } else {
            &[libc::SO_REUSEADDR]
        };
        let socket_options = options
            .iter()
            .map(|&option| (libc::SOL_SOCKET, option, one))
            .chain([(libc::IPPROTO_TCP, libc::TCP_NODELAY, one)])
            .chain((unacked_limit_ms > 0).then_some((
                libc::IPPROTO_TCP,
                libc::TCP_USER_TIMEOUT,
                unacked_limit_ms.min(libc::c_int::MAX as u32) as libc::c_int,
            )));
        for (level, option, value) in socket_options {
            let rc = libc::setsockopt(
                fd,
                level,
                option,
                &value as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        if domain == libc::AF_INET6 {
            libc::setsockopt(
                fd,
                libc::IPPROTO_IPV6,
                libc::IPV6_V6ONLY,
                &one as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        if libc::bind(fd, &storage as *const _ as *const libc::sockaddr, len) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(listener)
    }
}

/// Binds one non-blocking listener without SO_REUSEPORT (the admin listener: one
/// socket, on one worker), set up like the public ones.
pub fn bind_single(addr: SocketAddr, write_timeout_ms: u64) -> io::Result<std::net::TcpListener> {
    listening(addr, false, write_timeout_ms)
}

/// Whether TCP_NODELAY is set on `listener`, and so on every socket it accepts. The
/// runtime checks its listeners with this at start instead of setting the option on
/// each connection.
pub fn has_nodelay(listener: &std::net::TcpListener) -> io::Result<bool> {
    Ok(tcp_option(listener, libc::TCP_NODELAY)? != 0)
}

/// The value of an `IPPROTO_TCP` option that is an int.
fn tcp_option(socket: &impl AsRawFd, option: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // Safety: getsockopt(2) into a c_int we own, with its length; the error is checked.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            option,
            &mut value as *mut _ as *mut libc::c_void,
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value)
}

fn sockaddr_of(addr: SocketAddr) -> (libc::c_int, libc::sockaddr_storage, libc::socklen_t) {
    // Safety: sockaddr_storage is plain old data; zero is a valid bit pattern.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // Safety: sockaddr_storage is large enough and suitably aligned for sockaddr_in.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
            (
                libc::AF_INET,
                storage,
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            };
            // Safety: as above, for sockaddr_in6.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
            (
                libc::AF_INET6,
                storage,
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        }
    }
}

/// Binds `count` SO_REUSEPORT listeners on one address. With port 0 the first bind picks the
/// port and the rest reuse it, so every worker shares one public port.
pub fn bind_group(
    addr: SocketAddr,
    count: usize,
    write_timeout_ms: u64,
) -> io::Result<Vec<std::net::TcpListener>> {
    assert!(count > 0);
    check_port_free(addr)?;
    let first = listening(addr, true, write_timeout_ms)?;
    let bound = first.local_addr()?;
    let mut group = vec![first];
    for _ in 1..count {
        group.push(listening(bound, true, write_timeout_ms)?);
    }
    Ok(group)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_someone_listens_on_is_refused_even_with_reuseport() {
        let other = bind_group("127.0.0.1:0".parse().expect("addr"), 1, 0).expect("bind");
        let taken = other[0].local_addr().expect("addr");
        let err = bind_group(taken, 2, 0).expect_err("the port is taken");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        drop(other);
        // Free again once the other listener is gone.
        assert_eq!(bind_group(taken, 2, 0).expect("bind").len(), 2);
    }

    #[test]
    fn an_accepted_socket_inherits_its_options() {
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let ours = [
            // A 617 ms write timeout: the kernel's limit is twice that.
            bind_group(addr, 1, 617).expect("bind").remove(0),
            bind_single(addr, 617).expect("bind"),
        ];
        let plain = std::net::TcpListener::bind(addr).expect("bind");
        for (listener, ours) in [(&ours[0], true), (&ours[1], true), (&plain, false)] {
            assert_eq!(has_nodelay(listener).expect("getsockopt"), ours);
            let _client = std::net::TcpStream::connect(listener.local_addr().expect("addr"))
                .expect("connect");
            listener.set_nonblocking(false).expect("blocking");
            let (accepted, _) = listener.accept().expect("accept");
            assert_eq!(accepted.nodelay().expect("getsockopt"), ours);
            let user_timeout_ms = tcp_option(&accepted, libc::TCP_USER_TIMEOUT).expect("get");
            assert_eq!(user_timeout_ms, if ours { 1_234 } else { 0 });
        }
    }

    /// An IPv6 listener is IPv6-only (README: IPv4 clients then always arrive on an
    /// IPv4 listener with their own address, not as IPv4-mapped ones).
    #[test]
    fn an_ipv6_listener_takes_no_ipv4_clients() {
        let any_v6: SocketAddr = "[::]:0".parse().expect("addr");
        let group = match bind_group(any_v6, 1, 0) {
            Ok(group) => group,
            Err(e) => return eprintln!("SKIPPED: no IPv6 here ({e})"),
        };
        let single = bind_single(any_v6, 0).expect("bind");
        for listener in [&group[0], &single] {
            let port = listener.local_addr().expect("addr").port();
            let Ok(_v6) = std::net::TcpStream::connect(("::1", port)) else {
                return eprintln!("SKIPPED: no IPv6 loopback here");
            };
            listener.set_nonblocking(false).expect("blocking");
            listener.accept().expect("accept the IPv6 client");
            // Refused, or taken by some other socket on that IPv4 port: never ours.
            let _v4 = std::net::TcpStream::connect(("127.0.0.1", port));
            std::thread::sleep(std::time::Duration::from_millis(50));
            listener.set_nonblocking(true).expect("nonblocking");
            let err = listener
                .accept()
                .expect_err("no IPv4 client for an IPv6 listener");
            assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        }
    }

    #[test]
    fn a_group_shares_one_ephemeral_port() {
        let group = bind_group("127.0.0.1:0".parse().expect("addr"), 3, 0).expect("bind");
        let port = group[0].local_addr().expect("addr").port();
        assert_ne!(port, 0);
        assert!(
            group
                .iter()
                .all(|l| l.local_addr().expect("addr").port() == port)
        );
    }
}
