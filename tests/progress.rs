//! Progress output as a CI log sees it (stderr not a terminal): a progress line every
//! `--progress-interval` seconds with the phase, done/total and bytes, a final line per phase,
//! nothing on stdout, nothing at all with an interval of 0; the Ansible module prints none (its stdout
//! is exactly its JSON result).

mod common;

use std::time::Duration;

use copy_containers_testkit::{self as tk, FaultAction, FaultRule, Proxy};
use serde_json::json;

use common::*;

const NAMES: [&str; 3] = ["base", "nova-compute", "neutron-server"];

/// A staged source behind a proxy that holds every blob GET for 2.5 s, and an empty target.
async fn slow_source() -> (tk::Registry, Proxy, tk::Registry) {
    let src = tk::Registry::plain().unwrap();
    stage(&client(&src), &NAMES, &[]).await;
    let proxy = Proxy::for_registry(&src).unwrap();
    proxy.add_rule(
        FaultRule::new(FaultAction::Delay(Duration::from_millis(2500)))
            .method("GET")
            .path_contains("/blobs/"),
    );
    (src, proxy, tk::Registry::plain().unwrap())
}

fn promote(proxy: &Proxy, tgt: &tk::Registry, tmp: &std::path::Path, interval: &str) -> (String, String) {
    let out = bin()
        .args([
            "--progress-interval",
            interval,
            "promote",
            "--full-hash",
            FH,
            "--named-label",
            "current-tripleo",
            "--source",
            &format!("host={},namespace={NS},insecure=true", proxy.host()),
            "--target",
            &format!("host={},namespace={NS},insecure=true", tgt.host()),
            "--containers",
            &NAMES.join(","),
            "--tmp-file-root",
            tmp.to_str().unwrap(),
        ])
        .env_remove("COPY_CONTAINERS_PROGRESS_INTERVAL")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    (stdout, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_without_a_terminal_prints_progress_lines_on_stderr_only() {
    let (_src, proxy, tgt) = slow_source().await;
    let tmp = tempfile::tempdir().unwrap();
    let (stdout, stderr) = promote(&proxy, &tgt, tmp.path(), "1");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("progress: ")).collect();
    // While the blobs are held: at least one periodic line with the phase, done/total and bytes.
    let periodic = lines
        .iter()
        .find(|l| l.contains("progress: blobs ") && !l.contains("  in "))
        .unwrap_or_else(|| panic!("no periodic blobs line: {stderr}"));
    let figures = periodic.split("progress: blobs ").nth(1).unwrap();
    let (done, total) = figures
        .split_whitespace()
        .next()
        .unwrap()
        .split_once('/')
        .unwrap();
    assert!(
        done.parse::<u64>().is_ok() && total.parse::<u64>().unwrap() > 0,
        "{periodic}"
    );
    assert!(
        figures.contains(" B of ") || figures.contains("iB of "),
        "bytes: {periodic}"
    );
    // A final line, with its time, for the phase that had periodic lines (the held blobs); the
    // phases shorter than the interval leave none: their outcome is the engine's own line.
    let finals = |phase: &str| {
        lines
            .iter()
            .filter(|l| l.contains(&format!("progress: {phase} ")) && l.contains("  in "))
            .count()
    };
    assert_eq!(finals("blobs"), 1, "{stderr}");
    for phase in ["source check", "copy check", "verify", "labels"] {
        assert_eq!(
            finals(phase),
            0,
            "a final {phase} line for a short phase: {stderr}"
        );
    }
    assert!(stderr.contains("INFO verify checks="), "{stderr}");
    let blobs_final = lines
        .iter()
        .find(|l| l.contains("progress: blobs ") && l.contains("  in "))
        .unwrap();
    assert!(blobs_final.contains("KiB"), "bytes moved: {blobs_final}");
    assert!(!stdout.contains("progress"), "progress on stdout: {stdout}");
    assert!(
        !stderr.contains('\r') && !stderr.contains('\u{1b}'),
        "a bar in a log: {stderr:?}"
    );

    // An interval of 0 switches progress off.
    let (stdout, stderr) = promote(&proxy, &tgt, tmp.path(), "0");
    assert!(!stderr.contains("progress: "), "{stderr}");
    assert!(!stdout.contains("progress"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_prints_no_progress_and_exactly_one_json_document() {
    let (_src, proxy, tgt) = slow_source().await;
    let tmp = tempfile::tempdir().unwrap();
    let reg = |host: String| {
        json!({"host": host, "namespace": NS, "username": "unused", "password": "unused",
               "secure": false, "schema": "v2_s2"})
    };
    let args = json!({
        "full_hash": FH,
        "named_label": "current-tripleo",
        "containers_list": NAMES,
        "source_registry": reg(proxy.host()),
        "target_registries": [reg(tgt.host())],
        "target_registries_push": "yes",
        "tmp_file_root": tmp.path(),
        "_ansible_check_mode": false,
    });
    let path = tmp.path().join("args.json");
    std::fs::write(&path, serde_json::to_vec(&args).unwrap()).unwrap();
    let out = bin()
        .arg(&path)
        .env("COPY_CONTAINERS_PROGRESS_INTERVAL", "1")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let mut docs = serde_json::Deserializer::from_str(&stdout).into_iter::<serde_json::Value>();
    let first = docs.next().expect("a JSON document").expect("valid JSON");
    assert!(docs.next().is_none(), "more than one JSON document: {stdout}");
    assert_eq!(first["failed"], json!(false), "{stdout}\n{stderr}");
    assert!(
        !stdout.contains("progress:") && !stderr.contains("progress:"),
        "{stdout}\n{stderr}"
    );
}
