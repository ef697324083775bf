//! A small fetcher for the plain HTTP(S) services the sources read (Zuul's API and log server, the
//! DLRN API, opendev raw files). These are not registries, so none of the registry transport's auth
//! machinery applies; what they need is TLS with our settings, timeouts, a few retries on 5xx and
//! network hiccups, a typed 404 (the Zuul log fallback depends on it), a cap on body sizes, and, for
//! the YAML inputs, local files as well as URLs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{ACCEPT, RETRY_AFTER};
use url::Url;

use crate::error::{error_chain, Error, Result};
use crate::transport::retry::{self, retryable_status, Attempt, RetryPolicy};
use crate::transport::{client, retryable_error, tls};

/// Settings of a [`Fetcher`].
#[derive(Clone, Debug)]
pub struct HttpOptions {
    pub connect_timeout: Duration,
    /// Longest silence while waiting for or reading a response.
    pub read_timeout: Duration,
    /// Longest time for one whole GET: every attempt, the waits between them, headers and body. A
    /// server that trickles its answer, or never answers, costs this once, not once per attempt.
    pub request_timeout: Duration,
    /// Attempts and backoff for 5xx answers, 408/429, timeouts and broken connections.
    pub retry: RetryPolicy,
    /// Bodies (and local files) larger than this are refused.
    pub max_body_bytes: u64,
    /// Extra CA certificates (PEM) trusted for HTTPS sources.
    pub ca_file: Option<PathBuf>,
    /// Verify server certificates (default true).
    pub tls_verify: bool,
}

/// Default cap on a body: Zuul's `job-output.txt` can run to tens of megabytes.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 128 * 1024 * 1024;

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
            // The registries' default (`request_timeout`): a Zuul, DLRN or opendev answer is a few
            // MiB at most; a trickling one ends here instead of after 4 × 600 s.
            request_timeout: Duration::from_secs(180),
            retry: RetryPolicy {
                attempts: 4,
                base_delay: Duration::from_millis(500),
                max_delay: Duration::from_secs(10),
                max_retry_after: Duration::from_secs(60),
            },
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            ca_file: None,
            tls_verify: true,
        }
    }
}

/// A fetched document and where it came from (the URL without credentials, or the file path).
#[derive(Clone, Debug)]
pub struct Fetched {
    pub source: String,
    pub body: Bytes,
}

impl Fetched {
    /// The body as UTF-8 text; an error naming the source when it is not.
    pub fn text(&self) -> Result<&str> {
        let s = std::str::from_utf8(&self.body).map_err(|e| {
            Error::invalid(
                "document",
                &self.source,
                format!(
                    "expected UTF-8 text, found invalid bytes at offset {}",
                    e.valid_up_to()
                ),
            )
        })?;
        Ok(s.strip_prefix('\u{feff}').unwrap_or(s))
    }
}

/// Where a document lives: a URL (`http(s)://`) or a local file (`file://` URL or plain path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    Url(Url),
    File(PathBuf),
}

impl Location {
    /// Parse "a path OR a URL". Only `http`, `https` and `file` URLs are accepted.
    pub fn parse(s: &str) -> Result<Location> {
        if s.trim().is_empty() {
            return Err(Error::invalid(
                "location",
                s,
                "expected a file path or an http(s):// or file:// URL",
            ));
        }
        if !s.contains("://") {
            return Ok(Location::File(PathBuf::from(s)));
        }
        let url = Url::parse(s).map_err(|e| {
            Error::invalid(
                "URL",
                redact_str(s),
                format!("{e} (expected an http(s):// or file:// URL)"),
            )
        })?;
        match url.scheme() {
            "http" | "https" => Ok(Location::Url(url)),
            "file" => url
                .to_file_path()
                .map(Location::File)
                .map_err(|()| Error::invalid("file URL", redact(&url), "expected file:///absolute/path")),
            other => Err(Error::invalid(
                "URL",
                redact(&url),
                format!("unsupported scheme {other:?}; expected http, https or file"),
            )),
        }
    }
}

/// A URL for messages and logs: user name and password removed.
pub fn redact(url: &Url) -> String {
    let mut u = url.clone();
    if !u.username().is_empty() || u.password().is_some() {
        let _ = u.set_username("");
        let _ = u.set_password(None);
    }
    u.to_string()
}

/// [`redact`] for a string that may not parse as a URL: drop anything between `://` and `@`.
pub fn redact_str(s: &str) -> String {
    if let Ok(u) = Url::parse(s) {
        return redact(&u);
    }
    match (s.find("://"), s.find('@')) {
        (Some(i), Some(j)) if j > i => format!("{}{}", &s[..i + 3], &s[j + 1..]),
        _ => s.to_string(),
    }
}

/// Parse a base URL (an API root or a log directory) and make sure it ends with `/` so that
/// relative joins append instead of replacing the last segment.
pub fn base_url(what: &'static str, s: &str) -> Result<Url> {
    let mut url = Url::parse(s.trim())
        .map_err(|e| Error::invalid(what, redact_str(s), format!("{e} (expected an http(s):// URL)")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::invalid(what, redact(&url), "expected an http(s):// URL"));
    }
    if url.cannot_be_a_base() || url.host_str().is_none() {
        return Err(Error::invalid(
            what,
            redact(&url),
            "expected an http(s):// URL with a host",
        ));
    }
    if !url.path().ends_with('/') {
        let p = format!("{}/", url.path());
        url.set_path(&p);
    }
    Ok(url)
}

/// Join a relative path to a base URL from [`base_url`].
pub fn join(base: &Url, rel: &str) -> Result<Url> {
    base.join(rel)
        .map_err(|e| Error::invalid("URL", format!("{}{rel}", redact(base)), e.to_string()))
}

fn host_of(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => redact(url),
    }
}

/// One pooled HTTP client for the sources.
#[derive(Clone, Debug)]
pub struct Fetcher {
    client: reqwest::Client,
    opts: HttpOptions,
}

impl Fetcher {
    pub fn new(opts: HttpOptions) -> Result<Fetcher> {
        let tls_opts = tls::TlsOptions {
            ca_file: opts.ca_file.as_deref(),
            certs_dir: crate::transport::certs_d::CertsDir::None,
            verify: opts.tls_verify,
            client_cert_wanted: None,
        };
        let client = client::build(client::ClientSpec {
            name: "HTTP sources",
            tls: Some(tls_opts),
            connect_timeout: opts.connect_timeout,
            read_timeout: Some(opts.read_timeout),
            timeout: Some(opts.request_timeout),
            redirects: 5,
        })?;
        Ok(Fetcher { client, opts })
    }

    pub fn options(&self) -> &HttpOptions {
        &self.opts
    }

    /// GET a URL and return its body. 404 and 410 give [`Error::NotFound`]; other 4xx give
    /// [`Error::Http`] at once; 5xx, 408, 429, timeouts and broken connections are retried.
    pub async fn get(&self, url: &Url) -> Result<Fetched> {
        self.get_with(url, None).await
    }

    /// [`Fetcher::get`] sending `Accept: application/json`.
    pub async fn get_json_bytes(&self, url: &Url) -> Result<Fetched> {
        self.get_with(url, Some("application/json")).await
    }

    async fn get_with(&self, url: &Url, accept: Option<&str>) -> Result<Fetched> {
        let shown = redact(url);
        let what = format!("GET {shown}");
        let total = self.opts.request_timeout;
        let attempts = retry::run(&self.opts.retry, &what, |n, last| {
            self.get_once(url, accept, &shown, n, last)
        });
        match tokio::time::timeout(total, attempts).await {
            Ok((result, _)) => result,
            Err(_) => Err(Error::Network {
                registry: host_of(url),
                detail: format!(
                    "GET {shown}: no whole answer within {} s (request_timeout, every attempt and \
                     the waits between them included)",
                    total.as_secs()
                ),
            }),
        }
    }

    /// One try of [`Fetcher::get_with`].
    async fn get_once(
        &self,
        url: &Url,
        accept: Option<&str>,
        shown: &str,
        n: u32,
        last: bool,
    ) -> Attempt<Result<Fetched>> {
        let host = host_of(url);
        let mut req = self.client.get(url.clone());
        if let Some(a) = accept {
            req = req.header(ACCEPT, a);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if !last && retryable_error(&e) => return again(error_chain(&e), None),
            Err(e) => {
                return Attempt::Done(Err(Error::Network {
                    registry: host,
                    detail: format!("GET {shown}: {}{}", error_chain(&e), tries(n)),
                }))
            }
        };
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return match self.read_body(resp, shown).await {
                Ok(body) => Attempt::Done(Ok(Fetched {
                    source: shown.to_string(),
                    body,
                })),
                Err(BodyError::TooLarge(e)) => Attempt::Done(Err(e)),
                Err(BodyError::Broken(e)) if !last && retryable_error(&e) => {
                    again(format!("reading the body: {}", error_chain(&e)), None)
                }
                Err(BodyError::Broken(e)) => Attempt::Done(Err(Error::Network {
                    registry: host,
                    detail: format!("GET {shown}: reading the body: {}{}", error_chain(&e), tries(n)),
                })),
            };
        }
        if status == 404 || status == 410 {
            return Attempt::Done(Err(Error::NotFound {
                registry: host,
                what: format!("{shown} (HTTP {status})"),
            }));
        }
        if !last && retryable_status(status) {
            let retry_after = resp
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            return again(format!("HTTP {status}"), retry_after);
        }
        let message = error_snippet(resp).await;
        Attempt::Done(Err(Error::Http {
            registry: host,
            method: "GET".into(),
            path: format!("{shown}{}", tries(n)),
            status,
            code: None,
            message,
        }))
    }

    async fn read_body(&self, mut resp: reqwest::Response, shown: &str) -> Result<Bytes, BodyError> {
        let cap = self.opts.max_body_bytes;
        let too_large = |n: u64| {
            BodyError::TooLarge(Error::invalid(
                "response",
                shown,
                format!("body of {n} bytes or more is larger than the {cap}-byte limit"),
            ))
        };
        if let Some(len) = resp.content_length() {
            if len > cap {
                return Err(too_large(len));
            }
        }
        let mut buf = BytesMut::new();
        while let Some(chunk) = resp.chunk().await.map_err(BodyError::Broken)? {
            if buf.len() as u64 + chunk.len() as u64 > cap {
                return Err(too_large(buf.len() as u64 + chunk.len() as u64));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }

    /// Read a local file, with the same size cap as HTTP bodies.
    pub async fn read_file(&self, path: &Path) -> Result<Fetched> {
        read_file_capped(path, self.opts.max_body_bytes).await
    }

    /// Fetch "a path OR a URL" (see [`Location::parse`]).
    pub async fn fetch_location(&self, location: &str) -> Result<Fetched> {
        match Location::parse(location)? {
            Location::Url(u) => self.get(&u).await,
            Location::File(p) => self.read_file(&p).await,
        }
    }
}

fn again<T>(why: String, retry_after: Option<String>) -> Attempt<T> {
    Attempt::Again { why, retry_after }
}

fn tries(attempt: u32) -> String {
    if attempt > 1 {
        format!(" (after {attempt} attempts)")
    } else {
        String::new()
    }
}

enum BodyError {
    TooLarge(Error),
    Broken(reqwest::Error),
}

/// The start of an error body, on one line, for messages.
async fn error_snippet(resp: reqwest::Response) -> String {
    // Only the start is shown: a huge or endless error body is not read further.
    let body = crate::transport::read_prefix(resp, crate::transport::ERROR_BODY_CAP).await;
    let text = crate::scrub::scrub_prefix(&String::from_utf8_lossy(&body), 300);
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if one_line.is_empty() {
        "(empty body)".into()
    } else {
        one_line
    }
}

pub use crate::input::ensure_regular_file;

/// Read a file of at most `cap` bytes (through [`crate::input`], as every file a user names).
pub async fn read_file_capped(path: &Path, cap: u64) -> Result<Fetched> {
    let body = crate::input::read_capped(path, "file", cap)?;
    Ok(Fetched {
        source: path.display().to_string(),
        body: Bytes::from(body),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(
            Location::parse("/tmp/x.yaml").unwrap(),
            Location::File("/tmp/x.yaml".into())
        );
        assert_eq!(
            Location::parse("rel/x.yaml").unwrap(),
            Location::File("rel/x.yaml".into())
        );
        assert_eq!(
            Location::parse("file:///tmp/x.yaml").unwrap(),
            Location::File("/tmp/x.yaml".into())
        );
        assert!(matches!(
            Location::parse("https://opendev.org/x.yaml").unwrap(),
            Location::Url(_)
        ));
        let e = Location::parse("ftp://user:pw@host/x").unwrap_err().to_string();
        assert!(e.contains("unsupported scheme"), "{e}");
        assert!(!e.contains("pw"), "{e}");
        assert!(Location::parse("").is_err());
        assert!(Location::parse("file://relative/x").is_err());
    }

    #[test]
    fn redaction() {
        let u = Url::parse("https://bob:s3cret@example.org/a?b=c").unwrap();
        assert_eq!(redact(&u), "https://example.org/a?b=c");
        assert_eq!(redact_str("https://bob:s3cret@exa mple/"), "https://exa mple/");
        let e = base_url("Zuul API", "https://bob:s3cret@")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("s3cret"), "{e}");
    }

    #[test]
    fn base_urls_end_with_slash() {
        let b = base_url("API", "https://review.rdoproject.org/zuul/api").unwrap();
        assert_eq!(b.as_str(), "https://review.rdoproject.org/zuul/api/");
        assert_eq!(
            join(&b, "builds").unwrap().as_str(),
            "https://review.rdoproject.org/zuul/api/builds"
        );
        assert!(base_url("API", "file:///tmp").is_err());
        assert!(base_url("API", "not a url").is_err());
        assert!(base_url("API", "mailto:x@y").is_err());
    }

    #[tokio::test]
    async fn file_cap_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, vec![b'a'; 100]).unwrap();
        assert_eq!(read_file_capped(&p, 100).await.unwrap().body.len(), 100);
        let e = read_file_capped(&p, 99).await.unwrap_err().to_string();
        assert!(e.contains("limit") && e.contains(&p.display().to_string()), "{e}");
        let e = read_file_capped(&dir.path().join("missing"), 10)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing"), "{e}");
        assert!(read_file_capped(dir.path(), 10).await.is_err());
    }

    #[test]
    fn text_rejects_invalid_utf8() {
        let f = Fetched {
            source: "x".into(),
            body: Bytes::from_static(b"ab\xff"),
        };
        assert!(f.text().unwrap_err().to_string().contains("UTF-8"));
        let f = Fetched {
            source: "x".into(),
            body: Bytes::from_static("\u{feff}hi".as_bytes()),
        };
        assert_eq!(f.text().unwrap(), "hi");
    }
}
