//! Who we are to a registry: the challenge it announced (learnt only from its own origin), the
//! `Authorization` header each request carries (Basic credentials, or a Bearer token cached per set
//! of scopes and renewed before it expires), and the auth error a refusal becomes, naming the user
//! and never the secret. The token exchange itself is [`super::token`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use reqwest::header::{HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};
use tokio::sync::MutexGuard;

use super::redirects::same_origin;
use super::request::scope_key;
use super::{challenge, read_prefix, Challenge, Credentials, Request, Secret, Transport, ERROR_BODY_CAP};
use crate::error::{Error, Result};

/// What a request carries to say who we are.
pub(super) struct Authorization<'a> {
    pub(super) header: Option<HeaderValue>,
    /// The header is the credentials themselves (Basic), not a token obtained with them.
    pub(super) basic: bool,
    /// While the credentials are not known good, the gate: held until the answer is judged.
    _gate: Option<MutexGuard<'a, ()>>,
}

impl Authorization<'_> {
    fn none() -> Self {
        Authorization {
            header: None,
            basic: false,
            _gate: None,
        }
    }

    fn token(header: Option<HeaderValue>) -> Self {
        Authorization {
            header,
            basic: false,
            _gate: None,
        }
    }
}

/// What [`Transport::judge`] made of an answer.
pub(super) enum Verdict {
    /// The answer stands (whatever its status).
    Answer,
    /// A challenge was learnt: one more try, free (see [`super::retry::Attempt::Free`]).
    Again,
}

/// A Bearer token and when to stop using it.
#[derive(Clone)]
pub(super) struct CachedToken {
    pub(super) value: Secret,
    pub(super) expires: Instant,
}

/// The registry's challenge and the tokens obtained for it.
#[derive(Default)]
pub(super) struct AuthState {
    challenge: Option<Challenge>,
    tokens: HashMap<String, CachedToken>,
}

impl Transport {
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

    /// What a request for `scopes` carries: nothing (no challenge yet), Basic credentials (through
    /// the credentials gate, see [`super::refusals`]) or a Bearer token (cached, else fetched).
    pub(super) async fn authorization(&self, scopes: &[String]) -> Result<Authorization<'_>> {
        let mut state = self.auth.lock().await;
        let Some(ch) = state.challenge.clone() else {
            return Ok(Authorization::none());
        };
        if ch.is_basic() {
            drop(state);
            let Some(header) = self.basic_header() else {
                return Ok(Authorization::none());
            };
            let gate = self.refusals.pass(self.name()).await?;
            return Ok(Authorization {
                header: Some(header),
                basic: true,
                _gate: gate,
            });
        }
        if !ch.is_bearer() {
            return Ok(Authorization::none());
        }
        let key = scope_key(scopes);
        if let Some(t) = state.tokens.get(&key) {
            if t.expires > Instant::now() {
                return Ok(Authorization::token(bearer(&t.value)));
            }
        }
        // Token exchanges are one at a time (the lock above): what the one before this came to
        // decides whether the credentials go out again.
        if !self.config.credentials.is_anonymous() {
            self.refusals.check(self.name())?;
        }
        let tok = self.fetch_token(&ch, scopes).await?;
        let h = bearer(&tok.value);
        state.tokens.insert(key, tok);
        Ok(Authorization::token(h))
    }

    /// What an answer says of our credentials: taken, or refused (counted, see [`super::refusals`]);
    /// [`Verdict::Again`] when it carried a challenge worth one more try (learnt only from the
    /// registry's own origin: a redirect target, object storage or a hostile host, must not choose
    /// where credentials go). Basic credentials refused are not sent again at once: the same
    /// credentials would only be refused, and counted, again.
    pub(super) async fn judge(
        &self,
        auth: &Authorization<'_>,
        resp: &Response,
        scopes: &[String],
        reauthed: &AtomicBool,
    ) -> Verdict {
        let status = resp.status();
        if !same_origin(resp.url(), &self.base) {
            return Verdict::Answer;
        }
        let sent = auth.header.is_some();
        if sent && (status.is_success() || status.is_redirection() || status == StatusCode::NOT_FOUND) {
            self.note_credentials(None);
        }
        if status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
            return Verdict::Answer;
        }
        let ch = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(challenge::parse);
        let insufficient_scope = ch.as_ref().is_some_and(|c| c.insufficient_scope());
        let refused = status == StatusCode::UNAUTHORIZED && sent && !insufficient_scope;
        if let Some(c) = ch {
            let retry_auth =
                (status == StatusCode::UNAUTHORIZED || insufficient_scope) && !(refused && auth.basic);
            if retry_auth && !reauthed.swap(true, Ordering::Relaxed) {
                self.learn_challenge(c, scopes).await;
                return Verdict::Again;
            }
        }
        if refused {
            self.note_credentials(Some(&self.auth_failure(resp)));
        }
        Verdict::Answer
    }

    pub(super) fn basic_header(&self) -> Option<HeaderValue> {
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

    pub(super) async fn learn_challenge(&self, ch: Challenge, scopes: &[String]) {
        let mut state = self.auth.lock().await;
        state.tokens.remove(&scope_key(scopes));
        tracing::debug!(registry = %self.name(), scheme = %ch.scheme, "auth challenge");
        state.challenge = Some(ch);
    }
}

fn bearer(token: &Secret) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(&format!("Bearer {}", token.expose())).ok()?;
    v.set_sensitive(true);
    Some(v)
}
