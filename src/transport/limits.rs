//! Docker Hub's pull rate limit: the `ratelimit-remaining` header each answer carries is kept, and a
//! manifest GET (what Hub counts as a pull) waits while only `ratelimit_reserve` pulls are left,
//! asking again after a pause, for at most `ratelimit_max_wait`; so a promotion slows down instead
//! of spending the account's last pulls and failing every image with 429.
//!
//! One limit, one message: a pause is logged once per registry when it starts (WARN) and once when
//! pulls resume (INFO), however many requests wait on it; one of them asks the registry again per
//! pause. A limit that does not reset in time is a [`Error::Busy`] naming the pull rate limit, so
//! the advice given is to wait for it or to use credentials (an account's limit is higher), not to
//! check that the registry is up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::{Method, Response};

use super::{retry, Request, Transport};
use crate::error::{Error, Result};

/// What the registry said of its pull budget last.
#[derive(Debug, Default)]
pub(super) struct PullLimit {
    state: Mutex<RateState>,
    /// A pause is going on (its start was logged).
    paused: AtomicBool,
    /// A `Retry-After` longer than we wait was already said.
    long_wait_said: AtomicBool,
}

#[derive(Debug, Default, Clone, Copy)]
struct RateState {
    remaining: Option<u64>,
    window: Option<u64>,
    /// When a waiting request last asked the registry again.
    probed: Option<Instant>,
}

impl PullLimit {
    fn now(&self) -> RateState {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn forget(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).remaining = None;
    }

    /// Whether this waiter is the one to ask again (nobody did within `pause`).
    fn take_probe(&self, pause: Duration) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.probed.is_some_and(|t| t.elapsed() < pause) {
            return false;
        }
        s.probed = Some(Instant::now());
        true
    }

    /// `true` the first time only: a long `Retry-After` is said once per registry.
    pub(super) fn first_long_wait(&self) -> bool {
        !self.long_wait_said.swap(true, Ordering::Relaxed)
    }
}

/// `21600` → `6 h`, `90` → `90 s`: a rate-limit window for messages.
fn window_text(secs: u64) -> String {
    if secs >= 3600 && secs.is_multiple_of(3600) {
        format!("{} h", secs / 3600)
    } else if secs >= 60 && secs.is_multiple_of(60) {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}

/// What a `ratelimit-remaining` header says, for messages: `0 pulls left (of the registry's 6 h
/// window)`.
pub fn pulls_left(header: &str) -> Option<String> {
    let (n, window) = retry::parse_ratelimit(header)?;
    Some(match window {
        Some(w) => format!("{n} pulls left in its {} window", window_text(w)),
        None => format!("{n} pulls left"),
    })
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
        let max_wait = self.config.ratelimit_max_wait;
        loop {
            let RateState {
                remaining, window, ..
            } = self.rate.now();
            let n = match remaining {
                Some(n) if n <= self.config.ratelimit_reserve => n,
                _ => {
                    if self.rate.paused.swap(false, Ordering::Relaxed) {
                        tracing::info!(registry = %self.name(), "pull rate limit: pulls resume");
                    }
                    return Ok(());
                }
            };
            let window = window.map(|w| format!(" (it counts pulls over {})", window_text(w)));
            if started.elapsed() >= max_wait {
                return Err(Error::Busy {
                    registry: self.name().to_string(),
                    detail: format!(
                        "pull rate limit reached: {n} pulls left{}, and it did not reset within \
                         ratelimit_max_wait ({} s)",
                        window.unwrap_or_default(),
                        max_wait.as_secs()
                    ),
                    retry_after: None,
                });
            }
            let pause = Duration::from_secs(
                self.rate
                    .now()
                    .window
                    .map(|w| (w / 100).clamp(5, 60))
                    .unwrap_or(30),
            )
            .min(max_wait);
            if !self.rate.paused.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    registry = %self.name(),
                    remaining = n,
                    reserve = self.config.ratelimit_reserve,
                    max_wait_s = max_wait.as_secs(),
                    "pull rate limit nearly reached{}: pulls from this registry pause until it resets \
                     (for at most ratelimit_max_wait)",
                    window.unwrap_or_default()
                );
            }
            tokio::time::sleep(pause).await;
            // One waiter asks again (a GET of /v2/ does not count as a pull on Docker Hub).
            if !self.rate.take_probe(pause) {
                continue;
            }
            let probe = Request::new(Method::GET, self.url("v2/")?, vec![]);
            let deadline = Instant::now() + self.config.request_timeout;
            if let Ok(resp) = Box::pin(self.execute(&probe, None, Some(deadline))).await {
                self.observe_ratelimit(&resp);
                if resp.headers().get("ratelimit-remaining").is_none() {
                    self.rate.forget();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_pulls_left_read_as_people_say_them() {
        assert_eq!(window_text(21600), "6 h");
        assert_eq!(window_text(120), "2 min");
        assert_eq!(window_text(90), "90 s");
        assert_eq!(
            pulls_left("0;w=21600").as_deref(),
            Some("0 pulls left in its 6 h window")
        );
        assert_eq!(pulls_left("3").as_deref(), Some("3 pulls left"));
        assert_eq!(pulls_left("x"), None);
    }
}
