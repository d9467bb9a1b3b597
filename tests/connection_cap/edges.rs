//! Edges of slot reuse found in review: an event of the closed connection must not
//! reach the newcomer in its slot, an admin connection is never cut off for a public
//! newcomer, open admin connections do not count against the public share, and a TLS
//! connection receiving a request record is not quiet.

use super::*;

/// Each newcomer takes the slot of the oldest idle connection while that one's client
/// closes it at the same moment: the FIN may land in the same event batch as the
/// newcomer. Handled after the accept, it would reach the newcomer (same slot, same
/// token), whose answer would then say `Connection: close`.
#[test]
fn an_event_of_the_closed_connection_never_reaches_the_newcomer_in_its_slot() {
    let server = common::start(|c| {
        cap_of_4(c);
        c.max_connections = 32;
    });
    let mut closed_answers = 0;
    for _round in 0..2 {
        let mut held = idle_clients(server.addr, 32, Duration::from_millis(2));
        std::thread::sleep(MIN_QUIET + Duration::from_millis(100));
        let mut newcomers = Vec::new();
        for oldest in held.drain(..) {
            let mut newcomer = Client::connect(server.addr);
            drop(oldest);
            let answer = newcomer.get("/health");
            assert_eq!(answer.status, 200);
            if answer
                .header("Connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"))
            {
                closed_answers += 1;
            }
            newcomers.push(newcomer);
        }
        drop(newcomers);
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(closed_answers, 0, "newcomers told Connection: close");
}

/// A stalled admin connection holds a buffer like any other, but a public newcomer
/// takes only public slots: with none quiet or stalled yet it waits, until one of the
/// public connections has been idle for a second.
#[test]
fn a_public_newcomer_never_cuts_off_an_admin_connection() {
    // A cap of 8: 8 buffers, enough for every request here (idle connections hold none).
    let (server, admin) = start_with_admin(8);
    let mut probe = TcpStream::connect(admin).expect("connect admin");
    probe
        .write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n")
        .expect("send");
    let _busy: Vec<Trickler> = (0..3).map(|_| Trickler::start(server.addr)).collect();
    std::thread::sleep(Duration::from_millis(800));
    let mut idle = idle_clients(server.addr, 5, Duration::ZERO);
    // The admin probe has now stalled for over a second; the idle ones are young.
    std::thread::sleep(Duration::from_millis(300));
    let mut newcomer = fifth(server.addr);
    assert!(responds_within(&mut newcomer, Duration::from_secs(3)));
    probe
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut got = Vec::new();
    let _ = probe.read_to_end(&mut got);
    assert!(
        got.is_empty(),
        "the admin connection was answered {:?}",
        String::from_utf8_lossy(&got)
    );
    assert_eq!(reuses(admin), 1, "an idle public one made room");
    let closed = idle
        .iter_mut()
        .map(|c| is_closed(&mut c.stream))
        .filter(|&closed| closed)
        .count();
    assert_eq!(closed, 1);
}

/// Whether the server has closed `stream` (nothing to read, and the end).
fn is_closed(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(n) => n == 0,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

/// The public share is the cap: an open admin connection uses the admin reserve, so
/// a fourth public connection beside it takes a free slot and closes nobody.
#[test]
fn open_admin_connections_do_not_shrink_the_public_share() {
    let (server, admin) = start_with_admin(4);
    let mut scraper = Client::connect(admin);
    assert_eq!(scraper.get("/metrics").status, 200);
    let mut held = idle_clients(server.addr, 3, Duration::from_millis(20));
    std::thread::sleep(MIN_QUIET + Duration::from_millis(100));
    let mut fourth = Client::connect(server.addr);
    assert_eq!(fourth.get("/health").status, 200);
    for (i, client) in held.iter_mut().enumerate() {
        assert_eq!(client.get("/health").status, 200, "idle connection {i}");
    }
    assert_eq!(scraper.get("/health").status, 200);
    assert_eq!(reuses(admin), 0);
}

/// A TLS server with a cap of one public connection, and its admin address.
fn start_tls_cap_of_1() -> (common::TestServer, SocketAddr) {
    let server = common::start(|c| {
        cap_of_4(c);
        c.max_connections = 1;
        c.no_tls = false;
        c.https_listen = Some("127.0.0.1:0".parse().expect("addr"));
        c.http_listen = None;
        common::with_admin(c);
    });
    let admin = server.admin();
    (server, admin)
}

/// A TLS client of `server` (trusting its generated certificate) that has had one
/// answer on its keep-alive connection, if `one_request`; else one that has only
/// connected (its ClientHello not yet written).
fn tls_client(
    server: &common::TestServer,
    one_request: bool,
) -> (rustls::ClientConnection, TcpStream) {
    use availability_server::tls;
    let cert = server.dir.join(tls::CERT_FILE_NAME);
    let config = tls::client_config_trusting(&cert).expect("client config");
    let name = pki_types::ServerName::try_from("localhost").expect("name");
    let mut tls = rustls::ClientConnection::new(config, name).expect("client");
    let mut tcp = TcpStream::connect(server.addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    if one_request {
        let mut stream = rustls::Stream::new(&mut tls, &mut tcp);
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .expect("send");
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).expect("answer");
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    }
    (tls, tcp)
}

/// The TLS record of a request with a 12 KB header, queued in `tls`'s output.
fn queue_long_request(tls: &mut rustls::ClientConnection) {
    let pad = "a".repeat(12_000);
    let request = format!("GET /health HTTP/1.1\r\nHost: localhost\r\nX-Pad: {pad}\r\n\r\n");
    tls.writer()
        .write_all(request.as_bytes())
        .expect("plaintext");
}

/// Over TLS a request arrives as records: until a whole one is in there is no
/// plaintext, and the connection must not pass for a quiet one meanwhile.
#[test]
fn a_tls_connection_receiving_a_request_record_is_not_quiet() {
    let (server, admin) = start_tls_cap_of_1();
    let (mut tls, mut tcp) = tls_client(&server, true);
    std::thread::sleep(MIN_QUIET + Duration::from_millis(200));
    // The next request: one ~12 KB record, its first half sent at 10 KB/s.
    queue_long_request(&mut tls);
    let mut record = Vec::new();
    tls.write_tls(&mut record).expect("record");
    let first_half = record[..record.len() / 2].to_vec();
    let mut writer = tcp.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        for chunk in first_half.chunks(200) {
            if writer.write_all(chunk).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let _newcomer = TcpStream::connect(server.addr).expect("the kernel accepts it");
    tcp.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut byte = [0u8; 1];
    let closed = match tcp.read(&mut byte) {
        Ok(_) => true, // a close_notify, or the end
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    };
    sender.join().expect("sender");
    assert!(!closed, "closed while its request arrived at 10 KB/s");
    assert_eq!(reuses(admin), 0);
}

/// Sends `bytes` 3 at a time every 100 ms (30 B/s, far under the 1 KB/s floor)
/// until done or `stop`.
fn trickle_bytes(mut stream: TcpStream, bytes: Vec<u8>, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for chunk in bytes.chunks(3) {
            if stop.load(Ordering::Acquire) || stream.write_all(chunk).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
}

/// Whether a newcomer made room (a slot reuse counted) within 4 s of connecting.
fn a_newcomer_makes_room(server: SocketAddr, admin: SocketAddr) -> bool {
    let _newcomer = TcpStream::connect(server).expect("the kernel accepts it");
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        if reuses(admin) > 0 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A TLS client that sends its handshake, or its next request's record, at 30 B/s
/// has no plaintext to show and holds no buffer, yet is as slow as a slowloris head:
/// a newcomer at the cap takes its slot.
#[test]
fn a_tls_connection_trickling_a_handshake_or_a_record_makes_room() {
    for next_record in [false, true] {
        let (server, admin) = start_tls_cap_of_1();
        let (mut tls, tcp) = tls_client(&server, next_record);
        if next_record {
            queue_long_request(&mut tls);
        }
        let mut bytes = Vec::new();
        tls.write_tls(&mut bytes)
            .expect("a ClientHello or a record");
        let stop = Arc::new(AtomicBool::new(false));
        let writer = trickle_bytes(tcp.try_clone().expect("clone"), bytes, stop.clone());
        std::thread::sleep(Duration::from_millis(1500));
        let made = a_newcomer_makes_room(server.addr, admin);
        stop.store(true, Ordering::Release);
        writer.join().expect("trickler");
        assert!(
            made,
            "next_record = {next_record}: the trickler kept the slot"
        );
    }
}

/// Admin connections beyond the admin reserve wait for an admin slot (here the oldest
/// quiet admin one's, after a second) instead of taking public ones: the one public
/// connection of a share of two stays.
#[test]
fn admin_connections_beyond_the_reserve_take_admin_slots_only() {
    let (server, admin) = start_with_admin(2);
    let mut first = Client::connect(server.addr);
    assert_eq!(first.get("/health").status, 200);
    let mut scrapers = idle_clients(admin, 5, Duration::ZERO);
    assert!(
        is_closed(&mut scrapers[0].stream),
        "the oldest admin one made room"
    );
    std::thread::sleep(MIN_QUIET + Duration::from_millis(200));
    let mut second = Client::connect(server.addr);
    assert_eq!(second.get("/health").status, 200);
    assert!(
        !is_closed(&mut first.stream),
        "a public connection made room"
    );
    assert_eq!(first.get("/health").status, 200);
}
