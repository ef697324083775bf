//! The user verbs, each one call from a typed request to a finished report: `promote`, `verify`,
//! `copy`, `tag`, `rollback`, and on a releases file's entry `release` (its promotion) and
//! `release_copy` / `release_tag` (copy-quay's two steps). A verb runs the engine ([`crate::promote`]),
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
async fn tag_through(req: TagRequest, quay_api: bool, reports: bool) -> crate::Result<Report> {
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
    let report = promote::tag::run_tag_through(&p, &specs, hash, req.dry_run, quay_api).await;
    Ok(finish(&p, report, reports && !req.dry_run))
}

/// An entry that could not run (its list or hash not found, its options invalid): its report says
/// so where the request names one (a cron job's report page must not stay the last run's), unless
/// `dry_run`.
fn failed_entry(
    cfg: &ReleasesConfig,
    idx: usize,
    ov: &Overrides,
    action: &str,
    mut out: ReleaseOutcome,
    dry_run: bool,
) -> ReleaseOutcome {
    let args = ov.args.clone().or(cfg.entry_args(&cfg.releases[idx]));
    if dry_run || (args.report_json.is_none() && args.report_html.is_none()) {
        return out;
    }
    let mut report = Report {
        schema_version: crate::report::SCHEMA_VERSION,
        tool: concat!("copy-containers ", env!("CARGO_PKG_VERSION")).into(),
        action: action.into(),
        started_at: crate::report::now_string(),
        release: out.name.clone(),
        ..Report::default()
    };
    let text = out.error.clone().unwrap_or_default();
    let kind = out.kind.unwrap_or(crate::report::Kind::Other);
    report.push_error(crate::report::Phase::Setup, kind, text);
    report.scrub(&[]);
    let mode = match args.report_group_readable {
        Some(true) => crate::report::folder::GROUP_REPORT_MODE,
        _ => crate::report::folder::REPORT_MODE,
    };
    for (path, json) in [(&args.report_json, true), (&args.report_html, false)] {
        let Some(path) = path else { continue };
        report.files.push(path.display().to_string());
        let written = match json {
            true => report.write_json_mode(path, mode),
            false => crate::report::html::write_mode(&report, path, mode),
        };
        if let Err(e) = written {
            tracing::error!(file = %path.display(), "cannot write the report: {e}");
        }
    }
    out.report = Some(report);
    out
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
    /// The kind of `error`.
    #[serde(skip)]
    pub kind: Option<crate::report::Kind>,
}

impl ReleaseOutcome {
    /// The entry ran: its report decides.
    fn done(mut self, report: Report) -> ReleaseOutcome {
        self.ok = report.ok;
        self.quay = report.quay.clone();
        self.report = Some(report);
        self
    }

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
            kind: None,
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
    let (out, p) = match resolved(cfg, idx, ov, fetcher).await {
        Ok(x) => x,
        Err(out) => return out,
    };
    let report = if verify_only {
        verify(&p, dry_run, true, progress).await
    } else {
        promote(&p, dry_run, progress).await
    };
    out.done(report)
}

/// Entry `idx` resolved (its list and hash fetched) into its promotion, reports named after the
/// entry unless the file names them; or the outcome of an entry that cannot run.
async fn resolved(
    cfg: &ReleasesConfig,
    idx: usize,
    ov: &Overrides,
    fetcher: &crate::sources::Fetcher,
) -> Result<(ReleaseOutcome, Promotion), ReleaseOutcome> {
    let name = cfg.releases[idx].name.clone();
    let mut out = ReleaseOutcome::new(&name);
    let r = match config::resolve_release(cfg, idx, ov, fetcher).await {
        Ok(r) => r,
        Err(e) => {
            out.kind = Some(crate::report::Kind::of(&e));
            out.error = Some(e.to_string());
            return Err(out);
        }
    };
    let mut args = r.args.clone();
    args.push_hash = r.push_hash.clone();
    let resolved = args.resolve(promote::model::read_list_file);
    out.resolution = Some(r);
    let mut p = match resolved {
        Ok(p) => p,
        Err(e) => {
            out.kind = Some(crate::report::Kind::of(&e));
            out.error = Some(format!("{}: releases[{idx}] ({name}): {e}", cfg.file));
            out.invalid = true;
            return Err(out);
        }
    };
    // Reports the file does not name are named after the entry (each run its own, and a latest).
    p.report_name = Some(name);
    Ok((out, p))
}

/// copy-quay's `copy` on entry `idx`: its list and hash found, its images copied to the targets and
/// read back, no label moved; reports written only where the request names them.
pub async fn release_copy(
    cfg: &ReleasesConfig,
    idx: usize,
    ov: &Overrides,
    fetcher: &crate::sources::Fetcher,
    dry_run: bool,
    progress: &Progress,
) -> ReleaseOutcome {
    let (out, p) = match resolved(cfg, idx, ov, fetcher).await {
        Ok(x) => x,
        Err(out) => return failed_entry(cfg, idx, ov, "copy", out, dry_run),
    };
    let reports = p.report_json.is_some() || p.report_html.is_some();
    out.done(copy(&p, dry_run, reports, progress).await)
}

/// copy-quay's `tag` on entry `idx`: its list and hash found, its `named_label` put on its targets
/// where the images are under the hash, through their Quay API when `quay_api`; reports written
/// only where the request names them.
pub async fn release_tag(
    cfg: &ReleasesConfig,
    idx: usize,
    ov: &Overrides,
    fetcher: &crate::sources::Fetcher,
    quay_api: bool,
    dry_run: bool,
) -> ReleaseOutcome {
    // Resolved as a promotion first: an entry that cannot run is told as for the others.
    let (mut out, _) = match resolved(cfg, idx, ov, fetcher).await {
        Ok(x) => x,
        Err(out) => return failed_entry(cfg, idx, ov, "tag", out, dry_run),
    };
    let mut args = out
        .resolution
        .as_ref()
        .map(|r| r.args.clone())
        .unwrap_or_default();
    args.push_hash = None;
    let reports = args.report_json.is_some() || args.report_html.is_some();
    let req = TagRequest {
        registries: args.target_registries.clone().unwrap_or_default(),
        args,
        what: "push_registry",
        dry_run,
    };
    match tag_through(req, quay_api, reports).await {
        Ok(report) => out.done(report),
        Err(e) => {
            out.kind = Some(crate::report::Kind::of(&e));
            out.error = Some(format!("{}: releases[{idx}] ({}): {e}", cfg.file, out.name));
            out.invalid = true;
            failed_entry(cfg, idx, ov, "tag", out, dry_run)
        }
    }
}
