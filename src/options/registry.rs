//! A registry's keys: [`RegistryArgs`] (a registry as the promoter's playbook describes it, plus TLS
//! and Quay options) and their entries ([`REGISTRY_KEYS`]): the module's `suboptions`, the keys
//! `--source`/`--target` list in `--help`. `RegistryArgs::resolve` (in `model`) turns one into a
//! registry to talk to.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::faces::ALL;
use super::DefaultValue as D;
use super::Kind::*;
use super::{opt, registry_keys};
use crate::error::{Error, Result};
use crate::options::flexible::{self, opt_bool, opt_count, opt_string};
use crate::transport::Secret;

registry_keys! {
    /// A registry as the promoter's playbook describes it (plus TLS and Quay options).
    #[derive(Clone, Debug, Default, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct RegistryArgs;
    /// The entries of [`RegistryArgs`]' keys.
    pub const REGISTRY_KEYS;
    /// A label for messages (`local-target-registry-1`); defaults to the host.
    #[serde(default)]
    name: Option<String> => opt("name", Str).value("LABEL")
        .help("a label for messages and reports (default: the host)")
        .doc(&["A label for messages and reports (for example C(local-target-registry-1)); defaults to the host."]),
    host: String => opt("host", Str).value("HOST[:PORT]").required(ALL, &[])
        .help("the registry (required)")
        .doc(&["The registry host, with its port if any (C(quay.io), C(localhost:6000))."]),
    #[serde(default)]
    namespace: Option<String> => opt("namespace", Str).value("NS")
        .help("the namespace (organisation)")
        .doc(&["The namespace (organisation); defaults to O(source_namespace) or O(target_namespace)."]),
    #[serde(default, deserialize_with = "opt_string")]
    username: Option<String> => opt("username", Str).value("USER")
        .help("user name, with password_env")
        .doc(&["User name. V(unused) (the staging files' value) or empty means anonymous."]),
    /// A string, or a number as YAML gives an all-digit password.
    #[serde(default, deserialize_with = "flexible::opt_secret")]
    password: Option<Secret> => opt("password", Str).no_log()
        .doc(&["The password. V(unused) or empty means none. Never printed; prefer O(source_registry.password_env)."]),
    /// Name of an environment variable holding the password (config files never need inline secrets).
    #[serde(default)]
    password_env: Option<String> => opt("password_env", Str).value("VAR")
        .help("the environment variable holding the password")
        .doc(&["Name of an environment variable holding the password, read by the module itself, so that the \
                secret never goes through Ansible variables. Fails when the variable is not set."]),
    /// Auth file (docker config.json / containers auth.json) to take credentials from.
    #[serde(default)]
    authfile: Option<PathBuf> => opt("authfile", Path).value("FILE")
        .help("docker config.json / containers auth.json to take credentials from (default: the usual ones)")
        .doc(&["A docker C(config.json) or containers C(auth.json) to take credentials from when no username is \
                given (credential helpers included). Without it, the default files are read \
                (C(REGISTRY_AUTH_FILE), containers C(auth.json), docker C(config.json)), as C(podman login) or \
                C(docker login) left them."]),
    /// Where the playbook logged in; informational (we follow the registry's challenge).
    #[serde(default)]
    auth_url: Option<String> => opt("auth_url", Str).value("URL")
        .help("where the playbook logged in (informational)")
        .doc(&["Where the old playbook logged in; informational (the registry's challenge is followed)."]),
    /// `v2_s2` (default) or `v2_s1`: v2_s1 targets get no manifest lists.
    #[serde(default)]
    schema: Option<String> => opt("schema", Str).value("v2_s1|v2_s2")
        .choices(&["v2_s1", "v2_s2"]).default(D::Str("v2_s2"))
        .help("the manifests it takes; v2_s1 targets get no lists")
        .doc(&["Manifest schema the registry takes. V(v2_s1) registries (quay.io in production) get no manifest lists."]),
    /// Staging files' `port` (informational: the port is part of `host`).
    #[serde(default, deserialize_with = "opt_count")]
    port: Option<u64> => opt("port", Int).value("PORT")
        .help("the staging files' port (informational: it is part of host)")
        .doc(&["The staging files' port; informational (the port is part of O(source_registry.host))."]),
    /// Staging files' `url: http://…` form.
    #[serde(default)]
    url: Option<String> => opt("url", Str).value("URL")
        .help("the staging files' http://host:port form (http:// means plain HTTP unless secure=true)")
        .doc(&["The staging files' C(http://host:port) form; C(http://) means plain HTTP unless \
                O(source_registry.secure) is V(true)."]),
    /// Staging files' flag: `true` means HTTPS whatever `url` says (ci-config's staging writes
    /// `url: http://localhost:PORT` for every registry, the secure one too); `false` means plain
    /// HTTP unless `url`/`auth_url` say https.
    #[serde(default, deserialize_with = "opt_bool")]
    secure: Option<bool> => opt("secure", Bool).value("BOOL")
        .help("the staging files' flag: true is HTTPS whatever url says, false plain HTTP unless \
               url says https")
        .doc(&["The staging files' flag. V(true) means HTTPS whatever O(source_registry.url) says (ci-config's \
                staging gives every registry C(http://localhost:PORT) as its O(source_registry.url), its TLS + \
                htpasswd one too, and the old role never read it). On a loopback host the certificate is then \
                not checked unless O(source_registry.tls_verify) is given - docker, which the role used, does \
                not check registries on 127.0.0.0/8, and the staging registry's self-signed certificate \
                expired in 2020. V(false) means plain HTTP unless O(source_registry.url) or \
                O(source_registry.auth_url) says C(https://)."]),
    /// Plain HTTP.
    #[serde(default, deserialize_with = "opt_bool")]
    insecure: Option<bool> => opt("insecure", Bool).value("BOOL")
        .help("plain HTTP (true with secure=true is an error)")
        .doc(&["Plain HTTP (overrides O(source_registry.url); V(true) with O(source_registry.secure=true) is an \
                error)."]),
    #[serde(default, deserialize_with = "opt_bool")]
    tls_verify: Option<bool> => opt("tls_verify", Bool).value("BOOL").default(D::Bool(true))
        .help("verify the registry's TLS certificate (false: warned about; prefer ca_file; not \
               checked by default on loopback with secure=true)")
        .doc(&["Verify the registry's TLS certificate (by default, except for a loopback \
                O(source_registry.secure=true) staging registry)."]),
    #[serde(default)]
    ca_file: Option<PathBuf> => opt("ca_file", Path).value("PEM")
        .help("CA certificates to trust for it, besides the system ones")
        .doc(&["A PEM file of CA certificates to trust for this registry (besides the system ones)."]),
    /// This registry's certs.d directory (`*.crt`, `*.cert`/`*.key`), as skopeo's `--cert-dir`;
    /// without it `<root>/<host>` is searched in the certs.d roots (see
    /// [`crate::transport::certs_d`]).
    #[serde(default)]
    cert_dir: Option<PathBuf> => opt("cert_dir", Path).value("DIR")
        .help("its certs.d directory (*.crt CAs, *.cert/*.key client pair), as skopeo's --cert-dir")
        .doc(&[
            "This registry's certs.d directory, as skopeo's C(--cert-dir) - C(*.crt) files are CA certificates (or \
             the registry's own self-signed certificate) to trust, a C(*.cert) + C(*.key) pair is a client \
             certificate.",
            "Without it, C(<host[:port]>) is looked for in C(/etc/containers/certs.d) then C(/etc/docker/certs.d) \
             (the first found is used; the environment variable C(COPY_CONTAINERS_CERTS_D) replaces that list).",
        ]),
    /// Quay API token (for creating repositories).
    #[serde(default, deserialize_with = "flexible::opt_secret")]
    token: Option<Secret> => opt("token", Str).no_log()
        .doc(&["A Quay API token given inline (discouraged; prefer O(source_registry.token_env)). Never printed."]),
    #[serde(default, deserialize_with = "opt_bool")]
    create_repo: Option<bool> => opt("create_repo", Bool).value("BOOL").default(D::Bool(false))
        .help("create missing repositories through the Quay API (needs a token)")
        .doc(&["Create missing repositories as public through the Quay API before pushing (needs a token)."]),
    /// Quay API token from this environment variable (see [`crate::quay`]).
    #[serde(default)]
    token_env: Option<String> => opt("token_env", Str).value("VAR")
        .help("the environment variable holding the Quay API token")
        .doc(&["Name of an environment variable holding the Quay API token."]),
    /// Quay API token from this file (first line).
    #[serde(default)]
    token_file: Option<PathBuf> => opt("token_file", Path).value("FILE")
        .help("a file whose first line is the Quay API token")
        .doc(&["A file whose first line is the Quay API token."]),
    /// Quay API root (default `https://<host>/api/v1/`).
    #[serde(default)]
    quay_api: Option<String> => opt("quay_api", Str).value("URL").default(D::Str("https://<host>/api/v1/"))
        .help("the Quay API root")
        .doc(&["The Quay API root."]),
}

impl RegistryArgs {
    /// A registry written on one line (the command line's `--source`, `--target`, `--registry`):
    /// `host/namespace`, or `key=value,…` of its keys. A value is never echoed in an error (it may
    /// be a secret), and a password is refused (`password_env=VARIABLE` names where it is).
    pub fn from_line(s: &str) -> Result<RegistryArgs> {
        serde_json::from_value(Value::Object(Self::line_keys(s)?))
            .map_err(|e| Error::bad_option("registry", e))
    }

    /// [`Self::from_line`]'s keys and values, as given (checked as a registry's).
    pub fn line_keys(s: &str) -> Result<Map<String, Value>> {
        let mut map = Map::new();
        if !s.contains('=') {
            let s = s.trim_start_matches("https://").trim_start_matches("http://");
            let (host, ns) = s.split_once('/').ok_or_else(|| {
                Error::bad_option(
                    format!("registry {s:?}"),
                    "give host/namespace or key=value pairs (host=…,namespace=…)",
                )
            })?;
            map.insert("host".into(), host.into());
            map.insert("namespace".into(), ns.into());
            return Ok(map);
        }
        for part in s.split(',') {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| Error::bad_option("registry spec", format!("{part:?} is not key=value")))?;
            map.insert(k.trim().to_string(), Value::String(v.trim().to_string()));
        }
        if map.contains_key("password") {
            return Err(Error::bad_option(
                "registry spec",
                "give password_env=VARIABLE, not a password on the command line",
            ));
        }
        if let Err(e) = serde_json::from_value::<RegistryArgs>(Value::Object(map.clone())) {
            let keys: Vec<&str> = s.split(',').map(|p| p.split('=').next().unwrap_or("")).collect();
            return Err(Error::bad_option(
                format!("registry spec {:?}", keys.join(",")),
                e,
            ));
        }
        Ok(map)
    }
}
