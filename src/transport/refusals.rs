//! Not sending refused credentials again: a registry (or its token server) that refused our
//! credentials [`REFUSED_CREDENTIALS_LIMIT`] times in a row is not sent them again this run; each
//! further request fails at once with that refusal, so a wrong password costs a few failed logins,
//! not one per image and tag (an account with a lockout policy would be locked). Any request the
//! credentials get through resets the count.
//!
//! The limit holds with requests in flight: until the registry has taken the credentials once,
//! they go out one request at a time (the gate, [`Refusals::pass`]), so parallel requests cannot
//! all carry them before the first refusal is counted. Once taken, requests carry them in parallel;
//! a refusal closes the gate again for every request not yet sent. (Bearer credentials go only to
//! the token server, in exchanges that are one at a time already: [`Refusals::check`] is asked
//! before each.)

use std::sync::Mutex;

use tokio::sync::MutexGuard;

use crate::error::{Error, Result};

/// A registry that refused our credentials this many times in a row (its own 401, or its token
/// server's) is not sent them again this run: each further request fails at once with that refusal,
/// so a wrong password costs a few failed logins, not one per image and tag (an account with a
/// lockout policy would be locked). Any request the credentials get through resets the count.
pub const REFUSED_CREDENTIALS_LIMIT: u32 = 3;

/// Our credentials refused in a row by one registry, how the last refusal read, and the gate.
#[derive(Debug, Default)]
pub(super) struct Refusals {
    state: Mutex<State>,
    /// Held by the one request carrying the credentials while they are not known good.
    gate: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct State {
    refused: u32,
    last: String,
    /// The registry took the credentials since the last refusal.
    taken: bool,
}

impl Refusals {
    /// The credentials were taken (`None`) or refused.
    pub(super) fn note(&self, registry: &str, refused: Option<&Error>) {
        let mut st = self.state();
        let Some(e) = refused else {
            st.refused = 0;
            st.taken = true;
            return;
        };
        st.refused += 1;
        st.taken = false;
        if let Error::Auth { detail, .. } = e {
            st.last.clone_from(detail);
        }
        if st.refused == REFUSED_CREDENTIALS_LIMIT {
            tracing::warn!(registry = %registry, refused = st.refused, "credentials refused in a row: not sent to this registry again this run");
        }
    }

    /// Fail at once when the credentials were refused too often.
    pub(super) fn check(&self, registry: &str) -> Result<()> {
        let st = self.state();
        if st.refused >= REFUSED_CREDENTIALS_LIMIT {
            return Err(Error::Auth {
                registry: registry.to_string(),
                detail: st.last.clone(),
            });
        }
        Ok(())
    }

    /// Before a request carries the credentials: fails when they were refused too often; while
    /// they are not known good, waits for the gate and returns it, to be held until the answer is
    /// noted (`None`: taken already, go).
    pub(super) async fn pass(&self, registry: &str) -> Result<Option<MutexGuard<'_, ()>>> {
        self.check(registry)?;
        if self.state().taken {
            return Ok(None);
        }
        let gate = self.gate.lock().await;
        // What the request before us came to decides for us.
        self.check(registry)?;
        Ok((!self.state().taken).then_some(gate))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal() -> Error {
        Error::Auth {
            registry: "r".into(),
            detail: "HTTP 401: refused".into(),
        }
    }

    #[tokio::test]
    async fn one_request_at_a_time_until_taken_and_none_past_the_limit() {
        let r = Refusals::default();
        let first = r.pass("r").await.unwrap();
        assert!(first.is_some(), "not known good: the gate is held");
        // A second request waits while the first is out.
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), r.pass("r")).await;
        assert!(waiting.is_err(), "a second request went out beside the first");
        r.note("r", Some(&refusal()));
        drop(first);
        for _ in 1..REFUSED_CREDENTIALS_LIMIT {
            let g = r.pass("r").await.unwrap();
            assert!(g.is_some());
            r.note("r", Some(&refusal()));
        }
        let e = r.pass("r").await.unwrap_err().to_string();
        assert!(e.contains("HTTP 401: refused"), "{e}");
        // Taken (by a request let through earlier): the count resets and the gate opens.
        r.note("r", None);
        assert!(r.pass("r").await.unwrap().is_none());
        assert!(r.pass("r").await.unwrap().is_none());
    }
}
