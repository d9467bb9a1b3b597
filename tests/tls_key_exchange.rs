//! Key exchange over the HTTPS listener: a client offering the post-quantum hybrid
//! X25519MLKEM768 first (as rustls' and browsers' defaults do) gets it in one round
//! trip, and clients offering only a classical group, or only TLS 1.2, still connect.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use availability_server::tls::CERT_FILE_NAME;
use pki_types::CertificateDer;
use pki_types::pem::PemObject;
use rustls::crypto::{SupportedKxGroup, aws_lc_rs};
use rustls::{ClientConfig, HandshakeKind, NamedGroup, ProtocolVersion};

fn https_server() -> common::TestServer {
    common::start_https(|_| {})
}

/// A client trusting `cert`, offering `kx_groups` in that order (None: the provider's
/// defaults) and the given protocol versions.
fn client_config(
    cert: &Path,
    kx_groups: Option<Vec<&'static dyn SupportedKxGroup>>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let mut provider = aws_lc_rs::default_provider();
    if let Some(groups) = kx_groups {
        provider.kx_groups = groups;
    }
    let mut roots = rustls::RootCertStore::empty();
    for der in CertificateDer::pem_file_iter(cert).expect("cert file") {
        roots.add(der.expect("cert")).expect("root");
    }
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Does one GET of the slot answer over a fresh connection and returns what the
/// handshake settled on: (group, version, handshake kind).
fn handshake_and_get(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> (NamedGroup, ProtocolVersion, HandshakeKind) {
    let mut stream = common::tls_connect(addr, config);
    stream
        .write_all(
            b"GET /availability/slot?tz=UTC&day=0&time=09:00 HTTP/1.1\r\n\
              Host: localhost\r\nConnection: close\r\n\r\n",
        )
        .expect("write");
    let mut response = Vec::new();
    // The server closes after the answer; rustls reports a clean close as EOF.
    stream.read_to_end(&mut response).expect("read");
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    assert!(text.contains("\"status\":"), "{text}");
    let group = stream
        .conn
        .negotiated_key_exchange_group()
        .expect("a group")
        .name();
    let version = stream.conn.protocol_version().expect("a version");
    let kind = stream.conn.handshake_kind().expect("a handshake kind");
    (group, version, kind)
}

#[test]
fn a_default_client_gets_the_post_quantum_hybrid_in_one_round_trip() {
    let server = https_server();
    let cert = server.dir.join(CERT_FILE_NAME);
    let all = rustls::ALL_VERSIONS;
    let (group, version, kind) = handshake_and_get(server.addr, client_config(&cert, None, all));
    assert_eq!(group, NamedGroup::X25519MLKEM768);
    assert_eq!(version, ProtocolVersion::TLSv1_3);
    assert_eq!(kind, HandshakeKind::Full, "no HelloRetryRequest");

    // The server's own client configuration (tests, tools) offers it too.
    let ours = availability_server::tls::client_config_trusting(&cert).expect("config");
    let (group, _, _) = handshake_and_get(server.addr, ours);
    assert_eq!(group, NamedGroup::X25519MLKEM768);
}

#[test]
fn clients_offering_only_a_classical_group_still_connect() {
    let server = https_server();
    let cert = server.dir.join(CERT_FILE_NAME);
    let all = rustls::ALL_VERSIONS;
    for (offered, want) in [
        (aws_lc_rs::kx_group::X25519, NamedGroup::X25519),
        (aws_lc_rs::kx_group::SECP256R1, NamedGroup::secp256r1),
        (aws_lc_rs::kx_group::SECP384R1, NamedGroup::secp384r1),
    ] {
        let config = client_config(&cert, Some(vec![offered]), all);
        let (group, version, kind) = handshake_and_get(server.addr, config);
        assert_eq!((group, version), (want, ProtocolVersion::TLSv1_3));
        assert_eq!(kind, HandshakeKind::Full, "{want:?}: no HelloRetryRequest");
    }
    // TLS 1.2 has no hybrid: the client's first classical group is used.
    let config = client_config(&cert, None, &[&rustls::version::TLS12]);
    let (group, version, _) = handshake_and_get(server.addr, config);
    assert_eq!(version, ProtocolVersion::TLSv1_2);
    assert_ne!(group, NamedGroup::X25519MLKEM768);
}

#[test]
fn the_clients_order_of_groups_decides_without_a_retry() {
    // A client that supports the hybrid but prefers X25519 (and so sends only an
    // X25519 share) gets X25519: the server follows the client's order rather than
    // asking for the hybrid with a HelloRetryRequest.
    let server = https_server();
    let cert = server.dir.join(CERT_FILE_NAME);
    let groups = vec![
        aws_lc_rs::kx_group::X25519,
        aws_lc_rs::kx_group::X25519MLKEM768,
    ];
    let config = client_config(&cert, Some(groups), rustls::ALL_VERSIONS);
    let (group, _, kind) = handshake_and_get(server.addr, config);
    assert_eq!(group, NamedGroup::X25519, "the client's order wins");
    assert_eq!(kind, HandshakeKind::Full);
}
