//! Reading an answer's body with a cap: a registry, token server or web service that sends a huge or
//! endless body must not cost more memory than we chose. Every HTTP client of the crate (registries,
//! token servers, Quay, the sources' web services) reads bodies through these.

use bytes::Bytes;

use crate::error::{error_chain, Error, Result};

/// How much of an error body is ever read: only its first few hundred bytes are shown, so a huge or
/// endless error body must not cost more memory than this.
pub const ERROR_BODY_CAP: usize = 64 << 10;

/// The first `cap` bytes of a body (an error answer, of which only the start is shown): reading stops
/// there and the rest is never fetched; a body that breaks off gives what arrived.
pub async fn read_prefix(mut resp: reqwest::Response, cap: usize) -> Bytes {
    let mut buf = Vec::new();
    while buf.len() < cap {
        match resp.chunk().await {
            Ok(Some(c)) => {
                let take = c.len().min(cap - buf.len());
                buf.extend_from_slice(&c[..take]);
            }
            _ => break,
        }
    }
    Bytes::from(buf)
}

/// Read a (small) body, refusing more than `limit` bytes.
pub async fn read_limited(
    mut resp: reqwest::Response,
    limit: usize,
    registry: &str,
    what: &str,
) -> Result<Bytes> {
    let mut buf = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                buf.extend_from_slice(&c);
                if buf.len() > limit {
                    return Err(Error::Unsupported {
                        registry: registry.to_string(),
                        what: what.to_string(),
                        reason: format!("larger than {limit} bytes"),
                    });
                }
            }
            Ok(None) => return Ok(Bytes::from(buf)),
            Err(e) => {
                return Err(Error::Network {
                    registry: registry.to_string(),
                    detail: format!("{what}: reading the body failed: {}", error_chain(&e)),
                })
            }
        }
    }
}
