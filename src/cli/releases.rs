//! Running alone from a releases config: `promote --config FILE --release NAME|all` (also `verify`)
//! and `releases --config FILE` (where each entry's list and hash come from, without writing to any
//! registry).

use std::path::{Path, PathBuf};

use clap::Args;

use super::flags::PromoteFlags;
use super::promote::print_summary;
use crate::progress::Progress;
use crate::verbs::releases::{self, Overrides, ReleasesConfig, ResolvedRelease, ALL};
use crate::verbs::ReleaseOutcome;

/// `releases`: list a releases file's entries and where their list and hash come from.
#[derive(Args, Debug)]
pub struct ReleasesArgs {
    /// The releases file (`releases:` with global settings, or copy-quay's `entries:`).
    #[arg(long)]
    pub config: PathBuf,
    /// One entry (default: all).
    #[arg(long)]
    pub release: Option<String>,
    /// A forced hash (as `promote --hash`).
    #[arg(long)]
    pub hash: Option<String>,
    /// Show the plan only: fetch nothing from Zuul, DLRN or tripleo-common.
    #[arg(long)]
    pub no_fetch: bool,
    /// JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `promote`/`verify --config FILE` with a releases file: run the entries `--release NAME|all`
/// selects.
pub async fn promote_releases(
    f: &PromoteFlags,
    path: &Path,
    cfg: &ReleasesConfig,
    verify_only: bool,
    progress: &Progress,
) -> anyhow::Result<i32> {
    let which = f.get("release").ok_or_else(|| {
        usage!(
            "{} is a releases file: give --release NAME or --release all (it has: {})",
            path.display(),
            cfg.names().join(", ")
        )
    })?;
    let selected = cfg.select(which).map_err(super::usage_err)?;
    let ov = Overrides {
        full_hash: f.get("full_hash").map(str::to_string),
        push_hash: f.get("push_hash").map(str::to_string),
        args: f.without(&["release", "full_hash", "push_hash"]).flag_args()?,
    };
    let each = |o: &ReleaseOutcome| {
        // The bar off the terminal before the release's result is printed.
        progress.finish();
        if let Some(report) = &o.report {
            super::promote::log_failures(report);
        }
        if !f.json {
            print_outcome(o);
        }
    };
    let how = (f.dry_run, verify_only);
    let outcomes = releases::run(cfg, &selected, &ov, how, progress, each).await?;
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.ok)
        .map(|o| o.name.as_str())
        .collect();
    // Nothing attempted because every entry is invalid as written: the input is wrong (2).
    let code = match failed.len() {
        0 => 0,
        n if n == outcomes.len() && outcomes.iter().all(|o| o.invalid) => 2,
        _ => 1,
    };
    let signalled = outcomes.iter().filter_map(|o| o.report.as_ref()?.signal()).next();
    let code = signalled.map_or(code, |s| s.exit_status());
    if f.json {
        if which == ALL {
            say!("{}", serde_json::to_string_pretty(&outcomes)?);
        } else {
            say!("{}", serde_json::to_string_pretty(&outcomes[0])?);
        }
    } else if which == ALL {
        say!(
            "releases: {} ok, {} failed{}",
            outcomes.len() - failed.len(),
            failed.len(),
            if failed.is_empty() {
                String::new()
            } else {
                format!(" ({})", failed.join(", "))
            }
        );
    }
    Ok(code)
}

fn print_resolution(r: &ResolvedRelease) {
    r.lines().iter().for_each(|l| say!("  {l}"));
}

pub(super) fn print_outcome(o: &ReleaseOutcome) {
    say!("== release {}: {}", o.name, if o.ok { "OK" } else { "FAILED" });
    if let Some(r) = &o.resolution {
        print_resolution(r);
    }
    for l in o.quay.iter().flat_map(|q| q.lines()) {
        say!("  {l}");
    }
    // An error the report carries is said there, once.
    let reported = |e: &String| o.report.as_ref().is_some_and(|r| r.errors.contains(e));
    if let Some(e) = o.error.as_ref().filter(|e| !reported(e)) {
        say!("error: {e}");
    }
    match &o.report {
        // The report of an entry that could not run: its cause and where it is.
        Some(rep) if rep.containers.is_empty() && rep.missing.is_empty() => {
            for line in rep.failure_lines() {
                match line.strip_prefix("  ") {
                    Some(more) => say!("       {more}"),
                    None => say!("error: {line}"),
                }
            }
            for f in &rep.files {
                say!("report: {f}");
            }
        }
        Some(rep) => print_summary(rep, false),
        None => {}
    }
    say!();
}

/// `releases --config FILE`.
pub async fn releases_cmd(a: ReleasesArgs) -> anyhow::Result<i32> {
    let cfg = releases::load(&a.config).map_err(super::usage_err)?;
    let which = a.release.as_deref().unwrap_or(ALL);
    let selected = cfg.select(which).map_err(super::usage_err)?;
    let ov = Overrides {
        full_hash: a.hash.clone(),
        ..Default::default()
    };
    let outcomes = releases::plan(&cfg, &selected, &ov, !a.no_fetch).await?;
    if a.json {
        say!("{}", serde_json::to_string_pretty(&outcomes)?);
    } else {
        outcomes.iter().for_each(print_plan);
    }
    Ok(if outcomes.iter().all(|o| o.ok) { 0 } else { 1 })
}

/// One entry of `releases`: its plan, where its list and hash come from, what went wrong.
fn print_plan(o: &ReleaseOutcome) {
    if let Some(p) = &o.plan {
        let targets = match p.targets.is_empty() {
            true => "(no push)".to_string(),
            false => p.targets.join(", "),
        };
        let source = p.source.as_deref().unwrap_or("?");
        say!("{}: {} {} — {source} → {targets}", o.name, p.release, p.distro);
        say!("  list from: {}", p.list_text());
        say!("  hash from: {}", p.hash_text());
    }
    if let Some(r) = &o.resolution {
        print_resolution(r);
        if let Some(ph) = &r.push_hash {
            say!("  push_hash: {ph} (the targets get this tag instead of the hash)");
        }
    }
    if let Some(x) = &o.error {
        say!("  error: {x}");
    }
}
