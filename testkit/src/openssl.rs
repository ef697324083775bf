//! Certificates made by the `openssl` command line exactly as users make them, Docker's documented
//! self-signed registry certificate first (`openssl req -newkey rsa:4096 -nodes -x509 …`, which
//! OpenSSL marks `CA:TRUE`), where [`crate::TestCa`] (rcgen) makes well-behaved CA-signed leaves.
//! Also expired and not-yet-valid variants of it, made with `openssl ca -selfsign -startdate
//! -enddate` (OpenSSL 3.0's `req`/`x509` cannot start a certificate in the past).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The error text for a missing `openssl` binary.
pub const OPENSSL_HINT: &str =
    "the `openssl` command was not found in PATH; install it with `apt-get install -y openssl`";

/// A certificate file and its key file (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// The certificate (or chain, leaf first).
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

fn openssl(args: &[&str], dir: &Path) -> Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow::anyhow!("{OPENSSL_HINT}")
            } else {
                anyhow::anyhow!("running openssl: {e}")
            }
        })?;
    if !out.status.success() {
        bail!(
            "openssl {} failed ({}): {}",
            args.first().unwrap_or(&""),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn files(dir: &Path, name: &str) -> CertFiles {
    CertFiles {
        cert: dir.join(format!("{name}.crt")),
        key: dir.join(format!("{name}.key")),
    }
}

/// Docker's documented registry certificate, written as `dir/<name>.crt` and `dir/<name>.key`:
/// `openssl req -newkey rsa:4096 -nodes -keyout <name>.key -x509 -days 365 -out <name>.crt
/// -addext "subjectAltName = <san>"` (`san` e.g. `IP:127.0.0.1` or `DNS:myregistry.example`),
/// with `-subj /CN=<name>` instead of the interactive prompt.
pub fn docker_self_signed(dir: &Path, name: &str, san: &str) -> Result<CertFiles> {
    self_signed(dir, name, san, "rsa:4096")
}

/// [`docker_self_signed`] with another `-newkey` (`rsa:2048` is much faster to make).
pub fn self_signed(dir: &Path, name: &str, san: &str, newkey: &str) -> Result<CertFiles> {
    let f = files(dir, name);
    let subj = format!("/CN={name}");
    let ext = format!("subjectAltName = {san}");
    let (key, cert) = (f.key.to_string_lossy(), f.cert.to_string_lossy());
    openssl(
        &[
            "req", "-newkey", newkey, "-nodes", "-keyout", &key, "-x509", "-days", "365", "-out", &cert,
            "-subj", &subj, "-addext", &ext,
        ],
        dir,
    )
    .context("making a self-signed certificate with openssl req -x509")?;
    Ok(f)
}

/// A self-signed `CA:TRUE` certificate like [`docker_self_signed`]'s (RSA 2048) valid only from
/// `start` to `end` (`YYYYMMDDHHMMSSZ`, UTC): in the past for an expired one, in the future for
/// one not valid yet.
pub fn self_signed_between(dir: &Path, name: &str, san: &str, start: &str, end: &str) -> Result<CertFiles> {
    let f = files(dir, name);
    let work = dir.join(format!("{name}.openssl-ca"));
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    std::fs::write(work.join("index.txt"), "")?;
    std::fs::write(work.join("serial"), "01\n")?;
    let cnf = work.join("ca.cnf");
    std::fs::write(
        &cnf,
        format!(
            "[ca]\ndefault_ca = d\n[d]\ndatabase = {w}/index.txt\nnew_certs_dir = {w}\nserial = {w}/serial\n\
             default_md = sha256\npolicy = p\ncopy_extensions = copyall\nunique_subject = no\n\
             [p]\ncommonName = supplied\n",
            w = work.display()
        ),
    )?;
    let csr = work.join("req.csr");
    let (key, cert, csr_s, cnf_s) = (
        f.key.to_string_lossy(),
        f.cert.to_string_lossy(),
        csr.to_string_lossy(),
        cnf.to_string_lossy(),
    );
    let subj = format!("/CN={name}");
    let ext = format!("subjectAltName = {san}");
    openssl(
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr_s,
            "-subj",
            &subj,
            "-addext",
            &ext,
            "-addext",
            "basicConstraints = critical,CA:TRUE",
        ],
        dir,
    )
    .context("making a certificate request with openssl req")?;
    openssl(
        &[
            "ca",
            "-batch",
            "-selfsign",
            "-notext",
            "-config",
            &cnf_s,
            "-keyfile",
            &key,
            "-in",
            &csr_s,
            "-out",
            &cert,
            "-startdate",
            start,
            "-enddate",
            end,
        ],
        dir,
    )
    .context("self-signing with openssl ca -startdate/-enddate")?;
    Ok(f)
}
