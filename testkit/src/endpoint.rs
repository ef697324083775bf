//! Where a registry is and how to talk to it, plus a minimal raw
//! distribution-API client (Basic and Bearer-token auth) used by `seed`.

use crate::http::{parse_www_authenticate, request, HttpResponse};
use crate::util::url_encode;
use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use bytes::Bytes;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// How to reach a registry: base URL, optional credentials, optional CA.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoint {
    /// `http://127.0.0.1:PORT` or `https://…` (no trailing slash).
    pub base_url: String,
    /// `(user, password)` for Basic auth or the token dance.
    pub credentials: Option<(String, String)>,
    /// CA PEM file to trust for https.
    pub ca_pem_path: Option<PathBuf>,
    /// Directory with `ca.crt` (skopeo `--cert-dir`).
    pub cert_dir: Option<PathBuf>,
}

impl Endpoint {
    /// An anonymous endpoint at `base_url`.
    pub fn new(base_url: &str) -> Self {
        Endpoint {
            base_url: base_url.trim_end_matches('/').to_string(),
            ..Default::default()
        }
    }

    /// Adds credentials.
    pub fn with_credentials(mut self, user: &str, password: &str) -> Self {
        self.credentials = Some((user.into(), password.into()));
        self
    }

    /// Adds a CA PEM file (and the matching `--cert-dir`, if any).
    pub fn with_ca(mut self, ca_pem_path: PathBuf, cert_dir: Option<PathBuf>) -> Self {
        self.ca_pem_path = Some(ca_pem_path);
        self.cert_dir = cert_dir;
        self
    }

    /// `HOST:PORT` of the base URL.
    pub fn host(&self) -> String {
        self.base_url
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or(&self.base_url)
            .trim_end_matches('/')
            .to_string()
    }

    /// Whether the base URL is https.
    pub fn is_https(&self) -> bool {
        self.base_url.starts_with("https://")
    }

    /// A rustls client config trusting `ca_pem_path` (None when there is no CA).
    pub fn client_config(&self) -> Result<Option<Arc<rustls::ClientConfig>>> {
        self.ca_pem_path
            .as_deref()
            .map(crate::tls::client_config_from_file)
            .transpose()
    }
}

impl From<&str> for Endpoint {
    fn from(s: &str) -> Self {
        Endpoint::new(s)
    }
}

impl From<String> for Endpoint {
    fn from(s: String) -> Self {
        Endpoint::new(&s)
    }
}

impl From<&String> for Endpoint {
    fn from(s: &String) -> Self {
        Endpoint::new(s)
    }
}

impl From<&Endpoint> for Endpoint {
    fn from(e: &Endpoint) -> Self {
        e.clone()
    }
}

impl From<&crate::Registry> for Endpoint {
    fn from(r: &crate::Registry) -> Self {
        r.endpoint()
    }
}

/// A minimal distribution API client: sends a request, and on 401 answers
/// a Basic challenge with the credentials or performs the Bearer token dance
/// (GET realm with Basic credentials), then retries once.
pub struct RawClient {
    ep: Endpoint,
    tls: Option<Arc<rustls::ClientConfig>>,
    auth: Mutex<Option<String>>,
}

impl RawClient {
    /// A client for `ep`.
    pub fn new(ep: impl Into<Endpoint>) -> Result<Self> {
        let ep = ep.into();
        let tls = ep.client_config()?;
        Ok(RawClient {
            ep,
            tls,
            auth: Mutex::new(None),
        })
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.ep
    }

    /// Sends `method` to `path_or_url` (a path like `/v2/…` is joined to the
    /// base URL) handling authentication.
    pub async fn send(
        &self,
        method: &str,
        path_or_url: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<HttpResponse> {
        let body: Bytes = body.into();
        let url = if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else {
            format!("{}{}", self.ep.base_url, path_or_url)
        };
        let cached = self.auth.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let resp = self
            .send_with(method, &url, headers, body.clone(), cached.as_deref())
            .await?;
        if resp.status != 401 {
            return Ok(resp);
        }
        let Some(challenge) = resp.header("www-authenticate").map(String::from) else {
            return Ok(resp);
        };
        let auth = self.answer_challenge(&challenge).await?;
        let Some(auth) = auth else {
            return Ok(resp);
        };
        let resp = self.send_with(method, &url, headers, body, Some(&auth)).await?;
        if resp.status != 401 {
            *self.auth.lock().unwrap_or_else(|e| e.into_inner()) = Some(auth);
        }
        Ok(resp)
    }

    async fn send_with(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
        auth: Option<&str>,
    ) -> Result<HttpResponse> {
        let mut h: Vec<(&str, &str)> = headers.to_vec();
        if let Some(a) = auth {
            h.push(("authorization", a));
        }
        request(method, url, &h, body, self.tls.clone()).await
    }

    fn basic(&self) -> Option<String> {
        self.ep.credentials.as_ref().map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        })
    }

    async fn answer_challenge(&self, challenge: &str) -> Result<Option<String>> {
        let (scheme, params) = parse_www_authenticate(challenge);
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if scheme.eq_ignore_ascii_case("basic") {
            return Ok(self.basic());
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Ok(None);
        }
        let realm = get("realm").ok_or_else(|| anyhow!("Bearer challenge without realm: {challenge}"))?;
        let mut url = format!("{realm}?");
        if let Some(s) = get("service") {
            url.push_str(&format!("service={}&", url_encode(&s)));
        }
        if let Some(scope) = get("scope") {
            for s in scope.split(' ') {
                url.push_str(&format!("scope={}&", url_encode(s)));
            }
        }
        let basic = self.basic();
        let mut h = Vec::new();
        if let Some(b) = &basic {
            h.push(("authorization", b.as_str()));
        }
        let resp = request(
            "GET",
            url.trim_end_matches(['&', '?']),
            &h,
            Vec::new(),
            self.tls.clone(),
        )
        .await
        .context("fetching a token")?;
        if resp.status != 200 {
            bail!("token server answered {}: {}", resp.status, resp.text());
        }
        let v = resp.json()?;
        let token = v["token"]
            .as_str()
            .or_else(|| v["access_token"].as_str())
            .ok_or_else(|| anyhow!("token response without token: {v}"))?;
        Ok(Some(format!("Bearer {token}")))
    }
}
