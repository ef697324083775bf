//! Quay repositories: Quay does not create a repository on first push the way a plain registry does
//! (or creates it private), so a registry marked `create_repo: true` gets its missing repositories
//! created as **public** through the Quay API before anything is pushed.
//!
//! - list: `GET <api>/repository?namespace=<ns>&public=true`, following `next_page`;
//! - create: `POST <api>/repository` with `Authorization: Bearer <token>` and
//!   `{"namespace", "repository", "description", "visibility": "public"}` (201 created, 400 "already
//!   exists" counts as there).
//! - move a tag without pushing (copy-quay's `tag`): `PUT <api>/repository/<ns>/<name>/tag/<tag>`
//!   with `{"manifest_digest": "sha256:…"}` (201 `"Updated"`); the caller reads it back through the
//!   registry.
//!
//! The token comes from `token_env` (an environment variable), `token_file` (first line of a file) or,
//! discouraged, an inline `token`; it is only ever sent in the `Authorization` header and never
//! appears in a message.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, RETRY_AFTER};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{error_chain, Error, Result};
use crate::reference::validate_repository;
use crate::sources::http::{join, redact};
use crate::transport::certs_d::CertsDir;
use crate::transport::retry::{self, retryable_status, Attempt, RetryPolicy};
use crate::transport::{client, retryable_error, tls, Secret};

/// Description given to the repositories we create.
pub const DEFAULT_DESCRIPTION: &str = "TripleO container image (created by copy-containers)";

/// Longest listing we follow (pages of 100 repositories).
pub const MAX_PAGES: usize = 1000;
/// Largest API answer read (a page of the repository listing is a few KiB).
pub const MAX_ANSWER_BYTES: usize = 16 << 20;

/// How to reach one Quay organisation.
#[derive(Clone, Debug)]
pub struct QuaySpec {
    /// The registry's label, for messages.
    pub registry: String,
    /// The API root, ending in `/` (`https://quay.io/api/v1/`).
    pub api: Url,
    pub namespace: String,
    pub token: Secret,
    pub description: String,
    pub ca_file: Option<PathBuf>,
    /// The registry's `cert_dir` (else its certs.d directory is searched for, see
    /// [`crate::transport::certs_d`]).
    pub cert_dir: Option<PathBuf>,
    pub tls_verify: bool,
    pub retry: RetryPolicy,
    pub timeout: Duration,
}

/// One entry of the repository listing (fields we use).
#[derive(Clone, Debug, Deserialize)]
struct RepoEntry {
    #[serde(default)]
    namespace: Option<String>,
    name: String,
}

#[derive(Clone, Debug, Deserialize)]
struct RepoPage {
    repositories: Vec<RepoEntry>,
    #[serde(default)]
    next_page: Option<String>,
}

/// What [`ensure_repositories`] did, per registry.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct EnsureOutcome {
    pub registry: String,
    pub namespace: String,
    /// Repositories created now.
    pub created: Vec<String>,
    /// Repositories that were there already (listed, or answered "already exists").
    pub existing: Vec<String>,
    /// Dry run: repositories that would be created.
    pub would_create: Vec<String>,
}

impl EnsureOutcome {
    /// What was created (or would be), as the command line shows it.
    pub fn lines(&self) -> Vec<String> {
        let at = format!("quay {}/{}", self.registry, self.namespace);
        [("created", &self.created), ("would create", &self.would_create)]
            .into_iter()
            .filter(|(_, names)| !names.is_empty())
            .map(|(what, names)| format!("{at}: {what} {}", names.join(", ")))
            .collect()
    }
}

/// A Quay API client for one organisation.
pub struct Quay {
    spec: QuaySpec,
    client: reqwest::Client,
}

impl std::fmt::Debug for Quay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quay")
            .field("api", &redact(&self.spec.api))
            .field("namespace", &self.spec.namespace)
            .finish()
    }
}

impl Quay {
    pub fn new(spec: QuaySpec) -> Result<Quay> {
        crate::scrub::remember_secret(spec.token.expose());
        let host = spec.api.host_str().unwrap_or_default();
        let api_host = match spec.api.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let certs_dir = match &spec.cert_dir {
            Some(d) => CertsDir::Dir(d),
            None => CertsDir::Host(&api_host),
        };
        let opts = tls::TlsOptions {
            ca_file: spec.ca_file.as_deref(),
            certs_dir,
            verify: spec.tls_verify,
            client_cert_wanted: None,
        };
        let client = client::build(client::ClientSpec {
            name: &spec.registry,
            tls: Some(opts),
            connect_timeout: Duration::from_secs(15),
            read_timeout: None,
            timeout: Some(spec.timeout),
            redirects: 0,
        })?;
        Ok(Quay { spec, client })
    }

    pub fn spec(&self) -> &QuaySpec {
        &self.spec
    }

    fn host(&self) -> String {
        match (self.spec.api.host_str(), self.spec.api.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => self.spec.registry.clone(),
        }
    }

    /// Send a request (retrying 5xx/429/408 and broken connections); returns status and body.
    async fn send(
        &self,
        method: reqwest::Method,
        url: &Url,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, Vec<u8>)> {
        let shown = redact(url);
        let what = format!("{method} {shown}");
        retry::run(&self.spec.retry, &what, |_, last| {
            self.send_once(&method, url, body, &shown, last)
        })
        .await
        .0
    }

    /// One try of [`Quay::send`].
    async fn send_once(
        &self,
        method: &reqwest::Method,
        url: &Url,
        body: Option<&serde_json::Value>,
        shown: &str,
        last: bool,
    ) -> Attempt<Result<(u16, Vec<u8>)>> {
        let mut req = self
            .client
            .request(method.clone(), url.clone())
            .header(ACCEPT, "application/json")
            .header(AUTHORIZATION, format!("Bearer {}", self.spec.token.expose()));
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if !last && retryable_error(&e) => {
                return Attempt::Again {
                    why: error_chain(&e),
                    retry_after: None,
                }
            }
            Err(e) => {
                return Attempt::Done(Err(Error::Network {
                    registry: self.host(),
                    detail: format!("{method} {shown}: {}", error_chain(&e)),
                }))
            }
        };
        let status = resp.status().as_u16();
        if !last && retryable_status(status) {
            let retry_after = resp
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            return Attempt::Again {
                why: format!("HTTP {status}"),
                retry_after,
            };
        }
        if !(200..300).contains(&status) {
            // Only the start of an error body is shown: a huge or endless one is not read on.
            let bytes = crate::transport::read_prefix(resp, crate::transport::ERROR_BODY_CAP).await;
            return Attempt::Done(Ok((status, bytes.to_vec())));
        }
        let what = format!("{method} {shown}");
        Attempt::Done(
            crate::transport::read_limited(resp, MAX_ANSWER_BYTES, &self.host(), &what)
                .await
                .map(|b| (status, b.to_vec())),
        )
    }

    fn http_error(&self, method: &str, url: &Url, status: u16, body: &[u8]) -> Error {
        let needs = format!("the create-repository permission on {}", self.spec.namespace);
        self.http_error_needing(method, url, status, body, &needs)
    }

    /// An answer that is not a success; `needs` says what a refused token lacks.
    fn http_error_needing(&self, method: &str, url: &Url, status: u16, body: &[u8], needs: &str) -> Error {
        let message = snippet(body);
        if status == 401 || status == 403 {
            return Error::Auth {
                registry: self.host(),
                detail: format!(
                    "{method} {}: HTTP {status}: the Quay token was refused (it needs {needs}): {message}",
                    redact(url),
                ),
            };
        }
        Error::Http {
            registry: self.host(),
            method: method.into(),
            path: redact(url),
            status,
            code: None,
            message,
        }
    }

    /// Every repository of the namespace the listing shows (`public=true`), following `next_page`.
    pub async fn list_repositories(&self) -> Result<Vec<String>> {
        let base = join(&self.spec.api, "repository")?;
        let mut names = BTreeSet::new();
        let mut seen_tokens = BTreeSet::new();
        let mut next: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut url = base.clone();
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("namespace", &self.spec.namespace);
                q.append_pair("public", "true");
                if let Some(t) = &next {
                    q.append_pair("next_page", t);
                }
            }
            let (status, body) = self.send(reqwest::Method::GET, &url, None).await?;
            if status != 200 {
                return Err(self.http_error("GET", &url, status, &body));
            }
            let page: RepoPage = serde_json::from_slice(&body).map_err(|e| {
                Error::invalid(
                    "Quay repository listing",
                    redact(&url),
                    format!(
                        "unexpected answer ({e}); expected {{\"repositories\": [{{\"name\": …}}], \"next_page\": …}}"
                    ),
                )
            })?;
            for r in page.repositories {
                if r.namespace.as_deref().is_none_or(|n| n == self.spec.namespace) {
                    names.insert(r.name);
                }
            }
            match page.next_page.filter(|t| !t.is_empty()) {
                None => return Ok(names.into_iter().collect()),
                Some(t) => {
                    if !seen_tokens.insert(t.clone()) {
                        return Err(Error::invalid(
                            "Quay repository listing",
                            redact(&url),
                            "next_page repeats a page already read (the listing loops)",
                        ));
                    }
                    next = Some(t);
                }
            }
        }
        Err(Error::invalid(
            "Quay repository listing",
            redact(&base),
            format!("more than {MAX_PAGES} pages"),
        ))
    }

    /// Create one public repository. `Ok(true)` when created, `Ok(false)` when it already existed.
    pub async fn create_repository(&self, name: &str) -> Result<bool> {
        validate_repository(name).map_err(|e| Error::Config(format!("{}: {e}", self.spec.registry)))?;
        let url = join(&self.spec.api, "repository")?;
        let body = serde_json::json!({
            "namespace": self.spec.namespace,
            "repository": name,
            "description": self.spec.description,
            "visibility": "public",
        });
        let (status, resp) = self.send(reqwest::Method::POST, &url, Some(&body)).await?;
        match status {
            200 | 201 => {
                tracing::info!(registry = %self.spec.registry, namespace = %self.spec.namespace, repository = name, "created public Quay repository");
                Ok(true)
            }
            400 if String::from_utf8_lossy(&resp)
                .to_ascii_lowercase()
                .contains("exist") =>
            {
                Ok(false)
            }
            _ => Err(self.http_error("POST", &url, status, &resp)),
        }
    }

    /// Point `tag` of `repository` (`<namespace>/<name>`) at the manifest `digest`, through the API
    /// (no manifest is pushed: Quay moves the tag). The caller reads it back through the registry.
    pub async fn set_tag(&self, repository: &str, tag: &str, digest: &crate::digest::Digest) -> Result<()> {
        validate_repository(repository).map_err(|e| Error::Config(format!("{}: {e}", self.spec.registry)))?;
        crate::reference::validate_tag(tag)
            .map_err(|e| Error::Config(format!("{}: {e}", self.spec.registry)))?;
        let url = join(&self.spec.api, &format!("repository/{repository}/tag/{tag}"))?;
        let body = serde_json::json!({ "manifest_digest": digest.as_str() });
        let (status, resp) = self.send(reqwest::Method::PUT, &url, Some(&body)).await?;
        match status {
            200 | 201 => Ok(()),
            _ => {
                let needs = format!("write access to {repository}");
                Err(self.http_error_needing("PUT", &url, status, &resp, &needs))
            }
        }
    }
}

/// Make sure every repository in `names` (without the namespace, e.g. `openstack-nova-compute`)
/// exists in the spec's namespace: list, then create the missing ones as public. Returns the
/// repositories created now.
pub async fn ensure_repositories(spec: &QuaySpec, names: &[String]) -> Result<Vec<String>> {
    Ok(ensure(spec, names, false).await?.created)
}

/// [`ensure_repositories`] with the whole outcome; `dry_run` lists only.
pub async fn ensure(spec: &QuaySpec, names: &[String], dry_run: bool) -> Result<EnsureOutcome> {
    for n in names {
        validate_repository(n).map_err(|e| Error::Config(format!("{}: {e}", spec.registry)))?;
    }
    let quay = Quay::new(spec.clone())?;
    let listed = quay.list_repositories().await?;
    let mut out = EnsureOutcome {
        registry: spec.registry.clone(),
        namespace: spec.namespace.clone(),
        ..Default::default()
    };
    let mut wanted: Vec<&String> = Vec::new();
    for n in names {
        if !wanted.contains(&n) {
            wanted.push(n);
        }
    }
    for n in wanted {
        if listed.contains(n) {
            out.existing.push(n.clone());
        } else if dry_run {
            out.would_create.push(n.clone());
        } else if quay.create_repository(n).await? {
            out.created.push(n.clone());
        } else {
            out.existing.push(n.clone());
        }
    }
    Ok(out)
}

fn snippet(body: &[u8]) -> String {
    let text = crate::scrub::scrub_prefix(&String::from_utf8_lossy(body), 300);
    let s = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if s.is_empty() {
        "(empty body)".into()
    } else {
        s
    }
}
