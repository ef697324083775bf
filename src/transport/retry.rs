//! When and how long to wait before trying a request again: exponential backoff with full jitter,
//! `Retry-After` (seconds or HTTP date) honoured up to a cap.

use std::time::{Duration, SystemTime};

// `run` below is the shared loop; `Transport` keeps its own because it also renews tokens and shares
// one budget with callers that re-read bodies.

/// Most attempts a request makes, whatever is asked (`retries: 1000000000` must not mean hours of
/// hammering a dead registry).
pub const MAX_ATTEMPTS: u32 = 20;

/// Retry settings, per registry.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in all (1 = no retry; at most [`MAX_ATTEMPTS`]).
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Longest `Retry-After` we wait; longer asks fail (so a 2 a.m. run does not hang for an hour).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Delay before attempt `attempt + 1` (attempt counts from 1): random in [d/2, d] with
    /// d = base·2^(attempt-1), capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let d = exp.min(self.max_delay);
        let half = d / 2;
        half + Duration::from_nanos(fastrand::u64(0..=half.as_nanos() as u64))
    }

    /// The wait for a response that may carry `Retry-After`.
    pub fn delay_for(&self, attempt: u32, retry_after: Option<&str>) -> Duration {
        match retry_after.and_then(parse_retry_after) {
            Some(d) => d.min(self.max_retry_after),
            None => self.backoff(attempt),
        }
    }
}

/// What one try of a request came to, for [`run`].
pub enum Attempt<T> {
    /// Finished: the answer, or an error another try cannot fix.
    Done(T),
    /// Worth another try: why (for the log line), and the server's `Retry-After` if it sent one.
    Again {
        why: String,
        retry_after: Option<String>,
    },
}

/// The one retry loop of the small HTTP clients (sources, the Quay API; registries have theirs in
/// `Transport`, applied once per request too): at most `policy.attempts` tries, the backoff or the
/// server's `Retry-After` between them. `try_once(n, last)` makes try `n` (from 1); on the last one it
/// must answer `Done`, turning a retryable failure into its error. Returns the answer and the number
/// of tries it took, for messages that state it.
pub async fn run<T, F, Fut>(policy: &RetryPolicy, what: &str, mut try_once: F) -> (T, u32)
where
    F: FnMut(u32, bool) -> Fut,
    Fut: std::future::Future<Output = Attempt<T>>,
{
    let attempts = policy.attempts.clamp(1, MAX_ATTEMPTS);
    let mut n = 0;
    loop {
        n += 1;
        match try_once(n, n >= attempts).await {
            Attempt::Done(t) => return (t, n),
            Attempt::Again { why, retry_after } => {
                let wait = policy.delay_for(n, retry_after.as_deref());
                tracing::warn!(what, attempt = n, why = %why, wait_ms = wait.as_millis() as u64, "retrying");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Statuses worth another try.
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 425 | 429 | 500 | 502 | 503 | 504)
}

/// `Retry-After: <seconds>` or `Retry-After: <HTTP-date>`.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// Docker Hub's `ratelimit-remaining: 95;w=21600` → (remaining, window seconds).
pub fn parse_ratelimit(v: &str) -> Option<(u64, Option<u64>)> {
    let mut parts = v.split(';');
    let remaining = parts.next()?.trim().parse().ok()?;
    let window = parts
        .find_map(|p| p.trim().strip_prefix("w="))
        .and_then(|w| w.parse().ok());
    Some((remaining, window))
}

#[cfg(test)]
mod tests {

    #[tokio::test]
    async fn run_tries_at_most_attempts_and_tells_the_last_try() {
        let policy = RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            max_retry_after: Duration::from_millis(5),
        };
        let mut seen = Vec::new();
        let (answer, tries) = run(&policy, "test", |n, last| {
            seen.push((n, last));
            async move {
                if last {
                    Attempt::Done(Err::<(), String>(format!("gave up after {n}")))
                } else {
                    Attempt::Again {
                        why: "503".into(),
                        retry_after: Some("1".into()), // capped to max_retry_after
                    }
                }
            }
        })
        .await;
        assert_eq!(answer, Err("gave up after 3".into()));
        assert_eq!(tries, 3);
        assert_eq!(seen, [(1, false), (2, false), (3, true)]);
        // A success ends at once; an absurd policy is clamped.
        let huge = RetryPolicy {
            attempts: 1_000_000_000,
            ..policy.clone()
        };
        let mut n_calls = 0;
        let (answer, tries) = run(&huge, "test", |n, last| {
            n_calls += 1;
            async move {
                if last {
                    Attempt::Done(n)
                } else {
                    Attempt::Again {
                        why: "reset".into(),
                        retry_after: None,
                    }
                }
            }
        })
        .await;
        assert_eq!(
            (answer, tries, n_calls),
            (MAX_ATTEMPTS, MAX_ATTEMPTS, MAX_ATTEMPTS)
        );
    }

    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let p = RetryPolicy {
            attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(5),
        };
        for attempt in 1..=10 {
            let d = p.backoff(attempt);
            let full = (Duration::from_millis(100) * (1 << (attempt - 1))).min(Duration::from_secs(1));
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let d = parse_retry_after(&future).unwrap();
        assert!(
            d <= Duration::from_secs(30) && d >= Duration::from_secs(28),
            "{d:?}"
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);
        let p = RetryPolicy::default();
        assert_eq!(p.delay_for(1, Some("100000")), p.max_retry_after);
    }

    #[test]
    fn statuses_and_ratelimit() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(retryable_status(s));
        }
        for s in [200, 400, 401, 403, 404, 405] {
            assert!(!retryable_status(s));
        }
        assert_eq!(parse_ratelimit("95;w=21600"), Some((95, Some(21600))));
        assert_eq!(parse_ratelimit("7"), Some((7, None)));
        assert_eq!(parse_ratelimit("x;w=1"), None);
    }
}
