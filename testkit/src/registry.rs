//! Real `docker-registry` (distribution 2.8) processes on loopback.

use crate::openssl::CertFiles;
use crate::tls::TestCa;
use crate::token::{TokenServer, TokenServerOptions};
use crate::util::{free_port, tail};
use anyhow::{anyhow, bail, Context, Result};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The error text for a missing registry binary.
pub const INSTALL_HINT: &str = "the `docker-registry` binary (distribution 2.8) was not found in PATH; \
     install it with `apt-get install -y docker-registry` (or set CC_TESTKIT_REGISTRY_BIN)";

/// How clients authenticate against a [`Registry`].
#[derive(Debug, Clone, Default)]
pub enum Auth {
    /// Anonymous, full access.
    #[default]
    None,
    /// `auth.htpasswd` with bcrypt hashes of these `(user, password)` pairs.
    Htpasswd(Vec<(String, String)>),
    /// `auth.token` backed by a [`TokenServer`] of ours with these options.
    /// The first user becomes [`Registry::credentials`].
    Token(TokenServerOptions),
}

/// Everything configurable about a [`Registry`].
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Serve HTTPS with a certificate from a CA generated for this registry.
    pub tls: bool,
    /// Authentication scheme.
    pub auth: Auth,
    /// Fixed port; `None` picks a free one (retrying on a collision).
    pub port: Option<u16>,
    /// Keep config, certificates, logs and storage in this directory instead
    /// of a temporary one (which is deleted on drop).
    pub dir: Option<PathBuf>,
    /// Use this CA instead of generating one (share one CA between
    /// registries so a single `ca.crt` trusts them all). Ignored by plain
    /// HTTP registries without token auth.
    pub ca: Option<Arc<TestCa>>,
    /// distribution log level: `error`, `warn` (default), `info`, `debug`.
    pub log_level: String,
    /// How long to wait for `GET /v2/` to answer (default 30 s).
    pub startup_timeout: Duration,
    /// Serve this certificate and key (`tls` must be set) instead of one issued by the CA.
    /// [`Registry::ca_pem_path`] and [`Registry::cert_dir`] then hold this certificate itself,
    /// what users trust for a self-signed one.
    pub server_cert: Option<CertFiles>,
    /// `http.tls.clientcas`: require client certificates signed by one of these CA files.
    pub client_cas: Vec<PathBuf>,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            tls: false,
            auth: Auth::None,
            port: None,
            dir: None,
            ca: None,
            log_level: "warn".into(),
            startup_timeout: Duration::from_secs(30),
            server_cert: None,
            client_cas: Vec::new(),
        }
    }
}

enum Dir {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl Dir {
    fn path(&self) -> &Path {
        match self {
            Dir::Temp(t) => t.path(),
            Dir::Kept(p) => p,
        }
    }
}

/// A running `docker-registry` process bound to 127.0.0.1. Killed on drop.
pub struct Registry {
    dir: Dir,
    port: u16,
    tls: bool,
    ca: Option<Arc<TestCa>>,
    /// `ca.pem` and `certs.d/ca.crt` exist (a CA, or the served certificate itself).
    trust_files: bool,
    /// Readiness is the port accepting connections (the testkit's client may fail the handshake).
    probe_tcp: bool,
    credentials: Option<(String, String)>,
    token_server: Option<TokenServer>,
    child: Mutex<Option<Child>>,
    startup_timeout: Duration,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("url", &self.url())
            .field("dir", &self.dir.path())
            .finish()
    }
}

/// Finds the registry binary: `$CC_TESTKIT_REGISTRY_BIN`, else
/// `docker-registry` in PATH (Debian/Ubuntu package `docker-registry`).
pub fn registry_binary() -> Result<PathBuf> {
    find_registry_binary(
        std::env::var_os("CC_TESTKIT_REGISTRY_BIN"),
        std::env::var_os("PATH").unwrap_or_default(),
    )
}

fn find_registry_binary(
    override_path: Option<std::ffi::OsString>,
    path: std::ffi::OsString,
) -> Result<PathBuf> {
    if let Some(p) = override_path {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        bail!(
            "CC_TESTKIT_REGISTRY_BIN={} does not exist; {INSTALL_HINT}",
            p.display()
        );
    }
    for dir in std::env::split_paths(&path) {
        let cand = dir.join("docker-registry");
        if cand.is_file() {
            return Ok(cand);
        }
    }
    bail!("{INSTALL_HINT}")
}

/// The `http.tls` section; writes the served certificate (and what clients trust: `ca.pem`,
/// `certs.d/ca.crt`) into `root`.
fn tls_yaml(root: &Path, opts: &RegistryOptions, ca: Option<&TestCa>) -> Result<String> {
    let (cert, key) = match (&opts.server_cert, ca) {
        (Some(own), _) => {
            let certs_d = root.join("certs.d");
            std::fs::create_dir_all(&certs_d)?;
            std::fs::copy(&own.cert, root.join("ca.pem"))?;
            std::fs::copy(&own.cert, certs_d.join("ca.crt"))?;
            (own.cert.clone(), own.key.clone())
        }
        (None, Some(ca)) => {
            let server = ca.issue_loopback()?;
            std::fs::write(
                root.join("server.crt"),
                format!("{}{}", server.cert_pem, ca.ca_pem()),
            )?;
            std::fs::write(root.join("server.key"), &server.key_pem)?;
            (root.join("server.crt"), root.join("server.key"))
        }
        (None, None) => bail!("tls implies a CA or a server_cert"),
    };
    let mut yaml = format!(
        "  tls:\n    certificate: {}\n    key: {}\n",
        cert.display(),
        key.display()
    );
    if !opts.client_cas.is_empty() {
        yaml.push_str("    clientcas:\n");
        for c in &opts.client_cas {
            yaml.push_str(&format!("      - {}\n", c.display()));
        }
    }
    Ok(yaml)
}

impl Registry {
    /// Plain HTTP, anonymous.
    pub fn plain() -> Result<Registry> {
        Registry::with_options(RegistryOptions::default())
    }

    /// HTTPS (certificate for `127.0.0.1`/`localhost` from a fresh CA) with
    /// htpasswd Basic auth for `user`/`password`.
    pub fn tls_htpasswd(user: &str, password: &str) -> Result<Registry> {
        Registry::with_options(RegistryOptions {
            tls: true,
            auth: Auth::Htpasswd(vec![(user.into(), password.into())]),
            ..Default::default()
        })
    }

    /// HTTPS with `auth.token` pointing at a [`TokenServer`] of ours that
    /// knows `user`/`password` (all actions).
    pub fn token(user: &str, password: &str) -> Result<Registry> {
        Registry::with_options(RegistryOptions {
            tls: true,
            auth: Auth::Token(TokenServerOptions::with_user(user, password)),
            ..Default::default()
        })
    }

    /// Starts a registry as described by `opts`.
    pub fn with_options(opts: RegistryOptions) -> Result<Registry> {
        let bin = registry_binary()?;
        let mut dir = match &opts.dir {
            Some(d) => {
                std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
                Dir::Kept(d.clone())
            }
            None => Dir::Temp(
                tempfile::Builder::new()
                    .prefix("cc-testkit-registry-")
                    .tempdir()
                    .context("creating the registry temp dir")?,
            ),
        };
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("storage"))?;

        if opts.server_cert.is_some() && !opts.tls {
            bail!("RegistryOptions::server_cert needs tls: true");
        }
        let needs_ca = (opts.tls && opts.server_cert.is_none()) || matches!(opts.auth, Auth::Token(_));
        let ca = match (&opts.ca, needs_ca) {
            (Some(ca), true) => Some(ca.clone()),
            (None, true) => Some(Arc::new(TestCa::new()?)),
            (_, false) => None,
        };
        if let Some(ca) = &ca {
            let cert_dir = root.join("certs.d");
            std::fs::create_dir_all(&cert_dir)?;
            ca.write_ca(&cert_dir.join("ca.crt"))?;
            ca.write_ca(&root.join("ca.pem"))?;
        }

        let yaml_tls = if opts.tls {
            tls_yaml(&root, &opts, ca.as_deref())?
        } else {
            String::new()
        };

        let mut credentials = None;
        let mut token_server = None;
        let yaml_auth = match &opts.auth {
            Auth::None => String::new(),
            Auth::Htpasswd(users) => {
                let mut file = String::new();
                for (u, p) in users {
                    // Cost 4 (the minimum): the registry checks the hash on
                    // every request, a high cost makes tests crawl.
                    let hash = bcrypt::hash_with_result(p, 4)?.format_for_version(bcrypt::Version::TwoY);
                    file.push_str(&format!("{u}:{hash}\n"));
                }
                std::fs::write(root.join("htpasswd"), file)?;
                credentials = users.first().cloned();
                format!(
                    "auth:\n  htpasswd:\n    realm: copy-containers-testkit\n    path: {}\n",
                    root.join("htpasswd").display()
                )
            }
            Auth::Token(topts) => {
                let ts = TokenServer::start(ca.as_ref().expect("token implies a CA"), topts.clone())?;
                std::fs::write(root.join("token-signing.crt"), ts.signing_cert_pem())?;
                credentials = topts.users.first().map(|u| (u.name.clone(), u.password.clone()));
                let yaml = format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    ts.realm(),
                    ts.service(),
                    ts.issuer(),
                    root.join("token-signing.crt").display()
                );
                token_server = Some(ts);
                yaml
            }
        };

        let secret = format!("{:016x}{:016x}", crate::rt::random_u64(), crate::rt::random_u64());
        let mut attempts = 0;
        loop {
            attempts += 1;
            let port = match opts.port {
                Some(p) => p,
                None => free_port()?,
            };
            let config = format!(
                "version: 0.1\n\
                 log:\n  level: {level}\n  formatter: text\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n  \
                 redirect:\n    disable: true\n  maintenance:\n    uploadpurging:\n      enabled: false\n\
                 http:\n  addr: 127.0.0.1:{port}\n  secret: {secret}\n  headers:\n    X-Content-Type-Options: [nosniff]\n\
                 {yaml_tls}\
                 health:\n  storagedriver:\n    enabled: false\n\
                 {yaml_auth}",
                level = opts.log_level,
                storage = root.join("storage").display(),
            );
            std::fs::write(root.join("config.yml"), config)?;
            let reg = Registry {
                dir,
                port,
                tls: opts.tls,
                ca: ca.clone(),
                trust_files: ca.is_some() || opts.server_cert.is_some(),
                probe_tcp: opts.server_cert.is_some() || !opts.client_cas.is_empty(),
                credentials: credentials.clone(),
                token_server,
                child: Mutex::new(None),
                startup_timeout: opts.startup_timeout,
            };
            match reg.launch(&bin) {
                Ok(()) => return Ok(reg),
                Err(e) => {
                    let collided = tail(&reg.log_path(), 20).contains("address already in use");
                    if collided && opts.port.is_none() && attempts < 6 {
                        // Take the pieces back and try another port.
                        let RegistryParts {
                            dir: d,
                            token_server: ts,
                        } = reg.into_parts();
                        dir = d;
                        token_server = ts;
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }

    fn into_parts(mut self) -> RegistryParts {
        self.kill();
        // Move fields out without running Drop twice.
        let dir = std::mem::replace(&mut self.dir, Dir::Kept(PathBuf::new()));
        let token_server = self.token_server.take();
        RegistryParts { dir, token_server }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    fn launch(&self, bin: &Path) -> Result<()> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .context("opening the registry log")?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .current_dir(self.dir.path());
        let child = crate::rt::spawn_child(cmd).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow!("{INSTALL_HINT}")
            } else {
                anyhow!("starting {}: {e}", bin.display())
            }
        })?;
        *self.lock_child() = Some(child);
        self.wait_ready()
    }

    fn lock_child(&self) -> std::sync::MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait_ready(&self) -> Result<()> {
        if self.probe_tcp {
            return self.wait_listening();
        }
        let deadline = Instant::now() + self.startup_timeout;
        let url = format!("{}/v2/", self.url());
        let tls = self.client_config()?;
        loop {
            let exited = {
                let mut guard = self.lock_child();
                let status = guard.as_mut().and_then(|c| c.try_wait().ok().flatten());
                if status.is_some() {
                    *guard = None;
                }
                status
            };
            if let Some(status) = exited {
                bail!(
                    "docker-registry exited during startup ({status}); log tail:\n{}",
                    tail(&self.log_path(), 30)
                );
            }
            let probe = crate::rt::block_on({
                let url = url.clone();
                let tls = tls.clone();
                async move {
                    tokio::time::timeout(
                        Duration::from_secs(2),
                        crate::http::request("GET", &url, &[], Vec::new(), tls),
                    )
                    .await
                }
            });
            if let Ok(Ok(_)) = probe {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill();
                bail!(
                    "docker-registry did not answer GET {url} within {:?}; log tail:\n{}",
                    self.startup_timeout,
                    tail(&self.log_path(), 30)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Readiness for registries our client cannot complete a handshake with: the port accepts
    /// connections (docker-registry listens once its configuration is loaded).
    fn wait_listening(&self) -> Result<()> {
        let deadline = Instant::now() + self.startup_timeout;
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if let Some(status) = self
                .lock_child()
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!(
                    "docker-registry exited during startup ({status}); log tail:\n{}",
                    tail(&self.log_path(), 30)
                );
            }
            if std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill();
                bail!(
                    "docker-registry did not listen on {addr} within {:?}; log tail:\n{}",
                    self.startup_timeout,
                    tail(&self.log_path(), 30)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill(&self) {
        if let Some(mut child) = self.lock_child().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.host())
    }

    /// Whether the registry serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The CA (PEM file) clients must trust, when TLS or token auth is used.
    pub fn ca_pem_path(&self) -> Option<PathBuf> {
        self.trust_files.then(|| self.dir.path().join("ca.pem"))
    }

    /// A directory holding `ca.crt` (usable as skopeo/podman `--cert-dir`).
    pub fn cert_dir(&self) -> Option<PathBuf> {
        self.trust_files.then(|| self.dir.path().join("certs.d"))
    }

    /// The CA itself (to issue more certificates or build client configs).
    pub fn ca(&self) -> Option<&Arc<TestCa>> {
        self.ca.as_ref()
    }

    /// A rustls client config trusting [`Self::ca_pem_path`] (None for plain HTTP
    /// registries without token auth).
    pub fn client_config(&self) -> Result<Option<Arc<rustls::ClientConfig>>> {
        self.ca_pem_path()
            .map(|p| crate::tls::client_config_from_file(&p))
            .transpose()
    }

    /// `(user, password)` clients must use, if any.
    pub fn credentials(&self) -> Option<(String, String)> {
        self.credentials.clone()
    }

    /// The token server (for `Auth::Token` registries).
    pub fn token_server(&self) -> Option<&TokenServer> {
        self.token_server.as_ref()
    }

    /// Root of the filesystem storage driver.
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The directory holding config, certificates, log and storage.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The registry's combined stdout/stderr log file.
    pub fn log_file(&self) -> PathBuf {
        self.log_path()
    }

    /// The last `lines` lines of the registry log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log_path(), lines)
    }

    /// PID of the registry process, while running.
    pub fn pid(&self) -> Option<u32> {
        self.lock_child().as_ref().map(|c| c.id())
    }

    /// An [`crate::Endpoint`] describing how to reach this registry.
    pub fn endpoint(&self) -> crate::Endpoint {
        crate::Endpoint {
            base_url: self.url(),
            credentials: self.credentials(),
            ca_pem_path: self.ca_pem_path(),
            cert_dir: self.cert_dir(),
        }
    }

    /// Kills the process (SIGKILL). Storage is kept; the port is free.
    pub fn stop(&self) {
        self.kill();
    }

    /// Starts the process again on the same port with the same storage
    /// (stops it first if it is running) and waits until it answers.
    pub fn restart(&self) -> Result<()> {
        self.kill();
        let bin = registry_binary()?;
        // The port was just released by a killed process: retry briefly.
        let mut last = None;
        for _ in 0..5 {
            match self.launch(&bin) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    let collided = tail(&self.log_path(), 5).contains("address already in use");
                    last = Some(e);
                    if !collided {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
        Err(last.expect("at least one attempt"))
    }

    /// Whether the process is alive.
    pub fn is_running(&self) -> bool {
        let mut guard = self.lock_child();
        match guard.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }
}

struct RegistryParts {
    dir: Dir,
    token_server: Option<TokenServer>,
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binary_names_the_package() {
        let err = find_registry_binary(None, "/nonexistent-dir".into()).unwrap_err();
        assert!(
            err.to_string().contains("apt-get install -y docker-registry"),
            "{err}"
        );
        let err = find_registry_binary(Some("/nonexistent/bin".into()), "/usr/bin".into()).unwrap_err();
        assert!(
            err.to_string().contains("apt-get install -y docker-registry"),
            "{err}"
        );
    }
}
