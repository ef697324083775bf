//! Where a release's container list and hash come from, fetched: the list given, from the latest
//! successful build job in Zuul, or from tripleo-common minus tripleo-ci's excludes; the hash forced,
//! from the build log, or from a DLRN label — tried in the order a [`ReleaseQuery`] asks, each
//! source fetched once, the fallbacks taken said as warnings. It is the network half of running a
//! releases file's entry ([`crate::config`] plans the entry and turns what is found here into the
//! promotion's arguments); it lives with the sources it drives and knows nothing of the releases
//! file or the promotion's inputs, only the plain query below.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sources::dlrn::{self, PromotedHash};
use crate::sources::hash::{commit_dir, validate_full_hash};
use crate::sources::http::Fetcher;
use crate::sources::list::parse_list_file;
use crate::sources::tripleo_common::{
    self, TripleoCommonQuery, DEFAULT_EXCLUDES_URL, DEFAULT_TRIPLEO_COMMON_URL,
};
use crate::sources::zuul::{self, BuiltContainers};

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

/// The list's origins in the order they are tried: the one chosen (`explicit`), else the list
/// given (when there is one), the build job (when the entry names one), then tripleo-common.
pub fn list_candidates(
    explicit: Option<ContainersSource>,
    has_list: bool,
    has_job: bool,
) -> Vec<ContainersSource> {
    match explicit {
        Some(c) => vec![c],
        None => {
            let mut v = Vec::new();
            if has_list {
                v.push(ContainersSource::Given);
            }
            if has_job {
                v.push(ContainersSource::Zuul);
            }
            v.push(ContainersSource::TripleoCommon);
            v
        }
    }
}

/// What to look for, and where: one releases-file entry with the file's settings and its defaults
/// applied (`None`: not configured).
#[derive(Clone, Debug, Default)]
pub struct ReleaseQuery {
    /// The entry's name, for logs.
    pub name: String,
    /// The release (`master`): the tripleo-common rules and exclude lists to apply.
    pub release: String,
    /// The distribution, as the exclude lists name it (`centos9`).
    pub distro: String,
    /// The image name prefix (`openstack`): stripped from the build log's names.
    pub prefix: String,
    /// Where the list comes from, when chosen (else [`list_candidates`]' order).
    pub containers_source: Option<ContainersSource>,
    /// Where the hash comes from, when chosen.
    pub hash_source: Option<HashSource>,
    /// A forced hash: always wins.
    pub forced_hash: Option<String>,
    /// The list given, inline or as a file.
    pub containers: Option<Vec<String>>,
    pub ppc_containers: Option<Vec<String>>,
    pub containers_list_file: Option<PathBuf>,
    /// The build job and Zuul's API root.
    pub job_name: Option<String>,
    pub zuul_api: Option<String>,
    /// DLRN's API entry and the label whose hash is asked.
    pub dlrn_api: Option<String>,
    pub dlrn_label: String,
    /// DLRN's repository root, to find a hash's `versions.csv`.
    pub dlrn_repo_url: Option<String>,
    pub tripleo_common_url: Option<String>,
    pub tripleo_containers_yaml: Option<String>,
    pub tripleo_common_commit: Option<String>,
    pub excludes_yaml: Option<String>,
    pub keep_all_sources: Option<bool>,
}

/// What was found: the list and the hash, where each came from, and what is worth knowing.
#[derive(Clone, Debug)]
pub struct Found {
    pub containers: Vec<String>,
    pub ppc_containers: Option<Vec<String>>,
    pub list_from: ListOrigin,
    pub full_hash: String,
    pub hash_from: HashOrigin,
    /// Fallbacks taken, disagreeing hashes, images the build did not push.
    pub warnings: Vec<String>,
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
        /// The promoter's `ppc_containers_list`, shown beside this project's (docs/cli.md, "Running
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

struct Resolver<'a> {
    q: &'a ReleaseQuery,
    fetcher: &'a Fetcher,
    build: Option<BuiltContainers>,
    /// The build lookup's failure, returned again to whoever asks next (its kind kept).
    build_error: Option<std::sync::Arc<Error>>,
    dlrn: Option<PromotedHash>,
    hash: Option<(String, HashOrigin)>,
    warnings: Vec<String>,
}

impl Resolver<'_> {
    async fn build(&mut self) -> Result<&BuiltContainers> {
        if self.build.is_none() {
            if let Some(e) = &self.build_error {
                return Err(Error::Context {
                    context: String::new(),
                    source: e.clone(),
                });
            }
            let job = self
                .q
                .job_name
                .as_deref()
                .ok_or_else(|| Error::Config("no job_name to find the latest build".into()))?;
            let api = self
                .q
                .zuul_api
                .as_deref()
                .ok_or_else(|| Error::Config("zuul_api is not set".into()))?;
            let strip = format!("{}-", self.q.prefix);
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
        let api =
            self.q.dlrn_api.clone().ok_or_else(|| {
                Error::Config("no DLRN API (api_entry / dlrn_api) to ask for the hash".into())
            })?;
        let label = self.q.dlrn_label.clone();
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
        let h = if let Some(f) = &self.q.forced_hash {
            (f.clone(), HashOrigin::Forced)
        } else {
            match self.q.hash_source {
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
                    } else if self.q.dlrn_api.is_some() {
                        self.dlrn().await?
                    } else if self.q.job_name.is_some() {
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
                if let Some(c) = &self.q.containers {
                    return Ok((
                        c.clone(),
                        self.q.ppc_containers.clone(),
                        ListOrigin::Given { file: None },
                    ));
                }
                let f =
                    self.q.containers_list_file.clone().ok_or_else(|| {
                        Error::Config("no containers nor containers_list_file given".into())
                    })?;
                let l = parse_list_file(&f)?;
                Ok((
                    l.containers,
                    self.q.ppc_containers.clone().or(l.ppc_containers),
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
                    self.q.ppc_containers.clone(),
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
        let fixed = self.q.tripleo_containers_yaml.clone();
        let (containers_yaml, commit, versions_csv) = match fixed {
            Some(y) => (y, None, None),
            None => {
                let (sha, csv) = match &self.q.tripleo_common_commit {
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
                                let repo = self.q.dlrn_repo_url.clone().ok_or_else(|| {
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
                    .q
                    .tripleo_common_url
                    .clone()
                    .unwrap_or_else(|| DEFAULT_TRIPLEO_COMMON_URL.into());
                let rules = tripleo_common::ReleaseRules::for_release(&self.q.release)?;
                let url = tripleo_common::tripleo_containers_url(&base, &sha, &rules.containers_path)?;
                (url.to_string(), Some(sha), csv)
            }
        };
        let excludes = self
            .q
            .excludes_yaml
            .clone()
            .unwrap_or_else(|| DEFAULT_EXCLUDES_URL.into());
        let excludes = (excludes != "none").then_some(excludes);
        let q = TripleoCommonQuery {
            containers_yaml,
            excludes_yaml: excludes,
            release: self.q.release.clone(),
            distro: self.q.distro.clone(),
            keep_all_sources: self.q.keep_all_sources,
        };
        let l = tripleo_common::fetch_container_lists(self.fetcher, &q).await?;
        if l.excludes.containers_defaulted {
            self.warnings.push(format!(
                "release {} is not in the exclude file: master's excludes applied, as tripleo-ci's \
                 build does (the promoter would exclude nothing)",
                l.rules.excludes_release
            ));
        }
        let ppc = self.q.ppc_containers.clone().or(l.lists.ppc_containers);
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

/// Find the list and the hash the query asks for: the list's origins tried in order (an explicit
/// one alone: its failure is the error; otherwise a failing or empty one falls back to the next,
/// said in the warnings), then the hash (forced, chosen, or by the rules of
/// [`Resolver::hash`]), each source fetched once.
pub async fn find(fetcher: &Fetcher, q: &ReleaseQuery) -> Result<Found> {
    if let Some(h) = &q.forced_hash {
        validate_full_hash(h)?;
    }
    let has_list = q.containers.is_some() || q.containers_list_file.is_some();
    let mut r = Resolver {
        q,
        fetcher,
        build: None,
        build_error: None,
        dlrn: None,
        hash: None,
        warnings: Vec::new(),
    };
    let cands = list_candidates(q.containers_source, has_list, q.job_name.is_some());
    let explicit = q.containers_source.is_some();
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
                tracing::warn!(release = %q.name, source = c.as_str(), error = %x, "container list source failed; trying the next");
                failures.push(format!("{}: {x}", c.as_str()));
                first_error.get_or_insert(x);
            }
        }
    }
    let Some((containers, ppc_containers, list_from)) = found else {
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
    Ok(Found {
        containers,
        ppc_containers,
        list_from,
        full_hash,
        hash_from,
        warnings: r.warnings,
    })
}
