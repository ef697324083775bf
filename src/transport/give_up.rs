//! Giving a dead registry up for the run: connections refused in a row (nothing listening: down,
//! or a wrong address) are counted, and past [`GIVE_UP_AFTER`] every further request fails at once
//! instead of retrying with backoff, so one dead target costs seconds and one message, not every
//! image's retries. Any answer from the registry resets the count.

use std::sync::atomic::{AtomicU32, Ordering};

use reqwest::Response;

use crate::error::{Error, Result};

/// A registry that refused this many connections in a row (nothing listening: down, or a wrong
/// address) is given up for the rest of the run: each further request fails at once instead of
/// retrying with backoff, so one dead target costs seconds and one message, not every image's retries.
pub const GIVE_UP_AFTER: u32 = 8;

/// Connections refused in a row, for one registry.
#[derive(Debug, Default)]
pub(super) struct GiveUp {
    refused_in_a_row: AtomicU32,
}

impl GiveUp {
    /// Count refused connections in a row; any answer from the registry resets the count.
    pub(super) fn note(&self, registry: &str, sent: &std::result::Result<Response, reqwest::Error>) {
        match sent {
            Ok(_) => self.refused_in_a_row.store(0, Ordering::Relaxed),
            Err(e) if e.is_connect() && refused(e) => {
                let n = self.refused_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
                if n == GIVE_UP_AFTER {
                    // The decision, said as it is taken; the cause is the run's ERROR line.
                    tracing::info!(registry = %registry, refused = n, "connections refused in a row: giving this registry up for the run");
                }
            }
            Err(_) => {}
        }
    }

    /// Whether the registry is given up for the run.
    pub(super) fn given_up(&self) -> bool {
        self.refused_in_a_row.load(Ordering::Relaxed) >= GIVE_UP_AFTER
    }

    /// Fail at once for a registry given up.
    pub(super) fn check(&self, registry: &str) -> Result<()> {
        if !self.given_up() {
            return Ok(());
        }
        Err(Error::Network {
            registry: registry.to_string(),
            detail: format!(
                "unreachable: {GIVE_UP_AFTER} connections in a row were refused, so it was given up for \
                 this run (is the registry running, and is the address right?)"
            ),
        })
    }
}

/// Was the connection refused (no one listening)? From the I/O error among the sources.
fn refused(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(x) = cur {
        let mut node: &(dyn std::error::Error + 'static) = x;
        while let Some(io) = node.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return true;
            }
            match io.get_ref() {
                Some(inner) => node = inner,
                None => break,
            }
        }
        cur = x.source();
    }
    false
}
