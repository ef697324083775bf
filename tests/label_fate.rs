//! The label's fate, as an operator reads it: one line over every registry, "already in place" for
//! a rerun that changed nothing, and a warning (with how to roll back) when a promotion moves the
//! label to images built earlier than those it replaced (an older hash promoted again) — compared
//! by the image configs' `created`, on real registries.

mod common;

use bytes::Bytes;
use copy_containers::digest::Digest;
use copy_containers::promote::{self, PromoteArgs, RunOptions};
use copy_containers::registry::Registry;
use copy_containers::report::Report;
use copy_containers_testkit as tk;

use common::*;

/// A hash whose images were built after those of [`FH`].
const NEWER: &str = "0123456789abcdef0123456789abcdef";

/// Put under `to` the image tagged `from` in `repo`, its config's `created` set to `created` (a
/// later build of the same layers).
async fn rebuild(reg: &Registry, repo: &str, from: &str, to: &str, created: &str) {
    let m = reg.get_manifest(repo, from).await.unwrap();
    let mut manifest: serde_json::Value = serde_json::from_slice(&m.bytes).unwrap();
    let old: Digest = manifest["config"]["digest"].as_str().unwrap().parse().unwrap();
    let config = reg.get_blob_bytes(repo, &old, 1 << 20).await.unwrap();
    let mut config: serde_json::Value = serde_json::from_slice(&config).unwrap();
    config["created"] = created.into();
    let config = Bytes::from(serde_json::to_vec(&config).unwrap());
    let digest = Digest::sha256(&config);
    manifest["config"]["digest"] = digest.as_str().into();
    manifest["config"]["size"] = config.len().into();
    reg.upload_bytes(repo, &digest, config).await.unwrap();
    let bytes = Bytes::from(serde_json::to_vec(&manifest).unwrap());
    reg.put_manifest(repo, to, &m.media_type, bytes).await.unwrap();
}

async fn run(a: &PromoteArgs) -> Report {
    let p = a.resolve(promote::model::read_list_file).unwrap();
    promote::run(&p, &RunOptions::default()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_moved_back_to_an_older_build_is_warned_about_with_how_to_roll_back() {
    let src = tk::Registry::plain().unwrap();
    let t1 = tk::Registry::plain().unwrap();
    let t2 = tk::Registry::plain().unwrap();
    let staged = stage(&client(&src), &["base", "nova-compute"], &[]).await;
    for s in &staged {
        rebuild(&client(&src), &s.repository, FH, NEWER, "2026-11-05T08:00:00Z").await;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&t1, NS), registry_args(&t2, NS)],
        &["nova-compute"],
        tmp.path(),
    );
    // The newer build first: the label is new everywhere, nothing to compare.
    a.full_hash = Some(NEWER.into());
    let newer = run(&a).await;
    assert!(newer.ok, "{:#?}", newer.errors);
    assert_eq!(
        newer.label_lines(),
        ["current-tripleo: moved on all 3 registries"]
    );
    assert!(
        newer.label.iter().all(|f| f.built.is_none()),
        "{:#?}",
        newer.label
    );
    // The older hash again: the label moves back on all three registries, and says so.
    a.full_hash = Some(FH.into());
    let older = run(&a).await;
    assert!(older.ok, "{:#?}", older.errors);
    assert_eq!(older.label.len(), 3, "{:#?}", older.label);
    for f in &older.label {
        let b = f.built.as_ref().unwrap_or_else(|| panic!("{f:#?}"));
        assert!(b.backwards, "{f:#?}");
        assert_eq!(
            (b.now.as_str(), b.replaced.as_str()),
            ("2026-11-01T00:00:00Z", "2026-11-05T08:00:00Z")
        );
    }
    let lines = older.label_lines();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(lines[0], "current-tripleo: moved on all 3 registries");
    assert!(
        lines[1].starts_with(
            "warning: current-tripleo now points at images built earlier than those it replaced, on "
        ) && lines[1].contains("rollback"),
        "{lines:#?}"
    );
    let json = serde_json::to_value(&older).unwrap();
    assert_eq!(
        json["label"][0]["built"]["backwards"], true,
        "{:#}",
        json["label"]
    );
    // A rerun of it changed nothing: "already in place", nothing promoted again, no warning.
    let again = run(&a).await;
    assert!(again.ok && !again.changed, "{:#?}", again.errors);
    assert_eq!(
        again.label_lines(),
        ["current-tripleo: already in place on all 3 registries"]
    );
    assert!(
        again
            .outcome_line()
            .starts_with("OK: 2 images already in place on 2 targets (nothing changed)"),
        "{}",
        again.outcome_line()
    );
    // The advice holds: rollback points the label back at the newer build everywhere.
    let p = a.resolve(promote::model::read_list_file).unwrap();
    let back = promote::rollback::run_rollback(&p, false).await;
    assert!(back.ok, "{:#?}", back.errors);
    assert_eq!(
        back.label_lines(),
        ["current-tripleo: moved back on all 3 registries"]
    );
    let nova = staged.iter().find(|s| s.name == "nova-compute").unwrap();
    for reg in [&src, &t1, &t2] {
        let now = client(reg)
            .head_manifest(&nova.repository, "current-tripleo")
            .await
            .unwrap();
        let newer_image = client(&src).head_manifest(&nova.repository, NEWER).await.unwrap();
        assert_eq!(now.map(|h| h.digest), newer_image.map(|h| h.digest));
    }
}
