//! The layers of `src/` stay layered: a top-level module may use only modules of layers below its
//! own, never one above it nor a sibling of its own layer (so no import cycles, and the two faces,
//! `cli` and `module`, never use each other). The order is declared here, bottom up, and described
//! in `src/lib.rs`; a new module must be given its place.
//!
//! What counts as a use: every `crate::<module>` path (also in `use crate::{a, b}` groups and
//! `$crate::` in macros) and every `super::` path that climbs out of a top-level module, in the code
//! of `src/**/*.rs` outside comments, string literals and `#[cfg(test)]` items (tests may reach up).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Bottom up. A module may use the modules of the layers before its own; modules sharing a layer are
/// siblings and do not use each other.
const LAYERS: &[&[&str]] = &[
    // Vocabulary.
    &["error"],
    // Reading the files users name.
    &["input"],
    &["digest"],
    &["reference"],
    &["manifest"],
    // What a terminal is: its width, lines wrapped under it.
    &["terminal"],
    // Run-wide services every layer may use: masking secrets, progress lines, stopping a run.
    &["scrub", "progress", "stop"],
    &["logging"],
    // Talking to registries; an OCI layout on disk (siblings: neither uses the other).
    &["transport"],
    &["registry", "oci"],
    // The place images live: a registry or an OCI layout.
    &["place"],
    // On places: the local store (a layout per release and its bookkeeping), the copy engine, and
    // where lists and hashes come from.
    &["store", "copy", "sources"],
    &["quay"],
    // What a run did; every option, declared once.
    &["report", "options"],
    // The engine of promotions.
    &["promote"],
    &["stage", "config"],
    // The user verbs, one call each (typed request → finished report).
    &["verbs"],
    // Faces.
    &["cli", "module"],
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The code of a Rust source with comments and the contents of string and char literals blanked
/// (line breaks kept, so line numbers stay right).
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let keep_lines = |s: &[char], out: &mut String| {
        for ch in s {
            out.push(if *ch == '\n' { '\n' } else { ' ' });
        }
    };
    while i < c.len() {
        let rest = &c[i..];
        if rest.starts_with(&['/', '/']) {
            let end = rest.iter().position(|x| *x == '\n').unwrap_or(rest.len());
            keep_lines(&rest[..end], &mut out);
            i += end;
        } else if rest.starts_with(&['/', '*']) {
            let mut depth = 0;
            let mut j = 0;
            while j < rest.len() {
                if rest[j..].starts_with(&['/', '*']) {
                    depth += 1;
                    j += 2;
                } else if rest[j..].starts_with(&['*', '/']) {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            keep_lines(&rest[..j], &mut out);
            i += j;
        } else if rest[0] == 'r'
            && (i == 0 || !(c[i - 1].is_alphanumeric() || c[i - 1] == '_'))
            && rest.len() > 1
            && (rest[1] == '"' || rest[1] == '#')
            && rest[1..].iter().position(|x| *x != '#').map(|p| rest[1 + p]) == Some('"')
        {
            // Raw string: r"…", r#"…"#.
            let hashes = rest[1..].iter().take_while(|x| **x == '#').count();
            let mut close = vec!['"'];
            close.extend(std::iter::repeat_n('#', hashes));
            let start = 2 + hashes;
            let end = (start..rest.len())
                .find(|&j| rest[j..].starts_with(&close))
                .map(|j| j + close.len())
                .unwrap_or(rest.len());
            out.push_str("r\"");
            keep_lines(&rest[2..end - 1], &mut out);
            out.push('"');
            i += end;
        } else if rest[0] == '"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != '"' {
                j += if rest[j] == '\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(rest.len());
            out.push('"');
            keep_lines(&rest[1..end - 1], &mut out);
            out.push('"');
            i += end;
        } else if rest[0] == '\'' && rest.len() > 2 && (rest[1] == '\\' || rest[2] == '\'') {
            // A char literal (a lifetime `'a` has no closing quote right after one char).
            let mut j = 1;
            while j < rest.len() && rest[j] != '\'' {
                j += if rest[j] == '\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(rest.len());
            keep_lines(&rest[..end], &mut out);
            i += end;
        } else {
            out.push(rest[0]);
            i += 1;
        }
    }
    out
}

/// The code with `#[cfg(test)]` items blanked (the attribute and the item after it, to its closing
/// brace or semicolon). Returns the names of `#[cfg(test)] mod x;` files too.
fn without_tests(code: &str) -> (String, Vec<String>) {
    let c: Vec<char> = code.chars().collect();
    let pat: Vec<char> = "#[cfg(test)]".chars().collect();
    let mut out: Vec<char> = c.clone();
    let mut test_files = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if !c[i..].starts_with(&pat) {
            i += 1;
            continue;
        }
        let mut j = i + pat.len();
        let mut depth = 0usize;
        let item_start = j;
        while j < c.len() {
            match c[j] {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        j += 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    let item: String = c[item_start..j].iter().collect();
                    let words: Vec<&str> = item.split_whitespace().collect();
                    if let Some(p) = words.iter().position(|w| *w == "mod") {
                        if let Some(name) = words.get(p + 1) {
                            test_files.push(name.to_string());
                        }
                    }
                    j += 1;
                    break;
                }
                _ => {}
            }
            j += 1;
        }
        for ch in &mut out[i..j.min(c.len())] {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
        i = j;
    }
    (out.into_iter().collect(), test_files)
}

fn ident_at(c: &[char], mut i: usize) -> (String, usize) {
    while i < c.len() && c[i].is_whitespace() {
        i += 1;
    }
    let start = i;
    while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
        i += 1;
    }
    (c[start..i].iter().collect(), i)
}

/// `(line, path from the crate root)` of every module path used: `crate::a::…` gives `[a]`,
/// `crate::{a, b::c}` gives `[a]` and `[b]`, `super::x` in module `m::n` gives `[m, x]`.
fn uses(code: &str, module_path: &[String]) -> Vec<(usize, Vec<String>)> {
    let c: Vec<char> = code.chars().collect();
    let line_of = |i: usize| c[..i].iter().filter(|x| **x == '\n').count() + 1;
    let word_start = |i: usize| i == 0 || !(c[i - 1].is_alphanumeric() || c[i - 1] == '_');
    let mut found = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if word_start(i) && c[i..].starts_with(&['c', 'r', 'a', 't', 'e', ':', ':']) {
            let mut j = i + 7;
            while j < c.len() && c[j].is_whitespace() {
                j += 1;
            }
            if j < c.len() && c[j] == '{' {
                // A group: the first name of each comma-separated part at depth one.
                let mut depth = 0;
                let mut expect_name = true;
                while j < c.len() {
                    match c[j] {
                        '{' => {
                            depth += 1;
                            if depth == 1 {
                                expect_name = true;
                            }
                        }
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        ',' if depth == 1 => expect_name = true,
                        ch if depth == 1 && expect_name && !ch.is_whitespace() => {
                            let (name, end) = ident_at(&c, j);
                            if !name.is_empty() {
                                found.push((line_of(j), vec![name]));
                            }
                            expect_name = false;
                            j = end.max(j + 1);
                            continue;
                        }
                        _ => {}
                    }
                    j += 1;
                }
                i = j;
            } else {
                let (name, mut end) = ident_at(&c, j);
                if !name.is_empty() {
                    // `crate::a::b`: the path down to `b`, for the checks inside a module.
                    let mut path = vec![name];
                    while c[end..].starts_with(&[':', ':']) {
                        let (next, e) = ident_at(&c, end + 2);
                        if next.is_empty() {
                            break;
                        }
                        path.push(next);
                        end = e;
                    }
                    found.push((line_of(i), path));
                }
                i = end.max(i + 1);
            }
        } else if word_start(i) && c[i..].starts_with(&['s', 'u', 'p', 'e', 'r', ':', ':']) {
            let mut path: Vec<String> = module_path.to_vec();
            let mut j = i;
            while c[j..].starts_with(&['s', 'u', 'p', 'e', 'r', ':', ':']) {
                path.pop();
                j += 7;
            }
            let (name, end) = ident_at(&c, j);
            path.push(name);
            found.push((line_of(i), path));
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    found
}

/// Every `.rs` file under `dir`, skipping the files of `#[cfg(test)] mod x;`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file under `src/` (`registry/mod.rs` → `[registry]`, `copy/blobs.rs` →
/// `[copy, blobs]`).
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" {
        parts.push(stem.to_string());
    }
    parts
}

/// The top-level modules `src/lib.rs` declares, and the names it re-exports (`pub use error::{Error,
/// Result}` makes `crate::Error` a use of `error`).
fn lib_modules() -> (Vec<String>, BTreeMap<String, String>) {
    let lib = fs::read_to_string(src().join("lib.rs")).unwrap();
    let code = code_only(&lib);
    let mut modules = Vec::new();
    let mut reexports = BTreeMap::new();
    for line in code.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["pub", "mod", name] | ["mod", name] => modules.push(name.trim_end_matches(';').to_string()),
            ["pub", "use", rest @ ..] => {
                let rest = rest.join(" ");
                if let Some((module, names)) = rest.split_once("::") {
                    for n in names.trim_matches(|ch| "{};".contains(ch)).split(',') {
                        reexports.insert(n.trim().to_string(), module.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    (modules, reexports)
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Every use of one top-level module by another: `(file, line, from, to)`.
fn edges() -> Vec<(String, usize, String, String)> {
    all_uses()
        .into_iter()
        .filter(|(_, _, from, to)| from[0] != to[0])
        .map(|(file, line, from, to)| (file, line, from[0].clone(), to[0].clone()))
        .collect()
}

/// Every use in `src/` outside `lib.rs` and `main.rs`, of a top-level module (or a module inside
/// one): `(file, line, module path of the file, path used)`, paths starting with a top-level module.
fn all_uses() -> Vec<(String, usize, Vec<String>, Vec<String>)> {
    let (modules, reexports) = lib_modules();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut parsed = Vec::new();
    let mut test_only: Vec<PathBuf> = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(src()).unwrap().to_path_buf();
        let text = fs::read_to_string(f).unwrap();
        let (code, tests) = without_tests(&code_only(&text));
        let dir = if rel.file_name().unwrap() == "mod.rs" || rel.parent() == Some(Path::new("")) {
            f.parent().unwrap().join(rel.file_stem().unwrap())
        } else {
            f.with_extension("")
        };
        for t in tests {
            test_only.push(dir.join(format!("{t}.rs")));
            test_only.push(dir.join(&t).join("mod.rs"));
        }
        parsed.push((f.clone(), rel, code));
    }
    let mut out = Vec::new();
    for (f, rel, code) in parsed {
        if test_only.contains(&f) || rel == Path::new("lib.rs") || rel == Path::new("main.rs") {
            continue;
        }
        let path = module_path(&rel);
        for (line, mut target) in uses(&code, &path) {
            let Some(first) = target.first() else {
                continue;
            };
            if !modules.contains(first) {
                let Some(m) = reexports.get(first) else {
                    continue;
                };
                target = vec![m.clone()];
            }
            out.push((format!("src/{}", rel.display()), line, path.clone(), target));
        }
    }
    out
}

#[test]
fn every_module_has_a_layer() {
    let (modules, _) = lib_modules();
    let missing: Vec<&String> = modules.iter().filter(|m| layer_of(m).is_none()).collect();
    assert!(
        missing.is_empty(),
        "modules without a place in tests/layers.rs LAYERS: {missing:?}"
    );
    for m in LAYERS.iter().flat_map(|l| l.iter()) {
        assert!(
            modules.iter().any(|x| x == m),
            "LAYERS names `{m}`, which src/lib.rs does not declare"
        );
    }
}

#[test]
fn modules_use_only_layers_below_their_own() {
    let mut wrong = Vec::new();
    for (file, line, from, to) in edges() {
        let (Some(lf), Some(lt)) = (layer_of(&from), layer_of(&to)) else {
            continue; // reported by every_module_has_a_layer
        };
        if lt > lf {
            wrong.push(format!("{file}:{line}: `{from}` uses `{to}`, a layer above it"));
        } else if lt == lf {
            wrong.push(format!(
                "{file}:{line}: `{from}` uses `{to}`, its sibling in the same layer"
            ));
        }
    }
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "{} uses against the layers (bottom up: {:?}):\n{}",
        wrong.len(),
        LAYERS,
        wrong.join("\n")
    );
}

/// Inside a module, two files never use each other (`cli/promote.rs` and `cli/releases.rs` did): one
/// of them is the lower one. (A module's `mod.rs` and its files are exempt: the files use what
/// `mod.rs` declares.)
#[test]
fn no_two_files_of_a_module_use_each_other() {
    let mut seen: BTreeMap<(String, String, String), (String, usize)> = BTreeMap::new();
    for (file, line, from, to) in all_uses() {
        if from.len() < 2 || to.len() < 2 || from[0] != to[0] || from[1] == to[1] {
            continue;
        }
        seen.entry((from[0].clone(), from[1].clone(), to[1].clone()))
            .or_insert((file, line));
    }
    let mut wrong = Vec::new();
    for ((top, a, b), (file, line)) in &seen {
        if a < b {
            if let Some((file2, line2)) = seen.get(&(top.clone(), b.clone(), a.clone())) {
                wrong.push(format!(
                    "{file}:{line} uses `{top}::{b}` and {file2}:{line2} uses `{top}::{a}`"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "files using each other:\n{}", wrong.join("\n"));
}

/// The scan sees uses at all (a scanner that finds nothing would pass the test above).
/// The faces run a verb through `verbs`, never the engine's runners or report writing themselves, so
/// the command line and the module cannot differ in what a run does and keeps.
#[test]
fn faces_run_verbs_only_through_the_verbs_layer() {
    const RUNNERS: [&str; 5] = [
        "promote::run(",
        "tag::run_tag(",
        "tag::run_tag_through(",
        "rollback::run_rollback(",
        "write_reports(",
    ];
    let calls = |rel: &str| -> Vec<String> {
        let mut files = Vec::new();
        let root = src().join(rel);
        if root.is_dir() {
            rust_files(&root, &mut files);
        } else {
            files.push(root);
        }
        let mut out = Vec::new();
        for f in files {
            let (code, _) = without_tests(&code_only(&fs::read_to_string(&f).unwrap()));
            for (n, line) in code.lines().enumerate() {
                for r in RUNNERS.iter().filter(|r| line.contains(*r)) {
                    out.push(format!("{}:{}: {r}", f.display(), n + 1));
                }
            }
        }
        out
    };
    let faces: Vec<String> = ["cli", "module"].iter().flat_map(|f| calls(f)).collect();
    assert!(
        faces.is_empty(),
        "faces running the engine directly:\n{}",
        faces.join("\n")
    );
    // The check sees such calls where they are.
    assert!(calls("verbs").len() >= 3, "{:?}", calls("verbs"));
}

/// What the faces may use below the verbs: the vocabulary and the run-wide services (the layers up
/// to `logging`), what they render (`report`) and the options' declaration (`options`).
/// Everything else they reach through `verbs` (which re-exports the types they render), so a face
/// cannot run a step of its own.
const FACES_MAY_USE: &[&str] = &[
    "error",
    "input",
    "digest",
    "reference",
    "manifest",
    "terminal",
    "scrub",
    "progress",
    // Signals belong to the process: a face asks for them before it runs a verb.
    "stop",
    "logging",
    "report",
    "options",
    "verbs",
];

/// The faces (`cli`, `module`) call nothing below the verbs: every path they use into another
/// module is one of [`FACES_MAY_USE`].
#[test]
fn faces_use_nothing_below_the_verbs() {
    let mut wrong = Vec::new();
    let mut seen = 0;
    for (file, line, from, to) in all_uses() {
        if !matches!(from[0].as_str(), "cli" | "module") || from[0] == to[0] {
            continue;
        }
        seen += 1;
        if !FACES_MAY_USE.contains(&to[0].as_str()) {
            wrong.push(format!("{file}:{line}: uses `{}`", to.join("::")));
        }
    }
    assert!(seen > 20, "only {seen} uses seen from the faces");
    assert!(
        wrong.is_empty(),
        "faces reaching below the verbs (go through `verbs`):\n{}",
        wrong.join("\n")
    );
}

/// The faces stay small: parsing, one verb, rendering. What is neither (the schema's help, a run's
/// text, an entry's resolution, input files' checks) lives below them; this bound (issue: faces
/// that only translate) fails a face that grows a step of its own.
const FACES_MAX_LINES: usize = 2_000;

#[test]
fn faces_stay_under_their_line_budget() {
    let mut files = Vec::new();
    rust_files(&src().join("cli"), &mut files);
    rust_files(&src().join("module"), &mut files);
    let per_file: Vec<(String, usize)> = files
        .iter()
        .map(|f| {
            (
                f.display().to_string(),
                fs::read_to_string(f).unwrap().lines().count(),
            )
        })
        .collect();
    let total: usize = per_file.iter().map(|(_, n)| n).sum();
    assert!(files.len() > 5, "only {} face files found", files.len());
    assert!(
        total < FACES_MAX_LINES,
        "the faces are {total} lines (budget {FACES_MAX_LINES}): {per_file:?}"
    );
}

#[test]
fn the_scan_finds_known_uses() {
    let e = edges();
    let has = |from: &str, to: &str| e.iter().any(|(_, _, f, t)| f == from && t == to);
    assert!(has("registry", "transport"), "registry → transport not seen");
    assert!(has("cli", "verbs"), "cli → verbs not seen");
    assert!(has("copy", "manifest"), "copy → manifest not seen");
    assert!(has("store", "oci"), "store → oci not seen");
    assert!(has("place", "oci"), "place → oci not seen");
    assert!(e.len() > 100, "only {} uses seen", e.len());
}

#[test]
fn the_scanner_reads_groups_super_and_skips_tests_and_comments() {
    let text = r##"
use crate::{a::X, b, c::{self, D}};
// crate::commented
let s = "crate::in_string";
let r = r#"crate::in_raw"#;
let ch = '"'; let t = crate::after_char::f();
use super::super::up;
#[cfg(test)]
mod tests {
    use crate::test_only;
}
fn f<'a>(x: &'a str) { crate::lifetime::g(x) }
"##;
    let (code, _) = without_tests(&code_only(text));
    let got: Vec<(usize, Vec<String>)> = uses(&code, &["m".into(), "n".into()]);
    let names: Vec<String> = got.iter().map(|(_, p)| p.join("::")).collect();
    assert_eq!(
        names,
        ["a", "b", "c", "after_char::f", "up", "lifetime::g"],
        "{got:?}"
    );
    assert_eq!(got[3].0, 6);
    assert_eq!(got[5].0, 12);
}
