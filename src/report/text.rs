//! A report as text, for a terminal: one row per container, one column per registry (the source
//! first, marked `*`), within 100 columns, then the outcome and one line per cause. The command
//! line prints it; the JSON and HTML renderings sit beside it.

use super::{ContainerReport, PlanSummary, Report, TagAction};

/// A line of text into `out`.
macro_rules! say {
    ($out:ident) => {
        $out.push(String::new())
    };
    ($out:ident, $($t:tt)*) => {
        $out.push(format!($($t)*))
    };
}

/// A readable table of a report: one row per container, one column per registry (the source first,
/// marked `*`), within 100 columns.
pub fn summary(report: &Report) -> Vec<String> {
    let mut out = Vec::new();
    if let (true, Some(plan)) = (report.dry_run, &report.plan) {
        print_plan(&mut out, plan, &report.named_label);
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
    say!(out, "{}", head.trim_end());
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
        say!(out, "{}", row.trim_end());
    }
    let legend: Vec<String> = regs
        .iter()
        .filter(|(name, source)| *source || name.chars().count() > 13)
        .map(|(name, source)| format!("{name}{}", if *source { " (* source)" } else { "" }))
        .collect();
    if !legend.is_empty() && !report.containers.is_empty() {
        say!(out, "registries: {}", legend.join(", "));
    }
    say!(out);
    say!(out, "{}", report.outcome_line());
    for line in report.label_lines() {
        say!(out, "{line}");
    }
    for line in report.failure_lines() {
        match line.strip_prefix("  ") {
            Some(example) => say!(out, "       {example}"),
            None => say!(out, "error: {line}"),
        }
    }
    for f in &report.files {
        say!(out, "report: {f}");
    }
    out
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
fn cell_status(c: &ContainerReport, reg: &str) -> &'static str {
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
fn print_plan(out: &mut Vec<String>, plan: &PlanSummary, label: &str) {
    say!(out, "plan for {} containers:", plan.containers);
    for t in &plan.targets {
        let mut parts = vec![format!("{} images under {} tags", t.images, t.tags)];
        if t.lists > 0 {
            parts.push(format!("{} manifest lists", t.lists));
        }
        parts.push(format!("{} tags read back", t.checks));
        if t.labels > 0 {
            parts.push(format!("{label} on {} once verified", t.labels));
        }
        say!(out, "  {}: {}", t.registry, parts.join(", "));
    }
    if plan.source_label {
        say!(out, "  source: {label} last, when everything else succeeded");
    }
    say!(out);
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
