//! Who we are to a registry: the challenge it announced (learnt only from its own origin), the
//! `Authorization` header each request carries (Basic credentials, or a Bearer token cached per set
//! of scopes and renewed before it expires), and the auth error a refusal becomes, naming the user
//! and never the secret. The token exchange itself is [`super::token`].

use std::collections::HashMap;
use std::time::Instant;

use reqwest::header::{HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, Response};

use super::redirects::same_origin;
use super::request::scope_key;
use super::{challenge, read_prefix, Challenge, Credentials, Request, Secret, Transport, ERROR_BODY_CAP};
use crate::error::{Error, Result};

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

    pub(super) async fn auth_header(&self, scopes: &[String]) -> Result<Option<HeaderValue>> {
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
