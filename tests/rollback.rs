//! Label rollback ("hash wrongly promoted"): the previous digest is recorded (report and the
//! `previous-<label>` tag) and `rollback` restores it on every registry, refusing where a later
//! promotion already moved the label.

mod common;

use copy_containers::promote::{self, RunOptions};
use copy_containers_testkit::{self as tk, skopeo_inspect_digest};

use common::*;

const FH2: &str = "360d335e94246d7095672c5aa92b59afa380a059_9e598812";

async fn stage_hash(
    reg: &copy_containers::registry::Registry,
    fh: &str,
    seed: u64,
) -> Vec<copy_containers::stage::StagedImage> {
    let opts = copy_containers::stage::StageOptions {
        names: vec!["base".into(), "nova-compute".into()],
        full_hash: fh.into(),
        seed,
        base_layer_size: 16 << 10,
        unique_layer_size: 4 << 10,
        ..Default::default()
    };
    copy_containers::stage::stage(reg, &opts).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_restores_the_previous_digest_on_every_registry() {
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    let t2 = tk::Registry::tls_htpasswd("robot", "rollback-pw-1").unwrap();
    let old = stage_hash(&client(&src), FH, 1).await;
    let new = stage_hash(&client(&src), FH2, 2).await;
    let tmp = tempfile::tempdir().unwrap();
    let targets = vec![registry_args(&t1, NS), registry_args(&t2, NS)];
    let mut a = promote_args(registry_args(&src, NS), targets, &["nova-compute"], tmp.path());
    let r = promote::run(
        &a.resolve(promote::model::read_list_file).unwrap(),
        &RunOptions::default(),
    )
    .await;
    assert!(r.ok, "{:#?}", r.errors);
    // the wrong hash is promoted: the label moves, the old image is kept as previous-<label>
    a.full_hash = Some(FH2.into());
    let p2 = a.resolve(promote::model::read_list_file).unwrap();
    let r = promote::run(&p2, &RunOptions::default()).await;
    assert!(r.ok, "{:#?}", r.errors);
    let label_entries: Vec<_> = r
        .containers
        .iter()
        .flat_map(|c| c.entries.iter())
        .filter(|e| e.tag == "current-tripleo")
        .collect();
    assert_eq!(label_entries.len(), 2 * 3, "2 images × (2 targets + source)");
    for e in &label_entries {
        let want_prev = &old
            .iter()
            .find(|s| s.repository == e.repository)
            .unwrap()
            .x86_digest;
        assert_eq!(
            e.previous.as_ref(),
            Some(want_prev),
            "previous digest recorded in the report"
        );
    }
    for reg in [&src, &t1, &t2] {
        for (o, n) in old.iter().zip(&new) {
            assert_eq!(
                skopeo_inspect_digest(reg, &format!("{}:current-tripleo", n.repository)).unwrap(),
                n.x86_digest
            );
            assert_eq!(
                skopeo_inspect_digest(reg, &format!("{}:previous-current-tripleo", o.repository)).unwrap(),
                o.x86_digest
            );
        }
    }
    // a dry run changes nothing
    let dry = promote::rollback::run_rollback(&p2, true).await;
    assert!(dry.ok && dry.changed, "{:#?}", dry.errors);
    // the source is labelled too, yet it is the source: its role says so (the table marks it `*`)
    let roles: Vec<(String, String)> = dry
        .registries
        .iter()
        .map(|s| (s.host.clone(), s.role.clone()))
        .collect();
    assert!(roles.contains(&(src.host(), "source".into())), "{roles:?}");
    assert_eq!(roles.iter().filter(|r| r.1 == "target").count(), 2, "{roles:?}");
    assert_eq!(
        skopeo_inspect_digest(&t1, &format!("{}:current-tripleo", new[0].repository)).unwrap(),
        new[0].x86_digest
    );
    // roll back through the binary: every registry points at the old digests again
    let out = bin()
        .args([
            "rollback",
            "--full-hash",
            FH2,
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
        .args([
            "--target",
            &format!(
                "host={},namespace={NS},ca_file={},username=robot,password_env=RB_PW",
                t2.host(),
                t2.ca_pem_path().unwrap().display()
            ),
        ])
        .arg("--tmp-file-root")
        .arg(tmp.path())
        .env("RB_PW", "rollback-pw-1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for reg in [&src, &t1, &t2] {
        for o in &old {
            assert_eq!(
                skopeo_inspect_digest(reg, &format!("{}:current-tripleo", o.repository)).unwrap(),
                o.x86_digest
            );
        }
    }
    // again: nothing to do, not an error
    let again = promote::rollback::run_rollback(&p2, false).await;
    assert!(again.ok && !again.changed, "{:#?}", again.errors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_refuses_where_a_later_promotion_moved_the_label() {
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    stage_hash(&client(&src), FH, 1).await;
    let new = stage_hash(&client(&src), FH2, 2).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&t1, NS)],
        &["nova-compute"],
        tmp.path(),
    );
    let p1 = a.resolve(promote::model::read_list_file).unwrap();
    assert!(promote::run(&p1, &RunOptions::default()).await.ok);
    a.full_hash = Some(FH2.into());
    assert!(
        promote::run(
            &a.resolve(promote::model::read_list_file).unwrap(),
            &RunOptions::default()
        )
        .await
        .ok
    );
    // rolling back FH (not what the label points at now) must not touch anything
    let r = promote::rollback::run_rollback(&p1, false).await;
    assert!(!r.ok);
    assert!(
        r.errors.iter().any(|e| e.contains("not rolled back")),
        "{:#?}",
        r.errors
    );
    assert_eq!(
        skopeo_inspect_digest(&t1, &format!("{}:current-tripleo", new[0].repository)).unwrap(),
        new[0].x86_digest
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_uses_the_local_label_history_without_previous_tags() {
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    let old = stage_hash(&client(&src), FH, 1).await;
    stage_hash(&client(&src), FH2, 2).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&t1, NS)],
        &["nova-compute"],
        tmp.path(),
    );
    a.keep_previous_label = Some(false);
    assert!(
        promote::run(
            &a.resolve(promote::model::read_list_file).unwrap(),
            &RunOptions::default()
        )
        .await
        .ok
    );
    a.full_hash = Some(FH2.into());
    let p2 = a.resolve(promote::model::read_list_file).unwrap();
    assert!(promote::run(&p2, &RunOptions::default()).await.ok);
    let c = client(&t1);
    assert!(c
        .head_manifest(&old[0].repository, "previous-current-tripleo")
        .await
        .unwrap()
        .is_none());
    let history = copy_containers::store::Store::open(tmp.path().join("store"))
        .unwrap()
        .label_history("master")
        .unwrap();
    assert!(
        history
            .iter()
            .any(|r| r.registry == t1.host() && r.previous_digest.is_some()),
        "{history:#?}"
    );
    let r = promote::rollback::run_rollback(&p2, false).await;
    assert!(r.ok, "{:#?}", r.errors);
    for o in &old {
        assert_eq!(
            skopeo_inspect_digest(&t1, &format!("{}:current-tripleo", o.repository)).unwrap(),
            o.x86_digest
        );
        assert_eq!(
            skopeo_inspect_digest(&src, &format!("{}:current-tripleo", o.repository)).unwrap(),
            o.x86_digest
        );
    }
}
