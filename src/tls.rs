//! TLS setup: load the certificate and key (or create a self-signed pair on first start)
//! and build the rustls configurations, always with the `ring` crypto provider.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pki_types::pem::PemObject;
use pki_types::{CertificateDer, PrivateKeyDer};
use rustls::crypto::ring::default_provider;

/// Name of the generated certificate (PEM) in the data directory.
pub const CERT_FILE_NAME: &str = "tls-cert.pem";
/// Name of the generated private key (PEM, mode 0600) in the data directory.
pub const KEY_FILE_NAME: &str = "tls-key.pem";

/// TLS sessions remembered for resumption; bounded so memory stays fixed.
const SESSION_CACHE_ENTRIES: usize = 4096;

/// A ready server configuration and, when this start created the certificate, its path
/// (so `main` can say so).
pub struct TlsSetup {
    /// Shared by every worker.
    pub server_config: Arc<rustls::ServerConfig>,
    /// The certificate file written on this start, if any.
    pub generated_at: Option<PathBuf>,
}

/// Loads `cert` and `key` when given (both are required together); else the pair in
/// `data_dir`; else generates a self-signed ECDSA P-256 certificate for `localhost`,
/// `127.0.0.1` and `::1`, writes it there and reports where. Never replaces a file.
pub fn load_or_generate(
    data_dir: &Path,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<TlsSetup, String> {
    match (cert, key) {
        (Some(cert), Some(key)) => load(cert, key),
        (None, None) => {
            let cert_path = data_dir.join(CERT_FILE_NAME);
            let key_path = data_dir.join(KEY_FILE_NAME);
            match (cert_path.exists(), key_path.exists()) {
                (true, true) => load(&cert_path, &key_path),
                (false, false) => generate(data_dir, &cert_path, &key_path),
                (true, false) => Err(missing_pair(&key_path, &cert_path)),
                (false, true) => Err(missing_pair(&cert_path, &key_path)),
            }
        }
        _ => Err("--tls-cert and --tls-key must be given together".to_string()),
    }
}

fn missing_pair(missing: &Path, present: &Path) -> String {
    format!(
        "{} is missing but {} exists; restore it or remove both to generate a new pair",
        missing.display(),
        present.display()
    )
}

fn load(cert_path: &Path, key_path: &Path) -> Result<TlsSetup, String> {
    let chain = read_certs(cert_path)?;
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| format!("cannot read a private key from {}: {e}", key_path.display()))?;
    Ok(TlsSetup {
        server_config: server_config(chain, key)
            .map_err(|e| format!("{} / {}: {e}", cert_path.display(), key_path.display()))?,
        generated_at: None,
    })
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let err = |e: pki_types::pem::Error| format!("cannot read {}: {e}", path.display());
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    if chain.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(chain)
}

fn generate(data_dir: &Path, cert_path: &Path, key_path: &Path) -> Result<TlsSetup, String> {
    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| format!("cannot generate a TLS key: {e}"))?;
    let names = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
    let mut params = rcgen::CertificateParams::new(names)
        .map_err(|e| format!("cannot build certificate parameters: {e}"))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "availability-server self-signed");
    let cert = params
        .self_signed(&key_pair)
        .map_err(|e| format!("cannot self-sign a certificate: {e}"))?;

    fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create data directory {}: {e}", data_dir.display()))?;
    // Key first: a crash in between leaves a key without a certificate, which the next
    // start reports instead of silently pairing files that do not match.
    write_new_file(key_path, key_pair.serialize_pem().as_bytes(), 0o600)?;
    write_new_file(cert_path, cert.pem().as_bytes(), 0o644)?;
    fs::File::open(data_dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| format!("cannot fsync directory {}: {e}", data_dir.display()))?;

    let key_der = PrivateKeyDer::try_from(key_pair.serialize_der())
        .map_err(|e| format!("generated key is unusable: {e}"))?;
    Ok(TlsSetup {
        server_config: server_config(vec![cert.der().clone()], key_der)?,
        generated_at: Some(cert_path.to_path_buf()),
    })
}

/// Writes `bytes` to a temporary file with `mode`, fsyncs it and hard-links it into place,
/// which fails rather than replace an existing file.
fn write_new_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    // Created exclusively after removing a leftover: an existing file or symlink at the
    // temporary name would keep its own mode (a private key readable by others).
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("cannot remove the stale {}: {e}", tmp.display()));
        }
        _ => {}
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    drop(file);
    let linked =
        fs::hard_link(&tmp, path).map_err(|e| format!("cannot create {}: {e}", path.display()));
    let _ = fs::remove_file(&tmp);
    linked
}

/// A server configuration: ring provider, rustls' safe default protocol versions, no
/// client authentication, ALPN `http/1.1`, and a bounded session cache.
pub fn server_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS protocol setup failed: {e}"))?
        .with_no_client_auth()
        .with_single_cert(cert_chain, key)
        .map_err(|e| format!("certificate and key are unusable together: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES);
    Ok(Arc::new(config))
}

/// A client configuration trusting exactly the certificates in `cert_pem_path` (for
/// tests and the load generator talking to a self-signed server).
pub fn client_config_trusting(cert_pem_path: &Path) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certs(cert_pem_path)? {
        roots
            .add(cert)
            .map_err(|e| format!("{}: {e}", cert_pem_path.display()))?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS protocol setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
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
        assert!(handshake(client, explicit.server_config, "localhost").is_ok());

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
}
