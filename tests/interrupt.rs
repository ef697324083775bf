//! A promotion stopped from outside: SIGTERM, SIGINT or SIGHUP (the promoter's `timeout` signals
//! the whole process group, Ansible and the module included) or the run's `deadline`, through the
//! binary (the command line and the Ansible module) against real registries. The testkit's proxy
//! holds one request of a chosen phase (its rule fires when the request arrives; the answer would
//! come ten minutes later), the test signals the process then, and checks what a stop promises: the
//! exit status, the report (`interrupted`, the phase, what was done and what was left), no label
//! moved after the signal, the list files (those the run knows written, the others removed, none
//! left empty or partial), one line saying how to resume; and that a rerun finishes the promotion.
//! Nothing here measures time: waits are bounded only so that a run that does not stop fails the
//! test instead of hanging it.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use copy_containers_testkit::{self as tk, FaultAction, FaultRule, Proxy};
use serde_json::{json, Value};

use common::*;

/// How long a held request waits (far longer than any test).
const HOLD: Duration = Duration::from_secs(600);
/// The bound on waiting for a held request or for the process to end.
const PATIENCE: Duration = Duration::from_secs(90);
const LABEL: &str = "current-tripleo";
const NAMES: [&str; 2] = ["nova-compute", "neutron-server"];

/// Registries (each behind a counting proxy) with a staged release, and a folder for the run.
struct Site {
    src: tk::Registry,
    tgt: tk::Registry,
    src_proxy: Proxy,
    tgt_proxy: Proxy,
    tmp: tempfile::TempDir,
}

impl Site {
    async fn new() -> Site {
        let src = tk::Registry::plain().unwrap();
        let tgt = tk::Registry::plain().unwrap();
        stage(&client(&src), &["base", NAMES[0], NAMES[1]], &[]).await;
        Site {
            src_proxy: Proxy::for_registry(&src).unwrap(),
            tgt_proxy: Proxy::for_registry(&tgt).unwrap(),
            src,
            tgt,
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    fn report(&self) -> PathBuf {
        self.dir().join("report.json")
    }

    /// The promotion's arguments as JSON (a config file for the command line, the module's
    /// arguments), through both proxies; label moves one at a time (so which one is held is known).
    fn args(&self) -> Value {
        let mut a = promote_args(
            proxy_args(&self.src_proxy.host(), NS),
            vec![proxy_args(&self.tgt_proxy.host(), NS)],
            &NAMES,
            self.dir(),
        );
        a.report_json = Some(self.report());
        a.per_registry_concurrency = Some(1);
        let mut v = serde_json::to_value(&a).unwrap();
        strip_nulls(&mut v);
        v
    }

    /// Hold the run in `phase`: returns the proxy and the index of the rule that fires when the
    /// held request arrives.
    fn hold(&self, phase: &str) -> (&Proxy, usize) {
        let delay = || FaultRule::new(FaultAction::Delay(HOLD));
        match phase {
            // the first manifest read at the source
            "source_check" => {
                let rule = delay().path_contains(&format!("/manifests/{FH}")).first(1);
                self.src_proxy.add_rule(rule);
                (&self.src_proxy, 0)
            }
            // the first blob upload to the target
            "copy" => {
                let rule = delay().method("POST").path_contains("/blobs/uploads/").first(1);
                self.tgt_proxy.add_rule(rule);
                (&self.tgt_proxy, 0)
            }
            // The target's answers to the pushes name no digest, so the tags are read back; the
            // first three HEADs of <fh> are the look before the copy (one per container), the
            // fourth is the verification's.
            "verify" => {
                let drop = FaultRule::new(FaultAction::DropHeader("Docker-Content-Digest".into()))
                    .method("PUT")
                    .path_contains("/manifests/");
                self.tgt_proxy.add_rule(drop);
                let rule = delay()
                    .method("HEAD")
                    .path_contains(&format!("/manifests/{FH}"))
                    .skip(3)
                    .first(1);
                self.tgt_proxy.add_rule(rule);
                (&self.tgt_proxy, 1)
            }
            // the second label move (the first goes through)
            "label" => {
                let rule = delay()
                    .method("PUT")
                    .path_contains(&format!("/manifests/{LABEL}"))
                    .skip(1)
                    .first(1);
                self.tgt_proxy.add_rule(rule);
                (&self.tgt_proxy, 0)
            }
            other => panic!("no hold for {other}"),
        }
    }

    /// The containers labelled on the target (read straight from the registry, not through the
    /// proxy), and whether the source has any label.
    async fn labels(&self) -> (Vec<String>, bool) {
        let mut on_target = Vec::new();
        let mut on_source = false;
        for name in ["base", NAMES[0], NAMES[1]] {
            let repo = format!("{NS}/openstack-{name}");
            let tags = client(&self.tgt).list_tags(&repo).await.unwrap_or_default();
            if tags.iter().any(|t| t == LABEL) {
                on_target.push(name.to_string());
            }
            let tags = client(&self.src).list_tags(&repo).await.unwrap_or_default();
            on_source |= tags.iter().any(|t| t == LABEL);
        }
        (on_target, on_source)
    }

    /// The six list files: name → lines (absent files left out).
    fn list_files(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        std::fs::read_dir(self.dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "txt"))
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap();
                let name = p.file_name().unwrap().to_string_lossy().to_string();
                (name, text.lines().map(str::to_string).collect())
            })
            .collect()
    }
}

fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// A running binary whose output is read as it comes (so it never blocks on a full pipe).
struct Running {
    child: Child,
    out: std::thread::JoinHandle<String>,
    err: std::thread::JoinHandle<String>,
    /// stderr so far.
    err_now: Arc<Mutex<String>>,
}

fn reader(mut r: impl Read + Send + 'static, now: Arc<Mutex<String>>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            now.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        let s = now.lock().unwrap().clone();
        s
    })
}

impl Running {
    fn spawn(mut cmd: std::process::Command) -> Running {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = reader(child.stdout.take().unwrap(), Arc::default());
        let err_now = Arc::new(Mutex::new(String::new()));
        let err = reader(child.stderr.take().unwrap(), err_now.clone());
        Running {
            child,
            out,
            err,
            err_now,
        }
    }

    /// Wait until stderr says `what`.
    async fn says(&self, what: &str) {
        let start = Instant::now();
        while !self.err_now.lock().unwrap().contains(what) {
            assert!(start.elapsed() < PATIENCE, "the run never said {what:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `promote --config <args as a file>`.
    fn cli(site: &Site, args: &Value, extra: &[&str]) -> Running {
        let config = site.dir().join("promotion.json");
        std::fs::write(&config, serde_json::to_vec(args).unwrap()).unwrap();
        let mut cmd = bin();
        cmd.args(["promote", "--config"]).arg(&config).args(extra);
        Running::spawn(cmd)
    }

    /// The binary as Ansible runs a module: one argument, the arguments file.
    fn module(site: &Site, args: &Value) -> Running {
        let file = site.dir().join("module-args.json");
        std::fs::write(&file, serde_json::to_vec(args).unwrap()).unwrap();
        let mut cmd = bin();
        cmd.arg(&file);
        Running::spawn(cmd)
    }

    /// Wait until `proxy`'s rule `rule` fired: the run is held in its phase.
    async fn held(&mut self, proxy: &Proxy, rule: usize) {
        let start = Instant::now();
        while proxy.rule_fired(rule) == 0 {
            if let Ok(Some(status)) = self.child.try_wait() {
                let err = self.err_now.lock().unwrap().clone();
                panic!("the run ended ({status}) before it reached the held request: {err}");
            }
            assert!(
                start.elapsed() < PATIENCE,
                "the run never reached the held request"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn signal(&self, name: &str) {
        let ok = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(ok.success(), "kill -{name}");
    }

    /// Wait for the end (bounded: a run that does not stop is killed and the test fails); the
    /// exit status, stdout and stderr.
    async fn end(mut self) -> (i32, String, String) {
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > PATIENCE {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the run did not stop after the signal; stderr: {}",
                    self.err.join().unwrap()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let (out, err) = (self.out.join().unwrap(), self.err.join().unwrap());
        (status.code().unwrap_or(-1), out, err)
    }
}

fn read_report(site: &Site) -> Value {
    let bytes = std::fs::read(site.report()).expect("the run's report was written");
    serde_json::from_slice(&bytes).unwrap()
}

/// The report says interrupted, by what, in which phase; done and left partition the phases.
fn assert_interrupted(r: &Value, by: &str, phase: &str) {
    assert_eq!(r["status"], json!("interrupted"), "{r:#}");
    assert_eq!(r["ok"], json!(false));
    let i = &r["interrupted"];
    assert_eq!(i["by"], json!(by), "{i:#}");
    assert_eq!(i["phase"], json!(phase), "{i:#}");
    assert_eq!(i["left"][0], json!(phase), "{i:#}");
    let done: Vec<&str> = i["done"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(!done.contains(&phase), "{i:#}");
    assert!(done.contains(&"setup"), "{i:#}");
    // one cause: the interruption (no line per image for what was not started)
    let groups = r["problem_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{groups:#?}");
    assert_eq!(groups[0]["kind"], json!("interrupted"));
}

/// Exactly one line of stderr says the run was interrupted and how to resume.
fn assert_one_line(stderr: &str, by: &str) {
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("to resume")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains(by), "{}", lines[0]);
}

fn prefixed(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| format!("openstack-{n}")).collect()
}

fn files(pairs: &[(&str, Vec<String>)]) -> std::collections::BTreeMap<String, Vec<String>> {
    pairs.iter().map(|(n, l)| (n.to_string(), l.clone())).collect()
}

/// After the source check: the six files, nothing promoted, everything listed missed (the pushed
/// and missed files name `containers_list`'s images, not the appended base image, as the role's).
fn lists_after_source_check() -> std::collections::BTreeMap<String, Vec<String>> {
    files(&[
        (
            "parsed_containers-centos-9-master.txt",
            prefixed(&[NAMES[0], NAMES[1], "base"]),
        ),
        ("missing_parsed_containers-centos-9-master.txt", vec![]),
        ("parsed_ppc_containers-centos-9-master.txt", vec![]),
        ("missing_parsed_ppc_containers-centos-9-master.txt", vec![]),
        ("containers_pushed_list.txt", vec![]),
        ("containers_missed_list.txt", prefixed(&NAMES)),
    ])
}

/// Rerun without any hold: the promotion finishes (resumed: what was done is not done again).
async fn resume(site: &Site) {
    site.src_proxy.clear_rules();
    site.tgt_proxy.clear_rules();
    let run = Running::cli(site, &site.args(), &[]);
    let (code, out, err) = run.end().await;
    assert_eq!(code, 0, "{out}\n{err}");
    let r = read_report(site);
    assert_eq!(r["status"], json!("ok"), "{r:#}");
    assert!(r.get("interrupted").is_none());
    let (labelled, source) = site.labels().await;
    assert_eq!(labelled.len(), 3, "{labelled:?}");
    assert!(source);
    assert_eq!(site.list_files()["containers_pushed_list.txt"], prefixed(&NAMES));
}

/// SIGINT while the source is read: what the source check fills is not known, so those list files
/// are not left behind; no label; 130.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_during_the_source_check_leaves_no_list_file_and_no_label() {
    let site = Site::new().await;
    let (proxy, rule) = site.hold("source_check");
    let mut run = Running::cli(&site, &site.args(), &[]);
    run.held(proxy, rule).await;
    run.signal("INT");
    let (code, out, err) = run.end().await;
    assert_eq!(code, 130, "{out}\n{err}");
    let r = read_report(&site);
    assert_interrupted(&r, "SIGINT", "source_check");
    // what the source check fills is not known: removed; the ppc pair stays empty, as the role
    // leaves it when no target gets manifest lists
    let ppc_only = files(&[
        ("parsed_ppc_containers-centos-9-master.txt", vec![]),
        ("missing_parsed_ppc_containers-centos-9-master.txt", vec![]),
    ]);
    assert_eq!(site.list_files(), ppc_only);
    assert_eq!(
        r["interrupted"]["list_files_unknown"].as_array().unwrap().len(),
        4
    );
    assert_eq!(site.labels().await, (vec![], false));
    assert_one_line(&err, "SIGINT");
    resume(&site).await;
}

/// SIGTERM while a blob is uploaded: the upload is abandoned, the list files say what is known
/// (everything found, nothing promoted), no label; 143.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_the_blob_copy_stops_with_a_report_and_no_label() {
    let site = Site::new().await;
    let (proxy, rule) = site.hold("copy");
    let mut run = Running::cli(&site, &site.args(), &[]);
    run.held(proxy, rule).await;
    run.signal("TERM");
    let (code, out, err) = run.end().await;
    assert_eq!(code, 143, "{out}\n{err}");
    let r = read_report(&site);
    assert_interrupted(&r, "SIGTERM", "copy");
    assert_eq!(
        r["interrupted"]["done"],
        json!(["setup", "source_check", "architectures"])
    );
    assert_eq!(site.list_files(), lists_after_source_check());
    assert_eq!(site.labels().await, (vec![], false));
    assert_one_line(&err, "SIGTERM");
    // the summary on stdout says it too
    assert!(out.contains("interrupted by SIGTERM in the copy phase"), "{out}");
    resume(&site).await;
}

/// SIGHUP while the targets are read back: 129, the same files, no label.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_during_the_verification_moves_no_label() {
    let site = Site::new().await;
    let (proxy, rule) = site.hold("verify");
    let mut run = Running::cli(&site, &site.args(), &[]);
    run.held(proxy, rule).await;
    run.signal("HUP");
    let (code, out, err) = run.end().await;
    assert_eq!(code, 129, "{out}\n{err}");
    let r = read_report(&site);
    assert_interrupted(&r, "SIGHUP", "verify");
    assert_eq!(site.list_files(), lists_after_source_check());
    assert_eq!(site.labels().await, (vec![], false));
    assert_one_line(&err, "SIGHUP");
    resume(&site).await;
}

/// SIGTERM among the label moves: the move before it stays, the one on the wire is abandoned (the
/// report says it may or may not have moved), none starts after it, the source label is not moved;
/// the pushed list holds what was promoted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_among_the_label_moves_moves_no_further_label() {
    let site = Site::new().await;
    let (proxy, rule) = site.hold("label");
    let mut run = Running::cli(&site, &site.args(), &[]);
    run.held(proxy, rule).await;
    run.signal("TERM");
    let (code, out, err) = run.end().await;
    assert_eq!(code, 143, "{out}\n{err}");
    let r = read_report(&site);
    assert_interrupted(&r, "SIGTERM", "label");
    let (labelled, source) = site.labels().await;
    assert_eq!(labelled.len(), 1, "{labelled:?}");
    assert!(!source, "the source label moved");
    let entries: Vec<&Value> = r["containers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["entries"].as_array().unwrap())
        .filter(|e| e["tag"] == json!(LABEL))
        .collect();
    let errors: Vec<&str> = entries.iter().filter_map(|e| e["error"].as_str()).collect();
    assert!(
        errors.iter().any(|e| e.contains("may or may not have moved")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("label not moved: interrupted by SIGTERM before it")),
        "{errors:?}"
    );
    // the moves go in the list's order: nova-compute moved, neutron-server held, base not started
    assert_eq!(labelled, [NAMES[0]]);
    let lists = site.list_files();
    assert_eq!(lists["containers_pushed_list.txt"], prefixed(&[NAMES[0]]));
    assert_eq!(lists["containers_missed_list.txt"], prefixed(&[NAMES[1]]));
    assert_eq!(r["pushed"], json!([labelled[0]]));
    assert_one_line(&err, "SIGTERM");
    resume(&site).await;
}

/// A second signal ends the process at once (no report of its own), saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_ends_the_run_at_once() {
    let site = Site::new().await;
    let (proxy, rule) = site.hold("copy");
    let mut run = Running::cli(&site, &site.args(), &[]);
    run.held(proxy, rule).await;
    run.signal("TERM");
    // the first is taken (the run says it is stopping) before the second is sent
    run.says("SIGTERM received: stopping").await;
    run.signal("TERM");
    let (code, out, err) = run.end().await;
    assert_eq!(code, 143, "{out}\n{err}");
    assert!(err.contains("SIGTERM again: stopped at once"), "{err}");
    assert!(!site.report().exists(), "a report was written");
    assert_eq!(site.labels().await, (vec![], false));
}

/// The run's deadline stops it as a signal would (a report, no label), as a failure (exit 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_reaches_its_deadline_stops_as_on_sigterm() {
    let site = Site::new().await;
    let (proxy, rule) = site.hold("copy");
    let mut args = site.args();
    args["deadline"] = json!(15);
    let mut run = Running::cli(&site, &args, &[]);
    run.held(proxy, rule).await;
    let (code, out, err) = run.end().await;
    assert_eq!(code, 1, "{out}\n{err}");
    let r = read_report(&site);
    assert_interrupted(&r, "deadline", "copy");
    assert!(
        r["errors"][0]
            .as_str()
            .unwrap()
            .starts_with("the run reached its deadline (deadline: 15 s) in the copy phase"),
        "{r:#}"
    );
    assert_eq!(site.list_files(), lists_after_source_check());
    assert_eq!(site.labels().await, (vec![], false));
    assert_one_line(&err, "deadline");
}

/// The module: a `failed` result naming the signal, one JSON object, the report written, 143.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_module_returns_failed_naming_the_signal() {
    for phase in ["copy", "label"] {
        let site = Site::new().await;
        let (proxy, rule) = site.hold(phase);
        let mut run = Running::module(&site, &site.args());
        run.held(proxy, rule).await;
        run.signal("TERM");
        let (code, out, err) = run.end().await;
        assert_eq!(code, 143, "{out}\n{err}");
        let v: Value = serde_json::from_str(out.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {out}"));
        assert_eq!(v["failed"], json!(true), "{v:#}");
        assert_eq!(v["status"], json!("interrupted"), "{v:#}");
        assert_eq!(v["interrupted"]["by"], json!("SIGTERM"), "{v:#}");
        assert_eq!(v["interrupted"]["phase"], json!(phase), "{v:#}");
        let msg = v["msg"].as_str().unwrap();
        assert!(
            msg.contains("interrupted by SIGTERM") && msg.contains("to resume"),
            "{msg}"
        );
        assert_eq!(v["causes"].as_array().unwrap().len(), 1, "{v:#}");
        assert_interrupted(&read_report(&site), "SIGTERM", phase);
        let (labelled, source) = site.labels().await;
        assert!(!source);
        assert_eq!(labelled.len(), usize::from(phase == "label"), "{labelled:?}");
    }
}

/// Under the promoter's `timeout`, Ansible gets the signal too and may be gone: the module's stdout
/// has no reader any more. It still stops cleanly (no crash on the closed pipe) and writes its report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_module_stops_cleanly_when_nobody_reads_its_result() {
    let site = Site::new().await;
    let (proxy, rule) = site.hold("copy");
    let file = site.dir().join("module-args.json");
    std::fs::write(&file, serde_json::to_vec(&site.args()).unwrap()).unwrap();
    let mut cmd = bin();
    let mut child = cmd
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while proxy.rule_fired(rule) == 0 {
        assert!(
            start.elapsed() < PATIENCE,
            "the run never reached the held request"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // the reader goes away, then the signal comes
    drop(child.stdout.take());
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < PATIENCE, "the module did not stop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.code(), Some(143), "{status}");
    assert_interrupted(&read_report(&site), "SIGTERM", "copy");
    assert_eq!(site.labels().await, (vec![], false));
}

/// Kept local copies stay as a failure leaves them: a run whose pushes were refused keeps its
/// copies (`keep_local: on_failure`); the next one reads them, is stopped among the label moves,
/// and removes none (a success would have); its rerun finishes and removes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_run_keeps_the_local_copies_as_a_failure_does() {
    let site = Site::new().await;
    // every manifest push refused: the blobs go, the images do not, the run fails and keeps copies
    site.tgt_proxy
        .add_rule(FaultRule::status(403).method("PUT").path_contains("/manifests/"));
    let (code, out, err) = Running::cli(&site, &site.args(), &[]).end().await;
    assert_eq!(code, 1, "{out}\n{err}");
    let failed = read_report(&site);
    assert_eq!(failed["local_kept"].as_array().unwrap().len(), 3, "{failed:#}");
    let kept_bytes = failed["local_bytes"].as_u64().unwrap();
    assert!(kept_bytes > 0, "{failed:#}");
    site.tgt_proxy.clear_rules();

    let (proxy, rule) = site.hold("label");
    let mut run = Running::cli(&site, &site.args(), &[]);
    run.held(proxy, rule).await;
    run.signal("TERM");
    let (code, out, err) = run.end().await;
    assert_eq!(code, 143, "{out}\n{err}");
    let r = read_report(&site);
    assert_interrupted(&r, "SIGTERM", "label");
    assert_eq!(r["local_reused"].as_array().unwrap().len(), 3, "{r:#}");
    assert_eq!(r["local_removed"], json!([]), "{r:#}");
    assert_eq!(r["local_bytes"].as_u64(), Some(kept_bytes), "{r:#}");

    resume(&site).await;
    let done = read_report(&site);
    assert_eq!(done["local_removed"].as_array().unwrap().len(), 3, "{done:#}");
    assert_eq!(done["local_bytes"].as_u64(), Some(0), "{done:#}");
}
