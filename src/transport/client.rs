//! The one place an HTTP client is made, for registries, HTTP sources (Zuul, DLRN, opendev) and the
//! Quay API alike: the same TLS setup (the project's roots, `ca_file`, certs.d, an explicit opt-out),
//! the same timeouts, user agent and connection pool, so a fix to how we connect reaches every
//! caller. Redirects are the caller's choice: registries follow them by hand (credentials must not
//! leave the registry's origin), the Quay API follows none, sources a few.

use std::time::Duration;

use super::tls;
use crate::error::{Error, Result};

/// How a client connects.
pub struct ClientSpec<'a> {
    /// Who the client is for, as errors name it (a registry host, "HTTP sources").
    pub name: &'a str,
    /// TLS settings; `None` for a registry reached over plain HTTP only.
    pub tls: Option<tls::TlsOptions<'a>>,
    pub connect_timeout: Duration,
    /// Longest silence while reading a response (`None`: only `timeout` bounds it).
    pub read_timeout: Option<Duration>,
    /// Longest time for a whole request, headers and body (`None`: the caller bounds it).
    pub timeout: Option<Duration>,
    /// Redirects followed by the client itself (0: none, the caller handles them).
    pub redirects: usize,
}

/// Build a client from its spec.
pub fn build(spec: ClientSpec<'_>) -> Result<reqwest::Client> {
    let tls = tls_of(&spec)?;
    from_parts(&spec, spec.read_timeout, tls)
}

/// A registry's two clients from one spec (its TLS set up once): the spec's, and the same without a
/// read timeout for uploads streamed in one request (they are watched for stalls instead:
/// `transport::upload`).
pub fn build_with_upload(spec: ClientSpec<'_>) -> Result<(reqwest::Client, reqwest::Client)> {
    let tls = tls_of(&spec)?;
    Ok((
        from_parts(&spec, spec.read_timeout, tls.clone())?,
        from_parts(&spec, None, tls)?,
    ))
}

fn tls_of(spec: &ClientSpec<'_>) -> Result<Option<rustls::ClientConfig>> {
    tls::ensure_provider();
    spec.tls
        .as_ref()
        .map(|opts| tls::client_config(spec.name, opts))
        .transpose()
}

fn from_parts(
    spec: &ClientSpec<'_>,
    read_timeout: Option<Duration>,
    tls: Option<rustls::ClientConfig>,
) -> Result<reqwest::Client> {
    let redirect = match spec.redirects {
        0 => reqwest::redirect::Policy::none(),
        n => reqwest::redirect::Policy::limited(n),
    };
    let mut builder = reqwest::Client::builder()
        .redirect(redirect)
        .connect_timeout(spec.connect_timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(32)
        .tcp_nodelay(true)
        .user_agent(concat!("copy-containers/", env!("CARGO_PKG_VERSION")));
    if let Some(t) = read_timeout {
        builder = builder.read_timeout(t);
    }
    if let Some(t) = spec.timeout {
        builder = builder.timeout(t);
    }
    if let Some(config) = tls {
        builder = builder.tls_backend_preconfigured(config);
    }
    builder
        .build()
        .map_err(|e| Error::Config(format!("{}: cannot build the HTTP client: {e}", spec.name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::certs_d::CertsDir;

    #[test]
    fn a_missing_ca_file_is_named() {
        let spec = ClientSpec {
            name: "reg.example:5000",
            tls: Some(tls::TlsOptions {
                ca_file: Some(std::path::Path::new("/nonexistent/ca.crt")),
                certs_dir: CertsDir::None,
                verify: true,
                client_cert_wanted: None,
            }),
            connect_timeout: Duration::from_secs(1),
            read_timeout: None,
            timeout: None,
            redirects: 0,
        };
        let e = build(spec).unwrap_err().to_string();
        assert!(
            e.contains("reg.example:5000") && e.contains("/nonexistent/ca.crt"),
            "{e}"
        );
    }

    #[test]
    fn plain_and_tls_clients_build() {
        for tls in [
            None,
            Some(tls::TlsOptions {
                ca_file: None,
                certs_dir: CertsDir::None,
                verify: false,
                client_cert_wanted: None,
            }),
        ] {
            let spec = ClientSpec {
                name: "x",
                tls,
                connect_timeout: Duration::from_secs(1),
                read_timeout: Some(Duration::from_secs(1)),
                timeout: Some(Duration::from_secs(1)),
                redirects: 5,
            };
            assert!(build(spec).is_ok());
        }
    }
}
