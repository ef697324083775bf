//! The promotion's verbs: `promote`, `verify`, `copy`, `tag` and `rollback`, each from the promotion's
//! arguments to a finished report. A verb runs the engine ([`crate::promote`]), writes the run's
//! reports (unless it changed nothing on purpose: a dry run, check mode) and masks every secret of
//! the promotion.

use crate::progress::Progress;
use crate::promote::{self, write_reports, PromoteArgs, Promotion, RegistryArgs, RunOptions};
use crate::report::Report;

/// The promotion the arguments describe, defaults applied and everything checked (a list file read
/// for `containers_list_file`): nothing is sent before this succeeds.
pub fn promotion(args: &PromoteArgs) -> crate::Result<Promotion> {
    args.resolve(promote::model::read_list_file)
}

/// The end of every verb: reports written when asked, secrets masked, the outcome decided.
fn finish(p: &Promotion, mut report: Report, write: bool) -> Report {
    if write {
        write_reports(p, &mut report);
    }
    report.scrub(&p.secrets());
    report.settle();
    report
}

/// `promote` (with `dry_run`: what it would do, nothing written, no report files); its phases
/// reported on `progress`.
pub async fn promote(p: &Promotion, dry_run: bool, progress: &Progress) -> Report {
    let opts = RunOptions {
        dry_run,
        progress: progress.clone(),
        stop: crate::stop::process(),
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
        stop: crate::stop::process(),
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
        stop: crate::stop::process(),
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
    tag_through(req, false, true).await
}

/// [`tag`], the labels moved through the registries' Quay API when `quay_api` (each registry must
/// have one: `create_repo` with a token), its reports written when `reports`.
pub(super) async fn tag_through(req: TagRequest, quay_api: bool, reports: bool) -> crate::Result<Report> {
    let mut args = req.args;
    let on_source = req.registries.is_empty();
    let regs = if on_source {
        let source = args
            .source_registry
            .clone()
            .ok_or_else(|| crate::Error::bad_option(req.what, "give them, or the source registry"))?;
        vec![source]
    } else {
        req.registries
    };
    if args.source_registry.is_none() {
        args.source_registry = Some(regs[0].clone());
    }
    args.target_registries_push = Some(false);
    let p = promotion(&args)?;
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
    let report = promote::tag::run_tag_through(&p, &specs, hash, req.dry_run, quay_api).await;
    Ok(finish(&p, report, reports && !req.dry_run))
}

/// Did this run look for the `<hash>_ppc64le` images, as the old role did before it appended
/// `ppc_manifests: <its ppc_manifests>` to the stage-info file (the staging checks read it)? Only
/// when the source check passed and it pushed, with `manifest_push` and `ppc_manifests`, to a `v2_s2`
/// target: the role looked for them in its manifest step, which ran for those targets alone.
pub fn ppc_checked(p: &Promotion, r: &Report) -> bool {
    let v2_s2 = p.targets.iter().any(|t| t.schema == promote::model::Schema::V2S2);
    let checked = r.missing.is_empty() && !r.found.is_empty();
    p.push && p.manifest_push && p.ppc_manifests && v2_s2 && checked
}
