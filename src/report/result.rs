//! A report as the Ansible module's result: short by default, because `ansible-playbook -v` prints
//! it whole, as one line, into `ANSIBLE_LOG_PATH`, which the promoter publishes. It holds the
//! outcome, the counts, each cause of failure once with a few of its images, and the report files;
//! the per-image details are in the JSON report, or in the result with `full_result: true`. Beside
//! the terminal's rendering (`text.rs`) and the HTML one, so the module face only parses, calls a
//! verb and prints this.

use serde_json::{json, Value};

use super::{Report, TagAction};

/// Images named per cause in the short result (the report names them all).
pub const EXAMPLES: usize = 3;

/// The module result for a report. Short unless `full` (what `ansible-playbook -v` prints into the
/// published log): `changed`, `failed`, `msg`, `status`, the hash and label, `counts`, `causes` (each
/// cause of failure once: its phase, kind, registry and words, how often, how many images and a few of
/// them), `report_files`, `local` (its root and size), `seconds`, the `plan` in check mode and
/// `interrupted` when the run was stopped. `full` adds the per-image details as the JSON report has
/// them: the name lists (`found` … `missed`), `errors`, `problems`, `problem_groups`, `containers`,
/// `registries` and the local store's lists.
pub fn module_result(r: &Report, diff: bool, full: bool) -> Value {
    let ok = r.errors.is_empty();
    let changed = r.changed && !(r.dry_run && !ok && r.containers.is_empty());
    let counts = |pred: fn(TagAction) -> bool| {
        r.containers
            .iter()
            .flat_map(|c| c.entries.iter())
            .filter(|e| pred(e.action))
            .count()
    };
    let (changed_tags, in_place) = (
        counts(TagAction::changed),
        counts(|a| a == TagAction::AlreadyPresent),
    );
    // Registries this run touched: the ones with entries in the report.
    let mut touched: Vec<&str> = r
        .containers
        .iter()
        .flat_map(|c| c.entries.iter())
        .map(|e| e.registry.as_str())
        .collect();
    touched.sort();
    touched.dedup();
    let n = touched.len();
    let msg = if ok {
        format!(
            "{} {} as {} on {} registr{}: {} containers, {} tags changed, {} already in place{}",
            match (r.action.as_str(), r.dry_run) {
                ("verify", _) => "verified",
                ("tag", false) => "labelled",
                ("tag", true) => "would label",
                ("rollback", false) => "rolled back",
                ("rollback", true) => "would roll back",
                (_, false) => "promoted",
                (_, true) => "would promote",
            },
            r.full_hash,
            r.named_label,
            n,
            if n == 1 { "y" } else { "ies" },
            r.found.len(),
            changed_tags,
            in_place,
            if r.dry_run {
                " (check mode: nothing changed)"
            } else {
                ""
            }
        )
    } else {
        // One cause, one phrase: the full per-tag list stays in the report (and `full_result`).
        let lines: Vec<String> = r
            .failure_lines()
            .iter()
            .map(|l| l.trim_start().to_string())
            .collect();
        format!("{} failed: {}", r.action, lines.join("; "))
    };
    let msg = std::iter::once(msg)
        .chain(r.label_lines())
        .collect::<Vec<_>>()
        .join("; ");
    let causes: Vec<Value> = r
        .problem_groups
        .iter()
        .map(|g| {
            let mut c = json!({
                "phase": g.phase,
                "kind": g.kind,
                "registry": g.registry,
                "cause": g.cause,
                "count": g.count,
                "images": g.containers.len(),
                "examples": g.containers.iter().take(EXAMPLES).collect::<Vec<_>>(),
            });
            if let Some(todo) = &g.todo {
                c["todo"] = json!(todo);
            }
            c
        })
        .collect();
    let mut v = json!({
        "changed": changed,
        "failed": !ok,
        "msg": msg,
        "status": r.status,
        "full_hash": r.full_hash,
        "named_label": r.named_label,
        "counts": {
            "found": r.found.len(),
            "missing": r.missing.len(),
            "ppc_found": r.ppc_found.len(),
            "ppc_missing": r.ppc_missing.len(),
            "pushed": r.pushed.len(),
            "missed": r.missed.len(),
            "tags_changed": changed_tags,
            "tags_in_place": in_place,
            "local_reused": r.local_reused.len(),
            "local_kept": r.local_kept.len(),
            "local_removed": r.local_removed.len(),
        },
        "causes": causes,
        "report_files": r.files,
        "local": {"root": r.local_root, "bytes": r.local_bytes},
        "seconds": r.seconds,
    });
    if let Some(plan) = &r.plan {
        if r.dry_run || full {
            v["plan"] = json!(plan);
        }
    }
    if let Some(i) = &r.interrupted {
        v["interrupted"] = json!(i);
    }
    if full {
        for (k, x) in [
            ("found", json!(r.found)),
            ("missing", json!(r.missing)),
            ("ppc_found", json!(r.ppc_found)),
            ("ppc_missing", json!(r.ppc_missing)),
            ("pushed", json!(r.pushed)),
            ("missed", json!(r.missed)),
            ("errors", json!(r.errors)),
            ("problems", json!(r.problems)),
            ("problem_groups", json!(r.problem_groups)),
            ("containers", json!(r.containers)),
            ("registries", json!(r.registries)),
        ] {
            v[k] = x;
        }
        v["local"]["reused"] = json!(r.local_reused);
        v["local"]["kept"] = json!(r.local_kept);
        v["local"]["removed"] = json!(r.local_removed);
    }
    // A failure says its first cause's kind, as an error does.
    if let Some(g) = r.problem_groups.first().filter(|_| !ok) {
        v["kind"] = json!(g.kind);
    }
    if diff {
        let mut before = String::new();
        let mut after = String::new();
        for c in &r.containers {
            for e in &c.entries {
                if e.action.changed() {
                    before.push_str(&format!(
                        "{}/{}:{} {}\n",
                        e.registry,
                        e.repository,
                        e.tag,
                        e.previous.as_deref().unwrap_or("(absent)")
                    ));
                    after.push_str(&format!(
                        "{}/{}:{} {}\n",
                        e.registry,
                        e.repository,
                        e.tag,
                        e.digest.as_deref().unwrap_or("?")
                    ));
                }
            }
        }
        v["diff"] = json!({"before": before, "after": after, "before_header": "tags before", "after_header": "tags after"});
    }
    v
}
