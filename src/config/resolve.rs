//! Resolving an entry: its plan ([`super::plan`]) turned into a [`ReleaseQuery`], the list and the
//! hash found through [`crate::sources::release`] (the network part, with the sources it drives),
//! and what was found merged back into the promotion's arguments ([`ResolvedRelease`]). Errors name
//! the file and the entry.

use serde::Serialize;

use super::cfg_err;
use super::file::{KeepLocal, ReleaseEntry, ReleasesConfig};
use super::plan::Overrides;
use crate::error::{Error, Result};
use crate::promote::PromoteArgs;
use crate::reference::validate_tag;
use crate::sources::hash::validate_full_hash;
use crate::sources::http::Fetcher;
use crate::sources::release::{self, HashOrigin, ListOrigin, ReleaseQuery};
use crate::sources::tripleo_common;

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

impl ResolvedRelease {
    /// Where its list and hash came from, as the command line shows it (one line each).
    pub fn lines(&self) -> Vec<String> {
        let ppc = self.ppc_containers.as_ref();
        let with_ppc = ppc.map(|p| format!(" ({} with ppc64le)", p.len()));
        let mut out = vec![format!(
            "list: {} containers{} from {}",
            self.containers.len(),
            with_ppc.unwrap_or_default(),
            self.list_from
        )];
        out.extend(self.tripleo_common_lines());
        out.push(format!("hash: {} ({})", self.full_hash, self.hash_from));
        if let Some(k) = self.keep_local {
            out.push(format!("keep_local: {}", k.as_str()));
        }
        out.extend(self.warnings.iter().map(|w| format!("warning: {w}")));
        out
    }

    /// For a list from tripleo-common: what was left out, and both ppc64le lists (docs/cli.md, "Running
    /// alone": this project's goes to the list files, the promoter's is shown for comparison).
    fn tripleo_common_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let ListOrigin::TripleoCommon {
            without_prefix,
            excluded_by,
            promoter_ppc_containers: promoter,
            ..
        } = &self.list_from
        else {
            return out;
        };
        if !excluded_by.is_empty() {
            out.push(format!("excludes: {}", excluded_by.join(", ")));
        }
        if !without_prefix.is_empty() {
            let left = without_prefix.join(", ");
            out.push(format!("left out (no prefix, as the promoter does): {left}"));
        }
        let Some(ours) = &self.ppc_containers else {
            return out;
        };
        out.push(format!(
            "ppc64le list: {} (containers_list minus the ppc excludes; written to the list files)",
            ours.len()
        ));
        let only_promoter: Vec<&str> = promoter
            .iter()
            .filter(|n| !ours.contains(n))
            .map(String::as_str)
            .collect();
        let only_ours = ours.iter().filter(|n| !promoter.contains(n)).count();
        let how = match promoter.is_empty() {
            true => "empty: this release has no ppc excludes",
            false => "the full list minus the ppc excludes",
        };
        out.push(format!("promoter's ppc64le list: {} ({how})", promoter.len()));
        if !only_promoter.is_empty() {
            out.push(format!("  only in the promoter's: {}", only_promoter.join(", ")));
        }
        if only_ours > 0 && !promoter.is_empty() {
            out.push(format!("  only in this project's: {only_ours}"));
        }
        out
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
    let found = release::find(fetcher, &query(cfg, e, &args, forced)).await?;
    args.full_hash = Some(found.full_hash.clone());
    args.containers = Some(found.containers.clone());
    args.ppc_containers = found.ppc_containers.clone();
    args.containers_list_file = None;
    Ok(ResolvedRelease {
        name: e.name.clone(),
        full_hash: found.full_hash,
        hash_from: found.hash_from,
        containers: found.containers,
        ppc_containers: found.ppc_containers,
        list_from: found.list_from,
        keep_local: cfg.keep_local(e),
        push_hash: push_hash.filter(|p| Some(p) != args.full_hash.as_ref()),
        warnings: found.warnings,
        args,
    })
}

/// What the sources are asked for entry `e` with its promotion fields `args`: the entry's settings,
/// else the file's, else the defaults (release `master`, distro `centos9`, the release's prefix).
fn query(cfg: &ReleasesConfig, e: &ReleaseEntry, args: &PromoteArgs, forced: Option<String>) -> ReleaseQuery {
    let release = args.release.clone().unwrap_or_else(|| "master".into());
    let prefix = args
        .container_name_prefix
        .clone()
        .unwrap_or_else(|| tripleo_common::default_prefix(&release).into());
    let distro = format!(
        "{}{}",
        args.distro_name.as_deref().unwrap_or("centos"),
        args.distro_version.as_deref().unwrap_or("9")
    );
    ReleaseQuery {
        name: e.name.clone(),
        distro,
        prefix,
        containers_source: e.containers_source,
        hash_source: e.hash_source,
        forced_hash: forced,
        containers: args.containers.clone(),
        ppc_containers: args.ppc_containers.clone(),
        containers_list_file: args.containers_list_file.clone(),
        job_name: e.job_name.clone(),
        zuul_api: cfg.zuul_api.clone(),
        dlrn_api: e.api_entry.clone().or(cfg.dlrn_api.clone()),
        dlrn_label: cfg.dlrn_label(e, args),
        dlrn_repo_url: e.dlrn_repo_url.clone().or(cfg.dlrn_repo_url.clone()),
        tripleo_common_url: cfg.tripleo_common_url.clone(),
        tripleo_containers_yaml: e
            .tripleo_containers_yaml
            .clone()
            .or(cfg.tripleo_containers_yaml.clone()),
        tripleo_common_commit: e.tripleo_common_commit.clone(),
        excludes_yaml: e.excludes_yaml.clone().or(cfg.excludes_yaml.clone()),
        keep_all_sources: e.keep_all_sources.or(cfg.keep_all_sources),
        release,
    }
}
