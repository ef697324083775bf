//! What a failed request becomes: which network errors are worth another try, a TLS server answering
//! plain HTTP told apart from a registry's own 400, and the error said as it is (a missing client
//! certificate, a refused certificate, "timed out after 5 attempts", "1 attempt: retries are off"),
//! the causes kept and reqwest's repetition of the URL dropped.

use reqwest::{Response, StatusCode};

use super::redirects::RefusedRedirect;
use super::{tls, Request, Transport};
use crate::error::{error_chain, Error};

impl Transport {
    /// A network failure after `attempts` attempts, said as it is.
    pub(super) fn network_error(&self, req: &Request, e: reqwest::Error, attempts: u32) -> Error {
        let chain = error_chain(&e);
        let registry = self.name().to_string();
        if self.client_cert_wanted.get() && !e.is_timeout() {
            return Error::Tls {
                registry,
                detail: format!(
                    "the registry asked for a client certificate and none is configured: put a *.cert/*.key pair in its certs.d directory (or cert_dir) ({})",
                    short_chain(&chain)
                ),
            };
        }
        match tls::failure(&e) {
            Some(tls::TlsFailure::NotTls) => {
                return Error::Tls {
                    registry,
                    detail: tls::TlsFailure::NotTls.hint().into(),
                }
            }
            Some(f) => {
                return Error::Tls {
                    registry,
                    detail: format!("{} ({})", f.hint(), short_chain(&chain)),
                }
            }
            None => {}
        }
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "cannot connect"
        } else {
            "connection failed"
        };
        let tries = match attempts {
            1 if self.attempts() == 1 => "(1 attempt: retries are off)".to_string(),
            1 if !retryable_error(&e) => "(1 attempt: not an error another try can fix)".to_string(),
            1 => "(1 attempt)".to_string(),
            n => format!("after {n} attempts"),
        };
        Error::Network {
            registry,
            detail: format!(
                "{} {}: {what} {tries}: {}",
                req.method,
                req.url.path(),
                short_chain(&chain)
            ),
        }
    }
}

/// An answer the transport refuses, whatever its status: a TLS server's answer to plain HTTP (the
/// registry was marked insecure by mistake), or a redirect that would leave HTTPS.
pub(super) fn refused_answer(t: &Transport, req: &Request, resp: &Response) -> Option<Error> {
    if t.config.insecure && speaks_https(resp) {
        return Some(Error::Tls {
            registry: t.name().to_string(),
            detail: "the registry speaks HTTPS, not plain HTTP: do not mark it insecure (give its CA with ca_file or certs.d, or tls_verify: false)".into(),
        });
    }
    let message = match resp.extensions().get::<RefusedRedirect>()? {
        RefusedRedirect::Downgrade(to) => format!(
            "redirected to plain HTTP ({to}): not followed, a registry reached over HTTPS is never left \
             for plain HTTP (the request and its answer would travel in clear)"
        ),
        RefusedRedirect::Write(to) => write_redirect(&req.method, req.url.path(), to),
        RefusedRedirect::OffOrigin(to) => format!(
            "the registry answered a read-back of what was pushed with a redirect to {to}: not \
             followed, what a registry holds is checked at its own origin (another host's answer \
             proves nothing about it)"
        ),
    };
    Some(Error::Http {
        registry: t.name().to_string(),
        method: req.method.to_string(),
        path: req.url.path().to_string(),
        status: resp.status().as_u16(),
        code: None,
        message,
    })
}

/// A write answered with a redirect, said as it is.
pub(super) fn write_redirect(method: &reqwest::Method, path: &str, to: &str) -> String {
    let what = if path.contains("/blobs/uploads") {
        "upload"
    } else if path.contains("/manifests/") && method == reqwest::Method::PUT {
        "manifest push"
    } else if method == reqwest::Method::DELETE {
        "delete"
    } else {
        "write"
    };
    format!(
        "the registry answered the {what} with a redirect to {to}; writes are not followed, so \
         nothing was stored there (check the registry's address: it may have moved, or a proxy in \
         front of it sends writes elsewhere)"
    )
}

/// Network errors worth another try: timeouts, refused/reset connections, broken bodies.
pub fn retryable_error(e: &reqwest::Error) -> bool {
    // A TLS failure (a refused certificate, a server that does not speak TLS) does not heal.
    if tls::failure(e).is_some() {
        return false;
    }
    e.is_timeout() || e.is_connect() || e.is_request() || e.is_body()
}

/// Is this the answer of a TLS server to a plain-HTTP request? Go's TLS servers (the registry's
/// own, most in front of it) answer a bare `HTTP/1.0 400` without any header (and, to a GET, the
/// body "Client sent an HTTP request to an HTTPS server."); a registry's own 400 is HTTP/1.1 with
/// headers. Without this, a HEAD read "HTTP 400: (no message)".
fn speaks_https(resp: &Response) -> bool {
    resp.status() == StatusCode::BAD_REQUEST
        && resp.version() == reqwest::Version::HTTP_10
        && resp.headers().get(reqwest::header::CONTENT_TYPE).is_none()
        && resp.headers().get("docker-distribution-api-version").is_none()
}

pub(super) fn short_chain(chain: &str) -> String {
    // reqwest's top message repeats the URL; keep the causes.
    let parts: Vec<&str> = chain.split(": ").collect();
    if parts.len() > 1 && parts[0].starts_with("error sending request") {
        parts[1..].join(": ")
    } else {
        chain.to_string()
    }
}

pub(super) fn short_error(e: &reqwest::Error) -> String {
    short_chain(&error_chain(e))
}
