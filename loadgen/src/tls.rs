//! TLS client setup: rustls with its default aws-lc-rs provider (so it offers the
//! post-quantum X25519MLKEM768 key exchange first, as browsers do), trusting `--cacert`
//! or nothing.

use std::sync::Arc;

use pki_types::pem::PemObject;
use pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::aws_lc_rs::kx_group;
use rustls::crypto::{SupportedKxGroup, WebPkiSupportedAlgorithms};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};

/// How to trust the server, decided once from the flags.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// Accept any certificate (`--insecure`); signatures are still checked.
    pub insecure: bool,
    /// Certificates from `--cacert`, trusted as roots.
    pub ca_certs: Vec<CertificateDer<'static>>,
    /// Allow session resumption (off: every connection does a full handshake).
    pub resume: bool,
    /// Key exchange groups to offer, in order (`--tls-groups`); None: the provider's
    /// defaults (X25519MLKEM768 first).
    pub kx_groups: Option<Vec<&'static dyn SupportedKxGroup>>,
}

/// The groups `--tls-groups` accepts, by the names OpenSSL's `-groups` uses.
const GROUP_NAMES: [(&str, &dyn SupportedKxGroup); 4] = [
    ("X25519MLKEM768", kx_group::X25519MLKEM768),
    ("X25519", kx_group::X25519),
    ("P-256", kx_group::SECP256R1),
    ("P-384", kx_group::SECP384R1),
];

/// Parses `--tls-groups`: names separated by ':' or ',' (case ignored), in preference
/// order, no repeats.
pub fn parse_groups(list: &str) -> Result<Vec<&'static dyn SupportedKxGroup>, String> {
    let mut groups: Vec<&'static dyn SupportedKxGroup> = Vec::new();
    for name in list.split([':', ',']).map(str::trim) {
        let Some((_, group)) = GROUP_NAMES
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
        else {
            let known: Vec<&str> = GROUP_NAMES.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "--tls-groups: unknown group {name:?} (known: {})",
                known.join(", ")
            ));
        };
        if groups.iter().any(|g| g.name() == group.name()) {
            return Err(format!("--tls-groups: {name} is named twice"));
        }
        groups.push(*group);
    }
    Ok(groups)
}

/// Reads every certificate of a PEM file.
pub fn load_ca_file(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("--cacert {path}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--cacert {path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("--cacert {path}: no CERTIFICATE in the file"));
    }
    Ok(certs)
}

/// A thread's TLS client: its own config (and so its own session cache, no sharing).
#[derive(Debug, Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
}

impl TlsClient {
    /// Builds the client for `host` (a DNS name or an IP literal).
    pub fn new(settings: &TlsSettings, host: &str) -> Result<Self, String> {
        let mut provider = rustls::crypto::aws_lc_rs::default_provider();
        if let Some(groups) = &settings.kx_groups {
            provider.kx_groups = groups.clone();
        }
        let provider = Arc::new(provider);
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?;
        let mut config = if settings.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(
                    provider.signature_verification_algorithms,
                )))
                .with_no_client_auth()
        } else {
            let mut roots = rustls::RootCertStore::empty();
            for cert in &settings.ca_certs {
                roots
                    .add(cert.clone())
                    .map_err(|e| format!("--cacert: {e}"))?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        if !settings.resume {
            config.resumption = rustls::client::Resumption::disabled();
        }
        let server_name = ServerName::try_from(host.to_owned())
            .map_err(|e| format!("TLS server name {host:?}: {e}"))?;
        Ok(TlsClient {
            config: Arc::new(config),
            server_name,
        })
    }

    /// A fresh client connection (handshake starts on first I/O).
    pub fn connect(&self) -> Result<ClientConnection, rustls::Error> {
        ClientConnection::new(self.config.clone(), self.server_name.clone())
    }
}

/// `--insecure`: any certificate chain is accepted, handshake signatures still verified
/// (so the session is at least encrypted to whoever holds the presented key).
#[derive(Debug)]
struct AcceptAny(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
