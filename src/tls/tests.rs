//! Unit tests of certificate loading, generation and reload.

use super::*;
use std::os::unix::fs::PermissionsExt;

/// A fresh empty directory under the system temp dir.
fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("ops-tls-{}-{n}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Runs a TLS handshake between the two ends through in-memory buffers and sends one
/// message from client to server.
fn handshake(
    client_config: std::sync::Arc<rustls::ClientConfig>,
    server_config: std::sync::Arc<rustls::ServerConfig>,
    server_name: &str,
) -> Result<Option<Vec<u8>>, rustls::Error> {
    use std::io::{Read, Write};
    let name = rustls::pki_types::ServerName::try_from(server_name.to_string()).expect("name");
    let mut client = rustls::ClientConnection::new(client_config, name)?;
    let mut server = rustls::ServerConnection::new(server_config)?;
    client
        .writer()
        .write_all(b"GET /health")
        .expect("buffer plaintext");
    for _ in 0..10 {
        let mut wire = Vec::new();
        client.write_tls(&mut wire).expect("client write");
        let mut input = &wire[..];
        while !input.is_empty() {
            server.read_tls(&mut input).expect("server read");
        }
        server.process_new_packets()?;
        wire.clear();
        server.write_tls(&mut wire).expect("server write");
        let mut input = &wire[..];
        while !input.is_empty() {
            client.read_tls(&mut input).expect("client read");
        }
        client.process_new_packets()?;
        let mut received = [0u8; 64];
        if let Ok(n) = server.reader().read(&mut received) {
            assert_eq!(&received[..n], b"GET /health");
            assert!(!server.is_handshaking());
            return Ok(server.alpn_protocol().map(<[u8]>::to_vec));
        }
    }
    panic!("handshake did not finish in 10 round trips");
}

#[test]
fn tls_generate_reload_and_handshake() {
    let dir = temp_dir("tls");
    // A stale, world-readable temporary key file must not lend the key its mode.
    let stale = dir.join(format!("{KEY_FILE_NAME}.tmp"));
    fs::write(&stale, "left over").expect("stale tmp");
    fs::set_permissions(&stale, fs::Permissions::from_mode(0o644)).expect("chmod");
    let generated = load_or_generate(&dir, None, None).expect("generate");
    let cert_path = dir.join(CERT_FILE_NAME);
    assert_eq!(generated.generated_at.as_deref(), Some(cert_path.as_path()));
    let key_mode = fs::metadata(dir.join(KEY_FILE_NAME))
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);
    let cert_text = fs::read_to_string(&cert_path).expect("cert");
    assert!(cert_text.starts_with("-----BEGIN CERTIFICATE-----"));
    // The temporary names are gone: no second link to the private key stays behind.
    for name in [KEY_FILE_NAME, CERT_FILE_NAME] {
        let tmp = dir.join(format!("{name}.tmp"));
        assert!(!tmp.exists(), "{} left behind", tmp.display());
    }

    let reloaded = load_or_generate(&dir, None, None).expect("reload");
    assert!(reloaded.generated_at.is_none());
    assert_eq!(
        fs::read_to_string(&cert_path).expect("cert"),
        cert_text,
        "not replaced"
    );
    let client = client_config_trusting(&cert_path).expect("client config");
    for name in ["localhost", "127.0.0.1", "::1"] {
        let alpn = handshake(client.clone(), reloaded.server_config.clone(), name)
            .unwrap_or_else(|e| panic!("handshake as {name}: {e}"));
        assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    }
    // The name must be one the certificate covers.
    assert!(
        handshake(
            client.clone(),
            reloaded.server_config.clone(),
            "example.com"
        )
        .is_err()
    );
    // Explicit paths load the same files.
    let explicit = load_or_generate(
        Path::new("/nonexistent"),
        Some(&cert_path),
        Some(&dir.join(KEY_FILE_NAME)),
    )
    .expect("explicit paths");
    assert!(handshake(client.clone(), explicit.server_config.clone(), "localhost").is_ok());
    // ALPN: http/1.1 first, http/1.0 for a client offering only that, never h2.
    for (offered, chosen) in [
        (
            &[&b"h2"[..], b"http/1.1", b"http/1.0"][..],
            Some(&b"http/1.1"[..]),
        ),
        (&[b"http/1.0"], Some(b"http/1.0")),
        (&[b"h2"], None),
    ] {
        let mut offering = (*client).clone();
        offering.alpn_protocols = offered.iter().map(|p| p.to_vec()).collect();
        let result = handshake(
            Arc::new(offering),
            explicit.server_config.clone(),
            "localhost",
        );
        match chosen {
            Some(chosen) => assert_eq!(result.expect("handshake").as_deref(), Some(chosen)),
            None => assert!(result.is_err(), "h2 only must be refused"),
        }
    }

    // A client trusting another self-signed certificate refuses this server.
    let other_dir = temp_dir("tls-other");
    load_or_generate(&other_dir, None, None).expect("generate other");
    let stranger = client_config_trusting(&other_dir.join(CERT_FILE_NAME)).expect("client");
    assert!(handshake(stranger, reloaded.server_config, "localhost").is_err());
    let _ = fs::remove_dir_all(dir);
    let _ = fs::remove_dir_all(other_dir);
}

#[test]
fn tls_errors_name_the_file() {
    let dir = temp_dir("tls-errors");
    let missing = dir.join("missing-cert.pem");
    let err = load_or_generate(&dir, Some(&missing), Some(&dir.join("k.pem")))
        .err()
        .expect("missing explicit cert");
    assert!(err.contains("missing-cert.pem"), "{err}");
    fs::write(dir.join(CERT_FILE_NAME), "not pem").expect("write");
    let err = load_or_generate(&dir, None, None)
        .err()
        .expect("half a pair");
    assert!(err.contains(KEY_FILE_NAME), "{err}");
    assert!(
        !dir.join(KEY_FILE_NAME).exists(),
        "nothing generated over a half pair"
    );
    assert!(client_config_trusting(&dir.join(CERT_FILE_NAME)).is_err());
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_truncated_pem_file_is_named_in_words() {
    let dir = temp_dir("tls-truncated");
    load_or_generate(&dir, None, None).expect("generate");
    for (file, label) in [
        (CERT_FILE_NAME, "CERTIFICATE"),
        (KEY_FILE_NAME, "PRIVATE KEY"),
    ] {
        let whole = fs::read(dir.join(file)).expect("read");
        let copy = dir.join(format!("cut-{file}"));
        fs::write(&copy, &whole[..whole.len() / 2]).expect("write");
        let (cert, key) = match file {
            CERT_FILE_NAME => (copy.clone(), dir.join(KEY_FILE_NAME)),
            _ => (dir.join(CERT_FILE_NAME), copy.clone()),
        };
        let err = load_or_generate(&dir, Some(&cert), Some(&key))
            .err()
            .expect("a truncated file is refused");
        assert!(err.contains(&format!("cut-{file}")), "{err}");
        assert!(
            err.contains(&format!("the {label} section has no END line")),
            "{err}"
        );
    }
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn an_encrypted_key_is_named_as_such() {
    let dir = temp_dir("tls-encrypted");
    load_or_generate(&dir, None, None).expect("generate");
    // Writes `pem` as the key named `name`, paired with the generated certificate, and
    // returns why the pair was refused.
    let refusal = |name: &str, pem: &str| {
        let key = dir.join(name);
        fs::write(&key, pem).expect("write");
        load_or_generate(&dir, Some(&dir.join(CERT_FILE_NAME)), Some(&key))
            .err()
            .unwrap_or_else(|| panic!("{name} is refused"))
    };
    // The PEM reader skips sections it does not know, so this read as "no key".
    let err = refusal(
        "encrypted-key.pem",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIGjMF8GCSqGSIb3DQEFDTBSMDEGCSqGSIb3\n\
         -----END ENCRYPTED PRIVATE KEY-----\n",
    );
    assert!(err.contains("encrypted-key.pem"), "{err}");
    assert!(err.contains("the key is encrypted"), "{err}");
    // OpenSSL's legacy form: a known label with encryption headers, which the reader
    // cannot decode either.
    let err = refusal(
        "legacy-key.pem",
        "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\
         DEK-Info: AES-256-CBC,3F8B2C1D4E5A6B7C8D9E0F1A2B3C4D5E\n\nMHcCAQEEIA==\n\
         -----END EC PRIVATE KEY-----\n",
    );
    assert!(err.contains("the key is encrypted"), "{err}");
    // A file with no key at all still says so.
    let err = refusal("empty-key.pem", "");
    assert!(err.contains("no PEM section of the expected kind"), "{err}");
    let _ = fs::remove_dir_all(dir);
}
