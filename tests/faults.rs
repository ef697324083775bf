//! Fault suite: promotions against real registries behind the testkit's fault-injecting proxy.
//!
//! - ~10% of requests faulted (429 + Retry-After, 500/502/503, resets before the answer, bodies cut
//!   mid-blob on download, connections reset mid-upload, responses slower than the read timeout):
//!   a 50-image promotion to two targets still completes, fully verified;
//! - a target down for the whole run: the other target completes, nothing on the failed one, no
//!   source label, exit 1;
//! - the binary killed (SIGKILL) at many points of a run: after every kill `named_label` points only
//!   at complete images on every registry, and a rerun converges to the uninterrupted run's state;
//! - a source serving a blob whose bytes do not match its digest, or a manifest whose
//!   `Docker-Content-Digest` lies: refused, reported, nothing pushed from it.
//!
//! Each scenario prints a `FIGURES {json}` line (run with `--nocapture` to see them); they are
//! recorded in docs/reliability.md.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use copy_containers::digest::Digest;
use copy_containers::manifest::{media, Content};
use copy_containers::promote::{self, RunOptions};
use copy_containers::registry::Registry;
use copy_containers::report::Report;
use copy_containers::stage::{self, StageOptions};
use copy_containers_testkit::{
    self as tk, skopeo_inspect_digest, skopeo_inspect_raw, FaultAction, FaultRule, Proxy, RedirectSink,
};
use serde_json::json;

use common::*;

const LABEL: &str = "current-tripleo";

/// Stage `names` under `ns` (small layers; deterministic: the same names give the same digests in
/// every namespace).
async fn stage_ns(
    reg: &Registry,
    ns: &str,
    names: &[String],
    ppc_missing: &[&str],
) -> Vec<stage::StagedImage> {
    let opts = StageOptions {
        namespace: ns.into(),
        names: names.to_vec(),
        ppc_missing: ppc_missing.iter().map(|s| s.to_string()).collect(),
        base_layer_size: 32 << 10,
        unique_layer_size: 8 << 10,
        ..Default::default()
    };
    stage::stage(reg, &opts).await.expect("stage")
}

fn figures(scenario: &str, v: serde_json::Value) {
    println!("FIGURES {}", json!({"scenario": scenario, "figures": v}));
}

/// Every tag of every repository under `ns/` → digest, keyed `repo-without-namespace:tag`.
async fn tag_map(reg: &Registry, ns: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let prefix = format!("{ns}/");
    for repo in reg.catalog(1000).await.expect("catalog") {
        let Some(short) = repo.strip_prefix(&prefix) else {
            continue;
        };
        for tag in reg.list_tags(&repo).await.unwrap_or_default() {
            if let Some(h) = reg.head_manifest(&repo, &tag).await.expect("head") {
                out.insert(format!("{short}:{tag}"), h.digest.to_string());
            }
        }
    }
    out
}

/// Is the image `reference` points at complete in `repo`: the manifest, a list's children, every
/// config and layer? `Ok(None)` when the reference does not exist.
async fn complete(reg: &Registry, repo: &str, reference: &str) -> Result<Option<Digest>, String> {
    let Some(head) = reg
        .head_manifest(repo, reference)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let m = reg
        .get_manifest(repo, head.digest.as_str())
        .await
        .map_err(|e| format!("{repo}:{reference}: manifest: {e}"))?;
    let mut images = Vec::new();
    match m.content().map_err(|e| e.to_string())? {
        Content::Image { .. } => images.push(m.clone()),
        Content::Index { children } => {
            for c in children {
                let child = reg
                    .get_manifest_opt(repo, c.descriptor.digest.as_str())
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("{repo}:{reference}: child {} missing", c.descriptor.digest))?;
                images.push(child);
            }
        }
    }
    for img in images {
        if let Content::Image { config, layers } = img.content().map_err(|e| e.to_string())? {
            for d in std::iter::once(config).chain(layers) {
                if reg
                    .blob_exists(repo, &d.digest)
                    .await
                    .map_err(|e| e.to_string())?
                    .is_none()
                {
                    return Err(format!(
                        "{repo}:{reference}: blob {} of {} missing",
                        d.digest, img.digest
                    ));
                }
            }
        }
    }
    Ok(Some(head.digest))
}

/// The invariant: on `reg`, every `named_label` under `ns/` points at a complete image. Returns the
/// number of labels seen.
async fn labels_complete(reg: &Registry, ns: &str, what: &str) -> usize {
    let mut n = 0;
    for repo in reg.catalog(1000).await.expect("catalog") {
        if !repo.starts_with(&format!("{ns}/")) {
            continue;
        }
        match complete(reg, &repo, LABEL).await {
            Ok(Some(_)) => n += 1,
            Ok(None) => {}
            Err(e) => panic!("{what}: {LABEL} points at an incomplete image: {e}"),
        }
    }
    n
}

fn all_verified(r: &Report) {
    assert!(r.ok, "{:#?}", r.errors);
    for c in &r.containers {
        assert!(c.pushed, "{} not pushed", c.name);
        for e in &c.entries {
            assert_eq!(
                e.verified,
                Some(true),
                "{} {} {}: {:?}",
                c.name,
                e.registry,
                e.tag,
                e.error
            );
        }
    }
}

/// An environment for the binary that keeps it away from the user's files (local store, auth).
fn isolated(cmd: &mut Command, home: &Path) {
    cmd.env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .env("REGISTRY_AUTH_FILE", home.join("auth.json"))
        .env_remove("DOCKER_CONFIG");
}

// ---------------------------------------------------------------------------------------------------
// ~10% of requests faulted
// ---------------------------------------------------------------------------------------------------

/// The fault mix, about one request in ten on each proxy (the first rule that matches and fires
/// wins; each rule draws from its own seeded PRNG).
fn add_fault_mix(p: &Proxy, seed: u64) {
    // downloads cut half-way (source blob GETs)
    p.add_rule(
        FaultRule::new(FaultAction::ResetMidBody)
            .method("GET")
            .path_contains("/blobs/")
            .probability(0.05, seed),
    );
    // uploads: the connection reset while the blob is being sent
    p.add_rule(
        FaultRule::new(FaultAction::ResetConnection)
            .method("PUT")
            .path_contains("/blobs/uploads/")
            .probability(0.05, seed + 1),
    );
    p.add_rule(
        FaultRule::new(FaultAction::Status {
            code: 429,
            retry_after: Some(1),
        })
        .probability(0.03, seed + 2),
    );
    for (i, code) in [500, 502, 503].into_iter().enumerate() {
        p.add_rule(FaultRule::status(code).probability(0.015, seed + 3 + i as u64));
    }
    p.add_rule(FaultRule::new(FaultAction::ResetConnection).probability(0.015, seed + 6));
    // slower than the 2 s read timeout set below
    p.add_rule(FaultRule::new(FaultAction::Delay(Duration::from_millis(3000))).probability(0.01, seed + 7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_images_to_two_targets_complete_with_ten_percent_faults() {
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    let t2 = tk::Registry::tls_htpasswd("robot", "faults-pw-1").unwrap();
    let names = stage::default_names(50);
    let staged = stage_ns(&client(&src), NS, &names, &["os", "cron", "etcd"]).await;
    let (sp, p1, p2) = (
        Proxy::for_registry(&src).unwrap(),
        Proxy::for_registry(&t1).unwrap(),
        Proxy::for_registry(&t2).unwrap(),
    );
    for (i, p) in [&sp, &p1, &p2].into_iter().enumerate() {
        add_fault_mix(p, 1000 * (i as u64 + 1));
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut t2_args = proxy_args(&p2.host(), NS);
    t2_args.username = Some("robot".into());
    t2_args.password = Some(copy_containers::transport::Secret::new("faults-pw-1"));
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut a = promote_args(
        proxy_args(&sp.host(), NS),
        vec![proxy_args(&p1.host(), NS), t2_args],
        &name_refs,
        tmp.path(),
    );
    a.ppc_containers = Some(names.clone());
    a.manifest_push = Some(true);
    // A blob's source reads share one budget over all its rounds (a round can spend several on
    // 429/5xx answers before its body breaks off). The injected faults alone exhaust 8 attempts with
    // a negligible chance; the flakes seen (twice in a day, with 6) came from the machine: a 1 s read
    // timeout on a loaded 2-core machine fires on answers that are merely slow, so failures stop
    // being independent. The read timeout is now 2 s (the injected delay 3 s, still past it).
    a.retries = Some(8);
    a.local_store = Some(tmp.path().join("store"));
    let mut p = a.resolve(promote::model::read_list_file).expect("resolve");
    // RegistryArgs has no timeout knob: set it on the resolved configs.
    for r in std::iter::once(&mut p.source).chain(p.targets.iter_mut()) {
        r.config.read_timeout = Duration::from_secs(2);
        r.config.retry.base_delay = Duration::from_millis(50);
        r.config.retry.max_delay = Duration::from_secs(2);
    }
    let started = Instant::now();
    let r = promote::run(&p, &RunOptions::default()).await;
    let secs = started.elapsed().as_secs_f64();
    let requests: usize = [&sp, &p1, &p2].iter().map(|p| p.total()).sum();
    let faulted: usize = [&sp, &p1, &p2].iter().map(|p| p.faults().total()).sum();
    let per_proxy: Vec<_> = [("source", &sp), ("target1", &p1), ("target2", &p2)]
        .iter()
        .map(|(n, p)| json!({"proxy": n, "requests": p.total(), "faults": p.faults()}))
        .collect();
    let retries: Vec<_> = r
        .registries
        .iter()
        .map(|s| json!({"registry": s.role, "requests": s.requests, "retries": s.retries}))
        .collect();
    figures(
        "ten_percent_faults",
        json!({
            "images": names.len(), "targets": 2, "requests": requests, "faulted": faulted,
            "fault_rate": faulted as f64 / requests.max(1) as f64, "proxies": per_proxy,
            "registries": retries, "ok": r.ok, "seconds": secs,
            "verified_entries": r.containers.iter().flat_map(|c| c.entries.iter()).filter(|e| e.verified == Some(true)).count(),
        }),
    );
    all_verified(&r);
    assert_eq!(r.found.len(), 50);
    // the mix really was ~10% and hit every kind
    let rate = faulted as f64 / requests as f64;
    assert!((0.05..0.2).contains(&rate), "fault rate {rate}");
    let kinds = [&sp, &p1, &p2]
        .iter()
        .fold(tk::FaultCounts::default(), |mut acc, p| {
            let f = p.faults();
            acc.status += f.status;
            acc.reset_connection += f.reset_connection;
            acc.reset_mid_body += f.reset_mid_body;
            acc.delay += f.delay;
            acc
        });
    assert!(
        kinds.status > 0 && kinds.reset_connection > 0 && kinds.reset_mid_body > 0 && kinds.delay > 0,
        "{kinds:?}"
    );
    assert!(r.registries.iter().map(|s| s.retries).sum::<u64>() > 0);
    // independent check, straight at the registries: a sample with skopeo, everything with verify
    for s in staged.iter().step_by(10) {
        for t in [&t1, &t2] {
            for tag in [FH, LABEL] {
                assert_eq!(
                    skopeo_inspect_digest(t, &format!("{}:{tag}", s.repository)).unwrap(),
                    s.x86_digest,
                    "{}:{tag}",
                    s.repository
                );
            }
            let list: serde_json::Value = serde_json::from_slice(
                &skopeo_inspect_raw(t, &format!("{}:{FH}_manifest", s.repository)).unwrap(),
            )
            .unwrap();
            let n = list["manifests"].as_array().unwrap().len();
            assert_eq!(n, if s.ppc_digest.is_some() { 2 } else { 1 }, "{}", s.repository);
        }
    }
    let direct = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&t1, NS), registry_args(&t2, NS)],
        &name_refs,
        tmp.path(),
    );
    let mut direct = direct;
    direct.ppc_containers = Some(names.clone());
    direct.manifest_push = Some(true);
    direct.local_store = Some(tmp.path().join("store"));
    let v = promote::run(
        &direct.resolve(promote::model::read_list_file).unwrap(),
        &RunOptions {
            verify_only: true,
            ..Default::default()
        },
    )
    .await;
    all_verified(&v);
}

// ---------------------------------------------------------------------------------------------------
// A target down for the whole run
// ---------------------------------------------------------------------------------------------------

#[test]
fn a_target_down_for_the_whole_run_fails_alone_and_gets_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let src = tk::Registry::plain().unwrap();
    let good = tk::Registry::tls_htpasswd("robot", "down-pw-2").unwrap();
    let bad = tk::Registry::plain().unwrap();
    let names: Vec<String> = ["base", "nova-compute", "neutron-server", "keystone"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let staged = rt.block_on(stage_ns(&client(&src), NS, &names, &["keystone"]));
    let bad_proxy = Proxy::for_registry(&bad).unwrap();
    bad_proxy.down();
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("report.json");
    let mut cmd = bin();
    isolated(&mut cmd, tmp.path());
    cmd.args(["promote", "--full-hash", FH, "--named-label", LABEL])
        .args(["--containers", "nova-compute,neutron-server,keystone"])
        .args(["--ppc-containers", "nova-compute,neutron-server,keystone"])
        .args(["--manifest-push", "true", "--retries", "2"])
        .args([
            "--source",
            &format!("host={},namespace={NS},insecure=true", src.host()),
        ])
        .args([
            "--target",
            &format!(
                "host={},namespace={NS},username=robot,password_env=GOOD_PW,ca_file={}",
                good.host(),
                good.ca_pem_path().unwrap().display()
            ),
        ])
        .args([
            "--target",
            &format!("host={},namespace={NS},insecure=true", bad_proxy.host()),
        ])
        .arg("--tmp-file-root")
        .arg(tmp.path())
        .arg("--report-json")
        .arg(&report)
        .env("GOOD_PW", "down-pw-2");
    let started = Instant::now();
    let out = cmd.output().unwrap();
    let secs = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(!stdout.contains("panicked") && !stderr.contains("panicked"));
    assert!(
        stdout.contains(&bad_proxy.host()),
        "the failed target is named: {stdout}"
    );
    let r: Report = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert!(!r.ok);
    // the good target: every tag, verified, labelled
    for s in &staged {
        for tag in [FH, LABEL] {
            assert_eq!(
                skopeo_inspect_digest(&good, &format!("{}:{tag}", s.repository)).unwrap(),
                s.x86_digest
            );
        }
    }
    for c in &r.containers {
        for e in c.entries.iter().filter(|e| e.registry == good.host()) {
            assert_eq!(e.verified, Some(true), "{} {}: {:?}", c.name, e.tag, e.error);
        }
        let bad_label = c
            .entries
            .iter()
            .find(|e| e.registry == bad_proxy.host() && e.tag == LABEL);
        if let Some(e) = bad_label {
            assert_ne!(e.verified, Some(true));
        }
    }
    // nothing on the failed one; the source label is withheld
    bad_proxy.up().unwrap();
    let rt_bad = rt.block_on(client(&bad).catalog(100)).unwrap();
    assert!(rt_bad.is_empty(), "{rt_bad:?}");
    for s in &staged {
        assert!(rt
            .block_on(client(&src).head_manifest(&s.repository, LABEL))
            .unwrap()
            .is_none());
    }
    // local copies kept per policy (on_failure, the default): in the isolated home
    let local = tmp.path().join("data").join("copy-containers");
    assert!(!r.local_kept.is_empty(), "no local copies kept: {:?}", r.errors);
    assert!(local.is_dir(), "{}", local.display());
    figures(
        "target_down",
        json!({
            "exit": out.status.code(), "seconds": secs, "errors": r.errors.len(),
            "good_target_tags_verified": r.containers.iter().flat_map(|c| c.entries.iter()).filter(|e| e.registry == good.host() && e.verified == Some(true)).count(),
            "bad_target_repositories": rt_bad.len(),
            "source_labelled": false,
            "local_kept": r.local_kept,
            "retries": r.registries.iter().map(|s| json!({"registry": s.role, "retries": s.retries})).collect::<Vec<_>>(),
        }),
    );
}

// ---------------------------------------------------------------------------------------------------
// SIGKILL at many points
// ---------------------------------------------------------------------------------------------------

struct World {
    src: tk::Registry,
    t1: tk::Registry,
    t2: tk::Registry,
    sp: Proxy,
    p1: Proxy,
    p2: Proxy,
    names: Vec<String>,
    tmp: tempfile::TempDir,
}

impl World {
    fn proxies(&self) -> [&Proxy; 3] {
        [&self.sp, &self.p1, &self.p2]
    }

    fn total(&self) -> usize {
        self.proxies().iter().map(|p| p.total()).sum()
    }

    /// The binary on namespace `ns`; runs on one namespace share a home (and so the local store).
    fn spawn(&self, ns: &str, run: &str) -> Child {
        let dir = self.tmp.path().join(run);
        std::fs::create_dir_all(&dir).unwrap();
        let reg = |p: &Proxy| format!("host={},namespace={ns},insecure=true", p.host());
        let mut cmd = bin();
        isolated(&mut cmd, &self.tmp.path().join(format!("home-{ns}")));
        cmd.args(["promote", "--full-hash", FH, "--named-label", LABEL])
            .args(["--containers", &self.names.join(",")])
            .args(["--ppc-containers", &self.names.join(",")])
            .args(["--manifest-push", "true", "--retries", "3", "-q"])
            .args(["--source", &reg(&self.sp)])
            .args(["--target", &reg(&self.p1), "--target", &reg(&self.p2)])
            .arg("--tmp-file-root")
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.spawn().unwrap()
    }

    /// Run to the end; exit code and output.
    fn run(&self, ns: &str, run: &str) -> (i32, String) {
        let out = self.spawn(ns, run).wait_with_output().unwrap();
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains("panicked"), "{text}");
        (out.status.code().unwrap_or(-1), text)
    }

    /// Cut every connection still open (held requests die with them) and let new ones in.
    fn bounce(&self) {
        for p in self.proxies() {
            p.down();
            p.up().unwrap();
        }
    }

    fn reset(&self) {
        for p in self.proxies() {
            p.clear_rules();
            p.reset();
        }
    }

    async fn state(&self, ns: &str) -> BTreeMap<String, BTreeMap<String, String>> {
        let mut m = BTreeMap::new();
        for (k, r) in [
            ("source", &self.src),
            ("target1", &self.t1),
            ("target2", &self.t2),
        ] {
            m.insert(k.to_string(), tag_map(&client(r), ns).await);
        }
        m
    }
}

/// Where to kill.
#[derive(Clone, Debug)]
enum KillAt {
    /// Once the proxies together have seen this many requests.
    Requests(usize),
    /// While this request is held by the proxy (a 30 s delay rule): (proxy index, method, path part,
    /// matching requests let through first).
    Held(usize, &'static str, String, usize),
}

#[test]
fn sigkill_at_any_point_leaves_labels_complete_and_a_rerun_converges() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    let t2 = tk::Registry::plain().unwrap();
    let w = World {
        sp: Proxy::for_registry(&src).unwrap(),
        p1: Proxy::for_registry(&t1).unwrap(),
        p2: Proxy::for_registry(&t2).unwrap(),
        src,
        t1,
        t2,
        names: stage::default_names(12),
        tmp: tempfile::tempdir().unwrap(),
    };
    let ppc_missing = ["os", "aodh-evaluator"];
    // the uninterrupted run
    rt.block_on(stage_ns(&client(&w.src), "ref", &w.names, &ppc_missing));
    w.reset();
    let started = Instant::now();
    let (code, text) = w.run("ref", "ref");
    let ref_secs = started.elapsed().as_secs_f64();
    assert_eq!(code, 0, "{text}");
    let ref_requests = w.total();
    let want = rt.block_on(w.state("ref"));
    assert!(want["target1"].len() >= 12 * 4, "{want:#?}");
    let fh_m = format!("/manifests/{FH}_manifest");
    let label = format!("/manifests/{LABEL}");
    // (the first ~45% of a run reads and HEADs; kill points there all leave the same state)
    let mut points: Vec<KillAt> = [0.1, 0.5, 0.65, 0.8, 0.95]
        .iter()
        .map(|f| KillAt::Requests((ref_requests as f64 * f) as usize))
        .collect();
    points.extend([
        KillAt::Held(1, "PUT", "/blobs/uploads/".into(), 4),
        KillAt::Held(2, "PUT", fh_m.clone(), 0),
        KillAt::Held(2, "PUT", fh_m, 7),
        KillAt::Held(1, "PUT", label.clone(), 0),
        KillAt::Held(2, "PUT", label.clone(), 5),
        KillAt::Held(0, "PUT", label.clone(), 0),
        KillAt::Held(0, "PUT", label, 6),
    ]);
    let mut rows = Vec::new();
    for (i, at) in points.iter().enumerate() {
        let ns = format!("kill{i}");
        rt.block_on(stage_ns(&client(&w.src), &ns, &w.names, &ppc_missing));
        w.reset();
        if let KillAt::Held(pi, method, path, skip) = at {
            w.proxies()[*pi].add_rule(
                FaultRule::new(FaultAction::Delay(Duration::from_secs(30)))
                    .method(method)
                    .path_contains(path)
                    .skip(*skip)
                    .first(1),
            );
        }
        let iter_started = Instant::now();
        let mut child = w.spawn(&ns, &format!("{ns}-killed"));
        let deadline = Instant::now() + Duration::from_secs(60);
        let killed = loop {
            if child.try_wait().unwrap().is_some() {
                break false;
            }
            let fire = match at {
                KillAt::Requests(n) => w.total() >= *n,
                KillAt::Held(pi, ..) => w.proxies()[*pi].rule_fired(0) >= 1,
            };
            if fire {
                child.kill().unwrap();
                child.wait().unwrap();
                break true;
            }
            assert!(Instant::now() < deadline, "kill point {at:?} never reached");
            std::thread::sleep(Duration::from_millis(1));
        };
        let seen = w.total();
        w.bounce();
        // the invariant, on every registry
        let state = rt.block_on(w.state(&ns));
        let mut labels = BTreeMap::new();
        for (k, r) in [("source", &w.src), ("target1", &w.t1), ("target2", &w.t2)] {
            let n = rt.block_on(labels_complete(
                &client(r),
                &ns,
                &format!("{k} after kill {at:?}"),
            ));
            labels.insert(k, n);
        }
        // the source is labelled last: any label there means both targets are complete
        if labels["source"] > 0 {
            for t in ["target1", "target2"] {
                for (k, d) in want[t].iter().filter(|(k, _)| !k.ends_with(&format!(":{LABEL}"))) {
                    assert_eq!(state[t].get(k), Some(d), "{t} {k} after kill {at:?}");
                }
            }
        }
        // a rerun converges to the uninterrupted run's state
        w.reset();
        let rerun_started = Instant::now();
        let (code, text) = w.run(&ns, &format!("{ns}-rerun"));
        let rerun_secs = rerun_started.elapsed().as_secs_f64();
        assert_eq!(code, 0, "rerun after kill {at:?}: {text}");
        let got = rt.block_on(w.state(&ns));
        assert_eq!(got, want, "state after kill {at:?} and a rerun");
        rows.push(json!({
            "kill_at": format!("{at:?}"), "killed": killed, "requests_before_kill": seen,
            "labels_after_kill": labels, "tags_after_kill": state.values().map(|m| m.len()).sum::<usize>(),
            "rerun_requests": w.total(), "rerun_seconds": rerun_secs, "converged": true,
            "iteration_seconds": iter_started.elapsed().as_secs_f64(),
        }));
        assert!(killed, "the run ended before kill point {at:?}");
    }
    figures(
        "sigkill",
        json!({"images": w.names.len(), "targets": 2, "reference_requests": ref_requests,
               "reference_seconds": ref_secs, "kills": rows}),
    );
}

// ---------------------------------------------------------------------------------------------------
// Sources that lie
// ---------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_whose_bytes_do_not_match_its_digest_is_refused_and_nothing_is_pushed_from_it() {
    let src = tk::Registry::plain().unwrap();
    let tgt = tk::Registry::plain().unwrap();
    let names: Vec<String> = ["base", "nova-compute", "keystone"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let staged = stage_ns(&client(&src), NS, &names, &[]).await;
    let victim = staged.iter().find(|s| s.name == "keystone").unwrap();
    let m = client(&src).get_manifest(&victim.repository, FH).await.unwrap();
    let Content::Image { layers, .. } = m.content().unwrap() else {
        panic!("not an image")
    };
    // its own (last) layer comes back as other bytes
    let bad_layer = layers.last().unwrap().digest.clone();
    let sink = RedirectSink::start(b"these are not the bytes you are looking for".to_vec()).unwrap();
    let sp = Proxy::for_registry(&src).unwrap();
    sp.add_rule(
        FaultRule::new(FaultAction::Redirect(sink.url("/evil")))
            .method("GET")
            .path_contains(&format!("/blobs/{bad_layer}"))
            .always(),
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        proxy_args(&sp.host(), NS),
        vec![registry_args(&tgt, NS)],
        &["nova-compute", "keystone"],
        tmp.path(),
    );
    a.retries = Some(2);
    a.local_store = Some(tmp.path().join("store"));
    let r = promote::run(
        &a.resolve(promote::model::read_list_file).unwrap(),
        &RunOptions::default(),
    )
    .await;
    assert!(!r.ok);
    let all = r.errors.join("\n");
    assert!(
        all.contains("digest mismatch") && all.contains("keystone"),
        "{all}"
    );
    assert!(sink.hits() >= 1);
    assert!(r.missed.contains(&"keystone".to_string()), "{:?}", r.missed);
    let t = client(&tgt);
    // nothing of the victim on the target: no tag, no label, not the bad blob
    assert!(t.head_manifest(&victim.repository, FH).await.unwrap().is_none());
    assert!(t
        .head_manifest(&victim.repository, LABEL)
        .await
        .unwrap()
        .is_none());
    assert!(t
        .blob_exists(&victim.repository, &bad_layer)
        .await
        .unwrap()
        .is_none());
    // the others went through; the source label is withheld
    for s in staged.iter().filter(|s| s.name != "keystone") {
        assert_eq!(
            skopeo_inspect_digest(&tgt, &format!("{}:{FH}", s.repository)).unwrap(),
            s.x86_digest
        );
    }
    assert!(client(&src)
        .head_manifest(&victim.repository, LABEL)
        .await
        .unwrap()
        .is_none());
    figures(
        "bad_blob",
        json!({"refused": true, "errors": r.errors.len(), "redirected_fetches": sink.hits(),
               "victim_tag_on_target": false, "others_promoted": names.len() - 1}),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_that_lies_about_its_digest_is_refused_and_nothing_is_pushed() {
    let tgt = tk::Registry::plain().unwrap();
    let f = tk::FakeHttp::start().unwrap();
    let host = f.url().trim_start_matches("http://").to_string();
    f.set("/v2/", tk::Route::json(&json!({})));
    // a real-looking image whose Docker-Content-Digest is another digest
    let body = json!({
        "schemaVersion": 2,
        "mediaType": media::DOCKER_V2S2,
        "config": {"mediaType": media::DOCKER_CONFIG, "size": 2, "digest": Digest::sha256(b"{}").as_str()},
        "layers": [],
    })
    .to_string();
    let lie = Digest::sha256(b"something else");
    for name in ["nova-compute", "keystone"] {
        let path = format!("/v2/{NS}/openstack-{name}/manifests/{FH}");
        let mut route = tk::Route::new(200, media::DOCKER_V2S2, body.clone());
        if name == "keystone" {
            route = route.header("Docker-Content-Digest", lie.as_str());
        }
        f.set(&path, route);
    }
    f.set(
        &format!("/v2/{NS}/openstack-nova-compute/blobs/{}", Digest::sha256(b"{}")),
        tk::Route::new(200, "application/octet-stream", "{}"),
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        proxy_args(&host, NS),
        vec![registry_args(&tgt, NS)],
        &["nova-compute", "keystone"],
        tmp.path(),
    );
    a.base_container_images = Some(vec![]);
    a.retries = Some(2);
    a.local_store = Some(tmp.path().join("store"));
    let r = promote::run(
        &a.resolve(promote::model::read_list_file).unwrap(),
        &RunOptions::default(),
    )
    .await;
    assert!(!r.ok);
    let all = r.errors.join("\n");
    assert!(
        all.contains("digest mismatch") && all.contains("keystone"),
        "{all}"
    );
    // the source check failed: nothing was pushed at all, nothing written to the source
    assert!(client(&tgt).catalog(100).await.unwrap().is_empty());
    let writes: Vec<_> = f
        .requests()
        .into_iter()
        .filter(|q| !matches!(q.method.as_str(), "GET" | "HEAD"))
        .collect();
    assert!(writes.is_empty(), "{writes:#?}");
    // the binary says so too, exit 1
    let out = bin()
        .args([
            "promote",
            "--full-hash",
            FH,
            "--named-label",
            LABEL,
            "--containers",
            "keystone",
        ])
        .args(["--source", &format!("host={host},namespace={NS},insecure=true")])
        .args([
            "--target",
            &format!("host={},namespace={NS},insecure=true", tgt.host()),
        ])
        .args(["--retries", "1", "--tmp-file-root"])
        .arg(tmp.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("digest mismatch"), "{text}");
    assert!(!text.contains("panicked"));
    assert!(client(&tgt).catalog(100).await.unwrap().is_empty());
    figures(
        "lying_manifest",
        json!({"refused": true, "errors": r.errors, "target_repositories": 0}),
    );
}
