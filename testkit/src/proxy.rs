//! A reverse proxy on loopback in front of a registry, counting requests and
//! injecting faults by rule; plain HTTP, or HTTPS (`ProxyOptions::tls`). Paths
//! under a prefix may be answered by a local handler instead of the upstream
//! (`ProxyOptions::local`): a registry and an API of its own on one host, as
//! Quay serves them.

use crate::server::{self, empty, respond, Body, BoxError, ConnCtx, Server};
use crate::util::Prng;
use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde::Serialize;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// What a fault rule does to a matching request.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// Answer with this status (and a distribution-style JSON error body)
    /// without forwarding; optional `Retry-After` seconds.
    Status {
        /// HTTP status code.
        code: u16,
        /// `Retry-After` header value, seconds.
        retry_after: Option<u64>,
    },
    /// Drop the TCP connection (RST) before answering.
    ResetConnection,
    /// Forward, but cut the response body half-way by closing the connection.
    ResetMidBody,
    /// Wait, then forward.
    Delay(Duration),
    /// Answer `307 Temporary Redirect` to this URL without forwarding.
    Redirect(String),
    /// Forward, but remove this header from the response (a registry that does not send it, e.g.
    /// `Docker-Content-Digest`).
    DropHeader(String),
}

impl FaultAction {
    /// The kind of this action.
    pub fn kind(&self) -> FaultKind {
        match self {
            FaultAction::Status { .. } => FaultKind::Status,
            FaultAction::ResetConnection => FaultKind::ResetConnection,
            FaultAction::ResetMidBody => FaultKind::ResetMidBody,
            FaultAction::Delay(_) => FaultKind::Delay,
            FaultAction::Redirect(_) => FaultKind::Redirect,
            FaultAction::DropHeader(_) => FaultKind::DropHeader,
        }
    }
}

/// Kinds of injected faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// [`FaultAction::Status`].
    Status,
    /// [`FaultAction::ResetConnection`].
    ResetConnection,
    /// [`FaultAction::ResetMidBody`].
    ResetMidBody,
    /// [`FaultAction::Delay`].
    Delay,
    /// [`FaultAction::Redirect`].
    Redirect,
    /// [`FaultAction::DropHeader`].
    DropHeader,
}

/// How often a rule fires among the requests it matches.
#[derive(Debug, Clone, PartialEq)]
pub enum Times {
    /// Every matching request.
    Always,
    /// The first `n` matching requests (after `skip`).
    First(usize),
    /// Each matching request with probability `p`, drawn from a PRNG seeded
    /// with `seed` (deterministic for a given request sequence).
    Probability {
        /// Probability in `[0, 1]`.
        p: f64,
        /// PRNG seed.
        seed: u64,
    },
}

/// A fault-injection rule. Build with [`FaultRule::new`] and the builder
/// methods; the first rule (in insertion order) that matches and fires wins.
#[derive(Debug, Clone)]
pub struct FaultRule {
    /// Only requests with this method (case-insensitive).
    pub method: Option<String>,
    /// Only requests whose path contains this.
    pub path_contains: Option<String>,
    /// Only requests whose query string contains this (e.g. `mount=`).
    pub query_contains: Option<String>,
    /// What to do.
    pub action: FaultAction,
    /// How often.
    pub times: Times,
    /// Let this many matching requests through before the rule can fire.
    pub skip: usize,
}

impl FaultRule {
    /// A rule firing `action` on every request (narrow it with the builders).
    pub fn new(action: FaultAction) -> Self {
        FaultRule {
            method: None,
            path_contains: None,
            query_contains: None,
            action,
            times: Times::Always,
            skip: 0,
        }
    }

    /// Shorthand for `FaultAction::Status { code, retry_after: None }`.
    pub fn status(code: u16) -> Self {
        FaultRule::new(FaultAction::Status {
            code,
            retry_after: None,
        })
    }

    /// Only this method.
    pub fn method(mut self, m: &str) -> Self {
        self.method = Some(m.to_ascii_uppercase());
        self
    }

    /// Only paths containing `s` (e.g. `/blobs/`, `/manifests/`).
    pub fn path_contains(mut self, s: &str) -> Self {
        self.path_contains = Some(s.into());
        self
    }

    /// Only requests whose query string contains `s` (e.g. `mount=`: cross-repository mounts).
    pub fn query_contains(mut self, s: &str) -> Self {
        self.query_contains = Some(s.into());
        self
    }

    /// Fire on the first `n` matching requests.
    pub fn first(mut self, n: usize) -> Self {
        self.times = Times::First(n);
        self
    }

    /// Fire with probability `p` (seeded PRNG).
    pub fn probability(mut self, p: f64, seed: u64) -> Self {
        self.times = Times::Probability { p, seed };
        self
    }

    /// Fire on every matching request.
    pub fn always(mut self) -> Self {
        self.times = Times::Always;
        self
    }

    /// Let `n` matching requests through first.
    pub fn skip(mut self, n: usize) -> Self {
        self.skip = n;
        self
    }

    fn matches(&self, method: &str, path: &str, query: Option<&str>) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.path_contains.as_deref().is_none_or(|p| path.contains(p))
            && self
                .query_contains
                .as_deref()
                .is_none_or(|q| query.is_some_and(|have| have.contains(q)))
    }
}

struct RuleState {
    rule: FaultRule,
    matched: usize,
    fired: usize,
    prng: Prng,
}

/// Classification of a request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PathKind {
    /// `/v2/` (the API version check).
    Base,
    /// `/v2/NAME/manifests/REF`.
    Manifests,
    /// `/v2/NAME/blobs/DIGEST`.
    Blobs,
    /// `/v2/NAME/blobs/uploads/…`.
    Uploads,
    /// `/v2/NAME/tags/list`.
    Tags,
    /// Anything with `/token` (token endpoints).
    Token,
    /// Everything else.
    Other,
}

impl PathKind {
    /// Classifies `path`.
    pub fn of(path: &str) -> PathKind {
        if path == "/v2/" || path == "/v2" {
            PathKind::Base
        } else if path.starts_with("/v2/") && path.contains("/blobs/uploads") {
            PathKind::Uploads
        } else if path.starts_with("/v2/") && path.contains("/manifests/") {
            PathKind::Manifests
        } else if path.starts_with("/v2/") && path.contains("/blobs/") {
            PathKind::Blobs
        } else if path.starts_with("/v2/") && path.ends_with("/tags/list") {
            PathKind::Tags
        } else if path.contains("/token") {
            PathKind::Token
        } else {
            PathKind::Other
        }
    }
}

/// One request seen by the proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestRecord {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Query string (without `?`), if any.
    pub query: Option<String>,
    /// Status sent to the client (`None` when the connection was reset or
    /// the upstream was unreachable before a status existed).
    pub status: Option<u16>,
    /// The fault injected, if any.
    pub fault: Option<FaultKind>,
    /// Path classification.
    pub kind: PathKind,
    /// Whether the request carried an `Authorization` header (its value is not kept).
    pub authorization: bool,
}

/// Counters of injected faults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FaultCounts {
    /// Injected statuses.
    pub status: usize,
    /// Connection resets before answering.
    pub reset_connection: usize,
    /// Bodies cut half-way.
    pub reset_mid_body: usize,
    /// Delays.
    pub delay: usize,
    /// Redirects.
    pub redirect: usize,
    /// Responses forwarded without a header.
    pub drop_header: usize,
}

impl FaultCounts {
    /// Sum of all counters.
    pub fn total(&self) -> usize {
        self.status
            + self.reset_connection
            + self.reset_mid_body
            + self.delay
            + self.redirect
            + self.drop_header
    }

    fn bump(&mut self, k: FaultKind) {
        match k {
            FaultKind::Status => self.status += 1,
            FaultKind::ResetConnection => self.reset_connection += 1,
            FaultKind::ResetMidBody => self.reset_mid_body += 1,
            FaultKind::Delay => self.delay += 1,
            FaultKind::Redirect => self.redirect += 1,
            FaultKind::DropHeader => self.drop_header += 1,
        }
    }
}

#[derive(Default)]
struct ProxyState {
    log: Vec<RequestRecord>,
    rules: Vec<RuleState>,
    faults: FaultCounts,
    /// Body bytes by path kind: (from clients, to clients).
    bytes: HashMap<PathKind, (u64, u64)>,
}

/// Which way a body goes through the proxy.
#[derive(Clone, Copy)]
enum Way {
    FromClient,
    ToClient,
}

/// Count a body's bytes as they pass (into the proxy's per-kind totals).
fn counted<B>(body: B, shared: Arc<Shared>, kind: PathKind, way: Way) -> Body
where
    B: hyper::body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    body.map_frame(move |f| {
        if let Some(d) = f.data_ref() {
            let mut st = shared.state();
            let e = st.bytes.entry(kind).or_default();
            match way {
                Way::FromClient => e.0 += d.len() as u64,
                Way::ToClient => e.1 += d.len() as u64,
            }
        }
        f
    })
    .map_err(Into::into)
    .boxed()
}

struct Upstream {
    base: String,
    authority: String,
    host: String,
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
}

/// A future answering one request.
pub type LocalFuture = Pin<Box<dyn std::future::Future<Output = Response<Body>> + Send>>;

/// Requests whose path starts with `prefix` are answered by `handler`, not forwarded.
#[derive(Clone)]
pub struct LocalRoutes {
    /// The path prefix (`/api/`).
    pub prefix: String,
    /// The handler.
    pub handler: Arc<dyn Fn(Request<Incoming>) -> LocalFuture + Send + Sync>,
}

impl std::fmt::Debug for LocalRoutes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRoutes")
            .field("prefix", &self.prefix)
            .finish()
    }
}

struct Shared {
    upstream: Upstream,
    local: Option<LocalRoutes>,
    public_base: Mutex<String>,
    state: Mutex<ProxyState>,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, ProxyState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Options for [`Proxy::start_with`].
#[derive(Debug, Clone, Default)]
pub struct ProxyOptions {
    /// Upstream base URL (`http://…` or `https://…`).
    pub upstream: String,
    /// CA PEM file for an https upstream.
    pub upstream_ca: Option<std::path::PathBuf>,
    /// Listen address (default `127.0.0.1:0`).
    pub listen: Option<SocketAddr>,
    /// Serve HTTPS with a certificate for the listen address from this CA (default: plain HTTP).
    pub tls: Option<Arc<crate::TestCa>>,
    /// Paths answered here instead of the upstream.
    pub local: Option<LocalRoutes>,
}

/// A fault-injecting, counting reverse proxy (plain HTTP on 127.0.0.1, or HTTPS).
/// Dropping it closes the listener and all connections.
pub struct Proxy {
    shared: Arc<Shared>,
    server: Server,
    https: bool,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("url", &self.url())
            .field("upstream", &self.shared.upstream.base)
            .finish()
    }
}

impl Proxy {
    /// A proxy in front of a plain `http://` upstream. For an `https://`
    /// upstream use [`Proxy::for_registry`] or [`Proxy::start_with`] with
    /// `upstream_ca`.
    pub fn start(upstream: &str) -> Result<Proxy> {
        Proxy::start_with(ProxyOptions {
            upstream: upstream.into(),
            ..Default::default()
        })
    }

    /// A proxy in front of `registry` (trusting its CA when it is TLS).
    pub fn for_registry(registry: &crate::Registry) -> Result<Proxy> {
        Proxy::start_with(ProxyOptions {
            upstream: registry.url(),
            upstream_ca: if registry.is_tls() {
                registry.ca_pem_path()
            } else {
                None
            },
            ..Default::default()
        })
    }

    /// A proxy with explicit options.
    pub fn start_with(opts: ProxyOptions) -> Result<Proxy> {
        let (https, host, port, _) = crate::http::split_url(&opts.upstream)?;
        let tls = if https {
            let ca = opts
                .upstream_ca
                .as_deref()
                .context("an https upstream needs upstream_ca")?;
            Some(crate::tls::client_config_from_file(ca)?)
        } else {
            None
        };
        let base = opts.upstream.trim_end_matches('/').to_string();
        let shared = Arc::new(Shared {
            upstream: Upstream {
                authority: format!("{host}:{port}"),
                base,
                host,
                port,
                tls,
            },
            local: opts.local.clone(),
            public_base: Mutex::new(String::new()),
            state: Mutex::new(ProxyState::default()),
        });
        let h_shared = shared.clone();
        let handler: server::Handler = Arc::new(move |req, ctx| {
            let shared = h_shared.clone();
            Box::pin(async move { handle(shared, req, ctx).await })
        });
        let listen = opts.listen.unwrap_or(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        let tls = match &opts.tls {
            Some(ca) => Some(ca.server_config_for(&[&listen.ip().to_string()])?),
            None => None,
        };
        let https = tls.is_some();
        let server = Server::start(listen, tls, handler)?;
        let scheme = if https { "https" } else { "http" };
        *shared.public_base.lock().unwrap_or_else(|e| e.into_inner()) =
            format!("{scheme}://{}", server.addr());
        Ok(Proxy {
            shared,
            server,
            https,
        })
    }

    /// `http://127.0.0.1:PORT` (`https://` with [`ProxyOptions::tls`]).
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.server.addr())
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.server.addr().to_string()
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The upstream base URL.
    pub fn upstream(&self) -> &str {
        &self.shared.upstream.base
    }

    /// An [`crate::Endpoint`] for the proxy (plain HTTP), with the given
    /// credentials of the upstream registry.
    pub fn endpoint(&self, credentials: Option<(String, String)>) -> crate::Endpoint {
        crate::Endpoint {
            base_url: self.url(),
            credentials,
            ca_pem_path: None,
            cert_dir: None,
        }
    }

    /// Appends a fault rule.
    pub fn add_rule(&self, rule: FaultRule) {
        let seed = match rule.times {
            Times::Probability { seed, .. } => seed,
            _ => 0,
        };
        self.shared.state().rules.push(RuleState {
            rule,
            matched: 0,
            fired: 0,
            prng: Prng::new(seed),
        });
    }

    /// Removes every rule.
    pub fn clear_rules(&self) {
        self.shared.state().rules.clear();
    }

    /// How many times rule number `index` (insertion order) fired.
    pub fn rule_fired(&self, index: usize) -> usize {
        self.shared.state().rules.get(index).map_or(0, |r| r.fired)
    }

    /// A copy of the request log.
    pub fn log(&self) -> Vec<RequestRecord> {
        self.shared.state().log.clone()
    }

    /// Number of requests seen.
    pub fn total(&self) -> usize {
        self.shared.state().log.len()
    }

    /// Number of requests with `method`.
    pub fn count_method(&self, method: &str) -> usize {
        self.shared
            .state()
            .log
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method))
            .count()
    }

    /// Number of requests of path kind `kind`.
    pub fn count_kind(&self, kind: PathKind) -> usize {
        self.shared.state().log.iter().filter(|r| r.kind == kind).count()
    }

    /// Number of requests with `method` and path kind `kind`.
    pub fn count(&self, method: &str, kind: PathKind) -> usize {
        self.shared
            .state()
            .log
            .iter()
            .filter(|r| r.kind == kind && r.method.eq_ignore_ascii_case(method))
            .count()
    }

    /// Injected-fault counters.
    pub fn faults(&self) -> FaultCounts {
        self.shared.state().faults
    }

    /// Clears the log, the fault counters and the byte counts (rules stay).
    pub fn reset(&self) {
        let mut st = self.shared.state();
        st.log.clear();
        st.faults = FaultCounts::default();
        st.bytes.clear();
    }

    /// Body bytes the clients sent through the proxy (requests of path kind `kind`, or all).
    pub fn bytes_from_clients(&self, kind: Option<PathKind>) -> u64 {
        self.bytes(kind, |(from, _)| from)
    }

    /// Body bytes the proxy passed back to the clients (answers to path kind `kind`, or all;
    /// bodies cut by a fault are not counted).
    pub fn bytes_to_clients(&self, kind: Option<PathKind>) -> u64 {
        self.bytes(kind, |(_, to)| to)
    }

    fn bytes(&self, kind: Option<PathKind>, way: fn((u64, u64)) -> u64) -> u64 {
        let st = self.shared.state();
        st.bytes
            .iter()
            .filter(|(k, _)| kind.is_none_or(|x| x == **k))
            .map(|(_, v)| way(*v))
            .sum()
    }

    /// Closes the listener and drops open connections: connections are
    /// refused until [`Proxy::up`].
    pub fn down(&self) {
        self.server.down();
    }

    /// Listens again on the same port.
    pub fn up(&self) -> Result<()> {
        self.server.up()
    }

    /// Whether the proxy is listening.
    pub fn is_up(&self) -> bool {
        self.server.is_up()
    }

    /// A JSON summary: totals by method, by kind, faults.
    pub fn stats_json(&self) -> serde_json::Value {
        let st = self.shared.state();
        let mut by_method = serde_json::Map::new();
        let mut by_kind = serde_json::Map::new();
        let mut by_status = serde_json::Map::new();
        for r in &st.log {
            let inc = |m: &mut serde_json::Map<String, serde_json::Value>, k: String| {
                let v = m.entry(k).or_insert(serde_json::Value::from(0u64));
                *v = serde_json::Value::from(v.as_u64().unwrap_or(0) + 1);
            };
            inc(&mut by_method, r.method.clone());
            inc(
                &mut by_kind,
                serde_json::to_value(r.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
            );
            inc(
                &mut by_status,
                r.status.map_or_else(|| "none".to_string(), |s| s.to_string()),
            );
        }
        serde_json::json!({
            "requests": st.log.len(),
            "by_method": by_method,
            "by_kind": by_kind,
            "by_status": by_status,
            "faults": st.faults,
            "faults_total": st.faults.total(),
        })
    }
}

/// A body fed from a channel (used to cut responses mid-way).
struct ChannelBody {
    rx: mpsc::Receiver<Result<Frame<Bytes>, BoxError>>,
    exact_len: Option<u64>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx.poll_recv(cx)
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self.exact_len {
            Some(n) => hyper::body::SizeHint::with_exact(n),
            None => hyper::body::SizeHint::default(),
        }
    }
}

fn status_response(code: u16, retry_after: Option<u64>) -> Response<Body> {
    let (ecode, msg) = match code {
        401 => ("UNAUTHORIZED", "authentication required (injected)"),
        403 => ("DENIED", "requested access to the resource is denied (injected)"),
        404 => ("NAME_UNKNOWN", "not found (injected)"),
        429 => ("TOOMANYREQUESTS", "too many requests (injected)"),
        _ => ("UNAVAILABLE", "service unavailable (injected)"),
    };
    let body = serde_json::json!({"errors": [{"code": ecode, "message": msg, "detail": null}]});
    let mut r = respond(code, "application/json; charset=utf-8", body.to_string());
    if let Some(secs) = retry_after {
        if let Ok(v) = secs.to_string().parse() {
            r.headers_mut().insert(hyper::header::RETRY_AFTER, v);
        }
    }
    r
}

fn record(shared: &Shared, rec: RequestRecord) {
    shared.state().log.push(rec);
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>, ctx: ConnCtx) -> Response<Body> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(String::from);
    let kind = PathKind::of(&path);
    let authorization = req.headers().contains_key(hyper::header::AUTHORIZATION);
    if let Some(local) = shared.local.as_ref().filter(|l| path.starts_with(&l.prefix)) {
        let resp = (local.handler)(req).await;
        let status = Some(resp.status().as_u16());
        let rec = RequestRecord {
            method,
            path,
            query,
            status,
            fault: None,
            kind,
            authorization,
        };
        record(&shared, rec);
        return resp;
    }

    // Pick a fault.
    let action = {
        let mut st = shared.state();
        let mut chosen = None;
        for rs in st.rules.iter_mut() {
            if !rs.rule.matches(&method, &path, query.as_deref()) {
                continue;
            }
            rs.matched += 1;
            if rs.matched <= rs.rule.skip {
                continue;
            }
            let fire = match rs.rule.times {
                Times::Always => true,
                Times::First(n) => rs.fired < n,
                Times::Probability { p, .. } => rs.prng.next_f64() < p,
            };
            if fire {
                rs.fired += 1;
                chosen = Some(rs.rule.action.clone());
                break;
            }
        }
        if let Some(a) = &chosen {
            st.faults.bump(a.kind());
        }
        chosen
    };
    let mut rec = RequestRecord {
        method: method.clone(),
        path: path.clone(),
        query: query.clone(),
        status: None,
        fault: action.as_ref().map(FaultAction::kind),
        kind,
        authorization,
    };

    match &action {
        Some(FaultAction::ResetConnection) => {
            record(&shared, rec);
            ctx.kill(true);
            return std::future::pending().await;
        }
        Some(FaultAction::Status { code, retry_after }) => {
            // Read the request body so the client sees the status, not EPIPE.
            let _ = req.into_body().collect().await;
            rec.status = Some(*code);
            record(&shared, rec);
            return status_response(*code, *retry_after);
        }
        Some(FaultAction::Redirect(to)) => {
            let _ = req.into_body().collect().await;
            rec.status = Some(307);
            record(&shared, rec);
            let mut r = Response::new(empty());
            *r.status_mut() = hyper::StatusCode::TEMPORARY_REDIRECT;
            if let Ok(v) = to.parse() {
                r.headers_mut().insert(hyper::header::LOCATION, v);
            }
            return r;
        }
        Some(FaultAction::Delay(d)) => tokio::time::sleep(*d).await,
        _ => {}
    }

    let resp = match forward(&shared, req, kind).await {
        Ok(r) => r,
        Err(e) => {
            rec.status = Some(502);
            record(&shared, rec);
            return respond(
                502,
                "text/plain",
                format!("cc-testkit proxy: upstream error: {e:#}\n"),
            );
        }
    };
    rec.status = Some(resp.status().as_u16());
    record(&shared, rec);

    let (mut parts, body) = resp.into_parts();
    if let Some(loc) = parts
        .headers
        .get(hyper::header::LOCATION)
        .and_then(|v| v.to_str().ok())
    {
        let public = shared
            .public_base
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(rest) = loc.strip_prefix(&shared.upstream.base) {
            if let Ok(v) = format!("{public}{rest}").parse() {
                parts.headers.insert(hyper::header::LOCATION, v);
            }
        }
    }
    for h in ["connection", "keep-alive", "transfer-encoding"] {
        parts.headers.remove(h);
    }
    if let Some(FaultAction::DropHeader(h)) = &action {
        parts.headers.remove(h.as_str());
    }

    if matches!(action, Some(FaultAction::ResetMidBody)) {
        let len = parts
            .headers
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(cut_body(body, len, tx, ctx));
        let body = ChannelBody { rx, exact_len: len }.boxed();
        return Response::from_parts(parts, body);
    }
    Response::from_parts(parts, counted(body, shared.clone(), kind, Way::ToClient))
}

/// Forwards up to half of `body` (half of Content-Length, or the first
/// frame when unknown), then closes the connection.
async fn cut_body(
    mut body: Incoming,
    len: Option<u64>,
    tx: mpsc::Sender<Result<Frame<Bytes>, BoxError>>,
    ctx: ConnCtx,
) {
    let limit = len.map(|l| l / 2);
    let mut sent = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        let Ok(mut data) = frame.into_data() else {
            continue;
        };
        if let Some(limit) = limit {
            let room = limit.saturating_sub(sent);
            if (data.len() as u64) >= room {
                data.truncate(room as usize);
                if !data.is_empty() && tx.send(Ok(Frame::data(data))).await.is_err() {
                    return;
                }
                break;
            }
        }
        sent += data.len() as u64;
        if tx.send(Ok(Frame::data(data))).await.is_err() {
            return;
        }
        if limit.is_none() {
            break;
        }
    }
    // Let hyper flush what was sent, then close (FIN): the client sees a
    // body shorter than announced.
    tokio::time::sleep(Duration::from_millis(100)).await;
    ctx.kill(false);
    // Keep the channel open until the connection is gone.
    tokio::time::sleep(Duration::from_secs(5)).await;
    drop(tx);
}

async fn connect_upstream(up: &Upstream) -> Result<SendRequest<Body>> {
    let tcp = TcpStream::connect((up.host.as_str(), up.port))
        .await
        .with_context(|| format!("connecting to upstream {}", up.authority))?;
    let _ = tcp.set_nodelay(true);
    match &up.tls {
        None => {
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(sender)
        }
        Some(cfg) => {
            let name = ServerName::try_from(up.host.clone())?;
            let tls = tokio_rustls::TlsConnector::from(cfg.clone())
                .connect(name, tcp)
                .await?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(sender)
        }
    }
}

async fn forward(shared: &Arc<Shared>, req: Request<Incoming>, kind: PathKind) -> Result<Response<Incoming>> {
    let up = &shared.upstream;
    let (mut parts, body) = req.into_parts();
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    parts.uri = pq.parse()?;
    parts.headers.insert(hyper::header::HOST, up.authority.parse()?);
    for h in ["connection", "keep-alive", "proxy-connection", "te", "upgrade"] {
        parts.headers.remove(h);
    }
    let req = Request::from_parts(parts, counted(body, shared.clone(), kind, Way::FromClient));
    // One upstream connection per request keeps the mapping between client
    // and upstream connections trivial (and faults per request isolated).
    let mut sender = connect_upstream(up).await?;
    sender.ready().await?;
    Ok(sender.send_request(req).await?)
}
