//! A blob streamed to a registry in one request (a layer, read from the source as it goes): sent
//! once (a stream cannot be replayed: the copy retries the transfer), never through a redirect, and
//! held to `request_timeout` as a stall, not as a whole: the attempt ends when the registry has
//! taken no data for `request_timeout` while data was ready for it, or has not answered within
//! `request_timeout` of the last byte. A big layer that keeps moving may take as long as it needs
//! (the source's side is bounded by its minimum rate, `min_rate`); time spent waiting on the source
//! never counts against the target.
//!
//! Why by hand: reqwest's `read_timeout` runs from the send to the answer's headers and is not
//! reset by upload progress (so it would cut a healthy upload longer than it, and never catch a
//! target that reads a byte a minute), and its `timeout` bounds the whole request. So streamed
//! uploads go through a client of their own without a read timeout, and this watch.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;
use reqwest::header::{HeaderMap, AUTHORIZATION, LOCATION};
use reqwest::{Method, Response};
use url::Url;

use super::redirects::{origin, same_origin};
use super::{failure, Request, Transport};
use crate::error::{Error, Result};

/// Who the upload waits on, and since when.
#[derive(Debug)]
struct Watch {
    /// `true`: the registry (to take the next chunk, or to answer); `false`: the source.
    on_target: bool,
    since: Instant,
    /// The whole body was handed over.
    sent: bool,
    /// Bytes still to hand over, when the length was given (the HTTP layer does not ask for more
    /// once it has them all).
    left: Option<u64>,
}

impl Watch {
    fn new(len: Option<u64>) -> Watch {
        Watch {
            on_target: true,
            since: Instant::now(),
            sent: len == Some(0),
            left: len,
        }
    }

    /// How long the registry has kept the upload waiting (zero while the source is waited on).
    fn stalled_for(&self) -> Duration {
        if self.on_target {
            self.since.elapsed()
        } else {
            Duration::ZERO
        }
    }
}

/// The body stream, telling the watch who is waited on: a poll is the registry asking for data.
struct Watched<S> {
    inner: Pin<Box<S>>,
    watch: Arc<Mutex<Watch>>,
}

impl<S, E> Stream for Watched<S>
where
    S: Stream<Item = std::result::Result<Bytes, E>>,
{
    type Item = std::result::Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        let mut w = self.watch.lock().unwrap_or_else(|p| p.into_inner());
        match &polled {
            Poll::Pending => w.on_target = false,
            Poll::Ready(item) => {
                w.on_target = true;
                w.since = Instant::now();
                let n = match item {
                    Some(Ok(b)) => b.len() as u64,
                    _ => 0,
                };
                w.left = w.left.map(|l| l.saturating_sub(n));
                w.sent |= item.is_none() || w.left == Some(0);
            }
        }
        drop(w);
        polled
    }
}

impl Transport {
    /// Send a request with a streaming body once (see the module doc). The auth handshake is done
    /// first so the stream is not spent on a 401.
    pub async fn send_streaming<S, E>(
        &self,
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: S,
        scopes: &[String],
    ) -> Result<Response>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        let auth = self.authorization(scopes).await?;
        let len = headers
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let watch = Arc::new(Mutex::new(Watch::new(len)));
        let body = Watched {
            inner: Box::pin(body),
            watch: watch.clone(),
        };
        let mut rb = self
            .upload_client
            .request(method.clone(), url.clone())
            .headers(headers)
            .body(reqwest::Body::wrap_stream(body));
        if let Some(a) = &auth.header {
            if same_origin(&url, &self.base) {
                rb = rb.header(AUTHORIZATION, a.clone());
            }
        }
        self.check_given_up()?;
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        tracing::trace!(registry = %self.name(), %method, path = url.path(), "request (streaming body)");
        let req = Request::new(method, url, scopes.to_vec());
        let limit = self.config.request_timeout;
        let sent = tokio::select! {
            sent = rb.send() => sent,
            sent_all = stall(&watch, limit) => return Err(self.stall_error(&req, sent_all)),
        };
        self.note_connection(&sent);
        let resp = sent.map_err(|e| self.network_error(&req, e, 1))?;
        if resp.status().is_redirection() {
            // Never followed (see [`super::redirects`]): the registry did not take the stream.
            let to = resp
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| req.url.join(l).ok())
                .map_or_else(|| "(no Location)".into(), |u| origin(&u));
            return Err(Error::Http {
                registry: self.name().to_string(),
                method: req.method.to_string(),
                path: req.url.path().to_string(),
                status: resp.status().as_u16(),
                code: None,
                message: failure::write_redirect(&req.method, req.url.path(), &to),
            });
        }
        // Counted as any answer; a stream is not sent again, so no re-authentication here.
        self.judge(&auth, &resp, scopes, &AtomicBool::new(true)).await;
        Ok(resp)
    }

    fn stall_error(&self, req: &Request, sent_all: bool) -> Error {
        let secs = self.config.request_timeout.as_secs();
        let what = if sent_all {
            format!(
                "the whole blob was sent and the registry gave no answer within request_timeout ({secs} s)"
            )
        } else {
            format!("the upload stalled: the registry took no data for request_timeout ({secs} s)")
        };
        Error::Network {
            registry: self.name().to_string(),
            detail: format!(
                "{} {}: {what} (a registry this slow needs a longer request_timeout)",
                req.method,
                req.url.path()
            ),
        }
    }
}

/// Ends when the registry has kept the upload waiting `limit` (see [`Watch`]); tells whether the
/// whole body had been sent.
async fn stall(watch: &Mutex<Watch>, limit: Duration) -> bool {
    let tick = (limit / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    loop {
        tokio::time::sleep(tick).await;
        let w = watch.lock().unwrap_or_else(|p| p.into_inner());
        if w.stalled_for() >= limit {
            return w.sent;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn only_waiting_on_the_registry_counts() {
        let watch = Arc::new(Mutex::new(Watch::new(None)));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<std::result::Result<Bytes, Error>>();
        let mut s = Watched {
            inner: Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))),
            watch: watch.clone(),
        };
        // The source has nothing yet: the registry is not to blame.
        assert!(futures_util::FutureExt::now_or_never(s.next()).is_none());
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(watch.lock().unwrap().stalled_for(), Duration::ZERO);
        // A chunk handed over: now the registry is waited on, until it asks for more.
        tx.send(Ok(Bytes::from_static(b"x"))).unwrap();
        assert!(s.next().await.is_some());
        std::thread::sleep(Duration::from_millis(30));
        {
            let w = watch.lock().unwrap();
            assert!(w.stalled_for() >= Duration::from_millis(30) && !w.sent);
        }
        drop(tx);
        assert!(s.next().await.is_none());
        assert!(watch.lock().unwrap().sent);
        // With a length, the last byte is the end (no further poll comes).
        let watch = Arc::new(Mutex::new(Watch::new(Some(3))));
        let mut s = Watched {
            inner: Box::pin(futures_util::stream::iter([Ok::<_, Error>(Bytes::from_static(
                b"abc",
            ))])),
            watch: watch.clone(),
        };
        assert!(s.next().await.is_some());
        assert!(watch.lock().unwrap().sent);
    }
}
