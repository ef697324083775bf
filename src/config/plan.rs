//! Planning an entry without fetching anything: its promotion fields (the entry's options over the
//! file's, then the releases files' defaults: [`ReleasesConfig::entry_args`]), and where its list
//! and hash would come from, in the order tried, and where the images go ([`Plan`], what `releases
//! --no-fetch` shows). [`Overrides`] is what the command line adds to every entry. The fetching
//! itself is [`super::resolve`]'s (through [`crate::sources::release`]).

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::file::{ReleaseEntry, ReleasesConfig};
use super::DEFAULT_NAMED_LABEL;
use crate::promote::{PromoteArgs, RegistryArgs};
use crate::sources::release::{list_candidates, ContainersSource, HashSource};
use crate::sources::tripleo_common;

impl ReleasesConfig {
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

    /// Where the list and the hash would come from, and where the images go, without fetching
    /// anything.
    pub fn plan(&self, e: &ReleaseEntry, ov: &Overrides) -> Plan {
        let args = ov.args.clone().or(self.entry_args(e));
        let has_list = args.containers.is_some() || args.containers_list_file.is_some();
        let list = list_candidates(e.containers_source, has_list, e.job_name.is_some())
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

    pub(super) fn dlrn_label(&self, e: &ReleaseEntry, args: &PromoteArgs) -> String {
        e.dlrn_label
            .clone()
            .or(args.named_label.clone())
            .unwrap_or_else(|| DEFAULT_NAMED_LABEL.into())
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
