//! TLS client settings per registry: what to trust (the system store, an optional `ca_file`, the
//! registry's certs.d directory, see [`certs_d`](super::certs_d)), the client certificate a certs.d
//! directory may hold (or, without one, a note that a server asked for one: [`ClientCertWanted`]),
//! and an explicit per-registry opt-out of verification (logged as a warning by the caller). rustls with the `ring` provider: pure Rust plus a small C/asm core, so the binary
//! builds portably.
//!
//! The server certificate verifier is hand-written ([`AnchorAware`], wrapping rustls' webpki one)
//! for one case webpki refuses and has no option for: Docker documents a registry certificate made
//! by `openssl req -x509 …`, a self-signed certificate that OpenSSL marks `CA:TRUE`, which users
//! trust as it is (system store, `ca_file`, certs.d). docker, podman, skopeo (Go) and curl
//! (OpenSSL) accept a presented certificate that *is* a trust anchor; webpki refuses any CA
//! certificate as an end entity (`CaUsedAsEndEntity`). So when webpki refuses a presented
//! certificate byte-identical to a configured trust anchor, that certificate is accepted after the
//! checks that still apply: its name (webpki's own check), its validity period, and, when it has
//! an extended key usage, that it allows TLS servers. Nothing else is accepted that webpki refuses,
//! and handshake signatures are checked as always. webpki does not expose validity or extensions,
//! so the certificate is read with `x509-cert` (RustCrypto) for those.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::Decode;
use x509_cert::ext::pkix::ExtendedKeyUsage;

use super::certs_d::{self, CertsDir};
use crate::error::{Error, Result};

/// Make `ring` the process-wide rustls provider (reqwest needs one even for plain-HTTP clients).
pub fn ensure_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means another provider was installed first, which is fine too.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// How one client does TLS.
#[derive(Clone, Copy, Debug)]
pub struct TlsOptions<'a> {
    /// PEM certificates trusted besides the system ones.
    pub ca_file: Option<&'a Path>,
    /// The certs.d directory to read (CAs and a client certificate).
    pub certs_dir: CertsDir<'a>,
    /// `false` accepts any server certificate (explicit opt-out only).
    pub verify: bool,
    /// Without a client certificate: set when a server asks for one.
    pub client_cert_wanted: Option<&'a Arc<ClientCertWanted>>,
}

/// Whether a server asked this client for a client certificate it does not have. A registry that
/// requires one then closes the connection, which reaches the HTTP layer only as "channel closed";
/// this says why.
#[derive(Debug, Default)]
pub struct ClientCertWanted(AtomicBool);

impl ClientCertWanted {
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// "No client certificate", noting that one was asked for.
#[derive(Debug)]
struct NoClientCert(Arc<ClientCertWanted>);

impl ResolvesClientCert for NoClientCert {
    fn resolve(&self, _issuers: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.0 .0.store(true, Ordering::Relaxed);
        None
    }

    fn has_certs(&self) -> bool {
        false
    }
}

/// Build a rustls client config for `registry` (named in errors).
pub fn client_config(registry: &str, opts: &TlsOptions<'_>) -> Result<ClientConfig> {
    let certs_d = certs_d::load(registry, opts.certs_dir)?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls {
            registry: registry.to_string(),
            detail: e.to_string(),
        })?
        .dangerous();
    let builder = if opts.verify {
        let mut anchors = native_roots();
        if let Some(path) = opts.ca_file {
            anchors.extend(ca_file_certs(registry, path)?);
        }
        anchors.extend(certs_d.cas);
        builder.with_custom_certificate_verifier(Arc::new(AnchorAware::new(registry, anchors)?))
    } else {
        builder.with_custom_certificate_verifier(Arc::new(AcceptAny(provider())))
    };
    let mut config = match certs_d.client {
        Some(pair) => builder.with_client_auth_cert(pair.chain, pair.key).map_err(|e| {
            Error::Config(format!(
                "{registry}: client certificate {}: {e}",
                pair.cert_file.display()
            ))
        })?,
        None => {
            let mut config = builder.with_no_client_auth();
            if let Some(wanted) = opts.client_cert_wanted {
                config.client_auth_cert_resolver = Arc::new(NoClientCert(wanted.clone()));
            }
            config
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The system store (unreadable entries are skipped, as rustls-native-certs reports them).
fn native_roots() -> Vec<CertificateDer<'static>> {
    rustls_native_certs::load_native_certs().certs
}

fn ca_file_certs(registry: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    let pem = crate::input::read(path, "CA bundle").map_err(|e| {
        Error::Config(format!(
            "{registry}: cannot read CA bundle {}: {e}",
            path.display()
        ))
    })?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| {
            Error::Config(format!(
                "{registry}: bad PEM in CA bundle {}: {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(Error::Config(format!(
            "{registry}: CA bundle {} holds no certificate",
            path.display()
        )));
    }
    certs_d::usable_as_anchors(&certs).map_err(|e| {
        Error::Config(format!(
            "{registry}: unusable certificate in {}: {e}",
            path.display()
        ))
    })?;
    Ok(certs)
}

/// webpki's verifier, plus the presented-certificate-is-a-trust-anchor case (see the module doc).
#[derive(Debug)]
struct AnchorAware {
    /// `None` when there is no usable anchor at all (everything is then an unknown issuer).
    webpki: Option<Arc<WebPkiServerVerifier>>,
    anchors: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
}

impl AnchorAware {
    fn new(registry: &str, anchors: Vec<CertificateDer<'static>>) -> Result<AnchorAware> {
        let mut roots = RootCertStore::empty();
        // System certificates webpki cannot use are skipped, as before; the configured files'
        // were checked when read.
        let (added, _skipped) = roots.add_parsable_certificates(anchors.iter().cloned());
        let provider = provider();
        let webpki = if added == 0 {
            None
        } else {
            Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| Error::Tls {
                        registry: registry.to_string(),
                        detail: e.to_string(),
                    })?,
            )
        };
        Ok(AnchorAware {
            webpki,
            anchors,
            provider,
        })
    }

    fn is_anchor(&self, cert: &CertificateDer<'_>) -> bool {
        self.anchors.iter().any(|a| a.as_ref() == cert.as_ref())
    }
}

impl ServerCertVerifier for AnchorAware {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let refused = match &self.webpki {
            Some(v) => match v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
                Ok(ok) => return Ok(ok),
                Err(e) => e,
            },
            None => CertificateError::UnknownIssuer.into(),
        };
        if !self.is_anchor(end_entity) {
            return Err(untrusted(refused));
        }
        check_presented_anchor(end_entity, server_name, now)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// webpki refuses a CA certificate presented as the end entity before it looks for its issuer;
/// one that is no trust anchor either is, for the user, simply not trusted: say so.
fn untrusted(refused: rustls::Error) -> rustls::Error {
    // webpki's error is only reachable through `OtherError`'s text (rustls does not re-export it).
    match &refused {
        rustls::Error::InvalidCertificate(CertificateError::Other(o))
            if format!("{o:?}").contains("CaUsedAsEndEntity") =>
        {
            CertificateError::UnknownIssuer.into()
        }
        _ => refused,
    }
}

/// `id-kp-serverAuth` and `anyExtendedKeyUsage` (RFC 5280 4.2.1.12).
const SERVER_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");
const ANY_EKU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37.0");

/// What still applies to a presented certificate that is itself a trust anchor: its name, its
/// validity period, its extended key usage when it has one.
fn check_presented_anchor(
    cert: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> std::result::Result<(), rustls::Error> {
    let parsed = rustls::server::ParsedCertificate::try_from(cert)?;
    rustls::client::verify_server_name(&parsed, server_name)?;
    let x509 = x509_cert::Certificate::from_der(cert.as_ref()).map_err(|_| CertificateError::BadEncoding)?;
    let tbs = &x509.tbs_certificate;
    let not_before = tbs.validity.not_before.to_unix_duration();
    let not_after = tbs.validity.not_after.to_unix_duration();
    let time = Duration::from_secs(now.as_secs());
    if time < not_before {
        return Err(CertificateError::NotValidYetContext {
            time: now,
            not_before: UnixTime::since_unix_epoch(not_before),
        }
        .into());
    }
    if time > not_after {
        return Err(CertificateError::ExpiredContext {
            time: now,
            not_after: UnixTime::since_unix_epoch(not_after),
        }
        .into());
    }
    let eku = tbs
        .get::<ExtendedKeyUsage>()
        .map_err(|_| CertificateError::BadEncoding)?;
    if let Some((_critical, ExtendedKeyUsage(purposes))) = eku {
        if !purposes.iter().any(|p| *p == SERVER_AUTH || *p == ANY_EKU) {
            return Err(CertificateError::InvalidPurpose.into());
        }
    }
    Ok(())
}

/// Accepts every server certificate but still checks handshake signatures.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;

    /// A self-signed certificate made as Docker's documentation does (`CA:TRUE`), plus `ext`.
    fn openssl_self_signed(dir: &Path, name: &str, ext: &[&str]) -> CertificateDer<'static> {
        let (key, crt) = (dir.join(format!("{name}.key")), dir.join(format!("{name}.crt")));
        let mut cmd = std::process::Command::new("openssl");
        cmd.args([
            "req", "-newkey", "rsa:2048", "-nodes", "-x509", "-days", "365", "-subj",
        ])
        .arg(format!("/CN={name}"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .args(["-addext", "subjectAltName = IP:127.0.0.1, DNS:registry.example"]);
        for e in ext {
            cmd.args(["-addext", e]);
        }
        let out = cmd.output().expect("openssl (apt-get install -y openssl)");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        CertificateDer::from_pem_file(&crt).unwrap()
    }

    fn name(s: &str) -> ServerName<'static> {
        ServerName::try_from(s.to_string()).unwrap()
    }

    #[test]
    fn a_presented_anchor_still_needs_its_name_dates_and_a_server_purpose() {
        let t = tempfile::tempdir().unwrap();
        let plain = openssl_self_signed(t.path(), "plain", &[]);
        let client_only = openssl_self_signed(t.path(), "client", &["extendedKeyUsage = clientAuth"]);
        let server = openssl_self_signed(t.path(), "server", &["extendedKeyUsage = clientAuth, serverAuth"]);
        let now = UnixTime::now(); // after making them: they start at the second they were made

        check_presented_anchor(&plain, &name("127.0.0.1"), now).unwrap();
        check_presented_anchor(&plain, &name("registry.example"), now).unwrap();
        let e = check_presented_anchor(&plain, &name("other.example"), now).unwrap_err();
        assert!(e.to_string().contains("not valid for name"), "{e}");
        let later = UnixTime::since_unix_epoch(Duration::from_secs(now.as_secs() + 400 * 86400));
        let e = check_presented_anchor(&plain, &name("127.0.0.1"), later).unwrap_err();
        assert!(e.to_string().contains("certificate expired"), "{e}");
        let before = UnixTime::since_unix_epoch(Duration::from_secs(now.as_secs() - 86400));
        let e = check_presented_anchor(&plain, &name("127.0.0.1"), before).unwrap_err();
        assert!(e.to_string().contains("not valid yet"), "{e}");

        let e = check_presented_anchor(&client_only, &name("127.0.0.1"), now).unwrap_err();
        assert_eq!(e, rustls::Error::from(CertificateError::InvalidPurpose));
        check_presented_anchor(&server, &name("127.0.0.1"), now).unwrap();
    }

    #[test]
    fn only_a_byte_identical_anchor_is_accepted_and_an_untrusted_ca_is_an_unknown_issuer() {
        let t = tempfile::tempdir().unwrap();
        let trusted = openssl_self_signed(t.path(), "trusted", &[]);
        let other = openssl_self_signed(t.path(), "other", &[]);
        let v = AnchorAware::new("r", vec![trusted.clone()]).unwrap();
        let now = UnixTime::now();
        v.verify_server_cert(&trusted, &[], &name("127.0.0.1"), &[], now)
            .unwrap();
        let e = v
            .verify_server_cert(&other, &[], &name("127.0.0.1"), &[], now)
            .unwrap_err();
        assert_eq!(e, rustls::Error::from(CertificateError::UnknownIssuer));
        // Nothing to trust at all: still a verifier, refusing.
        let none = AnchorAware::new("r", Vec::new()).unwrap();
        let e = none
            .verify_server_cert(&trusted, &[], &name("127.0.0.1"), &[], now)
            .unwrap_err();
        assert_eq!(e, rustls::Error::from(CertificateError::UnknownIssuer));
    }
}

/// What a failed TLS handshake means for the user, from rustls' own error (typed, not from the text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TlsFailure {
    /// The server did not answer in TLS at all (plain HTTP, most often).
    NotTls,
    /// The registry refused our certificate, or wants one.
    ClientCertificate,
    /// The server's certificate was refused, and why.
    Certificate(&'static str),
    /// Another handshake failure (versions, ciphers, a misbehaving peer).
    Other,
}

impl TlsFailure {
    /// Advice for people.
    pub(crate) fn hint(self) -> &'static str {
        match self {
            TlsFailure::NotTls => "TLS handshake failed; the server may speak plain HTTP (mark the registry insecure if that is intended)",
            TlsFailure::ClientCertificate => "the registry refused the client certificate or requires one: put a *.cert/*.key pair in its certs.d directory (or cert_dir)",
            TlsFailure::Certificate(why) => why,
            TlsFailure::Other => "the TLS handshake failed",
        }
    }

    fn of(e: &rustls::Error) -> TlsFailure {
        use rustls::{AlertDescription as A, CertificateError as C, Error as E};
        match e {
            E::InvalidMessage(_) | E::InappropriateMessage { .. } | E::InappropriateHandshakeMessage { .. } => {
                TlsFailure::NotTls
            }
            E::AlertReceived(
                A::BadCertificate
                | A::CertificateRequired
                | A::UnsupportedCertificate
                | A::CertificateRevoked
                | A::CertificateExpired
                | A::CertificateUnknown,
            ) => TlsFailure::ClientCertificate,
            E::InvalidCertificate(c) => TlsFailure::Certificate(match c {
                C::UnknownIssuer => "the server certificate is signed by an unknown CA: give this registry's CA bundle (ca_file, or a *.crt in its certs.d directory), or opt out with tls_verify: false for this registry only",
                C::NotValidForName | C::NotValidForNameContext { .. } => "the server certificate is not valid for this host name",
                C::Expired | C::ExpiredContext { .. } => "the server certificate has expired",
                C::NotValidYet | C::NotValidYetContext { .. } => "the server certificate is not valid yet (check this machine's clock)",
                _ => "the server certificate was refused",
            }),
            E::NoCertificatesPresented => TlsFailure::Certificate("the server presented no certificate"),
            _ => TlsFailure::Other,
        }
    }
}

/// The TLS failure behind a request error, if one: rustls' error found among the error's sources,
/// or inside the I/O errors that carry it (an I/O error's `source()` skips its payload, and the
/// connector wraps it twice).
pub(crate) fn failure(e: &(dyn std::error::Error + 'static)) -> Option<TlsFailure> {
    let mut cur = Some(e);
    while let Some(x) = cur {
        let mut node: &(dyn std::error::Error + 'static) = x;
        loop {
            if let Some(t) = node.downcast_ref::<rustls::Error>() {
                return Some(TlsFailure::of(t));
            }
            match node.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
                Some(inner) => node = inner,
                None => break,
            }
        }
        cur = x.source();
    }
    None
}

#[cfg(test)]
mod failure_tests {
    use super::*;

    #[test]
    fn tls_failures_are_typed_through_io_errors() {
        use rustls::{AlertDescription, CertificateError, Error};
        // As the connector hands them over: an I/O error holding an I/O error holding rustls'.
        let wrap = |e: Error| {
            let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, e);
            std::io::Error::other(inner)
        };
        let not_tls = wrap(Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType));
        assert_eq!(failure(&not_tls), Some(TlsFailure::NotTls));
        let ca = wrap(Error::InvalidCertificate(CertificateError::UnknownIssuer));
        assert!(failure(&ca).unwrap().hint().contains("unknown CA"));
        let client = wrap(Error::AlertReceived(AlertDescription::CertificateRequired));
        assert_eq!(failure(&client), Some(TlsFailure::ClientCertificate));
        let name = Error::InvalidCertificate(CertificateError::NotValidForName);
        assert!(failure(&name).unwrap().hint().contains("host name"));
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        assert_eq!(failure(&reset), None);
    }
}
