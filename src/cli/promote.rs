//! `promote`, `verify`, `tag` and `rollback`: the promotion verbs on the command line, and the
//! table of a report. Every promotion field can come from `--config FILE` (YAML, the same field
//! names as the Ansible module); flags override the file.

use std::path::{Path, PathBuf};

use super::flags::PromoteFlags;
use crate::progress::Progress;
use crate::promote::options::Action;
use crate::promote::options::PromoteArgs;
use crate::report::{Report, TagAction};
use crate::verbs;
use crate::verbs::Promotion;

/// Read a YAML config of promotion fields.
pub fn read_config(path: &Path) -> anyhow::Result<PromoteArgs> {
    let text =
        crate::input::read_to_string(path, "config file").map_err(|e| usage!("{}: {e}", path.display()))?;
    parse_config(path, &text)
}

/// A plain config's promotion fields (serde's own message, as the command line always gave it).
pub fn parse_config(path: &Path, text: &str) -> anyhow::Result<PromoteArgs> {
    serde_norway::from_str(text).map_err(|e| usage!("{}: {e}", path.display()))
}

/// The flags over the config file's fields (flags override), with everything `action` requires.
fn args_of(f: &PromoteFlags, config: Option<(&Path, &str)>, action: Action) -> anyhow::Result<PromoteArgs> {
    let flags = f.flag_args()?;
    let args = match (config, &f.config) {
        (Some((path, text)), _) => flags.or(parse_config(path, text)?),
        (None, Some(path)) => flags.or(read_config(path)?),
        (None, None) => flags,
    };
    f.check_required(action, &args)?;
    Ok(args)
}

/// Validate promotion fields; a problem is a usage error.
fn resolve(args: PromoteArgs) -> anyhow::Result<Promotion> {
    verbs::promotion(&args).map_err(super::usage_err)
}

/// The end of a command that ran: the outcome decided, every failure logged at ERROR (the same
/// message once, with how many times it came), the result printed; returns the exit status.
pub fn finish(report: &mut Report, json: bool) -> anyhow::Result<i32> {
    report.ok = report.errors.is_empty();
    log_failures(report);
    if json {
        say!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_summary(report);
    }
    Ok(if report.ok { 0 } else { 1 })
}

/// Each cause of failure once at ERROR, with structured fields (phase, kind, registry, how many
/// problems and which images), so that logs (`--log-format json`, `-q`) carry what went wrong, not
/// only the retries on the way.
pub fn log_failures(report: &Report) {
    for g in report.groups() {
        tracing::error!(
            action = %report.action,
            full_hash = %report.full_hash,
            phase = %g.phase,
            kind = %g.kind,
            registry = g.registry.as_deref().unwrap_or("-"),
            times = g.count,
            images = g.containers.len(),
            containers = %g.containers.join(","),
            "{}",
            g.summary()
        );
    }
}

/// A readable table of a report: one row per container, one column per registry (the source first,
/// marked `*`), within 100 columns.
pub fn print_summary(report: &Report) {
    if let (true, Some(plan)) = (report.dry_run, &report.plan) {
        print_plan(plan, &report.named_label);
    }
    let regs = table_registries(report);
    let w = report
        .containers
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(9)
        .clamp(9, 24);
    let mut head = format!("{:<w$}  {:<12}  {:<13}", "container", "digest", "architectures");
    for (name, source) in &regs {
        let mark = if *source { "*" } else { "" };
        // The end of a host tells registries apart (the port): cut from the left.
        let name = format!("{}{mark}", truncate_left(name, 13 - mark.len()));
        head.push_str(&format!("  {name:<13}"));
    }
    say!("{}", head.trim_end());
    for c in &report.containers {
        let d = c.source_digest.as_deref().unwrap_or("-");
        let short = d
            .strip_prefix("sha256:")
            .map(|h| &h[..12.min(h.len())])
            .unwrap_or(d);
        let mut row = format!(
            "{:<w$}  {:<12}  {:<13}",
            truncate(&c.name, w),
            short,
            truncate(&c.manifest_architectures.join("+"), 13)
        );
        for (name, _) in &regs {
            row.push_str(&format!("  {:<13}", cell_status(c, name)));
        }
        say!("{}", row.trim_end());
    }
    let legend: Vec<String> = regs
        .iter()
        .filter(|(name, source)| *source || name.chars().count() > 13)
        .map(|(name, source)| format!("{name}{}", if *source { " (* source)" } else { "" }))
        .collect();
    if !legend.is_empty() && !report.containers.is_empty() {
        say!("registries: {}", legend.join(", "));
    }
    say!();
    say!("{}", report.outcome_line());
    for line in report.label_lines() {
        say!("{line}");
    }
    for line in report.failure_lines() {
        match line.strip_prefix("  ") {
            Some(example) => say!("       {example}"),
            None => say!("error: {line}"),
        }
    }
    for f in &report.files {
        say!("report: {f}");
    }
}

/// The columns of the table: the registries in the report's order (source first), then any other
/// that has entries; true for the source.
fn table_registries(report: &Report) -> Vec<(String, bool)> {
    let mut regs: Vec<(String, bool)> = report
        .registries
        .iter()
        .map(|s| (s.name.clone(), s.role == "source"))
        .collect();
    for e in report.containers.iter().flat_map(|c| c.entries.iter()) {
        if !regs.iter().any(|(n, _)| *n == e.registry) {
            regs.push((e.registry.clone(), false));
        }
    }
    // A registry this run wrote nothing to and read nothing about has no column.
    regs.retain(|(n, _)| {
        report
            .containers
            .iter()
            .any(|c| c.entries.iter().any(|e| e.registry == *n))
    });
    regs
}

/// One container on one registry, in a word or two.
fn cell_status(c: &crate::report::ContainerReport, reg: &str) -> &'static str {
    let mine: Vec<_> = c.entries.iter().filter(|e| e.registry == reg).collect();
    if mine.is_empty() {
        "-"
    } else if mine
        .iter()
        .any(|e| e.action == TagAction::Failed || e.verified == Some(false))
    {
        "FAILED"
    } else if mine.iter().any(|e| e.error.is_some()) {
        // Not attempted because of a failure elsewhere (a withheld source label).
        "skipped"
    } else if mine.iter().any(|e| e.action == TagAction::WouldChange) {
        "would change"
    } else if mine.iter().any(|e| {
        matches!(
            e.action,
            TagAction::Copied | TagAction::Mounted | TagAction::Tagged
        )
    }) {
        "changed ✓"
    } else if mine.iter().all(|e| e.verified == Some(true)) {
        "verified"
    } else {
        "unchanged"
    }
}

/// The dry run's plan, per target, before the table of what it found there.
fn print_plan(plan: &crate::report::PlanSummary, label: &str) {
    say!("plan for {} containers:", plan.containers);
    for t in &plan.targets {
        let mut parts = vec![format!("{} images under {} tags", t.images, t.tags)];
        if t.lists > 0 {
            parts.push(format!("{} manifest lists", t.lists));
        }
        parts.push(format!("{} tags read back", t.checks));
        if t.labels > 0 {
            parts.push(format!("{label} on {} once verified", t.labels));
        }
        say!("  {}: {}", t.registry, parts.join(", "));
    }
    if plan.source_label {
        say!("  source: {label} last, when everything else succeeded");
    }
    say!();
}

/// `…0.0.1:41481`: the last `n` characters.
fn truncate_left(s: &str, n: usize) -> String {
    let len = s.chars().count();
    if len <= n {
        s.to_string()
    } else {
        "…".to_string() + &s.chars().skip(len - (n - 1)).collect::<String>()
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}

/// `promote`/`verify` of one promotion: the flags over `config`, the text of a plain promotion file
/// (`--config`, read once by `promote_or_releases` in `cli/mod.rs`, which routes releases files to
/// `releases.rs`).
pub async fn promote_cmd(
    f: &PromoteFlags,
    config: Option<(PathBuf, String)>,
    verify_only: bool,
    progress: &Progress,
) -> anyhow::Result<i32> {
    let action = if verify_only {
        Action::Verify
    } else {
        Action::Promote
    };
    let config = config.as_ref().map(|(p, t)| (p.as_path(), t.as_str()));
    let p = resolve(args_of(f, config, action)?)?;
    let mut report = if verify_only {
        verbs::verify(&p, f.dry_run, true, progress).await
    } else {
        verbs::promote(&p, f.dry_run, progress).await
    };
    // The bar off the terminal before the results are printed.
    progress.finish();
    finish(&mut report, f.json)
}

/// `tag`: the label on `--registry` (default: the source), remotely.
pub async fn tag_cmd(f: &PromoteFlags) -> anyhow::Result<i32> {
    let req = verbs::TagRequest {
        args: args_of(f, None, Action::Tag)?,
        registries: f.registries()?,
        what: "registry",
        dry_run: f.dry_run,
    };
    let mut report = verbs::tag(req).await?;
    finish(&mut report, f.json)
}

/// `rollback`: the label back where it was before the last promotion, on every registry.
pub async fn rollback_cmd(f: &PromoteFlags) -> anyhow::Result<i32> {
    let p = resolve(args_of(f, None, Action::Rollback)?)?;
    let mut report = verbs::rollback(&p, f.dry_run).await;
    finish(&mut report, f.json)
}
