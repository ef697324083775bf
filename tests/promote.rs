//! The promotion end to end against real registries: two targets (plain and TLS + htpasswd), manifest
//! lists with ppc present for some images only, every tag checked with skopeo; missing sources;
//! idempotence counted through proxies; an unreachable target; verification catching a dangling list
//! and a moved tag; the role's list files.

mod common;

use copy_containers::promote::{self, PromoteArgs, RunOptions};
use copy_containers::report::{Report, TagAction};
use copy_containers_testkit::{self as tk, skopeo_inspect_digest, skopeo_inspect_raw, PathKind, Proxy};

use common::*;

const NAMES: &[&str] = &["base", "os", "nova-compute", "neutron-server"];

fn resolve(a: &PromoteArgs) -> copy_containers::promote::Promotion {
    a.resolve(promote::model::read_list_file).expect("resolve")
}

async fn run(a: &PromoteArgs) -> Report {
    promote::run(&resolve(a), &RunOptions::default()).await
}

fn archs(raw: &[u8]) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(raw).unwrap();
    let mut a: Vec<String> = v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap().to_string())
        .collect();
    a.sort();
    a
}

fn read_list(dir: &std::path::Path, name: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .lines()
        .map(str::to_string)
        .collect()
}

/// Names as the role's list files hold them: with the image prefix.
fn prefixed(names: &[String]) -> Vec<String> {
    names.iter().map(|n| format!("openstack-{n}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_promotion_to_two_targets_with_manifest_lists() {
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    let t2 = tk::Registry::tls_htpasswd("robot", "promote-secret-1").unwrap();
    let staged = stage(&client(&src), NAMES, &["neutron-server"]).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&t1, NS), registry_args(&t2, NS)],
        &["nova-compute", "neutron-server", "os"],
        tmp.path(),
    );
    a.ppc_containers = Some(vec![
        "nova-compute".into(),
        "neutron-server".into(),
        "base".into(),
    ]);
    a.manifest_push = Some(true);
    let r = run(&a).await;
    assert!(r.ok, "{:#?}", r.errors);
    assert!(r.changed);
    // base is added to the list once
    assert_eq!(r.found, ["nova-compute", "neutron-server", "os", "base"]);
    assert_eq!(r.ppc_found, ["nova-compute", "base"]);
    assert_eq!(r.ppc_missing, ["neutron-server"]);
    let fh_x = format!("{FH}_x86_64");
    let fh_m = format!("{FH}_manifest");
    for t in [&t1, &t2] {
        for s in staged.iter().filter(|s| s.name != "aodh-api") {
            let repo = &s.repository;
            if !["nova-compute", "neutron-server", "os", "base"].contains(&s.name.as_str()) {
                continue;
            }
            // <fh>, <fh>_x86_64 and the label are the x86 image, byte-exact
            for tag in [FH, fh_x.as_str(), "current-tripleo"] {
                assert_eq!(
                    skopeo_inspect_digest(t, &format!("{repo}:{tag}")).unwrap(),
                    s.x86_digest,
                    "{repo}:{tag}"
                );
            }
            let list = skopeo_inspect_raw(t, &format!("{repo}:{fh_m}")).unwrap();
            let want: Vec<&str> = if s.ppc_digest.is_some() && s.name != "os" {
                vec!["amd64", "ppc64le"]
            } else {
                vec!["amd64"]
            };
            assert_eq!(archs(&list), want, "{repo}");
            if let Some(pd) = &s.ppc_digest {
                if s.name != "os" {
                    assert_eq!(
                        skopeo_inspect_digest(t, &format!("{repo}:{FH}_ppc64le")).unwrap(),
                        *pd
                    );
                }
            }
        }
    }
    // os is not in the ppc list: x86-only, recorded
    let os = r.containers.iter().find(|c| c.name == "os").unwrap();
    assert_eq!(os.manifest_architectures, ["amd64"]);
    let nova = r.containers.iter().find(|c| c.name == "nova-compute").unwrap();
    assert_eq!(nova.manifest_architectures, ["amd64", "ppc64le"]);
    // the label is on the source too
    let base = staged.iter().find(|s| s.name == "base").unwrap();
    assert_eq!(
        skopeo_inspect_digest(&src, &format!("{}:current-tripleo", base.repository)).unwrap(),
        base.x86_digest
    );
    // the role's list files
    let suffix = "centos-9-master";
    assert_eq!(
        read_list(tmp.path(), &format!("parsed_containers-{suffix}.txt")),
        prefixed(&r.found)
    );
    assert!(read_list(tmp.path(), &format!("missing_parsed_containers-{suffix}.txt")).is_empty());
    assert_eq!(
        read_list(tmp.path(), &format!("parsed_ppc_containers-{suffix}.txt")),
        ["openstack-nova-compute", "openstack-base"]
    );
    assert_eq!(
        read_list(tmp.path(), &format!("missing_parsed_ppc_containers-{suffix}.txt")),
        ["openstack-neutron-server"]
    );
    // containers_list's images: the role's pushed list never named the base images it appended.
    let mut pushed = read_list(tmp.path(), "containers_pushed_list.txt");
    pushed.sort();
    assert_eq!(
        pushed,
        [
            "openstack-neutron-server",
            "openstack-nova-compute",
            "openstack-os"
        ]
    );
    assert!(read_list(tmp.path(), "containers_missed_list.txt").is_empty());
    // every entry verified
    for c in &r.containers {
        for e in &c.entries {
            assert_eq!(e.verified, Some(true), "{} {} {}", c.name, e.registry, e.tag);
        }
    }
    // no secret in the report
    assert!(!serde_json::to_string(&r).unwrap().contains("promote-secret-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_source_image_fails_names_it_and_moves_no_label() {
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    stage(&client(&src), &["base", "nova-compute"], &[]).await;
    let tmp = tempfile::tempdir().unwrap();
    let a = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&t1, NS)],
        &["nova-compute", "ghost-api", "phantom-worker"],
        tmp.path(),
    );
    let r = run(&a).await;
    assert!(!r.ok);
    assert_eq!(r.missing, ["ghost-api", "phantom-worker"]);
    let all = r.errors.join("\n");
    assert!(
        all.contains("ghost-api") && all.contains("phantom-worker"),
        "{all}"
    );
    assert_eq!(
        read_list(tmp.path(), "missing_parsed_containers-centos-9-master.txt"),
        ["openstack-ghost-api", "openstack-phantom-worker"]
    );
    // nothing labelled anywhere, nothing pushed
    let c = client(&src);
    for n in ["base", "nova-compute"] {
        assert!(c
            .head_manifest(&format!("{NS}/openstack-{n}"), "current-tripleo")
            .await
            .unwrap()
            .is_none());
    }
    assert!(client(&t1).catalog(100).await.unwrap().is_empty());
}

/// A copy (copy-quay's): the images found are copied and read back, a missing one fails the run
/// without stopping them, no label moves (targets nor source) and no list file is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_moves_no_label_and_a_missing_image_stops_nothing() {
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    stage(&client(&src), &["base", "nova-compute"], &[]).await;
    let tmp = tempfile::tempdir().unwrap();
    let a = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&t1, NS)],
        &["nova-compute", "ghost-api"],
        tmp.path(),
    );
    let p = resolve(&a);
    let progress = copy_containers::progress::Progress::none();
    let dry = copy_containers::verbs::copy(&p, true, false, &progress).await;
    assert!(dry.dry_run && !dry.ok);
    assert!(
        client(&t1).catalog(100).await.unwrap().is_empty(),
        "a dry run copies nothing"
    );
    let r = copy_containers::verbs::copy(&p, false, false, &progress).await;
    assert_eq!(r.action, "copy");
    assert!(!r.ok, "a missing image fails the copy");
    assert_eq!(r.missing, ["ghost-api"]);
    assert_eq!(r.pushed, ["nova-compute", "base"]);
    assert!(r.files.is_empty(), "no report asked for: {:?}", r.files);
    assert_eq!(r.errors.len(), 1, "{:#?}", r.errors);
    assert!(r.errors[0].contains("ghost-api"), "{:#?}", r.errors);
    for n in ["base", "nova-compute"] {
        let repo = format!("{NS}/openstack-{n}");
        assert_eq!(
            skopeo_inspect_digest(&t1, &format!("{repo}:{FH}")).unwrap(),
            skopeo_inspect_digest(&src, &format!("{repo}:{FH}")).unwrap()
        );
        for reg in [&t1, &src] {
            assert!(client(reg)
                .head_manifest(&repo, "current-tripleo")
                .await
                .unwrap()
                .is_none());
        }
        let entries = &r.containers.iter().find(|c| c.name == n).unwrap().entries;
        assert!(
            entries.iter().all(|e| e.verified == Some(true) && e.tag == FH),
            "{entries:?}"
        );
    }
    assert_eq!(
        std::fs::read_dir(tmp.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".txt")
            })
            .count(),
        0,
        "no list file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_run_changes_nothing_counted_through_proxies() {
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    let t2 = tk::Registry::plain().unwrap();
    stage(&client(&src), NAMES, &["os"]).await;
    let (p1, p2) = (
        Proxy::for_registry(&t1).unwrap(),
        Proxy::for_registry(&t2).unwrap(),
    );
    let sp = Proxy::for_registry(&src).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        proxy_args(&sp.host(), NS),
        vec![proxy_args(&p1.host(), NS), proxy_args(&p2.host(), NS)],
        NAMES,
        tmp.path(),
    );
    a.ppc_containers = Some(NAMES.iter().map(|s| s.to_string()).collect());
    a.manifest_push = Some(true);
    let first = run(&a).await;
    assert!(first.ok && first.changed, "{:#?}", first.errors);
    // every unique blob was fetched from the source exactly once, for two targets
    let blob_gets: Vec<String> = sp
        .log()
        .into_iter()
        .filter(|r| r.method == "GET" && r.kind == PathKind::Blobs)
        .map(|r| r.path)
        .collect();
    let unique: std::collections::BTreeSet<&String> = blob_gets.iter().collect();
    assert!(!blob_gets.is_empty());
    assert_eq!(
        unique.len(),
        blob_gets.len(),
        "a blob was fetched twice: {blob_gets:#?}"
    );
    // each unique blob went to each target once (mounts for the rest)
    let uploads1 = p1.count("PUT", PathKind::Uploads);
    assert!(uploads1 > 0);
    p1.reset();
    p2.reset();
    let second = run(&a).await;
    assert!(second.ok, "{:#?}", second.errors);
    assert!(!second.changed, "second run changed something");
    for p in [&p1, &p2] {
        assert_eq!(p.count_method("PUT"), 0, "{:#?}", p.log());
        assert_eq!(p.count_method("POST"), 0);
        assert_eq!(p.count_method("PATCH"), 0);
        assert_eq!(p.count("GET", PathKind::Blobs), 0);
    }
    for c in &second.containers {
        for e in &c.entries {
            assert_eq!(
                e.action,
                TagAction::AlreadyPresent,
                "{} {} {}",
                c.name,
                e.registry,
                e.tag
            );
        }
    }
    assert_eq!(second.bytes_uploaded(), 0);
}

/// A phase that runs over `phase_timeout` stops the run with one clear error naming the phase;
/// nothing after it is done, so no label moves anywhere (the promoter's 115-minute kill gets a
/// report instead).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phase_over_its_deadline_stops_the_run_before_any_label() {
    use copy_containers::report::{Kind, Phase};
    use copy_containers_testkit::{FaultAction, FaultRule};
    let src = tk::Registry::plain().unwrap();
    let tgt = tk::Registry::plain().unwrap();
    let staged = stage(&client(&src), &["base", "nova-compute"], &[]).await;
    // Every manifest push to the target is slow: the copy phase cannot end within 1 s.
    let slow = Proxy::for_registry(&tgt).unwrap();
    slow.add_rule(
        FaultRule::new(FaultAction::Delay(std::time::Duration::from_secs(3)))
            .method("PUT")
            .always(),
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        registry_args(&src, NS),
        vec![proxy_args(&slow.host(), NS)],
        &["nova-compute"],
        tmp.path(),
    );
    a.phase_timeout = Some(1);
    let r = run(&a).await;
    assert!(!r.ok);
    let over: Vec<_> = r.problems.iter().filter(|p| p.kind == Kind::Deadline).collect();
    assert_eq!(over.len(), 1, "{:#?}", r.problems);
    assert_eq!(over[0].phase, Phase::Copy);
    assert!(
        over[0]
            .text
            .contains("copy phase ran over its deadline (phase_timeout: 1 s)"),
        "{}",
        over[0].text
    );
    assert_eq!(r.missed, ["nova-compute", "base"]);
    assert!(r.pushed.is_empty());
    // The promoter's lists say what was not promoted (containers_list's images, as the role's lists);
    // the images are kept as after a failed push.
    assert_eq!(
        read_list(tmp.path(), "containers_missed_list.txt"),
        ["openstack-nova-compute"]
    );
    assert_eq!(r.local_kept, ["nova-compute", "base"]);
    // No label anywhere: not on the target, not on the source.
    for s in &staged {
        assert!(client(&tgt)
            .head_manifest(&s.repository, "current-tripleo")
            .await
            .unwrap()
            .is_none());
        assert!(client(&src)
            .head_manifest(&s.repository, "current-tripleo")
            .await
            .unwrap()
            .is_none());
    }
    // Without the deadline the same slow registry is only slow.
    slow.clear_rules();
    a.phase_timeout = None;
    let r = run(&a).await;
    assert!(r.ok, "{:#?}", r.errors);
}

/// One cause, one message: a target down fails every tag of every image there, but people read a
/// handful of lines, each naming the registry and the images; the JSON keeps every failure, typed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_down_reads_as_one_cause_not_one_line_per_tag() {
    // `base` is added to every promotion's list.
    let names: Vec<String> = (0..11)
        .map(|i| format!("svc-{i:02}"))
        .chain(["base".to_string()])
        .collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let src = tk::Registry::plain().unwrap();
    let good = tk::Registry::plain().unwrap();
    let bad = tk::Registry::plain().unwrap();
    stage(&client(&src), &name_refs, &[]).await;
    let down = Proxy::for_registry(&bad).unwrap();
    down.down();
    let tmp = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&good, NS), proxy_args(&down.host(), NS)],
        &name_refs,
        tmp.path(),
    );
    a.manifest_push = Some(true);
    a.ppc_containers = Some(names.clone());
    a.retries = Some(1);
    let r = run(&a).await;
    assert!(!r.ok);
    // Every failure is in the JSON, typed, one problem per line of `errors`.
    assert_eq!(r.problems.len(), r.errors.len());
    assert!(r.errors.len() >= 2 * names.len(), "{:#?}", r.errors);
    let texts: Vec<&str> = r.problems.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(texts, r.errors.iter().map(String::as_str).collect::<Vec<_>>());
    let about_down = r
        .problems
        .iter()
        .filter(|p| p.registry.as_deref() == Some(down.host().as_str()));
    assert!(about_down.count() >= names.len());
    // People read one cause: the registry that cannot be reached (whichever way each request found
    // out), with what could not be done there because of it folded in.
    let lines = r.failure_lines();
    let causes: Vec<&String> = lines.iter().filter(|l| !l.starts_with("  ")).collect();
    assert_eq!(causes.len(), 1, "{lines:#?}");
    assert!(causes[0].starts_with(&format!("{}: ", down.host())), "{lines:#?}");
    assert_eq!(
        lines[1], "  so 12 images were not verified there: svc-00, svc-01, svc-02, svc-03 and 8 more",
        "{lines:#?}"
    );
    // The group names every image, in the JSON.
    let group = &r.problem_groups[0];
    assert_eq!(group.containers.len(), names.len(), "{group:#?}");
    assert_eq!(group.not_verified.len(), names.len(), "{group:#?}");
    assert_eq!(
        group.kind,
        copy_containers::report::Kind::Unreachable,
        "{group:#?}"
    );
    assert_eq!(group.registry.as_deref(), Some(down.host().as_str()));
    assert_eq!(r.problem_groups.len(), causes.len());
    // The registries by name, host and role, the source first.
    assert_eq!(r.schema_version, copy_containers::report::SCHEMA_VERSION);
    let roles: Vec<(&str, &str)> = r
        .registries
        .iter()
        .map(|s| (s.host.as_str(), s.role.as_str()))
        .collect();
    let (src_host, good_host, down_host) = (src.host(), good.host(), down.host());
    assert_eq!(
        roles,
        [
            (src_host.as_str(), "source"),
            (good_host.as_str(), "target"),
            (down_host.as_str(), "target")
        ]
    );
    let grouped: usize = r.problem_groups.iter().map(|g| g.count).sum();
    assert_eq!(grouped, r.errors.len(), "every problem in exactly one group");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_target_fails_alone_and_gets_no_label() {
    let src = tk::Registry::plain().unwrap();
    let good = tk::Registry::plain().unwrap();
    let bad = tk::Registry::plain().unwrap();
    let staged = stage(&client(&src), &["base", "nova-compute"], &[]).await;
    let bad_proxy = Proxy::for_registry(&bad).unwrap();
    bad_proxy.down();
    let tmp = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&good, NS), proxy_args(&bad_proxy.host(), NS)],
        &["nova-compute"],
        tmp.path(),
    );
    a.retries = Some(2);
    let r = run(&a).await;
    assert!(!r.ok);
    assert!(
        r.errors.iter().any(|e| e.contains(&bad_proxy.host())),
        "{:#?}",
        r.errors
    );
    // the good target is complete and labelled
    for s in &staged {
        assert_eq!(
            skopeo_inspect_digest(&good, &format!("{}:{FH}", s.repository)).unwrap(),
            s.x86_digest
        );
        assert_eq!(
            skopeo_inspect_digest(&good, &format!("{}:current-tripleo", s.repository)).unwrap(),
            s.x86_digest
        );
    }
    // nothing at all on the failed one, and the source label is withheld
    bad_proxy.up().unwrap();
    let b = client(&bad);
    assert!(b.catalog(100).await.unwrap().is_empty());
    assert!(client(&src)
        .head_manifest(&staged[0].repository, "current-tripleo")
        .await
        .unwrap()
        .is_none());
    // containers_list's images (the appended base image is not named, as in the role's list)
    assert_eq!(
        read_list(tmp.path(), "containers_missed_list.txt"),
        ["openstack-nova-compute"]
    );
    // the binary exits non-zero for the same input
    bad_proxy.down();
    let out = bin()
        .args([
            "promote",
            "--full-hash",
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
            &format!("host={},namespace={NS},insecure=true", bad_proxy.host()),
        ])
        .args(["--retries", "1", "--tmp-file-root"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FAILED"));
    // The summary prints causes, not one line per tag: each names the target, with one example.
    let r: Report = serde_json::from_slice(
        &std::fs::read(tmp.path().join("copy-containers-promote-latest.json")).unwrap(),
    )
    .unwrap();
    let errors: Vec<&str> = stdout.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), r.problem_groups.len(), "{stdout}");
    assert!(errors.len() < r.errors.len(), "{stdout}");
    assert!(
        errors
            .iter()
            .all(|l| l.contains(&bad_proxy.host()) || l.contains("not verified")),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_catches_a_dangling_list_and_a_moved_tag() {
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    let staged = stage(&client(&src), &["base", "nova-compute", "os"], &[]).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&t1, NS)],
        &["nova-compute", "os"],
        tmp.path(),
    );
    a.manifest_push = Some(true);
    a.ppc_containers = Some(vec!["nova-compute".into()]);
    let r = run(&a).await;
    assert!(r.ok, "{:#?}", r.errors);
    let p = resolve(&a);
    let ok = promote::run(
        &p,
        &RunOptions {
            verify_only: true,
            ..Default::default()
        },
    )
    .await;
    assert!(ok.ok, "{:#?}", ok.errors);
    assert!(!ok.changed);
    // delete the ppc child of nova-compute's list on the target: the list dangles
    let t = client(&t1);
    let nova = staged.iter().find(|s| s.name == "nova-compute").unwrap();
    t.delete_manifest(
        &nova.repository,
        &nova.ppc_digest.clone().unwrap().parse().unwrap(),
    )
    .await
    .unwrap();
    // point os:<fh> at another image on the target
    let os = staged.iter().find(|s| s.name == "os").unwrap();
    let base = staged.iter().find(|s| s.name == "base").unwrap();
    let base_m = client(&src).get_manifest(&base.repository, FH).await.unwrap();
    // the base image's blobs must be in os's repository for the PUT: mount them
    if let copy_containers::manifest::Content::Image { config, layers } = base_m.content().unwrap() {
        for d in std::iter::once(config).chain(layers) {
            t.mount_blob(&os.repository, &d.digest, &base.repository)
                .await
                .unwrap();
        }
    }
    t.put_manifest(&os.repository, FH, &base_m.media_type, base_m.bytes.clone())
        .await
        .unwrap();
    let bad = promote::run(
        &p,
        &RunOptions {
            verify_only: true,
            ..Default::default()
        },
    )
    .await;
    assert!(!bad.ok);
    let all = bad.errors.join("\n");
    assert!(
        all.contains("dangling") || all.contains(&nova.ppc_digest.clone().unwrap()),
        "{all}"
    );
    assert!(
        all.contains(&format!("{}:{FH}", os.repository)) && all.contains("points at"),
        "{all}"
    );
    assert!(bad.missed.contains(&"nova-compute".to_string()) && bad.missed.contains(&"os".to_string()));
    // Each finding typed: kind verification, why (the ppc tag went with its manifest), one group each.
    use copy_containers::report::{Kind, Reason};
    type Found<'a> = (Kind, Option<Reason>, Option<&'a str>, Option<&'a str>);
    let found: Vec<Found> = bad
        .problems
        .iter()
        .map(|p| (p.kind, p.reason, p.container.as_deref(), p.tag.as_deref()))
        .collect();
    let (ppc, list) = (format!("{FH}_ppc64le"), format!("{FH}_manifest"));
    for want in [
        (Reason::MissingTag, "nova-compute", ppc.as_str()),
        (Reason::MissingChild, "nova-compute", list.as_str()),
        (Reason::WrongDigest, "os", FH),
    ] {
        assert!(
            found.contains(&(Kind::Verification, Some(want.0), Some(want.1), Some(want.2))),
            "{want:?} in {found:#?}"
        );
    }
    let grouped: Vec<(Option<Reason>, usize)> =
        bad.problem_groups.iter().map(|g| (g.reason, g.count)).collect();
    for r in [Reason::MissingTag, Reason::MissingChild, Reason::WrongDigest] {
        assert_eq!(
            grouped.iter().filter(|g| g.0 == Some(r)).count(),
            1,
            "{grouped:?}"
        );
    }
    let json = serde_json::to_value(&bad).unwrap();
    assert!(
        json["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["reason"] == "missing_child"),
        "{:#}",
        json["problems"]
    );
    // verify never writes: the pushed list from the promotion is untouched
    let mut pushed = read_list(tmp.path(), "containers_pushed_list.txt");
    pushed.sort();
    assert_eq!(pushed, ["openstack-nova-compute", "openstack-os"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_push_labels_only_the_source_and_dry_run_changes_nothing() {
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    let staged = stage(&client(&src), &["base", "nova-compute"], &[]).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&t1, NS)],
        &["nova-compute"],
        tmp.path(),
    );
    // dry run first: predicts changes, changes nothing
    let p = resolve(&a);
    let dry = promote::run(
        &p,
        &RunOptions {
            dry_run: true,
            ..Default::default()
        },
    )
    .await;
    assert!(dry.ok && dry.changed, "{:#?}", dry.errors);
    let plan = dry.plan.as_ref().expect("the dry run reports its plan");
    assert_eq!(plan.containers, 2);
    assert_eq!((plan.targets[0].images, plan.targets[0].labels), (2, 2));
    // The CLI's dry run prints the plan before the table.
    let out = bin()
        .args([
            "promote",
            "--dry-run",
            "--full-hash",
            FH,
            "--named-label",
            "current-tripleo",
        ])
        .args(["--containers", "nova-compute"])
        .args([
            "--source",
            &format!("host={},namespace={NS},insecure=true", src.host()),
        ])
        .args([
            "--target",
            &format!("host={},namespace={NS},insecure=true", t1.host()),
        ])
        .args(["--tmp-file-root"])
        .arg(tmp.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("plan for 2 containers:\n"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "  {}: 2 images under 2 tags, 2 tags read back, current-tripleo on 2 once verified",
            t1.host()
        )),
        "{stdout}"
    );
    // The table: within 100 columns, the source's column first and marked.
    assert!(stdout.lines().all(|l| l.chars().count() <= 100), "{stdout}");
    let head = stdout
        .lines()
        .find(|l| l.starts_with("container"))
        .unwrap_or_else(|| panic!("{stdout}"));
    // Long names are cut from the left: the port, which tells them apart, stays.
    let tail = |h: String| h[h.len() - 10..].to_string();
    let (s_tail, t_tail) = (tail(src.host()), tail(t1.host()));
    let s_at = head
        .find(&format!("{s_tail}*"))
        .unwrap_or_else(|| panic!("{head}"));
    let t_at = head.find(&t_tail).unwrap_or_else(|| panic!("{head}"));
    assert!(s_at < t_at, "the source first: {head}");
    assert!(
        stdout.contains(&format!("registries: {} (* source)", src.host())),
        "{stdout}"
    );
    assert!(client(&t1).catalog(100).await.unwrap().is_empty());
    assert!(client(&src)
        .head_manifest(&staged[0].repository, "current-tripleo")
        .await
        .unwrap()
        .is_none());
    assert!(!tmp.path().join("containers_pushed_list.txt").exists());
    // push disabled: only the source label moves
    a.target_registries_push = Some(false);
    let r = run(&a).await;
    assert!(r.ok, "{:#?}", r.errors);
    assert!(client(&t1).catalog(100).await.unwrap().is_empty());
    for s in &staged {
        assert_eq!(
            skopeo_inspect_digest(&src, &format!("{}:current-tripleo", s.repository)).unwrap(),
            s.x86_digest
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_hash_writes_another_tag_on_the_targets() {
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    let staged = stage(&client(&src), &["base", "nova-compute"], &[]).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&t1, NS)],
        &["nova-compute"],
        tmp.path(),
    );
    a.push_hash = Some("pushed-tag".into());
    a.manifest_push = Some(true);
    let r = run(&a).await;
    assert!(r.ok, "{:#?}", r.errors);
    let t = client(&t1);
    for s in &staged {
        assert_eq!(
            skopeo_inspect_digest(&t1, &format!("{}:pushed-tag", s.repository)).unwrap(),
            s.x86_digest
        );
        assert_eq!(
            skopeo_inspect_digest(&t1, &format!("{}:current-tripleo", s.repository)).unwrap(),
            s.x86_digest
        );
        assert!(t
            .head_manifest(&s.repository, "pushed-tag_manifest")
            .await
            .unwrap()
            .is_some());
        assert!(
            t.head_manifest(&s.repository, FH).await.unwrap().is_none(),
            "the hash tag itself is not pushed"
        );
        assert!(client(&src)
            .head_manifest(&s.repository, "pushed-tag")
            .await
            .unwrap()
            .is_none());
    }
    // and it is idempotent
    assert!(!run(&a).await.changed);
}

/// The command line with `--push-hash`: promote pushes under it, `verify` and `tag --registry` read
/// the targets at it (and fail without it: the hash itself is not there), the source keeps the hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_hash_on_the_command_line_promote_verify_tag() {
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    let staged = stage(&client(&src), &["base", "nova-compute"], &[]).await;
    let tmp = tempfile::tempdir().unwrap();
    let source = format!("host={},namespace={NS},insecure=true", src.host());
    let target = format!("host={},namespace={NS},insecure=true", t1.host());
    let cli = |cmd: &str, push_hash: Option<&str>, label: &str| {
        let mut c = bin();
        c.args([cmd, "--full-hash", FH, "--named-label", label])
            .args(["--containers", "nova-compute", "--ppc-containers", "nova-compute"])
            .args(["--manifest-push", "true", "--source", &source])
            .arg("--tmp-file-root")
            .arg(tmp.path());
        if cmd == "tag" {
            c.args(["--registry", &target]);
        } else {
            c.args(["--target", &target]);
        }
        if let Some(ph) = push_hash {
            c.args(["--push-hash", ph]);
        }
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (code, out) = cli("promote", Some("cli-pushed"), "current-tripleo");
    assert_eq!(code, Some(0), "{out}");
    let t = client(&t1);
    for s in &staged {
        let on_target = |tag: &str| format!("{}:{tag}", s.repository);
        assert_eq!(
            skopeo_inspect_digest(&t1, &on_target("cli-pushed")).unwrap(),
            s.x86_digest
        );
        assert_eq!(
            skopeo_inspect_digest(&t1, &on_target("current-tripleo")).unwrap(),
            s.x86_digest
        );
        assert!(t.head_manifest(&s.repository, FH).await.unwrap().is_none());
        assert!(t
            .head_manifest(&s.repository, "cli-pushed_manifest")
            .await
            .unwrap()
            .is_some());
        // The source keeps its hash and gets the label there.
        assert_eq!(
            skopeo_inspect_digest(&src, &format!("{}:current-tripleo", s.repository)).unwrap(),
            s.x86_digest
        );
    }
    assert!(t
        .head_manifest(&format!("{NS}/openstack-nova-compute"), "cli-pushed_ppc64le")
        .await
        .unwrap()
        .is_some());
    let (code, out) = cli("verify", Some("cli-pushed"), "current-tripleo");
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = cli("verify", None, "current-tripleo");
    assert_eq!(code, Some(1), "the targets have no {FH} tag: {out}");
    let (code, out) = cli("tag", None, "tripleo-ci-testing");
    assert_eq!(code, Some(1), "{out}");
    // One cause, one line: what is missing, on which registry, for which images, with an example.
    assert!(
        out.contains("does not exist (2 images: nova-compute, base)"),
        "{out}"
    );
    assert!(
        out.contains(&format!("openstack-nova-compute:{FH} does not exist")),
        "{out}"
    );
    let (code, out) = cli("tag", Some("cli-pushed"), "tripleo-ci-testing");
    assert_eq!(code, Some(0), "{out}");
    for s in &staged {
        assert_eq!(
            skopeo_inspect_digest(&t1, &format!("{}:tripleo-ci-testing", s.repository)).unwrap(),
            s.x86_digest
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_moves_a_label_remotely_on_chosen_registries() {
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    let t2 = tk::Registry::plain().unwrap();
    let staged = stage(&client(&src), &["base", "nova-compute"], &[]).await;
    let tmp = tempfile::tempdir().unwrap();
    let a = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&t1, NS), registry_args(&t2, NS)],
        &["nova-compute"],
        tmp.path(),
    );
    assert!(run(&a).await.ok);
    let tp = Proxy::for_registry(&t1).unwrap();
    let out = bin()
        .args([
            "tag",
            "--full-hash",
            FH,
            "--named-label",
            "tripleo-ci-testing",
            "--containers",
            "nova-compute",
        ])
        .args([
            "--registry",
            &format!("host={},namespace={NS},insecure=true", tp.host()),
        ])
        .arg("--tmp-file-root")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    for s in &staged {
        assert_eq!(
            skopeo_inspect_digest(&t1, &format!("{}:tripleo-ci-testing", s.repository)).unwrap(),
            s.x86_digest
        );
        assert!(client(&t2)
            .head_manifest(&s.repository, "tripleo-ci-testing")
            .await
            .unwrap()
            .is_none());
    }
    // remote: no blob traffic at all
    assert_eq!(tp.count_kind(PathKind::Blobs), 0);
    assert_eq!(tp.count_kind(PathKind::Uploads), 0);
    // a hash that is not there: a clear failure, nothing moved
    let out = bin()
        .args([
            "tag",
            "--full-hash",
            "0123456789abcdef0123456789abcdef",
            "--named-label",
            "x-label",
        ])
        .args(["--containers", "nova-compute"])
        .args([
            "--registry",
            &format!("host={},namespace={NS},insecure=true", t1.host()),
        ])
        .arg("--tmp-file-root")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("does not exist"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_of_images_already_on_a_target_are_mounted_not_sent_again() {
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    stage(&client(&src), &["base", "nova-compute", "neutron-server"], &[]).await;
    let tmp = tempfile::tempdir().unwrap();
    let a = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&t1, NS)],
        &["nova-compute"],
        tmp.path(),
    );
    assert!(run(&a).await.ok);
    // neutron-server shares the base layers with the images already on t1
    let a = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&t1, NS)],
        &["neutron-server"],
        tmp.path(),
    );
    let r = run(&a).await;
    assert!(r.ok, "{:#?}", r.errors);
    let fh = r
        .containers
        .iter()
        .find(|c| c.name == "neutron-server")
        .unwrap()
        .entries
        .iter()
        .find(|e| e.tag == FH)
        .unwrap()
        .clone();
    assert!(fh.blobs_mounted >= 3, "the 3 base layers are mounted: {fh:#?}");
    assert!(
        fh.blobs_uploaded <= 3,
        "only the unique layers and the config are sent: {fh:#?}"
    );
}

/// A target that refuses every connection is given up after a few refusals: the run does not retry
/// every request of every image against it (hundreds of attempts with backoff), it fails at once with
/// one cause that says what to check, and the other target is complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_refusing_every_connection_is_given_up_quickly() {
    let src = tk::Registry::plain().unwrap();
    let good = tk::Registry::plain().unwrap();
    let names = [
        "base",
        "nova-compute",
        "neutron-server",
        "glance-api",
        "keystone",
        "cinder-api",
        "heat-api",
        "swift-proxy-server",
    ];
    stage(&client(&src), &names, &[]).await;
    // A port nothing listens on.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&good, NS), proxy_args(&dead, NS)],
        &names[1..],
        tmp.path(),
    );
    a.retries = Some(5);
    let r = run(&a).await;
    assert!(!r.ok);
    let dead_stats = r
        .registries
        .iter()
        .find(|s| s.name == dead)
        .expect("stats of the dead target");
    // Without giving up: every request of 8 images tried 5 times (≈ 8 × 3 × 5 = 120 and more).
    assert!(
        dead_stats.requests <= 2 * u64::from(copy_containers::transport::GIVE_UP_AFTER) + 16,
        "{dead_stats:?}"
    );
    assert!(r.errors.iter().any(|e| e.contains("given up")), "{:#?}", r.errors);
    assert!(r.containers.iter().all(|c| c
        .entries
        .iter()
        .filter(|e| e.registry == good.host())
        .all(|e| e.verified == Some(true))));
}

/// The requests a target sees for its blobs, from a proxy's log: (HEADs, upload PUTs, mount POSTs).
fn blob_requests(p: &Proxy) -> (usize, usize, usize) {
    let log = p.log();
    let heads = log
        .iter()
        .filter(|r| r.method == "HEAD" && r.kind == PathKind::Blobs)
        .count();
    let mounts = log
        .iter()
        .filter(|r| r.method == "POST" && r.query.as_deref().is_some_and(|q| q.contains("mount=")))
        .count();
    (heads, p.count("PUT", PathKind::Uploads), mounts)
}

/// Every tag entry of every container verified.
fn all_verified(r: &Report) -> bool {
    let mut entries = r.containers.iter().flat_map(|c| c.entries.iter());
    entries.all(|e| e.verified == Some(true))
}

/// A staged release (`os` without ppc64le) on a source, one empty target behind a counting proxy,
/// and a promotion's arguments with ppc64le images and lists; the last value keeps the registries
/// and the temporary folder alive.
async fn lists_to_one_target() -> (Proxy, PromoteArgs, impl Sized) {
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    stage(&client(&src), NAMES, &["os"]).await;
    let p1 = Proxy::for_registry(&t1).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        registry_args(&src, NS),
        vec![proxy_args(&p1.host(), NS)],
        NAMES,
        tmp.path(),
    );
    a.ppc_containers = Some(NAMES.iter().map(|s| s.to_string()).collect());
    a.manifest_push = Some(true);
    (p1, a, (src, t1, tmp))
}

/// A cold promotion asks about each blob once per registry, before uploading it: a blob this run
/// uploads or mounts is not asked about again (the mount's 201 and the upload's answer say it is
/// there), neither before the mounts into the other repositories nor when the lists are verified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_promotion_asks_about_each_blob_once_per_registry() {
    let (p1, a, _keep) = lists_to_one_target().await;
    let r = run(&a).await;
    assert!(r.ok, "{:#?}", r.errors);
    let (heads, uploads, mounts) = blob_requests(&p1);
    assert!(mounts > 0, "shared base layers are mounted: {:#?}", p1.log());
    // one HEAD per layer digest (the one before its upload); none before a mount, none to
    // verify, none for the image configs (one per image and architecture: uploaded unasked)
    let configs = 2 * NAMES.len() - 1;
    assert_eq!(heads + configs, uploads, "{:#?}", p1.log());
    // and every tag is there, each list verified
    assert!(all_verified(&r), "{:#?}", r.containers);
}

/// When the hash tag is already on a target at the image's digest, adding `<fh>_x86_64` there asks
/// nothing more about the image (the tag showed it is there): no HEAD by digest, no blob request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_already_at_the_digest_spares_the_image_lookup() {
    let (p1, mut a, _keep) = lists_to_one_target().await;
    // the hash images only, then the same with the architecture tags and lists
    a.manifest_push = Some(false);
    assert!(run(&a).await.ok);
    p1.reset();
    a.manifest_push = Some(true);
    let r = run(&a).await;
    assert!(r.ok, "{:#?}", r.errors);
    let log = p1.log();
    let heads_by_digest: Vec<&str> = log
        .iter()
        .filter(|x| x.method == "HEAD" && x.kind == PathKind::Manifests && x.path.contains("/sha256:"))
        .map(|x| x.path.as_str())
        .collect();
    // only the ppc64le images, new on the target, are looked up by digest
    assert_eq!(heads_by_digest.len(), NAMES.len() - 1, "{heads_by_digest:#?}");
    // the x86 images got their tag without this run seeing their blobs: each list is read back,
    // its children and their blobs checked
    let list_reads = log
        .iter()
        .filter(|x| x.method == "GET" && x.path.ends_with("_manifest"))
        .count();
    let child_reads = log
        .iter()
        .filter(|x| x.method == "GET" && x.kind == PathKind::Manifests && x.path.contains("/sha256:"))
        .count();
    // (one GET of each list before the copy, one after its push)
    assert_eq!(
        (list_reads, child_reads),
        (2 * NAMES.len(), 2 * NAMES.len() - 1),
        "{log:#?}"
    );
    assert!(log
        .iter()
        .any(|x| x.method == "HEAD" && x.kind == PathKind::Blobs));
    for c in &r.containers {
        let hash = c.entries.iter().find(|e| e.tag == FH).expect("hash tag");
        let x86 = c
            .entries
            .iter()
            .find(|e| e.tag.ends_with("_x86_64"))
            .expect("x86 tag");
        assert_eq!(hash.action, TagAction::AlreadyPresent, "{hash:#?}");
        assert_eq!(x86.action, TagAction::Tagged, "{x86:#?}");
        assert_eq!(
            hash.blobs_uploaded + hash.blobs_mounted + hash.blobs_present,
            0,
            "{hash:#?}"
        );
    }
}

/// A repository holding none of the promotion's tags is taken to lack its images (no HEAD by
/// digest); when they were there after all, under other tags, the layers are found present, only
/// the small configs are sent again, and the promotion verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_there_under_other_tags_only_are_found_by_their_layers() {
    let (p1, mut a, _keep) = lists_to_one_target().await;
    a.push_hash = Some("earlier-name".into());
    assert!(run(&a).await.ok);
    p1.reset();
    a.push_hash = None;
    let r = run(&a).await;
    assert!(r.ok, "{:#?}", r.errors);
    let log = p1.log();
    let by_digest = log
        .iter()
        .filter(|x| x.method == "HEAD" && x.kind == PathKind::Manifests && x.path.contains("/sha256:"));
    assert_eq!(by_digest.count(), 0, "{log:#?}");
    let (heads, uploads, mounts) = blob_requests(&p1);
    let configs = 2 * NAMES.len() - 1;
    assert_eq!(
        (uploads, mounts),
        (configs, 0),
        "only the configs are sent again: {log:#?}"
    );
    assert!(heads > 0);
    assert!(all_verified(&r), "{:#?}", r.containers);
}

/// A registry that will not mount still gets every blob: a refused mount asks whether the blob is
/// there after all (nothing asked before), then uploads it; the promotion verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_refusing_mounts_gets_uploads_instead() {
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    let staged = stage(&client(&src), NAMES, &["os"]).await;
    let p1 = Proxy::for_registry(&t1).unwrap();
    p1.add_rule(tk::FaultRule::status(405).method("POST").query_contains("mount="));
    let tmp = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        registry_args(&src, NS),
        vec![proxy_args(&p1.host(), NS)],
        NAMES,
        tmp.path(),
    );
    a.ppc_containers = Some(NAMES.iter().map(|s| s.to_string()).collect());
    a.manifest_push = Some(true);
    let r = run(&a).await;
    assert!(r.ok, "{:#?}", r.errors);
    let (heads, uploads, mounts) = blob_requests(&p1);
    assert!(mounts > 0 && p1.rule_fired(0) == mounts);
    // every refused mount was asked about, then uploaded: each repository got its own upload
    // (the image configs, never mounted, are uploaded unasked)
    let configs = 2 * NAMES.len() - 1;
    assert_eq!(uploads, heads + configs, "{:#?}", p1.log());
    assert!(uploads > mounts);
    for s in &staged {
        assert_eq!(
            skopeo_inspect_digest(&t1, &format!("{}:{FH}", s.repository)).unwrap(),
            s.x86_digest
        );
    }
}

/// A promotion of a hash the targets already hold, to a new label: the targets are asked while the
/// source is read, each tag once, and the source's config blobs are not read when every target's
/// `<fh>_manifest` is the very list its images make (its platforms stand for their configs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_label_reads_no_config_when_the_targets_hold_the_list() {
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    let t2 = tk::Registry::plain().unwrap();
    let staged = stage(&client(&src), NAMES, &["os"]).await;
    let (sp, p1, p2) = (
        Proxy::for_registry(&src).unwrap(),
        Proxy::for_registry(&t1).unwrap(),
        Proxy::for_registry(&t2).unwrap(),
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        proxy_args(&sp.host(), NS),
        vec![proxy_args(&p1.host(), NS), proxy_args(&p2.host(), NS)],
        NAMES,
        tmp.path(),
    );
    a.ppc_containers = Some(NAMES.iter().map(|s| s.to_string()).collect());
    a.manifest_push = Some(true);
    let first = run(&a).await;
    assert!(first.ok, "{:#?}", first.errors);
    for p in [&sp, &p1, &p2] {
        p.reset();
    }
    a.named_label = Some("tripleo-ci-testing".into());
    let r = run(&a).await;
    assert!(r.ok, "{:#?}", r.errors);
    assert_eq!(sp.count("GET", PathKind::Blobs), 0, "{:#?}", sp.log());
    for p in [&p1, &p2] {
        let log = p.log();
        let mut asked: Vec<(&str, &str)> = log.iter().map(|r| (r.method.as_str(), r.path.as_str())).collect();
        asked.sort();
        let n = asked.len();
        asked.dedup();
        assert_eq!(asked.len(), n, "a target was asked something twice: {log:#?}");
        assert_eq!(p.count_kind(PathKind::Blobs) + p.count_kind(PathKind::Uploads), 0);
    }
    for s in &staged {
        let raw = skopeo_inspect_raw(&t2, &format!("{}:{FH}_manifest", s.repository)).unwrap();
        let want = if s.ppc_digest.is_some() {
            vec!["amd64", "ppc64le"]
        } else {
            vec!["amd64"]
        };
        assert_eq!(archs(&raw), want);
        assert_eq!(
            skopeo_inspect_digest(&t1, &format!("{}:tripleo-ci-testing", s.repository)).unwrap(),
            s.x86_digest
        );
    }
}

/// A `<fh>_manifest` on a target that names other platforms than the images' tags is not taken on
/// trust: the configs are read, and the list the images make replaces it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_with_other_platforms_on_a_target_is_rebuilt_from_the_configs() {
    use copy_containers::manifest::{build_docker_list, media, ConfigPlatform};
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    let staged = stage(&client(&src), &["base", "nova-compute"], &[]).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&t1, NS)],
        &["nova-compute"],
        tmp.path(),
    );
    a.ppc_containers = Some(vec!["nova-compute".into()]);
    a.manifest_push = Some(true);
    let first = run(&a).await;
    assert!(first.ok, "{:#?}", first.errors);
    // the same children, their platforms swapped, in the bytes this tool would write
    let nova = staged.iter().find(|s| s.name == "nova-compute").unwrap();
    let (s, t) = (client(&src), client(&t1));
    let x86 = s
        .get_manifest(&nova.repository, &format!("{FH}_x86_64"))
        .await
        .unwrap();
    let ppc = s
        .get_manifest(&nova.repository, &format!("{FH}_ppc64le"))
        .await
        .unwrap();
    let plat = |arch: &str| ConfigPlatform {
        architecture: arch.into(),
        os: "linux".into(),
        variant: None,
    };
    let swapped = build_docker_list(&[
        (x86.descriptor(), plat("ppc64le")),
        (ppc.descriptor(), plat("amd64")),
    ]);
    let tag = format!("{FH}_manifest");
    t.put_manifest(&nova.repository, &tag, media::DOCKER_LIST, swapped)
        .await
        .unwrap();
    let sp = Proxy::for_registry(&src).unwrap();
    a.source_registry = Some(proxy_args(&sp.host(), NS));
    a.named_label = Some("tripleo-ci-testing".into());
    let r = run(&a).await;
    assert!(r.ok, "{:#?}", r.errors);
    assert_eq!(
        sp.count("GET", PathKind::Blobs),
        2,
        "both configs read: {:#?}",
        sp.log()
    );
    let raw = t.get_manifest(&nova.repository, &tag).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&raw.bytes).unwrap();
    assert_eq!(v["manifests"][0]["digest"], x86.digest.as_str());
    assert_eq!(v["manifests"][0]["platform"]["architecture"], "amd64");
    assert_eq!(v["manifests"][1]["platform"]["architecture"], "ppc64le");
}

/// The read-back of a cold promotion reuses what the pushes proved: a tag whose PUT the registry
/// acknowledged with its digest is not asked about again, nor is a `<fh>_manifest` whose own PUT
/// and whose children's tags were all acknowledged (the registry accepted the list only with its
/// children there, and each child only with its blobs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_promotion_verifies_from_the_acks_and_reads_no_list_back() {
    let (r, p1, _keep) = cold_list_promotion(None).await;
    assert!(r.ok, "{:#?}", r.errors);
    let log = p1.log();
    let mut lists = 0;
    for (path, after) in asked_after_each_tag_put(&log) {
        lists += path.ends_with("_manifest") as usize;
        assert!(after.is_empty(), "{path} asked again: {after:?}");
    }
    assert_eq!(lists, NAMES.len());
    let by_digest = log
        .iter()
        .filter(|x| x.kind == PathKind::Manifests && x.method != "PUT" && x.path.contains("/sha256:"));
    // the target held none of the tags: its images are taken as absent, not asked about by digest
    assert_eq!(by_digest.count(), 0, "{log:#?}");
    assert_eq!(child_gets(&log), 0);
    assert!(all_verified(&r), "{:#?}", r.containers);
}

/// A registry that does not name the digest in its answer to a manifest PUT proves nothing by it:
/// every tag is read back, and each list once with its children by digest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_digest_acks_every_tag_and_list_is_read_back() {
    let (r, p1, _keep) = cold_list_promotion(Some("Docker-Content-Digest")).await;
    assert!(r.ok, "{:#?}", r.errors);
    let log = p1.log();
    let puts = asked_after_each_tag_put(&log);
    assert!(!puts.is_empty());
    for (path, after) in puts {
        let want: &[&str] = if path.ends_with("_manifest") {
            &["GET"]
        } else {
            &["HEAD"]
        };
        assert_eq!(after, want, "{path}: {log:#?}");
    }
    assert_eq!(child_gets(&log), 2 * NAMES.len() - 1);
    assert!(p1.faults().drop_header > 0);
    assert!(all_verified(&r), "{:#?}", r.containers);
}

/// A cold promotion with lists to one target behind a proxy (which drops `drop` from every manifest
/// PUT's answer, when given); the registries are kept alive by the last value.
async fn cold_list_promotion(drop: Option<&str>) -> (Report, Proxy, impl Sized) {
    let (p1, a, keep) = lists_to_one_target().await;
    if let Some(h) = drop {
        let rule = tk::FaultRule::new(tk::FaultAction::DropHeader(h.to_string()))
            .method("PUT")
            .path_contains("/manifests/");
        p1.add_rule(rule.always());
    }
    let r = run(&a).await;
    (r, p1, keep)
}

/// For each manifest PUT under a tag (not by digest), the methods of the later requests to the same
/// path: what the run asked about that tag after writing it.
fn asked_after_each_tag_put(log: &[tk::RequestRecord]) -> Vec<(String, Vec<String>)> {
    let tag_put = |x: &tk::RequestRecord| {
        x.method == "PUT" && x.kind == PathKind::Manifests && !x.path.contains("/sha256:")
    };
    let after = |i: usize, path: &str| {
        let later = log[i + 1..].iter().filter(|x| x.path == path);
        later.map(|x| x.method.clone()).collect()
    };
    let puts = log.iter().enumerate().filter(|(_, x)| tag_put(x));
    puts.map(|(i, x)| (x.path.clone(), after(i, &x.path))).collect()
}

/// Manifest GETs by digest (a list's children read back).
fn child_gets(log: &[tk::RequestRecord]) -> usize {
    log.iter()
        .filter(|x| x.method == "GET" && x.kind == PathKind::Manifests && x.path.contains("/sha256:"))
        .count()
}

/// An image's manifests go as soon as its own blobs are there: while a layer of one image is slow
/// to come from the source, the other images are already tagged on the target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_is_tagged_while_another_still_waits_for_a_blob() {
    use copy_containers::manifest::Content;
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    let staged = stage(&client(&src), NAMES, &["os"]).await;
    let mut layers = Vec::new();
    for s in &staged {
        let m = client(&src).get_manifest(&s.repository, FH).await.unwrap();
        let Content::Image { layers: l, .. } = m.content().unwrap() else {
            panic!("an image")
        };
        layers.push(l.into_iter().map(|d| d.digest.to_string()).collect::<Vec<_>>());
    }
    // a layer of the last image that no other image has
    let (last, others) = layers.split_last().unwrap();
    let slow = last
        .iter()
        .find(|d| others.iter().all(|o| !o.contains(d)))
        .expect("a layer of its own")
        .clone();
    let sp = Proxy::for_registry(&src).unwrap();
    let delay = tk::FaultAction::Delay(std::time::Duration::from_millis(1500));
    sp.add_rule(tk::FaultRule::new(delay).method("GET").path_contains(&slow));
    let p1 = Proxy::for_registry(&t1).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let a = promote_args(
        proxy_args(&sp.host(), NS),
        vec![proxy_args(&p1.host(), NS)],
        NAMES,
        tmp.path(),
    );
    let r = run(&a).await;
    assert!(r.ok, "{:#?}", r.errors);
    assert_eq!(sp.rule_fired(0), 1);
    let log = p1.log();
    let hex = slow.trim_start_matches("sha256:");
    let slow_upload = log
        .iter()
        .position(|x| x.method == "PUT" && x.query.as_deref().is_some_and(|q| q.contains(hex)))
        .expect("the slow layer uploaded");
    let first_tag = log
        .iter()
        .position(|x| x.method == "PUT" && x.kind == PathKind::Manifests)
        .expect("a manifest pushed");
    assert!(
        first_tag < slow_upload,
        "no image was tagged before the slow layer came: {log:#?}"
    );
}

/// The big base layers go first but do not hold every transfer slot: while they are slow to come
/// from the source, the small layers keep flowing beside them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_layers_flow_beside_slow_big_ones() {
    use copy_containers::manifest::Content;
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    let opts = copy_containers::stage::StageOptions {
        names: ["base", "nova-compute", "os"].map(String::from).to_vec(),
        base_layer_size: 3 << 19,
        unique_layer_size: 8 << 10,
        ..Default::default()
    };
    let staged = copy_containers::stage::stage(&client(&src), &opts)
        .await
        .expect("stage");
    let (mut big, mut small) = (vec![], vec![]);
    for s in &staged {
        let m = client(&src).get_manifest(&s.repository, FH).await.unwrap();
        if let Content::Image { layers, .. } = m.content().unwrap() {
            for l in layers {
                let to = if l.size >= 1 << 20 { &mut big } else { &mut small };
                to.push(l.digest.to_string());
            }
        }
    }
    big.sort();
    big.dedup();
    assert_eq!(big.len(), 3, "three base layers");
    let sp = Proxy::for_registry(&src).unwrap();
    for d in &big {
        let slow = tk::FaultAction::Delay(std::time::Duration::from_millis(1500));
        sp.add_rule(tk::FaultRule::new(slow).method("GET").path_contains(d));
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        proxy_args(&sp.host(), NS),
        vec![registry_args(&t1, NS)],
        &["base", "nova-compute", "os"],
        tmp.path(),
    );
    a.blob_concurrency = Some(2);
    let r = run(&a).await;
    assert!(r.ok, "{:#?}", r.errors);
    let gets: Vec<String> = sp
        .log()
        .into_iter()
        .filter(|x| x.method == "GET" && x.kind == PathKind::Blobs)
        .map(|x| x.path)
        .collect();
    let is = |set: &[String], p: &str| set.iter().any(|d| p.ends_with(d.as_str()));
    let first_big = gets.iter().position(|p| is(&big, p)).expect("a big layer");
    let small_before = gets[..first_big].iter().filter(|p| is(&small, p)).count();
    assert!(
        small_before > 0,
        "small layers waited for the big ones: {gets:#?}"
    );
}
