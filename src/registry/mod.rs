//! The distribution API (OCI distribution spec v1) over [`Transport`]: manifests, blobs, tags,
//! catalog, cross-repository mounts. One [`Registry`] per registry host; cheap to share (`Arc`).

mod blob;
mod manifest;
mod tag;

use std::sync::Arc;

use bytes::Bytes;
use reqwest::Response;
use serde::Deserialize;

/// Named here too: the registry client's blob operations take and give it.
pub use crate::manifest::BlobStream;
pub use blob::MountResult;

use crate::error::{Error, Result};
use crate::transport::{read_prefix, GaveUpAfter, RegistryConfig, Transport, ERROR_BODY_CAP};

/// A registry client.
#[derive(Clone, Debug)]
pub struct Registry {
    transport: Arc<Transport>,
    /// This run writes to the registry: its manifests are read only from its own origin (see
    /// [`Registry::written_to`]).
    read_back: bool,
}

impl Registry {
    pub fn new(config: RegistryConfig) -> Result<Registry> {
        // Whatever a registry echoes back, no output of this run shows these.
        for s in config.credentials.secrets() {
            crate::scrub::remember_secret(&s);
        }
        Ok(Registry {
            transport: Arc::new(Transport::new(config)?),
            read_back: false,
        })
    }

    /// The same client for a registry this run writes to (a target): whether a manifest is there,
    /// and what it is, is read from the registry's own origin only; a manifest read redirected to
    /// another host fails instead of taking that host's answer for the registry's (so a push a
    /// registry sent elsewhere is never reported verified). Blob reads still follow redirects to
    /// the registry's storage (as distribution's storage redirects and quay.io's CDN send them).
    pub fn written_to(mut self) -> Registry {
        self.read_back = true;
        self
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Host as users write it.
    pub fn name(&self) -> &str {
        self.transport.name()
    }

    /// Is the registry there and do our credentials work? (`GET /v2/`)
    pub async fn ping(&self) -> Result<()> {
        self.transport.authenticate(&[]).await
    }

    /// Read what an answer we do not need carries (an error's or a 404's body, capped), counting it
    /// with the bytes received (so they match the wire) and leaving the connection reusable.
    pub(crate) async fn drain(&self, resp: Response) -> Bytes {
        let body = read_prefix(resp, ERROR_BODY_CAP).await;
        self.transport
            .stats
            .bytes_received
            .fetch_add(body.len() as u64, std::sync::atomic::Ordering::Relaxed);
        body
    }

    /// Map a non-success response to an error (404 → NotFound, 401/403 → Auth, others → Http with
    /// the registry's error code and message).
    pub(crate) async fn error_for(&self, resp: Response, what: &str) -> Error {
        let status = resp.status().as_u16();
        if status == 401 || status == 403 {
            return self.transport.auth_failure(&resp);
        }
        let method_path = (String::new(), resp.url().path().to_string());
        let tries = resp.extensions().get::<GaveUpAfter>().map(|t| t.0);
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (left, retry_after) = (header("ratelimit-remaining"), header("retry-after"));
        let body = self.drain(resp).await;
        let (code, mut message) = parse_error_body(&body);
        match tries {
            Some(1) if self.transport.attempts() == 1 => message.push_str(" (1 attempt: retries are off)"),
            Some(n) if n > 1 => message.push_str(&format!(" (after {n} attempts)")),
            _ => {}
        }
        if status == 429 {
            // A rate limit, not a registry in trouble: said so, for advice that fits (wait for it,
            // or credentials for a higher limit).
            let left = left
                .as_deref()
                .and_then(crate::transport::pulls_left)
                .map(|l| format!(" ({l})"))
                .unwrap_or_default();
            return Error::Busy {
                registry: self.name().to_string(),
                detail: format!("{what}: HTTP 429 Too Many Requests: rate limit reached{left}: {message}"),
                retry_after: retry_after
                    .as_deref()
                    .and_then(crate::transport::retry::parse_retry_after),
            };
        }
        if status == 404 {
            return Error::NotFound {
                registry: self.name().to_string(),
                what: match code {
                    Some(c) => format!("{what} ({c})"),
                    None => what.to_string(),
                },
            };
        }
        Error::Http {
            registry: self.name().to_string(),
            method: what.to_string(),
            path: method_path.1,
            status,
            code,
            message,
        }
    }
}

/// `{"errors":[{"code","message","detail"}]}` or plain text.
fn parse_error_body(body: &[u8]) -> (Option<String>, String) {
    #[derive(Deserialize)]
    struct Errs {
        errors: Vec<E>,
    }
    #[derive(Deserialize)]
    struct E {
        code: Option<String>,
        message: Option<String>,
    }
    if let Ok(e) = serde_json::from_slice::<Errs>(body) {
        if let Some(first) = e.errors.first() {
            let msg = e
                .errors
                .iter()
                .filter_map(|x| x.message.clone())
                .collect::<Vec<_>>()
                .join("; ");
            // Shown in part, as a plain-text body: a registry's message can be as long as the body cap.
            return (first.code.clone(), crate::scrub::scrub_prefix(&msg, 300));
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = crate::scrub::scrub_prefix(text.trim(), 200);
    (
        None,
        if text.is_empty() {
            "(no message)".into()
        } else {
            text
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        let (c, m) = parse_error_body(
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#,
        );
        assert_eq!(c.as_deref(), Some("MANIFEST_UNKNOWN"));
        assert_eq!(m, "manifest unknown");
        let (c, m) = parse_error_body(b"Too Many Requests (HAP429).\n");
        assert!(c.is_none());
        assert_eq!(m, "Too Many Requests (HAP429).");
        let (_, m) = parse_error_body(b"");
        assert_eq!(m, "(no message)");
        let long = vec![b'x'; 1000];
        assert_eq!(parse_error_body(&long).1.len(), 200);
    }
}
