//! TLS as private registries do it, against real `docker-registry` processes: Docker's documented
//! self-signed certificate (made by the `openssl` CLI, `CA:TRUE`) trusted through `ca_file`, a
//! certs.d directory (`cert_dir`, or the roots of `COPY_CONTAINERS_CERTS_D`) or the system store
//! (`SSL_CERT_FILE`); a leaf of a private CA trusted the same ways; what must still be refused (an
//! unrelated self-signed certificate, another name, expired, not yet valid); and a registry that
//! requires a client certificate, given as a certs.d `*.cert`/`*.key` pair. skopeo checks results.

#![allow(clippy::result_large_err)]

mod common;

use std::path::{Path, PathBuf};

use copy_containers::copy::{copy_batch, CopyOptions, CopyRequest, Endpoint};
use copy_containers::error::Error;
use copy_containers::registry::Registry;
use copy_containers::transport::RegistryConfig;
use copy_containers_testkit::{self as tk, openssl, seed, CertFiles};

use common::*;

/// A TLS registry serving `cert` (its `ca_pem_path`/`cert_dir` hold `cert` itself).
fn registry_serving(cert: &CertFiles) -> tk::Registry {
    tk::Registry::with_options(tk::RegistryOptions {
        tls: true,
        server_cert: Some(cert.clone()),
        ..Default::default()
    })
    .expect("registry")
}

/// A client config for `reg` trusting only what the caller adds (plus the system store), one
/// attempt per request so that refusals come at once.
fn bare_config(reg: &tk::Registry) -> RegistryConfig {
    let mut c = RegistryConfig::new(reg.host());
    c.retry.attempts = 1;
    c
}

fn with_ca_file(reg: &tk::Registry, ca: &Path) -> Registry {
    let mut c = bare_config(reg);
    c.ca_file = Some(ca.to_path_buf());
    Registry::new(c).expect("client")
}

fn with_cert_dir(reg: &tk::Registry, dir: &Path) -> Registry {
    let mut c = bare_config(reg);
    c.cert_dir = Some(dir.to_path_buf());
    Registry::new(c).expect("client")
}

/// A plain registry holding `ns/app:v1`.
async fn source() -> (tk::Registry, seed::SeededImage) {
    let src = tk::Registry::plain().unwrap();
    let img = seed::seed_image(&src, "ns/app", "v1", "amd64", 2).await.unwrap();
    (src, img)
}

async fn copy_to(src: &tk::Registry, dst: &Registry, tag: &str) {
    let s = client(src);
    let req = CopyRequest {
        source: Endpoint::new(&s, "ns/app"),
        reference: "v1".into(),
        dests: vec![(Endpoint::new(dst, "ns/app"), vec![tag.into()])],
        known: None,
    };
    let out = copy_batch(&[req], &CopyOptions::default()).await.remove(0);
    assert!(out.ok(), "{out:?}");
}

/// `dir/<host>/` holding `files` (name, source path): a certs.d root for one registry.
fn certs_d_root(dir: &Path, host: &str, files: &[(&str, &Path)]) -> PathBuf {
    let d = dir.join(host);
    std::fs::create_dir_all(&d).unwrap();
    for (name, from) in files {
        std::fs::copy(from, d.join(name)).unwrap();
    }
    dir.to_path_buf()
}

fn tls_error(r: copy_containers::error::Result<()>) -> String {
    let err = r.expect_err("the handshake must be refused");
    let msg = err.to_string();
    assert!(matches!(err, Error::Tls { .. }), "{msg}");
    msg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_docs_self_signed_certificate_is_trusted_through_ca_file_and_cert_dir() {
    let t = tempfile::tempdir().unwrap();
    let cert = openssl::docker_self_signed(t.path(), "domain", "IP:127.0.0.1").unwrap();
    let text = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&cert.cert)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("CA:TRUE"),
        "Docker's certificate is a CA certificate; this test is about that case"
    );
    let reg = registry_serving(&cert);
    let (src, img) = source().await;

    // Not trusted: refused, with the ways to trust it in the message.
    let msg = tls_error(Registry::new(bare_config(&reg)).unwrap().ping().await);
    assert!(msg.contains("unknown CA") && msg.contains("certs.d"), "{msg}");

    // ca_file: copy into it, then skopeo (Go's verifier, --cert-dir) sees the same image.
    copy_to(&src, &with_ca_file(&reg, &cert.cert), "v1").await;
    assert_eq!(tk::skopeo_inspect_raw(&reg, "ns/app:v1").unwrap(), img.manifest);

    // cert_dir (skopeo's --cert-dir layout: ca.crt) and back out of it.
    let dir_client = with_cert_dir(&reg, &reg.cert_dir().unwrap());
    let m = dir_client.get_manifest("ns/app", "v1").await.unwrap();
    assert_eq!(m.bytes.as_ref(), img.manifest.as_slice());
    copy_to(&src, &dir_client, "again").await;
    assert_eq!(
        tk::skopeo_inspect_digest(&reg, "ns/app:again").unwrap(),
        img.digest
    );
}

/// The binary: certs.d roots from `COPY_CONTAINERS_CERTS_D` (the first root that has the host),
/// and the system store (`SSL_CERT_FILE`, read by rustls-native-certs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reads_certs_d_roots_and_the_system_store() {
    let t = tempfile::tempdir().unwrap();
    let cert = openssl::docker_self_signed(t.path(), "domain", "IP:127.0.0.1").unwrap();
    let reg = registry_serving(&cert);
    let (src, img) = source().await;
    let empty = t.path().join("no-such-root");
    let root = certs_d_root(
        &t.path().join("containers-certs.d"),
        &reg.host(),
        &[("domain.crt", &cert.cert)],
    );
    let roots = std::env::join_paths([&empty, &root]).unwrap();

    let out = bin()
        .env("COPY_CONTAINERS_CERTS_D", &roots)
        .args(["copy", "--src-insecure", "--retries", "1"])
        .arg(format!("{}/ns/app:v1", src.host()))
        .arg(format!("{}/ns/app:v1", reg.host()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(tk::skopeo_inspect_digest(&reg, "ns/app:v1").unwrap(), img.digest);

    let inspect = |envs: &[(&str, &std::ffi::OsStr)]| {
        let mut c = bin();
        c.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR");
        for (k, v) in envs {
            c.env(k, v);
        }
        c.args(["inspect", "--json"])
            .arg(format!("{}/ns/app:v1", reg.host()));
        c.output().unwrap()
    };
    let none = std::ffi::OsStr::new("");
    let out = inspect(&[("COPY_CONTAINERS_CERTS_D", none)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown CA"), "{err}");

    let out = inspect(&[
        ("COPY_CONTAINERS_CERTS_D", none),
        ("SSL_CERT_FILE", cert.cert.as_os_str()),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&img.digest));

    // --cert-dir: that directory, no root searched.
    let out = bin()
        .env("COPY_CONTAINERS_CERTS_D", &empty)
        .args(["inspect", "--json", "--cert-dir"])
        .arg(reg.cert_dir().unwrap())
        .arg(format!("{}/ns/app:v1", reg.host()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&img.digest));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaf_of_a_private_ca_is_trusted_through_ca_file_and_certs_d() {
    let reg = tk::Registry::with_options(tk::RegistryOptions {
        tls: true,
        ..Default::default()
    })
    .unwrap();
    let (src, img) = source().await;
    let ca = reg.ca_pem_path().unwrap();
    copy_to(&src, &with_ca_file(&reg, &ca), "v1").await;
    assert_eq!(tk::skopeo_inspect_raw(&reg, "ns/app:v1").unwrap(), img.manifest);

    // Any *.crt name in the host's directory of a certs.d root.
    let t = tempfile::tempdir().unwrap();
    let root = certs_d_root(t.path(), &reg.host(), &[("private-ca.crt", &ca)]);
    let out = bin()
        .env("COPY_CONTAINERS_CERTS_D", &root)
        .args(["inspect", "--json"])
        .arg(format!("{}/ns/app:v1", reg.host()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&img.digest));
}

/// Only a presented certificate byte-identical to a trusted one passes: not another self-signed
/// certificate for the same name, not the trusted one for another name, nor outside its dates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_still_refused() {
    let t = tempfile::tempdir().unwrap();
    let ip = "IP:127.0.0.1";
    let served = openssl::self_signed(t.path(), "served", ip, "rsa:2048").unwrap();
    let unrelated = openssl::self_signed(t.path(), "unrelated", ip, "rsa:2048").unwrap();
    let reg = registry_serving(&served);
    let msg = tls_error(with_ca_file(&reg, &unrelated.cert).ping().await);
    assert!(msg.contains("unknown CA"), "{msg}");
    with_ca_file(&reg, &served.cert).ping().await.unwrap();
    drop(reg);

    let named = openssl::self_signed(t.path(), "named", "DNS:registry.example", "rsa:2048").unwrap();
    let reg = registry_serving(&named);
    let msg = tls_error(with_ca_file(&reg, &named.cert).ping().await);
    assert!(msg.contains("not valid for this host name"), "{msg}");
    drop(reg);

    let expired =
        openssl::self_signed_between(t.path(), "expired", ip, "20200101000000Z", "20210101000000Z").unwrap();
    let reg = registry_serving(&expired);
    let msg = tls_error(with_ca_file(&reg, &expired.cert).ping().await);
    assert!(msg.contains("has expired"), "{msg}");
    let msg = tls_error(with_cert_dir(&reg, &reg.cert_dir().unwrap()).ping().await);
    assert!(msg.contains("has expired"), "{msg}");
    drop(reg);

    let early =
        openssl::self_signed_between(t.path(), "early", ip, "20990101000000Z", "21000101000000Z").unwrap();
    let reg = registry_serving(&early);
    let msg = tls_error(with_ca_file(&reg, &early.cert).ping().await);
    assert!(msg.contains("not valid yet"), "{msg}");
}

/// `http.tls.clientcas`: refused without a client certificate, served with the certs.d pair, as
/// skopeo is with the same directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_comes_from_the_cert_pair_in_certs_d() {
    let t = tempfile::tempdir().unwrap();
    let clients = tk::TestCa::new().unwrap();
    let clients_pem = t.path().join("clients-ca.pem");
    clients.write_ca(&clients_pem).unwrap();
    let cert = openssl::docker_self_signed(t.path(), "domain", "IP:127.0.0.1").unwrap();
    let reg = tk::Registry::with_options(tk::RegistryOptions {
        tls: true,
        server_cert: Some(cert.clone()),
        client_cas: vec![clients_pem],
        ..Default::default()
    })
    .unwrap();
    let (src, img) = source().await;

    // Refused at once: no retries for what will not heal.
    let mut c = bare_config(&reg);
    c.ca_file = Some(cert.cert.clone());
    c.retry.attempts = 4;
    let refused = Registry::new(c).unwrap();
    let msg = tls_error(refused.ping().await);
    assert!(
        msg.contains("client certificate") && msg.contains("certs.d"),
        "{msg}"
    );
    assert_eq!(refused.transport().stats().retries, 0);

    let dir = t.path().join("certs.d").join(reg.host());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&cert.cert, dir.join("ca.crt")).unwrap();
    clients
        .issue_client("copy-containers")
        .unwrap()
        .write(&dir.join("client.cert"), &dir.join("client.key"))
        .unwrap();
    copy_to(&src, &with_cert_dir(&reg, &dir), "v1").await;
    let mut ep = reg.endpoint();
    ep.cert_dir = Some(dir.clone());
    assert_eq!(tk::skopeo_inspect_raw(ep, "ns/app:v1").unwrap(), img.manifest);

    // The same directory found under a certs.d root by the binary.
    let out = bin()
        .env("COPY_CONTAINERS_CERTS_D", t.path().join("certs.d"))
        .args(["inspect", "--json"])
        .arg(format!("{}/ns/app:v1", reg.host()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&img.digest));
}

/// A broken certs.d directory is a configuration error naming the file, before any request.
#[test]
fn a_bad_certs_d_file_is_a_clear_config_error() {
    let t = tempfile::tempdir().unwrap();
    let host = "127.0.0.1:5999";
    std::fs::create_dir_all(t.path().join(host)).unwrap();
    std::fs::write(t.path().join(host).join("client.cert"), "x").unwrap();
    let out = bin()
        .env("COPY_CONTAINERS_CERTS_D", t.path())
        .args(["inspect", &format!("{host}/ns/app:v1")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("client.cert") && err.contains("client.key"), "{err}");

    let mut c = RegistryConfig::new(host);
    c.cert_dir = Some(t.path().join(host));
    let err = Registry::new(c).map(|_| ()).unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");

    // A cert_dir that is not there is a typo, not an empty directory.
    let args = copy_containers::promote::RegistryArgs {
        host: host.into(),
        namespace: Some("ns".into()),
        cert_dir: Some(t.path().join("nowhere")),
        ..Default::default()
    };
    let err = args
        .resolve("target_registries[0]", None, 1)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("target_registries[0]") && err.contains("cert_dir") && err.contains("nowhere"),
        "{err}"
    );
}

/// A TLS registry marked insecure (plain HTTP) answers Go's bare `HTTP/1.0 400`; a HEAD has no body
/// to say why. The error says what to change, at once, for a HEAD and a GET alike, and the CLI's
/// `copy` says it too (before: "HTTP 400: (no message)").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_registry_marked_insecure_says_so() {
    let t = tempfile::tempdir().unwrap();
    let cert = openssl::docker_self_signed(t.path(), "domain", "IP:127.0.0.1").unwrap();
    let reg = registry_serving(&cert);
    let mut c = RegistryConfig::new(reg.host());
    c.insecure = true;
    let r = Registry::new(c).unwrap();
    for err in [
        r.head_manifest("ns/app", "v1").await.unwrap_err(),
        r.get_manifest("ns/app", "v1").await.unwrap_err(),
    ] {
        assert!(matches!(err, Error::Tls { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("speaks HTTPS") && msg.contains("do not mark it insecure"),
            "{msg}"
        );
    }
    assert_eq!(r.transport().stats().retries, 0);

    let (src, _) = source().await;
    let out = bin()
        .args(["copy", "--src-insecure", "--dest-insecure"])
        .arg(format!("{}/ns/app:v1", src.host()))
        .arg(format!("{}/ns/app:v1", reg.host()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("do not mark it insecure") && !err.contains("no message"),
        "{err}"
    );
}
