//! Our own token server for distribution's `auth.token` scheme (the Docker
//! Registry v2 token protocol and its OAuth2 variant), with knobs and
//! counters for tests.

use crate::server::{self, respond, Body, ConnCtx, Server};
use crate::tls::TestCa;
use crate::util::{parse_query, rfc3339};
use anyhow::{Context, Result};
use base64::Engine;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use rcgen::{CertificateParams, DnType, KeyPair};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

/// One entry of the JWT `access` claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// Resource type, e.g. `repository`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Resource name, e.g. `library/busybox`.
    pub name: String,
    /// Granted actions, e.g. `["pull", "push"]`.
    pub actions: Vec<String>,
}

/// A user known to the token server.
#[derive(Debug, Clone)]
pub struct TokenUser {
    /// User name.
    pub name: String,
    /// Password.
    pub password: String,
    /// Actions this user may ever be granted; `None` means any.
    pub allowed_actions: Option<Vec<String>>,
}

/// Configuration of a [`TokenServer`].
#[derive(Debug, Clone)]
pub struct TokenServerOptions {
    /// Known users.
    pub users: Vec<TokenUser>,
    /// Actions granted to requests without credentials; `None` means
    /// anonymous requests are refused with 401 (the default).
    pub anonymous_actions: Option<Vec<String>>,
    /// `expires_in` of issued tokens, seconds (default 300).
    pub expires_in: u64,
    /// The `service` (JWT `aud`) (default `copy-containers-test-registry`).
    pub service: String,
    /// The `issuer` (JWT `iss`) (default `copy-containers-testkit`).
    pub issuer: String,
}

impl Default for TokenServerOptions {
    fn default() -> Self {
        TokenServerOptions {
            users: Vec::new(),
            anonymous_actions: None,
            expires_in: 300,
            service: "copy-containers-test-registry".into(),
            issuer: "copy-containers-testkit".into(),
        }
    }
}

impl TokenServerOptions {
    /// Options with a single all-powerful user.
    pub fn with_user(user: &str, password: &str) -> Self {
        TokenServerOptions {
            users: vec![TokenUser {
                name: user.into(),
                password: password.into(),
                allowed_actions: None,
            }],
            ..Default::default()
        }
    }
}

/// What the token server saw and did for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// For POST: the `grant_type` (`password`, `refresh_token`).
    pub grant_type: Option<String>,
    /// The requested scopes, as sent (`repository:NAME:pull,push`).
    pub scopes: Vec<String>,
    /// The `service` parameter.
    pub service: Option<String>,
    /// Whether the request carried credentials (Basic header, password or
    /// refresh token).
    pub had_credentials: bool,
    /// The authenticated user, if any.
    pub user: Option<String>,
    /// Response status.
    pub status: u16,
    /// What was granted (empty on failure).
    pub granted: Vec<Access>,
}

struct State {
    opts: TokenServerOptions,
    requests: Vec<TokenRequest>,
    withhold: Vec<(String, usize)>,
    fail_next: Option<(usize, u16)>,
    refresh_tokens: HashMap<String, String>,
    serial: u64,
}

struct Inner {
    state: Mutex<State>,
    encoding_key: jsonwebtoken::EncodingKey,
    signing_cert_der: Vec<u8>,
    signing_cert_pem: String,
}

/// A TLS token server on 127.0.0.1 issuing ES256 JWTs that distribution
/// accepts: `GET /token` (Basic auth or anonymous) and OAuth2 `POST /token`.
///
/// The signing key is a fresh P-256 key whose self-signed certificate is
/// both the registry's `rootcertbundle` ([`TokenServer::signing_cert_pem`])
/// and the JWT header's `x5c`.
pub struct TokenServer {
    inner: Arc<Inner>,
    server: Server,
}

impl std::fmt::Debug for TokenServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenServer").field("url", &self.url()).finish()
    }
}

impl TokenServer {
    /// Starts a token server on a free loopback port, serving TLS with a
    /// certificate from `ca`.
    pub fn start(ca: &TestCa, opts: TokenServerOptions) -> Result<TokenServer> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "copy-containers-testkit token signer");
        let cert = params
            .self_signed(&key)
            .context("self-signing the token certificate")?;
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                opts,
                requests: Vec::new(),
                withhold: Vec::new(),
                fail_next: None,
                refresh_tokens: HashMap::new(),
                serial: 0,
            }),
            encoding_key: jsonwebtoken::EncodingKey::from_ec_der(&key.serialize_der()),
            signing_cert_der: cert.der().to_vec(),
            signing_cert_pem: cert.pem(),
        });
        let handler_inner = inner.clone();
        let handler: server::Handler = Arc::new(move |req, ctx| {
            let inner = handler_inner.clone();
            Box::pin(async move { handle(inner, req, ctx).await })
        });
        let server = Server::start(
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            Some(ca.server_config()?),
            handler,
        )?;
        Ok(TokenServer { inner, server })
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.server.addr())
    }

    /// The realm to configure in the registry: `https://127.0.0.1:PORT/token`.
    pub fn realm(&self) -> String {
        format!("{}/token", self.url())
    }

    /// The `service` (JWT audience).
    pub fn service(&self) -> String {
        self.state().opts.service.clone()
    }

    /// The `issuer`.
    pub fn issuer(&self) -> String {
        self.state().opts.issuer.clone()
    }

    /// The token signing certificate, PEM (the registry's `rootcertbundle`).
    pub fn signing_cert_pem(&self) -> &str {
        &self.inner.signing_cert_pem
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets `expires_in` for tokens issued from now on.
    pub fn set_expires_in(&self, secs: u64) {
        self.state().opts.expires_in = secs;
    }

    /// Sets the actions granted to anonymous requests (`None`: refuse them).
    pub fn set_anonymous_actions(&self, actions: Option<&[&str]>) {
        self.state().opts.anonymous_actions = actions.map(|a| a.iter().map(|s| s.to_string()).collect());
    }

    /// Adds (or replaces) a user; `allowed_actions: None` means any action.
    pub fn add_user(&self, name: &str, password: &str, allowed_actions: Option<&[&str]>) {
        let mut st = self.state();
        st.opts.users.retain(|u| u.name != name);
        st.opts.users.push(TokenUser {
            name: name.into(),
            password: password.into(),
            allowed_actions: allowed_actions.map(|a| a.iter().map(|s| s.to_string()).collect()),
        });
    }

    /// The next `count` successful token requests get `action` removed from
    /// every granted scope (e.g. `withhold_action("push", 1)` makes the first
    /// push attempt fail with `insufficient_scope`).
    pub fn withhold_action(&self, action: &str, count: usize) {
        self.state().withhold.push((action.to_string(), count));
    }

    /// The next `count` requests fail with `status` (e.g. 500, 503).
    pub fn fail_next(&self, count: usize, status: u16) {
        self.state().fail_next = Some((count, status));
    }

    /// Number of token requests received (all methods, all outcomes).
    pub fn request_count(&self) -> usize {
        self.state().requests.len()
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state().requests.clone()
    }

    /// The scope sets requested, one entry per request.
    pub fn scope_sets(&self) -> Vec<Vec<String>> {
        self.state().requests.iter().map(|r| r.scopes.clone()).collect()
    }

    /// Forgets the recorded requests.
    pub fn reset_counters(&self) {
        self.state().requests.clear();
    }

    /// Mints a token for `subject` with exactly `access`, bypassing
    /// authentication, valid from 10 s ago until `expires_in` seconds from
    /// now (negative: already expired). For tests needing a specific token.
    pub fn mint(&self, subject: &str, access: &[Access], expires_in: i64) -> Result<String> {
        let now = crate::rt::unix_now();
        let (iss, aud, serial) = {
            let mut st = self.state();
            st.serial += 1;
            (st.opts.issuer.clone(), st.opts.service.clone(), st.serial)
        };
        let exp = now.saturating_add_signed(expires_in);
        let iat = now.min(exp);
        sign(&self.inner, &iss, subject, &aud, access, iat, exp, serial)
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: u64,
    nbf: u64,
    iat: u64,
    jti: String,
    access: &'a [Access],
}

#[allow(clippy::too_many_arguments)]
fn sign(
    inner: &Inner,
    iss: &str,
    sub: &str,
    aud: &str,
    access: &[Access],
    iat: u64,
    exp: u64,
    serial: u64,
) -> Result<String> {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.x5c = Some(vec![
        base64::engine::general_purpose::STANDARD.encode(&inner.signing_cert_der)
    ]);
    let claims = Claims {
        iss,
        sub,
        // distribution 2.8 wants a single string here, not an array.
        aud,
        exp,
        nbf: iat.saturating_sub(10),
        iat,
        jti: format!("{:016x}-{serial}", crate::rt::random_u64()),
        access,
    };
    Ok(jsonwebtoken::encode(&header, &claims, &inner.encoding_key)?)
}

/// Parses `repository:NAME:pull,push` (the name may itself contain `:`).
fn parse_scope(scope: &str) -> Option<Access> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    Some(Access {
        kind: kind.into(),
        name: name.into(),
        actions: actions
            .split(',')
            .filter(|a| !a.is_empty())
            .map(String::from)
            .collect(),
    })
}

fn token_json(status: u16, v: serde_json::Value) -> Response<Body> {
    respond(status, "application/json", v.to_string())
}

fn error_json(status: u16, code: &str, msg: &str) -> Response<Body> {
    let mut r = token_json(
        status,
        serde_json::json!({"error": code, "error_description": msg, "details": msg}),
    );
    if status == 401 {
        if let Ok(v) = "Basic realm=\"copy-containers-testkit token server\"".parse() {
            r.headers_mut().insert(hyper::header::WWW_AUTHENTICATE, v);
        }
    }
    r
}

async fn handle(inner: Arc<Inner>, req: Request<Incoming>, _ctx: ConnCtx) -> Response<Body> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let mut params = parse_query(req.uri().query().unwrap_or(""));
    let basic = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_string(), p.to_string())));
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return error_json(400, "invalid_request", "cannot read body"),
    };
    if method == "POST" {
        params.extend(parse_query(&String::from_utf8_lossy(&body)));
    }
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    // OAuth2 sends scopes space-separated in one parameter; GET repeats `scope`.
    let scopes: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| {
            v.split(' ')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    let grant_type = if method == "POST" { get("grant_type") } else { None };
    let service = get("service");

    let mut st = inner.state.lock().unwrap_or_else(|e| e.into_inner());
    let mut record = TokenRequest {
        method: method.clone(),
        grant_type: grant_type.clone(),
        scopes: scopes.clone(),
        service: service.clone(),
        had_credentials: false,
        user: None,
        status: 200,
        granted: Vec::new(),
    };
    let finish = |st: &mut State, mut record: TokenRequest, resp: Response<Body>| {
        record.status = resp.status().as_u16();
        st.requests.push(record);
        resp
    };

    if path != "/token" && path != "/token/" {
        return finish(
            &mut st,
            record,
            error_json(404, "not_found", "only /token exists"),
        );
    }
    if let Some((n, status)) = st.fail_next {
        st.fail_next = if n > 1 { Some((n - 1, status)) } else { None };
        if n > 0 {
            return finish(
                &mut st,
                record,
                error_json(status, "injected", "injected failure"),
            );
        }
    }
    if let Some(s) = &service {
        if *s != st.opts.service {
            return finish(
                &mut st,
                record,
                error_json(400, "invalid_request", "unknown service"),
            );
        }
    }

    // Authenticate.
    let mut offline = false;
    let user: Option<String> = match (method.as_str(), grant_type.as_deref()) {
        ("GET", _) => {
            offline = get("offline_token").as_deref() == Some("true");
            match basic {
                Some((u, p)) => {
                    record.had_credentials = true;
                    if !st.opts.users.iter().any(|x| x.name == u && x.password == p) {
                        return finish(
                            &mut st,
                            record,
                            error_json(401, "unauthorized", "bad credentials"),
                        );
                    }
                    Some(u)
                }
                None => None,
            }
        }
        ("POST", Some("password")) => {
            offline = get("access_type").as_deref() == Some("offline");
            let (u, p) = (
                get("username").unwrap_or_default(),
                get("password").unwrap_or_default(),
            );
            record.had_credentials = true;
            if !st.opts.users.iter().any(|x| x.name == u && x.password == p) {
                return finish(
                    &mut st,
                    record,
                    error_json(401, "unauthorized", "bad credentials"),
                );
            }
            Some(u)
        }
        ("POST", Some("refresh_token")) => {
            record.had_credentials = true;
            let rt = get("refresh_token").unwrap_or_default();
            match st.refresh_tokens.get(&rt) {
                Some(u) => Some(u.clone()),
                None => {
                    return finish(
                        &mut st,
                        record,
                        error_json(401, "invalid_grant", "unknown refresh token"),
                    )
                }
            }
        }
        ("POST", _) => {
            return finish(
                &mut st,
                record,
                error_json(
                    400,
                    "unsupported_grant_type",
                    "grant_type must be password or refresh_token",
                ),
            )
        }
        _ => {
            return finish(
                &mut st,
                record,
                error_json(405, "method_not_allowed", "GET or POST"),
            )
        }
    };
    record.user = user.clone();
    let allowed: Option<Vec<String>> = match &user {
        Some(u) => st
            .opts
            .users
            .iter()
            .find(|x| &x.name == u)
            .and_then(|x| x.allowed_actions.clone()),
        None => match &st.opts.anonymous_actions {
            Some(a) => Some(a.clone()),
            None => {
                return finish(
                    &mut st,
                    record,
                    error_json(401, "unauthorized", "anonymous access is disabled"),
                )
            }
        },
    };

    // Decide what to grant.
    let mut withheld: Vec<String> = Vec::new();
    for (action, left) in st.withhold.iter_mut() {
        if *left > 0 {
            *left -= 1;
            withheld.push(action.clone());
        }
    }
    st.withhold.retain(|(_, left)| *left > 0);
    let mut granted = Vec::new();
    for scope in &scopes {
        let Some(mut access) = parse_scope(scope) else {
            continue;
        };
        access.actions.retain(|a| {
            !withheld.contains(a)
                && allowed
                    .as_ref()
                    .is_none_or(|al| al.contains(a) || al.iter().any(|x| x == "*"))
        });
        if !access.actions.is_empty() {
            granted.push(access);
        }
    }

    let now = crate::rt::unix_now();
    st.serial += 1;
    let serial = st.serial;
    let subject = user.clone().unwrap_or_default();
    let token = match sign(
        &inner,
        &st.opts.issuer,
        &subject,
        &st.opts.service,
        &granted,
        now,
        now + st.opts.expires_in,
        serial,
    ) {
        Ok(t) => t,
        Err(e) => return finish(&mut st, record, error_json(500, "internal", &e.to_string())),
    };
    let mut body = serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": st.opts.expires_in,
        "issued_at": rfc3339(now),
    });
    if let (true, Some(u)) = (offline, &user) {
        let refresh = format!("refresh-{:016x}-{serial}", crate::rt::random_u64());
        st.refresh_tokens.insert(refresh.clone(), u.clone());
        body["refresh_token"] = serde_json::Value::String(refresh);
    }
    if grant_type.as_deref() == Some("refresh_token") {
        body["refresh_token"] = serde_json::Value::String(get("refresh_token").unwrap_or_default());
    }
    if method == "POST" {
        body["scope"] = serde_json::Value::String(scopes.join(" "));
    }
    record.granted = granted;
    finish(&mut st, record, token_json(200, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse() {
        let a = parse_scope("repository:a/b:pull,push").unwrap();
        assert_eq!(a.kind, "repository");
        assert_eq!(a.name, "a/b");
        assert_eq!(a.actions, vec!["pull", "push"]);
        let b = parse_scope("repository:host:5000/x:pull").unwrap();
        assert_eq!(b.name, "host:5000/x");
        assert!(parse_scope("nonsense").is_none());
    }
}
