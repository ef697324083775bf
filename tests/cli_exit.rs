//! What a person or a script sees of the command line besides results: the exit status says whether
//! the input was wrong (2, like clap's usage errors) or the run failed (1); stderr carries no colour
//! codes when it is not a terminal (CI logs, files).

mod common;

use common::bin;

fn run(args: &[&str]) -> (Option<i32>, String) {
    let out = bin().args(args).env_remove("NO_COLOR").output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn usage_and_config_errors_exit_2_run_failures_exit_1() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(&bad, "full_hash: d7c3cd922f91d83aacb5d7555de9d5bc\nbogus: 1\n").unwrap();
    let missing = tmp.path().join("missing.yaml");
    let cases: Vec<Vec<String>> = vec![
        vec!["promote".into(), "--config".into(), bad.display().to_string()],
        vec!["promote".into(), "--config".into(), missing.display().to_string()],
        vec!["verify".into(), "--config".into(), bad.display().to_string()],
        vec![
            "promote".into(),
            "--full-hash".into(),
            "d7c3cd922f91d83aacb5d7555de9d5bc".into(),
            "--named-label".into(),
            "current-tripleo".into(),
            "--source".into(),
            "no-namespace".into(),
            "--containers".into(),
            "base".into(),
        ],
        vec![
            "promote".into(),
            "--full-hash".into(),
            "not-a-hash".into(),
            "--named-label".into(),
            "current-tripleo".into(),
            "--source".into(),
            "127.0.0.1:9/ns".into(),
            "--containers".into(),
            "base".into(),
        ],
        vec![
            "copy".into(),
            "127.0.0.1:9/ns/a@sha256:0000000000000000000000000000000000000000000000000000000000000000".into(),
            "127.0.0.1:9/ns/b@sha256:0000000000000000000000000000000000000000000000000000000000000000".into(),
        ],
        vec!["no-such-command".into()],
        // Invalid input found by a verb (not by the flags' parsing) is 2 as well: the exit status is
        // the error's kind's (tag used to exit 1 here), and a missing argument is named by flag.
        vec![
            "tag".into(),
            "--full-hash".into(),
            "not-a-hash".into(),
            "--named-label".into(),
            "current-tripleo".into(),
            "--registry".into(),
            "127.0.0.1:9/ns".into(),
            "--containers".into(),
            "base".into(),
        ],
        vec![
            "rollback".into(),
            "--named-label".into(),
            "current-tripleo".into(),
        ],
        vec![
            "inspect".into(),
            "--username".into(),
            "robot".into(),
            "127.0.0.1:9/ns/app:v1".into(),
        ],
        // A release name that cannot be one (the store's folders are release names).
        vec![
            "local".into(),
            "--root".into(),
            tmp.path().join("store").display().to_string(),
            "delete".into(),
            "--release".into(),
            "../etc".into(),
        ],
        vec![
            "local".into(),
            "--root".into(),
            tmp.path().join("store").display().to_string(),
            "list".into(),
            "--release".into(),
            "../etc".into(),
        ],
    ];
    for args in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, text) = run(&args);
        assert_eq!(code, Some(2), "{args:?}: {text}");
        assert!(text.contains("error"), "{args:?}: {text}");
    }
    // A run that fails (nothing listens on port 9) is 1, not 2.
    let (code, text) = run(&[
        "--quiet",
        "promote",
        "--full-hash",
        "d7c3cd922f91d83aacb5d7555de9d5bc",
        "--named-label",
        "current-tripleo",
        "--source",
        "host=127.0.0.1:9,namespace=ns,insecure=true",
        "--containers",
        "base",
        "--target",
        "host=127.0.0.1:9,namespace=ns,insecure=true",
        "--retries",
        "1",
        "--tmp-file-root",
        tmp.path().to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{text}");
    // `-q` still shows the failure.
    assert!(text.contains("127.0.0.1:9"), "{text}");
}

#[test]
fn no_colour_codes_in_redirected_stderr() {
    // A warning is logged (TLS verification off) and stderr is a pipe here.
    let (_, text) = run(&["inspect", "--no-tls-verify", "127.0.0.1:9/ns/app:v1"]);
    assert!(text.contains("WARN"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in redirected output: {text:?}"
    );
}

/// A failed run logs its failures at ERROR (also with `-q` and JSON logs), and each run's reports get
/// their own names (action, release, hash, time) beside a `latest` copy: two hashes do not overwrite
/// each other.
#[test]
fn failures_reach_the_logs_and_reports_do_not_overwrite_each_other() {
    let tmp = tempfile::tempdir().unwrap();
    let hashes = [
        "d7c3cd922f91d83aacb5d7555de9d5bc",
        "0123456789abcdef0123456789abcdef",
    ];
    // The first hash twice: a rerun within the same second keeps its own pair too.
    for h in [hashes[0], hashes[0], hashes[1]] {
        let out = bin()
            .args([
                "-q",
                "--log-format",
                "json",
                "verify",
                "--full-hash",
                h,
                "--named-label",
                "current-tripleo",
                "--source",
                "host=127.0.0.1:9,namespace=ns,insecure=true",
                "--target",
                "host=127.0.0.1:9,namespace=ns,insecure=true",
                "--containers",
                "base",
                "--retries",
                "1",
                "--tmp-file-root",
                tmp.path().to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let errors: Vec<serde_json::Value> = stderr
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["level"] == "ERROR")
            .collect();
        assert!(!errors.is_empty(), "no ERROR event: {stderr}");
        assert!(
            errors
                .iter()
                .any(|v| v["full_hash"] == h && v.to_string().contains("127.0.0.1:9")),
            "{errors:?}"
        );
    }
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    for h in hashes {
        for ext in ["json", "html"] {
            assert!(
                names.iter().any(
                    |n| n.starts_with(&format!("copy-containers-verify-master-{h}-")) && n.ends_with(ext)
                ),
                "{h}.{ext} in {names:?}"
            );
        }
    }
    let first_runs = names
        .iter()
        .filter(|n| {
            n.starts_with(&format!("copy-containers-verify-master-{}-", hashes[0])) && n.ends_with(".json")
        })
        .count();
    assert_eq!(first_runs, 2, "each run its own report: {names:?}");
    let latest = std::fs::read_to_string(tmp.path().join("copy-containers-verify-latest.json")).unwrap();
    assert!(latest.contains(hashes[1]), "latest is the newest run");
    assert!(
        names.contains(&"copy-containers-verify-latest.html".to_string()),
        "{names:?}"
    );
}

/// Retries are logged at DEBUG, each, so a failing registry does not flood the log; at the default
/// level a registry that failed says so in its ERROR line alone (the retries on the way are part of
/// that cause: no second message about them). (Three images with three attempts each also reach the
/// give-up after 8 refusals: the run must end, not loop on it.)
#[test]
fn an_unreachable_registry_is_one_error_line_and_no_retry_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |verbose: bool| {
        let mut cmd = bin();
        if verbose {
            cmd.arg("-vv");
        }
        let out = cmd
            .args([
                "--log-format",
                "json",
                "verify",
                "--full-hash",
                "d7c3cd922f91d83aacb5d7555de9d5bc",
            ])
            .args([
                "--named-label",
                "current-tripleo",
                "--containers",
                "base,nova-api,cron",
            ])
            .args(["--source", "host=127.0.0.1:9,namespace=ns,insecure=true"])
            .args([
                "--target",
                "host=127.0.0.1:9,namespace=other,insecure=true",
                "--retries",
                "3",
            ])
            .arg("--tmp-file-root")
            .arg(tmp.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        events
    };
    // Events are flat: {level, message, <fields>…}.
    let message = |v: &serde_json::Value| v["message"].as_str().unwrap_or_default().to_string();
    let events = run(false);
    assert!(
        !events.iter().any(|v| message(v) == "retrying"),
        "no retry line at the default level"
    );
    let warned: Vec<_> = events
        .iter()
        .filter(|v| message(v).starts_with("requests retried"))
        .collect();
    assert_eq!(
        warned.len(),
        0,
        "the failed registry's retries said again: {events:#?}"
    );
    let errors: Vec<_> = events.iter().filter(|v| v["level"] == "ERROR").collect();
    assert_eq!(errors.len(), 1, "one cause, one ERROR line: {events:#?}");
    assert!(errors[0].to_string().contains("127.0.0.1:9"), "{:?}", errors[0]);
    // With -vv each retry is there.
    assert!(run(true).iter().any(|v| message(v) == "retrying"));
}

/// With `--log-format json`, an error that ends the command (a config error, an `inspect` or `copy`
/// that fails, also with `copy --json`) is a JSON ERROR record like every other stderr line, not a plain-text `error:` line a
/// log collector cannot parse; the exit status is unchanged.
#[test]
fn a_command_error_is_a_json_record_with_json_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.yaml");
    let cases: Vec<(Vec<String>, i32)> = vec![
        (
            vec!["promote".into(), "--config".into(), missing.display().to_string()],
            2,
        ),
        (
            vec![
                "inspect".into(),
                "--insecure".into(),
                "127.0.0.1:9/ns/app:v1".into(),
            ],
            1,
        ),
    ];
    // A failed copy, with and without `--json` (its result on stdout): the failure is logged too.
    let copy: Vec<String> = [
        "copy",
        "--src-insecure",
        "--dest-insecure",
        "--retries",
        "1",
        "127.0.0.1:9/ns/app:v1",
        "127.0.0.1:9/ns/other:v1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut copy_json = copy.clone();
    copy_json.push("--json".into());
    let cases = cases
        .into_iter()
        .chain([(copy, 1), (copy_json, 1)])
        .collect::<Vec<_>>();
    for (args, code) in cases {
        let out = bin().args(["--log-format", "json"]).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let records: Vec<serde_json::Value> = stderr
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("{args:?}: not JSON: {l:?}")))
            .collect();
        assert!(
            records.iter().any(|v| v["level"] == "ERROR"),
            "{args:?}: no ERROR record: {stderr}"
        );
    }
}

/// A reader that goes away (`copy-containers … | head -1`) ends the printing, not the program:
/// no panic, the command's own exit status.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    let mut child = bin()
        .args(["releases", "--no-fetch", "--config"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/config/releases.yaml"
        ))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
}
