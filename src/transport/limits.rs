//! Docker Hub's pull rate limit: the `ratelimit-remaining` header each answer carries is kept, and a
//! manifest GET (what Hub counts as a pull) waits while only `ratelimit_reserve` pulls are left,
//! asking again after a pause, for at most `ratelimit_max_wait`; so a promotion slows down instead
//! of spending the account's last pulls and failing every image with 429.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::{Method, Response};

use super::{retry, Request, Transport};
use crate::error::{Error, Result};

/// What the registry said of its pull budget last.
#[derive(Debug, Default)]
pub(super) struct PullLimit {
    state: Mutex<RateState>,
}

#[derive(Debug, Default, Clone, Copy)]
struct RateState {
    remaining: Option<u64>,
    window: Option<u64>,
}

impl PullLimit {
    fn now(&self) -> RateState {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn forget(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).remaining = None;
    }
}

impl Transport {
    /// Keep the pull budget an answer states.
    pub(super) fn observe_ratelimit(&self, resp: &Response) {
        if let Some((remaining, window)) = resp
            .headers()
            .get("ratelimit-remaining")
            .and_then(|v| v.to_str().ok())
            .and_then(retry::parse_ratelimit)
        {
            let mut r = self.rate.state.lock().unwrap_or_else(|p| p.into_inner());
            r.remaining = Some(remaining);
            r.window = window;
        }
    }

    /// Before a pull: when the registry's pull budget is nearly spent, wait instead of spending it.
    pub(super) async fn pull_gate(&self) -> Result<()> {
        let started = Instant::now();
        loop {
            let RateState { remaining, window } = self.rate.now();
            match remaining {
                Some(n) if n <= self.config.ratelimit_reserve => {
                    if started.elapsed() >= self.config.ratelimit_max_wait {
                        return Err(Error::Network {
                            registry: self.name().to_string(),
                            detail: format!(
                                "pull rate limit nearly exhausted ({n} left) and did not recover within {:?}",
                                self.config.ratelimit_max_wait
                            ),
                        });
                    }
                    let pause = Duration::from_secs(window.map(|w| (w / 100).clamp(5, 60)).unwrap_or(30))
                        .min(self.config.ratelimit_max_wait);
                    tracing::warn!(registry = %self.name(), remaining = n, pause_s = pause.as_secs(), "pull rate limit nearly exhausted; pausing");
                    tokio::time::sleep(pause).await;
                    // Ask again (a HEAD does not count as a pull on Docker Hub).
                    let probe = Request::new(Method::GET, self.url("v2/")?, vec![]);
                    let deadline = Instant::now() + self.config.request_timeout;
                    if let Ok(resp) = Box::pin(self.execute(&probe, None, Some(deadline))).await {
                        self.observe_ratelimit(&resp);
                        if resp.headers().get("ratelimit-remaining").is_none() {
                            self.rate.forget();
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }
}
