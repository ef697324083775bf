//! The subcommands' help: `verify`, `tag` and `rollback` each describe the flags they take in their
//! own words (not promote's help word for word), every option they list has a description, and the
//! flags a verb does not use are not listed (yet still accepted). The promotion verbs' help is built
//! from the options' entries: what is required is marked and listed first, defaults, limits and
//! possible values are shown, a registry's keys are listed whole; every subcommand ends with
//! examples, and every example parses; what is missing is named at once, by flag.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_copy-containers");

fn help(verb: &str) -> String {
    let out = Command::new(BIN).args([verb, "--help"]).output().unwrap();
    assert!(out.status.success(), "{verb} --help: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The options listed in a long help (`--name` of each), and those with no description under them.
fn options(text: &str) -> (Vec<String>, Vec<String>) {
    let lines: Vec<&str> = text.lines().take_while(|l| *l != "Examples:").collect();
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
        let lines: Vec<&str> = text.lines().take_while(|l| *l != "Examples:").collect();
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

/// Each subcommand's examples parse as the command line they show.
#[test]
fn every_example_parses() {
    use clap::{CommandFactory, Parser};
    use copy_containers::cli::Cli;
    let cmd = Cli::command();
    let mut seen = 0;
    for sub in cmd.get_subcommands() {
        let text = sub.get_after_help().map(|h| h.to_string()).unwrap_or_default();
        assert!(
            text.starts_with("Examples:"),
            "{} has no examples",
            sub.get_name()
        );
        let joined = text.replace("\\\n", " ");
        for line in joined
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("copy-containers "))
        {
            let argv: Vec<&str> = line.split_whitespace().collect();
            if let Err(e) = Cli::try_parse_from(&argv) {
                panic!("example of {}: {line}\n{e}", sub.get_name());
            }
            seen += 1;
        }
    }
    assert!(seen >= 18, "{seen} examples");
}

/// What promote requires is under its own heading and marked, with what stands in for it; every
/// count shows its default and limits, every boolean its values; `--source` lists every key a
/// registry takes on the command line (the secret ones are refused there).
#[test]
fn help_marks_required_and_shows_defaults_and_values() {
    let text = help("promote");
    let described = |flag: &str| -> String {
        let i = text
            .find(&format!("      {flag} "))
            .unwrap_or_else(|| panic!("{flag} in {text}"));
        text[i..].lines().nth(1).unwrap().trim().to_string()
    };
    let required = text.find("Required (").expect("a Required heading");
    for flag in ["--full-hash", "--named-label", "--containers", "--source"] {
        assert!(text.find(&format!("      {flag} ")).unwrap() > required, "{flag}");
        assert!(
            described(flag).contains("[required"),
            "{flag}: {}",
            described(flag)
        );
    }
    assert!(described("--containers").contains("[required, or --containers-file]"));
    assert!(described("--per-registry").contains("[default: 16; 1 to 256]"));
    assert!(described("--retries").contains("[default: 5;"));
    assert!(described("--lock-timeout").contains("[default: 600;"));
    for flag in ["--push", "--manifest-push", "--ppc-manifests"] {
        assert!(
            described(flag).contains("[possible values: true, false]"),
            "{flag}"
        );
    }
    assert!(described("--keep-local").contains("[possible values: never, on_failure, always]"));
    let keys = &text[text.find("Keys:").expect("--source lists its keys")..];
    for key in [
        "host=",
        "namespace=",
        "name=",
        "tls_verify=",
        "cert_dir=",
        "authfile=",
        "ca_file=",
        "password_env=",
        "insecure=",
    ] {
        assert!(
            keys.contains(&format!("\n            {key}")),
            "--source does not list {key}: {keys}"
        );
    }
    assert!(
        !keys.contains("password=") && !keys.contains("token="),
        "secret keys are listed"
    );
    // On tag, --registry stands in for --source.
    let tag = help("tag");
    let i = tag.find("      --registry ").unwrap();
    assert!(
        tag[i..]
            .lines()
            .nth(1)
            .unwrap()
            .contains("[required, or --source]"),
        "{tag}"
    );
    // local waits for no lock unless told (a person at a terminal).
    assert!(help("local").contains("[default: 0; at most 86400]"));
}

/// Every missing argument at once, by flag, with the config keys that give them; exit status 2.
#[test]
fn missing_arguments_are_named_at_once_by_flag() {
    let out = Command::new(BIN)
        .args(["promote", "--named-label", "x"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "missing required options: --full-hash, --containers (or --containers-file), --source \
             (in --config FILE: full_hash, containers_list, source_registry)"
        ),
        "{err}"
    );
    let out = Command::new(BIN)
        .args([
            "tag",
            "--full-hash",
            "x",
            "--named-label",
            "y",
            "--containers",
            "a",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("missing required options: --registry (or --source)"),
        "{err}"
    );
    let out = Command::new(BIN)
        .args(["promote", "--push", "maybe"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--push: \"maybe\" is not a boolean (true or false"),
        "{err}"
    );
}
