//! One root cause, one group: each kind of failure an operator meets, run for real (testkit
//! registries, real TLS and htpasswd auth, a proxy that is down, a size-limited tmpfs for a full
//! disk), and the number of groups and of lines of the failure summary asserted, with the cause
//! first, what followed from it folded in ("so 20 images were not verified there") and what to do.
//!
//! Before this file's change: a wrong password on a TLS target read as 4-5 groups (the run's
//! outcome first, the 401 split three ways); a full disk while keeping copies as one group per file
//! (20-42); a namespace typo as 20 missing images, every name printed.

mod common;

use std::path::Path;
use std::process::Output;

use copy_containers::promote::{self, PromoteArgs, RunOptions};
use copy_containers::report::{Kind, Report};
use copy_containers_testkit::{self as tk, Proxy};

use common::*;

/// 19 services and `base` (added to every promotion): 20 images.
fn names() -> Vec<String> {
    (0..19).map(|i| format!("svc-{i:02}")).collect()
}

async fn staged_source() -> (tk::Registry, Vec<String>) {
    let src = tk::Registry::plain().unwrap();
    let n = names();
    let refs: Vec<&str> = n.iter().map(String::as_str).collect();
    stage(&client(&src), &[&refs[..], &["base"]].concat(), &[]).await;
    (src, n)
}

async fn run(a: &PromoteArgs) -> Report {
    let p = a.resolve(promote::model::read_list_file).unwrap();
    promote::run(&p, &RunOptions::default()).await
}

fn args(
    src: &tk::Registry,
    targets: Vec<copy_containers::promote::RegistryArgs>,
    names: &[String],
    tmp: &Path,
) -> PromoteArgs {
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut a = promote_args(registry_args(src, NS), targets, &refs, tmp);
    a.manifest_push = Some(true);
    a.retries = Some(1);
    a
}

/// The summary's failure block as the CLI prints it: `error:` lines and their indented lines.
fn printed_failures(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("error: ") || l.starts_with("       "))
        .map(str::to_string)
        .collect()
}

/// The report the binary wrote under `tmp_file_root`.
fn written_report(tmp: &Path) -> Report {
    let path = tmp.join("copy-containers-promote-latest.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn cli_target(host: &str, extra: &str) -> String {
    format!("host={host},namespace={NS}{extra}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_down_is_one_group_with_what_to_do() {
    let (src, names) = staged_source().await;
    let good = tk::Registry::plain().unwrap();
    let gone = tk::Registry::plain().unwrap();
    let down = Proxy::for_registry(&gone).unwrap();
    down.down();
    let tmp = tempfile::tempdir().unwrap();
    let a = args(
        &src,
        vec![registry_args(&good, NS), proxy_args(&down.host(), NS)],
        &names,
        tmp.path(),
    );
    let r = run(&a).await;
    assert!(!r.ok);
    let lines = r.failure_lines();
    assert_eq!(r.problem_groups.len(), 1, "{lines:#?}");
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines[0].starts_with(&format!("{}: ", down.host())), "{lines:#?}");
    assert_eq!(r.problem_groups[0].kind, Kind::Unreachable);
    assert!(
        lines[1].starts_with("  so 20 images were not verified there: svc-00, svc-01"),
        "{lines:#?}"
    );
    assert!(
        lines[2].starts_with(&format!(
            "  to do: rerun once {} answers: the 20 images kept locally",
            down.host()
        )),
        "{lines:#?}"
    );
    // The label's fate: where it moved, where not and why.
    let label = r.label_lines();
    assert_eq!(label.len(), 1, "{label:#?}");
    assert!(
        label[0].starts_with("current-tripleo: moved on 1 of 3 registries; "),
        "{label:#?}"
    );
    assert!(
        label[0].contains(&format!("not moved on {} (unreachable)", down.host())),
        "{label:#?}"
    );
    assert!(
        label[0].contains(&format!(
            "not moved on {} (withheld: the promotion had errors)",
            src.host()
        )),
        "{label:#?}"
    );
    assert_eq!(
        r.outcome_line().split(", ").next().unwrap(),
        "FAILED: 20 of 20 images not verified on every target (0 promoted)"
    );
}

/// A wrong password on a TLS target: one group (was 5), naming the variable the password came from;
/// the CLI prints the same three lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_one_group_naming_its_variable() {
    let (src, names) = staged_source().await;
    let good = tk::Registry::plain().unwrap();
    let quay = tk::Registry::tls_htpasswd("robot", "the-right-one").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ca = quay.ca_pem_path().unwrap();
    let out = bin()
        .env("CC_TEST_QUAY_PW", "not-the-password")
        .args([
            "promote",
            "--hash",
            FH,
            "--named-label",
            "current-tripleo",
            "--retries",
            "1",
        ])
        .args(["--containers", &names.join(","), "--manifest-push", "true"])
        .args(["--source", &cli_target(&src.host(), ",insecure=true")])
        .args(["--target", &cli_target(&good.host(), ",insecure=true")])
        .args([
            "--target",
            &cli_target(
                &quay.host(),
                &format!(
                    ",username=robot,password_env=CC_TEST_QUAY_PW,ca_file={}",
                    ca.display()
                ),
            ),
        ])
        .arg("--tmp-file-root")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let r = written_report(tmp.path());
    let lines = r.failure_lines();
    assert_eq!(r.problem_groups.len(), 1, "{lines:#?}");
    assert_eq!(r.problem_groups[0].kind, Kind::Auth, "{lines:#?}");
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines[0].contains("authentication failed"), "{lines:#?}");
    assert!(
        lines[1].starts_with("  so 20 images were not verified there"),
        "{lines:#?}"
    );
    assert_eq!(
        lines[2],
        format!(
            "  to do: check the password in password_env=CC_TEST_QUAY_PW and that its user may push to {}, then rerun",
            quay.host()
        )
    );
    let printed = printed_failures(&out);
    assert_eq!(printed.len(), 3, "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(printed.iter().filter(|l| l.starts_with("error: ")).count(), 1);
    assert!(
        printed[2].contains("password_env=CC_TEST_QUAY_PW"),
        "{printed:#?}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("not-the-password"));
    assert!(
        stdout.contains(&format!("not moved on {} (credentials refused)", quay.host())),
        "{stdout}"
    );
    // The cause's ERROR log line names how many images and a few of them, not all 20 (the report
    // has every name): it was 20 names long, ≈2.3 KB at 150 images.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains(" ERROR ")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("images=20") && errors[0].contains("and 16 more"),
        "{}",
        errors[0]
    );
    assert!(!errors[0].contains("svc-18"), "{}", errors[0]);
}

/// A TLS target whose CA is not given: one group, the message saying what to give.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_tls_handshake_is_one_group() {
    let (src, names) = staged_source().await;
    let good = tk::Registry::plain().unwrap();
    let tls = tk::Registry::tls_htpasswd("robot", "pw-for-tls").unwrap();
    let mut untrusted = registry_args(&tls, NS);
    untrusted.ca_file = None;
    let tmp = tempfile::tempdir().unwrap();
    let r = run(&args(
        &src,
        vec![registry_args(&good, NS), untrusted],
        &names,
        tmp.path(),
    ))
    .await;
    let lines = r.failure_lines();
    assert_eq!(r.problem_groups.len(), 1, "{lines:#?}");
    assert_eq!(r.problem_groups[0].kind, Kind::Tls, "{lines:#?}");
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].contains("ca_file"),
        "the cause says what to give: {lines:#?}"
    );
    assert!(
        lines[1].starts_with("  so 20 images were not verified there"),
        "{lines:#?}"
    );
}

/// Some images missing at the source: one group, "missing" said of the source only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_images_are_one_group() {
    let (src, mut names) = staged_source().await;
    names.extend(["not-there".to_string(), "nor-this".to_string()]);
    let good = tk::Registry::plain().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let r = run(&args(&src, vec![registry_args(&good, NS)], &names, tmp.path())).await;
    let lines = r.failure_lines();
    assert_eq!(r.problem_groups.len(), 1, "{lines:#?}");
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].starts_with("There are missing containers at the source")
            && lines[0].ends_with("2 of 22: not-there, nor-this"),
        "{lines:#?}"
    );
    assert!(
        lines[1].starts_with("  to do: push them to the source"),
        "{lines:#?}"
    );
    assert!(
        r.outcome_line()
            .starts_with("FAILED: 2 of 22 images missing at the source, nothing pushed"),
        "{}",
        r.outcome_line()
    );
}

/// A namespace typo: none of the images exists. Its own cause, one line, with what to check; the
/// names are not printed (the CLI printed each three times).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn none_found_is_its_own_cause() {
    let (src, names) = staged_source().await;
    let good = tk::Registry::plain().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["promote", "--hash", FH, "--named-label", "current-tripleo"])
        .args(["--containers", &names.join(",")])
        .args([
            "--source",
            &format!("host={},namespace=tripleomastr,insecure=true", src.host()),
        ])
        .args(["--target", &cli_target(&good.host(), ",insecure=true")])
        .arg("--tmp-file-root")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let r = written_report(tmp.path());
    let lines = r.failure_lines();
    assert_eq!(r.problem_groups.len(), 1, "{lines:#?}");
    assert_eq!(
        lines,
        [format!(
            "None of the 20 images exists at the source {}/tripleomastr with tag {FH}: check the namespace and the hash",
            src.host()
        )]
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(printed_failures(&out).len(), 1, "{stdout}");
    assert!(!stdout.contains("svc-05"), "no name printed: {stdout}");
    assert!(
        stdout.contains("FAILED: none of the 20 images found at the source"),
        "{stdout}"
    );
}

/// Is a private mount namespace (unshare) available to mount a size-limited tmpfs?
fn can_unshare() -> bool {
    let ok = std::process::Command::new("unshare")
        .args(["-rm", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok && std::env::var("CC_REQUIRE_UNSHARE").as_deref() == Ok("1") {
        panic!("CC_REQUIRE_UNSHARE=1 but `unshare -rm` does not work here");
    }
    ok
}

/// Run the binary with `store` on a fresh tmpfs of `size`, 0700 like a store root of this user's
/// (its own mount namespace: nothing is mounted on the host).
fn on_small_disk(store: &Path, size: &str, args: &[String]) -> Output {
    std::fs::create_dir_all(store).unwrap();
    let data = tempfile::tempdir().unwrap().keep();
    std::process::Command::new("unshare")
        .args([
            "-rm",
            "sh",
            "-c",
            "mount -t tmpfs -o size=\"$1\",mode=0700 tmpfs \"$2\" && shift 2 && exec \"$@\"",
            "sh",
        ])
        .arg(size)
        .arg(store)
        .arg(env!("CARGO_BIN_EXE_copy-containers"))
        .args(args)
        .env("XDG_DATA_HOME", data)
        .output()
        .unwrap()
}

/// A full disk while keeping local copies: one group (was one per file: 20-42), the images not
/// kept named, and `local_kept` (and the log) count only what was written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_while_keeping_copies_is_one_group() {
    if !can_unshare() {
        eprintln!("unshare -rm unavailable: the full disk is not checked");
        return;
    }
    let (src, names) = staged_source().await;
    let good = tk::Registry::plain().unwrap();
    let gone = tk::Registry::plain().unwrap();
    let down = Proxy::for_registry(&gone).unwrap();
    down.down();
    for (keep, targets, groups) in [
        ("always", vec![good.host()], 1),
        ("on_failure", vec![down.host()], 2),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("store");
        let mut a: Vec<String> = ["promote", "--hash", FH, "--named-label", "current-tripleo"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(["--retries".into(), "1".into(), "--keep-local".into(), keep.into()]);
        a.extend(["--local-store".into(), store.display().to_string()]);
        a.extend(["--containers".into(), names.join(",")]);
        a.extend(["--source".into(), cli_target(&src.host(), ",insecure=true")]);
        for t in &targets {
            a.extend(["--target".into(), cli_target(t, ",insecure=true")]);
        }
        a.extend(["--tmp-file-root".into(), tmp.path().display().to_string()]);
        let out = on_small_disk(&store, "160k", &a);
        assert_eq!(out.status.code(), Some(1), "{keep}: {out:?}");
        let r = written_report(tmp.path());
        let lines = r.failure_lines();
        assert_eq!(r.problem_groups.len(), groups, "{keep}: {lines:#?}");
        assert_eq!(lines.len(), 3 * groups, "{keep}: {lines:#?}");
        let disk = r.problem_groups.last().unwrap();
        assert_eq!(
            disk.cause, "local store: No space left on device (os error 28)",
            "{keep}: {lines:#?}"
        );
        let full = lines.len() - 3;
        assert!(
            lines[full + 2].starts_with(&format!("  to do: free space under {}", store.display())),
            "{keep}: {lines:#?}"
        );
        // Kept: only what was written; every other image named as not kept.
        assert!(
            r.local_kept.len() < 20,
            "{keep}: the disk was meant to fill: {:?}",
            r.local_kept
        );
        assert_eq!(
            r.local_kept.len() + disk.containers.len(),
            20,
            "{keep}: {lines:#?}"
        );
        assert!(disk.containers.iter().all(|c| !r.local_kept.contains(c)));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("local copies kept containers={} ", r.local_kept.len())),
            "{keep}: {stderr}"
        );
        assert_eq!(printed_failures(&out).len(), 3 * groups, "{keep}: {out:?}");
    }
}
