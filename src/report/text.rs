//! A report as text, for a terminal: one row per container, one column per registry (the source
//! first, marked `*`), within 100 columns, then the outcome and one line per cause. The command
//! line prints it; the JSON and HTML renderings sit beside it. How much is shown ([`Shown`]): the
//! table only for a small run or when asked, the outcome line alone when quiet; lines are wrapped
//! at the terminal's width with their indentation, so nothing is wrapped by the terminal itself.

use crate::terminal::wrap;

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

/// Runs of at most this many images get their table by default.
pub const SMALL_RUN: usize = 10;

/// How much of a report the text shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Shown {
    /// The table when the run has at most [`SMALL_RUN`] images, else a line saying how to see it;
    /// then the outcome, the label's fate, the causes and the report files.
    #[default]
    Usual,
    /// The table whatever the number of images (`--table`).
    Table,
    /// The outcome line and any warning about the label (`-q`: the causes are the log's ERROR
    /// lines).
    Outcome,
}

/// The report as text ([`Shown`]) for a terminal `width` columns wide when given: the table
/// leaves out the digest, then the architectures, rather than be wrapped; every other line is
/// wrapped ([`wrap`]).
pub fn render(report: &Report, shown: Shown, width: Option<usize>) -> Vec<String> {
    let table = shown == Shown::Table || report.containers.len() <= SMALL_RUN;
    let lines = match shown {
        Shown::Outcome => std::iter::once(report.outcome_line())
            .chain(
                report
                    .label_lines()
                    .into_iter()
                    .filter(|l| l.starts_with("warning: ")),
            )
            .collect(),
        _ => {
            let fits =
                |lines: &[String]| width.is_none_or(|w| lines.iter().all(|l| l.chars().count() < w.max(21)));
            let mut out = summary(report, table, Columns::All);
            for fewer in [Columns::NoDigest, Columns::Names] {
                if table && !fits(&table_part(&out)) {
                    out = summary(report, table, fewer);
                }
            }
            out
        }
    };
    match width {
        Some(w) => lines
            .iter()
            .flat_map(|l| {
                // A table row keeps its shape; a report's paths are copied whole.
                if is_table_row(l) || l.starts_with("report: ") {
                    vec![l.clone()]
                } else {
                    wrap(l, w)
                }
            })
            .collect(),
        None => lines,
    }
}

/// The table's lines of a summary: those before its first empty line.
fn table_part(lines: &[String]) -> Vec<String> {
    lines.iter().take_while(|l| !l.is_empty()).cloned().collect()
}

/// A line of the table (columns aligned with runs of spaces), which is never wrapped.
fn is_table_row(line: &str) -> bool {
    !line.starts_with(' ') && line.contains("  ") && !line.starts_with("error: ")
}

/// Which columns the table has besides the names and the registries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Columns {
    All,
    NoDigest,
    Names,
}

/// A readable table of a report (`table`; else one line saying how to see it): one row per
/// container, one column per registry (the source first, marked `*`), within 100 columns; then the
/// outcome, the label's fate, each cause and the report files.
fn summary(report: &Report, table: bool, columns: Columns) -> Vec<String> {
    let mut out = Vec::new();
    if let (true, Some(plan)) = (report.dry_run, &report.plan) {
        print_plan(&mut out, plan, &report.named_label);
    }
    if !table {
        say!(
            out,
            "{} images: one row each with --table, and in the HTML report",
            report.containers.len()
        );
        return tail(report, out);
    }
    let regs = table_registries(report);
    let w = report
        .containers
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(9)
        .clamp(9, 24);
    // The fixed columns, as wide as they are wanted (the digest and the architectures go first
    // on a narrow terminal).
    let fixed = |name: &str, digest: &str, arch: &str| match columns {
        Columns::All => format!("{name:<w$}  {digest:<12}  {arch:<13}"),
        Columns::NoDigest => format!("{name:<w$}  {arch:<13}"),
        Columns::Names => format!("{name:<w$}"),
    };
    let mut head = fixed("container", "digest", "architectures");
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
        let mut row = fixed(
            &truncate(&c.name, w),
            short,
            &truncate(&c.manifest_architectures.join("+"), 13),
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
    tail(report, out)
}

/// What follows the table: the outcome, the label's fate, each cause, the report files (a pair of
/// the same name in one line).
fn tail(report: &Report, mut out: Vec<String>) -> Vec<String> {
    // A blank line after the table, not after the one line standing in for it.
    if out.len() > 1 {
        say!(out);
    }
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
    for f in paired(&report.files) {
        say!(out, "report: {f}");
    }
    out
}

/// `x.json` and `x.html` as `x.json, .html`.
fn paired(files: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = files.iter().peekable();
    while let Some(f) = rest.next() {
        let stem = f.strip_suffix(".json");
        match (stem, rest.peek()) {
            (Some(stem), Some(next)) if next.strip_suffix(".html") == Some(stem) => {
                out.push(format!("{f}, .html"));
                rest.next();
            }
            _ => out.push(f.clone()),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_of_reports_is_one_line() {
        let files = [
            "/l/r-1.json",
            "/l/r-1.html",
            "/l/r-latest.json",
            "/l/r-latest.html",
            "/l/x.html",
        ]
        .map(String::from);
        assert_eq!(
            paired(&files),
            ["/l/r-1.json, .html", "/l/r-latest.json, .html", "/l/x.html"]
        );
    }
}
