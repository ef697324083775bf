//! The self-contained HTML report (inline CSS, no scripts, no external resources), laid out for the
//! person who opens it after a failed night: the status and a summary per registry on top, the
//! failures grouped by cause next, then a container × registry matrix (one row per container, one
//! colour-coded cell per registry with its tags and architectures), then the per-tag details folded
//! away. It fits 1280 px without horizontal scrolling (fixed table layouts, long names wrap).
//! Everything interpolated is HTML-escaped.

use std::fmt::Write as _;
use std::path::Path;

use super::{ContainerReport, Report, TagAction, TagEntry};
use crate::error::Result;

/// Escape text for HTML.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:1em auto;max-width:1240px;padding:0 1em;color:#222}\n\
h1{font-size:1.3em;overflow-wrap:anywhere}h2{font-size:1.1em;margin-top:1.4em}\n\
table{border-collapse:collapse;width:100%;table-layout:fixed;margin:.4em 0 1em}\n\
td,th{border:1px solid #ccc;padding:.25em .45em;text-align:left;font-size:.85em;vertical-align:top;overflow-wrap:anywhere}\n\
th{background:#f0f0f0}.ok{color:#176f2c;font-weight:bold}.bad{color:#b00020;font-weight:bold}\n\
.changed{color:#0b5394}.same{color:#555}.skip{color:#888}code{font-size:.9em}\n\
td.c-bad{background:#fde2e4}td.c-changed{background:#e3eefc}td.c-ok{background:#e6f4ea}td.c-skip{background:#f4f4f4}\n\
.facts{display:flex;flex-wrap:wrap;gap:.3em 1.5em;font-size:.9em}.facts b{font-weight:600}\n\
.group{border-left:4px solid #b00020;background:#fff5f5;padding:.4em .7em;margin:.5em 0;overflow-wrap:anywhere}\n\
.group .eg{color:#555;font-size:.85em}.tag{display:block}.arch{color:#555;font-size:.85em}\n\
details>summary{cursor:pointer;margin:.5em 0}";

fn action_class(a: TagAction) -> (&'static str, &'static str) {
    match a {
        TagAction::Copied => ("copied", "changed"),
        TagAction::Mounted => ("mounted", "changed"),
        TagAction::Tagged => ("tagged", "changed"),
        TagAction::AlreadyPresent => ("already present", "same"),
        TagAction::WouldChange => ("would change", "changed"),
        TagAction::Skipped => ("skipped", "skip"),
        TagAction::Failed => ("failed", "bad"),
    }
}

pub use crate::progress::human_bytes;

/// The registries of a report, in the order of its counters (source first), then any other met.
fn registries(r: &Report) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = r
        .registries
        .iter()
        .map(|s| (s.name.clone(), s.role.clone()))
        .collect();
    for e in r.containers.iter().flat_map(|c| c.entries.iter()) {
        if !out.iter().any(|(n, _)| *n == e.registry) {
            out.push((e.registry.clone(), String::new()));
        }
    }
    out
}

fn failed(e: &TagEntry) -> bool {
    e.action == TagAction::Failed || e.verified == Some(false)
}

/// The state of one container on one registry: CSS class and word.
fn cell_state(entries: &[&TagEntry]) -> (&'static str, &'static str) {
    if entries.is_empty() {
        ("c-skip", "")
    } else if entries.iter().any(|e| failed(e)) {
        ("c-bad", "failed")
    } else if entries.iter().any(|e| e.error.is_some()) {
        // Withheld or not attempted because of a failure reported elsewhere.
        ("c-skip", "skipped")
    } else if entries.iter().any(|e| e.action.changed()) {
        ("c-changed", "changed")
    } else if entries.iter().all(|e| e.action == TagAction::Skipped) {
        ("c-skip", "skipped")
    } else {
        ("c-ok", "in place")
    }
}

/// A tag as a cell shows it: the hash shortened (the header names it).
fn short_tag(tag: &str, hash: &str) -> String {
    match tag.strip_prefix(hash) {
        Some(rest) if !hash.is_empty() => format!("‹hash›{rest}"),
        _ => tag.to_string(),
    }
}

/// Render the report.
pub fn render(r: &Report) -> String {
    let mut h = String::new();
    let title = format!("copy-containers {} {} → {}", r.action, r.full_hash, r.named_label);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{t}</title>\n<style>\n{STYLE}\n</style></head><body>\n<h1>{t}</h1>\n",
        t = esc(&title),
    );
    header(&mut h, r);
    per_registry(&mut h, r);
    failures(&mut h, r);
    matrix(&mut h, r);
    details(&mut h, r);
    counters(&mut h, r);
    h.push_str("</body></html>\n");
    h
}

fn header(h: &mut String, r: &Report) {
    let status = match (r.ok, r.dry_run) {
        (true, true) => "<span class=\"ok\">OK</span> (dry run: nothing changed)",
        (true, false) => "<span class=\"ok\">OK</span>",
        (false, _) => "<span class=\"bad\">FAILED</span>",
    };
    let (done, not_done) = r.outcome_words();
    let _ = writeln!(
        h,
        "<div class=\"facts\" id=\"summary\"><span><b>status</b> {status}</span><span><b>started</b> {}</span>\
         <span><b>duration</b> {:.1} s</span><span><b>release</b> {} ({})</span><span><b>source</b> {}</span>\
         <span><b>containers</b> {} found, {} missing, {} {done}, {} {not_done}</span><span><b>sent to targets</b> {}</span></div>",
        esc(&r.started_at),
        r.seconds,
        esc(&r.release),
        esc(&r.distro),
        esc(&r.source),
        r.found.len(),
        r.missing.len(),
        r.pushed.len(),
        r.missed.len(),
        human_bytes(r.registries.iter().filter(|s| s.role == "target").map(|s| s.bytes_sent).sum()),
    );
}

/// One row per registry: how many containers are done there, what changed, what failed.
fn per_registry(h: &mut String, r: &Report) {
    h.push_str("<table id=\"per-registry\"><tr><th>registry</th><th>role</th><th>containers done</th><th>tags changed</th><th>tags failed</th><th>sent</th></tr>\n");
    for (name, role) in registries(r) {
        let mut done = 0;
        let mut total = 0;
        let (mut changed, mut bad) = (0, 0);
        // Bytes as the transport counted them (one set of numbers: the summary's and the JSON's).
        let sent: u64 = r
            .registries
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.bytes_sent)
            .sum();
        for c in &r.containers {
            let mine: Vec<&TagEntry> = c.entries.iter().filter(|e| e.registry == name).collect();
            if mine.is_empty() {
                continue;
            }
            total += 1;
            if matches!(cell_state(&mine).0, "c-ok" | "c-changed") {
                done += 1;
            }
            changed += mine.iter().filter(|e| e.action.changed()).count();
            bad += mine.iter().filter(|e| failed(e)).count();
        }
        // Red where something failed there; grey where work was only skipped because of a failure
        // elsewhere (a withheld source label).
        let class = match (bad > 0, done < total) {
            (true, _) => "bad",
            (false, true) => "skip",
            (false, false) => "ok",
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"{class}\">{done} / {total}</td><td>{changed}</td><td>{bad}</td><td>{}</td></tr>",
            esc(&name),
            esc(&role),
            human_bytes(sent)
        );
    }
    h.push_str("</table>\n");
}

/// The failures, one block per cause, before anything else long.
fn failures(h: &mut String, r: &Report) {
    let groups = r.groups();
    if groups.is_empty() && r.missing.is_empty() {
        return;
    }
    h.push_str("<section id=\"failures\"><h2>What went wrong</h2>\n");
    for g in &groups {
        let example = r.problems.iter().find(|p| super::problem::same_group(p, g));
        let _ = write!(
            h,
            "<div class=\"group\"><div class=\"bad\">{}</div>",
            esc(&g.headline())
        );
        if g.containers.len() > 5 {
            let _ = write!(
                h,
                "<details><summary>all {} images</summary>{}</details>",
                g.containers.len(),
                esc(&g.containers.join(", "))
            );
        }
        if let (Some(p), true) = (example, g.count > 1) {
            let _ = write!(h, "<div class=\"eg\">e.g. {}</div>", esc(&p.text));
        }
        h.push_str("</div>\n");
    }
    if !r.missing.is_empty() {
        let _ = writeln!(
            h,
            "<p><b>Missing at the source:</b> {}</p>",
            esc(&r.missing.join(", "))
        );
    }
    h.push_str("</section>\n");
}

/// One row per container, one colour-coded cell per registry with its tags and architectures.
fn matrix(h: &mut String, r: &Report) {
    let regs = registries(r);
    if r.containers.is_empty() || regs.is_empty() {
        return;
    }
    h.push_str("<h2>Containers</h2>\n<table id=\"matrix\"><colgroup><col style=\"width:16em\">");
    for _ in &regs {
        h.push_str("<col>");
    }
    h.push_str("</colgroup><tr><th>container</th>");
    for (name, role) in &regs {
        let role = if role.is_empty() {
            String::new()
        } else {
            format!(" <span class=\"skip\">({})</span>", esc(role))
        };
        let _ = write!(h, "<th>{}{role}</th>", esc(name));
    }
    h.push_str("</tr>\n");
    for c in &r.containers {
        let _ = write!(h, "<tr><td>{}", esc(&c.name));
        if !c.manifest_architectures.is_empty() {
            let _ = write!(
                h,
                "<div class=\"arch\">{}</div>",
                esc(&c.manifest_architectures.join(" + "))
            );
        }
        h.push_str("</td>");
        for (name, _) in &regs {
            cell(h, r, c, name);
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
}

fn cell(h: &mut String, r: &Report, c: &ContainerReport, registry: &str) {
    let mine: Vec<&TagEntry> = c.entries.iter().filter(|e| e.registry == registry).collect();
    let (class, word) = cell_state(&mine);
    let _ = write!(h, "<td class=\"{class}\"><b>{word}</b>");
    for e in &mine {
        let (label, aclass) = action_class(e.action);
        let mark = match e.verified {
            Some(true) => " ✓",
            Some(false) => " ✗",
            None => "",
        };
        let _ = write!(
            h,
            "<span class=\"tag\" title=\"{}\"><code>{}</code> <span class=\"{aclass}\">{label}{mark}</span></span>",
            esc(e.error.as_deref().unwrap_or(e.digest.as_deref().unwrap_or(""))),
            esc(&short_tag(&e.tag, &r.full_hash)),
        );
    }
    h.push_str("</td>");
}

/// Every tag, folded away: digests, previous digests, bytes, errors.
fn details(h: &mut String, r: &Report) {
    let n: usize = r.containers.iter().map(|c| c.entries.len()).sum();
    if n == 0 {
        return;
    }
    let _ = write!(
        h,
        "<details id=\"details\"><summary>Every tag ({n})</summary>\n<table><colgroup><col style=\"width:11%\"><col style=\"width:11%\"><col style=\"width:14%\">\
         <col style=\"width:8%\"><col style=\"width:5%\"><col style=\"width:17%\"><col style=\"width:17%\"><col style=\"width:6%\"><col></colgroup>\
         <tr><th>container</th><th>registry</th><th>tag</th><th>action</th><th>verified</th><th>digest</th><th>previous</th><th>uploaded</th><th>error</th></tr>\n"
    );
    for c in &r.containers {
        for e in &c.entries {
            let (label, class) = action_class(e.action);
            let verified = match e.verified {
                Some(true) => "<span class=\"ok\">yes</span>",
                Some(false) => "<span class=\"bad\">NO</span>",
                None => "",
            };
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{label}</td><td>{verified}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td class=\"bad\">{}</td></tr>",
                esc(&c.name),
                esc(&e.registry),
                esc(&e.tag),
                esc(e.digest.as_deref().unwrap_or("")),
                esc(e.previous.as_deref().unwrap_or("")),
                if e.bytes_uploaded > 0 { human_bytes(e.bytes_uploaded) } else { String::new() },
                esc(e.error.as_deref().unwrap_or("")),
            );
        }
    }
    h.push_str("</table></details>\n");
    if !r.ppc_found.is_empty() || !r.ppc_missing.is_empty() {
        let _ = writeln!(
            h,
            "<p><b>ppc64le</b> with: {}; without: {}</p>",
            esc(&r.ppc_found.join(", ")),
            esc(&r.ppc_missing.join(", "))
        );
    }
}

fn counters(h: &mut String, r: &Report) {
    h.push_str("<h2>Requests</h2>\n<table><tr><th>registry</th><th>role</th><th>requests</th><th>retries</th><th>sent</th><th>received</th></tr>\n");
    for s in &r.registries {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.name),
            esc(&s.role),
            s.requests,
            s.retries,
            human_bytes(s.bytes_sent),
            human_bytes(s.bytes_received)
        );
    }
    h.push_str("</table>\n");
}

/// Render and write atomically.
/// Write the page, this user's only (0600: it names registry users and hosts).
pub fn write(r: &Report, path: &Path) -> Result<()> {
    write_mode(r, path, super::folder::REPORT_MODE)
}

/// Write the page with this file mode.
pub fn write_mode(r: &Report, path: &Path, mode: u32) -> Result<()> {
    super::write_atomic_mode(path, render(r).as_bytes(), mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ContainerReport;

    fn entry(registry: &str, tag: &str, action: TagAction, verified: Option<bool>) -> TagEntry {
        let digest: crate::digest::Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        let mut e = TagEntry::new(registry, "ns/openstack-nova", tag, Some(&digest), action);
        e.verified = verified;
        e
    }

    /// `verify`, `tag` and `rollback` pushed nothing: the summary says what their counts are.
    #[test]
    fn the_summary_names_each_actions_outcome() {
        for (action, done, not_done) in [
            ("promote", "1 promoted", "0 not verified on every target"),
            ("verify", "1 verified", "0 not verified"),
            ("tag", "1 labelled", "0 not labelled"),
            ("rollback", "1 rolled back", "0 not rolled back"),
        ] {
            let r = Report {
                action: action.into(),
                found: vec!["nova".into()],
                pushed: vec!["nova".into()],
                ..Default::default()
            };
            let h = render(&r);
            assert!(h.contains(done) && h.contains(not_done), "{action}: {h}");
            assert!(!h.contains("pushed"), "{action}");
        }
    }

    #[test]
    fn escapes_and_is_self_contained() {
        let r = Report {
            full_hash: "<script>alert(1)</script>".into(),
            errors: vec!["a & b".into()],
            ..Default::default()
        };
        let h = render(&r);
        assert!(!h.contains("<script>"));
        assert!(h.contains("&lt;script&gt;"));
        assert!(h.contains("a &amp; b"));
        assert!(!h.contains("http://") && !h.contains("https://") && !h.contains("<link"));
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }

    #[test]
    fn failures_come_before_the_matrix_whose_cells_say_the_state() {
        let fh = "d7c3cd922f91d83aacb5d7555de9d5bc";
        let mut bad = entry("t2", fh, TagAction::Failed, Some(false));
        bad.error = Some("t2: unreachable".into());
        let r = Report {
            full_hash: fh.into(),
            errors: vec!["nova: t2: unreachable".into()],
            containers: vec![ContainerReport {
                name: "nova".into(),
                source_image: String::new(),
                source_digest: None,
                manifest_architectures: vec!["amd64".into(), "ppc64le".into()],
                entries: vec![
                    entry("t1", fh, TagAction::Copied, Some(true)),
                    entry("t1", &format!("{fh}_manifest"), TagAction::Tagged, Some(true)),
                    bad,
                ],
                pushed: false,
            }],
            ..Default::default()
        };
        let h = render(&r);
        let failures = h.find("id=\"failures\"").expect("failures section");
        let matrix = h.find("id=\"matrix\"").expect("matrix");
        assert!(failures < matrix);
        assert!(h.contains("<td class=\"c-changed\"><b>changed</b>"), "{h}");
        assert!(h.contains("<td class=\"c-bad\"><b>failed</b>"), "{h}");
        assert!(h.contains("‹hash›_manifest"));
        assert!(h.contains("amd64 + ppc64le"));
    }
}
