//! The self-contained HTML report (inline CSS, no scripts, no external resources), laid out for the
//! person who opens it after a failed night, at release size (150 images): the status and the
//! outcome line on top, with the label's fate; the failures grouped by cause (what followed from
//! each, what to do); the next step (kept local copies, what to rerun); a row per registry (images
//! done, the label there); then the images, failures first: one line per image, one line per
//! registry cell (its state, the label's old → new digest there), the image's bytes and seconds.
//! Images alike are folded into one summary row each, expandable without JavaScript (`<details>`):
//! every healthy image in one, and a failure shared by many images in one. Every tag's details are
//! folded away last. It fits 1280 px without horizontal scrolling (fixed table layouts, cells cut
//! to one line, the whole text in their `title`). Everything interpolated is HTML-escaped.

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
h1{font-size:1.3em;overflow-wrap:anywhere;margin:.3em 0}h2{font-size:1.1em;margin:1.2em 0 .4em}\n\
table{border-collapse:collapse;width:100%;table-layout:fixed;margin:.4em 0 1em}\n\
td,th{border:1px solid #ccc;padding:.2em .45em;text-align:left;font-size:.85em;vertical-align:top;overflow-wrap:anywhere}\n\
th{background:#f0f0f0}.ok{color:#176f2c;font-weight:bold}.bad{color:#b00020;font-weight:bold}\n\
.changed{color:#0b5394}.same{color:#555}.skip{color:#888}code{font-size:.9em}\n\
td.c-bad{background:#fde2e4}td.c-changed{background:#e3eefc}td.c-ok{background:#e6f4ea}td.c-skip{background:#f4f4f4}\n\
#matrix td,#matrix th{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}\n\
#matrix td.fold{padding:0;white-space:normal}#matrix td.fold table{margin:0}#matrix td.fold td{border-left:0;border-right:0}\n\
#matrix summary{margin:0;padding:.25em .45em;font-size:.9em}\n\
.facts{display:flex;flex-wrap:wrap;gap:.3em 1.5em;font-size:.9em}.facts b{font-weight:600}\n\
.outcome{font-size:1.05em;margin:.5em 0 .2em}.warn{color:#8a4b00;font-weight:bold}\n\
.group{border-left:4px solid #b00020;background:#fff5f5;padding:.4em .7em;margin:.5em 0;overflow-wrap:anywhere}\n\
.group div{margin:.1em 0}.group .eg{color:#555;font-size:.85em}.todo{color:#0b5394}.arch{color:#555;font-size:.85em}\n\
details>summary{cursor:pointer;margin:.5em 0}ul{margin:.3em 0;padding-left:1.4em}";

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
    // A registry this run wrote nothing to and read nothing about has no column.
    out.retain(|(n, _)| {
        r.containers
            .iter()
            .any(|c| c.entries.iter().any(|e| e.registry == *n))
    });
    out
}

fn failed(e: &TagEntry) -> bool {
    e.action == TagAction::Failed || e.verified == Some(false)
}

/// The state of one container on one registry: CSS class and words (`failed`, `copied ✓`, `in
/// place ✓`, `not attempted`).
fn cell_state(entries: &[&TagEntry]) -> (&'static str, String) {
    if entries.is_empty() {
        return ("c-skip", String::new());
    }
    let verified = entries.iter().all(|e| e.verified == Some(true));
    let mark = if verified { " ✓" } else { "" };
    let has = |a: TagAction| entries.iter().any(|e| e.action == a);
    if entries.iter().any(|e| failed(e)) {
        ("c-bad", "failed ✗".into())
    } else if entries.iter().any(|e| e.error.is_some()) {
        // Withheld or not attempted because of a failure reported elsewhere.
        ("c-skip", "not attempted".into())
    } else if has(TagAction::WouldChange) {
        ("c-changed", "would change".into())
    } else if has(TagAction::Copied) {
        ("c-changed", format!("copied{mark}"))
    } else if has(TagAction::Mounted) {
        ("c-changed", format!("mounted{mark}"))
    } else if has(TagAction::Tagged) {
        ("c-changed", format!("tagged{mark}"))
    } else if entries.iter().all(|e| e.action == TagAction::Skipped) {
        ("c-skip", "skipped".into())
    } else {
        ("c-ok", format!("in place{mark}"))
    }
}

/// `sha256:3f2a9c1b…` as `3f2a9c1`.
fn short(d: Option<&str>) -> String {
    match d {
        Some(d) => d.strip_prefix("sha256:").unwrap_or(d).chars().take(7).collect(),
        None => "none".into(),
    }
}

/// What the label did in one cell: `label 3f2a9c1 → 8b1d4e2`, `label in place`, `label not moved`.
fn label_move(r: &Report, entries: &[&TagEntry]) -> Option<String> {
    let e = entries.iter().find(|e| e.tag == r.named_label)?;
    Some(match (e.action, &e.error) {
        (TagAction::Tagged | TagAction::WouldChange, None) => format!(
            "label {} → {}",
            short(e.previous.as_deref()),
            short(e.digest.as_deref())
        ),
        (TagAction::AlreadyPresent, None) => "label in place".into(),
        (TagAction::Skipped, Some(err)) if err.starts_with("label withheld") => "label withheld".into(),
        _ => "label not moved".into(),
    })
}

/// One image's bytes sent and seconds (the longest of its copies).
fn image_cost(c: &ContainerReport) -> (u64, f64) {
    let bytes = c.entries.iter().map(|e| e.bytes_uploaded).sum();
    let secs = c.entries.iter().map(|e| e.seconds).fold(0.0, f64::max);
    (bytes, secs)
}

/// Render the report.
pub fn render(r: &Report) -> String {
    let mut h = String::new();
    let title = match r.action.as_str() {
        // A copy moves no label.
        "copy" => format!("copy-containers copy {}", r.full_hash),
        _ => format!("copy-containers {} {} → {}", r.action, r.full_hash, r.named_label),
    };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{t}</title>\n<style>\n{STYLE}\n</style></head><body>\n<h1>{t}</h1>\n",
        t = esc(&title),
    );
    header(&mut h, r);
    failures(&mut h, r);
    next_step(&mut h, r);
    per_registry(&mut h, r);
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
    let _ = writeln!(
        h,
        "<div class=\"facts\" id=\"summary\"><span><b>status</b> {status}</span><span><b>release</b> {} ({})</span>\
         <span><b>source</b> {}</span><span><b>started</b> {}</span><span><b>duration</b> {:.1} s</span></div>",
        esc(&r.release),
        esc(&r.distro),
        esc(&r.source),
        esc(&r.started_at),
        r.seconds,
    );
    let class = if r.ok { "ok" } else { "bad" };
    let _ = writeln!(
        h,
        "<p class=\"outcome\" id=\"outcome\"><span class=\"{class}\">{}</span></p>",
        esc(&r.outcome_line())
    );
    for (i, line) in r.label_lines().iter().enumerate() {
        let class = if i == 0 { "" } else { " class=\"warn\"" };
        let _ = writeln!(h, "<p id=\"label-{i}\"{class}>{}</p>", esc(line));
    }
}

/// The failures, one block per cause (what followed from it, an example, what to do), before
/// anything else long.
fn failures(h: &mut String, r: &Report) {
    let groups = r.groups();
    if groups.is_empty() {
        return;
    }
    h.push_str("<section id=\"failures\"><h2>What went wrong</h2>\n");
    for g in &groups {
        let _ = write!(
            h,
            "<div class=\"group\"><div class=\"bad\">{}</div>",
            esc(&g.headline())
        );
        if let Some(c) = g.consequence() {
            let _ = write!(h, "<div>so {}</div>", esc(&c));
        }
        if g.containers.len() > 5 {
            let _ = write!(
                h,
                "<details><summary>all {} images</summary>{}</details>",
                g.containers.len(),
                esc(&g.containers.join(", "))
            );
        }
        if let Some(e) = &g.example {
            let _ = write!(h, "<div class=\"eg\">e.g. {}</div>", esc(e));
        }
        if let Some(t) = &g.todo {
            let _ = write!(h, "<div class=\"todo\">to do: {}</div>", esc(t));
        }
        h.push_str("</div>\n");
    }
    h.push_str("</section>\n");
}

/// What comes next, beyond each cause's to-do (said with the cause): the local copies kept (where,
/// how big, what a rerun does with them), removed or pruned, and, after a failure, what a rerun does.
fn next_step(h: &mut String, r: &Report) {
    let mut items: Vec<String> = Vec::new();
    if !r.ok && r.action == "promote" && !r.dry_run && !r.found.is_empty() {
        items.push(
            "once the causes above are dealt with, rerun the same promotion: what is in place is \
             not copied again, and the label moves where everything verified"
                .into(),
        );
    }
    if !r.local_kept.is_empty() {
        let root = r.local_root.as_deref().unwrap_or("the local store");
        let rerun = if r.ok {
            ""
        } else {
            "; a rerun reads them instead of the source"
        };
        items.push(format!(
            "local copies kept: {} in {root} ({}){rerun}",
            super::problem::images(r.local_kept.len()),
            human_bytes(r.local_bytes)
        ));
    }
    if !r.local_removed.is_empty() {
        items.push(format!(
            "local copies removed after the verified success: {}",
            super::problem::images(r.local_removed.len())
        ));
    }
    if !r.local_pruned.is_empty() {
        items.push(format!(
            "the retention policy removed older kept copies: {}",
            r.local_pruned.join(", ")
        ));
    }
    if items.is_empty() {
        return;
    }
    h.push_str("<section id=\"next\"><h2>Next step</h2><ul>\n");
    for i in &items {
        let _ = writeln!(h, "<li>{}</li>", esc(i));
    }
    h.push_str("</ul></section>\n");
}

/// One row per registry: how many images are done there, the label there, what changed, what failed.
fn per_registry(h: &mut String, r: &Report) {
    let regs = registries(r);
    if regs.is_empty() {
        return;
    }
    h.push_str("<table id=\"per-registry\"><colgroup><col style=\"width:22%\"><col style=\"width:8%\"><col style=\"width:10%\"><col><col style=\"width:9%\"><col style=\"width:8%\"><col style=\"width:9%\"></colgroup>\
        <tr><th>registry</th><th>role</th><th>images done</th><th>label</th><th>tags changed</th><th>tags failed</th><th>sent</th></tr>\n");
    for (name, role) in regs {
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
        // elsewhere (a withheld source label), or nothing was there to do.
        let class = match (bad > 0, done < total || total == 0) {
            (true, _) => "bad",
            (false, true) => "skip",
            (false, false) => "ok",
        };
        let label = r
            .label
            .iter()
            .find(|f| f.registry == name)
            .map(|f| {
                let mut parts = Vec::new();
                for (n, word) in [
                    (f.moved, "moved"),
                    (f.would_move, "would move"),
                    (f.in_place, "in place"),
                    (f.not_moved, "not moved"),
                ] {
                    if n > 0 {
                        parts.push(format!("{n} {word}"));
                    }
                }
                let why = f.why.as_deref().map(|w| format!(" ({w})")).unwrap_or_default();
                format!("{}{why}", parts.join(", "))
            })
            .unwrap_or_default();
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"{class}\">{done} / {total}</td><td>{}</td><td>{changed}</td><td>{bad}</td><td>{}</td></tr>",
            esc(&name),
            esc(&role),
            esc(&label),
            human_bytes(sent)
        );
    }
    h.push_str("</table>\n");
}

/// Failed images with the same state on every registry, for folding them into one row.
struct Alike<'a> {
    /// Per registry: (CSS class, state words).
    states: Vec<(&'static str, String)>,
    images: Vec<&'a ContainerReport>,
}

/// A failure shared by more images than this is folded into one row.
const FOLD_FAILED: usize = 8;

/// The images, failures first, one row each (a failure shared by many images folded into one row),
/// then every image without a failure folded into one row.
fn matrix(h: &mut String, r: &Report) {
    let regs = registries(r);
    if r.containers.is_empty() || regs.is_empty() {
        return;
    }
    let mut failing: Vec<Alike> = Vec::new();
    let mut healthy: Vec<&ContainerReport> = Vec::new();
    for c in &r.containers {
        let states: Vec<(&'static str, String)> = regs
            .iter()
            .map(|(name, _)| {
                let mine: Vec<&TagEntry> = c.entries.iter().filter(|e| e.registry == *name).collect();
                cell_state(&mine)
            })
            .collect();
        if !states.iter().any(|(class, _)| *class == "c-bad") {
            healthy.push(c);
            continue;
        }
        match failing.iter_mut().find(|a| a.states == states) {
            Some(a) => a.images.push(c),
            None => failing.push(Alike {
                states,
                images: vec![c],
            }),
        }
    }
    h.push_str("<h2>Images</h2>\n<table id=\"matrix\">");
    colgroup(h, regs.len());
    h.push_str("<tr><th>image</th><th>sent</th><th>time</th>");
    for (name, role) in &regs {
        let role = if role.is_empty() {
            String::new()
        } else {
            format!(" <span class=\"skip\">({})</span>", esc(role))
        };
        let _ = write!(h, "<th title=\"{n}\">{n}{role}</th>", n = esc(name));
    }
    h.push_str("</tr>\n");
    for a in &failing {
        if a.images.len() <= FOLD_FAILED {
            for c in &a.images {
                row(h, r, c, &regs);
            }
        } else {
            fold(h, r, &a.images, &regs, &failed_words(a, &regs, r));
        }
    }
    if !healthy.is_empty() {
        fold(h, r, &healthy, &regs, &healthy_words(&healthy, &regs, r));
    }
    h.push_str("</table>\n");
}

/// Images folded into one summary row (`<details>`: no script needed to open it).
fn fold(h: &mut String, r: &Report, images: &[&ContainerReport], regs: &[(String, String)], what: &str) {
    let (bytes, secs) = images
        .iter()
        .map(|c| image_cost(c))
        .fold((0, 0.0), |(b, s), (cb, cs)| (b + cb, f64::max(s, cs)));
    let _ = write!(
        h,
        "<tr class=\"folded\"><td class=\"fold\" colspan=\"{}\"><details><summary><b>{}</b> {}; {} sent, up to {:.1} s each</summary><table>",
        regs.len() + 3,
        super::problem::images(images.len()),
        esc(what),
        human_bytes(bytes),
        secs
    );
    colgroup(h, regs.len());
    for c in images {
        row(h, r, c, regs);
    }
    h.push_str("</table></details></td></tr>\n");
}

/// Failed images alike, in words: `failed ✗ on q (unreachable), copied ✓ on t`.
fn failed_words(a: &Alike, regs: &[(String, String)], r: &Report) -> String {
    let why = |registry: &str| {
        r.label
            .iter()
            .find(|f| f.registry == registry)
            .and_then(|f| f.why.clone())
            .map(|w| format!(" ({w})"))
            .unwrap_or_default()
    };
    a.states
        .iter()
        .zip(regs)
        .filter(|((_, words), _)| !words.is_empty())
        .map(|((class, words), (name, _))| match *class {
            "c-bad" => format!("{words} on {name}{}", why(name)),
            _ => format!("{words} on {name}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The images without a failure, in words: `done on every registry: 5 copied, 15 already in
/// place` (and where something was not attempted because of a failure elsewhere).
fn healthy_words(images: &[&ContainerReport], regs: &[(String, String)], r: &Report) -> String {
    let changed = images
        .iter()
        .filter(|c| {
            c.entries
                .iter()
                .any(|e| e.action.changed() && e.tag != r.named_label)
        })
        .count();
    let counts = match (changed, images.len() - changed) {
        (0, _) => "already in place".to_string(),
        (_, 0) => "copied".to_string(),
        (c, p) => format!("{c} copied, {p} already in place"),
    };
    let skipped: Vec<&str> = regs
        .iter()
        .filter(|(name, _)| {
            images.iter().any(|c| {
                let mine: Vec<&TagEntry> = c.entries.iter().filter(|e| e.registry == *name).collect();
                cell_state(&mine).0 == "c-skip" && !mine.is_empty()
            })
        })
        .map(|(name, _)| name.as_str())
        .collect();
    match skipped.as_slice() {
        [] => format!("without a failure, done on every registry: {counts}"),
        some => format!(
            "without a failure of their own: {counts}; not attempted on {} (a failure elsewhere)",
            some.join(", ")
        ),
    }
}

fn colgroup(h: &mut String, regs: usize) {
    // In rem: the folded rows' tables (a smaller font) line up with the header's columns.
    h.push_str(
        "<colgroup><col style=\"width:16rem\"><col style=\"width:5.5rem\"><col style=\"width:4.5rem\">",
    );
    for _ in 0..regs {
        h.push_str("<col>");
    }
    h.push_str("</colgroup>");
}

/// One image: its name (architectures in the title), bytes and seconds, one line per registry.
fn row(h: &mut String, r: &Report, c: &ContainerReport, regs: &[(String, String)]) {
    let (bytes, secs) = image_cost(c);
    let arch = c.manifest_architectures.join(" + ");
    let _ = write!(
        h,
        "<tr><td title=\"{}\">{}</td><td>{}</td><td>{:.1} s</td>",
        esc(&arch),
        esc(&c.name),
        if bytes > 0 {
            human_bytes(bytes)
        } else {
            String::new()
        },
        secs
    );
    for (name, _) in regs {
        let mine: Vec<&TagEntry> = c.entries.iter().filter(|e| e.registry == *name).collect();
        let (class, words) = cell_state(&mine);
        // A registry holding only the label (the source) says what the label did, alone.
        let label_only = !mine.is_empty() && mine.iter().all(|e| e.tag == r.named_label);
        let label = match label_move(r, &mine) {
            Some(l) if label_only => l,
            Some(l) => format!("{words} · {l}"),
            None => words,
        };
        let title: Vec<String> = mine
            .iter()
            .map(|e| {
                let what = e.error.as_deref().or(e.digest.as_deref()).unwrap_or("");
                format!("{}: {what}", e.tag)
            })
            .collect();
        let _ = write!(
            h,
            "<td class=\"{class}\" title=\"{}\">{}</td>",
            esc(&title.join("\n")),
            esc(&label)
        );
    }
    h.push_str("</tr>\n");
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
    super::folder::write_file(path, render(r).as_bytes(), mode)
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

    /// `verify`, `tag` and `rollback` pushed nothing: the outcome line says what their counts are.
    #[test]
    fn the_outcome_names_each_actions_outcome() {
        for (action, done) in [
            ("verify", "OK: 1 image verified"),
            ("tag", "OK: 1 image labelled"),
            ("rollback", "OK: 1 image rolled back"),
            ("promote", "OK: 1 image found at the source"),
        ] {
            let r = Report {
                action: action.into(),
                ok: true,
                found: vec!["nova".into()],
                pushed: vec!["nova".into()],
                ..Default::default()
            };
            let h = render(&r);
            assert!(h.contains(done), "{action}: {h}");
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

    fn container(name: &str, entries: Vec<TagEntry>) -> ContainerReport {
        ContainerReport {
            name: name.into(),
            source_image: String::new(),
            source_digest: None,
            manifest_architectures: vec!["amd64".into(), "ppc64le".into()],
            entries,
            pushed: false,
        }
    }

    /// The failed image first, one line per registry cell with the label's move; the healthy
    /// images folded into one summary row.
    #[test]
    fn failures_come_first_and_healthy_images_fold_into_one_row() {
        let fh = "d7c3cd922f91d83aacb5d7555de9d5bc";
        let mut bad = entry("t2", fh, TagAction::Failed, Some(false));
        bad.error = Some("t2: unreachable".into());
        let mut moved = entry("t1", "current-tripleo", TagAction::Tagged, Some(true));
        moved.previous = Some(format!("sha256:{}", "b".repeat(64)));
        let mut copied = entry("t1", fh, TagAction::Copied, Some(true));
        copied.bytes_uploaded = 3 << 20;
        copied.seconds = 2.5;
        let mut containers = vec![container("nova", vec![copied.clone(), moved.clone(), bad])];
        for i in 0..20 {
            let mut ok2 = entry("t2", fh, TagAction::AlreadyPresent, Some(true));
            ok2.seconds = 0.1;
            containers.push(container(
                &format!("svc-{i:02}"),
                vec![copied.clone(), moved.clone(), ok2],
            ));
        }
        let r = Report {
            full_hash: fh.into(),
            named_label: "current-tripleo".into(),
            errors: vec!["nova: t2: unreachable".into()],
            containers,
            ..Default::default()
        };
        let h = render(&r);
        let failures = h.find("id=\"failures\"").expect("failures section");
        let matrix = h.find("id=\"matrix\"").expect("matrix");
        assert!(failures < matrix);
        let nova = h
            .find("<td title=\"amd64 + ppc64le\">nova</td>")
            .expect("nova's row");
        let folded = h.find("<tr class=\"folded\">").expect("the healthy images' row");
        assert!(matrix < nova && nova < folded, "the failed image first");
        assert_eq!(h.matches("<tr class=\"folded\">").count(), 1);
        assert!(
            h.contains("<b>20 images</b> without a failure, done on every registry: copied; 60.0 MiB sent, up to 2.5 s each"),
            "{h}"
        );
        assert!(h.contains(">copied ✓ · label bbbbbbb → aaaaaaa</td>"), "{h}");
        assert!(h.contains("<td class=\"c-bad\""), "{h}");
        assert!(
            h.contains("<td>3.0 MiB</td><td>2.5 s</td>"),
            "per-image bytes and time: {h}"
        );
    }

    /// A registry with nothing done is not shown as a green "0 / 0".
    #[test]
    fn nothing_done_is_not_green() {
        let r = Report {
            registries: vec![crate::report::RegistryStats {
                name: "t".into(),
                host: "t".into(),
                role: "target".into(),
                requests: 0,
                retries: 0,
                token_fetches: 0,
                bytes_sent: 0,
                bytes_received: 0,
                password_from: None,
            }],
            containers: vec![container(
                "nova",
                vec![entry("t", "fh", TagAction::Skipped, None)],
            )],
            ..Default::default()
        };
        let h = render(&r);
        assert!(!h.contains("class=\"ok\">0 / "), "{h}");
        // None found: no registry row at all, the outcome says so.
        let none = Report {
            containers: vec![],
            missing: vec!["nova".into()],
            ..r
        };
        let h = render(&none);
        assert!(!h.contains("0 / 0") && !h.contains("id=\"per-registry\""), "{h}");
        assert!(h.contains("none of the 1 image found at the source"), "{h}");
        // What the retention policy removed is part of the next step.
        let pruned = Report {
            local_pruned: vec!["0123abcd of master (age)".into()],
            ..Default::default()
        };
        let h = render(&pruned);
        assert!(
            h.contains("<li>the retention policy removed older kept copies: 0123abcd of master (age)</li>"),
            "{h}"
        );
    }
}
