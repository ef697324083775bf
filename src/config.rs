//! The releases config: one YAML file that drives promotions when running alone (a person or a cron
//! job, no promoter). Global settings (Zuul and DLRN APIs, default registries with credentials given
//! as references, where tripleo-common and the exclude lists live, reports, concurrency, defaults)
//! and a `releases:` list, one entry per release. copy-quay's config shape (`pull_registry`,
//! `push_registry`, `entries:`) is read too and mapped onto the same model.
//!
//! A release entry becomes [`PromoteArgs`] through [`resolve_release`]:
//! - the **container list** is given (`containers`, `containers_list_file`), read from the latest
//!   successful build job in Zuul, or taken from tripleo-common minus tripleo-ci's excludes —
//!   chosen with `containers_source: given|zuul|tripleo_common`, or, when unset, the first that works
//!   in the order given → zuul (when `job_name` is set) → tripleo-common;
//! - the **hash** is forced (`--hash`, `full_hash`: always wins), or comes from the build log when the
//!   list came from Zuul, or from the DLRN API (`api_entry`, label `dlrn_label` defaulting to
//!   `named_label`) — or as chosen with `hash_source: given|dlrn|build_log`.
//!
//! Errors name the file, the key (`releases[2].bogus`) and what was expected. Secrets are never
//! required in the file (`password_env`, `authfile`, `token_env`, `token_file`) and never shown.
//! A file is read once ([`read`]) and its shape told once; the lenient value types are
//! [`crate::options::flexible`]'s. An entry and the file's defaults embed [`PromoteArgs`]
//! (`options`, through [`crate::promote::embed`], not `#[serde(flatten)]`, which would drop the key,
//! its line and "expected one of" from the messages above): an entry takes every promotion option
//! ([`ENTRY_KEYS`]: `from_namespace`, `to_namespace`, `prefix` and `hash` are its names for four of
//! them), the file every one but those of a single release ([`FILE_KEYS`]);
//! [`ReleasesConfig::entry_args`] merges them (entry, then file, then the releases files' defaults)
//! and `tests/one_schema.rs` checks that every option gets through.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};
use serde_norway::Value;

use crate::error::{Error, Result};
use crate::options::flexible::{self, opt_bool, opt_string};
use crate::promote::embed::{self, Embedding, Embeds};
use crate::promote::{PromoteArgs, RegistryArgs};
use crate::reference::validate_tag;
use crate::sources::dlrn::{self, PromotedHash};
use crate::sources::hash::{commit_dir, validate_full_hash, validate_git_sha};
use crate::sources::http::{base_url, Fetcher, HttpOptions, Location};
use crate::sources::list::parse_list_file;
use crate::sources::tripleo_common::{
    self, TripleoCommonQuery, DEFAULT_EXCLUDES_URL, DEFAULT_TRIPLEO_COMMON_URL,
};
use crate::sources::zuul::{self, BuiltContainers};

/// The label promoted when neither the entry nor the file says.
pub const DEFAULT_NAMED_LABEL: &str = "current-tripleo";
/// `--release all`.
pub const ALL: &str = "all";

/// Where an entry's container list comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainersSource {
    /// `containers` / `containers_list_file` of the entry (or the command line).
    Given,
    /// The latest successful build of `job_name` in Zuul.
    #[serde(alias = "build_job")]
    Zuul,
    /// tripleo-common's `tripleo_containers.yaml` minus tripleo-ci's excludes.
    TripleoCommon,
}

impl ContainersSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ContainersSource::Given => "given",
            ContainersSource::Zuul => "zuul",
            ContainersSource::TripleoCommon => "tripleo_common",
        }
    }
}

/// Where an entry's hash comes from (a forced hash always wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HashSource {
    /// `full_hash` in the entry or `--hash`.
    Given,
    /// The DLRN API: the hash `dlrn_label` points at.
    Dlrn,
    /// The latest successful build job's log.
    BuildLog,
}

pub use crate::promote::model::KeepLocal;

/// The file's global settings and its releases. Beside its own keys it takes the promotion's
/// options as defaults for every entry (`options`), except the per-release ones
/// ([`FILE_KEYS`]).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, remote = "Self")]
pub struct ReleasesConfig {
    /// The file, as shown in messages.
    #[serde(skip)]
    pub file: String,
    /// Zuul's API root (`https://review.rdoproject.org/zuul/api/`).
    #[serde(default)]
    pub zuul_api: Option<String>,
    /// Default DLRN API entry (`https://trunk.rdoproject.org/api-centos9-master-uc`).
    #[serde(default, alias = "api_entry")]
    pub dlrn_api: Option<String>,
    /// Default DLRN repository root (`https://trunk.rdoproject.org/centos9-master`), to find a forced
    /// hash's `versions.csv`.
    #[serde(default)]
    pub dlrn_repo_url: Option<String>,
    /// tripleo-common's repository (raw files under `raw/commit/<sha>/`).
    #[serde(default)]
    pub tripleo_common_url: Option<String>,
    /// A fixed `tripleo_containers.yaml` (path or URL) instead of the commit lookup.
    #[serde(default)]
    pub tripleo_containers_yaml: Option<String>,
    /// tripleo-ci's build-containers vars (path or URL); `none` excludes nothing.
    #[serde(default)]
    pub excludes_yaml: Option<String>,
    /// Keep every `image_source` of tripleo-common's list (old releases).
    #[serde(default, deserialize_with = "opt_bool")]
    pub keep_all_sources: Option<bool>,
    /// CA bundle for the HTTPS sources (Zuul, DLRN, opendev).
    #[serde(default)]
    pub sources_ca_file: Option<PathBuf>,
    #[serde(default, deserialize_with = "opt_bool")]
    pub sources_tls_verify: Option<bool>,
    /// Typed here (the option is a string for the module and the flags).
    #[serde(default)]
    pub keep_local: Option<KeepLocal>,
    /// Report paths; `{name}` is replaced by the entry's name (required with several releases).
    #[serde(default)]
    pub report_json: Option<String>,
    #[serde(default)]
    pub report_html: Option<String>,
    pub releases: Vec<ReleaseEntry>,
    /// The promotion's options given for the whole file: every entry's defaults.
    #[serde(skip)]
    pub options: PromoteArgs,
}

/// One release: keys of its own, and any of the promotion's options (`options`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, remote = "Self")]
pub struct ReleaseEntry {
    /// What `--release NAME` selects.
    #[serde(deserialize_with = "flexible::string")]
    pub name: String,
    /// The Zuul job that builds the release's containers.
    #[serde(default)]
    pub job_name: Option<String>,
    /// DLRN API entry (defaults to the file's `dlrn_api`).
    #[serde(default, alias = "dlrn_api")]
    pub api_entry: Option<String>,
    /// The DLRN label whose hash is promoted (default: `named_label`).
    #[serde(default)]
    pub dlrn_label: Option<String>,
    #[serde(default)]
    pub dlrn_repo_url: Option<String>,
    /// Typed here (the option is a string for the module and the flags).
    #[serde(default)]
    pub keep_local: Option<KeepLocal>,
    #[serde(default)]
    pub containers_source: Option<ContainersSource>,
    #[serde(default)]
    pub hash_source: Option<HashSource>,
    #[serde(default)]
    pub tripleo_containers_yaml: Option<String>,
    #[serde(default)]
    pub tripleo_common_commit: Option<String>,
    #[serde(default)]
    pub excludes_yaml: Option<String>,
    #[serde(default, deserialize_with = "opt_bool")]
    pub keep_all_sources: Option<bool>,
    /// The promotion's options this entry sets (`full_hash`, `containers`, registries, …;
    /// `from_namespace`/`to_namespace` and `prefix` are its names for the namespaces and the prefix).
    /// A forced hash is `full_hash`; `push_hash` pushes under another tag (see [`ResolvedRelease`]).
    #[serde(skip)]
    pub options: PromoteArgs,
}

/// The keys of a release entry: its own, and the promotion's options, three of them by the names
/// the releases files have always used.
pub static ENTRY_KEYS: Embedding = Embedding {
    own: &[
        "name",
        "job_name",
        "api_entry",
        "dlrn_api",
        "dlrn_label",
        "dlrn_repo_url",
        "keep_local",
        "containers_source",
        "hash_source",
        "tripleo_containers_yaml",
        "tripleo_common_commit",
        "excludes_yaml",
        "keep_all_sources",
    ],
    renames: &[
        ("from_namespace", "source_namespace"),
        ("to_namespace", "target_namespace"),
        ("prefix", "container_name_prefix"),
        ("hash", "full_hash"),
    ],
    refused: &[],
};

/// The keys of a releases file: its own, and the promotion's options but those of one release.
pub static FILE_KEYS: Embedding = Embedding {
    own: &[
        "zuul_api",
        "dlrn_api",
        "api_entry",
        "dlrn_repo_url",
        "tripleo_common_url",
        "tripleo_containers_yaml",
        "excludes_yaml",
        "keep_all_sources",
        "sources_ca_file",
        "sources_tls_verify",
        "keep_local",
        "report_json",
        "report_html",
        "releases",
    ],
    renames: &[("prefix", "container_name_prefix")],
    refused: &[
        "full_hash",
        "push_hash",
        "release",
        "distro_name",
        "distro_version",
        "containers",
        "ppc_containers",
        "containers_list_file",
        "source_namespace",
        "target_namespace",
    ],
};

impl Embeds for ReleaseEntry {
    const FACE: &'static Embedding = &ENTRY_KEYS;
    fn own<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        ReleaseEntry::deserialize(d)
    }
    fn with_options(self, options: PromoteArgs) -> Self {
        ReleaseEntry { options, ..self }
    }
}

impl<'de> Deserialize<'de> for ReleaseEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        embed::deserialize(d)
    }
}

impl Embeds for ReleasesConfig {
    const FACE: &'static Embedding = &FILE_KEYS;
    fn own<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        ReleasesConfig::deserialize(d)
    }
    fn with_options(self, options: PromoteArgs) -> Self {
        ReleasesConfig { options, ..self }
    }
}

impl<'de> Deserialize<'de> for ReleasesConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        embed::deserialize(d)
    }
}

/// copy-quay's config file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CopyQuayConfig {
    #[serde(default)]
    zuul_api: Option<String>,
    #[serde(default)]
    pull_registry: Option<String>,
    #[serde(default)]
    push_registry: Option<String>,
    entries: Vec<CopyQuayEntry>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CopyQuayEntry {
    #[serde(deserialize_with = "flexible::string")]
    name: String,
    #[serde(default, deserialize_with = "opt_string")]
    release: Option<String>,
    #[serde(default)]
    job_name: Option<String>,
    #[serde(default)]
    api_entry: Option<String>,
    #[serde(default)]
    from_namespace: Option<String>,
    #[serde(default)]
    to_namespace: Option<String>,
}

/// What a config file holds.
#[derive(Clone, Debug)]
pub enum ConfigFile {
    /// A plain promotion (the Ansible module's fields).
    Promote(Box<PromoteArgs>),
    /// A releases file (`releases:`, or copy-quay's `entries:`).
    Releases(Box<ReleasesConfig>),
}

/// The shape of a config file, from its top-level keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Promote,
    Releases,
    CopyQuay,
}

fn cfg_err(file: impl std::fmt::Display, msg: impl std::fmt::Display) -> Error {
    Error::Config(format!("{file}: {msg}"))
}

/// A serde_norway error as `FILE: releases[2].bogus: unknown field `bogus`, expected one of … (line
/// 12, column 5)` ([`crate::input::yaml_message`]). Values of secret keys are not repeated.
pub fn yaml_error(file: &str, e: &serde_norway::Error) -> Error {
    cfg_err(
        file,
        crate::input::yaml_message(
            e,
            "invalid value (not shown: it is a secret); expected a string — better, use \
             password_env / token_env / token_file",
        ),
    )
}

/// Tell a config text's shape: `releases:` → releases, `entries:` → copy-quay, else a plain
/// promotion. Broken YAML and non-mappings are errors naming the file.
pub fn shape_of(file: &str, text: &str) -> Result<Shape> {
    let doc: Value = serde_norway::from_str(text).map_err(|e| yaml_error(file, &e))?;
    let map = match doc {
        Value::Mapping(m) => m,
        Value::Null => {
            return Err(cfg_err(
                file,
                "empty; expected a YAML mapping (`releases:` with global settings, or promotion fields)",
            ))
        }
        _ => {
            return Err(cfg_err(
                file,
                "expected a YAML mapping (`releases:` with global settings, or promotion fields)",
            ))
        }
    };
    let has = |k: &str| map.contains_key(Value::String(k.into()));
    Ok(if has("releases") {
        Shape::Releases
    } else if has("entries") {
        Shape::CopyQuay
    } else {
        Shape::Promote
    })
}

/// A config file's text; `file` (the path as shown) names it in errors.
pub fn read(path: &Path) -> Result<(String, String)> {
    let file = path.display().to_string();
    let text = crate::input::read_to_string(path, "config file")
        .map_err(|e| cfg_err(&file, format!("cannot read it: {e}")))?;
    Ok((file, text))
}

/// Read a config file of any shape (read once, its shape told once).
pub fn load(path: &Path) -> Result<ConfigFile> {
    let (file, text) = read(path)?;
    parse(&file, &text, path.parent())
}

/// Parse a config text; `file` names it in errors; relative input paths are taken from `base_dir`
/// (the config file's folder).
pub fn parse(file: &str, text: &str, base_dir: Option<&Path>) -> Result<ConfigFile> {
    parse_shaped(file, text, base_dir, shape_of(file, text)?)
}

/// [`parse`] for a text whose shape is known.
pub fn parse_shaped(file: &str, text: &str, base_dir: Option<&Path>, shape: Shape) -> Result<ConfigFile> {
    if shape == Shape::Promote {
        let a: PromoteArgs = serde_norway::from_str(text).map_err(|e| yaml_error(file, &e))?;
        return Ok(ConfigFile::Promote(Box::new(a)));
    }
    parse_releases(file, text, base_dir, shape).map(|c| ConfigFile::Releases(Box::new(c)))
}

/// A releases text (`Shape::Releases`, or copy-quay's `Shape::CopyQuay` mapped onto it), with its
/// relative paths taken from `base_dir` and validated.
pub fn parse_releases(
    file: &str,
    text: &str,
    base_dir: Option<&Path>,
    shape: Shape,
) -> Result<ReleasesConfig> {
    let mut c = if shape == Shape::CopyQuay {
        let q: CopyQuayConfig = serde_norway::from_str(text).map_err(|e| yaml_error(file, &e))?;
        from_copy_quay(q)
    } else {
        serde_norway::from_str(text).map_err(|e| yaml_error(file, &e))?
    };
    c.file = file.to_string();
    c.finish(base_dir)?;
    Ok(c)
}

/// Read a releases file (`releases:` or copy-quay's `entries:`); a plain promotion file is an error.
pub fn load_releases(path: &Path) -> Result<ReleasesConfig> {
    let (file, text) = read(path)?;
    match shape_of(&file, &text)? {
        Shape::Promote => Err(cfg_err(
            &file,
            "has no `releases:` (nor copy-quay's `entries:`); expected a releases file",
        )),
        shape => parse_releases(&file, &text, path.parent(), shape),
    }
}

/// copy-quay's `release: mastercentos9` → (`master`, `centos`, `9`).
pub fn split_copy_quay_release(release: &str) -> (String, Option<(String, String)>) {
    for distro in ["centos", "rhel", "redhat", "ubi"] {
        if let Some(pos) = release.rfind(distro) {
            let (rel, rest) = release.split_at(pos);
            let version = &rest[distro.len()..];
            if !rel.is_empty() && !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()) {
                return (rel.to_string(), Some((distro.to_string(), version.to_string())));
            }
        }
    }
    (release.to_string(), None)
}

fn from_copy_quay(q: CopyQuayConfig) -> ReleasesConfig {
    // copy-quay relied on `podman login`: use the first auth file that exists.
    let authfile = crate::transport::creds::default_auth_files()
        .into_iter()
        .find(|f| f.is_file());
    let reg = |host: Option<String>| {
        host.map(|h| RegistryArgs {
            host: h,
            authfile: authfile.clone(),
            ..Default::default()
        })
    };
    ReleasesConfig {
        zuul_api: q.zuul_api,
        options: PromoteArgs {
            source_registry: reg(q.pull_registry),
            target_registries: reg(q.push_registry).map(|r| vec![r]),
            ..Default::default()
        },
        releases: q
            .entries
            .into_iter()
            .map(|e| {
                let (release, distro) = match &e.release {
                    Some(r) => {
                        let (rel, d) = split_copy_quay_release(r);
                        (Some(rel), d)
                    }
                    None => (None, None),
                };
                ReleaseEntry {
                    name: e.name,
                    job_name: e.job_name,
                    api_entry: e.api_entry,
                    options: PromoteArgs {
                        release,
                        distro_name: distro.as_ref().map(|d| d.0.clone()),
                        distro_version: distro.map(|d| d.1),
                        source_namespace: e.from_namespace,
                        target_namespace: e.to_namespace,
                        ..Default::default()
                    },
                    ..Default::default()
                }
            })
            .collect(),
        ..Default::default()
    }
}

fn rel_path(base: Option<&Path>, p: &mut PathBuf) {
    if let Some(b) = base {
        if p.is_relative() && !p.as_os_str().is_empty() {
            *p = b.join(&*p);
        }
    }
}

fn rel_location(base: Option<&Path>, s: &mut String) {
    if s == "none" {
        return;
    }
    if let (Some(b), Ok(Location::File(p))) = (base, Location::parse(s)) {
        if p.is_relative() && !s.contains("://") {
            *s = b.join(p).display().to_string();
        }
    }
}

fn rel_registry(base: Option<&Path>, r: &mut RegistryArgs) {
    for p in [
        &mut r.authfile,
        &mut r.ca_file,
        &mut r.cert_dir,
        &mut r.token_file,
    ]
    .into_iter()
    .flatten()
    {
        rel_path(base, p);
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

impl ReleasesConfig {
    /// Relative paths, then validation of everything that can be checked without the network or the
    /// environment.
    fn finish(&mut self, base: Option<&Path>) -> Result<()> {
        if let Some(p) = &mut self.sources_ca_file {
            rel_path(base, p);
        }
        for s in [&mut self.tripleo_containers_yaml, &mut self.excludes_yaml]
            .into_iter()
            .flatten()
        {
            rel_location(base, s);
        }
        for r in self
            .options
            .source_registry
            .iter_mut()
            .chain(self.options.target_registries.iter_mut().flatten())
        {
            rel_registry(base, r);
        }
        for e in &mut self.releases {
            if let Some(p) = &mut e.options.containers_list_file {
                rel_path(base, p);
            }
            for s in [&mut e.tripleo_containers_yaml, &mut e.excludes_yaml]
                .into_iter()
                .flatten()
            {
                rel_location(base, s);
            }
            for r in e
                .options
                .source_registry
                .iter_mut()
                .chain(e.options.target_registries.iter_mut().flatten())
            {
                rel_registry(base, r);
            }
        }
        self.validate()
    }

    /// Everything that can be checked without the network or the environment: the file's settings,
    /// then each entry in order (the first problem is reported).
    fn validate(&self) -> Result<()> {
        self.validate_globals()?;
        for (i, e) in self.releases.iter().enumerate() {
            self.validate_entry_values(i, e)?;
            self.validate_entry_sources(i, e)?;
            self.validate_entry_registries(i, e)?;
        }
        Ok(())
    }

    /// `FILE: KEY: MSG`.
    fn err(&self, key: impl std::fmt::Display, msg: impl std::fmt::Display) -> Error {
        cfg_err(&self.file, format!("{key}: {msg}"))
    }

    /// A URL setting, when given.
    fn check_url(&self, key: &str, v: &Option<String>) -> Result<()> {
        if let Some(u) = v {
            base_url("URL", u).map_err(|e| self.err(key, e))?;
        }
        Ok(())
    }

    /// The file's own settings: URLs, labels, default registries, report templates.
    fn validate_globals(&self) -> Result<()> {
        self.check_url("zuul_api", &self.zuul_api)?;
        self.check_url("dlrn_api", &self.dlrn_api)?;
        self.check_url("dlrn_repo_url", &self.dlrn_repo_url)?;
        self.check_url("tripleo_common_url", &self.tripleo_common_url)?;
        for (k, v) in [
            ("named_label", &self.options.named_label),
            ("candidate_label", &self.options.candidate_label),
        ] {
            if let Some(l) = v {
                validate_tag(l).map_err(|e| self.err(k, e))?;
            }
        }
        check_registries(
            &self.file,
            "",
            &self.options.source_registry,
            &self.options.target_registries,
        )?;
        if self.releases.is_empty() {
            return Err(self.err("releases", "expected at least one release entry"));
        }
        let several = self.releases.len() > 1;
        for (k, v) in [
            ("report_json", &self.report_json),
            ("report_html", &self.report_html),
        ] {
            if let Some(t) = v {
                if several && !t.contains("{name}") {
                    return Err(self.err(
                        k,
                        format!(
                            "{t:?} would be overwritten by each of the {} releases; put {{name}} in it \
                             (replaced by the release's name)",
                            self.releases.len()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Entry `i`'s own values: its name (valid, unique), URLs, tags, labels, hash, commit, job.
    fn validate_entry_values(&self, i: usize, e: &ReleaseEntry) -> Result<()> {
        let at = |k: &str| format!("releases[{i}].{k}");
        if !valid_name(&e.name) || e.name == ALL {
            return Err(self.err(
                at("name"),
                format!(
                    "{:?}: expected letters, digits, '.', '_' and '-' (and not \"all\")",
                    e.name
                ),
            ));
        }
        if let Some(j) = self.releases[..i].iter().position(|o| o.name == e.name) {
            return Err(self.err(
                at("name"),
                format!("{:?} is used twice (also releases[{j}])", e.name),
            ));
        }
        self.check_url(&at("api_entry"), &e.api_entry)?;
        self.check_url(&at("dlrn_repo_url"), &e.dlrn_repo_url)?;
        for (k, v) in [
            ("named_label", &e.options.named_label),
            ("candidate_label", &e.options.candidate_label),
            ("push_hash", &e.options.push_hash),
        ] {
            if let Some(l) = v {
                validate_tag(l).map_err(|x| self.err(at(k), x))?;
            }
        }
        if let Some(l) = &e.dlrn_label {
            dlrn::validate_label(l).map_err(|x| self.err(at("dlrn_label"), x))?;
        }
        if let Some(h) = &e.options.full_hash {
            validate_full_hash(h).map_err(|x| self.err(at("full_hash"), x))?;
        }
        if let Some(c) = &e.tripleo_common_commit {
            validate_git_sha("tripleo-common commit", c)
                .map_err(|x| self.err(at("tripleo_common_commit"), x))?;
        }
        if let Some(j) = &e.job_name {
            zuul::builds_url("https://zuul.invalid/api/", j).map_err(|x| self.err(at("job_name"), x))?;
        }
        Ok(())
    }

    /// Entry `i`'s `containers_source` / `hash_source` against what the entry and the file give.
    fn validate_entry_sources(&self, i: usize, e: &ReleaseEntry) -> Result<()> {
        let at = |k: &str| format!("releases[{i}].{k}");
        let has_list = e.options.containers.is_some() || e.options.containers_list_file.is_some();
        match e.containers_source {
            Some(ContainersSource::Given) if !has_list => {
                return Err(self.err(
                    at("containers_source"),
                    "is given but the entry has no containers (nor containers_list_file)",
                ))
            }
            Some(ContainersSource::Zuul) if e.job_name.is_none() => {
                return Err(self.err(at("containers_source"), "is zuul but the entry has no job_name"))
            }
            _ => {}
        }
        let uses_zuul = e.containers_source == Some(ContainersSource::Zuul)
            || e.hash_source == Some(HashSource::BuildLog)
            || (e.containers_source.is_none() && e.job_name.is_some());
        if uses_zuul && self.zuul_api.is_none() {
            return Err(self.err(
                "zuul_api",
                format!(
                    "missing; releases[{i}] ({}) reads the latest build of its job_name from Zuul",
                    e.name
                ),
            ));
        }
        match e.hash_source {
            Some(HashSource::Dlrn) if e.api_entry.is_none() && self.dlrn_api.is_none() => Err(self.err(
                at("hash_source"),
                "is dlrn but neither the entry's api_entry nor the file's dlrn_api is set",
            )),
            Some(HashSource::BuildLog) if e.job_name.is_none() => {
                Err(self.err(at("hash_source"), "is build_log but the entry has no job_name"))
            }
            _ => Ok(()),
        }
    }

    /// Entry `i`'s registries, and that it has a source and (when pushing) targets, its own or the
    /// file's.
    fn validate_entry_registries(&self, i: usize, e: &ReleaseEntry) -> Result<()> {
        check_registries(
            &self.file,
            &format!("releases[{i}]."),
            &e.options.source_registry,
            &e.options.target_registries,
        )?;
        if e.options.source_registry.is_none() && self.options.source_registry.is_none() {
            return Err(self.err(
                format!("releases[{i}]"),
                format!(
                    "{} has no source_registry (set it in the entry or at the top of the file)",
                    e.name
                ),
            ));
        }
        let push = e
            .options
            .target_registries_push
            .or(self.options.target_registries_push)
            .unwrap_or(true);
        let targets = e
            .options
            .target_registries
            .as_ref()
            .or(self.options.target_registries.as_ref());
        if push && targets.is_none_or(|t| t.is_empty()) {
            return Err(self.err(
                format!("releases[{i}]"),
                format!(
                    "{} has no target_registries (set them in the entry or at the top of the file)",
                    e.name
                ),
            ));
        }
        Ok(())
    }

    /// The entry called `name`; an error listing the names otherwise.
    pub fn entry(&self, name: &str) -> Result<(usize, &ReleaseEntry)> {
        self.releases
            .iter()
            .enumerate()
            .find(|(_, e)| e.name == name)
            .ok_or_else(|| {
                cfg_err(
                    &self.file,
                    format!(
                        "no release named {name:?}; the file has: {} (or use --release all)",
                        self.names().join(", ")
                    ),
                )
            })
    }

    pub fn names(&self) -> Vec<String> {
        self.releases.iter().map(|e| e.name.clone()).collect()
    }

    /// `NAME` → that entry; `all` → every entry.
    pub fn select(&self, which: &str) -> Result<Vec<(usize, &ReleaseEntry)>> {
        if which == ALL {
            Ok(self.releases.iter().enumerate().collect())
        } else {
            Ok(vec![self.entry(which)?])
        }
    }

    /// An HTTP fetcher for the sources with the file's TLS settings.
    pub fn fetcher(&self) -> Result<Fetcher> {
        Fetcher::new(HttpOptions {
            ca_file: self.sources_ca_file.clone(),
            tls_verify: self.sources_tls_verify.unwrap_or(true),
            ..HttpOptions::default()
        })
    }

    /// The entry's promotion fields before the list and the hash are found: the entry's options,
    /// then the file's (registries merged, namespaces applied, report templates filled in), then the
    /// defaults of releases files (the label, the old releases' prefix).
    pub fn entry_args(&self, e: &ReleaseEntry) -> PromoteArgs {
        let mine = &e.options;
        let mut source = mine
            .source_registry
            .clone()
            .or(self.options.source_registry.clone());
        if let (Some(s), Some(ns)) = (&mut source, &mine.source_namespace) {
            s.namespace = Some(ns.clone());
        }
        let mut targets = mine
            .target_registries
            .clone()
            .or(self.options.target_registries.clone());
        if let (Some(ts), Some(ns)) = (&mut targets, &mine.target_namespace) {
            for t in ts {
                t.namespace = Some(ns.clone());
            }
        }
        let tpl = |t: &Option<String>| t.as_ref().map(|t| PathBuf::from(t.replace("{name}", &e.name)));
        let file = PromoteArgs {
            report_json: tpl(&self.report_json),
            report_html: tpl(&self.report_html),
            keep_local: self.keep_local(e).map(|k| k.as_str().to_string()),
            ..self.options.clone()
        };
        let mut args = mine.clone().or(file);
        args.source_registry = source;
        args.target_registries = targets;
        args.named_label = args.named_label.or(Some(DEFAULT_NAMED_LABEL.into()));
        // The old releases' images are `centos-binary-<name>` (tripleo_common::OLD_RELEASES).
        args.container_name_prefix = args.container_name_prefix.or_else(|| {
            let release = mine.release.as_deref().unwrap_or("master");
            tripleo_common::is_old_release(release)
                .then(|| tripleo_common::default_prefix(release).to_string())
        });
        args
    }

    /// The keep-local policy of an entry, when the file sets one (else the promotion's default).
    pub fn keep_local(&self, e: &ReleaseEntry) -> Option<KeepLocal> {
        e.keep_local.or(self.keep_local)
    }

    /// Where the list and the hash would come from, and where the images go, without fetching
    /// anything.
    pub fn plan(&self, e: &ReleaseEntry, ov: &Overrides) -> Plan {
        let args = ov.args.clone().or(self.entry_args(e));
        let has_list = args.containers.is_some() || args.containers_list_file.is_some();
        let list = candidates(e, has_list)
            .into_iter()
            .map(|c| self.list_candidate(c, e, &args))
            .collect();
        let place = |r: &RegistryArgs| match r.namespace.as_deref() {
            Some(ns) => format!("{}/{ns}", r.host),
            None => format!("{} (no namespace)", r.host),
        };
        let mut cannot_run = Vec::new();
        if args
            .source_registry
            .as_ref()
            .is_some_and(|r| r.namespace.is_none())
        {
            cannot_run.push(
                "the source registry has no namespace (set namespace, or from_namespace in the entry)"
                    .to_string(),
            );
        }
        if args
            .target_registries
            .iter()
            .flatten()
            .any(|r| r.namespace.is_none())
        {
            cannot_run.push(
                "a target registry has no namespace (set namespace, or to_namespace in the entry)"
                    .to_string(),
            );
        }
        Plan {
            cannot_run,
            release: args.release.clone().unwrap_or_else(|| "master".into()),
            distro: format!(
                "{}{}",
                args.distro_name.as_deref().unwrap_or("centos"),
                args.distro_version.as_deref().unwrap_or("9")
            ),
            source: args.source_registry.as_ref().map(place),
            targets: args.target_registries.iter().flatten().map(place).collect(),
            list,
            hash: self.hash_candidates(e, ov, &args),
        }
    }

    fn list_candidate(&self, c: ContainersSource, e: &ReleaseEntry, args: &PromoteArgs) -> ListCandidate {
        match c {
            ContainersSource::Given => ListCandidate::Given {
                names: args.containers.as_ref().map(Vec::len),
                file: args.containers_list_file.clone(),
            },
            ContainersSource::Zuul => ListCandidate::Zuul {
                job: e.job_name.clone().unwrap_or_else(|| "?".into()),
            },
            ContainersSource::TripleoCommon => {
                match e
                    .tripleo_containers_yaml
                    .as_ref()
                    .or(self.tripleo_containers_yaml.as_ref())
                {
                    Some(y) => ListCandidate::TripleoCommon {
                        path: y.clone(),
                        at_versions_csv_commit: false,
                    },
                    None => {
                        let release = args.release.as_deref().unwrap_or("master");
                        let file = if tripleo_common::is_old_release(release) {
                            tripleo_common::OLD_CONTAINERS_PATH
                        } else {
                            tripleo_common::CONTAINERS_PATH
                        };
                        ListCandidate::TripleoCommon {
                            path: file.to_string(),
                            at_versions_csv_commit: true,
                        }
                    }
                }
            }
        }
    }

    /// The hash's origins, in the order tried (empty: none is configured).
    fn hash_candidates(&self, e: &ReleaseEntry, ov: &Overrides, args: &PromoteArgs) -> Vec<HashCandidate> {
        let api = e.api_entry.as_ref().or(self.dlrn_api.as_ref());
        let dlrn = |api: &String| HashCandidate::Dlrn {
            api: api.clone(),
            label: self.dlrn_label(e, args),
        };
        if let Some(h) = ov.full_hash.clone().or(args.full_hash.clone()) {
            return vec![HashCandidate::Forced { hash: h }];
        }
        match e.hash_source {
            Some(HashSource::Given) => vec![HashCandidate::Given],
            Some(HashSource::Dlrn) => vec![dlrn(api.unwrap_or(&"?".to_string()))],
            Some(HashSource::BuildLog) => vec![HashCandidate::BuildLog {
                only_with_a_zuul_list: false,
            }],
            None => {
                let mut alts = Vec::new();
                if e.job_name.is_some() && e.containers_source != Some(ContainersSource::TripleoCommon) {
                    alts.push(HashCandidate::BuildLog {
                        only_with_a_zuul_list: true,
                    });
                }
                alts.extend(api.map(dlrn));
                alts
            }
        }
    }

    fn dlrn_label(&self, e: &ReleaseEntry, args: &PromoteArgs) -> String {
        e.dlrn_label
            .clone()
            .or(args.named_label.clone())
            .unwrap_or_else(|| DEFAULT_NAMED_LABEL.into())
    }
}

fn check_registries(
    file: &str,
    prefix: &str,
    source: &Option<RegistryArgs>,
    targets: &Option<Vec<RegistryArgs>>,
) -> Result<()> {
    let check = |key: String, r: &RegistryArgs| -> Result<()> {
        let host = r
            .host
            .trim()
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/');
        crate::reference::validate_host(host).map_err(|e| cfg_err(file, format!("{key}.host: {e}")))?;
        if r.username.is_some() && r.password.is_none() && r.password_env.is_none() {
            return Err(cfg_err(
                file,
                format!("{key}: username is given without password_env (the variable holding the password)"),
            ));
        }
        if r.create_repo == Some(true) && r.token.is_none() && r.token_env.is_none() && r.token_file.is_none()
        {
            return Err(cfg_err(
                file,
                format!("{key}: create_repo is true but no token_env or token_file gives the Quay token"),
            ));
        }
        if let Some(a) = &r.quay_api {
            base_url("quay_api", a).map_err(|e| cfg_err(file, format!("{key}.quay_api: {e}")))?;
        }
        Ok(())
    };
    if let Some(s) = source {
        check(format!("{prefix}source_registry"), s)?;
    }
    for (i, t) in targets.iter().flatten().enumerate() {
        check(format!("{prefix}target_registries[{i}]"), t)?;
    }
    Ok(())
}

fn candidates(e: &ReleaseEntry, has_list: bool) -> Vec<ContainersSource> {
    match e.containers_source {
        Some(c) => vec![c],
        None => {
            let mut v = Vec::new();
            if has_list {
                v.push(ContainersSource::Given);
            }
            if e.job_name.is_some() {
                v.push(ContainersSource::Zuul);
            }
            v.push(ContainersSource::TripleoCommon);
            v
        }
    }
}

/// Where the list and the hash would come from and where the images go (for `releases`; its
/// `--json` gives these fields as they are, the text their `Display`).
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    /// Why the entry cannot run as it is written (empty: it can).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cannot_run: Vec<String>,
    pub release: String,
    /// Distro name and version (`centos9`).
    pub distro: String,
    /// The source registry as `host/namespace` (`None`: not configured).
    pub source: Option<String>,
    /// The targets as `host/namespace` (empty: no push).
    pub targets: Vec<String>,
    /// The list's origins, in the order tried.
    pub list: Vec<ListCandidate>,
    /// The hash's origins, in the order tried (empty: none is configured).
    pub hash: Vec<HashCandidate>,
}

/// One place the container list may come from.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum ListCandidate {
    /// Given in the file or on the command line: `names` inline, or a list `file`.
    Given {
        #[serde(skip_serializing_if = "Option::is_none")]
        names: Option<usize>,
        #[serde(skip_serializing_if = "Option::is_none")]
        file: Option<PathBuf>,
    },
    /// The latest successful build job's list.
    Zuul { job: String },
    /// tripleo-common's containers file (`at_versions_csv_commit`: at the commit DLRN's
    /// versions.csv names).
    TripleoCommon {
        path: String,
        at_versions_csv_commit: bool,
    },
}

impl fmt::Display for ListCandidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListCandidate::Given { names: Some(n), .. } => write!(f, "given ({n} names)"),
            ListCandidate::Given { file: Some(p), .. } => write!(f, "given ({})", p.display()),
            ListCandidate::Given { .. } => write!(f, "given"),
            ListCandidate::Zuul { job } => write!(f, "zuul (latest SUCCESS of {job})"),
            ListCandidate::TripleoCommon {
                path,
                at_versions_csv_commit: true,
            } => write!(f, "tripleo_common ({path} at the commit from versions.csv)"),
            ListCandidate::TripleoCommon { path, .. } => write!(f, "tripleo_common ({path})"),
        }
    }
}

/// One place the hash may come from.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum HashCandidate {
    /// `--hash` or `full_hash`: always wins.
    Forced { hash: String },
    /// `hash_source: given` without a hash.
    Given,
    /// A DLRN label.
    Dlrn { api: String, label: String },
    /// The build job's log (`only_with_a_zuul_list`: used only when the list came from Zuul).
    BuildLog { only_with_a_zuul_list: bool },
}

impl fmt::Display for HashCandidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HashCandidate::Forced { hash } => write!(f, "forced {hash}"),
            HashCandidate::Given => write!(f, "given (missing: set full_hash or --hash)"),
            HashCandidate::Dlrn { api, label } => write!(f, "DLRN {api} label {label}"),
            HashCandidate::BuildLog {
                only_with_a_zuul_list: true,
            } => write!(f, "the build log (when the list comes from Zuul)"),
            HashCandidate::BuildLog { .. } => write!(f, "the build log"),
        }
    }
}

impl Plan {
    /// The list's origins as text, in the order tried.
    pub fn list_text(&self) -> String {
        join_alternatives(&self.list).unwrap_or_else(|| "none".into())
    }

    /// The hash's origins as text, in the order tried.
    pub fn hash_text(&self) -> String {
        join_alternatives(&self.hash).unwrap_or_else(|| "none (set full_hash, api_entry or job_name)".into())
    }
}

fn join_alternatives<T: fmt::Display>(xs: &[T]) -> Option<String> {
    (!xs.is_empty()).then(|| xs.iter().map(T::to_string).collect::<Vec<_>>().join(", else "))
}

/// What the command line adds to every entry.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--hash`: always wins.
    pub full_hash: Option<String>,
    /// `--push-hash`.
    pub push_hash: Option<String>,
    /// Other promotion flags (they override the entry).
    pub args: PromoteArgs,
}

/// Where the list came from.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum ListOrigin {
    Given {
        file: Option<String>,
    },
    Zuul {
        job_name: String,
        build_uuid: Option<String>,
        log_file: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        not_pushed: Vec<String>,
    },
    TripleoCommon {
        containers_yaml: String,
        excludes: Option<String>,
        commit: Option<String>,
        versions_csv: Option<String>,
        listed: usize,
        /// Images of a kept source left out for lacking the prefix (`tripleo-ansible-ee`).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        without_prefix: Vec<String>,
        /// Where the excludes came from (`exclude_containers.master.centos9`, …).
        excluded_by: Vec<String>,
        /// The promoter's `ppc_containers_list`, shown beside this project's (README, "Running
        /// alone"): the full list minus the ppc excludes, or empty when the release has none.
        promoter_ppc_containers: Vec<String>,
    },
}

impl std::fmt::Display for ListOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListOrigin::Given { file: Some(p) } => write!(f, "given ({p})"),
            ListOrigin::Given { file: None } => write!(f, "given"),
            ListOrigin::Zuul {
                job_name, log_file, ..
            } => write!(f, "zuul {job_name}: {log_file}"),
            ListOrigin::TripleoCommon {
                containers_yaml,
                excludes,
                ..
            } => match excludes {
                Some(x) => write!(f, "tripleo_common {containers_yaml} minus {x}"),
                None => write!(f, "tripleo_common {containers_yaml}"),
            },
        }
    }
}

/// Where the hash came from.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum HashOrigin {
    Forced,
    Dlrn {
        api_entry: String,
        label: String,
        repo_url: Option<String>,
    },
    BuildLog {
        log_file: String,
    },
}

impl std::fmt::Display for HashOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HashOrigin::Forced => write!(f, "forced"),
            HashOrigin::Dlrn { api_entry, label, .. } => write!(f, "DLRN {api_entry} label {label}"),
            HashOrigin::BuildLog { log_file } => write!(f, "build log {log_file}"),
        }
    }
}

/// An entry turned into promotion arguments, and where its list and hash came from.
#[derive(Clone, Debug, Serialize)]
pub struct ResolvedRelease {
    pub name: String,
    pub full_hash: String,
    pub hash_from: HashOrigin,
    pub containers: Vec<String>,
    pub ppc_containers: Option<Vec<String>>,
    pub list_from: ListOrigin,
    /// As set in the file (`None`: the promotion's default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_local: Option<KeepLocal>,
    /// The tag the targets get instead of `full_hash`, when it differs.
    pub push_hash: Option<String>,
    /// Things worth knowing (fallbacks taken, disagreeing hashes, images not pushed by the build).
    pub warnings: Vec<String>,
    /// Ready for [`PromoteArgs::resolve`] (never serialized: it may hold credentials).
    #[serde(skip)]
    pub args: PromoteArgs,
}

struct Resolver<'a> {
    cfg: &'a ReleasesConfig,
    e: &'a ReleaseEntry,
    fetcher: &'a Fetcher,
    args: PromoteArgs,
    forced: Option<String>,
    build: Option<BuiltContainers>,
    /// The build lookup's failure, returned again to whoever asks next (its kind kept).
    build_error: Option<std::sync::Arc<Error>>,
    dlrn: Option<PromotedHash>,
    hash: Option<(String, HashOrigin)>,
    warnings: Vec<String>,
}

impl Resolver<'_> {
    fn release(&self) -> String {
        self.args.release.clone().unwrap_or_else(|| "master".into())
    }

    fn prefix(&self) -> String {
        self.args
            .container_name_prefix
            .clone()
            .unwrap_or_else(|| tripleo_common::default_prefix(&self.release()).into())
    }

    async fn build(&mut self) -> Result<&BuiltContainers> {
        if self.build.is_none() {
            if let Some(e) = &self.build_error {
                return Err(Error::Context {
                    context: String::new(),
                    source: e.clone(),
                });
            }
            let job = self
                .e
                .job_name
                .as_deref()
                .ok_or_else(|| Error::Config("no job_name to find the latest build".into()))?;
            let api = self
                .cfg
                .zuul_api
                .as_deref()
                .ok_or_else(|| Error::Config("zuul_api is not set".into()))?;
            let strip = format!("{}-", self.prefix());
            match zuul::latest_built_containers(self.fetcher, api, job, Some(&strip)).await {
                Ok(b) => self.build = Some(b),
                Err(e) => {
                    let e = std::sync::Arc::new(e);
                    self.build_error = Some(e.clone());
                    return Err(Error::Context {
                        context: String::new(),
                        source: e,
                    });
                }
            }
        }
        Ok(self.build.as_ref().expect("set above"))
    }

    async fn dlrn(&mut self) -> Result<(String, HashOrigin)> {
        let api = self
            .e
            .api_entry
            .clone()
            .or(self.cfg.dlrn_api.clone())
            .ok_or_else(|| Error::Config("no DLRN API (api_entry / dlrn_api) to ask for the hash".into()))?;
        let label = self.cfg.dlrn_label(self.e, &self.args);
        let p = dlrn::promoted_hash(self.fetcher, &api, &label).await?;
        let out = (
            p.hash.clone(),
            HashOrigin::Dlrn {
                api_entry: api,
                label,
                repo_url: p.repo_url.clone(),
            },
        );
        self.dlrn = Some(p);
        Ok(out)
    }

    /// The hash, by the rules in the module doc (memoized).
    async fn hash(&mut self) -> Result<(String, HashOrigin)> {
        if let Some(h) = &self.hash {
            return Ok(h.clone());
        }
        let h = if let Some(f) = &self.forced {
            (f.clone(), HashOrigin::Forced)
        } else {
            match self.e.hash_source {
                Some(HashSource::Given) => {
                    return Err(Error::Config(
                        "hash_source is given but no hash is: set full_hash or pass --hash".into(),
                    ))
                }
                Some(HashSource::Dlrn) => self.dlrn().await?,
                Some(HashSource::BuildLog) => {
                    let b = self.build().await?;
                    (
                        b.hash.clone(),
                        HashOrigin::BuildLog {
                            log_file: b.log_file.clone(),
                        },
                    )
                }
                None => {
                    if let Some(b) = &self.build {
                        (
                            b.hash.clone(),
                            HashOrigin::BuildLog {
                                log_file: b.log_file.clone(),
                            },
                        )
                    } else if self.e.api_entry.is_some() || self.cfg.dlrn_api.is_some() {
                        self.dlrn().await?
                    } else if self.e.job_name.is_some() {
                        let b = self.build().await?;
                        (
                            b.hash.clone(),
                            HashOrigin::BuildLog {
                                log_file: b.log_file.clone(),
                            },
                        )
                    } else {
                        return Err(Error::Config(
                            "no way to find the hash: set full_hash (or pass --hash), api_entry (DLRN) \
                             or job_name (the build log)"
                                .into(),
                        ));
                    }
                }
            }
        };
        validate_full_hash(&h.0)?;
        self.hash = Some(h.clone());
        Ok(h)
    }

    async fn list(&mut self, c: ContainersSource) -> Result<(Vec<String>, Option<Vec<String>>, ListOrigin)> {
        match c {
            ContainersSource::Given => {
                if let Some(c) = &self.args.containers {
                    return Ok((
                        c.clone(),
                        self.args.ppc_containers.clone(),
                        ListOrigin::Given { file: None },
                    ));
                }
                let f =
                    self.args.containers_list_file.clone().ok_or_else(|| {
                        Error::Config("no containers nor containers_list_file given".into())
                    })?;
                let l = parse_list_file(&f)?;
                Ok((
                    l.containers,
                    self.args.ppc_containers.clone().or(l.ppc_containers),
                    ListOrigin::Given {
                        file: Some(f.display().to_string()),
                    },
                ))
            }
            ContainersSource::Zuul => {
                let b = self.build().await?.clone();
                if !b.not_pushed.is_empty() {
                    self.warnings.push(format!(
                        "the build log shows images that were not pushed (left out): {}",
                        b.not_pushed.join(", ")
                    ));
                }
                Ok((
                    b.names.clone(),
                    self.args.ppc_containers.clone(),
                    ListOrigin::Zuul {
                        job_name: b.job_name.clone(),
                        build_uuid: b.build_uuid.clone(),
                        log_file: b.log_file.clone(),
                        not_pushed: b.not_pushed.clone(),
                    },
                ))
            }
            ContainersSource::TripleoCommon => self.tripleo_common().await,
        }
    }

    async fn tripleo_common(&mut self) -> Result<(Vec<String>, Option<Vec<String>>, ListOrigin)> {
        let fixed = self
            .e
            .tripleo_containers_yaml
            .clone()
            .or(self.cfg.tripleo_containers_yaml.clone());
        let (containers_yaml, commit, versions_csv) = match fixed {
            Some(y) => (y, None, None),
            None => {
                let (sha, csv) = match &self.e.tripleo_common_commit {
                    Some(c) => (c.clone(), None),
                    None => {
                        let (hash, origin) = self.hash().await?;
                        let from_dlrn = match (&origin, &self.dlrn) {
                            (HashOrigin::Dlrn { .. }, Some(p)) if p.repo_url.is_some() => {
                                Some(p.versions_csv_url()?)
                            }
                            _ => None,
                        };
                        let url = match from_dlrn {
                            Some(u) => u,
                            None => {
                                let repo = self
                                    .e
                                    .dlrn_repo_url
                                    .clone()
                                    .or(self.cfg.dlrn_repo_url.clone())
                                    .ok_or_else(|| {
                                        Error::Config(format!(
                                            "cannot find the tripleo-common commit of hash {hash}: set \
                                             dlrn_repo_url (the DLRN repository, e.g. \
                                             https://trunk.rdoproject.org/centos9-master), \
                                             tripleo_common_commit or tripleo_containers_yaml"
                                        ))
                                    })?;
                                tripleo_common::versions_csv_url(&repo, &commit_dir(&hash)?)?
                            }
                        };
                        let sha = tripleo_common::fetch_tripleo_common_sha(self.fetcher, &url).await?;
                        (sha, Some(crate::sources::http::redact(&url)))
                    }
                };
                let base = self
                    .cfg
                    .tripleo_common_url
                    .clone()
                    .unwrap_or_else(|| DEFAULT_TRIPLEO_COMMON_URL.into());
                let rules = tripleo_common::ReleaseRules::for_release(&self.release())?;
                let url = tripleo_common::tripleo_containers_url(&base, &sha, &rules.containers_path)?;
                (url.to_string(), Some(sha), csv)
            }
        };
        let excludes = self
            .e
            .excludes_yaml
            .clone()
            .or(self.cfg.excludes_yaml.clone())
            .unwrap_or_else(|| DEFAULT_EXCLUDES_URL.into());
        let excludes = (excludes != "none").then_some(excludes);
        let q = TripleoCommonQuery {
            containers_yaml,
            excludes_yaml: excludes,
            release: self.release(),
            distro: format!(
                "{}{}",
                self.args.distro_name.as_deref().unwrap_or("centos"),
                self.args.distro_version.as_deref().unwrap_or("9")
            ),
            keep_all_sources: self.e.keep_all_sources.or(self.cfg.keep_all_sources),
        };
        let l = tripleo_common::fetch_container_lists(self.fetcher, &q).await?;
        if l.excludes.containers_defaulted {
            self.warnings.push(format!(
                "release {} is not in the exclude file: master's excludes applied, as tripleo-ci's \
                 build does (the promoter would exclude nothing)",
                l.rules.excludes_release
            ));
        }
        let ppc = self.args.ppc_containers.clone().or(l.lists.ppc_containers);
        Ok((
            l.lists.containers,
            ppc,
            ListOrigin::TripleoCommon {
                containers_yaml: l.containers_source,
                excludes: l.excludes_source,
                commit,
                versions_csv,
                listed: l.listed,
                without_prefix: l.without_prefix,
                excluded_by: [l.excludes.containers_from, l.excludes.ppc_containers_from]
                    .into_iter()
                    .flatten()
                    .collect(),
                promoter_ppc_containers: l.promoter_ppc_containers,
            },
        ))
    }
}

/// Turn entry `idx` into promotion arguments: find its list and hash (fetching from Zuul, DLRN,
/// tripleo-common as needed). Errors name the file and the entry.
pub async fn resolve_release(
    cfg: &ReleasesConfig,
    idx: usize,
    ov: &Overrides,
    fetcher: &Fetcher,
) -> Result<ResolvedRelease> {
    let e = cfg
        .releases
        .get(idx)
        .ok_or_else(|| cfg_err(&cfg.file, format!("releases[{idx}]: no such entry")))?;
    // What failed keeps its kind: a network failure of Zuul is not invalid input.
    let wrap = |x: Error| x.context(format!("{}: releases[{idx}] ({})", cfg.file, e.name));
    resolve_inner(cfg, e, ov, fetcher).await.map_err(wrap)
}

async fn resolve_inner(
    cfg: &ReleasesConfig,
    e: &ReleaseEntry,
    ov: &Overrides,
    fetcher: &Fetcher,
) -> Result<ResolvedRelease> {
    let mut args = ov.args.clone().or(cfg.entry_args(e));
    let forced = ov.full_hash.clone().or(args.full_hash.take());
    if let Some(h) = &forced {
        validate_full_hash(h)?;
    }
    let push_hash = ov.push_hash.clone().or(e.options.push_hash.clone());
    if let Some(p) = &push_hash {
        validate_tag(p).map_err(|x| Error::Config(format!("push_hash: {x}")))?;
    }
    let has_list = args.containers.is_some() || args.containers_list_file.is_some();
    let mut r = Resolver {
        cfg,
        e,
        fetcher,
        args,
        forced,
        build: None,
        build_error: None,
        dlrn: None,
        hash: None,
        warnings: Vec::new(),
    };
    let cands = candidates(e, has_list);
    let explicit = e.containers_source.is_some();
    let mut failures: Vec<String> = Vec::new();
    let mut first_error = None;
    let mut found = None;
    for c in cands {
        match r.list(c).await {
            Ok((names, ppc, origin)) if !names.is_empty() => {
                found = Some((names, ppc, origin));
                break;
            }
            Ok(_) => {
                let msg = format!("{}: the container list is empty", c.as_str());
                if explicit {
                    return Err(Error::Config(msg));
                }
                failures.push(msg);
            }
            Err(x) if explicit => return Err(x),
            Err(x) => {
                tracing::warn!(release = %e.name, source = c.as_str(), error = %x, "container list source failed; trying the next");
                failures.push(format!("{}: {x}", c.as_str()));
                first_error.get_or_insert(x);
            }
        }
    }
    let Some((containers, ppc, list_from)) = found else {
        let message = format!("no container list: {}", failures.join("; "));
        // The kind of the first source's failure (Zuul down is not invalid input).
        return Err(match first_error {
            Some(x) => Error::Several {
                message,
                first: std::sync::Arc::new(x),
            },
            None => Error::Config(message),
        });
    };
    for f in &failures {
        r.warnings.push(format!("fell back past {f}"));
    }
    let (full_hash, hash_from) = r.hash().await?;
    if let (Some(b), HashOrigin::Dlrn { .. } | HashOrigin::Forced) = (&r.build, &hash_from) {
        if matches!(list_from, ListOrigin::Zuul { .. }) && b.hash != full_hash {
            r.warnings.push(format!(
                "the list comes from a build of {} but the promoted hash is {full_hash}",
                b.hash
            ));
        }
    }
    let mut args = r.args;
    args.full_hash = Some(full_hash.clone());
    args.containers = Some(containers.clone());
    args.ppc_containers = ppc.clone();
    args.containers_list_file = None;
    Ok(ResolvedRelease {
        name: e.name.clone(),
        full_hash,
        hash_from,
        containers,
        ppc_containers: ppc,
        list_from,
        keep_local: cfg.keep_local(e),
        push_hash: push_hash.filter(|p| Some(p) != args.full_hash.as_ref()),
        warnings: r.warnings,
        args,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names serde's derived code takes for a face's own keys: each given key is accepted, and
    /// what it lists on an unknown key.
    fn own_names<T>(
        own: impl Fn(&str) -> std::result::Result<T, serde_norway::Error>,
        given: &[&str],
    ) -> Vec<String> {
        for k in given {
            if let Err(e) = own(&format!("{k}: null\n")) {
                assert!(!e.to_string().contains("unknown field"), "{k}: {e}");
            }
        }
        let e = own("zz_unknown: 1\n").err().unwrap().to_string();
        let list = e
            .split("expected one of ")
            .nth(1)
            .unwrap_or_else(|| panic!("{e}"));
        list.split('`').skip(1).step_by(2).map(str::to_string).collect()
    }

    /// The embeddings' lists of own keys are the structs' own: a key added to a struct and not to
    /// its list would be read as an option or refused.
    #[test]
    fn own_key_lists_match_the_structs() {
        let entry = |t: &str| ReleaseEntry::deserialize(serde_norway::Deserializer::from_str(t));
        let file = |t: &str| ReleasesConfig::deserialize(serde_norway::Deserializer::from_str(t));
        for (face, derived) in [
            (&ENTRY_KEYS, own_names(entry, ENTRY_KEYS.own)),
            (&FILE_KEYS, own_names(file, FILE_KEYS.own)),
        ] {
            for n in &derived {
                assert!(face.own.contains(&n.as_str()), "{n} missing from {:?}", face.own);
            }
        }
        // An option's key, through the whole entry: into `options`, renamed where the file says.
        let e: ReleaseEntry = serde_norway::from_str(
            "name: a\nprefix: p\nfrom_namespace: ns\nx86_tag: x\nkeep_local: always\n",
        )
        .unwrap();
        assert_eq!(e.options.container_name_prefix.as_deref(), Some("p"));
        assert_eq!(e.options.source_namespace.as_deref(), Some("ns"));
        assert_eq!(e.options.x86_tag.as_deref(), Some("x"));
        assert_eq!(
            (e.keep_local, e.options.keep_local),
            (Some(KeepLocal::Always), None)
        );
    }

    #[test]
    fn copy_quay_release_names() {
        assert_eq!(
            split_copy_quay_release("mastercentos9"),
            ("master".into(), Some(("centos".into(), "9".into())))
        );
        assert_eq!(
            split_copy_quay_release("wallabycentos8"),
            ("wallaby".into(), Some(("centos".into(), "8".into())))
        );
        assert_eq!(split_copy_quay_release("master"), ("master".into(), None));
        assert_eq!(split_copy_quay_release("centos9"), ("centos9".into(), None));
    }

    #[test]
    fn error_paths() {
        let y = "releases:\n- name: a\n  source_registry: {host: q.io, password: [98765]}\n";
        let e: serde_norway::Error = serde_norway::from_str::<ReleasesConfig>(y).unwrap_err();
        let m = yaml_error("f.yaml", &e).to_string();
        assert!(
            m.starts_with("f.yaml: releases[0].source_registry.password: "),
            "{m}"
        );
        assert!(!m.contains("98765"), "{m}");
    }
}
