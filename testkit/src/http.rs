//! A deliberately simple HTTP/1.1 client (one connection per request) for
//! tests: talks plain HTTP or HTTPS with a given rustls configuration,
//! collects the whole response. Independent of the crate under test.

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// A collected HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers in arrival order (names lower-case).
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body).with_context(|| format!("response is not JSON: {}", self.text()))
    }
}

/// Sends one request and collects the response (30 s timeout).
///
/// `tls` is required for `https://` URLs (e.g. [`crate::TestCa::client_config`]
/// or [`crate::Registry::client_config`]). `Host` is set from the URL.
pub async fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<HttpResponse> {
    let body = body.into();
    tokio::time::timeout(
        Duration::from_secs(30),
        request_inner(method, url, headers, body, tls),
    )
    .await
    .map_err(|_| anyhow!("{method} {url}: timed out after 30s"))?
    .with_context(|| format!("{method} {url}"))
}

/// Blocking version of [`request`]; usable from sync tests and from inside
/// any runtime (it runs on the testkit's own runtime).
pub fn request_blocking(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<HttpResponse> {
    let method = method.to_string();
    let url = url.to_string();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let body = body.into();
    crate::rt::block_on(async move {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        request(&method, &url, &h, body, tls).await
    })
}

/// Splits an absolute URL into (https?, host, port, path-and-query).
pub(crate) fn split_url(url: &str) -> Result<(bool, String, u16, String)> {
    let uri: hyper::Uri = url.parse().with_context(|| format!("bad URL {url:?}"))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => bail!("URL {url:?} must be http:// or https://"),
    };
    let host = uri
        .host()
        .ok_or_else(|| anyhow!("URL {url:?} has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let pq = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let pq = if pq.is_empty() { "/".into() } else { pq };
    Ok((https, host, port, pq))
}

async fn request_inner(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Bytes,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<HttpResponse> {
    let (https, host, port, pq) = split_url(url)?;
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let tcp = TcpStream::connect((host.as_str(), port)).await?;
    let _ = tcp.set_nodelay(true);
    let mut req = Request::builder().method(method).uri(pq.as_str());
    req = req.header(hyper::header::HOST, authority.as_str());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let has_len = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
    if !has_len && (!body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH")) {
        req = req.header(hyper::header::CONTENT_LENGTH, body.len());
    }
    let req = req.body(Full::new(body))?;
    let resp = if https {
        let cfg = tls.ok_or_else(|| anyhow!("https URL but no TLS client configuration given"))?;
        let name = ServerName::try_from(host.clone())?;
        let stream = tokio_rustls::TlsConnector::from(cfg).connect(name, tcp).await?;
        send(stream, req).await?
    } else {
        send(tcp, req).await?
    };
    Ok(resp)
}

async fn send<I>(io: I, req: Request<Full<Bytes>>) -> Result<HttpResponse>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = resp.into_body().collect().await?.to_bytes().to_vec();
    driver.abort();
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// Parses a `WWW-Authenticate` header: the scheme (`Bearer`, `Basic`) and
/// its `key="value"` parameters.
pub fn parse_www_authenticate(value: &str) -> (String, Vec<(String, String)>) {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() || chars.next().is_none() {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            val.push(n);
                        }
                    }
                    '"' => break,
                    c => val.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                val.push(c);
                chars.next();
            }
        }
        params.push((key.trim().to_ascii_lowercase(), val.trim().to_string()));
    }
    (scheme.to_string(), params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn www_authenticate() {
        let (s, p) = parse_www_authenticate(
            r#"Bearer realm="https://127.0.0.1:5/token",service="svc",scope="repository:a/b:pull,push",error="insufficient_scope""#,
        );
        assert_eq!(s, "Bearer");
        assert_eq!(p[0], ("realm".into(), "https://127.0.0.1:5/token".into()));
        assert_eq!(p[2], ("scope".into(), "repository:a/b:pull,push".into()));
        assert_eq!(p[3].1, "insufficient_scope");
    }

    #[test]
    fn urls() {
        let (https, host, port, pq) = split_url("https://127.0.0.1:5000/v2/?x=1").unwrap();
        assert!(https);
        assert_eq!(
            (host.as_str(), port, pq.as_str()),
            ("127.0.0.1", 5000, "/v2/?x=1")
        );
        assert_eq!(split_url("http://localhost").unwrap().3, "/");
    }
}
