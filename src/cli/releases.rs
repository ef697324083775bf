//! Running alone from a releases config: `promote --config FILE --release NAME|all` (also `verify`)
//! and `releases --config FILE` (where each entry's list and hash come from, without writing to any
//! registry).

use std::path::{Path, PathBuf};

use clap::Args;

use super::promote::{print_summary, PromoteFlags};
use crate::config::{self, ListOrigin, Overrides, ReleasesConfig, ResolvedRelease, Shape};
use crate::progress::Progress;
use crate::report::Report;
use crate::verbs::{self, ReleaseOutcome};

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

/// What `promote`/`verify --config FILE` holds, the file read once.
pub enum PromoteConfig {
    /// A plain promotion file's text (its fields are read under the flags).
    Plain(String),
    /// A releases file (`releases:`, or copy-quay's `entries:`).
    Releases(Box<ReleasesConfig>),
}

/// Read `--config FILE` of `promote`/`verify` and tell its shape.
pub fn read_promote_config(path: &Path) -> anyhow::Result<PromoteConfig> {
    let (file, text) = config::read(path).map_err(super::usage_err)?;
    Ok(match config::shape_of(&file, &text).map_err(super::usage_err)? {
        Shape::Promote => PromoteConfig::Plain(text),
        shape => PromoteConfig::Releases(Box::new(
            config::parse_releases(&file, &text, path.parent(), shape).map_err(super::usage_err)?,
        )),
    })
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
    let which = f.release.as_deref().ok_or_else(|| {
        usage!(
            "{} is a releases file: give --release NAME or --release all (it has: {})",
            path.display(),
            cfg.names().join(", ")
        )
    })?;
    let selected = cfg.select(which).map_err(super::usage_err)?;
    if let Some(h) = &f.full_hash {
        crate::sources::hash::validate_full_hash(h).map_err(super::usage_err)?;
    }
    let flags = PromoteFlags {
        config: None,
        release: None,
        full_hash: None,
        push_hash: None,
        ..f.clone()
    };
    let ov = Overrides {
        full_hash: f.full_hash.clone(),
        push_hash: f.push_hash.clone(),
        args: flags.to_args()?,
    };
    let fetcher = cfg.fetcher()?;
    let mut outcomes = Vec::new();
    for (idx, e) in selected {
        tracing::info!(release = %e.name, "release");
        let o = verbs::release(cfg, idx, &ov, &fetcher, f.dry_run, verify_only, progress).await;
        // The bar off the terminal before the release's result is printed.
        progress.finish();
        if let Some(report) = &o.report {
            super::promote::log_failures(report);
        }
        if !f.json {
            print_outcome(&o);
        }
        let signal = o.report.as_ref().and_then(Report::signal);
        outcomes.push(o);
        if signal.is_some() {
            // Interrupted: the entries after it are not started.
            break;
        }
    }
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
        if which == config::ALL {
            say!("{}", serde_json::to_string_pretty(&outcomes)?);
        } else {
            say!("{}", serde_json::to_string_pretty(&outcomes[0])?);
        }
    } else if which == config::ALL {
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
    say!(
        "  list: {} containers{} from {}",
        r.containers.len(),
        r.ppc_containers
            .as_ref()
            .map(|p| format!(" ({} with ppc64le)", p.len()))
            .unwrap_or_default(),
        r.list_from
    );
    print_tripleo_common_lists(r);
    say!("  hash: {} ({})", r.full_hash, r.hash_from);
    if let Some(k) = r.keep_local {
        say!("  keep_local: {}", k.as_str());
    }
    for w in &r.warnings {
        say!("  warning: {w}");
    }
}

/// For a list from tripleo-common: what was left out, and both ppc64le lists (README, "Running
/// alone": this project's goes to the list files, the promoter's is shown for comparison).
fn print_tripleo_common_lists(r: &ResolvedRelease) {
    let ListOrigin::TripleoCommon {
        without_prefix,
        excluded_by,
        promoter_ppc_containers: promoter,
        ..
    } = &r.list_from
    else {
        return;
    };
    if !excluded_by.is_empty() {
        say!("  excludes: {}", excluded_by.join(", "));
    }
    if !without_prefix.is_empty() {
        say!(
            "  left out (no prefix, as the promoter does): {}",
            without_prefix.join(", ")
        );
    }
    let Some(ours) = &r.ppc_containers else {
        return;
    };
    say!(
        "  ppc64le list: {} (containers_list minus the ppc excludes; written to the list files)",
        ours.len()
    );
    let only_promoter: Vec<&str> = promoter
        .iter()
        .filter(|n| !ours.contains(n))
        .map(String::as_str)
        .collect();
    let only_ours = ours.iter().filter(|n| !promoter.contains(n)).count();
    let how = if promoter.is_empty() {
        "empty: this release has no ppc excludes".to_string()
    } else {
        "the full list minus the ppc excludes".to_string()
    };
    say!("  promoter's ppc64le list: {} ({how})", promoter.len());
    if !only_promoter.is_empty() {
        say!("    only in the promoter's: {}", only_promoter.join(", "));
    }
    if only_ours > 0 && !promoter.is_empty() {
        say!("    only in this project's: {only_ours}");
    }
}

pub(super) fn print_outcome(o: &ReleaseOutcome) {
    say!("== release {}: {}", o.name, if o.ok { "OK" } else { "FAILED" });
    if let Some(r) = &o.resolution {
        print_resolution(r);
    }
    for q in &o.quay {
        if !q.created.is_empty() {
            say!(
                "  quay {}/{}: created {}",
                q.registry,
                q.namespace,
                q.created.join(", ")
            );
        }
        if !q.would_create.is_empty() {
            say!(
                "  quay {}/{}: would create {}",
                q.registry,
                q.namespace,
                q.would_create.join(", ")
            );
        }
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
                say!("error: {line}");
            }
            for f in &rep.files {
                say!("report: {f}");
            }
        }
        Some(rep) => print_summary(rep),
        None => {}
    }
    say!();
}

/// `releases --config FILE`.
pub async fn releases_cmd(a: ReleasesArgs) -> anyhow::Result<i32> {
    let cfg = config::load_releases(&a.config).map_err(super::usage_err)?;
    let which = a.release.as_deref().unwrap_or(config::ALL);
    let selected = cfg.select(which).map_err(super::usage_err)?;
    let ov = Overrides {
        full_hash: a.hash.clone(),
        ..Default::default()
    };
    let fetcher = cfg.fetcher()?;
    let mut outcomes = Vec::new();
    for (idx, e) in selected {
        let mut o = ReleaseOutcome::new(&e.name);
        let plan = cfg.plan(e, &ov);
        let cannot_run = plan.cannot_run.join("; ");
        o.plan = Some(plan);
        if !cannot_run.is_empty() {
            o.error = Some(cannot_run);
        } else if a.no_fetch {
            o.ok = true;
        } else {
            match config::resolve_release(&cfg, idx, &ov, &fetcher).await {
                Ok(r) => {
                    o.ok = true;
                    o.resolution = Some(r);
                }
                Err(x) => o.error = Some(x.to_string()),
            }
        }
        if !a.json {
            if let Some(p) = &o.plan {
                say!(
                    "{}: {} {} — {} → {}",
                    e.name,
                    p.release,
                    p.distro,
                    p.source.as_deref().unwrap_or("?"),
                    if p.targets.is_empty() {
                        "(no push)".into()
                    } else {
                        p.targets.join(", ")
                    }
                );
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
        outcomes.push(o);
    }
    if a.json {
        say!("{}", serde_json::to_string_pretty(&outcomes)?);
    }
    Ok(if outcomes.iter().all(|o| o.ok) { 0 } else { 1 })
}
