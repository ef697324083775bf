//! The promotion's inputs: one typed model shared by the CLI flags, the config file and the Ansible
//! module. [`PromoteArgs`] is what callers give (every field optional, lenient types, promoter
//! names); [`PromoteArgs::resolve`] applies the promoter's defaults and validates everything into a
//! [`Promotion`], so bad input fails before any request is sent. [`KeepLocal`] is the one
//! local-copy policy type of every face (the releases file reads it typed).

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::options::Field;
pub use crate::options::{KeepLocal, KEEP_LOCAL};
pub use crate::options::{PromoteArgs, RegistryArgs, PROMOTE_SPEC};
use crate::reference::{
    validate_component, validate_host, validate_repository, validate_tag, ReleaseName, RepoPath, Tag,
};
use crate::registry::Registry;
use crate::sources::hash::FullHash;
use crate::transport::{creds, Credentials, RegistryConfig, Secret};

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
        let bad = |reason: String| Error::bad_option(what, reason);
        let host = self.host_name();
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
        let config = self.config(what, retry_attempts)?;
        let quay = crate::quay::QuaySpec::from_registry_args(self, what, default_namespace)?;
        Ok(RegistrySpec {
            name: self.name.clone().unwrap_or_else(|| host.to_string()),
            host: host.to_string(),
            namespace,
            schema,
            password_from: self.password_from(what, &config),
            config,
            quay,
        })
    }

    /// Where the password of `config` comes from, for messages (`password_env=QUAYDOTIO_PASSWORD`,
    /// `target_registries[1].password`, an auth file); never the password. None: anonymous.
    fn password_from(&self, what: &str, config: &RegistryConfig) -> Option<String> {
        Some(match (&self.password, &self.password_env, &self.authfile) {
            _ if config.credentials.is_anonymous() => return None,
            (Some(p), _, _) if !unused(p.expose()) => format!("{what}.password"),
            (_, Some(var), _) => format!("password_env={var}"),
            (_, _, Some(f)) => format!("the auth file {}", f.display()),
            _ => "the auth files (REGISTRY_AUTH_FILE, containers auth.json, docker config.json)".into(),
        })
    }

    /// The host, without a scheme or a trailing `/`.
    fn host_name(&self) -> &str {
        self.host
            .trim()
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
    }

    /// How to reach the registry: host, plain HTTP or TLS (CA file, certs.d), credentials (given,
    /// from an environment variable, an auth file or the default ones) and retries, with a warning
    /// for what is unsafe. The one place a registry's settings are built: promotions through
    /// [`Self::resolve`], `copy` and `inspect` directly. `what` names it in errors.
    pub fn config(&self, what: &str, retry_attempts: u32) -> Result<RegistryConfig> {
        let bad = |reason: String| Error::bad_option(what, reason);
        let host = self.host_name();
        validate_host(host).map_err(|e| bad(e.to_string()))?;
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
            if !ca.exists() {
                return Err(bad(format!("ca_file {} does not exist", ca.display())));
            }
            // A FIFO or a folder is refused here, named, before anything reads it.
            crate::input::ensure_regular_file(ca, "CA bundle").map_err(|e| bad(e.to_string()))?;
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
        if insecure && !config.credentials.is_anonymous() && !crate::report::is_loopback_host(host) {
            crate::report::warn_once(&format!(
                "registry {host}: credentials are sent over plain HTTP (insecure: true)"
            ));
        }
        Ok(config)
    }
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
            .map_err(|e| Error::invalid("container name", n, format!("{what}: {}", e.reason())))?;
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
        let prefix = Field::container_name_prefix
            .opt()
            .text(self.container_name_prefix.as_deref())
            .to_string();
        validate_component(&prefix)
            .map_err(|e| Error::invalid("container_name_prefix", &prefix, e.reason()))?;
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
            manifest_push: Field::manifest_push.opt().flag_value(self.manifest_push),
            ppc_manifests: Field::ppc_manifests.opt().flag_value(self.ppc_manifests),
            tmp_file_root: match &self.tmp_file_root {
                Some(d) => d.clone(),
                None => PathBuf::from(Field::tmp_file_root.opt().text(None)),
            },
            x86_tag: tag_part(Field::x86_tag, &self.x86_tag)?,
            ppc_tag: tag_part(Field::ppc_tag, &self.ppc_tag)?,
            manifest_tag: tag_part(Field::manifest_tag, &self.manifest_tag)?,
            per_registry: Field::per_registry_concurrency
                .opt()
                .count(self.per_registry_concurrency) as usize,
            blob_jobs: Field::blob_concurrency.opt().count(self.blob_concurrency) as usize,
            report_json: self.report_json.clone(),
            report_html: self.report_html.clone(),
            report_name: None,
            label_source: Field::label_source.opt().flag_value(self.label_source),
            keep_previous_label: Field::keep_previous_label
                .opt()
                .flag_value(self.keep_previous_label),
            keep_local: Field::keep_local.opt().text(self.keep_local.as_deref()).parse()?,
            local_store: self.local_store.clone(),
            lock_timeout: std::time::Duration::from_secs(Field::lock_timeout.opt().count(self.lock_timeout)),
            report_keep: Field::report_keep.opt().count(self.report_keep) as usize,
            report_group_readable: Field::report_group_readable
                .opt()
                .flag_value(self.report_group_readable),
            local_retention: crate::store::Retention::from_settings(
                Field::local_max_age_days.opt().count(self.local_max_age_days),
                Field::local_max_size_gib.opt().count(self.local_max_size_gib),
            ),
            phase_timeout: self.phase_timeout(),
            deadline: self.deadline(),
        })
    }

    /// `phase_timeout`, when set and shorter than the run's deadline: a phase cannot outlast the
    /// run, so a longer one would never fire (said once, as a warning).
    fn phase_timeout(&self) -> Option<std::time::Duration> {
        let phase = Some(Field::phase_timeout.opt().count(self.phase_timeout)).filter(|s| *s > 0)?;
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

    /// The run's `deadline` (its declared default and limits; 0: none).
    fn deadline(&self) -> Option<std::time::Duration> {
        let secs = Field::deadline.opt().count(self.deadline);
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
        let base = Field::base_container_images
            .opt()
            .names(self.base_container_images.as_deref());
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
        let retries = Field::retries.opt().count(self.retries) as u32;
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
        let secs = |f: Field, v: Option<u64>| std::time::Duration::from_secs(f.opt().count(v));
        for spec in std::iter::once(&mut source).chain(targets.iter_mut()) {
            spec.config.request_timeout = secs(Field::request_timeout, self.request_timeout);
            spec.config.token_timeout = secs(Field::token_timeout, self.token_timeout);
        }
        let push = Field::target_registries_push
            .opt()
            .flag_value(self.target_registries_push);
        if push && targets.is_empty() {
            return Err(Error::Config(
                "target_registries_push is true but target_registries is empty".into(),
            ));
        }
        Ok((source, targets, push))
    }

    /// `release`, `distro_name`, `distro_version` with their defaults (they name the list files).
    fn release_names(&self) -> Result<(ReleaseName, String, String)> {
        let release = Field::release.opt().text(self.release.as_deref());
        let distro_name = Field::distro_name.opt().text(self.distro_name.as_deref());
        let distro_version = Field::distro_version.opt().text(self.distro_version.as_deref());
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
fn tag_part(f: Field, v: &Option<String>) -> Result<String> {
    let v = f.opt().text(v.as_deref()).to_string();
    validate_tag(&format!("x{v}")).map_err(|e| Error::Config(format!("{}: {e}", f.opt().name)))?;
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
