//! The promotion's inputs: one typed model shared by the CLI flags, the config file and the Ansible
//! module. [`PromoteArgs`] is what callers give (every field optional, lenient types, promoter
//! names); [`PromoteArgs::resolve`] applies the promoter's defaults and validates everything into a
//! [`Promotion`], so bad input fails before any request is sent. [`KeepLocal`] is the one
//! local-copy policy type of every face (the releases file reads it typed).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::flexible::{self, opt_bool, opt_count, opt_string};
use super::options::{opt, promote_options, Kind::*};
use crate::error::{Error, Result};
use crate::reference::{
    validate_component, validate_host, validate_repository, validate_tag, ReleaseName, RepoPath, Tag,
};
use crate::registry::Registry;
use crate::sources::hash::FullHash;
use crate::transport::{creds, Credentials, RegistryConfig, Secret};

/// A registry as the promoter's playbook describes it (plus TLS options).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryArgs {
    /// A label for messages (`local-target-registry-1`); defaults to the host.
    #[serde(default)]
    pub name: Option<String>,
    pub host: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub username: Option<String>,
    /// A string, or a number as YAML gives an all-digit password.
    #[serde(default, deserialize_with = "flexible::opt_secret")]
    pub password: Option<Secret>,
    /// Name of an environment variable holding the password (config files never need inline secrets).
    #[serde(default)]
    pub password_env: Option<String>,
    /// Auth file (docker config.json / containers auth.json) to take credentials from.
    #[serde(default)]
    pub authfile: Option<PathBuf>,
    /// Where the playbook logged in; informational (we follow the registry's challenge).
    #[serde(default)]
    pub auth_url: Option<String>,
    /// `v2_s2` (default) or `v2_s1`: v2_s1 targets get no manifest lists.
    #[serde(default)]
    pub schema: Option<String>,
    /// Staging files' `port` (informational: the port is part of `host`).
    #[serde(default, deserialize_with = "opt_count")]
    pub port: Option<u64>,
    /// Staging files' `url: http://…` form.
    #[serde(default)]
    pub url: Option<String>,
    /// Staging files' flag: `true` means HTTPS whatever `url` says (ci-config's staging writes
    /// `url: http://localhost:PORT` for every registry, the secure one too); `false` means plain
    /// HTTP unless `url`/`auth_url` say https.
    #[serde(default, deserialize_with = "opt_bool")]
    pub secure: Option<bool>,
    /// Plain HTTP.
    #[serde(default, deserialize_with = "opt_bool")]
    pub insecure: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool")]
    pub tls_verify: Option<bool>,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// This registry's certs.d directory (`*.crt`, `*.cert`/`*.key`), as skopeo's `--cert-dir`;
    /// without it `<root>/<host>` is searched in the certs.d roots (see
    /// [`crate::transport::certs_d`]).
    #[serde(default)]
    pub cert_dir: Option<PathBuf>,
    /// Quay API token (for creating repositories).
    #[serde(default, deserialize_with = "flexible::opt_secret")]
    pub token: Option<Secret>,
    #[serde(default, deserialize_with = "opt_bool")]
    pub create_repo: Option<bool>,
    /// Quay API token from this environment variable (see [`crate::quay`]).
    #[serde(default)]
    pub token_env: Option<String>,
    /// Quay API token from this file (first line).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Quay API root (default `https://<host>/api/v1/`).
    #[serde(default)]
    pub quay_api: Option<String>,
}

/// Manifest schema a target takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Schema {
    V2S1,
    V2S2,
}

/// A registry, resolved.
#[derive(Clone, Debug)]
pub struct RegistrySpec {
    pub name: String,
    pub host: String,
    pub namespace: String,
    pub schema: Schema,
    pub config: RegistryConfig,
    /// Quay API access, when missing repositories are to be created (`create_repo: true`).
    pub quay: Option<crate::quay::QuaySpec>,
    /// Where the password comes from, for messages (`password_env=QUAYDOTIO_PASSWORD`,
    /// `target_registries[1].password`, an auth file); never the password. None: anonymous.
    pub password_from: Option<String>,
}

impl RegistrySpec {
    pub fn client(&self) -> Result<Registry> {
        Registry::new(self.config.clone())
    }

    /// `<namespace>/<prefix>-<name>` (the namespace, the prefix and the names are validated as path
    /// components when the promotion is resolved).
    pub fn repo(&self, prefix: &str, name: &str) -> RepoPath {
        RepoPath::of_container(&self.namespace, prefix, name)
    }
}

fn unused(s: &str) -> bool {
    s.is_empty() || s == "unused"
}

impl RegistryArgs {
    /// Resolve; `what` names it in errors (`source_registry`, `target_registries[1]`).
    pub fn resolve(
        &self,
        what: &str,
        default_namespace: Option<&str>,
        retry_attempts: u32,
    ) -> Result<RegistrySpec> {
        let bad = |reason: String| Error::Config(format!("{what}: {reason}"));
        let host = self
            .host
            .trim()
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/');
        validate_host(host).map_err(|e| bad(e.to_string()))?;
        let namespace = self
            .namespace
            .clone()
            .or(default_namespace.map(str::to_string))
            .ok_or_else(|| bad("namespace is required".into()))?;
        validate_repository(&namespace).map_err(|e| bad(e.to_string()))?;
        let schema = match self.schema.as_deref().unwrap_or("v2_s2") {
            "v2_s2" => Schema::V2S2,
            "v2_s1" => Schema::V2S1,
            other => return Err(bad(format!("schema must be v2_s1 or v2_s2, got {other:?}"))),
        };
        let says_https =
            |u: &Option<String>| u.as_deref().map(|u| u.starts_with("https://")).unwrap_or(false);
        let says_http = |u: &Option<String>| u.as_deref().map(|u| u.starts_with("http://")).unwrap_or(false);
        // The scheme as the old role had it: it never read `url` (docker chose HTTPS, plain HTTP only
        // for a registry it took as insecure), and ci-config's staging writes `url: http://…` for
        // every registry, its TLS + htpasswd one (`secure: true`, HTTPS only in `auth_url`) too.
        let insecure = match (self.insecure, self.secure) {
            (Some(true), Some(true)) => {
                return Err(bad(
                    "insecure: true (plain HTTP) contradicts secure: true (HTTPS): give one of them".into(),
                ))
            }
            (Some(v), _) => v,
            (None, Some(true)) => false,
            (None, _) => {
                says_http(&self.url)
                    || self.host.trim().starts_with("http://")
                    || (self.secure == Some(false) && !says_https(&self.url) && !says_https(&self.auth_url))
            }
        };
        // docker, which the role used, takes registries on 127.0.0.0/8 as insecure: HTTPS without
        // checking the certificate. ci-config's staging TLS registry relies on it (its self-signed
        // certificate names no host and expired in 2020), so a loopback `secure: true` registry is
        // not checked either, unless `tls_verify` says otherwise; the traffic stays on the host.
        let staging_tls = self.secure == Some(true)
            && !insecure
            && self.tls_verify.is_none()
            && crate::reference::is_loopback_host(host);
        let mut config = RegistryConfig::new(host);
        config.insecure = insecure;
        config.tls_verify = self.tls_verify.unwrap_or(!staging_tls);
        if !config.tls_verify && !insecure && !staging_tls {
            crate::report::warn_once(&format!(
                "registry {host}: TLS certificate verification is switched off (tls_verify: false)"
            ));
        }
        config.ca_file = self.ca_file.clone();
        config.retry.attempts = retry_attempts.max(1);
        if let Some(ca) = &config.ca_file {
            if !ca.is_file() {
                return Err(bad(format!("ca_file {} does not exist", ca.display())));
            }
        }
        config.cert_dir = self.cert_dir.clone();
        if let Some(dir) = &config.cert_dir {
            if !dir.is_dir() {
                return Err(bad(format!("cert_dir {} is not a directory", dir.display())));
            }
        }
        let username = self.username.clone().filter(|u| !unused(u));
        let password = match (&self.password, &self.password_env) {
            (Some(p), _) if !unused(p.expose()) => Some(p.clone()),
            (_, Some(var)) => Some(Secret::new(std::env::var(var).map_err(|_| {
                bad(format!(
                    "password_env names the environment variable {var}, which is not set"
                ))
            })?)),
            _ => None,
        };
        config.credentials = match (username, password) {
            (Some(u), Some(p)) => Credentials::Basic {
                username: u,
                password: p,
            },
            (Some(u), None) => return Err(bad(format!("username {u:?} is given without a password"))),
            (None, Some(_)) => return Err(bad("a password is given without a username".into())),
            // Without credentials, the auth file given, else the default ones (`REGISTRY_AUTH_FILE`,
            // containers auth.json, docker config.json) as `podman login` / `docker login` left
            // them, as `copy` and `inspect` read them.
            (None, None) => match &self.authfile {
                Some(f) => creds::lookup_in(host, std::slice::from_ref(f))?,
                None => creds::lookup(host)?,
            },
        };
        let password_from = match (&self.password, &self.password_env, &self.authfile) {
            _ if config.credentials.is_anonymous() => None,
            (Some(p), _, _) if !unused(p.expose()) => Some(format!("{what}.password")),
            (_, Some(var), _) => Some(format!("password_env={var}")),
            (_, _, Some(f)) => Some(format!("the auth file {}", f.display())),
            _ => Some("the auth files (REGISTRY_AUTH_FILE, containers auth.json, docker config.json)".into()),
        };
        if insecure && !config.credentials.is_anonymous() && !crate::report::is_loopback_host(host) {
            crate::report::warn_once(&format!(
                "registry {host}: credentials are sent over plain HTTP (insecure: true)"
            ));
        }
        let quay = crate::quay::QuaySpec::from_registry_args(self, what, default_namespace)?;
        Ok(RegistrySpec {
            name: self.name.clone().unwrap_or_else(|| host.to_string()),
            host: host.to_string(),
            namespace,
            schema,
            config,
            quay,
            password_from,
        })
    }
}

promote_options! {
    /// What callers give (promoter names; all optional here, defaults applied by [`Self::resolve`]);
    /// each option declared once, with how the module takes it ([`super::options`]).
    #[derive(Clone, Debug, Default, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct PromoteArgs;
    /// How the module takes each of [`PromoteArgs`]' fields (its spec adds the module's own options).
    pub const PROMOTE_SPEC;
    #[serde(default)]
    full_hash: Option<String> => opt("full_hash", Str),
    #[serde(default)]
    named_label: Option<String> => opt("named_label", Str),
    /// Push under this tag on the targets instead of `full_hash` (copy-quay's `--push-hash`); the
    /// source is still read at `full_hash`.
    #[serde(default)]
    push_hash: Option<String> => opt("push_hash", Str),
    #[serde(default)]
    candidate_label: Option<String> => opt("candidate_label", Str),
    #[serde(default, deserialize_with = "opt_string")]
    release: Option<String> => opt("release", Str),
    #[serde(default, deserialize_with = "opt_string")]
    distro_name: Option<String> => opt("distro_name", Str),
    #[serde(default, deserialize_with = "opt_string")]
    distro_version: Option<String> => opt("distro_version", Str),
    #[serde(
        default,
        alias = "containers_list",
        deserialize_with = "flexible::containers_list"
    )]
    containers: Option<Vec<String>> => opt("containers_list", List).aliases(&["containers"]),
    #[serde(
        default,
        alias = "ppc_containers_list",
        deserialize_with = "flexible::ppc_containers_list"
    )]
    ppc_containers: Option<Vec<String>> => opt("ppc_containers_list", List).aliases(&["ppc_containers"]),
    /// A file with the list: the promoter's extra-vars YAML or one name per line.
    #[serde(default)]
    containers_list_file: Option<PathBuf> => opt("containers_list_file", Path),
    #[serde(default)]
    container_name_prefix: Option<String> => opt("container_name_prefix", Str),
    #[serde(default, deserialize_with = "flexible::base_container_images")]
    base_container_images: Option<Vec<String>> => opt("base_container_images", List),
    #[serde(default)]
    source_namespace: Option<String> => opt("source_namespace", Str),
    #[serde(default)]
    target_namespace: Option<String> => opt("target_namespace", Str),
    #[serde(default)]
    source_registry: Option<RegistryArgs> => opt("source_registry", Dict),
    #[serde(default)]
    target_registries: Option<Vec<RegistryArgs>> => opt("target_registries", ListOfDicts),
    #[serde(default, deserialize_with = "opt_bool")]
    target_registries_push: Option<bool> => opt("target_registries_push", Bool),
    #[serde(default, deserialize_with = "opt_bool")]
    manifest_push: Option<bool> => opt("manifest_push", Bool),
    #[serde(default, deserialize_with = "opt_bool")]
    ppc_manifests: Option<bool> => opt("ppc_manifests", Bool),
    #[serde(default)]
    tmp_file_root: Option<PathBuf> => opt("tmp_file_root", Path),
    #[serde(default)]
    x86_tag: Option<String> => opt("x86_tag", Str),
    #[serde(default)]
    ppc_tag: Option<String> => opt("ppc_tag", Str),
    #[serde(default)]
    manifest_tag: Option<String> => opt("manifest_tag", Str),
    /// Requests in flight per registry.
    #[serde(default, deserialize_with = "opt_count")]
    per_registry_concurrency: Option<u64> => opt("per_registry_concurrency", Int),
    /// Blob transfers in flight.
    #[serde(default, deserialize_with = "opt_count")]
    blob_concurrency: Option<u64> => opt("blob_concurrency", Int),
    /// Attempts per request.
    #[serde(default, deserialize_with = "opt_count")]
    retries: Option<u64> => opt("retries", Int),
    /// Seconds one registry request may take in all, from its first attempt to the end of its
    /// answer: headers and body, retries and their waits included (layers go at the copy's pace,
    /// held to a minimum rate instead). Default 180; 1 to 86400.
    #[serde(default, deserialize_with = "opt_count")]
    request_timeout: Option<u64> => opt("request_timeout", Int),
    /// Seconds a token exchange with a registry's token server may take, its retries included.
    /// Default 120; 1 to 86400.
    #[serde(default, deserialize_with = "opt_count")]
    token_timeout: Option<u64> => opt("token_timeout", Int),
    #[serde(default)]
    report_json: Option<PathBuf> => opt("report_json", Path),
    #[serde(default)]
    report_html: Option<PathBuf> => opt("report_html", Path),
    /// Put the label on the source registry too (the role always did).
    #[serde(default, deserialize_with = "opt_bool")]
    label_source: Option<bool> => opt("label_source", Bool),
    /// Before moving the label, tag what it pointed at as `previous-<label>` (for `rollback`, and so
    /// registries that prune untagged images keep it). Default true.
    #[serde(default, deserialize_with = "opt_bool")]
    keep_previous_label: Option<bool> => opt("keep_previous_label", Bool),
    /// Local copies (an OCI layout per release): `never`, `on_failure` (default) or `always`.
    #[serde(default)]
    keep_local: Option<String> => opt("keep_local", Str).choices(KEEP_LOCAL),
    /// Root of the local store (default `~/.local/share/copy-containers`).
    #[serde(default)]
    local_store: Option<PathBuf> => opt("local_store", Path),
    /// Seconds to wait for another run's lock on the local store (default 600; 0: fail at once).
    #[serde(default, deserialize_with = "opt_count")]
    lock_timeout: Option<u64> => opt("lock_timeout", Int),
    /// Reports kept per action and release in `tmp_file_root`: after each run the older ones go,
    /// the newest this many stay (the `latest` copies aside). Default 10; 0 keeps every report.
    #[serde(default, deserialize_with = "opt_count")]
    report_keep: Option<u64> => opt("report_keep", Int),
    /// Reports readable by the group too (0640). Default false: 0600, this user's only (they name
    /// registry users and hosts).
    #[serde(default, deserialize_with = "opt_bool")]
    report_group_readable: Option<bool> => opt("report_group_readable", Bool),
    /// Kept local copies older than this many days are removed by every run that uses the local
    /// store (default 7; 0: no age limit).
    #[serde(default, deserialize_with = "opt_count")]
    local_max_age_days: Option<u64> => opt("local_max_age_days", Int),
    /// When the local store holds more than this many GiB, every run that uses it removes the
    /// oldest kept copies until it does not (default 20; 0: no size limit).
    #[serde(default, deserialize_with = "opt_count")]
    local_max_size_gib: Option<u64> => opt("local_max_size_gib", Int),
    /// Seconds each phase of a run (source check, architectures, copies and lists, verification
    /// and labels, the source label) may take; one that runs over stops the run there, with an error
    /// naming it, and nothing after it is done (no label moves). Default 0: no limit of its own
    /// (the run's `deadline` bounds every phase).
    #[serde(default, deserialize_with = "opt_count")]
    phase_timeout: Option<u64> => opt("phase_timeout", Int),
    /// Seconds the whole run may take from its start; a run that reaches it stops as on SIGTERM:
    /// no label moves after it, kept local copies stay, the report says `interrupted`. Default 5400
    /// (90 minutes, below the promoter's 115-minute kill); 0: no limit.
    #[serde(default, deserialize_with = "opt_count")]
    deadline: Option<u64> => opt("deadline", Int),
}

/// A validated promotion.
#[derive(Clone, Debug)]
pub struct Promotion {
    pub full_hash: FullHash,
    /// The tag written on the targets when it differs from `full_hash`.
    pub push_hash: Option<Tag>,
    pub named_label: Tag,
    pub candidate_label: Option<Tag>,
    pub release: ReleaseName,
    pub distro_name: String,
    pub distro_version: String,
    /// Names without prefix, base images included, deduplicated, in order.
    pub containers: Vec<String>,
    pub ppc_containers: Vec<String>,
    /// The names `base_container_images` added at the end of `containers` (those `containers_list`
    /// did not name): the old role's list files name them only where it appended them.
    pub base_added: Vec<String>,
    pub prefix: String,
    pub source: RegistrySpec,
    pub targets: Vec<RegistrySpec>,
    pub push: bool,
    pub manifest_push: bool,
    pub ppc_manifests: bool,
    pub tmp_file_root: PathBuf,
    pub x86_tag: String,
    pub ppc_tag: String,
    pub manifest_tag: String,
    pub per_registry: usize,
    pub blob_jobs: usize,
    pub report_json: Option<PathBuf>,
    pub report_html: Option<PathBuf>,
    /// What the default report names say in place of `release`: a releases file's entry name (two
    /// entries can share a release), so each entry's runs and `latest` copy are its own.
    pub report_name: Option<String>,
    pub label_source: bool,
    /// Tag the label's previous target as `previous-<label>` before moving it.
    pub keep_previous_label: bool,
    pub keep_local: KeepLocal,
    /// None: the default root.
    pub local_store: Option<PathBuf>,
    /// How long to wait for the local store's lock.
    pub lock_timeout: std::time::Duration,
    /// Default reports kept per action and release (0: all).
    pub report_keep: usize,
    /// Reports 0640 instead of 0600.
    pub report_group_readable: bool,
    /// How long and how much the local store keeps copies.
    pub local_retention: crate::store::Retention,
    /// The longest a phase of the run may take (None: no limit).
    pub phase_timeout: Option<std::time::Duration>,
    /// The longest the whole run may take (None: no limit); then it stops as on SIGTERM.
    pub deadline: Option<std::time::Duration>,
}

/// The run's `deadline` by default, in seconds: 90 minutes. A full-size release takes minutes
/// (docs/benchmarks.md); the promoter kills its whole run, of which the push is one step, at 115
/// minutes (`timeout -k 120m 115m`), so a push that has not ended by then stops itself first, with a
/// report, its kept copies and no label moved, instead of being killed.
pub const DEADLINE: u64 = 5400;

/// Reports kept per action and release by default: the last runs of a release (its failures and
/// its success) stay readable, and a 150-image failure's pair (about 2.5 MB) times ten bounds each
/// release's reports at about 25 MB.
pub const REPORT_KEEP: u64 = 10;

/// When to keep local copies of the images (one type for every face: typed in a releases file,
/// parsed from the module's and the flags' strings by [`std::str::FromStr`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepLocal {
    Never,
    OnFailure,
    Always,
}

impl KeepLocal {
    pub const fn as_str(self) -> &'static str {
        match self {
            KeepLocal::Never => "never",
            KeepLocal::OnFailure => "on_failure",
            KeepLocal::Always => "always",
        }
    }
}

/// Local-copy policies ([`KeepLocal`]'s names, the module's choices).
pub const KEEP_LOCAL: &[&str] = &[
    KeepLocal::Never.as_str(),
    KeepLocal::OnFailure.as_str(),
    KeepLocal::Always.as_str(),
];

impl std::str::FromStr for KeepLocal {
    type Err = Error;
    fn from_str(s: &str) -> Result<KeepLocal> {
        match s {
            "never" => Ok(KeepLocal::Never),
            "on_failure" => Ok(KeepLocal::OnFailure),
            "always" => Ok(KeepLocal::Always),
            _ => Err(Error::invalid(
                "keep_local",
                s,
                "expected never, on_failure or always",
            )),
        }
    }
}

impl Promotion {
    /// `previous-<named_label>`, when kept and short enough to be a tag.
    pub fn previous_label(&self) -> Option<String> {
        let t = format!("previous-{}", self.named_label);
        (self.keep_previous_label && crate::reference::validate_tag(&t).is_ok()).then_some(t)
    }

    /// `<full_hash>_x86_64`
    pub fn x86_tag(&self) -> String {
        format!("{}_{}", self.full_hash, self.x86_tag)
    }
    /// `<full_hash>_ppc64le`
    pub fn ppc_tag(&self) -> String {
        format!("{}_{}", self.full_hash, self.ppc_tag)
    }
    /// `<full_hash>_manifest`
    pub fn manifest_tag(&self) -> String {
        format!("{}{}", self.full_hash, self.manifest_tag)
    }
    /// The hash tag on the targets (`push_hash`, else `full_hash`).
    pub fn target_hash(&self) -> &str {
        self.push_hash.as_deref().unwrap_or(&self.full_hash)
    }
    /// `<target hash>_x86_64`
    pub fn target_x86_tag(&self) -> String {
        format!("{}_{}", self.target_hash(), self.x86_tag)
    }
    /// `<target hash>_ppc64le`
    pub fn target_ppc_tag(&self) -> String {
        format!("{}_{}", self.target_hash(), self.ppc_tag)
    }
    /// `<target hash>_manifest`
    pub fn target_manifest_tag(&self) -> String {
        format!("{}{}", self.target_hash(), self.manifest_tag)
    }
    /// `<distro_name>-<distro_version>-<release>`, the list files' suffix.
    pub fn list_suffix(&self) -> String {
        format!("{}-{}-{}", self.distro_name, self.distro_version, self.release)
    }
    /// Every secret in the inputs (for scrubbing output).
    pub fn secrets(&self) -> Vec<String> {
        std::iter::once(&self.source)
            .chain(self.targets.iter())
            .flat_map(|r| {
                let mut s = r.config.credentials.secrets();
                s.extend(r.quay.as_ref().map(|q| q.token.expose().to_string()));
                s
            })
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// The promoter's hash forms (see [`crate::sources::hash::validate_full_hash`]); errors name `full_hash`.
pub fn validate_full_hash(s: &str) -> Result<()> {
    FullHash::parse(s).map(|_| ())
}

/// Read a list file (the promoter's extra-vars YAML or one name per line) for [`PromoteArgs::resolve`].
pub fn read_list_file(path: &std::path::Path) -> Result<(Vec<String>, Option<Vec<String>>)> {
    let l = crate::sources::list::parse_list_file(path)?;
    Ok((l.containers, l.ppc_containers))
}

fn validate_names(what: &str, names: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        let n = n.trim();
        validate_component(n)
            .map_err(|reason| Error::invalid("container name", n, format!("{what}: {reason}")))?;
        if n.len() > 128 {
            return Err(Error::invalid(
                "container name",
                n,
                format!("{what}: longer than 128 characters"),
            ));
        }
        if !out.iter().any(|o| o == n) {
            out.push(n.to_string());
        }
    }
    Ok(out)
}

impl PromoteArgs {
    /// Apply defaults and validate. `list_from_file` reads `containers_list_file` (injected so the
    /// model stays free of file formats). The steps run in a fixed order, so that of several bad
    /// inputs the same one is always reported.
    pub fn resolve(
        &self,
        list_from_file: impl Fn(&std::path::Path) -> Result<(Vec<String>, Option<Vec<String>>)>,
    ) -> Result<Promotion> {
        let (full_hash, named_label, candidate_label) = self.labels()?;
        let (containers, ppc_containers, base_added) = self.container_lists(list_from_file)?;
        let prefix = self
            .container_name_prefix
            .clone()
            .unwrap_or_else(|| "openstack".into());
        validate_component(&prefix).map_err(|r| Error::invalid("container_name_prefix", &prefix, r))?;
        let (source, targets, push) = self.registries()?;
        let (release, distro_name, distro_version) = self.release_names()?;
        let push_hash = self.check_push_hash()?;
        Ok(Promotion {
            push_hash: push_hash.filter(|ph| *ph != *full_hash),
            full_hash,
            named_label,
            candidate_label,
            release,
            distro_name,
            distro_version,
            containers,
            ppc_containers,
            base_added,
            prefix,
            source,
            targets,
            push,
            manifest_push: self.manifest_push.unwrap_or(false),
            ppc_manifests: self.ppc_manifests.unwrap_or(true),
            tmp_file_root: self
                .tmp_file_root
                .clone()
                .unwrap_or_else(|| PathBuf::from(crate::report::folder::DEFAULT_TMP_FILE_ROOT)),
            x86_tag: tag_part("x86_tag", &self.x86_tag, "x86_64")?,
            ppc_tag: tag_part("ppc_tag", &self.ppc_tag, "ppc64le")?,
            manifest_tag: tag_part("manifest_tag", &self.manifest_tag, "_manifest")?,
            per_registry: self.per_registry_concurrency.unwrap_or(16).clamp(1, 256) as usize,
            blob_jobs: self.blob_concurrency.unwrap_or(8).clamp(1, 256) as usize,
            report_json: self.report_json.clone(),
            report_html: self.report_html.clone(),
            report_name: None,
            label_source: self.label_source.unwrap_or(true),
            keep_previous_label: self.keep_previous_label.unwrap_or(true),
            keep_local: self.keep_local.as_deref().unwrap_or("on_failure").parse()?,
            local_store: self.local_store.clone(),
            lock_timeout: std::time::Duration::from_secs(self.lock_timeout.unwrap_or(600).min(86_400)),
            report_keep: self.report_keep.unwrap_or(REPORT_KEEP).min(100_000) as usize,
            report_group_readable: self.report_group_readable.unwrap_or(false),
            local_retention: crate::store::Retention::from_settings(
                self.local_max_age_days
                    .unwrap_or(crate::store::Retention::DEFAULT_MAX_AGE_DAYS),
                self.local_max_size_gib
                    .unwrap_or(crate::store::Retention::DEFAULT_MAX_SIZE_GIB),
            ),
            phase_timeout: self.phase_timeout(),
            deadline: self.deadline(),
        })
    }

    /// `phase_timeout`, when set and shorter than the run's deadline: a phase cannot outlast the
    /// run, so a longer one would never fire (said once, as a warning).
    fn phase_timeout(&self) -> Option<std::time::Duration> {
        let phase = self.phase_timeout.filter(|s| *s > 0).map(|s| s.min(7 * 86_400))?;
        match self.deadline() {
            Some(run) if phase >= run.as_secs() => {
                crate::report::warn_once(&format!(
                    "phase_timeout ({phase} s) is not shorter than the run's deadline ({} s): the deadline \
                     comes first, and stops the run as interrupted",
                    run.as_secs()
                ));
                None
            }
            _ => Some(std::time::Duration::from_secs(phase)),
        }
    }

    /// The run's `deadline` (default [`DEADLINE`]; 0: none; at most 7 days).
    fn deadline(&self) -> Option<std::time::Duration> {
        let secs = self.deadline.unwrap_or(DEADLINE).min(7 * 86_400);
        (secs > 0).then(|| std::time::Duration::from_secs(secs))
    }

    /// `full_hash` and `named_label` (both required), and `candidate_label` when given, parsed.
    fn labels(&self) -> Result<(FullHash, Tag, Option<Tag>)> {
        let full_hash = self.full_hash.as_deref().ok_or_else(|| missing("full_hash"))?;
        let full_hash = FullHash::parse(full_hash)?;
        let named_label = self
            .named_label
            .as_deref()
            .ok_or_else(|| missing("named_label"))?;
        let named_label = Tag::parse("named_label", named_label)?;
        let candidate = self.candidate_label.as_deref();
        let candidate = candidate.map(|c| Tag::parse("candidate_label", c)).transpose()?;
        Ok((full_hash, named_label, candidate))
    }

    /// The container list (given, else from `containers_list_file`; base images added once), the
    /// ppc64le list, and the base images that list did not name.
    #[allow(clippy::type_complexity)]
    fn container_lists(
        &self,
        list_from_file: impl Fn(&std::path::Path) -> Result<(Vec<String>, Option<Vec<String>>)>,
    ) -> Result<(Vec<String>, Vec<String>, Vec<String>)> {
        let (mut containers, mut ppc) = (self.containers.clone(), self.ppc_containers.clone());
        if let Some(f) = &self.containers_list_file {
            let (c, p) = list_from_file(f)?;
            if containers.is_none() {
                containers = Some(c);
            }
            if ppc.is_none() {
                ppc = p;
            }
        }
        let containers = containers.ok_or_else(|| missing("containers_list (or containers_list_file)"))?;
        let base = self
            .base_container_images
            .clone()
            .unwrap_or_else(|| vec!["base".into()]);
        let mut all = validate_names("containers_list", &containers)?;
        if all.is_empty() {
            return Err(Error::Config("the container list is empty".into()));
        }
        let mut added = Vec::new();
        for b in validate_names("base_container_images", &base)? {
            if !all.contains(&b) {
                all.push(b.clone());
                added.push(b);
            }
        }
        let ppc_containers = validate_names("ppc_containers_list", &ppc.unwrap_or_default())?;
        Ok((all, ppc_containers, added))
    }

    /// For the source, then each target: was a `name` given?
    fn names_given(&self) -> Vec<bool> {
        let source = self.source_registry.as_ref().is_some_and(|r| r.name.is_some());
        let targets = self.target_registries.iter().flatten().map(|r| r.name.is_some());
        std::iter::once(source).chain(targets).collect()
    }

    /// The source, the targets (with the namespaces, retries and timeouts applied) and whether to
    /// push.
    fn registries(&self) -> Result<(RegistrySpec, Vec<RegistrySpec>, bool)> {
        let retries = self
            .retries
            .unwrap_or(5)
            .clamp(1, crate::transport::retry::MAX_ATTEMPTS as u64) as u32;
        let source = self
            .source_registry
            .as_ref()
            .ok_or_else(|| missing("source_registry"))?
            .resolve("source_registry", self.source_namespace.as_deref(), retries)?;
        let targets = self
            .target_registries
            .clone()
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, t)| {
                t.resolve(
                    &format!("target_registries[{i}]"),
                    self.target_namespace.as_deref(),
                    retries,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let (mut source, mut targets) = distinct_names(source, targets, &self.names_given());
        let secs = |v: Option<u64>, default: std::time::Duration| {
            v.map_or(default, |s| std::time::Duration::from_secs(s.clamp(1, 86_400)))
        };
        for spec in std::iter::once(&mut source).chain(targets.iter_mut()) {
            spec.config.request_timeout = secs(self.request_timeout, crate::transport::REQUEST_TIMEOUT);
            spec.config.token_timeout = secs(self.token_timeout, crate::transport::TOKEN_TIMEOUT);
        }
        let push = self.target_registries_push.unwrap_or(true);
        if push && targets.is_empty() {
            return Err(Error::Config(
                "target_registries_push is true but target_registries is empty".into(),
            ));
        }
        Ok((source, targets, push))
    }

    /// `release`, `distro_name`, `distro_version` with their defaults (they name the list files).
    fn release_names(&self) -> Result<(ReleaseName, String, String)> {
        let release = self.release.as_deref().unwrap_or("master");
        let distro_name = self.distro_name.as_deref().unwrap_or("centos");
        let distro_version = self.distro_version.as_deref().unwrap_or("9");
        let release = ReleaseName::parse("release", release)?;
        // The distribution's name and version name files as the release does: the same rule.
        let distro_name = ReleaseName::parse("distro_name", distro_name)?;
        let distro_version = ReleaseName::parse("distro_version", distro_version)?;
        Ok((release, distro_name.into(), distro_version.into()))
    }

    /// `push_hash` must be a tag, short enough to carry the suffixes.
    fn check_push_hash(&self) -> Result<Option<Tag>> {
        let Some(ph) = &self.push_hash else {
            return Ok(None);
        };
        let tag = Tag::parse("push_hash", ph)?;
        if validate_tag(&format!("{ph}_manifest")).is_err() {
            return Err(Error::invalid(
                "push_hash",
                ph,
                "too long to carry the _x86_64/_manifest suffixes",
            ));
        }
        Ok(Some(tag))
    }
}

/// Registries name the report's entries, columns and problems; two on one host (another
/// namespace) would share the host as a name and merge there. Those named by default become
/// `host/namespace`; names given explicitly stay as given.
fn distinct_names(
    mut source: RegistrySpec,
    mut targets: Vec<RegistrySpec>,
    given: &[bool],
) -> (RegistrySpec, Vec<RegistrySpec>) {
    let hosts: Vec<String> = std::iter::once(&source)
        .chain(&targets)
        .map(|s| s.name.clone())
        .collect();
    let shared = |n: &str| hosts.iter().filter(|h| h.as_str() == n).count() > 1;
    let specs = std::iter::once(&mut source).chain(targets.iter_mut());
    for (spec, given) in specs.zip(given) {
        if !given && shared(&spec.name) {
            spec.name = format!("{}/{}", spec.host, spec.namespace);
        }
    }
    (source, targets)
}

fn missing(k: &str) -> Error {
    Error::Config(format!("missing required argument: {k}"))
}

/// A tag suffix (`x86_tag`, …), defaulted, checked as part of a tag.
fn tag_part(k: &str, v: &Option<String>, d: &str) -> Result<String> {
    let v = v.clone().unwrap_or_else(|| d.to_string());
    validate_tag(&format!("x{v}")).map_err(|e| Error::Config(format!("{k}: {e}")))?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_file(_: &std::path::Path) -> Result<(Vec<String>, Option<Vec<String>>)> {
        Err(Error::Config("no file".into()))
    }

    fn base_args() -> PromoteArgs {
        serde_json::from_value(serde_json::json!({
            "full_hash": "360d335e94246d7095672c5aa92b59afa380a059_9e598812",
            "named_label": "current-tripleo",
            "containers_list": ["aodh-api", "base", "nova-compute", "aodh-api"],
            "ppc_containers_list": ["aodh-api"],
            "source_registry": {"host": "localhost:6000", "namespace": "tripleomaster", "username": "unused", "password": "unused", "url": "http://localhost:6000", "schema": "v2_s2", "secure": false},
            "target_registries": [{"host": "localhost:6500", "namespace": "tripleomaster", "username": "unused", "password": "unused", "schema": "v2_s2", "secure": false}],
            "distro_version": 8,
            "manifest_push": "true",
            "target_registries_push": "yes"
        }))
        .unwrap()
    }

    #[test]
    fn request_and_token_timeouts_reach_every_registry() {
        let p = base_args().resolve(no_file).unwrap();
        for r in std::iter::once(&p.source).chain(&p.targets) {
            assert_eq!(r.config.request_timeout, crate::transport::REQUEST_TIMEOUT);
            assert_eq!(r.config.token_timeout, crate::transport::TOKEN_TIMEOUT);
        }
        let mut a = base_args();
        a.request_timeout = Some(30);
        a.token_timeout = Some(0);
        let p = a.resolve(no_file).unwrap();
        for r in std::iter::once(&p.source).chain(&p.targets) {
            assert_eq!(r.config.request_timeout.as_secs(), 30);
            assert_eq!(r.config.token_timeout.as_secs(), 1, "at least a second");
        }
    }

    #[test]
    fn resolves_promoter_shapes() {
        let p = base_args().resolve(no_file).unwrap();
        assert_eq!(p.containers, vec!["aodh-api", "base", "nova-compute"]);
        assert_eq!(p.distro_version, "8");
        assert!(p.manifest_push && p.push && p.ppc_manifests);
        assert!(p.source.config.insecure);
        assert!(p.source.config.credentials.is_anonymous());
        assert_eq!(p.source.repo(&p.prefix, "base"), "tripleomaster/openstack-base");
        assert_eq!(p.manifest_tag(), format!("{}_manifest", p.full_hash));
        assert_eq!(p.list_suffix(), "centos-8-master");
        assert_eq!(p.tmp_file_root, PathBuf::from("/var/tmp/promoter_logs"));
    }

    /// The registries exactly as ci-config's `StagingRegistries` writes them: `url: http://…` for
    /// every one, `auth_url: https://…` and `secure: true` for the TLS + htpasswd one.
    #[test]
    fn secure_staging_registries_speak_https_whatever_url_says() {
        let staged = |secure: bool, port: u16| {
            let mut r = serde_json::json!({
                "name": "r", "port": port, "secure": secure, "schema": "v2_s2",
                "host": format!("localhost:{port}"), "url": format!("http://localhost:{port}"),
                "namespace": "tripleomaster", "username": "unused", "password": "unused",
            });
            if secure {
                r["username"] = "username".into();
                r["password"] = "password".into();
                r["auth_url"] = format!("https://localhost:{port}").into();
            }
            serde_json::from_value::<RegistryArgs>(r).unwrap()
        };
        let resolve = |r: &RegistryArgs| r.resolve("target_registries[0]", None, 1);
        let secure = resolve(&staged(true, 6550)).unwrap();
        assert!(!secure.config.insecure, "secure: true is HTTPS");
        assert!(!secure.config.credentials.is_anonymous());
        // On loopback, as docker had it: the certificate is not checked, unless tls_verify is given.
        assert!(!secure.config.tls_verify);
        let mut r = staged(true, 6550);
        r.tls_verify = Some(true);
        assert!(resolve(&r).unwrap().config.tls_verify);
        let mut r = staged(true, 6550);
        r.host = "registry.invalid:6550".into();
        assert!(resolve(&r).unwrap().config.tls_verify, "checked off loopback");
        assert!(resolve(&staged(false, 6500)).unwrap().config.insecure);
        // Without `secure`, `url` decides; `insecure` always wins, and contradicting `secure` is an error.
        let mut r = staged(false, 6500);
        r.secure = None;
        assert!(resolve(&r).unwrap().config.insecure);
        r.url = None;
        assert!(!resolve(&r).unwrap().config.insecure);
        let mut r = staged(true, 6550);
        r.insecure = Some(false);
        assert!(!resolve(&r).unwrap().config.insecure);
        r.insecure = Some(true);
        let e = resolve(&r).unwrap_err().to_string();
        assert!(
            e.contains("target_registries[0]") && e.contains("contradicts secure: true"),
            "{e}"
        );
    }

    #[test]
    fn registries_on_one_host_get_distinct_names() {
        let mut a = base_args();
        let mut other = a.target_registries.clone().unwrap()[0].clone();
        other.namespace = Some("other".into());
        let mut named = other.clone();
        named.namespace = Some("third".into());
        named.name = Some("mine".into());
        a.target_registries = Some(vec![
            a.target_registries.clone().unwrap()[0].clone(),
            other,
            named,
        ]);
        let p = a.resolve(no_file).unwrap();
        let names: Vec<&str> = p.targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            ["localhost:6500/tripleomaster", "localhost:6500/other", "mine"]
        );
        assert_eq!(
            p.source.name, "localhost:6000",
            "a host of its own keeps its name"
        );
    }

    #[test]
    fn base_images_are_added_once() {
        let mut a = base_args();
        a.containers = Some(vec!["nova-compute".into()]);
        let p = a.resolve(no_file).unwrap();
        assert_eq!(p.containers, vec!["nova-compute", "base"]);
        assert_eq!(p.base_added, vec!["base"]);
        // Named by containers_list already: kept in its place, not added.
        assert!(base_args().resolve(no_file).unwrap().base_added.is_empty());
    }

    #[test]
    fn hash_forms() {
        for ok in [
            "360d335e94246d7095672c5aa92b59afa380a059_9e598812",
            "d7c3cd922f91d83aacb5d7555de9d5bc",
            "360d335e94246d7095672c5aa92b59afa380a059_9e598812_0a1b2c3d_4e5f6071",
        ] {
            assert!(validate_full_hash(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "d7c3cd922f91d83aacb5d7555de9d5b",
            "D7C3CD922F91D83AACB5D7555DE9D5BC",
            "d7c3cd922f91d83aacb5d7555de9d5bc; rm -rf /",
            "360d335e94246d7095672c5aa92b59afa380a059_9e59881",
            "360d335e94246d7095672c5aa92b59afa380a059",
            "$(reboot)",
        ] {
            let e = validate_full_hash(bad).unwrap_err().to_string();
            assert!(e.contains("full_hash"), "{bad}: {e}");
        }
    }

    #[test]
    fn clear_errors() {
        let mut a = base_args();
        a.full_hash = None;
        assert!(a.resolve(no_file).unwrap_err().to_string().contains("full_hash"));
        let mut a = base_args();
        a.containers = Some(vec![]);
        assert!(a.resolve(no_file).unwrap_err().to_string().contains("empty"));
        let mut a = base_args();
        a.containers = Some(vec!["../x".into()]);
        assert!(a.resolve(no_file).unwrap_err().to_string().contains("../x"));
        let mut a = base_args();
        a.containers = Some(vec!["Nova".into()]);
        assert!(a.resolve(no_file).is_err());
        let mut a = base_args();
        a.target_registries.as_mut().unwrap()[0].schema = Some("v3".into());
        let e = a.resolve(no_file).unwrap_err().to_string();
        assert!(e.contains("target_registries[0]") && e.contains("schema"), "{e}");
        let mut a = base_args();
        a.target_registries.as_mut().unwrap()[0].host = "bad host:99999".into();
        assert!(a
            .resolve(no_file)
            .unwrap_err()
            .to_string()
            .contains("target_registries[0]"));
        let mut a = base_args();
        a.target_registries.as_mut().unwrap()[0].username = Some("robot".into());
        a.target_registries.as_mut().unwrap()[0].password = Some(Secret::new("unused"));
        assert!(a
            .resolve(no_file)
            .unwrap_err()
            .to_string()
            .contains("without a password"));
        let e = serde_json::from_value::<PromoteArgs>(serde_json::json!({"bogus": 1}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn flags_override_config() {
        let flags = PromoteArgs {
            named_label: Some("tripleo-ci-testing".into()),
            ..Default::default()
        };
        let merged = flags.or(base_args());
        assert_eq!(merged.named_label.as_deref(), Some("tripleo-ci-testing"));
        assert!(merged.full_hash.is_some());
    }
}
