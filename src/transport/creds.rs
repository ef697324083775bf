//! Credentials: the secret type that never prints, and where credentials come from — explicit
//! settings, podman/skopeo `auth.json` (`REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
//! `~/.config/containers/auth.json`) and docker `config.json` (`auths`, `credsStore`, `credHelpers`).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::reference::DOCKER_HUB;

/// A password or token. `Debug` and `Display` print `********`; only [`Secret::expose`] gives the value.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("********")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("********")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str("********")
    }
}

/// How we authenticate to one registry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Credentials {
    #[default]
    Anonymous,
    /// Username and password: sent as Basic, or to a token realm.
    Basic { username: String, password: Secret },
    /// An OAuth2 refresh token (docker `identitytoken`): exchanged at the realm by POST.
    IdentityToken { username: String, token: Secret },
}

impl Credentials {
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials::Basic {
            username: username.into(),
            password: Secret::new(password),
        }
    }

    pub fn is_anonymous(&self) -> bool {
        matches!(self, Credentials::Anonymous)
    }

    /// The secret strings, for scrubbing output.
    pub fn secrets(&self) -> Vec<String> {
        match self {
            Credentials::Anonymous => vec![],
            Credentials::Basic { username, password } => {
                // What goes on the wire (and what a registry may echo): `user:password` in base64,
                // unpadded so that the padded form is masked too.
                let pair = format!("{username}:{}", password.expose());
                let b64 = base64::engine::general_purpose::STANDARD.encode(&pair);
                vec![
                    password.expose().to_string(),
                    b64.trim_end_matches('=').to_string(),
                    pair,
                ]
            }
            Credentials::IdentityToken { token, .. } => vec![token.expose().to_string()],
        }
    }
}

#[derive(Deserialize, Default)]
struct AuthFile {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<Secret>,
    #[serde(default)]
    identitytoken: Option<Secret>,
}

/// The files we look in, in order: podman/skopeo's, then docker's.
pub fn default_auth_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE") {
        files.push(PathBuf::from(p));
    }
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR") {
        files.push(Path::new(&run).join("containers/auth.json"));
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    if let Some(h) = &home {
        files.push(h.join(".config/containers/auth.json"));
    }
    match std::env::var_os("DOCKER_CONFIG") {
        Some(d) => files.push(Path::new(&d).join("config.json")),
        None => {
            if let Some(h) = &home {
                files.push(h.join(".docker/config.json"));
            }
        }
    }
    files
}

/// Look up credentials for `registry` (as users write it, e.g. `docker.io`, `quay.io`,
/// `localhost:5000`) in the default files. Anonymous when none has an entry.
pub fn lookup(registry: &str) -> Result<Credentials> {
    lookup_in(registry, &default_auth_files())
}

/// Look up credentials in the given files, first match wins; missing files are skipped.
pub fn lookup_in(registry: &str, files: &[PathBuf]) -> Result<Credentials> {
    for f in files {
        if matches!(std::fs::metadata(f), Err(e) if e.kind() == std::io::ErrorKind::NotFound) {
            continue;
        }
        let text = crate::input::read_to_string(f, "auth file")?;
        let file: AuthFile = serde_json::from_str(&text).map_err(|e| {
            Error::Config(format!(
                "{}: not a valid auth file (line {}, column {}): {}",
                f.display(),
                e.line(),
                e.column(),
                e.classify_kind()
            ))
        })?;
        if let Some(c) = from_auth_file(registry, &file, f)? {
            return Ok(c);
        }
    }
    Ok(Credentials::Anonymous)
}

trait ClassifyKind {
    fn classify_kind(&self) -> &'static str;
}

impl ClassifyKind for serde_json::Error {
    // The JSON error text can quote the offending input (a password); say only what kind it was.
    fn classify_kind(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected value type",
            serde_json::error::Category::Eof => "unexpected end of file",
        }
    }
}

/// The host part of an `auths` key: keys may be `host`, `host/ns`, `https://host/v1/`.
fn key_host(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

fn same_registry(key: &str, registry: &str) -> bool {
    let h = key_host(key);
    let hub = |x: &str| matches!(x, "docker.io" | "index.docker.io" | "registry-1.docker.io");
    h == registry || (hub(h) && hub(registry))
}

fn hub_server_url(registry: &str) -> String {
    if registry == DOCKER_HUB {
        "https://index.docker.io/v1/".to_string()
    } else {
        registry.to_string()
    }
}

fn from_auth_file(registry: &str, file: &AuthFile, path: &Path) -> Result<Option<Credentials>> {
    if let Some((_, helper)) = file.cred_helpers.iter().find(|(k, _)| same_registry(k, registry)) {
        return run_helper(helper, &hub_server_url(registry));
    }
    if let Some((_, entry)) = file.auths.iter().find(|(k, _)| same_registry(k, registry)) {
        if let Some(tok) = &entry.identitytoken {
            if !tok.is_empty() {
                return Ok(Some(Credentials::IdentityToken {
                    username: entry.username.clone().unwrap_or_default(),
                    token: tok.clone(),
                }));
            }
        }
        if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| {
                    Error::Config(format!(
                        "{}: the auth entry for {registry} is not valid base64",
                        path.display()
                    ))
                })?;
            let s = String::from_utf8(raw).map_err(|_| {
                Error::Config(format!(
                    "{}: the auth entry for {registry} is not UTF-8",
                    path.display()
                ))
            })?;
            let (u, p) = s.split_once(':').ok_or_else(|| {
                Error::Config(format!(
                    "{}: the auth entry for {registry} is not user:password",
                    path.display()
                ))
            })?;
            return Ok(Some(Credentials::basic(u, p)));
        }
        if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
            return Ok(Some(Credentials::Basic {
                username: u.clone(),
                password: p.clone(),
            }));
        }
    }
    if let Some(store) = &file.creds_store {
        return run_helper(store, &hub_server_url(registry));
    }
    Ok(None)
}

#[derive(Deserialize)]
struct HelperOutput {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret")]
    secret: Secret,
}

/// Run `docker-credential-<helper> get` with the server URL on stdin.
fn run_helper(helper: &str, server: &str) -> Result<Option<Credentials>> {
    if helper.is_empty()
        || !helper
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(Error::Config(format!(
            "credential helper name {helper:?} is not valid"
        )));
    }
    let prog = format!("docker-credential-{helper}");
    let mut child = Command::new(&prog)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Config(format!("cannot run credential helper {prog}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Config(format!("credential helper {prog} failed: {e}")))?;
    if !out.status.success() {
        let stdout = String::from_utf8_lossy(&out.stdout);
        if stdout.contains("credentials not found") {
            return Ok(None);
        }
        return Err(Error::Config(format!(
            "credential helper {prog} failed for {server} (exit status {})",
            out.status.code().unwrap_or(-1)
        )));
    }
    let parsed: HelperOutput = serde_json::from_slice(&out.stdout).map_err(|e| {
        Error::Config(format!(
            "credential helper {prog} gave unreadable output ({})",
            e.classify_kind()
        ))
    })?;
    Ok(Some(if parsed.username == "<token>" {
        Credentials::IdentityToken {
            username: String::new(),
            token: parsed.secret,
        }
    } else {
        Credentials::Basic {
            username: parsed.username,
            password: parsed.secret,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn secret_never_prints() {
        let c = Credentials::basic("robot", "hunter2-secret");
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(format!("{}", Secret::new("x")), "********");
        assert_eq!(
            serde_json::to_string(&Secret::new("abc")).unwrap(),
            "\"********\""
        );
        // The password, and the Basic header's `user:password` in base64 and in clear.
        assert_eq!(
            c.secrets(),
            vec![
                "hunter2-secret".to_string(),
                "cm9ib3Q6aHVudGVyMi1zZWNyZXQ".to_string(),
                "robot:hunter2-secret".to_string()
            ]
        );
    }

    #[test]
    fn reads_auths_forms() {
        let d = tempfile::tempdir().unwrap();
        let f = write(
            d.path(),
            "auth.json",
            r#"{"auths": {
                "quay.io": {"auth": "cm9ib3Q6czNjcjN0"},
                "https://index.docker.io/v1/": {"auth": "aHViOnB3"},
                "localhost:5000/ns": {"identitytoken": "refresh-abc"},
                "plain.example": {"username": "u", "password": "p"}
            }}"#,
        );
        let files = vec![d.path().join("missing.json"), f];
        assert_eq!(
            lookup_in("quay.io", &files).unwrap(),
            Credentials::basic("robot", "s3cr3t")
        );
        assert_eq!(
            lookup_in("docker.io", &files).unwrap(),
            Credentials::basic("hub", "pw")
        );
        assert!(matches!(
            lookup_in("localhost:5000", &files).unwrap(),
            Credentials::IdentityToken { .. }
        ));
        assert_eq!(
            lookup_in("plain.example", &files).unwrap(),
            Credentials::basic("u", "p")
        );
        assert_eq!(lookup_in("other.io", &files).unwrap(), Credentials::Anonymous);
    }

    #[test]
    fn bad_files_are_clear_and_do_not_echo_secrets() {
        let d = tempfile::tempdir().unwrap();
        let f = write(
            d.path(),
            "a.json",
            r#"{"auths": {"quay.io": {"auth": "!!!not-base64-topsecret"}}}"#,
        );
        let err = lookup_in("quay.io", &[f]).unwrap_err().to_string();
        assert!(err.contains("base64") && err.contains("quay.io"), "{err}");
        assert!(!err.contains("topsecret"));
        let f = write(
            d.path(),
            "b.json",
            r#"{"auths": {"quay.io": {"password": "topsecret""#,
        );
        let err = lookup_in("quay.io", &[f]).unwrap_err().to_string();
        assert!(err.contains("b.json") && !err.contains("topsecret"), "{err}");
        let f = write(
            d.path(),
            "c.json",
            r#"{"auths": {"quay.io": {"auth": "bm9jb2xvbg=="}}}"#,
        );
        assert!(lookup_in("quay.io", &[f])
            .unwrap_err()
            .to_string()
            .contains("user:password"));
    }

    #[test]
    fn credential_helpers() {
        let d = tempfile::tempdir().unwrap();
        let bin = d.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let helper = bin.join("docker-credential-cctest");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread server\ncase \"$server\" in\n  helped.io) echo '{\"ServerURL\":\"helped.io\",\"Username\":\"hu\",\"Secret\":\"hs\"}';;\n  tok.io) echo '{\"Username\":\"<token>\",\"Secret\":\"rt\"}';;\n  *) echo 'credentials not found in native keychain'; exit 1;;\nesac\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let f = write(
            d.path(),
            "config.json",
            r#"{"credHelpers": {"helped.io": "cctest"}, "credsStore": "cctest"}"#,
        );
        let run = |reg: &str| {
            let file: AuthFile = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
            with_path(&path, || from_auth_file(reg, &file, &f))
        };
        assert_eq!(run("helped.io").unwrap(), Some(Credentials::basic("hu", "hs")));
        assert!(matches!(
            run("tok.io").unwrap(),
            Some(Credentials::IdentityToken { .. })
        ));
        assert_eq!(run("nothing.io").unwrap(), None);
        assert!(run_helper("../evil", "x").is_err());
        assert!(run_helper("does-not-exist-xyz", "x")
            .unwrap_err()
            .to_string()
            .contains("docker-credential-does-not-exist-xyz"));
    }

    fn with_path<T>(path: &str, f: impl FnOnce() -> T) -> T {
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _g = LOCK.lock().unwrap();
        let old = std::env::var_os("PATH");
        // Tests in this crate touch PATH only here, under the lock.
        std::env::set_var("PATH", path);
        let r = f();
        if let Some(o) = old {
            std::env::set_var("PATH", o);
        }
        r
    }
}
