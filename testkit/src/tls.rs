//! A throw-away certificate authority generated at test time with rcgen, and
//! rustls configurations built from it.

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::Path;
use std::sync::Arc;

/// The rustls crypto provider used everywhere in the testkit (ring), chosen
/// explicitly so the process-wide default does not matter.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct CertifiedKey {
    /// Certificate, PEM.
    pub cert_pem: String,
    /// PKCS#8 private key, PEM.
    pub key_pem: String,
}

impl CertifiedKey {
    /// Writes the certificate to `cert` and the key to `key` (e.g. a certs.d `client.cert` and
    /// `client.key`).
    pub fn write(&self, cert: &Path, key: &Path) -> Result<crate::CertFiles> {
        std::fs::write(cert, &self.cert_pem).with_context(|| format!("writing {}", cert.display()))?;
        std::fs::write(key, &self.key_pem).with_context(|| format!("writing {}", key.display()))?;
        Ok(crate::CertFiles {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        })
    }
}

/// A certificate authority created for one test (or one `cc-testkit up`).
pub struct TestCa {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

impl TestCa {
    /// Generates a new CA (ECDSA P-256, CN "copy-containers-testkit CA").
    pub fn new() -> Result<Self> {
        let key = KeyPair::generate().context("generating the CA key")?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "copy-containers-testkit CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).context("self-signing the CA")?;
        Ok(TestCa {
            ca_pem: cert.pem(),
            ca_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate, PEM (what clients must trust).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA certificate, DER.
    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca_der
    }

    /// Issues a server certificate for `names` (IP addresses become IP SANs,
    /// anything else DNS SANs).
    pub fn issue(&self, names: &[&str]) -> Result<CertifiedKey> {
        let key = KeyPair::generate()?;
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "copy-containers-testkit server");
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(CertifiedKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Issues a client certificate (extended key usage `clientAuth`) for the subject `cn`.
    pub fn issue_client(&self, cn: &str) -> Result<CertifiedKey> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(CertifiedKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Issues the usual loopback server certificate: SANs `127.0.0.1`
    /// (IP) and `localhost` (DNS).
    pub fn issue_loopback(&self) -> Result<CertifiedKey> {
        self.issue(&["127.0.0.1", "localhost"])
    }

    /// A rustls server configuration presenting a fresh loopback certificate
    /// (chain: leaf, CA).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>> {
        self.server_config_for(&["127.0.0.1", "localhost"])
    }

    /// A rustls server configuration presenting a fresh certificate for `names` (IP addresses
    /// become IP SANs, anything else DNS SANs; chain: leaf, CA).
    pub fn server_config_for(&self, names: &[&str]) -> Result<Arc<rustls::ServerConfig>> {
        let ck = self.issue(names)?;
        let leaf = CertificateDer::from_pem_slice(ck.cert_pem.as_bytes())?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from_pem_slice(ck.key_pem.as_bytes())?);
        let cfg = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![leaf, self.ca_der.clone()], key)?;
        Ok(Arc::new(cfg))
    }

    /// A rustls client configuration trusting only this CA.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>> {
        client_config_from_pem(self.ca_pem.as_bytes())
    }

    /// Writes the CA certificate (PEM) to `path`.
    pub fn write_ca(&self, path: &Path) -> Result<()> {
        std::fs::write(path, &self.ca_pem).with_context(|| format!("writing {}", path.display()))
    }
}

/// A rustls client configuration trusting exactly the certificates in `pem`.
pub fn client_config_from_pem(pem: &[u8]) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    let mut n = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        roots.add(cert.context("parsing CA PEM")?)?;
        n += 1;
    }
    anyhow::ensure!(n > 0, "no certificate found in the CA PEM");
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// [`client_config_from_pem`] reading the PEM from a file.
pub fn client_config_from_file(path: &Path) -> Result<Arc<rustls::ClientConfig>> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    client_config_from_pem(&pem)
}
