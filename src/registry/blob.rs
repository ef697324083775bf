//! Blobs: HEAD, streaming GET verified while streaming, uploads (monolithic streamed PUT, chunked
//! PATCH, replayable from bytes), and cross-repository mounts.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION};
use reqwest::Method;
use url::Url;

use super::Registry;
use crate::digest::{Digest, Verifier};
use crate::error::{Error, Result};
use crate::manifest::BlobStream;
use crate::transport::{repo_scope, Budget, Request, Transport};

/// Outcome of a mount request.
#[derive(Debug)]
pub enum MountResult {
    /// 201: the blob is now in the repository.
    Mounted,
    /// 202: the registry opened an ordinary upload session instead (upload to this URL).
    Upload(Url),
}

impl Registry {
    fn blob_url(&self, repo: &str, digest: &Digest) -> Result<Url> {
        self.transport().url(&format!("v2/{repo}/blobs/{digest}"))
    }

    /// HEAD a blob: its size when present.
    pub async fn blob_exists(&self, repo: &str, digest: &Digest) -> Result<Option<u64>> {
        let req = Request::new(
            Method::HEAD,
            self.blob_url(repo, digest)?,
            vec![repo_scope(repo, false)],
        );
        let resp = self.transport().send(req).await?;
        match resp.status().as_u16() {
            404 => Ok(None),
            s if (200..300).contains(&s) => Ok(Some(
                resp.headers()
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )),
            _ => Err(self.error_for(resp, &format!("HEAD blob {repo}@{digest}")).await),
        }
    }

    /// GET a blob as a stream, verified against `digest` (and `size` when given) as it flows.
    pub async fn get_blob(&self, repo: &str, digest: &Digest, size: Option<u64>) -> Result<BlobStream> {
        self.get_blob_counted(repo, digest, size, true, &mut 0).await
    }

    /// [`Registry::get_blob`] drawing on the caller's budget of attempts (`used`); `streamed`: the
    /// body is read at the caller's pace, without the overall request deadline.
    pub async fn get_blob_counted(
        &self,
        repo: &str,
        digest: &Digest,
        size: Option<u64>,
        streamed: bool,
        used: &mut u32,
    ) -> Result<BlobStream> {
        let mut budget = Budget {
            used: *used,
            ..self.transport().budget()
        };
        let blob = self.get_blob_in(repo, digest, size, streamed, &mut budget).await;
        *used = budget.used;
        blob
    }

    /// [`Registry::get_blob_counted`] within the caller's budget (attempts and deadline).
    async fn get_blob_in(
        &self,
        repo: &str,
        digest: &Digest,
        size: Option<u64>,
        streamed: bool,
        budget: &mut Budget,
    ) -> Result<BlobStream> {
        let mut req = Request::new(
            Method::GET,
            self.blob_url(repo, digest)?,
            vec![repo_scope(repo, false)],
        );
        req.streamed = streamed;
        let resp = self.transport().send_counted(req, budget).await?;
        let what = format!("blob {repo}@{digest}");
        if !resp.status().is_success() {
            return Err(self.error_for(resp, &what).await);
        }
        let transport = self.transport.clone();
        Ok(Box::pin(Verified {
            inner: Box::pin(resp.bytes_stream()),
            verifier: Some(digest.verifier()),
            size,
            what: format!("{}: {what}", self.name()),
            pace: Pace::new(transport.config().min_rate),
            transport,
        }))
    }

    /// GET a whole (small) blob into memory, verified. For configs, never for layers. A body cut
    /// off mid-way is fetched again, within the same budget of attempts as the request itself.
    pub async fn get_blob_bytes(&self, repo: &str, digest: &Digest, limit: usize) -> Result<Bytes> {
        let mut budget = self.transport().budget();
        loop {
            let r = async {
                let mut s = self.get_blob_in(repo, digest, None, false, &mut budget).await?;
                let mut buf = Vec::new();
                while let Some(c) = s.next().await {
                    buf.extend_from_slice(&c?);
                    if buf.len() > limit {
                        return Err(Error::Unsupported {
                            registry: self.name().to_string(),
                            what: format!("blob {repo}@{digest}"),
                            reason: format!("larger than {limit} bytes"),
                        });
                    }
                }
                Ok(Bytes::from(buf))
            }
            .await;
            match r {
                Err(e @ Error::Network { .. }) => {
                    tokio::time::sleep(self.transport().again(&budget, e)?).await
                }
                other => return other,
            }
        }
    }

    /// Ask the registry to mount `digest` from repository `from` into `repo`.
    pub async fn mount_blob(&self, repo: &str, digest: &Digest, from: &str) -> Result<MountResult> {
        let mut url = self.transport().url(&format!("v2/{repo}/blobs/uploads/"))?;
        url.query_pairs_mut()
            .append_pair("mount", digest.as_str())
            .append_pair("from", from);
        let scopes = vec![repo_scope(repo, true), repo_scope(from, false)];
        let req = Request::new(Method::POST, url, scopes).header(CONTENT_LENGTH, "0");
        let resp = self.transport().send(req).await?;
        match resp.status().as_u16() {
            201 => Ok(MountResult::Mounted),
            202 => Ok(MountResult::Upload(self.location(&resp, repo)?)),
            _ => Err(self
                .error_for(resp, &format!("mount {digest} from {from} into {repo}"))
                .await),
        }
    }

    /// Open an upload session.
    pub async fn start_upload(&self, repo: &str) -> Result<Url> {
        self.start_upload_counted(repo, &mut self.transport().budget())
            .await
    }

    async fn start_upload_counted(&self, repo: &str, budget: &mut Budget) -> Result<Url> {
        let url = self.transport().url(&format!("v2/{repo}/blobs/uploads/"))?;
        let req = Request::new(Method::POST, url, vec![repo_scope(repo, true)]).header(CONTENT_LENGTH, "0");
        let resp = self.transport().send_counted(req, budget).await?;
        if resp.status().as_u16() != 202 {
            return Err(self.error_for(resp, &format!("start upload to {repo}")).await);
        }
        self.location(&resp, repo)
    }

    fn location(&self, resp: &reqwest::Response, repo: &str) -> Result<Url> {
        let loc = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::Http {
                registry: self.name().to_string(),
                method: "POST".into(),
                path: format!("/v2/{repo}/blobs/uploads/"),
                status: resp.status().as_u16(),
                code: None,
                message: "upload session without a Location header".into(),
            })?;
        self.transport().resolve(loc)
    }

    /// Finish an upload session with the whole blob streamed in one PUT (not replayable: the caller
    /// retries the transfer; a stall ends it: see `transport::upload`).
    pub async fn put_upload_stream(
        &self,
        repo: &str,
        location: Url,
        digest: &Digest,
        size: u64,
        body: BlobStream,
    ) -> Result<()> {
        let mut url = location;
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from(size));
        let transport = self.transport.clone();
        let counted = body.map(move |c| {
            if let Ok(b) = &c {
                transport
                    .stats
                    .bytes_sent
                    .fetch_add(b.len() as u64, Ordering::Relaxed);
            }
            c
        });
        let resp = self
            .transport()
            .send_streaming(Method::PUT, url, headers, counted, &[repo_scope(repo, true)])
            .await?;
        let status = resp.status().as_u16();
        if crate::transport::retry::retryable_status(status) {
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(crate::transport::retry::parse_retry_after);
            return Err(Error::Busy {
                registry: self.name().to_string(),
                detail: format!("PUT blob {repo}@{digest}: HTTP {status}"),
                retry_after,
            });
        }
        if !resp.status().is_success() {
            // The upload's client has no read timeout: the error's body gets `request_timeout`.
            let what = format!("PUT blob {repo}@{digest}");
            let (status, path) = (resp.status().as_u16(), resp.url().path().to_string());
            let limit = self.transport().config().request_timeout;
            return Err(tokio::time::timeout(limit, self.error_for(resp, &what))
                .await
                .unwrap_or_else(|_| Error::Http {
                    registry: self.name().to_string(),
                    method: what,
                    path,
                    status,
                    code: None,
                    message: format!(
                        "(its body did not come within request_timeout: {} s)",
                        limit.as_secs()
                    ),
                }));
        }
        Ok(())
    }

    /// Upload bytes held in memory (replayable: retried as a whole, the session's POST and the PUT
    /// drawing on one budget of attempts).
    pub async fn upload_bytes(&self, repo: &str, digest: &Digest, bytes: Bytes) -> Result<()> {
        digest.verify(&format!("blob for {repo}"), &bytes)?;
        let mut budget = self.transport().budget();
        loop {
            let r = async {
                let mut url = self.start_upload_counted(repo, &mut budget).await?;
                url.query_pairs_mut().append_pair("digest", digest.as_str());
                let req = Request::new(Method::PUT, url, vec![repo_scope(repo, true)])
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .body(bytes.clone());
                let resp = self.transport().send_counted(req, &mut budget).await?;
                if !resp.status().is_success() {
                    return Err(self.error_for(resp, &format!("PUT blob {repo}@{digest}")).await);
                }
                Ok(())
            }
            .await;
            match r {
                Err(e @ Error::Network { .. }) => {
                    tokio::time::sleep(self.transport().again(&budget, e)?).await
                }
                other => return other,
            }
        }
    }

    /// Upload in chunks (`PATCH` with `Content-Range`, following each new `Location`), then close
    /// with `PUT ?digest=`. For registries that refuse large monolithic PUTs.
    pub async fn upload_chunked(
        &self,
        repo: &str,
        digest: &Digest,
        mut body: BlobStream,
        chunk_size: usize,
    ) -> Result<()> {
        let mut location = self.start_upload(repo).await?;
        let mut offset: u64 = 0;
        let mut pending: Vec<u8> = Vec::with_capacity(chunk_size);
        let mut done = false;
        while !done {
            match body.next().await {
                Some(c) => pending.extend_from_slice(&c?),
                None => done = true,
            }
            while pending.len() >= chunk_size || (done && !pending.is_empty()) {
                let n = pending.len().min(chunk_size);
                let chunk = Bytes::copy_from_slice(&pending[..n]);
                pending.drain(..n);
                let range = format!("{}-{}", offset, offset + n as u64 - 1);
                let req = Request::new(Method::PATCH, location.clone(), vec![repo_scope(repo, true)])
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_RANGE, &range)
                    .body(chunk);
                let resp = self.transport().send(req).await?;
                if resp.status().as_u16() != 202 {
                    return Err(self
                        .error_for(resp, &format!("PATCH blob {repo}@{digest} range {range}"))
                        .await);
                }
                location = self.location(&resp, repo)?;
                offset += n as u64;
            }
        }
        location.query_pairs_mut().append_pair("digest", digest.as_str());
        let req =
            Request::new(Method::PUT, location, vec![repo_scope(repo, true)]).header(CONTENT_LENGTH, "0");
        let resp = self.transport().send(req).await?;
        if !resp.status().is_success() {
            return Err(self
                .error_for(resp, &format!("close upload {repo}@{digest}"))
                .await);
        }
        Ok(())
    }
}

/// A stream too slow: the bytes a whole window of waiting brought, below the minimum.
#[derive(Debug)]
struct Stalled {
    bytes: u64,
    waited: Duration,
    min: u64,
}

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes in {:.0?} of waiting, below the minimum of {} bytes (the registry or the link is stalling)",
            self.bytes, self.waited, self.min
        )
    }
}

struct Verified {
    inner: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    verifier: Option<Verifier>,
    size: Option<u64>,
    what: String,
    pace: Pace,
    transport: Arc<Transport>,
}

/// The slowest a layer may come: at least `min` bytes for every `window` spent waiting on the
/// registry. The read timeout catches a stream that stops; this catches one that trickles. Only
/// the time the stream is waited on counts (from a poll left pending to the next chunk), so a copy
/// that reads slowly because a target is slow, or starts reading late, never blames the source.
struct Pace {
    min: u64,
    window: Duration,
    waited: Duration,
    pending_since: Option<Instant>,
    bytes: u64,
}

impl Pace {
    fn new((min, window): (u64, Duration)) -> Pace {
        Pace {
            min,
            window,
            waited: Duration::ZERO,
            pending_since: None,
            bytes: 0,
        }
    }

    /// The stream had nothing yet: the wait starts (if it has not).
    fn pending(&mut self) {
        self.pending_since.get_or_insert_with(Instant::now);
    }

    /// A chunk came; `Err` with what was seen when a whole window of waiting brought less than
    /// the minimum.
    fn chunk(&mut self, n: usize) -> std::result::Result<(), Stalled> {
        if let Some(t) = self.pending_since.take() {
            self.waited += t.elapsed();
        }
        self.bytes += n as u64;
        if self.waited < self.window {
            return Ok(());
        }
        if self.bytes < self.min {
            return Err(Stalled {
                bytes: self.bytes,
                waited: self.waited,
                min: self.min,
            });
        }
        (self.waited, self.bytes) = (Duration::ZERO, 0);
        Ok(())
    }
}

impl Stream for Verified {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(_) = self.verifier.as_ref() else {
            return Poll::Ready(None);
        };
        match self.inner.as_mut().poll_next(cx) {
            Poll::Pending => {
                self.pace.pending();
                Poll::Pending
            }
            Poll::Ready(Some(Ok(chunk))) => {
                let v = self.verifier.as_mut().expect("checked above");
                v.update(&chunk);
                let seen = v.len();
                self.transport
                    .stats
                    .bytes_received
                    .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                if let Err(why) = self.pace.chunk(chunk.len()) {
                    self.verifier = None;
                    return Poll::Ready(Some(Err(Error::Network {
                        registry: self.transport.name().to_string(),
                        detail: format!("{}: download too slow: {why}", self.what),
                    })));
                }
                if let Some(size) = self.size {
                    if seen > size {
                        self.verifier = None;
                        return Poll::Ready(Some(Err(Error::DigestMismatch {
                            what: self.what.clone(),
                            expected: format!("{size} bytes"),
                            actual: format!("more than {size} bytes"),
                        })));
                    }
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                self.verifier = None;
                Poll::Ready(Some(Err(Error::Network {
                    registry: self.transport.name().to_string(),
                    detail: format!(
                        "{}: download broke off: {}",
                        self.what,
                        crate::error::error_chain(&e)
                    ),
                })))
            }
            Poll::Ready(None) => {
                let v = self.verifier.take().expect("checked above");
                let what = self.what.clone();
                if let Some(size) = self.size {
                    if v.len() != size {
                        return Poll::Ready(Some(Err(Error::DigestMismatch {
                            what,
                            expected: format!("{size} bytes"),
                            actual: format!("{} bytes", v.len()),
                        })));
                    }
                }
                match v.finish(&what) {
                    Ok(_) => Poll::Ready(None),
                    Err(e) => Poll::Ready(Some(Err(e))),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_time_spent_waiting_on_the_registry_counts() {
        let window = Duration::from_millis(50);
        // A reader that takes its time (a slow target) between chunks that came at once: fine.
        let mut p = Pace::new((1000, window));
        for _ in 0..3 {
            std::thread::sleep(window);
            assert!(p.chunk(10).is_ok());
        }
        // A registry that keeps the reader waiting a whole window for 10 bytes: too slow.
        p.pending();
        std::thread::sleep(window);
        let e = p.chunk(10).unwrap_err().to_string();
        assert!(e.contains("40 bytes") && e.contains("minimum of 1000"), "{e}");
        // Enough bytes in the window: the window starts again.
        let mut p = Pace::new((10, window));
        p.pending();
        std::thread::sleep(window);
        assert!(p.chunk(100).is_ok());
        assert_eq!((p.waited, p.bytes), (Duration::ZERO, 0));
    }
}
