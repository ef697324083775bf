//! Checking a releases file before anything runs: its relative paths taken from the file's folder,
//! then everything that can be checked without the network or the environment (URLs, labels,
//! hashes, job names, names unique, where each entry's list and hash can come from, registries and
//! their credentials given as references). The first problem is reported, naming the file and the
//! key (`releases[2].api_entry`). Apart from the shapes ([`super::file`]) so that what a file may
//! say and what it must satisfy read separately.

use std::path::{Path, PathBuf};

use super::cfg_err;
use super::file::{ReleaseEntry, ReleasesConfig};
use super::ALL;
use crate::error::{Error, Result};
use crate::promote::RegistryArgs;
use crate::reference::validate_tag;
use crate::sources::dlrn;
use crate::sources::hash::{validate_full_hash, validate_git_sha};
use crate::sources::http::{base_url, Location};
use crate::sources::release::{ContainersSource, HashSource};
use crate::sources::zuul;

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
    pub(super) fn finish(&mut self, base: Option<&Path>) -> Result<()> {
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
    pub(super) fn validate(&self) -> Result<()> {
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
