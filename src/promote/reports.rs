//! Where a promotion's reports go: the JSON and HTML pair of each run, named so that runs of other
//! releases and hashes never overwrite each other, plus a copy of the newest. Both faces (the command
//! line and the Ansible module) write them through [`write_reports`].

use crate::report::{Kind, Phase, Report};

use super::Promotion;

/// Write the reports; returns their paths. Given paths (`report_json`, `report_html`) are used as
/// they are; by default each run gets its own pair in `tmp_file_root`, named by action, release, hash
/// and start time (`copy-containers-promote-master-<hash>-20261129T053532Z.json`), so that runs of
/// other releases and hashes do not overwrite each other, plus `copy-containers-<action>-latest.*`,
/// a copy of the newest. A releases file's entry says its name instead of the release
/// ([`Promotion::report_name`]), its latest copy too (`copy-containers-promote-<entry>-latest.json`).
pub fn write_reports(p: &Promotion, report: &mut Report) -> Vec<String> {
    let stamp: String = report
        .started_at
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let root = &p.tmp_file_root;
    let name = p.report_name.as_deref().unwrap_or(&report.release);
    let mut base = format!(
        "copy-containers-{}-{name}-{}-{stamp}",
        report.action, report.full_hash
    );
    // Two runs in the same second (a rerun at once) each keep their own pair.
    let taken = |b: &str| root.join(format!("{b}.json")).exists() || root.join(format!("{b}.html")).exists();
    if taken(&base) {
        let first = base.clone();
        base = (2..)
            .map(|n| format!("{first}-{n}"))
            .find(|b| !taken(b))
            .unwrap_or(first);
    }
    let latest = match &p.report_name {
        Some(name) => format!("copy-containers-{}-{name}-latest", report.action),
        None => format!("copy-containers-{}-latest", report.action),
    };
    let json = p
        .report_json
        .clone()
        .unwrap_or_else(|| root.join(format!("{base}.json")));
    let html = p
        .report_html
        .clone()
        .unwrap_or_else(|| root.join(format!("{base}.html")));
    // (path, is JSON)
    let mut paths = vec![(json, true), (html, false)];
    if p.report_json.is_none() {
        paths.push((root.join(format!("{latest}.json")), true));
    }
    if p.report_html.is_none() {
        paths.push((root.join(format!("{latest}.html")), false));
    }
    for (path, _) in &paths {
        report.files.push(path.display().to_string());
    }
    let mut written = Vec::new();
    for (path, json) in paths {
        let r = if json {
            report.write_json(&path)
        } else {
            crate::report::html::write(report, &path)
        };
        match r {
            Ok(()) => written.push(path.display().to_string()),
            Err(e) => report.push_error(Phase::Reports, Kind::of(&e), format!("report: {e}")),
        }
    }
    written
}
