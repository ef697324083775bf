//! The HTTP layer every registry call goes through: one pooled client per registry, TLS settings,
//! the auth handshake (anonymous, Basic, Bearer tokens cached per scope set, one re-auth on 401 or
//! `insufficient_scope`), retries with backoff and `Retry-After`, redirects that drop credentials when
//! they leave the host, Docker Hub's pull rate limit, and request counters.
//!
//! Against a hostile or broken server: challenges are learnt only from the registry's own origin
//! (a redirect target cannot pick the realm credentials go to); retries are applied once per request
//! by the one retry loop, [`retry::run_shared`] (callers that re-read a body share the request's
//! budget through [`Transport::send_counted`]) and
//! clamped to [`retry::MAX_ATTEMPTS`]; each attempt has an overall deadline covering headers and
//! body (`request_timeout`), the token exchange one of its own (`token_timeout`).

mod body;
pub mod certs_d;
pub mod challenge;
pub mod client;
pub mod creds;
pub mod retry;
pub mod tls;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};
use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

pub use body::{read_limited, read_prefix, ERROR_BODY_CAP};
pub use challenge::Challenge;
pub use creds::{Credentials, Secret};
pub use retry::RetryPolicy;

use crate::error::{error_chain, Error, Result};
use crate::reference;

/// How to reach and authenticate to one registry.
#[derive(Clone, Debug)]
pub struct RegistryConfig {
    /// Host as users write it (`quay.io`, `docker.io`, `127.0.0.1:5000`).
    pub host: String,
    /// Plain HTTP (only for registries explicitly marked insecure).
    pub insecure: bool,
    /// Verify the server certificate (default true; an explicit per-registry opt-out).
    pub tls_verify: bool,
    /// Extra CA certificates (PEM) trusted for this registry.
    pub ca_file: Option<PathBuf>,
    /// This registry's certs.d directory (as skopeo's `--cert-dir`); `None` searches the certs.d
    /// roots for `host` (see [`certs_d`]).
    pub cert_dir: Option<PathBuf>,
    pub credentials: Credentials,
    pub retry: RetryPolicy,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Longest silence while reading a response.
    pub read_timeout: Duration,
    /// Docker Hub: pause when this few pulls remain.
    pub ratelimit_reserve: u64,
    /// Longest pause for the rate limit before failing.
    pub ratelimit_max_wait: Duration,
    /// Longest time for one attempt of a request, headers and body (a body trickled a byte at a
    /// time does not restart it); layer streams, read at the copy's pace, are exempt.
    pub request_timeout: Duration,
    /// Longest time for getting a token, every attempt included.
    pub token_timeout: Duration,
    /// A layer stream (exempt from `request_timeout`, it goes at the copy's pace) must still move
    /// at least `min_rate.0` bytes in every `min_rate.1`: a registry trickling a byte every few
    /// seconds would otherwise hold a promotion for days.
    pub min_rate: (u64, Duration),
}

impl RegistryConfig {
    pub fn new(host: impl Into<String>) -> RegistryConfig {
        RegistryConfig {
            host: host.into(),
            insecure: false,
            tls_verify: true,
            ca_file: None,
            cert_dir: None,
            credentials: Credentials::Anonymous,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
            ratelimit_reserve: 5,
            ratelimit_max_wait: Duration::from_secs(600),
            request_timeout: Duration::from_secs(300),
            token_timeout: Duration::from_secs(120),
            min_rate: (64 << 10, Duration::from_secs(60)),
        }
    }
}

/// Set on a response whose retryable status (5xx, 429, 408) was still there on the last try: how
/// many tries were made, so the error made of it can say so.
#[derive(Clone, Copy, Debug)]
pub struct GaveUpAfter(pub u32);

/// A request that can be sent again as it is (for retries and re-auth).
#[derive(Clone, Debug)]
pub struct Request {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
    /// Token scopes the request needs, e.g. `repository:ns/name:pull,push`.
    pub scopes: Vec<String>,
    /// A manifest GET, which Docker Hub counts against the pull limit.
    pub counts_as_pull: bool,
    /// The caller streams the response body at its own pace (a layer): no overall deadline.
    pub streamed: bool,
}

impl Request {
    pub fn new(method: Method, url: Url, scopes: Vec<String>) -> Request {
        Request {
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
            scopes,
            counts_as_pull: false,
            streamed: false,
        }
    }

    pub fn header(mut self, name: reqwest::header::HeaderName, value: &str) -> Request {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }

    pub fn body(mut self, body: Bytes) -> Request {
        self.body = Some(body);
        self
    }
}

/// Counters for reports and benchmarks.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub token_fetches: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub bytes_received: AtomicU64,
}

/// Snapshot of [`Stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatsSnapshot {
    pub requests: u64,
    pub retries: u64,
    pub token_fetches: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

#[derive(Clone)]
struct CachedToken {
    value: Secret,
    expires: Instant,
}

#[derive(Default)]
struct AuthState {
    challenge: Option<Challenge>,
    tokens: HashMap<String, CachedToken>,
}

#[derive(Default)]
struct RateState {
    remaining: Option<u64>,
    window: Option<u64>,
}

/// The HTTP client for one registry.
pub struct Transport {
    config: RegistryConfig,
    base: Url,
    client: reqwest::Client,
    auth: Mutex<AuthState>,
    rate: std::sync::Mutex<RateState>,
    client_cert_wanted: Arc<tls::ClientCertWanted>,
    /// Connections refused in a row (any request); reset by any answer. See [`GIVE_UP_AFTER`].
    refused_in_a_row: std::sync::atomic::AtomicU32,
    /// Our credentials refused in a row, and how the last refusal read. See
    /// [`REFUSED_CREDENTIALS_LIMIT`].
    refused_credentials: std::sync::Mutex<(u32, String)>,
    pub stats: Stats,
}

/// A registry that refused this many connections in a row (nothing listening: down, or a wrong
/// address) is given up for the rest of the run: each further request fails at once instead of
/// retrying with backoff, so one dead target costs seconds and one message, not every image's retries.
pub const GIVE_UP_AFTER: u32 = 8;

/// A registry that refused our credentials this many times in a row (its own 401, or its token
/// server's) is not sent them again this run: each further request fails at once with that refusal,
/// so a wrong password costs a few failed logins, not one per image and tag (an account with a
/// lockout policy would be locked). Any request the credentials get through resets the count.
pub const REFUSED_CREDENTIALS_LIMIT: u32 = 3;

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("base", &self.base.as_str())
            .finish()
    }
}

/// Scope for a repository: `pull` or `pull,push`.
pub fn repo_scope(repo: &str, push: bool) -> String {
    if push {
        format!("repository:{repo}:pull,push")
    } else {
        format!("repository:{repo}:pull")
    }
}

fn scope_key(scopes: &[String]) -> String {
    let mut s = scopes.to_vec();
    s.sort();
    s.dedup();
    s.join(" ")
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

impl Transport {
    pub fn new(config: RegistryConfig) -> Result<Transport> {
        reference::validate_host(&config.host)?;
        tls::ensure_provider();
        let api = reference::api_host(&config.host);
        let scheme = if config.insecure { "http" } else { "https" };
        let base = Url::parse(&format!("{scheme}://{api}/"))
            .map_err(|e| Error::invalid("registry host", &config.host, e.to_string()))?;
        let client_cert_wanted = Arc::new(tls::ClientCertWanted::default());
        let certs_dir = match &config.cert_dir {
            Some(d) => certs_d::CertsDir::Dir(d),
            None => certs_d::CertsDir::Host(&config.host),
        };
        let tls = (!config.insecure).then_some(tls::TlsOptions {
            ca_file: config.ca_file.as_deref(),
            certs_dir,
            verify: config.tls_verify,
            client_cert_wanted: Some(&client_cert_wanted),
        });
        // Registries follow redirects by hand (credentials stay on the registry's origin) and bound
        // each attempt themselves (`request_timeout`; layer streams are exempt).
        let client = client::build(client::ClientSpec {
            name: &config.host,
            tls,
            connect_timeout: config.connect_timeout,
            read_timeout: Some(config.read_timeout),
            timeout: None,
            redirects: 0,
        })?;
        Ok(Transport {
            config,
            base,
            client,
            auth: Mutex::new(AuthState::default()),
            rate: std::sync::Mutex::new(RateState::default()),
            client_cert_wanted,
            refused_in_a_row: std::sync::atomic::AtomicU32::new(0),
            refused_credentials: std::sync::Mutex::new((0, String::new())),
            stats: Stats::default(),
        })
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// The registry's name for messages.
    pub fn name(&self) -> &str {
        &self.config.host
    }

    /// `<base>/<path>`.
    pub fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| Error::invalid("URL path", path, e.to_string()))
    }

    /// Resolve a `Location` header (absolute or relative) against the registry.
    pub fn resolve(&self, location: &str) -> Result<Url> {
        self.base
            .join(location)
            .map_err(|e| Error::invalid("Location header", location, e.to_string()))
    }

    pub fn stats(&self) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.stats.requests.load(Ordering::Relaxed),
            retries: self.stats.retries.load(Ordering::Relaxed),
            token_fetches: self.stats.token_fetches.load(Ordering::Relaxed),
            bytes_sent: self.stats.bytes_sent.load(Ordering::Relaxed),
            bytes_received: self.stats.bytes_received.load(Ordering::Relaxed),
        }
    }

    /// Send a replayable request: authenticated, retried, redirects followed. Returns the final
    /// response whatever its status (the caller maps statuses); errors only for network failures
    /// after all retries and for auth-handshake failures.
    pub async fn send(&self, req: Request) -> Result<Response> {
        self.send_counted(req, &mut 0).await
    }

    /// The number of attempts a request may make in all (the retry policy's, clamped).
    pub fn attempts(&self) -> u32 {
        self.config.retry.attempts.clamp(1, retry::MAX_ATTEMPTS)
    }

    /// [`Transport::send`] drawing on a budget of attempts shared with the caller: `used` counts
    /// every attempt made so far, so a caller that also retries what follows the answer (a body cut
    /// off mid-way) stays within [`Transport::attempts`] in all instead of multiplying them.
    pub async fn send_counted(&self, req: Request, used: &mut u32) -> Result<Response> {
        let reauthed = AtomicBool::new(false);
        retry::run_shared(
            &self.config.retry,
            used,
            |attempt, last| self.attempt(&req, attempt, last, &reauthed),
            |_, why, wait| self.note_retry(&req, why, wait),
        )
        .await
    }

    /// One try of a request, for the retry loop: what it came to and whether another try may help.
    async fn attempt(
        &self,
        req: &Request,
        attempt: u32,
        last: bool,
        reauthed: &AtomicBool,
    ) -> retry::Attempt<Result<Response>> {
        use retry::Attempt::{Again, Done, Free, Spent};
        // A registry given up for the run spends the caller's budget too: a caller retrying
        // network errors (a body cut off) must not loop on it.
        if let Err(e) = self.check_given_up() {
            return Spent(Err(e));
        }
        if req.counts_as_pull {
            if let Err(e) = self.pull_gate().await {
                return Done(Err(e));
            }
        }
        // The token exchange has had its own retries and deadline: no caller runs it again.
        let auth = match self.auth_header(&req.scopes).await {
            Ok(a) => a,
            Err(e) => return Spent(Err(e)),
        };
        let sent_credentials = auth.is_some();
        let sent = self.execute(req, auth).await;
        self.note_connection(&sent);
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) if self.given_up() => return Spent(Err(self.network_error(req, e, attempt))),
            // A registry that wants a client certificate we lack will not change its mind.
            Err(e) if retryable_error(&e) && !last && !self.client_cert_wanted.get() => {
                return Again {
                    why: short_error(&e),
                    retry_after: None,
                }
            }
            Err(e) => return Done(Err(self.network_error(req, e, attempt))),
        };
        if self.config.insecure && speaks_https(&resp) {
            return Done(Err(Error::Tls {
                registry: self.name().to_string(),
                detail: "the registry speaks HTTPS, not plain HTTP: do not mark it insecure (give its CA with ca_file or certs.d, or tls_verify: false)".into(),
            }));
        }
        self.observe_ratelimit(&resp);
        let status = resp.status();
        // A challenge is learnt only from the registry's own origin: a redirect target (object
        // storage, or a hostile host) must not choose where credentials go.
        let own_origin = same_origin(resp.url(), &self.base);
        if own_origin && sent_credentials && status.is_success() {
            self.note_credentials(None);
        }
        if own_origin && (status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN) {
            let ch = resp
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(challenge::parse);
            let insufficient_scope = ch.as_ref().is_some_and(|c| c.insufficient_scope());
            if let Some(c) = ch {
                let retry_auth = status == StatusCode::UNAUTHORIZED || c.insufficient_scope();
                if retry_auth && !reauthed.swap(true, Ordering::Relaxed) {
                    self.learn_challenge(c, &req.scopes).await;
                    return Free;
                }
            }
            if status == StatusCode::UNAUTHORIZED && sent_credentials && !insufficient_scope {
                self.note_credentials(Some(&self.auth_failure(&resp)));
            }
            return Done(Ok(resp));
        }
        if retry::retryable_status(status.as_u16()) && !last {
            let retry_after = resp
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let max = self.config.retry.max_retry_after;
            if retry_after.as_deref().and_then(retry::parse_retry_after) > Some(max) {
                tracing::warn!(registry = %self.name(), "Retry-After asks for more than {max:?}; waiting only that long");
            }
            return Again {
                why: format!("HTTP {}", status.as_u16()),
                retry_after,
            };
        }
        let mut resp = resp;
        if retry::retryable_status(status.as_u16()) {
            resp.extensions_mut().insert(GaveUpAfter(attempt));
        }
        Done(Ok(resp))
    }

    /// Send a request with a streaming body once (it cannot be replayed; the caller retries the whole
    /// transfer). The auth handshake is done first so the stream is not spent on a 401.
    pub async fn send_streaming(
        &self,
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: reqwest::Body,
        scopes: &[String],
    ) -> Result<Response> {
        let auth = self.auth_header(scopes).await?;
        let mut rb = self
            .client
            .request(method.clone(), url.clone())
            .headers(headers)
            .body(body);
        if let Some(a) = auth {
            if same_origin(&url, &self.base) {
                rb = rb.header(AUTHORIZATION, a);
            }
        }
        self.check_given_up()?;
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        tracing::trace!(registry = %self.name(), %method, path = url.path(), "request (streaming body)");
        let sent = rb.send().await;
        self.note_connection(&sent);
        sent.map_err(|e| {
            let req = Request::new(method, url, scopes.to_vec());
            self.network_error(&req, e, 1)
        })
    }

    /// Make sure we hold credentials for `scopes` (does a round trip to learn the challenge if needed).
    pub async fn authenticate(&self, scopes: &[String]) -> Result<()> {
        let req = Request::new(Method::GET, self.url("v2/")?, scopes.to_vec());
        let resp = self.send(req).await?;
        match resp.status().as_u16() {
            200..=299 => Ok(()),
            401 | 403 => Err(self.auth_failure(&resp)),
            status => {
                let body = read_prefix(resp, ERROR_BODY_CAP).await;
                let body = String::from_utf8_lossy(&body);
                // (A TLS server answering plain HTTP was told apart in `attempt`.)
                let hint = format!(": {}", crate::scrub::scrub_prefix(body.trim(), 200));
                Err(Error::Http {
                    registry: self.name().to_string(),
                    method: "GET".into(),
                    path: "/v2/".into(),
                    status,
                    code: None,
                    message: format!("not a registry API answer{hint}"),
                })
            }
        }
    }

    /// An Auth error for a 401/403 answer, naming the registry and never the secret.
    pub fn auth_failure(&self, resp: &Response) -> Error {
        if !same_origin(resp.url(), &self.base) {
            return Error::Auth {
                registry: self.name().to_string(),
                detail: format!(
                    "HTTP {}: the redirect target {} refused access (credentials are never sent to another origin)",
                    resp.status().as_u16(),
                    resp.url().host_str().unwrap_or("?")
                ),
            };
        }
        let who = match &self.config.credentials {
            Credentials::Anonymous => "anonymous access refused; configure credentials for this registry".to_string(),
            Credentials::Basic { username, .. } => format!("the registry refused the credentials of user {username:?} (wrong username or password, or no access)"),
            Credentials::IdentityToken { .. } => "the registry refused the identity token".to_string(),
        };
        let scope = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(challenge::parse)
            .filter(|c| c.insufficient_scope())
            .map(|c| format!(" (insufficient scope: {})", c.param("scope").unwrap_or("?")))
            .unwrap_or_default();
        Error::Auth {
            registry: self.name().to_string(),
            detail: format!("HTTP {}: {who}{scope}", resp.status().as_u16()),
        }
    }

    async fn execute(&self, req: &Request, mut auth: Option<HeaderValue>) -> reqwest::Result<Response> {
        let mut url = req.url.clone();
        let mut method = req.method.clone();
        let mut body = req.body.clone();
        for hop in 0..=5 {
            if !same_origin(&url, &self.base) {
                // Credentials stay with the registry: never sent to object storage or anywhere else.
                auth = None;
            }
            let mut rb = self
                .client
                .request(method.clone(), url.clone())
                .headers(req.headers.clone());
            if let Some(a) = &auth {
                rb = rb.header(AUTHORIZATION, a.clone());
            }
            if let Some(b) = &body {
                self.stats.bytes_sent.fetch_add(b.len() as u64, Ordering::Relaxed);
                rb = rb.body(b.clone());
            }
            if !req.streamed {
                // reqwest's timeout runs until the body is read: headers and body, not per byte.
                rb = rb.timeout(self.config.request_timeout);
            }
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            tracing::trace!(registry = %self.name(), %method, path = url.path(), "request");
            let resp = rb.send().await?;
            let status = resp.status();
            if status.is_redirection() && hop < 5 {
                if let Some(next) = resp
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| url.join(l).ok())
                {
                    tracing::debug!(registry = %self.name(), from = url.path(), to_host = next.host_str().unwrap_or(""), "following redirect");
                    if status == StatusCode::SEE_OTHER {
                        method = Method::GET;
                        body = None;
                    }
                    url = next;
                    continue;
                }
            }
            return Ok(resp);
        }
        unreachable!("the loop returns on its last hop")
    }

    /// Count refused connections in a row; any answer from the registry resets the count.
    fn note_connection(&self, sent: &std::result::Result<Response, reqwest::Error>) {
        match sent {
            Ok(_) => self.refused_in_a_row.store(0, Ordering::Relaxed),
            Err(e) if e.is_connect() && refused(e) => {
                let n = self.refused_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
                if n == GIVE_UP_AFTER {
                    tracing::warn!(registry = %self.name(), refused = n, "connections refused in a row: giving this registry up for the run");
                }
            }
            Err(_) => {}
        }
    }

    fn given_up(&self) -> bool {
        self.refused_in_a_row.load(Ordering::Relaxed) >= GIVE_UP_AFTER
    }

    /// Whether the registry (or its token server) took our credentials (`None`) or refused them.
    fn note_credentials(&self, refused: Option<&Error>) {
        if self.config.credentials.is_anonymous() {
            return;
        }
        let mut st = self.refused_credentials.lock().unwrap_or_else(|p| p.into_inner());
        let Some(e) = refused else {
            st.0 = 0;
            return;
        };
        st.0 += 1;
        if let Error::Auth { detail, .. } = e {
            st.1.clone_from(detail);
        }
        if st.0 == REFUSED_CREDENTIALS_LIMIT {
            tracing::warn!(registry = %self.name(), refused = st.0, "credentials refused in a row: not sent to this registry again this run");
        }
    }

    /// Fail at once for a registry given up (see [`GIVE_UP_AFTER`]) or whose credentials were
    /// refused (see [`REFUSED_CREDENTIALS_LIMIT`]).
    fn check_given_up(&self) -> Result<()> {
        {
            let st = self.refused_credentials.lock().unwrap_or_else(|p| p.into_inner());
            if st.0 >= REFUSED_CREDENTIALS_LIMIT {
                return Err(Error::Auth {
                    registry: self.name().to_string(),
                    detail: st.1.clone(),
                });
            }
        }
        if !self.given_up() {
            return Ok(());
        }
        Err(Error::Network {
            registry: self.name().to_string(),
            detail: format!(
                "unreachable: {GIVE_UP_AFTER} connections in a row were refused, so it was given up for \
                 this run (is the registry running, and is the address right?)"
            ),
        })
    }

    fn note_retry(&self, req: &Request, why: &str, delay: Duration) {
        self.stats.retries.fetch_add(1, Ordering::Relaxed);
        // Each retry at DEBUG; the run's report logs one WARN per registry that needed any.
        tracing::debug!(registry = %self.name(), method = %req.method, path = req.url.path(), reason = why, delay_ms = delay.as_millis() as u64, "retrying");
    }

    /// A network failure after `attempts` attempts, said as it is.
    fn network_error(&self, req: &Request, e: reqwest::Error, attempts: u32) -> Error {
        let chain = error_chain(&e);
        let registry = self.name().to_string();
        if self.client_cert_wanted.get() && !e.is_timeout() {
            return Error::Tls {
                registry,
                detail: format!(
                    "the registry asked for a client certificate and none is configured: put a *.cert/*.key pair in its certs.d directory (or cert_dir) ({})",
                    short_chain(&chain)
                ),
            };
        }
        match tls::failure(&e) {
            Some(tls::TlsFailure::NotTls) => {
                return Error::Tls {
                    registry,
                    detail: tls::TlsFailure::NotTls.hint().into(),
                }
            }
            Some(f) => {
                return Error::Tls {
                    registry,
                    detail: format!("{} ({})", f.hint(), short_chain(&chain)),
                }
            }
            None => {}
        }
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "cannot connect"
        } else {
            "connection failed"
        };
        let tries = match attempts {
            1 if self.attempts() == 1 => "(1 attempt: retries are off)".to_string(),
            1 if !retryable_error(&e) => "(1 attempt: not an error another try can fix)".to_string(),
            1 => "(1 attempt)".to_string(),
            n => format!("after {n} attempts"),
        };
        Error::Network {
            registry,
            detail: format!(
                "{} {}: {what} {tries}: {}",
                req.method,
                req.url.path(),
                short_chain(&chain)
            ),
        }
    }

    async fn auth_header(&self, scopes: &[String]) -> Result<Option<HeaderValue>> {
        let mut state = self.auth.lock().await;
        let Some(ch) = state.challenge.clone() else {
            return Ok(None);
        };
        if ch.is_basic() {
            return Ok(self.basic_header());
        }
        if !ch.is_bearer() {
            return Ok(None);
        }
        let key = scope_key(scopes);
        if let Some(t) = state.tokens.get(&key) {
            if t.expires > Instant::now() {
                return Ok(bearer(&t.value));
            }
        }
        let tok = self.fetch_token(&ch, scopes).await?;
        let h = bearer(&tok.value);
        state.tokens.insert(key, tok);
        Ok(h)
    }

    fn basic_header(&self) -> Option<HeaderValue> {
        use base64::Engine;
        match &self.config.credentials {
            Credentials::Basic { username, password } => {
                let raw = format!("{username}:{}", password.expose());
                let mut v = HeaderValue::from_str(&format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                ))
                .ok()?;
                v.set_sensitive(true);
                Some(v)
            }
            _ => None,
        }
    }

    async fn learn_challenge(&self, ch: Challenge, scopes: &[String]) {
        let mut state = self.auth.lock().await;
        state.tokens.remove(&scope_key(scopes));
        tracing::debug!(registry = %self.name(), scheme = %ch.scheme, "auth challenge");
        state.challenge = Some(ch);
    }

    async fn fetch_token(&self, ch: &Challenge, scopes: &[String]) -> Result<CachedToken> {
        let registry = self.name().to_string();
        let auth_err = |detail: String| Error::Auth {
            registry: registry.clone(),
            detail,
        };
        let realm_s = ch
            .param("realm")
            .ok_or_else(|| auth_err("the Bearer challenge has no realm".into()))?;
        let realm =
            Url::parse(realm_s).map_err(|_| auth_err(format!("the token realm {realm_s:?} is not a URL")))?;
        if realm.scheme() != "https"
            && !self.config.insecure
            && !is_loopback(&realm)
            && !self.config.credentials.is_anonymous()
        {
            return Err(auth_err(format!(
                "refusing to send credentials over plain HTTP to the token realm {}",
                realm.host_str().unwrap_or("?")
            )));
        }
        let service = ch.param("service");
        let limit = self.config.token_timeout;
        // One deadline for the whole exchange (every attempt and the body): a hung or trickling
        // token server costs at most this, once.
        match tokio::time::timeout(limit, self.token_exchange(realm.clone(), service, scopes)).await {
            Ok(r) => r,
            Err(_) => Err(Error::Network {
                registry,
                detail: format!(
                    "token server {} did not give a token within {limit:?}",
                    realm.host_str().unwrap_or("?")
                ),
            }),
        }
    }

    /// The token request itself (retried on 5xx and network failures), its answer checked and read.
    async fn token_exchange(
        &self,
        realm: Url,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<CachedToken> {
        let registry = self.name().to_string();
        let auth_err = |detail: String| Error::Auth {
            registry: registry.clone(),
            detail,
        };
        let creds = &self.config.credentials;
        let resp = self.token_request(realm.clone(), service, scopes).await?;
        let status = resp.status().as_u16();
        let realm_host = realm.host_str().unwrap_or("?").to_string();
        if status == 401 || status == 403 {
            let who = match creds {
                Credentials::Basic { username, .. } => format!("the credentials of user {username:?}"),
                Credentials::IdentityToken { .. } => "the identity token".into(),
                Credentials::Anonymous => "anonymous access".into(),
            };
            let e = auth_err(format!("token server {realm_host} refused {who} (HTTP {status})"));
            if status == 401 {
                self.note_credentials(Some(&e));
            }
            return Err(e);
        }
        if !(200..300).contains(&status) {
            return Err(auth_err(format!(
                "token server {realm_host} answered HTTP {status}"
            )));
        }
        #[derive(Deserialize)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        // A token answer is small; a realm streaming without end must not exhaust memory.
        let body = read_limited(resp, 256 << 10, &registry, &format!("token server {realm_host}"))
            .await
            .map_err(|e| auth_err(format!("token server {realm_host}: {e}")))?;
        let tr: TokenResponse = serde_json::from_slice(&body).map_err(|_| {
            auth_err(format!(
                "token server {realm_host} gave an answer that is not a token response"
            ))
        })?;
        let value = tr
            .token
            .filter(|t| !t.is_empty())
            .or(tr.access_token.filter(|t| !t.is_empty()))
            .ok_or_else(|| auth_err(format!("token server {realm_host} gave no token")))?;
        crate::scrub::remember_secret(&value);
        if HeaderValue::from_str(&format!("Bearer {value}")).is_err() {
            return Err(auth_err(format!(
                "token server {realm_host} gave a token with invalid characters"
            )));
        }
        let ttl = tr.expires_in.unwrap_or(60).max(1);
        // Renew a little before expiry, so a token does not run out in flight.
        let margin = (ttl / 10).clamp(0, 30);
        Ok(CachedToken {
            value: Secret::new(value),
            expires: Instant::now() + Duration::from_secs(ttl - margin),
        })
    }

    /// Send the token request: OAuth2 refresh grant for an identity token, else a GET with Basic
    /// credentials (or none). Retried under the registry's policy.
    async fn token_request(&self, realm: Url, service: Option<&str>, scopes: &[String]) -> Result<Response> {
        retry::run_shared(
            &self.config.retry,
            &mut 0,
            |n, last| self.token_attempt(&realm, service, scopes, n, last),
            |n, why, wait| {
                tracing::debug!(registry = %self.name(), realm = %realm.as_str(), attempt = n, reason = why, delay_ms = wait.as_millis() as u64, "retrying the token request");
            },
        )
        .await
    }

    /// One try of the token request.
    async fn token_attempt(
        &self,
        realm: &Url,
        service: Option<&str>,
        scopes: &[String],
        attempt: u32,
        last: bool,
    ) -> retry::Attempt<Result<Response>> {
        use retry::Attempt::{Again, Done};
        self.stats.token_fetches.fetch_add(1, Ordering::Relaxed);
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let rb = match &self.config.credentials {
            Credentials::IdentityToken { token, .. } => {
                let mut form = vec![
                    ("grant_type", "refresh_token".to_string()),
                    ("refresh_token", token.expose().to_string()),
                    ("client_id", "copy-containers".to_string()),
                    ("scope", scopes.join(" ")),
                ];
                if let Some(s) = service {
                    form.push(("service", s.to_string()));
                }
                let body = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form)
                    .finish();
                self.client
                    .post(realm.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body)
            }
            _ => {
                let mut url = realm.clone();
                {
                    let mut q = url.query_pairs_mut();
                    q.clear();
                    if let Some(s) = service {
                        q.append_pair("service", s);
                    }
                    for s in scopes {
                        q.append_pair("scope", s);
                    }
                }
                let mut rb = self.client.get(url);
                if let Some(h) = self.basic_header() {
                    rb = rb.header(AUTHORIZATION, h);
                }
                rb
            }
        };
        match rb.send().await {
            Ok(r) if retry::retryable_status(r.status().as_u16()) && !last => Again {
                why: format!("HTTP {}", r.status().as_u16()),
                retry_after: r
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
            },
            Ok(r) => Done(Ok(r)),
            Err(e) if retryable_error(&e) && !last && !self.client_cert_wanted.get() => Again {
                why: short_error(&e),
                retry_after: None,
            },
            Err(e) => {
                let req = Request::new(Method::GET, realm.clone(), scopes.to_vec());
                Done(Err(self.network_error(&req, e, attempt)))
            }
        }
    }

    fn observe_ratelimit(&self, resp: &Response) {
        if let Some((remaining, window)) = resp
            .headers()
            .get("ratelimit-remaining")
            .and_then(|v| v.to_str().ok())
            .and_then(retry::parse_ratelimit)
        {
            let mut r = self.rate.lock().unwrap_or_else(|p| p.into_inner());
            r.remaining = Some(remaining);
            r.window = window;
        }
    }

    /// Before a pull: when the registry's pull budget is nearly spent, wait instead of spending it.
    async fn pull_gate(&self) -> Result<()> {
        let started = Instant::now();
        loop {
            let (remaining, window) = {
                let r = self.rate.lock().unwrap_or_else(|p| p.into_inner());
                (r.remaining, r.window)
            };
            match remaining {
                Some(n) if n <= self.config.ratelimit_reserve => {
                    if started.elapsed() >= self.config.ratelimit_max_wait {
                        return Err(Error::Network {
                            registry: self.name().to_string(),
                            detail: format!(
                                "pull rate limit nearly exhausted ({n} left) and did not recover within {:?}",
                                self.config.ratelimit_max_wait
                            ),
                        });
                    }
                    let pause = Duration::from_secs(window.map(|w| (w / 100).clamp(5, 60)).unwrap_or(30))
                        .min(self.config.ratelimit_max_wait);
                    tracing::warn!(registry = %self.name(), remaining = n, pause_s = pause.as_secs(), "pull rate limit nearly exhausted; pausing");
                    tokio::time::sleep(pause).await;
                    // Ask again (a HEAD does not count as a pull on Docker Hub).
                    let probe = Request::new(Method::GET, self.url("v2/")?, vec![]);
                    if let Ok(resp) = Box::pin(self.execute(&probe, None)).await {
                        self.observe_ratelimit(&resp);
                        if resp.headers().get("ratelimit-remaining").is_none() {
                            let mut r = self.rate.lock().unwrap_or_else(|p| p.into_inner());
                            r.remaining = None;
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }
}

fn bearer(token: &Secret) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(&format!("Bearer {}", token.expose())).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// Network errors worth another try: timeouts, refused/reset connections, broken bodies.
pub fn retryable_error(e: &reqwest::Error) -> bool {
    // A TLS failure (a refused certificate, a server that does not speak TLS) does not heal.
    if tls::failure(e).is_some() {
        return false;
    }
    e.is_timeout() || e.is_connect() || e.is_request() || e.is_body()
}

/// Is this the answer of a TLS server to a plain-HTTP request? Go's TLS servers (the registry's
/// own, most in front of it) answer a bare `HTTP/1.0 400` without any header (and, to a GET, the
/// body "Client sent an HTTP request to an HTTPS server."); a registry's own 400 is HTTP/1.1 with
/// headers. Without this, a HEAD read "HTTP 400: (no message)".
fn speaks_https(resp: &Response) -> bool {
    resp.status() == StatusCode::BAD_REQUEST
        && resp.version() == reqwest::Version::HTTP_10
        && resp.headers().get(reqwest::header::CONTENT_TYPE).is_none()
        && resp.headers().get("docker-distribution-api-version").is_none()
}

/// Was the connection refused (no one listening)? From the I/O error among the sources.
fn refused(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(x) = cur {
        let mut node: &(dyn std::error::Error + 'static) = x;
        while let Some(io) = node.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return true;
            }
            match io.get_ref() {
                Some(inner) => node = inner,
                None => break,
            }
        }
        cur = x.source();
    }
    false
}

fn short_chain(chain: &str) -> String {
    // reqwest's top message repeats the URL; keep the causes.
    let parts: Vec<&str> = chain.split(": ").collect();
    if parts.len() > 1 && parts[0].starts_with("error sending request") {
        parts[1..].join(": ")
    } else {
        chain.to_string()
    }
}

fn short_error(e: &reqwest::Error) -> String {
    short_chain(&error_chain(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_keys_are_order_free() {
        let a = vec![repo_scope("a/b", true), repo_scope("c/d", false)];
        let b = vec![repo_scope("c/d", false), repo_scope("a/b", true)];
        assert_eq!(scope_key(&a), scope_key(&b));
        assert_eq!(repo_scope("x", false), "repository:x:pull");
    }

    #[test]
    fn origins() {
        let a = Url::parse("https://r:443/v2/").unwrap();
        assert!(same_origin(&a, &Url::parse("https://r/v2/x").unwrap()));
        assert!(!same_origin(&a, &Url::parse("https://s/v2/").unwrap()));
        assert!(!same_origin(&a, &Url::parse("http://r/v2/").unwrap()));
        assert!(is_loopback(&Url::parse("http://127.0.0.1:5/").unwrap()));
        assert!(!is_loopback(&Url::parse("http://10.0.0.1/").unwrap()));
    }

    #[test]
    fn attempts_are_clamped() {
        let mut c = RegistryConfig::new("127.0.0.1:5000");
        c.retry.attempts = 1_000_000_000;
        assert_eq!(Transport::new(c.clone()).unwrap().attempts(), retry::MAX_ATTEMPTS);
        c.retry.attempts = 0;
        assert_eq!(Transport::new(c).unwrap().attempts(), 1);
    }

    #[test]
    fn transport_rejects_bad_hosts() {
        assert!(Transport::new(RegistryConfig::new("http://x")).is_err());
        assert!(Transport::new(RegistryConfig::new("x:0")).is_err());
        let t = Transport::new(RegistryConfig::new("docker.io")).unwrap();
        assert_eq!(t.url("v2/").unwrap().as_str(), "https://registry-1.docker.io/v2/");
    }
}
