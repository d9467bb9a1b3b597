//! `--tls` against a rustls server using the test certificate in tests/data (a CA and a
//! leaf for 127.0.0.1 made with openssl; see tests/data/README.md).

mod support;

use std::sync::Arc;

use pki_types::pem::PemObject;
use pki_types::{CertificateDer, PrivateKeyDer};
use support::{Reply, Req, fixed, loadgen_fails, loadgen_json, num, spawn_with};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn ok_handler(_: &Req, _: u64) -> Option<Reply> {
    Some(fixed("200 OK", "secure", ""))
}

fn tls_server() -> support::Server {
    tls_server_with_groups(None)
}

/// A rustls server; `groups` limits the key exchange groups it accepts.
fn tls_server_with_groups(
    groups: Option<Vec<&'static dyn rustls::crypto::SupportedKxGroup>>,
) -> support::Server {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(format!("{DATA}/cert.pem"))
            .expect("cert file")
            .collect::<Result<_, _>>()
            .expect("cert pem");
    let key = PrivateKeyDer::from_pem_file(format!("{DATA}/key.pem")).expect("key pem");
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if let Some(groups) = groups {
        provider.kx_groups = groups;
    }
    let provider = Arc::new(provider);
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    spawn_with(ok_handler, Some(Arc::new(config)))
}

fn https(server: &support::Server) -> String {
    format!("https://{}/", server.addr)
}

#[test]
fn cacert_trusts_the_server() {
    let server = tls_server();
    let ca = format!("{DATA}/ca.pem");
    let v = loadgen_json(&[
        "-c",
        "3",
        "--max-requests",
        "200",
        "--cacert",
        &ca,
        &https(&server),
    ]);
    assert_eq!(num(&v, &["requests"]), 200);
    assert_eq!(num(&v, &["status", "200"]), 200);
    assert_eq!(num(&v, &["errors", "connect"]), 0);
    assert_eq!(server.answered(), 200);
}

#[test]
fn insecure_accepts_the_server_and_close_mode_handshakes_each_time() {
    let server = tls_server();
    let v = loadgen_json(&[
        "-c",
        "2",
        "--insecure",
        "--close",
        "--max-requests",
        "40",
        &https(&server),
    ]);
    assert_eq!(num(&v, &["requests"]), 40);
    assert_eq!(num(&v, &["reconnects"]), 38);
}

/// A pipelined batch larger than what rustls buffers (64 KiB) goes out whole, also
/// when it is queued before the handshake has finished.
#[test]
fn a_pipelined_batch_past_64_kib_is_sent_whole() {
    let server = tls_server();
    let url = format!("{}{}", https(&server), "a".repeat(200));
    let v = loadgen_json(&[
        "-c",
        "1",
        "--pipeline",
        "1024",
        "--max-requests",
        "3072",
        "--insecure",
        &url,
    ]);
    assert_eq!(num(&v, &["requests"]), 3072, "{v}");
    assert_eq!(num(&v, &["status", "200"]), 3072, "{v}");
    assert_eq!(num(&v, &["issued"]), 3072, "{v}");
    for kind in ["connect", "read", "write", "timeout", "parse"] {
        assert_eq!(num(&v, &["errors", kind]), 0, "{kind}: {v}");
    }
    assert_eq!(server.answered(), 3072);
}

/// `--tls-groups` decides what is offered: against a server that accepts only the
/// post-quantum hybrid, the default list connects and X25519 alone cannot.
#[test]
fn tls_groups_decide_the_key_exchange_offered() {
    use rustls::crypto::aws_lc_rs::kx_group;
    let server = tls_server_with_groups(Some(vec![kx_group::X25519MLKEM768]));
    let v = loadgen_json(&["--max-requests", "10", "--insecure", &https(&server)]);
    assert_eq!(num(&v, &["status", "200"]), 10, "{v}");
    let v = loadgen_json(&[
        "-d",
        "300ms",
        "--tls-groups",
        "X25519",
        "--insecure",
        &https(&server),
    ]);
    assert_eq!(num(&v, &["requests"]), 0, "{v}");
    assert!(num(&v, &["errors", "connect"]) >= 1, "{v}");
    let v = loadgen_json(&[
        "--max-requests",
        "10",
        "--tls-groups",
        "X25519:X25519MLKEM768",
        "--insecure",
        &https(&server),
    ]);
    assert_eq!(
        num(&v, &["status", "200"]),
        10,
        "a retry for the hybrid: {v}"
    );
    assert_eq!(server.answered(), 20);
}

#[test]
fn wrong_ca_fails_the_handshake() {
    let server = tls_server();
    let other = format!("{DATA}/other-ca.pem");
    let v = loadgen_json(&[
        "-c",
        "1",
        "-d",
        "300ms",
        "--cacert",
        &other,
        &https(&server),
    ]);
    assert_eq!(num(&v, &["requests"]), 0);
    assert!(num(&v, &["errors", "connect"]) >= 1, "{v}");
    assert_eq!(server.answered(), 0);
}

#[test]
fn tls_without_trust_choice_is_refused() {
    let (code, stderr) = loadgen_fails(&["-d", "1s", "https://127.0.0.1:1/"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--insecure"), "{stderr}");
}

/// A server that accepts and never answers the TLS handshake: the requests never
/// reached it, so each timed-out handshake is a connect error and the requests are
/// kept for the next attempt, not dropped as response timeouts.
#[test]
fn a_handshake_that_never_finishes_is_a_connect_error() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("https://{}/", silent.local_addr().expect("addr"));
    let v = loadgen_json(&[
        "-c",
        "2",
        "-d",
        "700ms",
        "--timeout",
        "150ms",
        "--insecure",
        &url,
    ]);
    assert!(num(&v, &["errors", "connect"]) >= 4, "{v}");
    assert_eq!(num(&v, &["errors", "timeout"]), 0, "{v}");
    assert_eq!(num(&v, &["dropped"]), 0, "{v}");
    assert_eq!(num(&v, &["issued"]), 0, "nothing reached a server: {v}");
    assert_eq!(num(&v, &["requests"]), 0, "{v}");
    drop(silent);
}
