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

    /// The wait for a response that may carry `Retry-After`.
    pub fn delay_for(&self, attempt: u32, retry_after: Option<&str>) -> Duration {
        match retry_after.and_then(parse_retry_after) {
            Some(d) => d.min(self.max_retry_after),
            None => self.backoff(attempt),
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
