//! A releases file's verbs: where each entry's list and hash come from ([`plan`], the `releases`
//! command, read-only), and running entries ([`run`]: `promote`/`verify --config FILE --release
//! NAME|all`), one after the other, each named in its reports; and copy-quay's two steps on one
//! entry ([`copy_quay`]: `release_copy`, `release_tag`).

use std::path::Path;

use serde::Serialize;

use super::promotion::{copy, promote, promotion, tag_through, verify, TagRequest};
pub use crate::config::copy_quay::{CopyQuayJob, Step, Token};
use crate::config::{self, ReleaseEntry, Shape};
pub use crate::config::{ListOrigin, Overrides, ReleasesConfig, ResolvedRelease, ALL, DEFAULT_NAMED_LABEL};
use crate::error::Kind;
use crate::progress::Progress;
use crate::promote::Promotion;
use crate::quay::EnsureOutcome;
use crate::report::Report;
use crate::sources::Fetcher;

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
    /// The kind of `error` (a Zuul that cannot be reached is `unreachable`, not `invalid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
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
            kind: None,
            invalid: false,
        }
    }

    fn failed(&mut self, e: &crate::Error) {
        self.error = Some(e.to_string());
        self.kind = Some(Kind::of(e));
    }

    /// The entry ran: its report decides.
    fn done(mut self, report: Report) -> ReleaseOutcome {
        self.ok = report.ok;
        self.quay = report.quay.clone();
        self.report = Some(report);
        self
    }
}

/// A releases file (`releases:` with settings, or copy-quay's `entries:`).
pub fn load(path: &Path) -> crate::Result<ReleasesConfig> {
    config::load_releases(path)
}

/// What `promote`/`verify --config FILE` holds, the file read once.
pub enum PromoteConfig {
    /// A plain promotion file's text (its fields are read under the flags).
    Plain(String),
    /// A releases file (`releases:`, or copy-quay's `entries:`).
    Releases(Box<ReleasesConfig>),
}

/// Read the `--config FILE` of `promote`/`verify` and tell its shape.
pub fn read_promote_config(path: &Path) -> crate::Result<PromoteConfig> {
    let (file, text) = config::read(path)?;
    Ok(match config::shape_of(&file, &text)? {
        Shape::Promote => PromoteConfig::Plain(text),
        shape => PromoteConfig::Releases(Box::new(config::parse_releases(
            &file,
            &text,
            path.parent(),
            shape,
        )?)),
    })
}

/// Each selected entry's plan, and (unless `fetch` is false) where its list and hash come from,
/// fetched read-only; nothing is written to any registry.
pub async fn plan(
    cfg: &ReleasesConfig,
    selected: &[(usize, &ReleaseEntry)],
    ov: &Overrides,
    fetch: bool,
) -> crate::Result<Vec<ReleaseOutcome>> {
    let fetcher = cfg.fetcher()?;
    let mut outcomes = Vec::new();
    for (idx, e) in selected {
        let mut o = ReleaseOutcome::new(&e.name);
        let plan = cfg.plan(e, ov);
        let cannot_run = plan.cannot_run.join("; ");
        o.plan = Some(plan);
        if !cannot_run.is_empty() {
            o.error = Some(cannot_run);
            o.kind = Some(Kind::Invalid);
        } else if !fetch {
            o.ok = true;
        } else {
            match config::resolve_release(cfg, *idx, ov, &fetcher).await {
                Ok(r) => {
                    o.ok = true;
                    o.resolution = Some(r);
                }
                Err(x) => o.failed(&x),
            }
        }
        outcomes.push(o);
    }
    Ok(outcomes)
}

/// Run the selected entries one after the other (each promoted, or verified), `each` told of every
/// outcome as it comes; a run stopped by a signal ends the list there.
pub async fn run(
    cfg: &ReleasesConfig,
    selected: &[(usize, &ReleaseEntry)],
    ov: &Overrides,
    (dry_run, verify_only): (bool, bool),
    progress: &Progress,
    mut each: impl FnMut(&ReleaseOutcome),
) -> crate::Result<Vec<ReleaseOutcome>> {
    // A forced hash is checked once, before any entry runs.
    if let Some(h) = &ov.full_hash {
        crate::sources::hash::validate_full_hash(h)?;
    }
    let fetcher = cfg.fetcher()?;
    let mut outcomes = Vec::new();
    for (idx, e) in selected {
        tracing::info!(release = %e.name, "release");
        let o = release(cfg, *idx, ov, &fetcher, (dry_run, verify_only), progress).await;
        each(&o);
        let signal = o.report.as_ref().and_then(Report::signal);
        outcomes.push(o);
        if signal.is_some() {
            // Interrupted: the entries after it are not started.
            break;
        }
    }
    Ok(outcomes)
}

/// A releases file's entry `idx`: where its list and hash come from (fetched), then its promotion
/// (or verification), reports named after the entry.
async fn release(
    cfg: &ReleasesConfig,
    idx: usize,
    ov: &Overrides,
    fetcher: &Fetcher,
    (dry_run, verify_only): (bool, bool),
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
    fetcher: &Fetcher,
) -> Result<(ReleaseOutcome, Promotion), ReleaseOutcome> {
    let name = cfg.releases[idx].name.clone();
    let mut out = ReleaseOutcome::new(&name);
    let r = match config::resolve_release(cfg, idx, ov, fetcher).await {
        Ok(r) => r,
        Err(e) => {
            out.failed(&e);
            return Err(out);
        }
    };
    let mut args = r.args.clone();
    args.push_hash = r.push_hash.clone();
    let resolved = promotion(&args);
    out.resolution = Some(r);
    let mut p = match resolved {
        Ok(p) => p,
        Err(e) => {
            out.failed(&e.context(format!("{}: releases[{idx}] ({name})", cfg.file)));
            out.invalid = true;
            return Err(out);
        }
    };
    // Reports the file does not name are named after the entry (each run its own, and a latest).
    p.report_name = Some(name);
    Ok((out, p))
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
    let kind = out.kind.unwrap_or(Kind::Other);
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

/// copy-quay's command line on its config file: the file read, the job's entry and overrides
/// found (`job`: its flags over the file), then its step run ([`release_copy`] or [`release_tag`]).
/// Errors are the request's (the file or the flags cannot run: nothing was attempted).
pub async fn copy_quay(
    config_file: &Path,
    job: &CopyQuayJob,
    step: &Step,
    dry_run: bool,
    progress: &Progress,
) -> crate::Result<ReleaseOutcome> {
    let cfg = config::load_releases(config_file)?;
    let run = job.run(&cfg, step)?;
    let fetcher = run.config.fetcher()?;
    let (cfg, idx, ov) = (&run.config, run.index, &run.overrides);
    Ok(match step {
        Step::Copy => release_copy(cfg, idx, ov, &fetcher, dry_run, progress).await,
        Step::Tag { .. } => release_tag(cfg, idx, ov, &fetcher, run.quay_api, dry_run).await,
    })
}

/// copy-quay's `copy` on entry `idx`: its list and hash found, its images copied to the targets and
/// read back, no label moved; reports written only where the request names them.
pub async fn release_copy(
    cfg: &ReleasesConfig,
    idx: usize,
    ov: &Overrides,
    fetcher: &Fetcher,
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
    fetcher: &Fetcher,
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
            out.failed(&e.context(format!("{}: releases[{idx}] ({})", cfg.file, out.name)));
            out.invalid = true;
            failed_entry(cfg, idx, ov, "tag", out, dry_run)
        }
    }
}
