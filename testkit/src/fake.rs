//! `FakeHttp`, a static HTTP server with runtime-settable routes that records
//! every request, and `RedirectSink`, the same on 127.0.0.2 for redirect
//! tests.

use crate::server::{self, respond, Body, ConnCtx, Server};
use anyhow::Result;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

/// A canned response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: String,
    /// Body.
    pub body: Vec<u8>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
}

impl Route {
    /// A response with `status`, `content_type` and `body`.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Route {
            status,
            content_type: content_type.into(),
            body: body.into(),
            headers: Vec::new(),
        }
    }

    /// `200 application/json` with `v` serialized.
    pub fn json(v: &serde_json::Value) -> Self {
        Route::new(200, "application/json", v.to_string())
    }

    /// `200 text/plain`.
    pub fn text(s: &str) -> Self {
        Route::new(200, "text/plain; charset=utf-8", s)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A request recorded by [`FakeHttp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Query (without `?`).
    pub query: Option<String>,
    /// Headers (names lower-case).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// First header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct FakeState {
    routes: HashMap<String, Route>,
    fallback: Option<Route>,
    requests: Vec<RecordedRequest>,
}

/// A static HTTP server on loopback. Routes are keyed by `path` or
/// `path?query` (an exact `path?query` route wins over a `path` route);
/// unknown paths get the fallback route, or 404.
pub struct FakeHttp {
    state: Arc<Mutex<FakeState>>,
    server: Server,
    https: bool,
}

impl std::fmt::Debug for FakeHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeHttp").field("url", &self.url()).finish()
    }
}

impl FakeHttp {
    /// Starts on a free port of 127.0.0.1.
    pub fn start() -> Result<FakeHttp> {
        FakeHttp::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)
    }

    /// Starts on `ip:port` (port 0 for a free one); `ip` should be loopback.
    pub fn start_on(ip: IpAddr, port: u16) -> Result<FakeHttp> {
        FakeHttp::start_with(ip, port, None)
    }

    /// Starts on `ip` (loopback, free port) serving HTTPS with a certificate for `ip` from `ca`.
    pub fn start_tls(ip: IpAddr, ca: &crate::TestCa) -> Result<FakeHttp> {
        FakeHttp::start_with(ip, 0, Some(ca.server_config_for(&[&ip.to_string()])?))
    }

    fn start_with(ip: IpAddr, port: u16, tls: Option<Arc<rustls::ServerConfig>>) -> Result<FakeHttp> {
        anyhow::ensure!(
            ip.is_loopback(),
            "FakeHttp only binds loopback addresses, not {ip}"
        );
        let state = Arc::new(Mutex::new(FakeState::default()));
        let h_state = state.clone();
        let handler: server::Handler = Arc::new(move |req, ctx| {
            let state = h_state.clone();
            Box::pin(async move { handle(state, req, ctx).await })
        });
        let https = tls.is_some();
        let server = Server::start(SocketAddr::new(ip, port), tls, handler)?;
        Ok(FakeHttp { state, server, https })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `http://IP:PORT` (`https://` when started with TLS).
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.server.addr())
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Sets (replaces) the route for `path` or `path?query`.
    pub fn set(&self, path_and_query: &str, route: Route) {
        self.lock().routes.insert(path_and_query.into(), route);
    }

    /// Shorthand for `set(path, Route::new(status, content_type, body))`.
    pub fn set_route(&self, path_and_query: &str, status: u16, content_type: &str, body: impl Into<Vec<u8>>) {
        self.set(path_and_query, Route::new(status, content_type, body));
    }

    /// Removes a route.
    pub fn remove(&self, path_and_query: &str) {
        self.lock().routes.remove(path_and_query);
    }

    /// Sets the response for unknown paths (default: 404).
    pub fn set_fallback(&self, route: Option<Route>) {
        self.lock().fallback = route;
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Requests to `path` (any query).
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Forgets recorded requests.
    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }
}

async fn handle(state: Arc<Mutex<FakeState>>, req: Request<Incoming>, _ctx: ConnCtx) -> Response<Body> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(String::from);
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    let full_key = match &query {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    let route = st
        .routes
        .get(&full_key)
        .or_else(|| st.routes.get(&path))
        .or(st.fallback.as_ref())
        .cloned();
    st.requests.push(RecordedRequest {
        method: method.clone(),
        path,
        query,
        headers,
        body,
    });
    drop(st);
    let Some(route) = route else {
        return respond(404, "text/plain", "cc-testkit FakeHttp: no route\n");
    };
    let mut r = respond(route.status, &route.content_type, route.body);
    for (k, v) in &route.headers {
        if let (Ok(k), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(k.as_bytes()),
            hyper::header::HeaderValue::from_str(v),
        ) {
            r.headers_mut().append(k, v);
        }
    }
    r
}

/// A server on **127.0.0.2** (a different host than the registries on
/// 127.0.0.1) that answers every path with the given bytes and records
/// whether each request carried an `Authorization` header. Pair it with
/// [`crate::FaultAction::Redirect`] to prove credentials are not forwarded
/// across hosts on redirects.
pub struct RedirectSink {
    http: FakeHttp,
}

impl std::fmt::Debug for RedirectSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedirectSink")
            .field("url", &self.http.url())
            .finish()
    }
}

impl RedirectSink {
    /// Serves `body` (as `application/octet-stream`) on every path.
    pub fn start(body: impl Into<Vec<u8>>) -> Result<RedirectSink> {
        let http = FakeHttp::start_on(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 0)?;
        http.set_fallback(Some(Route::new(200, "application/octet-stream", body)));
        Ok(RedirectSink { http })
    }

    /// The same over HTTPS (a storage host or CDN, as quay.io redirects layers to), with a
    /// certificate for 127.0.0.2 from `ca`.
    pub fn start_tls(body: impl Into<Vec<u8>>, ca: &crate::TestCa) -> Result<RedirectSink> {
        let http = FakeHttp::start_tls(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), ca)?;
        http.set_fallback(Some(Route::new(200, "application/octet-stream", body)));
        Ok(RedirectSink { http })
    }

    /// `http://127.0.0.2:PORT{path}` (`https://` when started with TLS).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.http.url())
    }

    /// Requests received.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.http.requests()
    }

    /// Number of requests received.
    pub fn hits(&self) -> usize {
        self.http.requests().len()
    }

    /// Whether any request carried an `Authorization` header.
    pub fn any_authorization(&self) -> bool {
        self.http
            .requests()
            .iter()
            .any(|r| r.header("authorization").is_some())
    }

    /// Per request: did it carry `Authorization`?
    pub fn authorization_flags(&self) -> Vec<bool> {
        self.http
            .requests()
            .iter()
            .map(|r| r.header("authorization").is_some())
            .collect()
    }
}
