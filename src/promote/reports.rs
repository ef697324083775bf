//! Where a promotion's reports go: the JSON and HTML pair of each run, named so that runs of other
//! releases and hashes never overwrite each other, plus a copy of the newest; the older runs'
//! pairs pruned to the newest `report_keep` per action and release. Both faces (the command line and
//! the Ansible module) write them through [`write_reports`].

use std::path::Path;

use crate::report::folder::{self, GROUP_REPORT_MODE, REPORT_MODE};
use crate::report::{Kind, Phase, Report};

use super::Promotion;

/// Write the reports; returns their paths. Given paths (`report_json`, `report_html`) are used as
/// they are; by default each run gets its own pair in `tmp_file_root` (its private sub-folder when
/// that folder is shared: see [`crate::report::folder`]), named by action, release, hash and start
/// time (`copy-containers-promote-master-<hash>-20261129T053532Z.json`), so that runs of other
/// releases and hashes do not overwrite each other, plus `copy-containers-<action>-latest.*`, a copy
/// of the newest. A releases file's entry says its name instead of the release
/// ([`Promotion::report_name`]), its latest copy too (`copy-containers-promote-<entry>-latest.json`).
/// Then the older default pairs of the same action and release beyond the newest `report_keep` are
/// removed (logged once). Reports are 0600, or 0640 with `report_group_readable`.
pub fn write_reports(p: &Promotion, report: &mut Report) -> Vec<String> {
    let stamp: String = report
        .started_at
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    // The folder of the default names, checked (none when it cannot be trusted: said once).
    let root = match p.report_json.is_none() || p.report_html.is_none() {
        true => match folder::output_dir(&p.tmp_file_root) {
            Ok(r) => Some(r),
            Err(e) => {
                // Said once: the run's list files met the same folder first.
                let said = e.to_string();
                if !report.errors.iter().any(|x| x.contains(&said)) {
                    report.push_error(Phase::Reports, Kind::of(&e), format!("report: {said}"));
                }
                None
            }
        },
        false => None,
    };
    let name = p.report_name.as_deref().unwrap_or(&report.release);
    let prefix = format!("copy-containers-{}-{name}-", report.action);
    let mut base = format!("{prefix}{}-{stamp}", report.full_hash);
    let mut latest = None;
    if let Some(root) = &root {
        // Two runs in the same second (a rerun at once) each keep their own pair, numbered after
        // the highest there (never a lower number a pruned run had: the order stays the runs').
        if let Some(n) = highest_run_number(root, &base) {
            base = format!("{base}-{}", n + 1);
        }
        latest = Some(match &p.report_name {
            Some(name) => format!("copy-containers-{}-{name}-latest", report.action),
            None => format!("copy-containers-{}-latest", report.action),
        });
    }
    let default = |ext: &str, stem: &str| root.as_ref().map(|r| r.join(format!("{stem}.{ext}")));
    // (path, is JSON): this run's pair, then the `latest` copies of the default names.
    let mut paths = Vec::new();
    paths.extend(
        p.report_json
            .clone()
            .or_else(|| default("json", &base))
            .map(|j| (j, true)),
    );
    paths.extend(
        p.report_html
            .clone()
            .or_else(|| default("html", &base))
            .map(|h| (h, false)),
    );
    if let Some(latest) = &latest {
        if p.report_json.is_none() {
            paths.extend(default("json", latest).map(|j| (j, true)));
        }
        if p.report_html.is_none() {
            paths.extend(default("html", latest).map(|h| (h, false)));
        }
    }
    for (path, _) in &paths {
        report.files.push(path.display().to_string());
    }
    let mode = match p.report_group_readable {
        true => GROUP_REPORT_MODE,
        false => REPORT_MODE,
    };
    let mut written = Vec::new();
    for (path, json) in paths {
        let r = if json {
            report.write_json_mode(&path, mode)
        } else {
            crate::report::html::write_mode(report, &path, mode)
        };
        match r {
            Ok(()) => written.push(path.display().to_string()),
            Err(e) => report.push_error(Phase::Reports, Kind::of(&e), format!("report: {e}")),
        }
    }
    if let (Some(root), true) = (&root, p.report_keep > 0) {
        prune(root, &prefix, &base, p.report_keep);
    }
    written
}

/// The highest same-second number of the reports named `<base>.*` (1) or `<base>-<n>.*` (n) in
/// `dir`; `None` when there is none.
fn highest_run_number(dir: &Path, base: &str) -> Option<u32> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name
                .strip_suffix(".json")
                .or_else(|| name.strip_suffix(".html"))?;
            match stem.strip_prefix(base)? {
                "" => Some(1),
                rest => rest.strip_prefix('-')?.parse().ok(),
            }
        })
        .max()
}

/// The run's stamp and its same-second number in a default report's name after `prefix`
/// (`<hash>-<stamp>` or `<hash>-<stamp>-<n>`), to order runs; `None` for other names (`latest`,
/// another release whose name starts the same way, files of other tools).
fn run_of(rest: &str) -> Option<(String, u32)> {
    let (head, n) = match rest.rsplit_once('-') {
        Some((h, n)) if !n.is_empty() && n.len() < 6 && n.bytes().all(|b| b.is_ascii_digit()) => {
            (h, n.parse().ok()?)
        }
        _ => (rest, 0),
    };
    let (hash, stamp) = head.rsplit_once('-')?;
    let stamp_ok = stamp.len() == 16
        && stamp.as_bytes()[8] == b'T'
        && stamp.ends_with('Z')
        && stamp[..8]
            .bytes()
            .chain(stamp[9..15].bytes())
            .all(|b| b.is_ascii_digit());
    let hash_ok = !hash.is_empty() && hash.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    (stamp_ok && hash_ok).then(|| (stamp.to_string(), n))
}

/// Remove the default report pairs named `<prefix>…` beyond the newest `keep` (never `current`'s,
/// never a link nor another user's file), and say so once.
fn prune(dir: &Path, prefix: &str, current: &str, keep: usize) {
    use std::os::unix::fs::MetadataExt;
    let me = crate::oci::shared_host::euid();
    // run → its files
    let mut runs: std::collections::BTreeMap<(String, u32), Vec<std::path::PathBuf>> = Default::default();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".json").or_else(|| name.strip_suffix(".html")) else {
            continue;
        };
        let Some(run) = stem.strip_prefix(prefix).and_then(run_of) else {
            continue;
        };
        // `DirEntry::metadata` does not follow links.
        let ours = e
            .metadata()
            .is_ok_and(|m| m.file_type().is_file() && m.uid() == me);
        if ours && stem != current {
            runs.entry(run).or_default().push(e.path());
        }
    }
    // The newest `keep` runs stay, this one counted among them.
    let old = runs.len().saturating_sub(keep.saturating_sub(1));
    let mut removed = 0;
    for files in runs.into_values().take(old) {
        for f in files {
            if std::fs::remove_file(&f).is_ok() {
                removed += 1;
            }
        }
    }
    if removed > 0 {
        tracing::info!(
            folder = %dir.display(),
            "removed {removed} old report file(s) of {prefix}* (the newest {keep} runs' reports are kept)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_read_from_default_names_only() {
        assert_eq!(
            run_of("abc_12-20261129T053532Z"),
            Some(("20261129T053532Z".into(), 0))
        );
        assert_eq!(
            run_of("abc-20261129T053532Z-3"),
            Some(("20261129T053532Z".into(), 3))
        );
        for other in [
            "latest",
            "x-abc-20261129T053532Z",
            "abc-2026",
            "-20261129T053532Z",
        ] {
            assert_eq!(run_of(other), None, "{other}");
        }
    }
}
