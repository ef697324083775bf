//! The promotion verbs' help (issue 15): `verify`, `tag` and `rollback` each describe the flags
//! they take in their own words (not promote's help word for word), every option they list has a
//! description, and the flags a verb does not use are not listed (yet still accepted).

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_copy-containers");

fn help(verb: &str) -> String {
    let out = Command::new(BIN).args([verb, "--help"]).output().unwrap();
    assert!(out.status.success(), "{verb} --help: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The options listed in a long help (`--name` of each), and those with no description under them.
fn options(text: &str) -> (Vec<String>, Vec<String>) {
    let lines: Vec<&str> = text.lines().collect();
    let mut listed = Vec::new();
    let mut bare = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let indent = l.len() - l.trim_start().len();
        if !(1..=6).contains(&indent) || !l.trim_start().starts_with('-') {
            continue;
        }
        let name = l
            .split_whitespace()
            .find(|w| w.starts_with("--"))
            .unwrap_or(l.trim())
            .trim_end_matches(['.', ','])
            .to_string();
        let next = lines.get(i + 1).copied().unwrap_or("");
        let described = next.len() - next.trim_start().len() >= 10 && !next.trim().is_empty();
        if !described {
            bare.push(name.clone());
        }
        listed.push(name);
    }
    (listed, bare)
}

#[test]
fn each_verb_describes_its_own_options() {
    let promote = help("promote");
    let (_, bare) = options(&promote);
    assert!(
        bare.is_empty(),
        "promote --help lists options without a description: {bare:?}"
    );
    for verb in ["verify", "tag", "rollback"] {
        let text = help(verb);
        assert_ne!(text, promote, "{verb} --help is promote's");
        let (listed, bare) = options(&text);
        assert!(listed.len() > 5, "{verb}: {listed:?}");
        assert!(
            bare.is_empty(),
            "{verb} --help lists options without a description: {bare:?}"
        );
        // The hash means something else to each verb.
        let hash = |t: &str| {
            let i = t.find("--full-hash").unwrap();
            t[i..].lines().nth(1).unwrap().trim().to_string()
        };
        assert_ne!(
            hash(&text),
            hash(&promote),
            "{verb} describes --full-hash as promote does"
        );
    }
}

#[test]
fn unused_flags_are_not_listed_but_accepted() {
    let tag = help("tag");
    let (listed, _) = options(&tag);
    for unused in [
        "--target",
        "--push",
        "--manifest-push",
        "--keep-local",
        "--ppc-containers",
    ] {
        assert!(
            !listed.iter().any(|l| l == unused),
            "tag --help lists {unused}: {listed:?}"
        );
    }
    assert!(listed.iter().any(|l| l == "--registry"), "{listed:?}");
    let (listed, _) = options(&help("rollback"));
    assert!(
        !listed.iter().any(|l| l == "--push" || l == "--lock-timeout"),
        "{listed:?}"
    );
    // Still parsed as before: the run fails on the missing hash, not on an unknown flag.
    let out = Command::new(BIN)
        .args([
            "tag",
            "--target",
            "127.0.0.1:9/ns",
            "--push",
            "false",
            "--named-label",
            "x",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("unexpected argument"), "{err}");
    assert_eq!(out.status.code(), Some(2), "{err}");
}

/// The other subcommands too: every option `inspect`, `copy`, `stage`, `releases` and `copy-quay`
/// list says what it does, in the short help layout (description on the option's line) as in the
/// long one (on the next line); a bare `[default: …]` is no description.
#[test]
fn every_subcommand_describes_its_options() {
    for verb in ["inspect", "copy", "stage", "releases", "copy-quay"] {
        let text = help(verb);
        let lines: Vec<&str> = text.lines().collect();
        let mut listed = 0;
        let mut bare = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            let indent = l.len() - l.trim_start().len();
            if !(1..=6).contains(&indent) || !l.trim_start().starts_with('-') {
                continue;
            }
            listed += 1;
            let same_line = l.trim().split_once("  ").map(|(_, d)| d.trim()).unwrap_or("");
            let next = lines.get(i + 1).copied().unwrap_or("");
            let next_line = if next.len() - next.trim_start().len() >= 10 {
                next.trim()
            } else {
                ""
            };
            let says = |d: &str| !d.is_empty() && !d.starts_with("[default");
            if !says(same_line) && !says(next_line) {
                bare.push(l.trim().to_string());
            }
        }
        assert!(listed > 2, "{verb}: {text}");
        assert!(
            bare.is_empty(),
            "{verb} --help lists options without a description: {bare:?}"
        );
    }
}
