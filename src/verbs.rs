//! The user verbs, each one call from a typed request to a finished report: `promote`, `verify`,
//! `copy`, `tag`, `rollback` and a releases file's `release`. A verb runs the engine ([`crate::promote`]),
//! writes the run's reports (unless it changed nothing on purpose: a dry run, check mode) and masks
//! every secret of the promotion. The faces ([`crate::cli`], [`crate::module`]) parse their own input
//! into these requests, call one verb and render its report, so what a run does and keeps cannot
//! differ between the command line and Ansible.

use serde::Serialize;

use crate::config::{self, Overrides, ReleasesConfig, ResolvedRelease};
use crate::progress::Progress;
use crate::promote::{self, write_reports, PromoteArgs, Promotion, RegistryArgs, RunOptions};
use crate::quay::EnsureOutcome;
use crate::report::Report;

/// The end of every verb: reports written when asked, secrets masked, the outcome decided.
fn finish(p: &Promotion, mut report: Report, write: bool) -> Report {
    if write {
        write_reports(p, &mut report);
    }
    report.scrub(&p.secrets());
    report.ok = report.errors.is_empty();
    report
}

/// `promote` (with `dry_run`: what it would do, nothing written, no report files); its phases
/// reported on `progress`.
pub async fn promote(p: &Promotion, dry_run: bool, progress: &Progress) -> Report {
    let opts = RunOptions {
        dry_run,
        progress: progress.clone(),
        ..RunOptions::default()
    };
    finish(p, promote::run(p, &opts).await, !dry_run)
}

/// `copy` (copy-quay's): the promotion's images copied to its targets and read back, no label moved
/// and no list file written; a container missing at the source fails the run without stopping the
/// others. Its reports are written when `reports` (and not `dry_run`).
pub async fn copy(p: &Promotion, dry_run: bool, reports: bool, progress: &Progress) -> Report {
    let opts = RunOptions {
        dry_run,
        copy_only: true,
        progress: progress.clone(),
        ..RunOptions::default()
    };
    finish(p, promote::run(p, &opts).await, reports && !dry_run)
}

/// `verify`: reads everything back and changes nothing; its reports are written when `reports`
/// and not `dry_run` (the module's check mode writes none).
pub async fn verify(p: &Promotion, dry_run: bool, reports: bool, progress: &Progress) -> Report {
    let opts = RunOptions {
        dry_run,
        verify_only: true,
        progress: progress.clone(),
        ..RunOptions::default()
    };
    finish(p, promote::run(p, &opts).await, reports && !dry_run)
}

/// `rollback`: the label back where it was, on every registry of the promotion.
pub async fn rollback(p: &Promotion, dry_run: bool) -> Report {
    finish(p, promote::rollback::run_rollback(p, dry_run).await, !dry_run)
}

/// A `tag` request: the promotion's arguments and the registries to label (none: the source).
pub struct TagRequest {
    pub args: PromoteArgs,
    pub registries: Vec<RegistryArgs>,
    /// How the face names the registries in messages (`--registry`, `registries`).
    pub what: &'static str,
    pub dry_run: bool,
}

/// `tag`: the label on the given registries (or the source), where the images are under the hash:
/// `push_hash` on targets, `full_hash` on the source. Errors are the request's (nothing was run).
pub async fn tag(req: TagRequest) -> crate::Result<Report> {
    let mut args = req.args;
    let on_source = req.registries.is_empty();
    let regs = if on_source {
        let source = args
            .source_registry
            .clone()
            .ok_or_else(|| crate::Error::Config(format!("give {} (or the source registry)", req.what)))?;
        vec![source]
    } else {
        req.registries
    };
    if args.source_registry.is_none() {
        args.source_registry = Some(regs[0].clone());
    }
    args.target_registries_push = Some(false);
    let p = args.resolve(promote::model::read_list_file)?;
    let specs = regs
        .iter()
        .enumerate()
        .map(|(i, r)| r.resolve(&format!("{}[{i}]", req.what), Some(&p.source.namespace), 5))
        .collect::<crate::Result<Vec<_>>>()?;
    let hash = if on_source {
        p.full_hash.as_str()
    } else {
        p.target_hash()
    };
    let report = promote::tag::run_tag(&p, &specs, hash, req.dry_run).await;
    Ok(finish(&p, report, !req.dry_run))
}

/// One releases-file entry's outcome.
#[derive(Debug, Serialize)]
pub struct ReleaseOutcome {
    pub name: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<config::Plan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<ResolvedRelease>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quay: Vec<EnsureOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Report>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The entry cannot run as written (its options are invalid): nothing was attempted.
    #[serde(skip)]
    pub invalid: bool,
}

impl ReleaseOutcome {
    pub fn new(name: &str) -> ReleaseOutcome {
        ReleaseOutcome {
            name: name.to_string(),
            ok: false,
            plan: None,
            resolution: None,
            quay: Vec::new(),
            report: None,
            error: None,
            invalid: false,
        }
    }
}

/// A releases file's entry `idx`: where its list and hash come from (fetched), then its promotion
/// (or verification), reports named after the entry.
pub async fn release(
    cfg: &ReleasesConfig,
    idx: usize,
    ov: &Overrides,
    fetcher: &crate::sources::Fetcher,
    dry_run: bool,
    verify_only: bool,
    progress: &Progress,
) -> ReleaseOutcome {
    let name = cfg.releases[idx].name.clone();
    let mut out = ReleaseOutcome::new(&name);
    let r = match config::resolve_release(cfg, idx, ov, fetcher).await {
        Ok(r) => r,
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    let mut args = r.args.clone();
    args.push_hash = r.push_hash.clone();
    let mut p = match args.resolve(promote::model::read_list_file) {
        Ok(p) => p,
        Err(e) => {
            out.error = Some(format!("{}: releases[{idx}] ({name}): {e}", cfg.file));
            out.invalid = true;
            out.resolution = Some(r);
            return out;
        }
    };
    // Reports the file does not name are named after the entry (each run its own, and a latest).
    p.report_name = Some(name.clone());
    let report = if verify_only {
        verify(&p, dry_run, true, progress).await
    } else {
        promote(&p, dry_run, progress).await
    };
    out.ok = report.ok;
    out.quay = report.quay.clone();
    out.report = Some(report);
    out.resolution = Some(r);
    out
}
