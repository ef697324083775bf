//! The self-contained HTML report (inline CSS, no scripts, no external resources): a summary, then a
//! table per container × registry × tag. Everything interpolated is HTML-escaped.

use std::fmt::Write as _;
use std::path::Path;

use super::{Report, TagAction};
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

fn human_bytes(n: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

/// Render the report.
pub fn render(r: &Report) -> String {
    let mut h = String::new();
    let title = format!("copy-containers {} {} → {}", r.action, r.full_hash, r.named_label);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>\n\
         body{{font-family:system-ui,sans-serif;margin:1.5em;color:#222}}\n\
         table{{border-collapse:collapse;margin:.5em 0 1.5em}}td,th{{border:1px solid #ccc;padding:.25em .5em;text-align:left;font-size:.9em}}\n\
         th{{background:#f0f0f0}}.ok{{color:#176f2c;font-weight:bold}}.bad{{color:#b00020;font-weight:bold}}\n\
         .changed{{color:#0b5394}}.same{{color:#555}}.skip{{color:#999}}code{{font-size:.85em}}\n\
         </style></head><body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    let status = if r.ok {
        "<span class=\"ok\">OK</span>"
    } else {
        "<span class=\"bad\">FAILED</span>"
    };
    let _ = write!(
        h,
        "<table><tr><th>status</th><td>{status}{}</td></tr>\
         <tr><th>started</th><td>{}</td></tr><tr><th>duration</th><td>{:.1} s</td></tr>\
         <tr><th>release</th><td>{} ({})</td></tr><tr><th>source</th><td>{}</td></tr>\
         <tr><th>targets</th><td>{}</td></tr>\
         <tr><th>containers</th><td>{} found, {} missing, {} pushed, {} missed</td></tr>\
         <tr><th>uploaded</th><td>{}</td></tr></table>",
        if r.dry_run {
            " (dry run: nothing changed)"
        } else {
            ""
        },
        esc(&r.started_at),
        r.seconds,
        esc(&r.release),
        esc(&r.distro),
        esc(&r.source),
        esc(&r.targets.join(", ")),
        r.found.len(),
        r.missing.len(),
        r.pushed.len(),
        r.missed.len(),
        human_bytes(r.bytes_uploaded()),
    );
    h.push('\n');
    if !r.errors.is_empty() {
        h.push_str("<h2>Errors</h2>\n<ul>\n");
        for e in &r.errors {
            let _ = writeln!(h, "<li class=\"bad\">{}</li>", esc(e));
        }
        h.push_str("</ul>\n");
    }
    if !r.missing.is_empty() {
        let _ = writeln!(
            h,
            "<h2>Missing at the source</h2>\n<p>{}</p>",
            esc(&r.missing.join(", "))
        );
    }
    if !r.ppc_found.is_empty() || !r.ppc_missing.is_empty() {
        let _ = writeln!(
            h,
            "<h2>ppc64le</h2>\n<p>with ppc64le: {}</p><p>without: {}</p>",
            esc(&r.ppc_found.join(", ")),
            esc(&r.ppc_missing.join(", "))
        );
    }
    h.push_str("<h2>Containers</h2>\n<table><tr><th>container</th><th>registry</th><th>tag</th><th>action</th><th>verified</th><th>digest</th><th>previous</th><th>uploaded</th><th>error</th></tr>\n");
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
    h.push_str("</table>\n<h2>Registries</h2>\n<table><tr><th>registry</th><th>role</th><th>requests</th><th>retries</th><th>sent</th><th>received</th></tr>\n");
    for s in &r.registries {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.registry),
            esc(&s.role),
            s.requests,
            s.retries,
            human_bytes(s.bytes_sent),
            human_bytes(s.bytes_received)
        );
    }
    h.push_str("</table>\n</body></html>\n");
    h
}

/// Render and write atomically.
pub fn write(r: &Report, path: &Path) -> Result<()> {
    super::write_atomic(path, render(r).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
