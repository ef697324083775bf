//! The Quay side of a registry's arguments: a target marked `create_repo: true` becomes a
//! [`QuaySpec`] (API root, namespace, token from `token_env`, `token_file` or `token`). It lives with
//! the promotion's inputs, not in [`crate::quay`], so that the Quay client knows nothing of the input
//! model ([`RegistryArgs`]) and sits below the promotion.

use std::time::Duration;

use url::Url;

use super::RegistryArgs;
use crate::error::{Error, Result};
use crate::quay::{QuaySpec, DEFAULT_DESCRIPTION};
use crate::reference::validate_repository;
use crate::sources::http::{base_url, redact};
use crate::transport::retry::RetryPolicy;
use crate::transport::Secret;

impl QuaySpec {
    /// The Quay side of a registry: `None` unless `create_repo` is true. `what` names the registry
    /// in errors (`target_registries[0]`); `default_namespace` is used when the registry has none.
    pub fn from_registry_args(
        args: &RegistryArgs,
        what: &str,
        default_namespace: Option<&str>,
    ) -> Result<Option<QuaySpec>> {
        if args.create_repo != Some(true) {
            return Ok(None);
        }
        let bad = |reason: String| Error::bad_option(what, reason);
        let host = args
            .host
            .trim()
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/');
        crate::reference::validate_host(host).map_err(|e| bad(e.to_string()))?;
        let namespace = args
            .namespace
            .clone()
            .or(default_namespace.map(str::to_string))
            .ok_or_else(|| bad("namespace is required to create Quay repositories".into()))?;
        validate_repository(&namespace).map_err(|e| bad(e.to_string()))?;
        let api_text = match &args.quay_api {
            Some(a) => a.clone(),
            None => {
                let scheme = if args.insecure == Some(true) {
                    "http"
                } else {
                    "https"
                };
                format!("{scheme}://{host}/api/v1/")
            }
        };
        let api = base_url("quay_api", &api_text).map_err(|e| bad(e.to_string()))?;
        let token = token_of(args, what)?;
        if api.scheme() == "http" && !crate::reference::is_loopback_host(&base_url_host(&api)) {
            crate::logging::warn_once(&format!(
                "Quay API {}: the token is sent over plain HTTP",
                redact(&api)
            ));
        }
        Ok(Some(QuaySpec {
            registry: args.name.clone().unwrap_or_else(|| host.to_string()),
            api,
            namespace,
            token,
            description: DEFAULT_DESCRIPTION.into(),
            ca_file: args.ca_file.clone(),
            cert_dir: args.cert_dir.clone(),
            tls_verify: args.tls_verify.unwrap_or(true),
            retry: RetryPolicy {
                attempts: 4,
                base_delay: Duration::from_millis(300),
                max_delay: Duration::from_secs(10),
                max_retry_after: Duration::from_secs(60),
            },
            timeout: Duration::from_secs(60),
        }))
    }
}

/// The token: `token_env`, `token_file` or inline `token` (exactly one); `what` names the registry.
fn token_of(args: &RegistryArgs, what: &str) -> Result<Secret> {
    let bad = |reason: &str| Error::bad_option(what, reason);
    let given = [
        args.token.is_some(),
        args.token_env.is_some(),
        args.token_file.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if given == 0 {
        return Err(bad(
            "create_repo is true but no Quay token is given; set token_env (an environment variable \
             name) or token_file",
        ));
    }
    if given > 1 {
        return Err(bad("give only one of token_env, token_file and token"));
    }
    let token = if let Some(var) = &args.token_env {
        std::env::var(var).map_err(|_| {
            bad(&format!(
                "token_env names the environment variable {var}, which is not set"
            ))
        })?
    } else if let Some(f) = &args.token_file {
        let text = crate::input::read_to_string(f, "token_file")
            .map_err(|e| bad(&format!("token_file {}: cannot read it: {e}", f.display())))?;
        text.lines().next().unwrap_or("").trim().to_string()
    } else {
        args.token
            .as_ref()
            .map(|t| t.expose().to_string())
            .unwrap_or_default()
    };
    if token.is_empty() {
        return Err(bad("the Quay token is empty"));
    }
    if token.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad("the Quay token contains blanks or control characters"));
    }
    Ok(Secret::new(token))
}

/// `host[:port]` of a URL, for the loopback check.
fn base_url_host(u: &Url) -> String {
    match (u.host_str(), u.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> RegistryArgs {
        RegistryArgs {
            host: "quay.io".into(),
            namespace: Some("tripleomastercentos9".into()),
            create_repo: Some(true),
            token: Some(Secret::new("inline-token-1")),
            ..Default::default()
        }
    }

    #[test]
    fn a_plain_http_api_to_another_host_is_warned_of() {
        let mut a = args();
        a.quay_api = Some("http://quay-plain.example.org/api/v1/".into());
        QuaySpec::from_registry_args(&a, "t", None).unwrap().unwrap();
        let w = crate::logging::warnings();
        assert!(
            w.iter()
                .any(|w| w.contains("quay-plain.example.org") && w.contains("plain HTTP")),
            "{w:?}"
        );
        a.quay_api = Some("http://127.0.0.1:8080/api/v1/".into());
        QuaySpec::from_registry_args(&a, "t", None).unwrap().unwrap();
        assert!(!crate::logging::warnings()
            .iter()
            .any(|w| w.contains("127.0.0.1:8080")));
    }

    #[test]
    fn spec_from_args() {
        let s = QuaySpec::from_registry_args(&args(), "t", None).unwrap().unwrap();
        assert_eq!(s.api.as_str(), "https://quay.io/api/v1/");
        assert_eq!(s.namespace, "tripleomastercentos9");
        let mut a = args();
        a.create_repo = None;
        assert!(QuaySpec::from_registry_args(&a, "t", None).unwrap().is_none());
        let mut a = args();
        a.insecure = Some(true);
        a.host = "127.0.0.1:5000".into();
        let s = QuaySpec::from_registry_args(&a, "t", None).unwrap().unwrap();
        assert_eq!(s.api.as_str(), "http://127.0.0.1:5000/api/v1/");
        let mut a = args();
        a.quay_api = Some("http://127.0.0.1:9/api/v1".into());
        let s = QuaySpec::from_registry_args(&a, "t", None).unwrap().unwrap();
        assert_eq!(s.api.as_str(), "http://127.0.0.1:9/api/v1/");
    }

    #[test]
    fn token_errors_never_show_the_token() {
        let mut a = args();
        a.token = None;
        let e = QuaySpec::from_registry_args(&a, "target_registries[0]", None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("target_registries[0]") && e.contains("token_env"),
            "{e}"
        );
        let mut a = args();
        a.token_env = Some("CC_QUAY_TOKEN_SURELY_UNSET_1".into());
        let e = QuaySpec::from_registry_args(&a, "t", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("only one") && !e.contains("inline-token-1"), "{e}");
        a.token = None;
        let e = QuaySpec::from_registry_args(&a, "t", None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("CC_QUAY_TOKEN_SURELY_UNSET_1") && e.contains("not set"),
            "{e}"
        );
        let mut a = args();
        a.token = Some(Secret::new("bad token"));
        let e = QuaySpec::from_registry_args(&a, "t", None)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("bad token"), "{e}");
        let mut a = args();
        a.namespace = None;
        assert!(QuaySpec::from_registry_args(&a, "t", None).is_err());
        assert!(QuaySpec::from_registry_args(&a, "t", Some("ns")).is_ok());
    }
}
