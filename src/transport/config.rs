//! A registry's connection settings ([`RegistryConfig`]): where it is, how to trust it, whose
//! credentials to send, and every bound a request to it keeps (retries, timeouts, the pull-rate
//! reserve, the minimum layer rate). One value per registry, built by the promotion's model or the
//! CLI and handed to [`super::Transport::new`]; the defaults live here and nowhere else.

use std::path::PathBuf;
use std::time::Duration;

use super::{Credentials, RetryPolicy};

/// Default `request_timeout`: three minutes for one request, retries included. A manifest or a
/// config blob comes in well under a second, the policy's five attempts back off about 3 s in all,
/// and one `Retry-After` of up to two minutes still fits; a registry that keeps the connection open
/// and trickles a byte every 20 s, or never answers (the 60 s read timeout then ends each attempt),
/// costs these three minutes, not five attempts of five minutes each.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(180);

/// Default `token_timeout`: two minutes for a token exchange, its retries included.
pub const TOKEN_TIMEOUT: Duration = Duration::from_secs(120);

/// How to reach and authenticate to one registry.
#[derive(Clone, Debug)]
pub struct RegistryConfig {
    /// Host as users write it (`quay.io`, `docker.io`, `127.0.0.1:5000`).
    pub host: String,
    /// Plain HTTP (only for registries explicitly marked insecure).
    pub insecure: bool,
    /// Verify the server certificate (default true; an explicit per-registry opt-out).
    pub tls_verify: bool,
    /// Extra CA certificates (PEM) trusted for this registry.
    pub ca_file: Option<PathBuf>,
    /// This registry's certs.d directory (as skopeo's `--cert-dir`); `None` searches the certs.d
    /// roots for `host` (see [`certs_d`]).
    pub cert_dir: Option<PathBuf>,
    pub credentials: Credentials,
    pub retry: RetryPolicy,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Longest silence while reading a response.
    pub read_timeout: Duration,
    /// Docker Hub: pause when this few pulls remain.
    pub ratelimit_reserve: u64,
    /// Longest pause for the rate limit before failing.
    pub ratelimit_max_wait: Duration,
    /// Longest time for one request, from its first attempt to the end of its answer: headers and
    /// body (a body trickled a byte at a time does not restart it), every retry and its wait
    /// included (see [`super::budget`]). Layer streams, read at the copy's pace, are exempt (they
    /// keep `min_rate`); a layer streamed to a registry ends when the registry takes no data, or
    /// gives no answer after the last byte, for this long (see [`super::upload`]). Default
    /// [`REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    /// Longest time for getting a token, every attempt included. Default [`TOKEN_TIMEOUT`].
    pub token_timeout: Duration,
    /// A layer stream (exempt from `request_timeout`, it goes at the copy's pace) must still move
    /// at least `min_rate.0` bytes in every `min_rate.1`: a registry trickling a byte every few
    /// seconds would otherwise hold a promotion for days.
    pub min_rate: (u64, Duration),
}

impl RegistryConfig {
    pub fn new(host: impl Into<String>) -> RegistryConfig {
        RegistryConfig {
            host: host.into(),
            insecure: false,
            tls_verify: true,
            ca_file: None,
            cert_dir: None,
            credentials: Credentials::Anonymous,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
            ratelimit_reserve: 5,
            ratelimit_max_wait: Duration::from_secs(600),
            request_timeout: REQUEST_TIMEOUT,
            token_timeout: TOKEN_TIMEOUT,
            min_rate: (64 << 10, Duration::from_secs(60)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_end_a_stuck_registry_in_minutes() {
        let c = RegistryConfig::new("r.example");
        assert_eq!(
            (c.request_timeout, c.token_timeout),
            (REQUEST_TIMEOUT, TOKEN_TIMEOUT)
        );
        // A token exchange, then the request: at most five minutes however the registry stalls.
        assert!(REQUEST_TIMEOUT + TOKEN_TIMEOUT <= Duration::from_secs(300));
        // Yet a silent attempt can be retried (the read timeout ends it first), and the longest
        // Retry-After honoured fits.
        assert!(REQUEST_TIMEOUT >= 2 * c.read_timeout);
        assert!(REQUEST_TIMEOUT > c.retry.max_retry_after);
    }
}
