//! What one request may spend: its attempts (shared with a caller that re-reads a body cut off
//! mid-way, so the two never multiply) and its deadline, `request_timeout`: the longest it may take
//! from its first attempt to the end of its answer, headers and body, retries and their waits
//! included. So a registry that keeps a connection open and trickles a byte every 20 s, or never
//! answers at all, costs one deadline, not attempts × deadline.
//!
//! Waits with bounds of their own are not counted: the pause for Docker Hub's pull limit
//! (`ratelimit_max_wait`), the token exchange (`token_timeout`) and the wait for the credentials
//! gate. Layers streamed at the copy's pace are bounded by the minimum rate instead (`min_rate`), and
//! a layer streamed to a registry by `request_timeout` as a stall: no data taken, or no answer after
//! the last byte, for that long ([`super::upload`]).

use std::time::{Duration, Instant};

use super::Transport;
use crate::error::Error;

/// Attempts made so far and the deadline of one request.
#[derive(Clone, Copy, Debug, Default)]
pub struct Budget {
    /// Attempts made so far (the retry policy's count: see [`Transport::attempts`]).
    pub used: u32,
    /// When the request must have its whole answer (`None`: no deadline, for streamed bodies).
    pub deadline: Option<Instant>,
}

impl Budget {
    /// Time left before the deadline (`None`: no deadline).
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// The deadline has passed.
    pub fn passed(&self) -> bool {
        self.remaining() == Some(Duration::ZERO)
    }

    /// Another attempt after waiting `wait` would still start before the deadline.
    pub fn room_for(&self, wait: Duration) -> bool {
        self.remaining().is_none_or(|left| left > wait)
    }

    /// Move the deadline by a wait that is not the request's own (see the module doc).
    pub fn extend(&mut self, by: Duration) {
        if let Some(d) = &mut self.deadline {
            *d += by;
        }
    }
}

impl Transport {
    /// A new request's budget: no attempt made, the deadline `request_timeout` from now.
    pub fn budget(&self) -> Budget {
        Budget {
            used: 0,
            deadline: Some(Instant::now() + self.config.request_timeout),
        }
    }

    /// For a caller that re-reads what followed an answer (a body cut off, or trickled past the
    /// deadline): the wait before trying again, or the error to give up with, which names the
    /// deadline when that is what ended the request.
    pub fn again(&self, budget: &Budget, e: Error) -> std::result::Result<Duration, Error> {
        let wait = self.config.retry.backoff(budget.used);
        if budget.used < self.attempts() && budget.room_for(wait) {
            return Ok(wait);
        }
        Err(self.past_deadline(budget, e))
    }

    /// A network error of a request whose deadline has passed says so, and what to do.
    pub(super) fn past_deadline(&self, budget: &Budget, e: Error) -> Error {
        let why = format!(
            " (the request did not finish within request_timeout: {} s, attempts included; a \
             registry this slow needs a longer one)",
            self.config.request_timeout.as_secs()
        );
        match e {
            Error::Network { registry, detail } if budget.passed() && !detail.ends_with(&why) => {
                Error::Network {
                    registry,
                    detail: detail + &why,
                }
            }
            e => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_and_deadline() {
        let none = Budget::default();
        assert!(none.room_for(Duration::from_secs(86_400)) && !none.passed());
        let mut b = Budget {
            used: 1,
            deadline: Some(Instant::now() + Duration::from_secs(10)),
        };
        assert!(b.room_for(Duration::from_secs(5)));
        assert!(!b.room_for(Duration::from_secs(11)));
        b.extend(Duration::from_secs(5));
        assert!(b.room_for(Duration::from_secs(11)));
        let gone = Budget {
            used: 1,
            deadline: Some(Instant::now()),
        };
        assert!(gone.passed() && !gone.room_for(Duration::ZERO));
    }
}
