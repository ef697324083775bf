//! copy-quay's config file (`zuul_api`, `pull_registry`, `push_registry`, `entries:` of `name`,
//! `release`, `job_name`, `api_entry`, `from_namespace`, `to_namespace`), as ci-config holds it for
//! copy-quay's cron jobs, read into the releases file's model ([`ReleasesConfig`]) so that the same
//! file drives `promote --config`, `releases --config` and `copy-quay --config` unchanged; and
//! copy-quay's command line ([`CopyQuayJob`]: its flags over the file, its two steps) turned into an
//! entry and [`Overrides`] the verbs run. It exists apart from the releases file's own shape because
//! copy-quay's keys and its release names (`mastercentos9`, `train8`) mean other things than ours.
//!
//! An entry carries no distribution: it shows in its release name (`mastercentos9`), else in its
//! job name (`…-centos-8-…`, `…-ubi-9-…`) or API entry (`api-centos8-wallaby`), else the release's
//! default applies ([`entry_release`]). One key is ours, `quay_api`: the Quay API copy-quay called
//! (always `https://quay.io/api/v1/`, [`QUAY_API`]); it is used for the push registry on its host.

use std::path::PathBuf;

use super::file::{ReleaseEntry, ReleasesConfig};
use super::plan::Overrides;
use super::{cfg_err, yaml_error, DEFAULT_NAMED_LABEL};
use crate::error::{Error, Result};
use crate::options::flexible::{self, opt_string};
use crate::promote::{PromoteArgs, RegistryArgs};
use crate::sources::http::base_url;
use crate::sources::release::{ContainersSource, HashSource};
use crate::sources::tripleo_common;
use crate::transport::Secret;
use serde::Deserialize;

/// The Quay API copy-quay called, whatever the push registry.
pub const QUAY_API: &str = "https://quay.io/api/v1/";

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
    /// Ours: the Quay API of the push registry (default [`QUAY_API`]).
    #[serde(default)]
    quay_api: Option<String>,
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

/// A copy-quay text, read into the releases model (paths and validation are the caller's).
pub(super) fn parse(file: &str, text: &str) -> Result<ReleasesConfig> {
    let q: CopyQuayConfig = serde_norway::from_str(text).map_err(|e| yaml_error(file, &e))?;
    Ok(from_copy_quay(q))
}

/// The distributions a name may carry, and what the releases' lists call them: UBI images are built
/// for CentOS (tripleo-ci's exclude lists say `centos9` for the `ubi-9` jobs), RHEL is `redhat`.
const DISTROS: [(&str, &str); 4] = [
    ("centos", "centos"),
    ("rhel", "redhat"),
    ("redhat", "redhat"),
    ("ubi", "centos"),
];

fn distro_name(d: &str) -> Option<&'static str> {
    DISTROS
        .iter()
        .find(|(n, _)| *n == d)
        .map(|(_, as_named)| *as_named)
}

/// copy-quay's `release: mastercentos9` → (`master`, `centos`, `9`).
pub fn split_copy_quay_release(release: &str) -> (String, Option<(String, String)>) {
    for (distro, _) in DISTROS {
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

/// A distribution and version in a job name or an API entry: `-centos-8-`, `-ubi-9-` (words
/// apart), or `centos8`, `centos9` (one word), the last path element of a URL only.
fn distro_in(text: &str) -> Option<(&'static str, String)> {
    let last = text.trim_end_matches('/').rsplit('/').next().unwrap_or(text);
    let words: Vec<&str> = last.split(['-', '_', '.']).collect();
    for (i, w) in words.iter().enumerate() {
        if let (Some(d), Some(v)) = (distro_name(w), words.get(i + 1)) {
            if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
                return Some((d, v.to_string()));
            }
        }
        for (name, as_named) in DISTROS {
            if let Some(v) = w.strip_prefix(name) {
                if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
                    return Some((as_named, v.to_string()));
                }
            }
        }
    }
    None
}

/// The release, distribution and version of a copy-quay entry, each `None` when nothing says it
/// (the release's default applies): the release name first (`mastercentos9` → master, centos, 9;
/// `train8` → train, version 8: copy-quay's names for a release on another CentOS), then the job
/// name (`…-centos-8-…`, `…-ubi-9-…`), then the API entry (`api-centos8-wallaby`).
pub fn entry_release(
    release: Option<&str>,
    job_name: Option<&str>,
    api_entry: Option<&str>,
) -> (Option<String>, Option<String>, Option<String>) {
    let Some(release) = release else {
        return (None, None, None);
    };
    let (rel, named) = split_copy_quay_release(release);
    if let Some((d, v)) = named {
        return (Some(rel), distro_name(&d).map(str::to_string), Some(v));
    }
    // `train8`: letters then digits, the digits the distribution's version.
    let digits = rel.bytes().rev().take_while(u8::is_ascii_digit).count();
    let (rel, version) = match rel.split_at(rel.len() - digits) {
        (r, v) if !v.is_empty() && !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphabetic()) => {
            (r.to_string(), Some(v.to_string()))
        }
        _ => (rel, None),
    };
    let found = [job_name, api_entry].into_iter().flatten().find_map(distro_in);
    match (found, version) {
        (Some((d, _)), Some(v)) => (Some(rel), Some(d.to_string()), Some(v)),
        (Some((d, v)), None) => (Some(rel), Some(d.to_string()), Some(v)),
        (None, v) => (Some(rel), None, v),
    }
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
    let mut target = reg(q.push_registry);
    if let Some(t) = &mut target {
        t.quay_api = Some(q.quay_api.unwrap_or_else(|| QUAY_API.into()));
    }
    ReleasesConfig {
        zuul_api: q.zuul_api,
        options: PromoteArgs {
            source_registry: reg(q.pull_registry),
            target_registries: target.map(|r| vec![r]),
            ..Default::default()
        },
        releases: q
            .entries
            .into_iter()
            .map(|e| {
                let (release, distro_name, distro_version) = entry_release(
                    e.release.as_deref(),
                    e.job_name.as_deref(),
                    e.api_entry.as_deref(),
                );
                ReleaseEntry {
                    name: e.name,
                    job_name: e.job_name,
                    api_entry: e.api_entry,
                    options: PromoteArgs {
                        release,
                        distro_name,
                        distro_version,
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

/// copy-quay's two steps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// `copy`: the images at the hash from the pull registry to the push registry, no label.
    Copy,
    /// `tag`: `label` on the push registry's images at DLRN's hash (or `--force-hash`).
    Tag { label: String },
}

/// Where the Quay token comes from (copy-quay had `--token` only, which shows in a process list).
#[derive(Clone, Debug)]
pub enum Token {
    Value(Secret),
    File(PathBuf),
    Env(String),
}

impl Token {
    /// A token given inline (`--token`): masked in every output from now on, used or not.
    pub fn inline(value: String) -> Token {
        crate::report::remember_secret(&value);
        Token::Value(Secret::new(value))
    }
}

/// copy-quay's command line, its meaning kept: the flags override the file's values for the entry
/// `--release` names.
#[derive(Clone, Debug, Default)]
pub struct CopyQuayJob {
    pub release: String,
    pub zuul_api: Option<String>,
    pub pull_registry: Option<String>,
    pub push_registry: Option<String>,
    pub from_namespace: Option<String>,
    pub to_namespace: Option<String>,
    pub job: Option<String>,
    /// `--hash` (copy: forced) or `--force-hash` (tag).
    pub hash: Option<String>,
    /// `--push-hash` (copy).
    pub push_hash: Option<String>,
    pub token: Option<Token>,
    /// Repository names given as arguments (`openstack-nova-compute`): these alone.
    pub images: Vec<String>,
    /// The HTML report (the JSON one beside it).
    pub html: Option<PathBuf>,
}

/// What a copy-quay command line runs: the file with the flags applied to the entry, the entry's
/// index, what the command line adds, and whether the push registry's Quay API is used (a token is
/// given for the registry on the API's host).
#[derive(Clone, Debug)]
pub struct CopyQuayRun {
    pub config: ReleasesConfig,
    pub index: usize,
    pub overrides: Overrides,
    pub quay_api: bool,
}

impl CopyQuayJob {
    /// Apply the flags to `cfg` for `step`; a flag, entry or combination that cannot run is an
    /// error naming it (nothing was fetched).
    pub fn run(&self, cfg: &ReleasesConfig, step: &Step) -> Result<CopyQuayRun> {
        let mut cfg = cfg.clone();
        let (index, _) = cfg.entry(&self.release)?;
        if self.zuul_api.is_some() {
            cfg.zuul_api = self.zuul_api.clone();
        }
        let quay_api = self.registries(&mut cfg)?;
        let given = self.given_names(&cfg, index)?;
        let e = &mut cfg.releases[index];
        if self.job.is_some() {
            e.job_name = self.job.clone();
        }
        if self.from_namespace.is_some() {
            e.options.source_namespace = self.from_namespace.clone();
        }
        if self.to_namespace.is_some() {
            e.options.target_namespace = self.to_namespace.clone();
        }
        e.containers_source = Some(match given {
            Some(_) => ContainersSource::Given,
            None => ContainersSource::Zuul,
        });
        let has_given = given.is_some();
        e.options.containers = given;
        if let Step::Tag { .. } = step {
            // copy-quay asks DLRN for current-tripleo's hash whatever label it puts.
            e.dlrn_label = Some(DEFAULT_NAMED_LABEL.into());
        }
        e.hash_source = Some(match step {
            Step::Copy if has_given => HashSource::Given,
            Step::Copy => HashSource::BuildLog,
            Step::Tag { .. } => HashSource::Dlrn,
        });
        let at = |k: &str| format!("--release {}: {k}", self.release);
        if has_given && self.hash.is_none() && *step == Step::Copy {
            return Err(cfg_err(
                &cfg.file,
                format!(
                    "{}: you must specify a hash (--hash) if you are copying specific images",
                    at("IMAGE")
                ),
            ));
        }
        if !has_given && cfg.releases[index].job_name.is_none() {
            return Err(cfg_err(
                &cfg.file,
                format!(
                    "{}: the entry has no job_name to find the latest build (or give --job)",
                    at("job_name")
                ),
            ));
        }
        if let (Step::Tag { .. }, None, None) = (step, &self.hash, &cfg.releases[index].api_entry) {
            return Err(cfg_err(
                &cfg.file,
                format!(
                    "{}: tag needs DLRN's hash: the entry has no api_entry (or give --force-hash)",
                    at("api_entry")
                ),
            ));
        }
        cfg.validate()?;
        let mut args = PromoteArgs {
            keep_local: Some("never".into()),
            report_html: self.html.clone(),
            report_json: self.html.as_ref().map(|h| h.with_extension("json")),
            ..Default::default()
        };
        let mut push_hash = self.push_hash.clone();
        if let Step::Tag { label } = step {
            args.named_label = Some(label.clone());
            push_hash = None;
        }
        Ok(CopyQuayRun {
            config: cfg,
            index,
            overrides: Overrides {
                full_hash: self.hash.clone(),
                push_hash,
                args,
            },
            quay_api,
        })
    }

    /// `--pull-registry`, `--push-registry`, and the push registry's Quay API when a token is given
    /// for its host. Returns whether the API is used.
    fn registries(&self, cfg: &mut ReleasesConfig) -> Result<bool> {
        let file = cfg.file.clone();
        let o = &mut cfg.options;
        if let (Some(h), Some(s)) = (&self.pull_registry, &mut o.source_registry) {
            s.host = h.clone();
        } else if let Some(h) = &self.pull_registry {
            o.source_registry = Some(RegistryArgs {
                host: h.clone(),
                ..Default::default()
            });
        }
        let Some(targets) = &mut o.target_registries else {
            return Err(cfg_err(&file, "push_registry: missing (or give --push-registry)"));
        };
        let t = &mut targets[0];
        if let Some(h) = &self.push_registry {
            t.host = h.clone();
        }
        let api = t.quay_api.clone().unwrap_or_else(|| QUAY_API.into());
        let api_url = base_url("quay_api", &api).map_err(|e| cfg_err(&file, format!("quay_api: {e}")))?;
        let api_host = match (api_url.host_str(), api_url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => String::new(),
        };
        let host = t.host.trim_start_matches("https://").trim_end_matches('/');
        let Some(token) = &self.token else {
            return Ok(false);
        };
        if host != api_host {
            tracing::info!(push_registry = host, quay_api = %api_host, "the Quay token is for another registry: no repository is created and tags move through the registry API");
            return Ok(false);
        }
        t.create_repo = Some(true);
        t.quay_api = Some(api);
        match token {
            Token::Value(s) => t.token = Some(s.clone()),
            Token::File(f) => t.token_file = Some(f.clone()),
            Token::Env(v) => t.token_env = Some(v.clone()),
        }
        Ok(true)
    }

    /// The images given, as the entry's container names (the release's prefix taken off).
    fn given_names(&self, cfg: &ReleasesConfig, index: usize) -> Result<Option<Vec<String>>> {
        if self.images.is_empty() {
            return Ok(None);
        }
        let args = cfg.entry_args(&cfg.releases[index]);
        let release = args.release.as_deref().unwrap_or(tripleo_common::DEFAULT_RELEASE);
        let prefix = args
            .container_name_prefix
            .unwrap_or_else(|| tripleo_common::default_prefix(release).into());
        let names = self
            .images
            .iter()
            .map(|i| {
                i.strip_prefix(&format!("{prefix}-"))
                    .filter(|n| !n.is_empty())
                    .map(str::to_string)
                    .ok_or_else(|| {
                        Error::Config(format!(
                            "image {i:?}: release {release}'s images are named {prefix}-<name>; \
                             copy another image with `copy-containers copy SRC DST`"
                        ))
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(names))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn er(r: &str, job: Option<&str>, api: Option<&str>) -> (Option<String>, Option<String>, Option<String>) {
        entry_release(Some(r), job, api)
    }

    fn t(r: &str, d: Option<&str>, v: Option<&str>) -> (Option<String>, Option<String>, Option<String>) {
        (Some(r.into()), d.map(Into::into), v.map(Into::into))
    }

    #[test]
    fn distribution_from_the_name_then_the_job_then_the_api_entry() {
        let job8 = Some("periodic-tripleo-ci-build-containers-centos-8-quay-push-wallaby");
        let ubi9 = Some("periodic-tripleo-ci-build-containers-ubi-9-quay-push-master");
        // The name says it: it wins.
        assert_eq!(
            er("mastercentos9", job8, None),
            t("master", Some("centos"), Some("9"))
        );
        assert_eq!(
            er("masterrhel9", None, None),
            t("master", Some("redhat"), Some("9"))
        );
        // The job, then the API entry.
        assert_eq!(er("wallaby", job8, None), t("wallaby", Some("centos"), Some("8")));
        assert_eq!(er("master", ubi9, None), t("master", Some("centos"), Some("9")));
        let api = Some("https://trunk.rdoproject.org/api-centos8-wallaby");
        assert_eq!(er("wallaby", None, api), t("wallaby", Some("centos"), Some("8")));
        assert_eq!(
            er("wallaby", Some("periodic-build"), api),
            t("wallaby", Some("centos"), Some("8"))
        );
        // `train8`: the version in the name, the distribution from the job.
        assert_eq!(er("train8", job8, None), t("train", Some("centos"), Some("8")));
        assert_eq!(er("train8", None, None), t("train", None, Some("8")));
        // Nothing says it: the release's default.
        assert_eq!(
            er("master", None, Some("https://dlrn.example/api-master")),
            t("master", None, None)
        );
        assert_eq!(er("osp17-1", None, None), t("osp17-1", None, None));
        assert_eq!(entry_release(None, job8, None), (None, None, None));
        // A host name is not read for a distribution.
        assert_eq!(
            er("zed", None, Some("https://centos9.example/api")),
            t("zed", None, None)
        );
    }
}
