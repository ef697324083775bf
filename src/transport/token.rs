//! The Bearer token exchange with a registry's token server (its realm): an OAuth2 refresh grant
//! for an identity token, else a GET with Basic credentials (or none), retried by the one retry
//! loop, its body capped, the whole exchange within `token_timeout`, and credentials never sent
//! over plain HTTP to a realm off this machine when the registry itself is reached over HTTPS.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::{Method, Response};
use serde::Deserialize;
use url::Url;

use super::auth::CachedToken;
use super::failure::{retryable_error, short_error};
use super::redirects::is_loopback;
use super::{read_limited, retry, Challenge, Credentials, Request, Secret, Transport};
use crate::error::{Error, Result};

impl Transport {
    pub(super) async fn fetch_token(&self, ch: &Challenge, scopes: &[String]) -> Result<CachedToken> {
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
        self.check_realm(&realm)?;
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

    /// Credentials go over plain HTTP to a realm off this machine only from a registry reached
    /// over plain HTTP itself (marked insecure), and then with a warning, once per realm host
    /// (logged, and in the module's `warnings`): a loopback registry's own plain HTTP stays on the
    /// machine, its realm may not. Decided from the realm's URL alone, before any request: a loopback
    /// address, or `localhost`, is this machine; any other name is not, whatever it resolves to.
    fn check_realm(&self, realm: &Url) -> Result<()> {
        if realm.scheme() == "https" || is_loopback(realm) || self.config.credentials.is_anonymous() {
            return Ok(());
        }
        let host = realm.host_str().unwrap_or("?");
        if !self.config.insecure {
            return Err(Error::Auth {
                registry: self.name().to_string(),
                detail: format!("refusing to send credentials over plain HTTP to the token realm {host}"),
            });
        }
        crate::logging::warn_once(&format!(
            "registry {}: credentials are sent over plain HTTP to its token server {host} (its challenge names an http:// realm)",
            self.name()
        ));
        Ok(())
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
        // A token granted: the token server took the credentials.
        self.note_credentials(None);
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
}
