//! What a registry's transport counted (requests, retries, token fetches, bytes each way): the
//! figures the reports' "Requests" table and the benchmarks read. Counted where the request is
//! sent, so every path (retries, redirects, token exchanges, streamed bodies) is in them.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters for reports and benchmarks.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub token_fetches: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub bytes_received: AtomicU64,
}

/// Snapshot of [`Stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatsSnapshot {
    pub requests: u64,
    pub retries: u64,
    pub token_fetches: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

impl Stats {
    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            token_fetches: self.token_fetches.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
        }
    }
}
