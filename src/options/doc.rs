//! The module's documentation of its options (`DOCUMENTATION.options` of
//! `src/module/copy_containers.yml`, which the launcher `library/copy_containers.py` carries for
//! `ansible-doc`), rendered from the entries. The file is checked in; `tests/module_doc.rs` fails
//! when its options differ from [`ansible_options`], and `scripts/regenerate` splices the rendering
//! in ([`splice`]) then copies the file into the launcher. The rest of the file (description,
//! examples, return values) is written by hand. Written here, not with a YAML serializer, so that
//! the file stays readable: descriptions wrapped, the registry keys written once (`&anchor`).

use super::{DefaultValue, Kind, Opt, MODULE_SPEC, REGISTRY_KEYS};

/// The line the generated block starts with.
pub const MARK: &str = "  # Generated from src/options (run scripts/regenerate); edit the options there.";
/// The key after the block.
const END: &str = "  notes:";
const WIDTH: usize = 118;

/// `DOCUMENTATION.options`, with the comment that marks it.
pub fn ansible_options() -> String {
    let mut out = format!("{MARK}\n  options:\n");
    let mut anchored = false;
    for o in MODULE_SPEC {
        option(&mut out, o, 4);
        if matches!(o.kind, Kind::Dict | Kind::ListOfDicts) {
            if anchored {
                out.push_str("      suboptions: *registry_suboptions\n");
            } else {
                anchored = true;
                out.push_str("      suboptions: &registry_suboptions\n");
                for k in REGISTRY_KEYS {
                    option(&mut out, k, 8);
                }
            }
        }
    }
    out
}

/// `file` (the documentation) with its options block replaced by [`ansible_options`]; `None` when
/// the block's marks are not found.
pub fn splice(file: &str) -> Option<String> {
    let start = file.find(MARK)?;
    let end = start + file[start..].find(&format!("\n{END}\n"))? + 1;
    Some(format!("{}{}{}", &file[..start], ansible_options(), &file[end..]))
}

fn option(out: &mut String, o: &Opt, indent: usize) {
    let pad = " ".repeat(indent);
    out.push_str(&format!("{pad}{}:\n{pad}  description:\n", o.name));
    let mut paragraphs: Vec<String> = o.doc.iter().map(|p| p.to_string()).collect();
    if let Some(l) = limits(o) {
        paragraphs.push(l);
    }
    for p in &paragraphs {
        out.push_str(&wrapped(&format!("{pad}    - "), &scalar(p)));
    }
    let (ty, elements) = match o.kind {
        Kind::List => ("list", Some("str")),
        Kind::ListOfDicts => ("list", Some("dict")),
        k => (k.name(), None),
    };
    out.push_str(&format!("{pad}  type: {ty}\n"));
    if let Some(e) = elements {
        out.push_str(&format!("{pad}  elements: {e}\n"));
    }
    if !o.aliases.is_empty() {
        out.push_str(&format!("{pad}  aliases: [{}]\n", o.aliases.join(", ")));
    }
    if !o.choices.is_empty() {
        out.push_str(&format!("{pad}  choices: [{}]\n", o.choices.join(", ")));
    }
    if let Some(d) = default(o) {
        out.push_str(&format!("{pad}  default: {d}\n"));
    }
    if o.no_log {
        out.push_str(&format!("{pad}  no_log: true\n"));
    }
    if o.required.len() == super::ACTIONS.len() {
        out.push_str(&format!("{pad}  required: true\n"));
    }
}

/// What the limits of a count do, as a sentence.
fn limits(o: &Opt) -> Option<String> {
    Some(match o.limits? {
        (0, high) => format!("At most V({high}); more counts as V({high})."),
        (low, high) => format!("From V({low}) to V({high}); a value outside counts as the nearest."),
    })
}

fn default(o: &Opt) -> Option<String> {
    Some(match o.default {
        DefaultValue::None | DefaultValue::Described(_) => return None,
        DefaultValue::Str(s) => scalar(s),
        DefaultValue::Int(i) => i.to_string(),
        DefaultValue::Bool(b) => b.to_string(),
        DefaultValue::List(l) => format!("[{}]", l.join(", ")),
    })
}

/// A string as a YAML scalar: plain when YAML reads it back as that string, else double-quoted.
fn scalar(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let reads_as_other = s.parse::<f64>().is_ok()
        || ["true", "false", "yes", "no", "on", "off", "null", "~", ""].contains(&lower.as_str());
    let plain = !reads_as_other
        && !s.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@` ".contains(c))
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.contains(" #");
    if plain {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// `head` then `text`, folded at spaces within [`WIDTH`], continuation lines indented under the text.
fn wrapped(head: &str, text: &str) -> String {
    let indent = " ".repeat(head.len());
    let mut out = String::new();
    let mut line = head.to_string();
    let mut empty = true;
    for word in text.split(' ') {
        if !empty && line.len() + 1 + word.len() > WIDTH {
            out.push_str(&line);
            out.push('\n');
            line = indent.clone();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(&line);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_read_back_as_written() {
        assert_eq!(scalar("on_failure"), "on_failure");
        assert_eq!(scalar("9"), "\"9\"");
        assert_eq!(scalar("yes"), "\"yes\"");
        assert_eq!(scalar("a: b"), "\"a: b\"");
        assert_eq!(scalar("V(\"true\")"), "V(\"true\")");
        assert_eq!(scalar("\"q\""), "\"\\\"q\\\"\"");
        let w = wrapped("  - ", &"word ".repeat(40));
        assert!(w.lines().all(|l| l.len() <= WIDTH), "{w}");
        assert!(w.lines().skip(1).all(|l| l.starts_with("    word")), "{w}");
    }
}
