//! A request as the transport sends it: replayable (method, URL, headers, body) so the one retry
//! loop and the re-authentication can send it again, with the token scopes it needs; and the
//! scope strings themselves.

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::Method;
use url::Url;

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
    /// A read of what this run wrote (a registry written to): its answer must come from the
    /// registry's own origin, a redirect elsewhere is not followed (see [`super::redirects`]).
    pub own_origin: bool,
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
            own_origin: false,
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

/// Scope for a repository: `pull` or `pull,push`.
pub fn repo_scope(repo: &str, push: bool) -> String {
    if push {
        format!("repository:{repo}:pull,push")
    } else {
        format!("repository:{repo}:pull")
    }
}

/// One key for a set of scopes, whatever their order (tokens are cached per key).
pub(super) fn scope_key(scopes: &[String]) -> String {
    let mut s = scopes.to_vec();
    s.sort();
    s.dedup();
    s.join(" ")
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
}
