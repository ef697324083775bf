//! A releases file's verbs: where each entry's list and hash come from ([`plan`], the `releases`
//! command, read-only), and running entries ([`run`]: `promote`/`verify --config FILE --release
//! NAME|all`), one after the other, each named in its reports.

use std::path::Path;

use serde::Serialize;

use super::promotion::{promote, promotion, verify};
use crate::config::{self, ReleaseEntry, Shape};
pub use crate::config::{ListOrigin, Overrides, ReleasesConfig, ResolvedRelease, ALL};
use crate::error::Kind;
use crate::progress::Progress;
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
/// outcome as it comes.
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
        outcomes.push(o);
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
    let name = cfg.releases[idx].name.clone();
    let mut out = ReleaseOutcome::new(&name);
    let r = match config::resolve_release(cfg, idx, ov, fetcher).await {
        Ok(r) => r,
        Err(e) => {
            out.failed(&e);
            return out;
        }
    };
    let mut args = r.args.clone();
    args.push_hash = r.push_hash.clone();
    let mut p = match promotion(&args) {
        Ok(p) => p,
        Err(e) => {
            out.failed(&e.context(format!("{}: releases[{idx}] ({name})", cfg.file)));
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
