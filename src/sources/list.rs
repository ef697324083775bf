//! The container list as the promoter hands it over: either its extra-vars YAML (`-e @file`, keys
//! `containers_list` and `ppc_containers_list`) or a plain list, one name per line. Names come without
//! the `openstack-` prefix. The list decides what gets promoted, so it is validated strictly: garbage,
//! binary files, oversized files, bad names and empty lists are refused with the file named.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_norway::Value;

use crate::error::{Error, Result};
use crate::reference::validate_component;

/// The largest list file we read.
pub const MAX_LIST_FILE_BYTES: u64 = 1024 * 1024;

/// The containers to promote (names without the `openstack-` prefix), and those that also have a
/// ppc64le image. `ppc_containers` is `None` when the source says nothing about ppc64le.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerLists {
    pub containers: Vec<String>,
    pub ppc_containers: Option<Vec<String>>,
}

/// Read and parse a list file (extra-vars YAML or plain list; see [`parse_list_text`]).
pub fn parse_list_file(path: &Path) -> Result<ContainerLists> {
    let shown = path.display().to_string();
    crate::input::ensure_regular_file(path, "container list file")?;
    if std::fs::metadata(path).is_ok_and(|m| m.len() > MAX_LIST_FILE_BYTES) {
        return Err(too_big(&shown));
    }
    let bytes = crate::input::read_capped(path, "container list file", MAX_LIST_FILE_BYTES)?;
    parse_list_bytes(&shown, &bytes)
}

fn too_big(shown: &str) -> Error {
    Error::invalid(
        "container list file",
        shown,
        format!("larger than {MAX_LIST_FILE_BYTES} bytes; expected a short list of container names"),
    )
}

/// Parse list bytes from `source` (a file name or URL, for messages): refuses binary data (NUL
/// bytes, invalid UTF-8, control characters) before looking at the text.
pub fn parse_list_bytes(source: &str, bytes: &[u8]) -> Result<ContainerLists> {
    if bytes.len() as u64 > MAX_LIST_FILE_BYTES {
        return Err(too_big(source));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Error::invalid(
            "container list file",
            source,
            format!(
                "not UTF-8 text (invalid byte at offset {}); expected YAML or one container name per line",
                e.valid_up_to()
            ),
        )
    })?;
    if let Some(pos) = text.find(|c: char| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(Error::invalid(
            "container list file",
            source,
            format!(
                "binary data (control character at offset {pos}); expected YAML or one container name per line"
            ),
        ));
    }
    parse_list_text(source, text)
}

/// Parse list text from `source`. The YAML forms: a mapping with `containers_list` (and optionally
/// `ppc_containers_list`; other keys are ignored) or a bare YAML sequence. Otherwise a plain list:
/// one name per line, `#` starts a comment, blank lines are skipped. Names are validated as path
/// components and deduplicated (first occurrence kept).
pub fn parse_list_text(source: &str, text: &str) -> Result<ContainerLists> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match serde_norway::from_str::<Value>(text) {
        Ok(Value::Mapping(map)) => {
            let containers = match map.get("containers_list") {
                Some(v) => yaml_names(source, "containers_list", v)?,
                None => {
                    return Err(Error::invalid(
                        "container list file",
                        source,
                        "YAML mapping without a `containers_list` key; expected the promoter's extra-vars \
                         (containers_list: [names], optional ppc_containers_list: [names]) or one name per line",
                    ))
                }
            };
            let ppc = match map.get("ppc_containers_list") {
                None | Some(Value::Null) => None,
                Some(v) => Some(yaml_names_allow_empty(source, "ppc_containers_list", v)?),
            };
            Ok(ContainerLists {
                containers,
                ppc_containers: ppc,
            })
        }
        Ok(v @ Value::Sequence(_)) => Ok(ContainerLists {
            containers: yaml_names(source, "list", &v)?,
            ppc_containers: None,
        }),
        Ok(_) => plain_list(source, text),
        Err(yaml_err) => {
            // A plain list is not YAML-shaped; a file that looks like YAML (key: value lines) but
            // does not parse is reported as broken YAML.
            let looks_yaml = text
                .lines()
                .map(strip_comment)
                .any(|l| l.contains(": ") || l.trim_end().ends_with(':'));
            if looks_yaml {
                Err(Error::invalid(
                    "container list file",
                    source,
                    format!("broken YAML: {yaml_err}"),
                ))
            } else {
                plain_list(source, text)
            }
        }
    }
}

fn strip_comment(line: &str) -> &str {
    match line.find('#') {
        Some(i) => &line[..i],
        None => line,
    }
}

fn plain_list(source: &str, text: &str) -> Result<ContainerLists> {
    let mut names = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let name = strip_comment(line).trim();
        if name.is_empty() {
            continue;
        }
        names.push((name.to_string(), format!("line {}", i + 1)));
    }
    Ok(ContainerLists {
        containers: checked_names(source, "list", names, false)?,
        ppc_containers: None,
    })
}

fn yaml_items(source: &str, key: &str, v: &Value) -> Result<Vec<(String, String)>> {
    let seq = match v {
        Value::Sequence(s) => s,
        Value::Null => return Ok(Vec::new()),
        _ => {
            return Err(Error::invalid(
                "container list file",
                source,
                format!("`{key}` must be a list of container names"),
            ))
        }
    };
    let mut out = Vec::with_capacity(seq.len());
    for (i, item) in seq.iter().enumerate() {
        match item {
            Value::String(s) => out.push((s.trim().to_string(), format!("{key}[{i}]"))),
            _ => {
                return Err(Error::invalid(
                    "container list file",
                    source,
                    format!("{key}[{i}] is not a string; expected container names"),
                ))
            }
        }
    }
    Ok(out)
}

fn yaml_names(source: &str, key: &str, v: &Value) -> Result<Vec<String>> {
    checked_names(source, key, yaml_items(source, key, v)?, false)
}

fn yaml_names_allow_empty(source: &str, key: &str, v: &Value) -> Result<Vec<String>> {
    checked_names(source, key, yaml_items(source, key, v)?, true)
}

/// Validate names (each with where it was found) and drop duplicates, keeping the first.
pub(crate) fn checked_names(
    source: &str,
    list: &str,
    names: Vec<(String, String)>,
    allow_empty: bool,
) -> Result<Vec<String>> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(names.len());
    for (name, at) in names {
        validate_name(&name).map_err(|e| {
            Error::invalid(
                "container name",
                crate::sources::hash::shorten(&name),
                format!("{source} ({at}): {}", e.reason()),
            )
        })?;
        if seen.insert(name.clone()) {
            out.push(name);
        } else {
            tracing::debug!(source, name = %name, "duplicate container name ignored");
        }
    }
    if out.is_empty() && !allow_empty {
        return Err(Error::invalid(
            "container list",
            source,
            format!("`{list}` holds no container names; an empty list would promote nothing"),
        ));
    }
    Ok(out)
}

/// A container name: one lowercase repository path component (`nova-compute`, `base`).
pub fn validate_name(name: &str) -> Result<()> {
    validate_component(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXTRA_VARS: &str = include_str!("../../tests/fixtures/promoter/extra-vars.yaml");

    #[test]
    fn promoter_extra_vars() {
        let l = parse_list_text("extra-vars.yaml", EXTRA_VARS).unwrap();
        assert_eq!(
            l.containers,
            ["aodh-api", "base", "neutron-server", "nova-compute"]
        );
        assert_eq!(l.ppc_containers.unwrap(), ["aodh-api", "nova-compute"]);
    }

    #[test]
    fn extra_vars_without_ppc_and_with_anchors() {
        let y = "common: &c\n  - base\n  - nova-compute\ncontainers_list: *c\nother: 1\n";
        let l = parse_list_text("x", y).unwrap();
        assert_eq!(l.containers, ["base", "nova-compute"]);
        assert_eq!(l.ppc_containers, None);
        let l = parse_list_text("x", "containers_list: [base]\nppc_containers_list: []\n").unwrap();
        assert_eq!(l.ppc_containers, Some(vec![]));
    }

    #[test]
    fn plain_list_with_comments_and_duplicates() {
        let t = "# promoted containers\n\nnova-compute\n  base  # the base image\r\nnova-compute\n\n# end\n";
        let l = parse_list_text("list.txt", t).unwrap();
        assert_eq!(l.containers, ["nova-compute", "base"]);
        assert_eq!(l.ppc_containers, None);
        // A single name is YAML too (a scalar): still a plain list.
        assert_eq!(parse_list_text("x", "base\n").unwrap().containers, ["base"]);
        // A bare YAML sequence.
        assert_eq!(
            parse_list_text("x", "- base\n- cron\n").unwrap().containers,
            ["base", "cron"]
        );
    }

    #[test]
    fn bad_names_are_reported_with_their_place() {
        let e = parse_list_text("list.txt", "base\nNova-Compute\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("Nova-Compute") && e.contains("list.txt (line 2)"),
            "{e}"
        );
        let e = parse_list_text("list.txt", "base\nnova compute\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
        let e = parse_list_text("list.txt", "tripleo/nova\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("tripleo/nova"), "{e}");
        let e = parse_list_text("ev.yaml", "containers_list:\n- base\n- $(reboot)\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("containers_list[1]") && e.contains("ev.yaml"), "{e}");
        let e = parse_list_text("ev.yaml", "containers_list:\n- base\n- [x]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a string"), "{e}");
    }

    #[test]
    fn empty_lists_are_refused() {
        for t in [
            "",
            "\n\n",
            "# nothing\n",
            "containers_list: []\n",
            "containers_list:\n",
        ] {
            let e = parse_list_text("l", t).unwrap_err().to_string();
            assert!(e.contains("no container names"), "{t:?}: {e}");
        }
    }

    #[test]
    fn missing_key_and_broken_yaml() {
        let e = parse_list_text("ev.yaml", "release: master\nnamed_label: current-tripleo\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("containers_list") && e.contains("ev.yaml"), "{e}");
        let e = parse_list_text("ev.yaml", "containers_list: [base\nfoo: : :\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("broken YAML") && e.contains("ev.yaml"), "{e}");
        let e = parse_list_text("ev.yaml", "containers_list: base\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be a list"), "{e}");
    }

    #[test]
    fn binary_and_garbage() {
        let e = parse_list_bytes("img.bin", b"\x7fELF\x02\x01\x01\x00\x00")
            .unwrap_err()
            .to_string();
        assert!(e.contains("img.bin") && e.contains("binary"), "{e}");
        let e = parse_list_bytes("x.gz", b"\x1f\x8b\x08\x00\xff\xfe")
            .unwrap_err()
            .to_string();
        assert!(e.contains("UTF-8") || e.contains("binary"), "{e}");
        let e = parse_list_bytes("x", "base\n{{ garbage }} <html>\n".as_bytes()).unwrap_err();
        assert!(e.to_string().contains("container name"), "{e}");
    }

    #[test]
    fn files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("list");
        std::fs::write(&p, "base\ncron\n").unwrap();
        assert_eq!(parse_list_file(&p).unwrap().containers, ["base", "cron"]);
        let big = dir.path().join("big");
        std::fs::write(&big, "a\n".repeat(600 * 1024)).unwrap();
        let e = parse_list_file(&big).unwrap_err().to_string();
        assert!(e.contains("larger than") && e.contains("big"), "{e}");
        let e = parse_list_file(&dir.path().join("nope")).unwrap_err().to_string();
        assert!(e.contains("nope"), "{e}");
        assert!(parse_list_file(dir.path()).is_err());
    }
}
