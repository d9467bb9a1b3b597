//! Both transports run the same state machine: these tests drive the HTTPS
//! listener with a real rustls client (generated and explicit certificates,
//! keep-alive, pipelining, writes, and a SIGHUP-style reload).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;

use availability_server::auth::HASH_FILE_NAME;
use availability_server::tls::{self, CERT_FILE_NAME, KEY_FILE_NAME};

use common::{TlsStream, start_https as https_server};

fn connect(addr: SocketAddr, trusted_cert: &Path) -> TlsStream {
    let config = tls::client_config_trusting(trusted_cert).expect("client config");
    common::tls_connect(addr, config)
}

/// Reads one response: (status, headers text, body).
fn read_response(
    stream: &mut impl Read,
    pending: &mut Vec<u8>,
) -> std::io::Result<(u16, String, Vec<u8>)> {
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .map(|v| v.trim().parse().expect("length"))
                .unwrap_or(0);
            while pending.len() < end + 4 + len {
                fill(stream, pending)?;
            }
            let body = pending[end + 4..end + 4 + len].to_vec();
            pending.drain(..end + 4 + len);
            return Ok((head[9..12].parse().expect("status"), head, body));
        }
        fill(stream, pending)?;
    }
}

fn fill(stream: &mut impl Read, pending: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 16384];
    let n = stream.read(&mut chunk)?;
    if n == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "closed",
        ));
    }
    pending.extend_from_slice(&chunk[..n]);
    Ok(())
}

fn get(stream: &mut TlsStream, pending: &mut Vec<u8>, path: &str) -> (u16, String, Vec<u8>) {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .expect("write");
    read_response(stream, pending).expect("response")
}

#[test]
fn generated_certificate_serves_reads_and_writes_with_keep_alive() {
    let server = https_server(|_| {});
    let cert = server.dir.join(CERT_FILE_NAME);
    assert!(
        cert.exists(),
        "a self-signed certificate is created in the data directory"
    );
    let mut stream = connect(server.addr, &cert);
    let mut pending = Vec::new();
    let (status, _, body) = get(&mut stream, &mut pending, "/availability?tz=Asia/Tokyo");
    assert_eq!(status, 200);
    let week: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(week["slots"].as_array().map(Vec::len), Some(336));

    let patch = r#"{"slots":[{"day":2,"time":"14:00","status":"maybe"}]}"#;
    let request = format!(
        "PATCH /availability HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\n\r\n{patch}",
        common::API_KEY,
        patch.len()
    );
    stream.write_all(request.as_bytes()).expect("write");
    let (status, _, body) = read_response(&mut stream, &mut pending).expect("response");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    // Same connection, after the write: the home-zone slot shows it.
    let (status, _, body) = get(
        &mut stream,
        &mut pending,
        "/availability/slot?tz=UTC&day=2&time=14:00",
    );
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("\"status\":\"maybe\""));
}

#[test]
fn pipelined_requests_over_tls_are_answered_in_order() {
    let server = https_server(|_| {});
    let mut stream = connect(server.addr, &server.dir.join(CERT_FILE_NAME));
    let mut batch = Vec::new();
    let slots = [0, 7, 13, 47, 21, 33, 2, 40];
    for slot in slots {
        batch.extend_from_slice(
            format!("GET /availability/slot?day=3&slot={slot} HTTP/1.1\r\nHost: x\r\n\r\n")
                .as_bytes(),
        );
    }
    batch.extend_from_slice(b"GET /availability/csv HTTP/1.1\r\nHost: x\r\n\r\n");
    stream.write_all(&batch).expect("write");
    let mut pending = Vec::new();
    for slot in slots {
        let (status, _, body) = read_response(&mut stream, &mut pending).expect("response");
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        let want = format!(
            "{:02}:{}",
            slot / 2,
            if slot % 2 == 1 { "30" } else { "00" }
        );
        assert_eq!(v["time"], want.as_str());
    }
    let (status, head, body) = read_response(&mut stream, &mut pending).expect("csv");
    assert_eq!(status, 200);
    assert!(head.contains("Content-Type: text/csv"));
    assert!(body.starts_with(b"Time,Monday"));
}

#[test]
fn a_burst_of_pipelined_requests_larger_than_rustls_buffers_is_answered() {
    let server = https_server(|_| {});
    let mut stream = connect(server.addr, &server.dir.join(CERT_FILE_NAME));
    let mut pending = Vec::new();
    assert_eq!(
        get(&mut stream, &mut pending, "/health").0,
        200,
        "handshake"
    );
    let count = 400;
    let mut batch = Vec::new();
    for i in 0..count {
        batch.extend_from_slice(
            format!(
                "GET /availability/slot?day=3&slot={} HTTP/1.1\r\nHost: x\r\n\r\n",
                i % 48
            )
            .as_bytes(),
        );
    }
    // Every record in one write: the server finds more ciphertext at once than rustls
    // holds undecrypted (18,437 bytes). It used to drop such a client unanswered.
    stream.conn.writer().write_all(&batch).expect("encrypt");
    let mut ciphertext = Vec::new();
    while stream.conn.wants_write() {
        stream.conn.write_tls(&mut ciphertext).expect("records");
    }
    assert!(ciphertext.len() > 20_000, "{} bytes", ciphertext.len());
    stream.sock.write_all(&ciphertext).expect("send");
    for i in 0..count {
        let (status, _, body) = read_response(&mut stream, &mut pending).expect("response");
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        let slot = i % 48;
        let want = format!(
            "{:02}:{}",
            slot / 2,
            if slot % 2 == 1 { "30" } else { "00" }
        );
        assert_eq!(v["time"], want.as_str(), "answer {i}");
    }
}

fn write_cert_pair(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    let cert = params.self_signed(&key).expect("cert");
    std::fs::create_dir_all(dir).expect("dir");
    let (cert_path, key_path) = (dir.join("explicit-cert.pem"), dir.join("explicit-key.pem"));
    std::fs::write(&cert_path, cert.pem()).expect("write cert");
    std::fs::write(&key_path, key.serialize_pem()).expect("write key");
    (cert_path, key_path)
}

#[test]
fn explicit_certificate_files_are_used() {
    let dir = common::temp_dir("certs");
    let (cert_path, key_path) = write_cert_pair(&dir);
    let (c, k) = (cert_path.clone(), key_path.clone());
    let server = https_server(move |config| {
        config.tls_cert = Some(c);
        config.tls_key = Some(k);
    });
    assert!(
        !server.dir.join(CERT_FILE_NAME).exists(),
        "nothing is generated when files are given"
    );
    let mut stream = connect(server.addr, &cert_path);
    let mut pending = Vec::new();
    assert_eq!(get(&mut stream, &mut pending, "/health").0, 200);
    use pki_types::pem::PemObject;
    let given = pki_types::CertificateDer::from_pem_file(&cert_path).expect("the given cert");
    let served = stream.conn.peer_certificates().expect("a served chain");
    assert_eq!(served, [given], "exactly the given certificate is served");
    // A client that trusts some other certificate is refused.
    let other_dir = common::temp_dir("other");
    let other = write_cert_pair(&other_dir).0;
    let mut wrong = connect(server.addr, &other);
    assert!(
        wrong
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .and_then(|_| wrong.flush())
            .is_err()
            || read_response(&mut wrong, &mut Vec::new()).is_err()
    );
}

#[test]
fn reload_swaps_the_certificate_without_dropping_connections() {
    let server = https_server(|_| {});
    let old_cert = server.dir.join(CERT_FILE_NAME);
    let old_copy = common::temp_dir("oldcert").with_extension("pem");
    std::fs::copy(&old_cert, &old_copy).expect("copy");
    let mut kept = connect(server.addr, &old_cert);
    let mut pending = Vec::new();
    assert_eq!(get(&mut kept, &mut pending, "/health").0, 200);

    // Replace the pair in the data directory and reload (what SIGHUP does).
    let fresh_dir = common::temp_dir("fresh");
    let (cert, key) = write_cert_pair(&fresh_dir);
    std::fs::copy(&cert, server.dir.join(CERT_FILE_NAME)).expect("cert");
    std::fs::copy(&key, server.dir.join(KEY_FILE_NAME)).expect("key");
    let reloaded = server.handle.reload();
    assert!(matches!(reloaded.certificate, Some(Ok(()))), "{reloaded:?}");
    assert!(reloaded.api_key.is_ok(), "{reloaded:?}");

    assert_eq!(
        get(&mut kept, &mut pending, "/health").0,
        200,
        "the open connection survives the reload"
    );
    let mut fresh = connect(server.addr, &cert);
    assert_eq!(
        get(&mut fresh, &mut Vec::new(), "/health").0,
        200,
        "new connections get the new certificate"
    );
    let mut stale = connect(server.addr, &old_copy);
    let refused = stale
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .and_then(|_| stale.flush())
        .is_err()
        || read_response(&mut stale, &mut Vec::new()).is_err();
    assert!(
        refused,
        "a client trusting only the old certificate is refused"
    );
    let _ = std::fs::remove_file(old_copy);
}

#[test]
fn a_reload_with_the_certificate_pair_gone_keeps_the_current_one_and_makes_none() {
    let server = https_server(|_| {});
    let cert = server.dir.join(CERT_FILE_NAME);
    let moved = common::created_dir("moved");
    std::fs::rename(&cert, moved.join(CERT_FILE_NAME)).expect("move cert");
    std::fs::rename(server.dir.join(KEY_FILE_NAME), moved.join(KEY_FILE_NAME)).expect("move key");
    let reloaded = server.handle.reload();
    let Some(Err(why)) = &reloaded.certificate else {
        panic!("the reload must fail: {reloaded:?}");
    };
    assert!(why.contains("missing"), "{why}");
    assert!(!cert.exists(), "no new self-signed certificate");
    // New connections still get the certificate in force.
    let mut stream = connect(server.addr, &moved.join(CERT_FILE_NAME));
    assert_eq!(get(&mut stream, &mut Vec::new(), "/health").0, 200);
}

/// PATCHes one cell with `key` over `stream`; returns the status.
fn patch_with(stream: &mut TlsStream, pending: &mut Vec<u8>, key: &str) -> u16 {
    let patch = r#"{"slots":[{"day":1,"slot":3,"status":"maybe"}]}"#;
    let request = format!(
        "PATCH /availability HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\nContent-Length: {}\r\n\r\n{patch}",
        patch.len()
    );
    stream.write_all(request.as_bytes()).expect("write");
    read_response(stream, pending).expect("response").0
}

#[test]
fn reload_swaps_the_key_even_when_the_certificate_is_bad_and_says_which_failed() {
    // The key comes from the hash file, so a reload can change it.
    let server = https_server(|c| c.api_key = None);
    assert!(server.handle.generated_key.is_some());
    let cert = server.dir.join(CERT_FILE_NAME);
    let trusted = common::temp_dir("trusted").with_extension("pem");
    std::fs::copy(&cert, &trusted).expect("copy");
    std::fs::write(&cert, "not a certificate").expect("spoil the certificate");
    let new_key = "a-new-key-after-sighup";
    let hash = bcrypt::hash(new_key, 4).expect("hash");
    std::fs::write(server.dir.join(HASH_FILE_NAME), format!("{hash}\n")).expect("hash file");

    let reloaded = server.handle.reload();
    assert!(matches!(reloaded.certificate, Some(Err(_))), "{reloaded:?}");
    assert!(reloaded.api_key.is_ok(), "{reloaded:?}");
    // The old certificate still serves; the new key works.
    let mut stream = connect(server.addr, &trusted);
    let mut pending = Vec::new();
    assert_eq!(patch_with(&mut stream, &mut pending, new_key), 200);

    // A bad hash file is reported, and the key in use stays.
    std::fs::write(server.dir.join(HASH_FILE_NAME), "not a hash\n").expect("hash file");
    let reloaded = server.handle.reload();
    assert!(reloaded.api_key.is_err(), "{reloaded:?}");
    assert_eq!(patch_with(&mut stream, &mut pending, new_key), 200);
    let _ = std::fs::remove_file(trusted);
}

#[test]
fn plaintext_on_the_tls_port_is_dropped_counted_and_the_server_carries_on() {
    let server = https_server(|c| {
        common::with_admin(c);
        c.workers = 1;
    });
    let mut raw = TcpStream::connect(server.addr).expect("connect");
    raw.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    raw.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut buf = Vec::new();
    let _ = raw.read_to_end(&mut buf); // an alert or nothing, then close
    assert!(!buf.starts_with(b"HTTP/1.1 200"));
    let mut stream = connect(server.addr, &server.dir.join(CERT_FILE_NAME));
    assert_eq!(get(&mut stream, &mut Vec::new(), "/health").0, 200);
    let admin = server.admin();
    let metrics = common::get(admin, "/metrics");
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(
        text.contains("availability_tls_errors_total{worker=\"0\"} 1\n"),
        "{text}"
    );
}

/// The end of a TLS client's stream right behind its request — a close_notify in the
/// same flight, or a bare TCP FIN with no close_notify — still gets the answer, and
/// then the close at once (not after the idle timeout).
#[test]
fn a_request_followed_at_once_by_the_clients_close_is_answered_then_closed() {
    let server = https_server(|_| {});
    let cert = server.dir.join(CERT_FILE_NAME);
    for with_close_notify in [true, false] {
        for round in 0..20 {
            let mut stream = connect(server.addr, &cert);
            stream
                .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .expect("write");
            if with_close_notify {
                stream.conn.send_close_notify();
            }
            stream.flush().expect("flush");
            if !with_close_notify {
                stream
                    .sock
                    .shutdown(std::net::Shutdown::Write)
                    .expect("half-close");
            }
            let started = std::time::Instant::now();
            let mut pending = Vec::new();
            let (status, _, _) = read_response(&mut stream, &mut pending)
                .unwrap_or_else(|e| panic!("close_notify {with_close_notify}, round {round}: {e}"));
            assert_eq!(status, 200);
            // Then the end of the stream, promptly (the read timeout is 10 s).
            let mut rest = [0u8; 64];
            let end = stream.read(&mut rest);
            assert!(matches!(end, Ok(0) | Err(_)), "{end:?}");
            assert!(started.elapsed() < std::time::Duration::from_secs(2));
        }
    }
}
