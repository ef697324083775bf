//! Local copies in the promotion: kept whole when a push fails, used as the source of the rerun
//! (with the source registry stopped), removed after a verified success; `always` keeps them; a run
//! waits (bounded) only for runs reading or writing its own release, runs of different releases go
//! side by side; every run applies the retention policy; a copy that cannot be kept leaves no orphan blob. A success removes only its own hash's copies, a namespace
//! typo finds no local copy, a `local_store` that is not a store is refused untouched.

mod common;

use copy_containers::promote::{self, RunOptions};
use copy_containers::store::Store;
use copy_containers_testkit::{self as tk, skopeo_inspect_digest, FaultRule, Proxy};

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_push_keeps_copies_and_the_rerun_needs_no_source() {
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    let t2 = tk::Registry::plain().unwrap();
    let staged = stage(
        &client(&src),
        &["base", "nova-compute", "neutron-server"],
        &["neutron-server"],
    )
    .await;
    let p2 = Proxy::for_registry(&t2).unwrap();
    // t2 fails mid-run: every manifest PUT of one image is refused
    p2.add_rule(
        FaultRule::status(500)
            .method("PUT")
            .path_contains("openstack-nova-compute/manifests/")
            .always(),
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&t1, NS), proxy_args(&p2.host(), NS)],
        &["nova-compute", "neutron-server"],
        tmp.path(),
    );
    a.manifest_push = Some(true);
    a.ppc_containers = Some(vec!["nova-compute".into(), "neutron-server".into()]);
    let p = a.resolve(promote::model::read_list_file).unwrap();
    let r = promote::run(&p, &RunOptions::default()).await;
    assert!(!r.ok);
    let mut kept = r.local_kept.clone();
    kept.sort();
    assert_eq!(kept, ["base", "neutron-server", "nova-compute"]);
    assert!(r.local_bytes > 0);
    let store = Store::open(tmp.path().join("store")).unwrap();
    // The bytes kept are the blob files on disk: a layer shared by images, or an image under two
    // tags (`<fh>`, `<fh>_x86_64`), is stored once and counted once.
    let on_disk: u64 = walk_files(&store.release_dir("master").join("blobs"))
        .iter()
        .map(|f| f.metadata().unwrap().len())
        .sum();
    assert_eq!(r.local_bytes, on_disk);
    let local = store.list_release("master").unwrap();
    for s in &staged {
        let c = format!("openstack-{}", s.name);
        assert!(
            local
                .iter()
                .any(|i| i.container == c && i.tag == FH && i.digest.to_string() == s.x86_digest),
            "{c}: {local:#?}"
        );
        if s.name == "nova-compute" {
            assert!(
                local
                    .iter()
                    .any(|i| i.container == c && i.tag == format!("{FH}_ppc64le")),
                "{local:#?}"
            );
        }
    }
    assert!(store.fsck().unwrap().ok);
    // nothing labelled where the image did not verify
    assert!(client(&t2)
        .head_manifest(&staged[2].repository, "current-tripleo")
        .await
        .unwrap()
        .is_none());
    // the source goes away; the target heals; the rerun works from the local copies
    src.stop();
    p2.clear_rules();
    let r = promote::run(&p, &RunOptions::default()).await;
    let mut reused = r.local_reused.clone();
    reused.sort();
    assert_eq!(reused, ["base", "neutron-server", "nova-compute"]);
    for s in &staged {
        for t in [&t1, &t2] {
            assert_eq!(
                skopeo_inspect_digest(t, &format!("{}:{FH}", s.repository)).unwrap(),
                s.x86_digest
            );
            assert_eq!(
                skopeo_inspect_digest(t, &format!("{}:current-tripleo", s.repository)).unwrap(),
                s.x86_digest
            );
        }
    }
    assert_eq!(r.pushed.len(), 3, "{:#?}", r.errors);
    // the only failure left is the source label (the source is down); the copies stay
    assert!(!r.ok);
    assert!(r.errors.iter().all(|e| e.contains("source")), "{:#?}", r.errors);
    assert!(!store.list_release("master").unwrap().is_empty());
    // the source is back: a verified success removes the local copies
    src.restart().unwrap();
    let r = promote::run(&p, &RunOptions::default()).await;
    assert!(r.ok, "{:#?}", r.errors);
    assert_eq!(r.local_removed.len(), 3, "{r:#?}");
    assert!(store.list_release("master").unwrap().is_empty());
    assert!(store.fsck().unwrap().ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_keeps_and_the_lock_blocks_a_concurrent_run() {
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    // OCI manifests: skopeo 1.9 reads only OCI media types from an OCI layout's index (Docker
    // v2s2 copies are kept byte-exact too, but that skopeo skips them)
    let opts = copy_containers::stage::StageOptions {
        names: vec!["base".into(), "nova-compute".into()],
        oci: true,
        base_layer_size: 16 << 10,
        unique_layer_size: 4 << 10,
        ..Default::default()
    };
    let staged = copy_containers::stage::stage(&client(&src), &opts).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&t1, NS)],
        &["nova-compute"],
        tmp.path(),
    );
    a.keep_local = Some("always".into());
    a.lock_timeout = Some(1);
    let p = a.resolve(promote::model::read_list_file).unwrap();
    // another run holds the whole store (`local delete --all`): this one copies (it needs no store
    // for that), then waits its lock_timeout to keep its copies and fails clearly, keeping none
    let store = Store::open(tmp.path().join("store")).unwrap();
    let lock = store.lock().unwrap();
    let r = promote::run(&p, &RunOptions::default()).await;
    assert!(!r.ok);
    assert!(
        r.errors
            .iter()
            .any(|e| e.contains("in use") && e.contains("waited 1s")),
        "{:#?}",
        r.errors
    );
    assert!(r.local_kept.is_empty(), "{r:#?}");
    assert!(store.list().unwrap().is_empty());
    drop(lock);
    let r = promote::run(&p, &RunOptions::default()).await;
    assert!(r.ok, "{:#?}", r.errors);
    assert_eq!(r.local_kept.len(), 2);
    let local = store.list_release("master").unwrap();
    assert_eq!(local.iter().filter(|i| i.tag == FH).count(), 2, "{local:#?}");
    // skopeo reads the kept copy
    let dir = tmp.path().join("store/master");
    let out = tk::run_skopeo(&[
        "inspect".into(),
        "--raw".into(),
        format!(
            "oci:{}:{}/{NS}/openstack-nova-compute:{FH}",
            dir.display(),
            src.host()
        ),
    ])
    .unwrap();
    let nova = staged.iter().find(|s| s.name == "nova-compute").unwrap();
    assert_eq!(tk::sha256_digest(&out), nova.x86_digest);
    // keep_local: never touches no store at all
    let tmp2 = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&t1, NS)],
        &["nova-compute"],
        tmp2.path(),
    );
    a.keep_local = Some("never".into());
    let r = promote::run(
        &a.resolve(promote::model::read_list_file).unwrap(),
        &RunOptions::default(),
    )
    .await;
    assert!(r.ok && r.local_root.is_none());
    assert!(!tmp2.path().join("store").exists());
    // a bad policy is a clear error
    let mut a = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&t1, NS)],
        &["nova-compute"],
        tmp2.path(),
    );
    a.keep_local = Some("sometimes".into());
    let e = a.resolve(promote::model::read_list_file).unwrap_err().to_string();
    assert!(e.contains("keep_local") && e.contains("on_failure"), "{e}");
}

/// The promotion of `hash` from `ns` on `src` to `tgt`, its store under `tmp`.
fn promotion(
    src: &tk::Registry,
    ns: &str,
    tgt: copy_containers::promote::RegistryArgs,
    hash: &str,
    tmp: &std::path::Path,
) -> copy_containers::promote::Promotion {
    let mut a = promote_args(registry_args(src, ns), vec![tgt], &["nova-compute"], tmp);
    a.full_hash = Some(hash.into());
    a.resolve(promote::model::read_list_file).unwrap()
}

/// (tag, source, repository) of every kept reference.
fn kept(store: &Store) -> Vec<(String, Option<String>, Option<String>)> {
    let mut v: Vec<_> = store
        .list_release("master")
        .unwrap()
        .into_iter()
        .map(|i| (i.tag, i.source, i.repository))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_removes_only_its_own_copies_and_a_namespace_typo_reuses_nothing() {
    const FH2: &str = "0123456789abcdef0123456789abcdef";
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    stage(&client(&src), &["base", "nova-compute"], &["nova-compute"]).await;
    let opts = copy_containers::stage::StageOptions {
        names: vec!["base".into(), "nova-compute".into()],
        full_hash: FH2.into(),
        base_layer_size: 16 << 10,
        unique_layer_size: 4 << 10,
        seed: 2,
        ..Default::default()
    };
    copy_containers::stage::stage(&client(&src), &opts).await.unwrap();
    let p1 = Proxy::for_registry(&t1).unwrap();
    p1.add_rule(
        FaultRule::status(500)
            .method("PUT")
            .path_contains("/manifests/")
            .always(),
    );
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("store")).unwrap();
    // Hash A fails: its copies are kept.
    let a = promotion(&src, NS, proxy_args(&p1.host(), NS), FH, tmp.path());
    let r = promote::run(&a, &RunOptions::default()).await;
    assert!(!r.ok && r.local_kept.len() == 2, "{r:#?}");
    let after_a = kept(&store);
    assert!(after_a
        .iter()
        .all(|(t, s, _)| t.starts_with(FH) && s.as_deref() == Some(&*src.host())));
    // A namespace typo: the kept copies do not stand in for a source that has nothing.
    let typo = promotion(&src, "tripleomastr", registry_args(&t1, NS), FH, tmp.path());
    let r = promote::run(&typo, &RunOptions::default()).await;
    assert!(!r.ok);
    assert!(r.found.is_empty() && r.local_reused.is_empty(), "{r:#?}");
    assert_eq!(r.missing.len(), 2, "{r:#?}");
    assert_eq!(kept(&store), after_a, "a failed typo run loses nothing");
    // Hash B succeeds: A's copies stay.
    p1.clear_rules();
    let b = promotion(&src, NS, proxy_args(&p1.host(), NS), FH2, tmp.path());
    let r = promote::run(&b, &RunOptions::default()).await;
    assert!(r.ok, "{:#?}", r.errors);
    assert!(r.local_removed.is_empty(), "{r:#?}");
    assert_eq!(kept(&store), after_a, "another hash's success removed A's copies");
    // A's own success removes exactly A's copies (reused from the store).
    let r = promote::run(&a, &RunOptions::default()).await;
    assert!(r.ok, "{:#?}", r.errors);
    assert_eq!(r.local_reused.len(), 2, "{r:#?}");
    assert_eq!(r.local_removed.len(), 2, "{r:#?}");
    assert!(kept(&store).is_empty());
    assert!(store.fsck().unwrap().ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_store_that_is_not_a_store_is_refused_untouched() {
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    stage(&client(&src), &["base", "nova-compute"], &[]).await;
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join("projects")).unwrap();
    std::fs::write(home.join("projects/notes.txt"), b"mine").unwrap();
    let mut a = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&t1, NS)],
        &["nova-compute"],
        tmp.path(),
    );
    a.local_store = Some(home.clone());
    let p = a.resolve(promote::model::read_list_file).unwrap();
    for dry_run in [true, false] {
        let r = promote::run(
            &p,
            &RunOptions {
                dry_run,
                ..Default::default()
            },
        )
        .await;
        assert!(!r.ok);
        assert!(
            r.errors
                .iter()
                .any(|e| e.contains("not a copy-containers local store")),
            "{:#?}",
            r.errors
        );
    }
    let names: Vec<_> = std::fs::read_dir(&home)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, ["projects"]);
    assert!(
        client(&t1).catalog(10).await.unwrap().is_empty(),
        "nothing pushed"
    );
    // The same from the command line, with --local-store and --keep-local.
    let out = bin()
        .args(["promote", "--json", "--keep-local", "always", "--local-store"])
        .arg(&home)
        .args([
            "--hash",
            FH,
            "--named-label",
            "current-tripleo",
            "--containers",
            "nova-compute",
        ])
        .args([
            "--source",
            &format!("host={},namespace={NS},insecure=true", src.host()),
        ])
        .args([
            "--target",
            &format!("host={},namespace={NS},insecure=true", t1.host()),
        ])
        .arg("--tmp-file-root")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("not a copy-containers local store"));
    let names: Vec<_> = std::fs::read_dir(&home)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, ["projects"]);
}

/// A copy kept by a run without manifest lists holds the hash image alone; a later run that builds
/// lists must not take it for the whole source: the per-architecture images the source has
/// (ppc64le here) come from the source, and the lists get every architecture.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_copy_without_architectures_does_not_hide_the_sources() {
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    let t2 = tk::Registry::plain().unwrap();
    stage(&client(&src), &["base", "nova-compute"], &[]).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&t1, NS)],
        &["nova-compute"],
        tmp.path(),
    );
    a.keep_local = Some("always".into());
    let r = promote::run(
        &a.resolve(promote::model::read_list_file).unwrap(),
        &RunOptions::default(),
    )
    .await;
    assert!(r.ok, "{:#?}", r.errors);
    assert!(r.local_kept.contains(&"nova-compute".to_string()));
    // Now with lists, ppc64le for nova-compute, to another target.
    a.target_registries = Some(vec![registry_args(&t2, NS)]);
    a.manifest_push = Some(true);
    a.ppc_containers = Some(vec!["nova-compute".into()]);
    let r = promote::run(
        &a.resolve(promote::model::read_list_file).unwrap(),
        &RunOptions::default(),
    )
    .await;
    assert!(r.ok, "{:#?}", r.errors);
    assert_eq!(
        r.ppc_found,
        ["nova-compute"],
        "ppc64le found at the source: {:?}",
        r.ppc_missing
    );
    assert!(
        !r.local_reused.contains(&"nova-compute".to_string()),
        "{:?}",
        r.local_reused
    );
    let nova = r.containers.iter().find(|c| c.name == "nova-compute").unwrap();
    assert_eq!(nova.manifest_architectures, ["amd64", "ppc64le"]);
    let repo = format!("{NS}/openstack-nova-compute");
    assert!(client(&t2)
        .head_manifest(&repo, &format!("{FH}_ppc64le"))
        .await
        .unwrap()
        .is_some());
}

/// Verification reads a `Place`: a kept copy (an OCI layout) is checked by the same code as a
/// registry. The copy checks out; with a layer gone, or its manifest's bytes changed, it does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_copy_is_verified_like_a_registry() {
    use copy_containers::manifest::Content;
    use copy_containers::place::Place;
    use copy_containers::promote::verify::{check, BlobMemo, Expectation};
    use copy_containers::reference::RepoPath;
    use copy_containers::report::Reason;

    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    let staged = stage(&client(&src), &["base", "nova-compute"], &[]).await;
    let nova = staged.iter().find(|s| s.name == "nova-compute").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&t1, NS)],
        &["nova-compute"],
        tmp.path(),
    );
    a.keep_local = Some("always".into());
    let r = promote::run(
        &a.resolve(promote::model::read_list_file).unwrap(),
        &RunOptions::default(),
    )
    .await;
    assert!(r.ok, "{:#?}", r.errors);
    let store = Store::open(tmp.path().join("store")).unwrap();
    let layout = store.layout("master").unwrap().with_source(src.host());
    let local = Place::Layout(layout.clone());
    let repo = format!("{NS}/openstack-nova-compute");
    let expect = Expectation {
        repo: RepoPath::parse(&repo).unwrap(),
        tag: FH.into(),
        digest: nova.x86_digest.parse().unwrap(),
        architectures: None,
        deep: true,
    };
    let check_at =
        |place: Place, e: Expectation| async move { check(&place, &e, &BlobMemo::default()).await };
    check_at(local.clone(), expect.clone()).await.unwrap();
    check_at(Place::from(client(&t1)), expect.clone()).await.unwrap();
    // Expecting a list where the copy is one image, or another digest: not verified.
    let as_list = Expectation {
        architectures: Some(vec!["amd64".into()]),
        ..expect.clone()
    };
    let e = check_at(local.clone(), as_list).await.unwrap_err();
    assert_eq!(e.reason, Reason::NotAList, "{e}");
    assert!(
        e.message.contains("is a single image, expected a manifest list"),
        "{e}"
    );
    let other = Expectation {
        digest: staged[0].x86_digest.parse().unwrap(),
        ..expect.clone()
    };
    let e = check_at(local.clone(), other).await.unwrap_err();
    assert_eq!(e.reason, Reason::WrongDigest, "{e}");
    assert!(
        e.message.contains(&format!("points at {}", nova.x86_digest)),
        "{e}"
    );
    // A layer gone from the store.
    let m = layout.get_manifest(&repo, FH).await.unwrap();
    let Content::Image { layers, .. } = m.content().unwrap() else {
        panic!("an image")
    };
    let layer = layout.blob_path(&layers[0].digest);
    let saved = std::fs::read(&layer).unwrap();
    std::fs::remove_file(&layer).unwrap();
    let e = check_at(local.clone(), expect.clone()).await.unwrap_err();
    assert!(
        e.reason == Reason::MissingBlob
            && e.message
                .contains(&format!("blob {} of {} is missing", layers[0].digest, m.digest)),
        "{e}"
    );
    std::fs::write(&layer, saved).unwrap();
    check_at(local.clone(), expect.clone()).await.unwrap();
    // The manifest's bytes changed on disk: it no longer reads as itself.
    let manifest = layout.blob_path(&m.digest);
    let mut bytes = std::fs::read(&manifest).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0x20;
    std::fs::write(&manifest, bytes).unwrap();
    let e = check_at(local, expect).await.unwrap_err();
    assert!(
        e.reason == Reason::Unreadable
            && e.message.contains("digest mismatch")
            && e.message.contains(m.digest.as_str()),
        "{e}"
    );
}

/// A rerun that reads its images from the local copies says so once (how many, from which store),
/// not one INFO line per container (20–50 lines on every rerun of a real release).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reusing_local_copies_is_one_log_line() {
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    stage(&client(&src), &["base", "nova-compute", "neutron-server"], &[]).await;
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let run = || {
        bin()
            .args(["promote", "--keep-local", "always", "--local-store"])
            .arg(&store)
            .args(["--hash", FH, "--named-label", "current-tripleo"])
            .args(["--containers", "base,nova-compute,neutron-server"])
            .args([
                "--source",
                &format!("host={},namespace={NS},insecure=true", src.host()),
            ])
            .args([
                "--target",
                &format!("host={},namespace={NS},insecure=true", t1.host()),
            ])
            .arg("--tmp-file-root")
            .arg(tmp.path())
            .output()
            .unwrap()
    };
    let first = run();
    assert!(first.status.success(), "{first:?}");
    let again = run();
    assert!(again.status.success(), "{again:?}");
    let err = String::from_utf8_lossy(&again.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("local cop")).collect();
    let using: Vec<&&str> = lines.iter().filter(|l| l.contains("using")).collect();
    assert_eq!(using.len(), 1, "{err}");
    assert!(using[0].contains("containers=3"), "{err}");
}

fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Backdate the creation time every kept reference of `hash` in `release` records by `days`.
fn backdate(store: &Store, release: &str, hash: &str, days: u64) {
    let path = store.release_dir(release).join("index.json");
    let mut idx: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let mut n = 0;
    for m in idx["manifests"].as_array_mut().unwrap() {
        if m["annotations"][copy_containers::store::ANN_HASH] == hash {
            let created = m["annotations"][copy_containers::store::ANN_CREATED]
                .as_str()
                .unwrap()
                .to_string();
            // `YYYY-…`: the year is enough to make it old.
            let year: u32 = created[..4].parse().unwrap();
            let older = format!("{}{}", year - 1 - (days / 365) as u32, &created[4..]);
            m["annotations"][copy_containers::store::ANN_CREATED] = older.into();
            n += 1;
        }
    }
    assert!(n > 0, "no reference of {hash} in {release}");
    std::fs::write(&path, serde_json::to_vec_pretty(&idx).unwrap()).unwrap();
}

/// Every run that uses the store applies the retention policy, by default (no setting): a failed
/// hash's copies nobody retried are removed once older than the age limit, by the verified delete,
/// and the run says so; the run's own copies are spared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_run_prunes_abandoned_copies_by_default() {
    const FH2: &str = "0123456789abcdef0123456789abcdef";
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    stage(&client(&src), &["base", "nova-compute"], &[]).await;
    let opts = copy_containers::stage::StageOptions {
        names: vec!["base".into(), "nova-compute".into()],
        full_hash: FH2.into(),
        base_layer_size: 16 << 10,
        unique_layer_size: 4 << 10,
        seed: 2,
        ..Default::default()
    };
    copy_containers::stage::stage(&client(&src), &opts).await.unwrap();
    let p1 = Proxy::for_registry(&t1).unwrap();
    p1.add_rule(
        FaultRule::status(500)
            .method("PUT")
            .path_contains("/manifests/")
            .always(),
    );
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("store")).unwrap();
    // Hash A fails (its copies kept), and so does hash B, later.
    let a = promotion(&src, NS, proxy_args(&p1.host(), NS), FH, tmp.path());
    assert_eq!(a.local_retention, copy_containers::store::Retention::default());
    let r = promote::run(&a, &RunOptions::default()).await;
    assert!(!r.ok && r.local_kept.len() == 2, "{r:#?}");
    assert!(r.local_pruned.is_empty());
    let b = promotion(&src, NS, proxy_args(&p1.host(), NS), FH2, tmp.path());
    // A is a year old now; B's own copies (kept by this very run) are never pruned by it.
    backdate(&store, "master", FH, 365);
    let r = promote::run(&b, &RunOptions::default()).await;
    assert!(!r.ok && r.local_kept.len() == 2, "{r:#?}");
    assert_eq!(r.local_pruned, [format!("{FH} of master (age)")], "{r:#?}");
    let hashes: Vec<String> = kept(&store).into_iter().map(|(t, _, _)| t).collect();
    assert!(hashes.iter().all(|t| t.starts_with(FH2)), "{hashes:?}");
    assert!(store.fsck().unwrap().ok);
    // Its own old copies are spared too: B, a year old, rerun and failing again, keeps them.
    backdate(&store, "master", FH2, 365);
    let r = promote::run(&b, &RunOptions::default()).await;
    assert!(r.local_pruned.is_empty(), "{r:#?}");
    assert_eq!(r.local_reused.len(), 2, "{r:#?}");
}

/// The promotion of `release` from `src` to `target`, keeping its copies (`always`).
fn release_promotion(
    src: &tk::Registry,
    target: copy_containers::promote::RegistryArgs,
    release: &str,
    tmp: &std::path::Path,
) -> copy_containers::promote::Promotion {
    let mut a = promote_args(registry_args(src, NS), vec![target], &["nova-compute"], tmp);
    a.release = Some(release.into());
    a.keep_local = Some("always".into());
    a.resolve(promote::model::read_list_file).unwrap()
}

/// Runs share the host: two promotions of different releases, each reading and keeping copies in
/// the same store, are both in the middle of their copies at once (each target holds its run's
/// first blob upload; both are seen held together), while a run of a release another run is
/// writing waits for it, bounded, with a message naming it, and a run of another release meanwhile
/// goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_of_different_releases_progress_at_once_and_the_same_release_waits() {
    use copy_containers_testkit::FaultAction;
    let src = tk::Registry::plain().unwrap();
    stage(&client(&src), &["base", "nova-compute"], &[]).await;
    let tmp = tempfile::tempdir().unwrap();
    // Both releases hold kept copies (the runs below read them, then keep theirs).
    for release in ["master", "wallaby"] {
        let t = tk::Registry::plain().unwrap();
        let r = promote::run(
            &release_promotion(&src, registry_args(&t, NS), release, tmp.path()),
            &RunOptions::default(),
        )
        .await;
        assert!(r.ok && r.local_kept.len() == 2, "{r:#?}");
    }
    let (ta, tb) = (tk::Registry::plain().unwrap(), tk::Registry::plain().unwrap());
    let (pa, pb) = (
        Proxy::for_registry(&ta).unwrap(),
        Proxy::for_registry(&tb).unwrap(),
    );
    for p in [&pa, &pb] {
        p.add_rule(
            FaultRule::new(FaultAction::Delay(std::time::Duration::from_secs(15)))
                .method("POST")
                .path_contains("/blobs/uploads/")
                .first(1),
        );
    }
    let a = release_promotion(&src, proxy_args(&pa.host(), NS), "master", tmp.path());
    let b = release_promotion(&src, proxy_args(&pb.host(), NS), "wallaby", tmp.path());
    // Each proxy records its run's upload when it arrives (the rule fires) and again when it is
    // answered: both arrived, neither answered, means both runs were mid-copy together.
    let watch = async {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while pa.rule_fired(0) == 0 || pb.rule_fired(0) == 0 {
            if std::time::Instant::now() > deadline {
                return Err("the two releases' runs never copied at once (one waited for the other)");
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let answered = |p: &Proxy| p.log().iter().any(|r| r.fault.is_some());
        if answered(&pa) || answered(&pb) {
            return Err("one run's held upload was over before the other's arrived");
        }
        Ok(())
    };
    let opts = RunOptions::default();
    let (ra, rb, together) = tokio::join!(promote::run(&a, &opts), promote::run(&b, &opts), watch);
    together.unwrap();
    for r in [&ra, &rb] {
        assert!(r.ok, "{:#?}", r.errors);
        assert_eq!(r.local_reused.len(), 2, "{r:#?}");
        assert_eq!(r.local_kept.len(), 2, "{r:#?}");
    }

    // Another run writes master (here: this test holds its lock as a writer would): a master run
    // waits its lock_timeout, says who it waits for, and stops with nothing pushed; a wallaby run
    // meanwhile goes through.
    let writer = Store::open(tmp.path().join("store")).unwrap();
    let held = writer.lock_release("master", true).unwrap();
    let (tc, td) = (tk::Registry::plain().unwrap(), tk::Registry::plain().unwrap());
    let d = release_promotion(&src, registry_args(&td, NS), "wallaby", tmp.path());
    let rd = promote::run(&d, &RunOptions::default()).await;
    assert!(rd.ok, "{:#?}", rd.errors);
    let mut c = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&tc, NS)],
        &["nova-compute"],
        tmp.path(),
    );
    c.keep_local = Some("always".into());
    c.lock_timeout = Some(1);
    let config = tmp.path().join("c.yaml");
    // JSON is YAML; the fields not set are left out.
    let mut v = serde_json::to_value(&c).unwrap();
    strip_nulls(&mut v);
    std::fs::write(&config, serde_json::to_vec(&v).unwrap()).unwrap();
    let out = bin().args(["promote", "--config"]).arg(&config).output().unwrap();
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let in_use = format!(
        "the local store {} is in use by another copy-containers run for release master (PID {}",
        tmp.path().join("store").display(),
        std::process::id()
    );
    assert!(err.contains(&in_use) && err.contains("waiting up to 1s"), "{err}");
    assert!(err.contains("waited 1s"), "{err}");
    assert!(
        client(&tc).catalog(10).await.unwrap().is_empty(),
        "nothing pushed while waiting"
    );
    drop(held);
}

fn strip_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// A kept copy that breaks off (a source blob refused while keeping a failed push's images) leaves
/// nothing behind: what it had written is removed, so the store holds no orphan blob; the image is
/// said not kept, the cause first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_that_cannot_be_kept_leaves_no_orphan_blob() {
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    let names = ["base", "nova-compute"];
    let staged = stage(&client(&src), &names, &names).await;
    let nova = &staged[1];
    let m = client(&src)
        .get_manifest(&nova.repository, &nova.x86_digest)
        .await
        .unwrap();
    let copy_containers::manifest::Content::Image { layers, .. } =
        copy_containers::manifest::parse_content(&m.media_type, &m.bytes).unwrap()
    else {
        panic!("an image expected")
    };
    // nova-compute's own layer (the last; the first is base's) cannot be read from the source.
    let unique = layers.last().unwrap().digest.to_string();
    let p_src = Proxy::for_registry(&src).unwrap();
    p_src.add_rule(
        FaultRule::status(500)
            .method("GET")
            .path_contains(&format!("blobs/{unique}"))
            .always(),
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        proxy_args(&p_src.host(), NS),
        vec![registry_args(&t1, NS)],
        &["nova-compute"],
        tmp.path(),
    );
    a.retries = Some(1);
    let p = a.resolve(promote::model::read_list_file).unwrap();
    let r = promote::run(&p, &RunOptions::default()).await;
    assert!(!r.ok);
    assert_eq!(r.local_kept, ["base"], "{:#?}", r.errors);
    let store = Store::open(tmp.path().join("store")).unwrap();
    let fsck = store.fsck().unwrap();
    assert!(fsck.ok, "{fsck:#?}");
    assert!(
        !fsck.warnings.iter().any(|w| w.contains("orphan")),
        "{:#?}",
        fsck.warnings
    );
    let not_kept = r.failure_lines().join("\n");
    assert!(
        not_kept.contains("not kept locally") && not_kept.contains("nova-compute"),
        "{not_kept}"
    );
}
