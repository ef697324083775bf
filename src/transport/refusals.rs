//! Not sending refused credentials again: a registry (or its token server) that refused our
//! credentials [`REFUSED_CREDENTIALS_LIMIT`] times in a row is not sent them again this run; each
//! further request fails at once with that refusal, so a wrong password costs a few failed logins,
//! not one per image and tag (an account with a lockout policy would be locked). Any request the
//! credentials get through resets the count.

use std::sync::Mutex;

use crate::error::{Error, Result};

/// A registry that refused our credentials this many times in a row (its own 401, or its token
/// server's) is not sent them again this run: each further request fails at once with that refusal,
/// so a wrong password costs a few failed logins, not one per image and tag (an account with a
/// lockout policy would be locked). Any request the credentials get through resets the count.
pub const REFUSED_CREDENTIALS_LIMIT: u32 = 3;

/// Our credentials refused in a row by one registry, and how the last refusal read.
#[derive(Debug, Default)]
pub(super) struct Refusals {
    state: Mutex<(u32, String)>,
}

impl Refusals {
    /// The credentials were taken (`None`) or refused.
    pub(super) fn note(&self, registry: &str, refused: Option<&Error>) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(e) = refused else {
            st.0 = 0;
            return;
        };
        st.0 += 1;
        if let Error::Auth { detail, .. } = e {
            st.1.clone_from(detail);
        }
        if st.0 == REFUSED_CREDENTIALS_LIMIT {
            tracing::warn!(registry = %registry, refused = st.0, "credentials refused in a row: not sent to this registry again this run");
        }
    }

    /// Fail at once when the credentials were refused too often.
    pub(super) fn check(&self, registry: &str) -> Result<()> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.0 >= REFUSED_CREDENTIALS_LIMIT {
            return Err(Error::Auth {
                registry: registry.to_string(),
                detail: st.1.clone(),
            });
        }
        Ok(())
    }
}
