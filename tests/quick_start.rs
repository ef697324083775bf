//! The README's quick start, run as written: its shell block (with its two example registries swapped
//! for real ones and `xdg-open` for a check that the report is there), then the failure it shows
//! (the target stopped), so the commands and the outcome lines it quotes cannot drift from the tool.

use std::path::Path;
use std::process::Command;

use copy_containers_testkit as tk;

const BIN: &str = env!("CARGO_BIN_EXE_copy-containers");

/// The README's section `## Quick start`, up to the next section.
fn quick_start() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme.find("## Quick start\n").expect("README has a quick start");
    let rest = &readme[start + 3..];
    rest[..rest.find("\n## ").unwrap()].to_string()
}

/// The fenced blocks of `lang` in `text`.
fn blocks(text: &str, lang: &str) -> Vec<String> {
    let fence = format!("```{lang}\n");
    text.split(&fence)
        .skip(1)
        .map(|b| b[..b.find("```").unwrap()].to_string())
        .collect()
}

#[test]
fn the_readme_quick_start_runs_as_written() {
    let section = quick_start();
    let script = blocks(&section, "sh").remove(0);
    let quoted = blocks(&section, "text");
    assert_eq!(quoted.len(), 2, "a success and a failure shown");

    let (src, dst) = (tk::Registry::plain().unwrap(), tk::Registry::plain().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = dir.path().join("bin");
    std::fs::create_dir(&bin_dir).unwrap();
    std::os::unix::fs::symlink(BIN, bin_dir.join("copy-containers")).unwrap();
    let script = script
        .replace("127.0.0.1:5000", &src.host())
        .replace("127.0.0.1:5001", &dst.host())
        .replace("xdg-open ", "test -s ");
    assert!(
        script.contains("test -s ./promoter_logs/"),
        "the report is opened"
    );
    let run = |script: &str| {
        let out = Command::new("bash")
            .arg("-euo")
            .arg("pipefail")
            .arg("-c")
            .arg(script)
            .current_dir(dir.path())
            .env(
                "PATH",
                format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap()),
            )
            .env("COPY_CONTAINERS_PROGRESS_INTERVAL", "0")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&script);
    assert_eq!(code, Some(0), "{out}\n{err}");
    // The success's first two lines are as quoted, the figures (sizes, times, ports) aside.
    let shape = |l: &str| -> String { l.chars().filter(|c| !c.is_ascii_digit()).collect() };
    for quoted_line in quoted[0].lines().take(2) {
        assert!(
            out.lines().any(|l| shape(l) == shape(quoted_line)),
            "README quotes {quoted_line:?}; the run printed:\n{out}"
        );
    }
    let staged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("staged.json")).unwrap()).unwrap();
    assert_eq!(staged.as_array().unwrap().len(), 5);

    // The failure shown: the same promotion with its target stopped.
    dst.stop();
    let promote = &script[script.find("copy-containers promote").unwrap()..];
    let promote = &promote[..promote.find("\n\n").unwrap()];
    let names = staged
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect::<Vec<_>>()
        .join(",");
    let (code, out, err) = run(&format!("names={names}\n{promote}"));
    assert_eq!(code, Some(1), "{out}\n{err}");
    for quoted_line in quoted[1].lines() {
        assert!(
            out.lines().any(|l| shape(l) == shape(quoted_line)),
            "README quotes {quoted_line:?}; the run printed:\n{out}"
        );
    }
}
