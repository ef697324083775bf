//! The module's launcher (`library/copy_containers.py`) carries `DOCUMENTATION`, `EXAMPLES` and
//! `RETURN`, because Ansible 2.9's `ansible-doc` reads the documentation of `.py` modules only. They
//! are generated from the one source, `src/module/copy_containers.yml` (the file `tests/module_doc.rs`
//! checks against the module), and this test keeps them identical to what that source gives:
//! `COPY_CONTAINERS_BLESS=1 cargo test --test launcher_doc` writes them after a change of the source.
//!
//! The generation is text-level, so the copy keeps the source's layout: each section's lines,
//! two columns less indented, in a raw string. The markup Ansible 2.9 does not know (`O()`, `V()`,
//! `RV()`, `E()`, `P()`, from ansible-core 2.15) becomes `C()`, so that both render it as code.

use std::path::{Path, PathBuf};

use serde_json::Value;

const BEGIN: &str = "# BEGIN GENERATED from src/module/copy_containers.yml";
const END: &str = "# END GENERATED\n";
const SECTIONS: [&str; 3] = ["DOCUMENTATION", "EXAMPLES", "RETURN"];

fn path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The lines of top-level `key` (`KEY:` or `KEY: |`), up to the next top-level line, two columns
/// less indented, trailing blank lines dropped.
fn section(yaml: &str, key: &str) -> String {
    let mut out = Vec::new();
    let mut inside = false;
    for line in yaml.lines() {
        let top = !line.is_empty() && !line.starts_with(' ');
        if top {
            inside = line == format!("{key}:") || line == format!("{key}: |");
            continue;
        }
        if inside {
            assert!(
                line.is_empty() || line.starts_with("  "),
                "{key}: a line indented by less than two columns: {line:?}"
            );
            out.push(line.get(2..).unwrap_or(""));
        }
    }
    while out.last() == Some(&"") {
        out.pop();
    }
    assert!(!out.is_empty(), "no {key} in the source");
    out.join("\n") + "\n"
}

/// `O(x)`, `V(x)`, `RV(x)`, `E(x)`, `P(x)` → `C(x)` (a markup letter not part of a longer word).
fn markup_for_both(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut prev = ' ';
    'scan: while !rest.is_empty() {
        if !(prev.is_ascii_alphanumeric() || prev == '_') {
            for m in ["RV(", "O(", "V(", "E(", "P("] {
                if let Some(r) = rest.strip_prefix(m) {
                    out.push_str("C(");
                    rest = r;
                    prev = '(';
                    continue 'scan;
                }
            }
        }
        prev = rest.chars().next().unwrap();
        out.push(prev);
        rest = &rest[prev.len_utf8()..];
    }
    out
}

/// The generated block of the launcher, markers included.
fn generated(yaml: &str) -> String {
    let mut block = format!(
        "{BEGIN} by tests/launcher_doc.rs\n\
         # (COPY_CONTAINERS_BLESS=1 cargo test --test launcher_doc): do not edit by hand.\n"
    );
    for key in SECTIONS {
        let mut text = section(yaml, key);
        if key != "EXAMPLES" {
            text = markup_for_both(&text);
        }
        assert!(
            !text.contains("\"\"\"") && !text.ends_with('\\'),
            "{key} cannot be a Python raw string"
        );
        block.push_str(&format!("{key} = r\"\"\"\n{text}\"\"\"\n"));
    }
    block + END
}

/// The launcher with its block replaced by `block`.
fn with_block(launcher: &str, block: &str) -> String {
    let start = launcher.find(BEGIN).expect("the launcher has no generated block");
    let end = launcher[start..]
        .find(END)
        .expect("the generated block has no end")
        + start
        + END.len();
    format!("{}{block}{}", &launcher[..start], &launcher[end..])
}

/// A section's raw string in the launcher.
fn python_string(launcher: &str, key: &str) -> String {
    let open = format!("\n{key} = r\"\"\"\n");
    let start = launcher
        .find(&open)
        .unwrap_or_else(|| panic!("no {key} in the launcher"))
        + open.len();
    let len = launcher[start..].find("\"\"\"").expect("an unterminated string");
    launcher[start..start + len].to_string()
}

fn yaml(text: &str) -> Value {
    serde_norway::from_str(text).unwrap_or_else(|e| panic!("not YAML: {e}"))
}

/// Every string of a value with [`markup_for_both`] applied.
fn converted(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(markup_for_both(s)),
        Value::Array(a) => Value::Array(a.iter().map(converted).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), converted(x))).collect()),
        other => other.clone(),
    }
}

#[test]
fn the_launcher_carries_the_documentation_of_the_one_source() {
    let source = std::fs::read_to_string(path("src/module/copy_containers.yml")).unwrap();
    let launcher_path = path("library/copy_containers.py");
    let launcher = std::fs::read_to_string(&launcher_path).unwrap();
    let want = with_block(&launcher, &generated(&source));
    if want != launcher {
        if std::env::var_os("COPY_CONTAINERS_BLESS").is_some() {
            std::fs::write(&launcher_path, &want).unwrap();
        } else {
            panic!(
                "library/copy_containers.py's DOCUMENTATION, EXAMPLES or RETURN differ from \
                 src/module/copy_containers.yml: run `COPY_CONTAINERS_BLESS=1 cargo test --test launcher_doc`"
            );
        }
    }
    // What each string says is what the source says (markup aside): the text-level copy lost nothing.
    let launcher = std::fs::read_to_string(&launcher_path).unwrap();
    let whole = yaml(&source);
    for key in ["DOCUMENTATION", "RETURN"] {
        assert_eq!(
            yaml(&python_string(&launcher, key)),
            converted(&whole[key]),
            "{key}"
        );
    }
    assert_eq!(
        python_string(&launcher, "EXAMPLES"),
        whole["EXAMPLES"].as_str().unwrap()
    );
    // Ansible 2.9 knows none of the newer markup.
    for key in ["DOCUMENTATION", "RETURN"] {
        let text = python_string(&launcher, key);
        for m in [" O(", " V(", " RV(", "(O(", "(V("] {
            assert!(!text.contains(m), "{key} still has {m}");
        }
    }
}

#[test]
fn sections_and_markup_are_converted_as_described() {
    let y = "# c\nDOCUMENTATION:\n  a: O(x) and V(y), RV(z)\n\n  b:\n    - E(HOME) P(p) NO(t) C(k)\nEXAMPLES: |\n  - x: O(1)\n\nRETURN:\n  r: 1\n";
    assert_eq!(
        section(y, "DOCUMENTATION"),
        "a: O(x) and V(y), RV(z)\n\nb:\n  - E(HOME) P(p) NO(t) C(k)\n"
    );
    assert_eq!(section(y, "EXAMPLES"), "- x: O(1)\n");
    assert_eq!(section(y, "RETURN"), "r: 1\n");
    assert_eq!(
        markup_for_both("a: O(x) and V(y), RV(z) (O(w)) E(HOME) P(p) NO(t) C(k)"),
        "a: C(x) and C(y), C(z) (C(w)) C(HOME) C(p) NO(t) C(k)"
    );
    let block = generated(y);
    assert!(block.starts_with(BEGIN) && block.ends_with(END), "{block}");
    assert!(
        block.contains("EXAMPLES = r\"\"\"\n- x: O(1)\n\"\"\"\n"),
        "{block}"
    );
    let launcher = format!("#!/usr/bin/python\n{BEGIN}\nold\n{END}\nimport json\n");
    let new = with_block(&launcher, &block);
    assert!(new.starts_with("#!/usr/bin/python\n") && new.ends_with(&format!("{END}\nimport json\n")));
    assert_eq!(python_string(&new, "RETURN"), "r: 1\n");
}
