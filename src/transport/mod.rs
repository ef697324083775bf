//! The HTTP layer every registry call goes through: one pooled client per registry ([`client`], TLS
//! by [`tls`] and [`certs_d`]), and [`Transport`], which sends each request through the one retry
//! loop ([`retry`]) with what a request to a registry needs around it. One concern per file:
//! - [`config`]: a registry's settings and their defaults;
//! - [`request`]: a replayable request and its token scopes;
//! - [`auth`] and [`token`]: the challenge, Basic credentials, Bearer tokens cached per scope set
//!   (one re-auth on 401 or `insufficient_scope`), the token exchange; [`creds`]: where credentials
//!   come from; [`challenge`]: parsing `WWW-Authenticate`;
//! - [`budget`]: what one request may spend, attempts and a deadline (`request_timeout`);
//! - [`redirects`]: one request on the wire, redirects followed by hand (reads only);
//! - [`upload`]: a blob streamed in one request, held to `request_timeout` as a stall;
//! - [`limits`]: Docker Hub's pull rate limit;
//! - [`give_up`] and [`refusals`]: a registry refusing connections given up for the run, refused
//!   credentials not sent again;
//! - [`failure`]: what a failed request becomes (retry or not, the error said as it is);
//! - [`stats`]: request counters for reports and benchmarks; [`body`]: capped body reads.
//!
//! Against a hostile or broken server: challenges are learnt only from the registry's own origin
//! (a redirect target cannot pick the realm credentials go to); retries are applied once per request
//! by the one retry loop, [`retry::run_shared`] (callers that re-read a body share the request's
//! budget through [`Transport::send_counted`]) and clamped to [`retry::MAX_ATTEMPTS`]; each request
//! has one deadline over all its attempts, headers and body (`request_timeout`), the token exchange
//! one of its own (`token_timeout`).

mod auth;
mod body;
mod budget;
pub mod certs_d;
pub mod challenge;
pub mod client;
mod config;
pub mod creds;
mod failure;
mod give_up;
mod limits;
mod redirects;
mod refusals;
mod request;
pub mod retry;
mod stats;
pub mod tls;
mod token;
mod upload;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::RETRY_AFTER;
use reqwest::Response;
use tokio::sync::Mutex;
use url::Url;

pub use body::{read_limited, read_prefix, ERROR_BODY_CAP};
pub use budget::Budget;
pub use challenge::Challenge;
pub use config::{RegistryConfig, REQUEST_TIMEOUT, TOKEN_TIMEOUT};
pub use creds::{Credentials, Secret};
pub use failure::retryable_error;
pub use give_up::GIVE_UP_AFTER;
pub use limits::pulls_left;
pub use refusals::REFUSED_CREDENTIALS_LIMIT;
pub use request::{repo_scope, GaveUpAfter, Request};
pub use retry::RetryPolicy;
pub use stats::{Stats, StatsSnapshot};

use crate::error::{Error, Result};
use crate::reference;
use auth::{AuthState, Verdict};
use failure::{refused_answer, short_error};
use give_up::GiveUp;
use limits::PullLimit;
use refusals::Refusals;

/// The HTTP client for one registry.
pub struct Transport {
    config: RegistryConfig,
    base: Url,
    client: reqwest::Client,
    /// For streamed uploads: the same, without a read timeout (see [`upload`]).
    upload_client: reqwest::Client,
    auth: Mutex<AuthState>,
    rate: PullLimit,
    client_cert_wanted: Arc<tls::ClientCertWanted>,
    /// Connections refused in a row (see [`GIVE_UP_AFTER`]).
    give_up: GiveUp,
    /// Our credentials refused in a row (see [`REFUSED_CREDENTIALS_LIMIT`]).
    refusals: Refusals,
    pub stats: Stats,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("base", &self.base.as_str())
            .finish()
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
        // Registries follow redirects by hand (reads only; credentials stay on the registry's
        // origin) and bound each attempt themselves (`request_timeout`; layer downloads keep a
        // minimum rate instead, streamed uploads are watched for stalls: see [`upload`]).
        let (client, upload_client) = client::build_with_upload(client::ClientSpec {
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
            upload_client,
            auth: Mutex::new(AuthState::default()),
            rate: PullLimit::default(),
            client_cert_wanted,
            give_up: GiveUp::default(),
            refusals: Refusals::default(),
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

    /// Resolve a `Location` header (absolute or relative) against the registry. One that would
    /// leave HTTPS for plain HTTP (an upload session elsewhere in clear) is refused.
    pub fn resolve(&self, location: &str) -> Result<Url> {
        let url = self
            .base
            .join(location)
            .map_err(|e| Error::invalid("Location header", location, e.to_string()))?;
        if redirects::downgrades(&self.base, &url) {
            return Err(Error::invalid(
                "Location header",
                redirects::origin(&url),
                "a registry reached over HTTPS is never left for plain HTTP",
            ));
        }
        Ok(url)
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Send a replayable request: authenticated, retried, redirects followed. Returns the final
    /// response whatever its status (the caller maps statuses); errors only for network failures
    /// after all retries and for auth-handshake failures.
    pub async fn send(&self, req: Request) -> Result<Response> {
        self.send_counted(req, &mut self.budget()).await
    }

    /// The number of attempts a request may make in all (the retry policy's, clamped).
    pub fn attempts(&self) -> u32 {
        self.config.retry.attempts.clamp(1, retry::MAX_ATTEMPTS)
    }

    /// [`Transport::send`] drawing on a budget shared with the caller (see [`budget`]): its
    /// attempts, so a caller that also retries what follows the answer (a body cut off mid-way)
    /// stays within [`Transport::attempts`] in all instead of multiplying them, and its deadline,
    /// which a body read after this returns is held to as well.
    pub async fn send_counted(&self, req: Request, budget: &mut Budget) -> Result<Response> {
        let reauthed = AtomicBool::new(false);
        let deadline = std::sync::Mutex::new(budget.deadline);
        let answer = retry::run_shared(
            &self.config.retry,
            &mut budget.used,
            |attempt, last| self.attempt(&req, attempt, last, &reauthed, &deadline),
            |_, why, wait| self.note_retry(&req, why, wait),
        )
        .await;
        budget.deadline = deadline.into_inner().unwrap_or_else(|p| p.into_inner());
        answer
    }

    /// One try of a request, for the retry loop: what it came to and whether another try may help
    /// (and fits before the deadline).
    async fn attempt(
        &self,
        req: &Request,
        attempt: u32,
        last: bool,
        reauthed: &AtomicBool,
        deadline: &std::sync::Mutex<Option<Instant>>,
    ) -> retry::Attempt<Result<Response>> {
        use retry::Attempt::{Again, Done, Free, Spent};
        // A registry given up for the run spends the caller's budget too: a caller retrying
        // network errors (a body cut off) must not loop on it.
        if let Err(e) = self.check_given_up() {
            return Spent(Err(e));
        }
        let waiting = Instant::now();
        if req.counts_as_pull {
            if let Err(e) = self.pull_gate().await {
                return Done(Err(e));
            }
        }
        // The token exchange has had its own retries and deadline: no caller runs it again.
        let auth = match self.authorization(&req.scopes).await {
            Ok(a) => a,
            Err(e) => return Spent(Err(e)),
        };
        let budget = self.not_counting(deadline, attempt, waiting.elapsed());
        let sent = self
            .execute(
                req,
                auth.header.clone(),
                budget.deadline.filter(|_| !req.streamed),
            )
            .await;
        self.note_connection(&sent);
        let retry = &self.config.retry;
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) if self.given_up() => return Spent(Err(self.network_error(req, e, attempt))),
            // A registry that wants a client certificate we lack will not change its mind.
            Err(e)
                if retryable_error(&e)
                    && !last
                    && !self.client_cert_wanted.get()
                    && budget.room_for(retry.longest_delay(attempt, None)) =>
            {
                return Again {
                    why: short_error(&e),
                    retry_after: None,
                }
            }
            Err(e) => {
                return Done(Err(
                    self.past_deadline(&budget, self.network_error(req, e, attempt))
                ))
            }
        };
        if let Some(e) = refused_answer(self, req, &resp) {
            return Done(Err(e));
        }
        self.observe_ratelimit(&resp);
        if let Verdict::Again = self.judge(&auth, &resp, &req.scopes, reauthed).await {
            return Free;
        }
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if retry::retryable_status(status.as_u16())
            && !last
            && budget.room_for(retry.longest_delay(attempt, retry_after.as_deref()))
        {
            let max = retry.max_retry_after;
            if retry_after.as_deref().and_then(retry::parse_retry_after) > Some(max)
                && self.rate.first_long_wait()
            {
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

    /// The request's deadline moved by a wait that is not its own (see [`budget`]), as a budget at
    /// `attempt`.
    fn not_counting(
        &self,
        deadline: &std::sync::Mutex<Option<Instant>>,
        attempt: u32,
        waited: Duration,
    ) -> Budget {
        let mut d = deadline.lock().unwrap_or_else(|p| p.into_inner());
        let mut budget = Budget {
            used: attempt,
            deadline: *d,
        };
        budget.extend(waited);
        *d = budget.deadline;
        budget
    }

    /// Count refused connections (see [`give_up`]).
    fn note_connection(&self, sent: &std::result::Result<Response, reqwest::Error>) {
        self.give_up.note(self.name(), sent);
    }

    fn given_up(&self) -> bool {
        self.give_up.given_up()
    }

    /// Whether the registry (or its token server) took our credentials (`None`) or refused them.
    fn note_credentials(&self, refused: Option<&Error>) {
        if self.config.credentials.is_anonymous() {
            return;
        }
        self.refusals.note(self.name(), refused);
    }

    /// Fail at once for a registry whose credentials were refused (see [`REFUSED_CREDENTIALS_LIMIT`])
    /// or that was given up (see [`GIVE_UP_AFTER`]).
    fn check_given_up(&self) -> Result<()> {
        self.refusals.check(self.name())?;
        self.give_up.check(self.name())
    }

    fn note_retry(&self, req: &Request, why: &str, delay: Duration) {
        self.stats.retries.fetch_add(1, Ordering::Relaxed);
        // Each retry at DEBUG; the run's report logs one WARN per registry that needed any.
        tracing::debug!(registry = %self.name(), method = %req.method, path = req.url.path(), reason = why, delay_ms = delay.as_millis() as u64, "retrying");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn an_upload_location_never_leaves_https() {
        let t = Transport::new(RegistryConfig::new("r.example")).unwrap();
        let loc = |l: &str| t.resolve(l).map(|u| u.to_string());
        assert_eq!(
            loc("/v2/a/blobs/uploads/1").unwrap(),
            "https://r.example/v2/a/blobs/uploads/1"
        );
        assert!(loc("https://storage.example/up/1").is_ok());
        let e = loc("http://storage.example/up/1?sig=secret")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("http://storage.example") && e.contains("never left for plain HTTP"),
            "{e}"
        );
        assert!(!e.contains("secret"), "{e}");
        let mut c = RegistryConfig::new("127.0.0.1:5000");
        c.insecure = true;
        let plain = Transport::new(c).unwrap();
        assert!(plain
            .resolve("http://127.0.0.1:5000/v2/a/blobs/uploads/1")
            .is_ok());
    }
}
