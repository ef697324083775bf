//! When and how long to wait before trying a request again: exponential backoff with full jitter,
//! `Retry-After` (seconds or HTTP date) honoured up to a cap.

use std::time::{Duration, SystemTime};

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

    /// The longest [`RetryPolicy::delay_for`] may be (its backoff is random below this).
    pub fn longest_delay(&self, attempt: u32, retry_after: Option<&str>) -> Duration {
        match retry_after.and_then(parse_retry_after) {
            Some(d) => d.min(self.max_retry_after),
            None => self
                .base_delay
                .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
                .min(self.max_delay),
        }
    }

    /// The wait for a response that may carry `Retry-After`.
    pub fn delay_for(&self, attempt: u32, retry_after: Option<&str>) -> Duration {
        match retry_after.and_then(parse_retry_after) {
            Some(d) => d.min(self.max_retry_after),
            None => self.backoff(attempt),
        }
    }
}

/// What one try of a request came to, for [`run`] and [`run_shared`].
pub enum Attempt<T> {
    /// Finished: the answer, or an error another try cannot fix.
    Done(T),
    /// Worth another try: why (for the log line), and the server's `Retry-After` if it sent one.
    Again {
        why: String,
        retry_after: Option<String>,
    },
    /// Try again at once without spending an attempt: the server asked for credentials it now
    /// has (a re-authentication). The caller makes sure it asks this only once.
    Free,
    /// Finished, and the whole shared budget is spent: whoever shares it (a caller re-reading a
    /// body) must not try again either (a registry given up for the run; a token exchange that
    /// has already had its own retries and deadline).
    Spent(T),
}

/// The one retry loop: at most `policy.attempts` tries (clamped to [`MAX_ATTEMPTS`]), the backoff
/// or the server's `Retry-After` between them. `used` counts the tries made so far and is shared
/// with a caller that retries what follows the answer (a body cut off mid-way), so the two together
/// stay within the policy instead of multiplying it. `try_once(n, last)` makes try `n` (from 1); on
/// the last one it must answer `Done` or `Spent`, turning a retryable failure into its error.
/// `noted(n, why, wait)` is told of each retry before its wait (for logs and counters).
pub async fn run_shared<T, F, Fut, N>(
    policy: &RetryPolicy,
    used: &mut u32,
    mut try_once: F,
    mut noted: N,
) -> T
where
    F: FnMut(u32, bool) -> Fut,
    Fut: std::future::Future<Output = Attempt<T>>,
    N: FnMut(u32, &str, Duration),
{
    let attempts = policy.attempts.clamp(1, MAX_ATTEMPTS);
    loop {
        *used += 1;
        let n = *used;
        match try_once(n, n >= attempts).await {
            Attempt::Done(t) => return t,
            Attempt::Spent(t) => {
                *used = (*used).max(attempts);
                return t;
            }
            Attempt::Free => *used -= 1,
            Attempt::Again { why, retry_after } => {
                let wait = policy.delay_for(n, retry_after.as_deref());
                noted(n, &why, wait);
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// [`run_shared`] with a budget of its own, for the small HTTP clients (sources, the Quay API):
/// a request's first retry is logged at INFO, with how many tries it may take, the later ones at
/// DEBUG (a source down is one line, then its failure once, not a line per try). Returns the answer and the number of tries it took, for messages
/// that state it. (Registries go through `Transport`, which runs [`run_shared`] once per request;
/// the copy engine's transfer rounds draw on the same budget as the source GET they repeat.)
pub async fn run<T, F, Fut>(policy: &RetryPolicy, what: &str, try_once: F) -> (T, u32)
where
    F: FnMut(u32, bool) -> Fut,
    Fut: std::future::Future<Output = Attempt<T>>,
{
    let mut used = 0;
    let attempts = policy.attempts.clamp(1, MAX_ATTEMPTS);
    let t = run_shared(policy, &mut used, try_once, |n, why, wait| {
        let wait_ms = wait.as_millis() as u64;
        if n == 1 {
            tracing::info!(what, why = %why, attempts, wait_ms, "trying again");
        } else {
            tracing::debug!(what, attempt = n, why = %why, wait_ms, "trying again");
        }
    })
    .await;
    (t, used)
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

    #[tokio::test]
    async fn a_shared_budget_is_spent_once_free_tries_do_not_count_and_spent_ends_it() {
        let policy = RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
            max_retry_after: Duration::from_millis(1),
        };
        let again = || Attempt::Again {
            why: "reset".into(),
            retry_after: None,
        };
        // A caller that already spent 3 of 5 (a body cut off twice) gets 2 more tries, not 5.
        let mut used = 3;
        let mut tries = Vec::new();
        let mut noted = 0;
        let n = run_shared(
            &policy,
            &mut used,
            |n, last| {
                tries.push((n, last));
                let a = if last { Attempt::Done(n) } else { again() };
                async move { a }
            },
            |_, _, _| noted += 1,
        )
        .await;
        assert_eq!((n, used, noted), (5, 5, 1));
        assert_eq!(tries, [(4, false), (5, true)]);
        // A re-authentication is free once; then a success.
        let mut used = 0;
        let mut calls = 0;
        let n = run_shared(
            &policy,
            &mut used,
            |n, _| {
                calls += 1;
                let a = if calls == 1 {
                    Attempt::Free
                } else {
                    Attempt::Done(n)
                };
                async move { a }
            },
            |_, _, _| {},
        )
        .await;
        assert_eq!((n, used, calls), (1, 1, 2));
        // Spent ends the loop and leaves nothing for whoever shares the budget.
        let mut used = 1;
        let r: Result<(), &str> = run_shared(
            &policy,
            &mut used,
            |_, _| async { Attempt::Spent(Err("given up")) },
            |_, _, _| {},
        )
        .await;
        assert_eq!((r, used), (Err("given up"), 5));
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
            assert_eq!(p.longest_delay(attempt, None), full);
        }
        assert_eq!(p.longest_delay(1, Some("3")), Duration::from_secs(3));
        assert_eq!(p.longest_delay(1, Some("3600")), p.max_retry_after);
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
