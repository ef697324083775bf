//! The releases file's shapes: the file's global settings ([`ReleasesConfig`]) and its entries
//! ([`ReleaseEntry`]), the keys each takes ([`ENTRY_KEYS`], [`FILE_KEYS`]: their own, and the
//! promotion's options they embed through [`crate::promote::embed`]), and what a config file holds
//! ([`ConfigFile`], [`Shape`]). Types and the lookups on them only: reading a text is the module's
//! ([`super::parse`]), checking it [`super::validate`]'s, planning and resolving an entry
//! [`super::plan`]'s and [`super::resolve`]'s.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use super::{cfg_err, ALL};
use crate::error::Result;
use crate::options::flexible::{self, opt_bool};
use crate::promote::embed::{self, Embedding, Embeds};
pub use crate::promote::model::KeepLocal;
use crate::promote::PromoteArgs;
use crate::sources::http::{Fetcher, HttpOptions};
use crate::sources::release::{ContainersSource, HashSource};

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

impl ReleasesConfig {
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

    /// The keep-local policy of an entry, when the file sets one (else the promotion's default).
    pub fn keep_local(&self, e: &ReleaseEntry) -> Option<KeepLocal> {
        e.keep_local.or(self.keep_local)
    }
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
}
