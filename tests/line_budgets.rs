//! What an operator reads after a run, counted (issue 26): stdout and stderr together, as a terminal
//! shows them, at the default verbosity. A success is at most 25 lines whatever the number of
//! images (the per-image table only for a small run or with `--table`); a failure with one cause
//! at most 15, at 20 and at 150 images; `-q` is the outcome line and one line per cause. Real
//! registries; the release staged by the binary itself.

use std::process::Command;

use copy_containers_testkit as tk;

const BIN: &str = env!("CARGO_BIN_EXE_copy-containers");
const HASH: &str = "d7c3cd922f91d83aacb5d7555de9d5bc";

struct Run {
    code: Option<i32>,
    out: String,
    err: String,
}

impl Run {
    fn lines(&self) -> usize {
        self.out.lines().count() + self.err.lines().count()
    }
    fn all(&self) -> String {
        format!("{}--- stderr\n{}", self.out, self.err)
    }
}

fn run(args: &[&str]) -> Run {
    let out = Command::new(BIN)
        .args(args)
        .env("COPY_CONTAINERS_PROGRESS_INTERVAL", "30")
        .env_remove("COPY_CONTAINERS_LOG")
        .output()
        .unwrap();
    Run {
        code: out.status.code(),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `n` small images at `src`, their names.
fn stage(src: &tk::Registry, n: usize) -> Vec<String> {
    let reg = format!("host={},namespace=ns,insecure=true", src.host());
    let n = n.to_string();
    let r = run(&[
        "-q",
        "stage",
        "--registry",
        &reg,
        "--images",
        &n,
        "--base-layers",
        "1",
        "--base-layer-size",
        "1024",
        "--unique-layer-size",
        "512",
        "--json",
    ]);
    assert_eq!(r.code, Some(0), "{}", r.all());
    let staged: serde_json::Value = serde_json::from_str(&r.out).unwrap();
    staged
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect()
}

/// `promote` of `names` from `src` to `target` (a `host=…` value), with `extra` flags first.
fn promote(extra: &[&str], src: &tk::Registry, target: &str, names: &[String], tmp: &std::path::Path) -> Run {
    let source = format!("host={},namespace=ns,insecure=true", src.host());
    let containers = names.join(",");
    let store = tmp.join("store");
    let logs = tmp.join("logs");
    let mut args: Vec<&str> = extra.to_vec();
    args.extend([
        "promote",
        "--full-hash",
        HASH,
        "--named-label",
        "current-tripleo",
        "--release",
        "master",
        "--containers",
        &containers,
        "--source",
        &source,
        "--target",
        target,
        "--retries",
        "1",
        "--local-store",
        store.to_str().unwrap(),
        "--tmp-file-root",
        logs.to_str().unwrap(),
    ]);
    run(&args)
}

#[test]
fn a_run_reads_in_a_screen_at_20_and_150_images() {
    let src = tk::Registry::plain().unwrap();
    let all = stage(&src, 150);
    assert_eq!(all.len(), 150);
    let tmp = tempfile::tempdir().unwrap();
    // A closed port: a target down.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("host={},namespace=ns,insecure=true", closed.local_addr().unwrap());
    drop(closed);
    for n in [20, 150] {
        let names = &all[..n];
        let dst = tk::Registry::plain().unwrap();
        let target = format!("host={},namespace=ns,insecure=true", dst.host());

        // A success, cold: within 25 lines, no per-image table beyond a small run.
        let ok = promote(&[], &src, &target, names, tmp.path());
        assert_eq!(ok.code, Some(0), "{}", ok.all());
        assert!(
            ok.lines() <= 25,
            "{n} images, success: {} lines\n{}",
            ok.lines(),
            ok.all()
        );
        assert!(
            ok.out.contains(&format!("{n} images: one row each with --table")),
            "{}",
            ok.all()
        );
        // No line names every image.
        assert!(!ok.all().contains(&names[n - 1]), "{}", ok.all());

        // --table: one row per image.
        let t = run_table(&src, &target, names, tmp.path());
        assert_eq!(t.code, Some(0), "{}", t.all());
        // (a long name is cut to 23 characters and an ellipsis)
        let shown = |name: &str| name.chars().take(23).collect::<String>();
        let rows = names
            .iter()
            .filter(|name| t.out.lines().any(|l| l.starts_with(&shown(name))))
            .count();
        assert_eq!(rows, n, "{}", t.all());

        // A target down: one cause, within 15 lines, and its ERROR line once.
        let failed = promote(&[], &src, &down, names, tmp.path());
        assert_eq!(failed.code, Some(1), "{}", failed.all());
        assert!(
            failed.lines() <= 15,
            "{n} images, one cause: {} lines\n{}",
            failed.lines(),
            failed.all()
        );
        assert_eq!(failed.out.matches("error: ").count(), 1, "{}", failed.all());
        assert_eq!(failed.err.matches(" ERROR ").count(), 1, "{}", failed.all());
        assert!(!failed.all().contains(&names[n - 1]), "{}", failed.all());

        // -q: the outcome line, and the cause's ERROR line; nothing else.
        let quiet = promote(&["-q"], &src, &down, names, tmp.path());
        assert_eq!(quiet.code, Some(1));
        assert_eq!(quiet.out.lines().count(), 1, "{}", quiet.all());
        assert!(quiet.out.starts_with("FAILED: "), "{}", quiet.all());
        assert_eq!(quiet.err.lines().count(), 1, "{}", quiet.all());
        assert!(quiet.err.contains(" ERROR "), "{}", quiet.all());
    }
}

/// `promote --table` of the same promotion (nothing left to do).
fn run_table(src: &tk::Registry, target: &str, names: &[String], tmp: &std::path::Path) -> Run {
    let source = format!("host={},namespace=ns,insecure=true", src.host());
    let containers = names.join(",");
    let logs = tmp.join("logs");
    run(&[
        "promote",
        "--table",
        "--full-hash",
        HASH,
        "--named-label",
        "current-tripleo",
        "--containers",
        &containers,
        "--source",
        &source,
        "--target",
        target,
        "--keep-local",
        "never",
        "--tmp-file-root",
        logs.to_str().unwrap(),
    ])
}

/// Staging and keeping local copies after a failure show progress (off a terminal: a `progress:`
/// line every interval, here one second) instead of seconds of silence: the stage counts its
/// images; the keep's reads from a slow source count as the copy's phases, and are the only blob
/// reads of a run whose target is down.
#[test]
fn staging_and_keeping_copies_show_progress() {
    let src = tk::Registry::plain().unwrap();
    let slow = tk::Proxy::for_registry(&src).unwrap();
    slow.add_rule(
        tk::FaultRule::new(tk::FaultAction::Delay(std::time::Duration::from_millis(150)))
            .method("PUT")
            .always(),
    );
    let reg = format!("host={},namespace=ns,insecure=true", slow.host());
    let out = Command::new(BIN)
        .args([
            "stage",
            "--registry",
            &reg,
            "--images",
            "12",
            "--base-layers",
            "1",
        ])
        .args(["--base-layer-size", "1024", "--unique-layer-size", "512"])
        .env("COPY_CONTAINERS_PROGRESS_INTERVAL", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("progress: stage "), "{err}");

    // The same images kept after a target down, read from the source through a delay.
    slow.add_rule(
        tk::FaultRule::new(tk::FaultAction::Delay(std::time::Duration::from_millis(300)))
            .method("GET")
            .path_contains("/blobs/")
            .always(),
    );
    let tmp = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("host={},namespace=ns,insecure=true", closed.local_addr().unwrap());
    drop(closed);
    let names: Vec<String> = copy_containers::stage::default_names(12);
    let store = tmp.path().join("store");
    let logs = tmp.path().join("logs");
    let out = Command::new(BIN)
        .args(["promote", "--full-hash", HASH, "--named-label", "current-tripleo"])
        .args([
            "--containers",
            &names.join(","),
            "--source",
            &reg,
            "--target",
            &down,
        ])
        .args(["--retries", "1", "--keep-local", "on_failure"])
        .arg("--local-store")
        .arg(&store)
        .arg("--tmp-file-root")
        .arg(&logs)
        .env("COPY_CONTAINERS_PROGRESS_INTERVAL", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("progress: blobs "), "{err}");
    assert!(err.contains("local copies kept containers=12"), "{err}");
}

/// What a terminal shows of `script`'s capture: colour codes out, and of each line what follows
/// its last carriage return (the bar is redrawn over itself, then cleared for the line that
/// replaces it).
fn on_screen(captured: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(captured);
    let mut plain = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
        .split('\n')
        .map(|l| {
            let l = l.trim_end_matches('\r');
            l.rsplit('\r').next().unwrap_or(l).to_string()
        })
        .filter(|l| !l.is_empty())
        .collect()
}

/// `command` under an 80-column pseudo-terminal (`script`, as an operator's), what it shows.
fn on_80_columns(command: &str) -> Vec<String> {
    let out = Command::new("script")
        .args(["-qec", &format!("stty cols 80; {command}"), "/dev/null"])
        .env("COPY_CONTAINERS_PROGRESS_INTERVAL", "30")
        .output()
        .unwrap();
    assert!(
        !out.stdout.is_empty(),
        "nothing shown for {command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    on_screen(&out.stdout)
}

/// On an 80-column terminal nothing is wider than the terminal, so the terminal wraps nothing:
/// the table leaves out columns, every other line of stdout and of the human log is wrapped under
/// its indentation, and the log's timestamps are the time of day; only a report line (paths are
/// copied whole) may be wider. And the budgets hold there too, wrapped lines counted: a person at
/// a terminal reads the summary (each cause once), the log adds warnings only.
#[test]
fn nothing_is_wider_than_an_80_column_terminal_and_the_budgets_hold_there() {
    let src = tk::Registry::plain().unwrap();
    let all = stage(&src, 20);
    let tmp = tempfile::tempdir().unwrap();
    let source = format!("host={},namespace=ns,insecure=true", src.host());
    // Two closed ports: two targets down.
    let closed: Vec<String> = (0..2)
        .map(|_| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("host={},namespace=ns,insecure=true", l.local_addr().unwrap())
        })
        .collect();
    let promote = |names: &[String], targets: &[&str]| {
        let mut c = format!(
            "{BIN} promote --full-hash {HASH} --named-label current-tripleo --containers {} \
             --source {source} --retries 1 --local-store {} --tmp-file-root {}",
            names.join(","),
            tmp.path().join("store").display(),
            tmp.path().join("logs").display(),
        );
        for t in targets {
            c.push_str(&format!(" --target {t}"));
        }
        on_80_columns(&c)
    };
    let check_width = |shown: &[String]| {
        for line in shown {
            let one_word = !line.trim().contains(' ') || line.starts_with("report: ");
            assert!(
                line.chars().count() < 80 || one_word,
                "{} columns: {line}\n{}",
                line.chars().count(),
                shown.join("\n")
            );
            let b = line.as_bytes();
            let dated = b.len() > 10 && b[4] == b'-' && b[7] == b'-';
            assert!(
                !dated,
                "a full timestamp on a terminal (the time of day is enough): {line}"
            );
        }
    };
    // Three images, two targets down: the table (small run) fits, the causes are wrapped.
    let shown = promote(&all[..3], &[&closed[0], &closed[1]]);
    let text = shown.join("\n");
    assert!(text.contains("FAILED: ") && text.contains("container "), "{text}");
    assert_eq!(
        shown.iter().filter(|l| l.starts_with("error: ")).count(),
        2,
        "{text}"
    );
    check_width(&shown);
    // Twenty images, one target down: one cause, at most 15 lines as wrapped.
    let shown = promote(&all, &[&closed[0]]);
    let text = shown.join("\n");
    check_width(&shown);
    assert_eq!(
        shown.iter().filter(|l| l.starts_with("error: ")).count(),
        1,
        "{text}"
    );
    assert!(!text.contains("ERROR "), "the cause said twice: {text}");
    assert!(
        shown.len() <= 15,
        "{} lines on the terminal:\n{text}",
        shown.len()
    );
    // Twenty images to a healthy target: a success in at most 25 lines.
    let dst = tk::Registry::plain().unwrap();
    let target = format!("host={},namespace=ns,insecure=true", dst.host());
    let shown = promote(&all, &[&target]);
    let text = shown.join("\n");
    check_width(&shown);
    assert!(text.contains("OK: 20 images"), "{text}");
    assert!(
        shown.len() <= 25,
        "{} lines on the terminal:\n{text}",
        shown.len()
    );
}
