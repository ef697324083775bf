//! `Quay`: a registry and Quay's API on one HTTPS host, as quay.io serves them. The registry is a
//! real `docker-registry` (its `/v2/` proxied, faults and all); the API (`/api/v1/`) is ours, in
//! Quay's formats, backed by that registry, for what copy-quay and the promoter ask of Quay:
//!
//! - `GET /api/v1/repository?namespace=NS&public=true[&next_page=T]`: the namespace's repositories
//!   (those created here and those the registry holds), `page_size` per page, `next_page` tokens;
//! - `POST /api/v1/repository` `{"namespace","repository","description","visibility"}`: 201
//!   `{"namespace","name","kind"}`, or 400 "Repository already exists";
//! - `GET /api/v1/repository/NS/NAME/tag/?specificTag=T`: `{"tags": [{"name","manifest_digest",…}]}`;
//! - `PUT /api/v1/repository/NS/NAME/tag/T` `{"manifest_digest"}`: the registry's manifest of that
//!   digest put under `T` (as Quay moves a tag), 201 `"Updated"`; 404 when the digest is not there.
//!
//! Every API call needs `Authorization: Bearer <token>` (401 `invalid_token` otherwise) and is
//! recorded ([`Quay::api_requests`]).

use crate::endpoint::Endpoint;
use crate::proxy::{LocalFuture, LocalRoutes, Proxy, ProxyOptions};
use crate::server::{respond, Body};
use anyhow::{Context, Result};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// An API request the Quay answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuayRequest {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Query (without `?`).
    pub query: Option<String>,
    /// The `Authorization` header, as sent.
    pub authorization: Option<String>,
    /// Body (JSON for POST/PUT).
    pub body: Vec<u8>,
    /// The status answered.
    pub status: u16,
}

#[derive(Default)]
struct State {
    token: String,
    page_size: usize,
    /// `namespace/name` → visibility, created through the API.
    created: BTreeMap<String, String>,
    requests: Vec<QuayRequest>,
}

/// A registry with Quay's API on one HTTPS host. Dropping it stops the host (not the registry).
pub struct Quay {
    proxy: Proxy,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Quay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quay").field("url", &self.proxy.url()).finish()
    }
}

impl Quay {
    /// Quay in front of `registry` (a TLS one: its CA signs the Quay's certificate too), taking
    /// `token` on its API.
    pub fn start(registry: &crate::Registry, token: &str) -> Result<Quay> {
        let ca = registry
            .ca()
            .context("a Quay needs a TLS registry (its CA signs the Quay)")?;
        let state = Arc::new(Mutex::new(State {
            token: token.to_string(),
            page_size: 2,
            ..Default::default()
        }));
        let upstream = registry.endpoint();
        let h_state = state.clone();
        let handler = Arc::new(move |req: Request<Incoming>| -> LocalFuture {
            let (state, upstream) = (h_state.clone(), upstream.clone());
            Box::pin(async move { api(state, upstream, req).await })
        });
        let proxy = Proxy::start_with(ProxyOptions {
            upstream: registry.url(),
            upstream_ca: registry.ca_pem_path(),
            listen: None,
            tls: Some(ca.clone()),
            local: Some(LocalRoutes {
                prefix: "/api/".into(),
                handler,
            }),
        })?;
        Ok(Quay { proxy, state })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `127.0.0.1:PORT`: the registry's host and the API's.
    pub fn host(&self) -> String {
        self.proxy.host()
    }

    /// `https://127.0.0.1:PORT/api/v1/`.
    pub fn api_url(&self) -> String {
        format!("{}/api/v1/", self.proxy.url())
    }

    /// The proxy in front of the registry (its request log and fault rules).
    pub fn proxy(&self) -> &Proxy {
        &self.proxy
    }

    /// Repositories per listing page (default 2, so that listings page).
    pub fn set_page_size(&self, n: usize) {
        self.lock().page_size = n.max(1);
    }

    /// The repositories created through the API, `namespace/name` → visibility.
    pub fn created(&self) -> BTreeMap<String, String> {
        self.lock().created.clone()
    }

    /// Every API request so far.
    pub fn api_requests(&self) -> Vec<QuayRequest> {
        self.lock().requests.clone()
    }
}

fn json_answer(status: u16, v: serde_json::Value) -> Response<Body> {
    respond(status, "application/json", v.to_string())
}

/// Quay's error shape.
fn api_error(status: u16, kind: &str, detail: &str) -> Response<Body> {
    json_answer(
        status,
        json!({"detail": detail, "error_message": detail, "error_type": kind, "title": kind,
               "type": format!("https://quay.io/api/v1/error/{kind}"), "status": status}),
    )
}

async fn api(state: Arc<Mutex<State>>, upstream: Endpoint, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(String::from);
    let authorization = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => Vec::new(),
    };
    let token = state.lock().unwrap_or_else(|e| e.into_inner()).token.clone();
    let resp = if authorization.as_deref() != Some(&format!("Bearer {token}")) {
        api_error(401, "invalid_token", "Invalid token")
    } else {
        route(&state, &upstream, &method, &path, query.as_deref(), &body).await
    };
    let status = resp.status().as_u16();
    state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .requests
        .push(QuayRequest {
            method,
            path,
            query,
            authorization,
            body,
            status,
        });
    resp
}

fn query_value(query: Option<&str>, key: &str) -> Option<String> {
    query?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.to_string())
    })
}

async fn route(
    state: &Arc<Mutex<State>>,
    upstream: &Endpoint,
    method: &str,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Response<Body> {
    let rest = path.strip_prefix("/api/v1/repository").unwrap_or("");
    let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        ("GET", [""]) => list(state, upstream, query).await,
        ("POST", [""]) => create(state, upstream, body).await,
        ("GET", [ns, name, "tag", ""]) => {
            let tag = query_value(query, "specificTag").unwrap_or_default();
            let repo = format!("{ns}/{name}");
            match crate::seed::fetch_manifest(upstream.clone(), &repo, &tag).await {
                Ok(Some((_, bytes))) => json_answer(
                    200,
                    json!({"tags": [{"name": tag, "manifest_digest": crate::util::sha256_digest(&bytes),
                                     "reversion": false}], "page": 1, "has_additional": false}),
                ),
                Ok(None) => json_answer(200, json!({"tags": [], "page": 1, "has_additional": false})),
                Err(e) => api_error(500, "internal_error", &format!("{e:#}")),
            }
        }
        ("PUT", [ns, name, "tag", tag]) => {
            let repo = format!("{ns}/{name}");
            let digest = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["manifest_digest"].as_str().map(String::from));
            let Some(digest) = digest else {
                return api_error(400, "invalid_request", "manifest_digest is required");
            };
            match crate::seed::fetch_manifest(upstream.clone(), &repo, &digest).await {
                Ok(Some((media_type, bytes))) => {
                    match crate::seed::push_manifest(upstream.clone(), &repo, tag, &media_type, &bytes).await
                    {
                        Ok(_) => json_answer(201, json!("Updated")),
                        Err(e) => api_error(500, "internal_error", &format!("{e:#}")),
                    }
                }
                Ok(None) => api_error(404, "not_found", "Not Found"),
                Err(e) => api_error(500, "internal_error", &format!("{e:#}")),
            }
        }
        _ => api_error(404, "not_found", "Not Found"),
    }
}

/// The registry's repositories (its catalog) and those created here, in `namespace`.
async fn names_in(state: &Arc<Mutex<State>>, upstream: &Endpoint, namespace: &str) -> Result<Vec<String>> {
    let client = crate::endpoint::RawClient::new(upstream.clone())?;
    // distribution's largest page; the tests' registries hold fewer.
    let resp = client.send("GET", "/v2/_catalog?n=1000", &[], Vec::new()).await?;
    anyhow::ensure!(
        resp.status == 200,
        "catalog: HTTP {}: {}",
        resp.status,
        resp.text()
    );
    let v = resp.json()?;
    let mut names: BTreeSet<String> = v["repositories"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str())
        .filter_map(|r| r.strip_prefix(&format!("{namespace}/")).map(String::from))
        .collect();
    let st = state.lock().unwrap_or_else(|e| e.into_inner());
    for k in st.created.keys() {
        if let Some(n) = k.strip_prefix(&format!("{namespace}/")) {
            names.insert(n.to_string());
        }
    }
    Ok(names.into_iter().collect())
}

async fn list(state: &Arc<Mutex<State>>, upstream: &Endpoint, query: Option<&str>) -> Response<Body> {
    let Some(namespace) = query_value(query, "namespace") else {
        return api_error(400, "invalid_request", "namespace is required");
    };
    let names = match names_in(state, upstream, &namespace).await {
        Ok(n) => n,
        Err(e) => return api_error(500, "internal_error", &format!("{e:#}")),
    };
    let page_size = state.lock().unwrap_or_else(|e| e.into_inner()).page_size;
    let start: usize = query_value(query, "next_page")
        .and_then(|t| t.strip_prefix("page-").and_then(|n| n.parse().ok()))
        .unwrap_or(0);
    let page: Vec<serde_json::Value> = names
        .iter()
        .skip(start)
        .take(page_size)
        .map(|n| {
            json!({"namespace": namespace, "name": n, "description": null, "is_public": true,
                        "kind": "image", "state": "NORMAL", "is_starred": false})
        })
        .collect();
    let mut v = json!({ "repositories": page });
    if start + page_size < names.len() {
        v["next_page"] = json!(format!("page-{}", start + page_size));
    }
    json_answer(200, v)
}

async fn create(state: &Arc<Mutex<State>>, upstream: &Endpoint, body: &[u8]) -> Response<Body> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return api_error(400, "invalid_request", "Invalid JSON");
    };
    let (Some(ns), Some(name)) = (v["namespace"].as_str(), v["repository"].as_str()) else {
        return api_error(400, "invalid_request", "namespace and repository are required");
    };
    let exists = match names_in(state, upstream, ns).await {
        Ok(n) => n.iter().any(|n| n == name),
        Err(e) => return api_error(500, "internal_error", &format!("{e:#}")),
    };
    if exists {
        return api_error(400, "invalid_request", "Repository already exists");
    }
    let visibility = v["visibility"].as_str().unwrap_or("private").to_string();
    state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .created
        .insert(format!("{ns}/{name}"), visibility);
    json_answer(201, json!({"namespace": ns, "name": name, "kind": "image"}))
}
