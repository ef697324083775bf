//! One request on the wire, its redirects followed by hand (at most 5 hops): credentials stay on the
//! registry's own origin (scheme, host and port), never sent to object storage, a CDN or anywhere a
//! redirect points; a redirect from HTTPS to plain HTTP is not followed (it becomes an error: the
//! request, and the answer, would travel in clear); a `303` turns the request into a body-less GET;
//! each hop is counted and held to the request's deadline (none for a body the caller streams at
//! its own pace).
//!
//! Only reads are followed. A write (`PUT`, `POST`, `PATCH`, `DELETE`) answered with a redirect is
//! that registry's failure: whatever the redirect target answers (a `201`, a digest) is not the
//! registry's acknowledgement, and counting it would report an image pushed that the registry never
//! stored. A read that checks what was written ([`Request::own_origin`]) is not followed off the
//! registry's origin either, for the same reason.

use std::sync::atomic::Ordering;
use std::time::Instant;

use reqwest::header::{HeaderValue, AUTHORIZATION, LOCATION};
use reqwest::{Method, Response, StatusCode};
use url::Url;

use super::{Request, Transport};

impl Transport {
    pub(super) async fn execute(
        &self,
        req: &Request,
        mut auth: Option<HeaderValue>,
        deadline: Option<Instant>,
    ) -> reqwest::Result<Response> {
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
            if let Some(d) = deadline {
                // reqwest's timeout runs until the body is read: headers and body, not per byte.
                rb = rb.timeout(d.saturating_duration_since(Instant::now()));
            }
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            tracing::trace!(registry = %self.name(), %method, path = url.path(), "request");
            let resp = rb.send().await?;
            let status = resp.status();
            let next = resp
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url.join(l).ok());
            if status.is_redirection() && is_write(&method) {
                // Not followed, whatever the hop: the answer goes back marked, and becomes an error.
                let to = next.as_ref().map_or_else(|| "(no Location)".into(), origin);
                let mut resp = resp;
                resp.extensions_mut().insert(RefusedRedirect::Write(to));
                return Ok(resp);
            }
            if status.is_redirection() && hop < 5 {
                if let Some(next) = next {
                    if downgrades(&url, &next) {
                        // Not followed: the answer goes back marked, and becomes an error.
                        let mut resp = resp;
                        resp.extensions_mut()
                            .insert(RefusedRedirect::Downgrade(origin(&next)));
                        return Ok(resp);
                    }
                    if req.own_origin && !same_origin(&next, &self.base) {
                        let mut resp = resp;
                        resp.extensions_mut()
                            .insert(RefusedRedirect::OffOrigin(origin(&next)));
                        return Ok(resp);
                    }
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
}

/// Set on a redirect that was not followed, with where it pointed (scheme, host and port only: a
/// storage URL's query often holds a signature).
#[derive(Clone, Debug)]
pub(super) enum RefusedRedirect {
    /// It would leave HTTPS for plain HTTP.
    Downgrade(String),
    /// It answered a write: writes are never followed.
    Write(String),
    /// It would take a read of what was written ([`Request::own_origin`]) off the registry's origin.
    OffOrigin(String),
}

/// Methods that change what a registry holds: never sent on through a redirect.
pub(super) fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// From HTTPS to anything else (plain HTTP): what was sent and received under TLS would go in clear.
pub(super) fn downgrades(from: &Url, to: &Url) -> bool {
    from.scheme() == "https" && to.scheme() != "https"
}

/// `scheme://host[:port]` of a URL, for messages.
pub(super) fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// Same scheme, host and port.
pub(super) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Is the URL's host this machine (a loopback address, or `localhost`)? By the URL alone, never
/// resolved: what is sent there in clear stays on the machine.
pub(super) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn only_leaving_https_is_a_downgrade() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(downgrades(&u("https://r/v2/"), &u("http://r/v2/")));
        assert!(downgrades(&u("https://r/v2/"), &u("http://cdn/blob?sig=x")));
        assert!(!downgrades(&u("https://r/v2/"), &u("https://cdn/blob")));
        assert!(!downgrades(&u("http://r/v2/"), &u("http://cdn/blob")));
        assert!(!downgrades(&u("http://r/v2/"), &u("https://cdn/blob")));
        assert_eq!(origin(&u("http://cdn:8080/blob?sig=secret")), "http://cdn:8080");
    }

    #[test]
    fn writes_are_the_methods_that_change_a_registry() {
        for m in [Method::PUT, Method::POST, Method::PATCH, Method::DELETE] {
            assert!(is_write(&m), "{m}");
        }
        for m in [Method::GET, Method::HEAD] {
            assert!(!is_write(&m), "{m}");
        }
    }
}
