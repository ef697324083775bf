//! certs.d directories, read as podman, skopeo (containers-certs.d(5)) and docker read them, so that
//! a host already set up for those tools needs nothing more for us. For a registry `host[:port]`
//! the directory `<root>/<host[:port]>` holds `*.crt` files (CA certificates, or the registry's own
//! self-signed certificate, to trust) and `*.cert` + `*.key` pairs of the same base name (a client
//! certificate and its key, for registries that require one).
//!
//! The roots are `/etc/containers/certs.d` then `/etc/docker/certs.d`; the first that has a
//! directory for the registry is the one used, as containers/image does. `COPY_CONTAINERS_CERTS_D`
//! (`:`-separated directories) replaces that list (an empty value: no certs.d at all). A
//! registry's `cert_dir` names its directory outright, as skopeo's `--cert-dir`, and then no root
//! is searched. A missing directory is normal (nothing to read); an unreadable or bad file, or a
//! `.cert` without its `.key` (or the reverse), is a configuration error naming the file.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, Result};

/// The environment variable that replaces [`DEFAULT_ROOTS`].
pub const ENV: &str = "COPY_CONTAINERS_CERTS_D";

/// Where podman/skopeo and docker keep their per-registry certificates.
pub const DEFAULT_ROOTS: &[&str] = &["/etc/containers/certs.d", "/etc/docker/certs.d"];

/// Which certs.d directory a TLS client reads.
#[derive(Clone, Copy, Debug)]
pub enum CertsDir<'a> {
    /// None (HTTP sources, which are not registries).
    None,
    /// `<root>/<host[:port]>` in the first certs.d root that has it.
    Host(&'a str),
    /// This directory itself (`cert_dir`); the roots are not searched.
    Dir(&'a Path),
}

/// A client certificate chain and its key.
pub struct ClientPair {
    /// The `.cert` file, for messages.
    pub cert_file: PathBuf,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for ClientPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientPair")
            .field("cert_file", &self.cert_file)
            .finish_non_exhaustive()
    }
}

/// What one certs.d directory holds.
#[derive(Debug, Default)]
pub struct CertsD {
    /// The directory read, if there was one.
    pub dir: Option<PathBuf>,
    /// Certificates from the `*.crt` files, to trust.
    pub cas: Vec<CertificateDer<'static>>,
    /// The client certificate (the first `*.cert`/`*.key` pair by name).
    pub client: Option<ClientPair>,
}

/// The certs.d roots: `COPY_CONTAINERS_CERTS_D` when set, else [`DEFAULT_ROOTS`].
pub fn roots() -> Vec<PathBuf> {
    match std::env::var_os(ENV) {
        Some(v) => std::env::split_paths(&v)
            .filter(|p| !p.as_os_str().is_empty())
            .collect(),
        None => DEFAULT_ROOTS.iter().map(PathBuf::from).collect(),
    }
}

/// Reads the certs.d directory `which` points at (nothing when there is none). `registry` names
/// the registry in errors.
pub fn load(registry: &str, which: CertsDir<'_>) -> Result<CertsD> {
    let dir = match which {
        CertsDir::None => None,
        CertsDir::Dir(d) => Some(d.to_path_buf()),
        CertsDir::Host(host) => find(registry, host, &roots())?,
    };
    match dir {
        Some(d) => read_dir(registry, &d),
        None => Ok(CertsD::default()),
    }
}

/// `<root>/<host>` in the first root that has it.
pub fn find(registry: &str, host: &str, roots: &[PathBuf]) -> Result<Option<PathBuf>> {
    for root in roots {
        let dir = root.join(host);
        match fs::metadata(&dir) {
            Ok(m) if m.is_dir() => return Ok(Some(dir)),
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(bad(registry, &dir, e)),
        }
    }
    Ok(None)
}

fn bad(registry: &str, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Config(format!("{registry}: certs.d {}: {e}", path.display()))
}

/// The regular files of `dir`, sorted by name (a missing directory has none).
fn files(registry: &str, dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(bad(registry, dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| bad(registry, dir, e))?.path();
        // metadata() follows symlinks: a link to a file counts, a dangling one is an error.
        if fs::metadata(&path)
            .map_err(|e| bad(registry, &path, e))?
            .is_file()
        {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn has_ext(p: &Path, ext: &str) -> bool {
    p.extension().is_some_and(|e| e == ext)
}

/// Reads `dir`: every `*.crt`, and the `*.cert`/`*.key` pairs.
pub fn read_dir(registry: &str, dir: &Path) -> Result<CertsD> {
    let mut out = CertsD {
        dir: Some(dir.to_path_buf()),
        ..Default::default()
    };
    for path in files(registry, dir)? {
        if has_ext(&path, "crt") {
            out.cas.extend(read_certs(registry, &path)?);
        } else if has_ext(&path, "cert") {
            let key = path.with_extension("key");
            if !key.is_file() {
                return Err(bad(
                    registry,
                    &path,
                    format!("client certificate without its key {}", key.display()),
                ));
            }
            let pair = read_pair(registry, &path, &key)?;
            match &out.client {
                None => out.client = Some(pair),
                Some(first) => {
                    tracing::warn!(registry, used = %first.cert_file.display(), ignored = %path.display(), "several client certificates in one certs.d directory; using the first")
                }
            }
        } else if has_ext(&path, "key") && !path.with_extension("cert").is_file() {
            let cert = path.with_extension("cert");
            return Err(bad(
                registry,
                &path,
                format!("key without its client certificate {}", cert.display()),
            ));
        }
    }
    Ok(out)
}

/// Every certificate of a PEM file (at least one).
pub fn read_certs(registry: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = crate::input::read(path, "certificate").map_err(|e| bad(registry, path, e))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad(registry, path, format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(bad(registry, path, "holds no PEM certificate"));
    }
    usable_as_anchors(&certs).map_err(|e| bad(registry, path, format!("unusable certificate: {e}")))?;
    Ok(certs)
}

fn read_pair(registry: &str, cert: &Path, key: &Path) -> Result<ClientPair> {
    let chain = read_certs(registry, cert)?;
    let key_pem = crate::input::read(key, "private key").map_err(|e| bad(registry, key, e))?;
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => bad(registry, key, "holds no PEM private key"),
        other => bad(registry, key, other),
    })?;
    Ok(ClientPair {
        cert_file: cert.to_path_buf(),
        chain,
        key: key_der,
    })
}

/// Whether rustls can use every certificate of `certs` as a trust anchor (it can parse them).
pub fn usable_as_anchors(certs: &[CertificateDer<'static>]) -> std::result::Result<(), rustls::Error> {
    let mut store = rustls::RootCertStore::empty();
    certs.iter().try_for_each(|c| store.add(c.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use copy_containers_testkit::TestCa;

    fn write(p: &Path, text: &str) {
        fs::write(p, text).unwrap();
    }

    fn err(r: Result<CertsD>) -> String {
        r.map(|_| ()).unwrap_err().to_string()
    }

    #[test]
    fn missing_directory_is_empty_and_the_first_root_with_the_host_wins() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        fs::create_dir_all(&a).unwrap();
        // A file named like the host is not a directory for it.
        write(&a.join("reg:5000"), "x");
        fs::create_dir_all(b.join("reg:5000")).unwrap();
        fs::create_dir_all(t.path().join("c/reg:5000")).unwrap();
        let roots = [a.clone(), b.clone(), t.path().join("c")];
        assert_eq!(find("r", "reg:5000", &roots).unwrap(), Some(b.join("reg:5000")));
        assert_eq!(find("r", "other:5000", &roots).unwrap(), None);
        let d = read_dir("r", &t.path().join("nowhere")).unwrap();
        assert!(d.cas.is_empty() && d.client.is_none());
    }

    #[test]
    fn reads_crt_files_and_one_client_pair() {
        let ca = TestCa::new().unwrap();
        let other = TestCa::new().unwrap();
        let t = tempfile::tempdir().unwrap();
        write(&t.path().join("ca.crt"), ca.ca_pem());
        write(
            &t.path().join("more.crt"),
            &format!("{}{}", other.ca_pem(), ca.ca_pem()),
        );
        write(&t.path().join("README"), "not a certificate");
        fs::create_dir(t.path().join("sub.crt")).unwrap();
        ca.issue_client("me")
            .unwrap()
            .write(&t.path().join("client.cert"), &t.path().join("client.key"))
            .unwrap();
        let d = read_dir("r", t.path()).unwrap();
        assert_eq!(d.cas.len(), 3);
        assert_eq!(d.cas[0].as_ref(), ca.ca_der().as_ref());
        let pair = d.client.expect("client pair");
        assert_eq!(pair.cert_file, t.path().join("client.cert"));
        assert_eq!(pair.chain.len(), 1);
    }

    #[test]
    fn bad_files_are_errors_naming_them() {
        let ca = TestCa::new().unwrap();
        let t = tempfile::tempdir().unwrap();
        let dir = t.path();
        write(&dir.join("client.cert"), ca.ca_pem());
        let e = err(read_dir("reg:1", dir));
        assert!(
            e.contains("reg:1") && e.contains("client.cert") && e.contains("client.key"),
            "{e}"
        );
        fs::remove_file(dir.join("client.cert")).unwrap();

        write(&dir.join("lonely.key"), "-----BEGIN PRIVATE KEY-----\n");
        let e = err(read_dir("reg:1", dir));
        assert!(e.contains("lonely.key") && e.contains("lonely.cert"), "{e}");
        write(&dir.join("lonely.cert"), ca.ca_pem());
        let e = err(read_dir("reg:1", dir));
        assert!(e.contains("lonely.key"), "{e}");
        fs::remove_file(dir.join("lonely.key")).unwrap();
        fs::remove_file(dir.join("lonely.cert")).unwrap();

        write(&dir.join("empty.crt"), "hello\n");
        let e = err(read_dir("reg:1", dir));
        assert!(e.contains("empty.crt") && e.contains("no PEM certificate"), "{e}");
        write(&dir.join("empty.crt"), "-----BEGIN CERTIFICATE-----\nAAAA\n");
        let e = err(read_dir("reg:1", dir));
        assert!(e.contains("empty.crt") && e.contains("bad PEM"), "{e}");
        write(
            &dir.join("empty.crt"),
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        );
        let e = err(read_dir("reg:1", dir));
        assert!(
            e.contains("empty.crt") && e.contains("unusable certificate"),
            "{e}"
        );
        fs::remove_file(dir.join("empty.crt")).unwrap();

        std::os::unix::fs::symlink(dir.join("gone"), dir.join("dangling.crt")).unwrap();
        let e = err(read_dir("reg:1", dir));
        assert!(e.contains("dangling.crt"), "{e}");
    }
}
