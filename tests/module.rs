//! The binary as an Ansible module, run the way Ansible runs it (one argument: a JSON args file),
//! against real registries: promote, idempotence (`changed: false`), check mode, diff, secrets
//! censored, Ansible-style argument errors.

mod common;

use copy_containers::module::args;
use copy_containers_testkit::{self as tk, skopeo_inspect_digest};
use serde_json::{json, Value};

use common::*;

fn run_module(dir: &std::path::Path, args: &Value) -> (Value, String, i32) {
    let path = dir.join(format!("args-{}.json", fastrand_name()));
    std::fs::write(&path, serde_json::to_vec(args).unwrap()).unwrap();
    let out = bin().arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let v: Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not one JSON object ({e}): {stdout}"));
    (
        v,
        stdout + &String::from_utf8_lossy(&out.stderr),
        out.status.code().unwrap_or(-1),
    )
}

fn fastrand_name() -> String {
    format!(
        "{:?}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

fn reg(r: &tk::Registry) -> Value {
    let mut v = json!({"host": r.host(), "namespace": NS, "schema": "v2_s2"});
    if r.is_tls() {
        v["ca_file"] = json!(r.ca_pem_path().unwrap());
        let (u, p) = r.credentials().unwrap();
        v["username"] = json!(u);
        v["password"] = json!(p);
        v["auth_url"] = json!(r.url());
    } else {
        v["username"] = json!("unused");
        v["password"] = json!("unused");
        v["secure"] = json!(false);
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_promotes_is_idempotent_and_never_prints_secrets() {
    let src = tk::Registry::plain().unwrap();
    let tgt = tk::Registry::tls_htpasswd("robot", "Module-S3cret-pw").unwrap();
    let staged = stage(
        &client(&src),
        &["base", "nova-compute", "neutron-server"],
        &["neutron-server"],
    )
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let args = json!({
        "full_hash": FH,
        "named_label": "current-tripleo",
        "containers_list": ["nova-compute", "neutron-server"],
        "ppc_containers_list": ["nova-compute", "neutron-server"],
        "source_registry": reg(&src),
        "target_registries": [reg(&tgt)],
        "manifest_push": "true",
        "target_registries_push": "yes",
        "distro_version": 9,
        "tmp_file_root": tmp.path(),
        // every per-image detail in the result (the short result is checked at 150 images below)
        "full_result": true,
        "_ansible_check_mode": false,
        "_ansible_diff": true,
        "_ansible_verbosity": 3,
        "_ansible_version": "2.19.4",
        "_ansible_some_future_key": {"x": 1},
    });
    // check mode first: would change, changes nothing
    let mut check = args.clone();
    check["_ansible_check_mode"] = json!(true);
    let (r, all, _) = run_module(tmp.path(), &check);
    assert_eq!(r["failed"], json!(false), "{r:#}");
    assert_eq!(r["changed"], json!(true));
    assert!(r["msg"].as_str().unwrap().contains("check mode"));
    // check mode shows the plan: per target, the images, lists, read-backs and label moves
    assert_eq!(r["plan"]["targets"][0]["registry"], json!(tgt.host()), "{r:#}");
    assert!(r["plan"]["targets"][0]["images"].as_u64().unwrap() >= 1, "{r:#}");
    assert!(client(&tgt).catalog(100).await.unwrap().is_empty());
    assert!(!all.contains("Module-S3cret-pw"));
    // the promotion
    let (r, all, code) = run_module(tmp.path(), &args);
    assert_eq!(r["failed"], json!(false), "{r:#}");
    assert_eq!(code, 0);
    assert_eq!(r["changed"], json!(true));
    assert_eq!(
        r["ppc_manifests"],
        json!(false),
        "neutron-server has no ppc image"
    );
    assert_eq!(r["ppc_missing"], json!(["neutron-server"]));
    assert!(r["diff"]["after"].as_str().unwrap().contains("current-tripleo"));
    assert!(!all.contains("Module-S3cret-pw"), "secret in output");
    assert_eq!(
        r["invocation"]["module_args"]["target_registries"][0]["password"],
        json!("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER")
    );
    for s in staged.iter().filter(|s| s.name != "base") {
        assert_eq!(
            skopeo_inspect_digest(&tgt, &format!("{}:current-tripleo", s.repository)).unwrap(),
            s.x86_digest
        );
    }
    let nova = r["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "nova-compute")
        .unwrap();
    assert_eq!(nova["manifest_architectures"], json!(["amd64", "ppc64le"]));
    // again: nothing changes
    let (r, _, _) = run_module(tmp.path(), &args);
    assert_eq!(r["failed"], json!(false), "{r:#}");
    assert_eq!(r["changed"], json!(false), "{r:#}");
    // check mode after the promotion: nothing would change
    let (r, _, _) = run_module(tmp.path(), &check);
    assert_eq!(r["changed"], json!(false), "{r:#}");
    // verify action
    let mut v = args.clone();
    v["action"] = json!("verify");
    let (r, _, _) = run_module(tmp.path(), &v);
    assert_eq!(r["failed"], json!(false), "{r:#}");
    assert_eq!(r["changed"], json!(false));
    // a wrong password: failed, names the registry, never the password
    let mut bad = args.clone();
    bad["target_registries"][0]["password"] = json!("Wrong-Pa55word-zz");
    let (r, all, code) = run_module(tmp.path(), &bad);
    assert_eq!(r["failed"], json!(true));
    assert_eq!(code, 1);
    assert!(r["msg"].as_str().unwrap().contains(&tgt.host()), "{}", r["msg"]);
    assert!(!all.contains("Wrong-Pa55word-zz") && !all.contains("Module-S3cret-pw"));
}

#[test]
fn module_argument_errors_use_ansible_wording() {
    let tmp = tempfile::tempdir().unwrap();
    let base = json!({"full_hash": FH, "named_label": "x", "source_registry": {"host": "127.0.0.1:1", "namespace": "n"}, "containers_list": ["a"]});
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"bogus": 1}),
            "Unsupported parameters for (copy_containers) module: bogus",
        ),
        (
            json!({"named_label": "x"}),
            "missing required arguments: full_hash",
        ),
        (
            json!({"action": "explode"}),
            "value of action must be one of: promote, verify, tag, rollback, delete_local, got: explode",
        ),
        (
            json!({"manifest_push": "perhaps"}),
            "argument 'manifest_push' is of type str and we were unable to convert to bool",
        ),
        (
            json!({"retries": [1]}),
            "argument 'retries' is of type list and we were unable to convert to int",
        ),
        (json!({"full_hash": "abc; rm -rf /"}), "full_hash"),
        (json!({"containers_list": []}), "empty"),
        (json!({"containers_list": ["../etc"]}), "../etc"),
        (json!({"containers_list": ["Nova Compute"]}), "Nova Compute"),
        (
            json!({"source_registry": {"host": "h:99999", "namespace": "n"}}),
            "port",
        ),
        (
            json!({"source_registry": {"host": "h", "namespace": "n", "flavour": "x"}}),
            "flavour",
        ),
        (json!({"target_registries": "not json"}), "target_registries"),
    ];
    for (patch, want) in cases {
        let mut a = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            a[k] = v.clone();
        }
        if patch.get("named_label").is_some() && patch.as_object().unwrap().len() == 1 {
            a = patch.clone();
        }
        let (r, all, code) = run_module(tmp.path(), &a);
        assert_eq!(r["failed"], json!(true), "{patch}: {r}");
        assert_eq!(code, 1);
        let msg = r["msg"].as_str().unwrap();
        assert!(msg.contains(want), "{patch}: {msg}");
        assert_eq!(r["kind"], json!("invalid"), "{patch}: {r}");
        assert!(!all.contains("panicked"), "{all}");
    }
    // not JSON at all: a failed result, not a crash
    let p = tmp.path().join("garbage.json");
    std::fs::write(&p, b"{ not json").unwrap();
    let out = bin().arg(&p).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["failed"], json!(true));
}

/// Every failure has the one failed shape (failed, changed, msg) and says its cause's kind: a
/// registry nobody answers is `unreachable`, whether the run failed on it or could not start.
#[test]
fn a_failure_says_its_kind() {
    let tmp = tempfile::tempdir().unwrap();
    let args = json!({"action": "verify", "full_hash": FH, "named_label": "current-tripleo",
        "containers_list": ["nova-compute"], "retries": 1, "tmp_file_root": tmp.path(),
        "local_store": tmp.path().join("store"),
        "source_registry": {"host": "127.0.0.1:9", "namespace": "ns", "insecure": true},
        "target_registries": [{"host": "127.0.0.1:9", "namespace": "ns2", "insecure": true}]});
    let (r, _, code) = run_module(tmp.path(), &args);
    assert_eq!((r["failed"].clone(), code), (json!(true), 1), "{r}");
    assert_eq!(r["changed"], json!(false), "{r}");
    assert_eq!(r["kind"], json!("unreachable"), "{r}");
    // An action that cannot even start (the store is a file): its error's kind.
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let (r, _, _) = run_module(
        tmp.path(),
        &json!({"action": "delete_local", "scope": "all", "local_store": file}),
    );
    assert_eq!(r["failed"], json!(true), "{r}");
    assert!(r["kind"].is_string() && r["kind"] != json!("invalid"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_keeps_local_copies_deletes_them_verified_and_rolls_back() {
    let src = tk::Registry::plain().unwrap();
    let tgt = tk::Registry::plain().unwrap();
    stage(&client(&src), &["base", "nova-compute"], &[]).await;
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let args = json!({
        "full_hash": FH, "named_label": "current-tripleo", "containers_list": ["nova-compute"],
        "source_registry": reg(&src), "target_registries": [reg(&tgt)],
        "tmp_file_root": tmp.path(), "keep_local": "always", "local_store": store,
    });
    let (r, _, _) = run_module(tmp.path(), &args);
    assert_eq!(r["failed"], json!(false), "{r:#}");
    assert_eq!(r["counts"]["local_kept"], json!(2), "{r:#}");
    assert!(r["local"]["bytes"].as_u64().unwrap() > 0);
    // delete one container: check mode first
    let del = json!({"action": "delete_local", "scope": "container", "containers_list": ["nova-compute"], "release": "master", "local_store": store});
    let mut check = del.clone();
    check["_ansible_check_mode"] = json!(true);
    let (r, _, _) = run_module(tmp.path(), &check);
    assert_eq!(r["changed"], json!(true), "{r:#}");
    assert!(r["msg"].as_str().unwrap().contains("would be removed"));
    let (r, _, _) = run_module(tmp.path(), &del);
    assert_eq!(
        (r["failed"].clone(), r["changed"].clone()),
        (json!(false), json!(true)),
        "{r:#}"
    );
    assert!(r["freed_bytes"].as_u64().unwrap() > 0);
    assert_eq!(r["deleted"][0]["verification"]["ok"], json!(true));
    // again: a no-op, not an error; a warning says what the store holds instead
    let (r, _, _) = run_module(tmp.path(), &del);
    assert_eq!(
        (r["failed"].clone(), r["changed"].clone()),
        (json!(false), json!(false)),
        "{r:#}"
    );
    let w = r["warnings"][0].as_str().unwrap_or_default();
    assert!(w.contains("matches") && w.contains("openstack-base"), "{r:#}");
    // scope container without names: Ansible-style error
    let (r, _, _) = run_module(
        tmp.path(),
        &json!({"action": "delete_local", "scope": "container"}),
    );
    assert!(
        r["msg"].as_str().unwrap().contains("missing: containers_list"),
        "{r:#}"
    );
    // everything
    let (r, _, _) = run_module(
        tmp.path(),
        &json!({"action": "delete_local", "scope": "all", "local_store": store}),
    );
    assert_eq!(
        (r["failed"].clone(), r["changed"].clone()),
        (json!(false), json!(true)),
        "{r:#}"
    );
    // rollback with nothing recorded to go back to: a clear failure
    let mut rb = args.clone();
    rb["action"] = json!("rollback");
    let (r, _, _) = run_module(tmp.path(), &rb);
    assert_eq!(r["failed"], json!(true));
    assert!(
        r["msg"].as_str().unwrap().contains("nothing to roll back to"),
        "{r:#}"
    );
}

/// Ad hoc runs give dictionaries as JSON strings (`-a 'target_registries=[{"password": …}]'`): their
/// secrets are censored once converted, in `invocation.module_args` and everywhere else, also when
/// validation fails on another argument and when the string cannot be read at all.
#[test]
fn module_censors_secrets_inside_json_string_arguments() {
    let tmp = tempfile::tempdir().unwrap();
    let pw = "Adhoc-Js0n-Secret";
    let target = format!(
        r#"[{{"host":"127.0.0.1:9","namespace":"ns","insecure":true,"username":"u","password":"{pw}"}}]"#
    );
    let source = format!(r#"{{"host":"127.0.0.1:9","namespace":"ns","insecure":"yes","token":"{pw}-tok"}}"#);
    let base = json!({
        "action": "verify", "full_hash": FH, "named_label": "current-tripleo",
        "containers_list": "nova-compute", "retries": "0",
        "source_registry": source, "target_registries": target,
        "tmp_file_root": tmp.path(), "local_store": tmp.path().join("store"),
        "_ansible_verbosity": 3,
    });
    let (v, all, _) = run_module(tmp.path(), &base);
    assert_eq!(v["failed"], json!(true), "{v}"); // nothing listens on port 9
    assert!(!all.contains(pw), "secret printed: {all}");
    let shown = &v["invocation"]["module_args"];
    assert_eq!(
        shown["target_registries"][0]["password"],
        json!("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"),
        "{v}"
    );
    assert_eq!(
        shown["source_registry"]["token"],
        json!("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"),
        "{v}"
    );
    assert_eq!(shown["target_registries"][0]["username"], json!("u"), "{v}");

    // A bad argument elsewhere: the JSON strings are shown as given, with the secret scrubbed.
    let mut bad = base.clone();
    bad["bogus"] = json!(1);
    let (v, all, _) = run_module(tmp.path(), &bad);
    assert!(
        v["msg"].as_str().unwrap().contains("Unsupported parameters"),
        "{v}"
    );
    assert!(!all.contains(pw), "secret printed: {all}");

    // An unreadable JSON string naming a password is hidden whole.
    let mut broken = base.clone();
    broken["target_registries"] = json!(format!(r#"[{{"host": "h", "password": "{pw}""#));
    let (v, all, _) = run_module(tmp.path(), &broken);
    assert_eq!(v["failed"], json!(true), "{v}");
    assert!(!all.contains(pw), "secret printed: {all}");
    assert_eq!(
        v["invocation"]["module_args"]["target_registries"],
        json!("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"),
        "{v}"
    );
}

/// `verify` changes nothing, so check mode runs it for real: a missing image fails the task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_verify_really_verifies_in_check_mode() {
    let src = tk::Registry::plain().unwrap();
    let tgt = tk::Registry::plain().unwrap();
    stage(&client(&src), &["base", "nova-compute"], &[]).await;
    let tmp = tempfile::tempdir().unwrap();
    let args = json!({
        "action": "verify", "full_hash": FH, "named_label": "current-tripleo",
        "containers_list": ["nova-compute"],
        "source_registry": reg(&src), "target_registries": [reg(&tgt)],
        "tmp_file_root": tmp.path(), "local_store": tmp.path().join("store"),
        "_ansible_check_mode": true,
    });
    let (v, _, _) = run_module(tmp.path(), &args);
    assert_eq!(v["failed"], json!(true), "nothing was pushed to the target: {v}");
    assert_eq!(v["changed"], json!(false), "{v}");
    assert!(v["counts"]["missed"].as_u64().is_some_and(|m| m > 0), "{v}");
    assert_eq!(v["status"], json!("failed"), "{v}");
}

/// `push_hash` through the module: the targets get the images under it, `verify` and `tag` on
/// `registries` read them there; the source keeps the hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_push_hash_pushes_verifies_and_tags_under_it() {
    let src = tk::Registry::plain().unwrap();
    let tgt = tk::Registry::plain().unwrap();
    let staged = stage(&client(&src), &["base", "nova-compute"], &[]).await;
    let tmp = tempfile::tempdir().unwrap();
    let args = json!({
        "full_hash": FH,
        "push_hash": "module-pushed",
        "named_label": "current-tripleo",
        "containers_list": "nova-compute",
        "source_registry": reg(&src),
        "target_registries": [reg(&tgt)],
        "manifest_push": true,
        "tmp_file_root": tmp.path(),
    });
    let (r, all, code) = run_module(tmp.path(), &args);
    assert_eq!((code, &r["failed"]), (0, &json!(false)), "{all}");
    let t = client(&tgt);
    for s in &staged {
        assert_eq!(
            skopeo_inspect_digest(&tgt, &format!("{}:module-pushed", s.repository)).unwrap(),
            s.x86_digest
        );
        assert!(t.head_manifest(&s.repository, FH).await.unwrap().is_none());
        assert!(t
            .head_manifest(&s.repository, "module-pushed_manifest")
            .await
            .unwrap()
            .is_some());
    }
    let (r, all, _) = run_module(tmp.path(), &args);
    assert_eq!(r["changed"], json!(false), "{all}");
    let mut verify = args.clone();
    verify["action"] = json!("verify");
    let (r, all, _) = run_module(tmp.path(), &verify);
    assert_eq!(r["failed"], json!(false), "{all}");
    let mut tag = args.clone();
    tag["action"] = json!("tag");
    tag["named_label"] = json!("tripleo-ci-testing");
    tag["registries"] = json!([reg(&tgt)]);
    let (r, all, _) = run_module(tmp.path(), &tag);
    assert_eq!(r["failed"], json!(false), "{all}");
    for s in &staged {
        assert_eq!(
            skopeo_inspect_digest(&tgt, &format!("{}:tripleo-ci-testing", s.repository)).unwrap(),
            s.x86_digest
        );
    }
    // Without push_hash the targets have no image at the hash: verify fails and says so.
    verify.as_object_mut().unwrap().remove("push_hash");
    let (r, all, code) = run_module(tmp.path(), &verify);
    assert_eq!((code, &r["failed"]), (1, &json!(true)), "{all}");
}

/// Every file under `dir`, with its bytes.
fn tree(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p.clone());
                out.push((p, vec![]));
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_refuses_a_local_store_that_is_not_a_store_and_reuses_only_the_same_source() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join("important")).unwrap();
    std::fs::write(home.join("important/thesis.txt"), b"years of work").unwrap();
    std::fs::create_dir_all(home.join("master/blobs/sha256")).unwrap();
    let before = tree(&home);
    for (scope, extra) in [
        ("all", json!({})),
        ("release", json!({"release": "master"})),
        ("container", json!({"containers_list": ["important"]})),
    ] {
        for check in [true, false] {
            let mut a = json!({"action": "delete_local", "scope": scope, "local_store": home,
                               "_ansible_check_mode": check});
            a.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            let (r, _, code) = run_module(tmp.path(), &a);
            assert_eq!(r["failed"], json!(true), "{scope} check={check}: {r:#}");
            assert_ne!(code, 0);
            assert!(
                r["msg"]
                    .as_str()
                    .unwrap()
                    .contains("not a copy-containers local store"),
                "{r:#}"
            );
            assert_eq!(tree(&home), before, "{scope} check={check} touched the folder");
        }
    }
    // A promotion pointed at it: refused too, in check mode and for real.
    let src = tk::Registry::plain().unwrap();
    let tgt = tk::Registry::plain().unwrap();
    stage(&client(&src), &["base", "nova-compute"], &[]).await;
    let args = json!({
        "full_hash": FH, "named_label": "current-tripleo", "containers_list": ["nova-compute"],
        "source_registry": reg(&src), "target_registries": [reg(&tgt)],
        "tmp_file_root": tmp.path(), "keep_local": "always", "local_store": home,
    });
    for check in [true, false] {
        let mut a = args.clone();
        a["_ansible_check_mode"] = json!(check);
        let (r, _, _) = run_module(tmp.path(), &a);
        assert_eq!(r["failed"], json!(true), "{r:#}");
        assert!(
            r["msg"].to_string().contains("not a copy-containers local store"),
            "{r:#}"
        );
        assert_eq!(tree(&home), before);
    }
    // Kept copies of the real namespace do not stand in for a namespace typo.
    let store = tmp.path().join("store");
    let mut a = args.clone();
    a["local_store"] = json!(store);
    let (r, _, _) = run_module(tmp.path(), &a);
    assert_eq!(r["failed"], json!(false), "{r:#}");
    assert_eq!(r["counts"]["local_kept"], json!(2), "{r:#}");
    for check in [true, false] {
        let mut typo = a.clone();
        typo["source_registry"]["namespace"] = json!("tripleomastr");
        typo["_ansible_check_mode"] = json!(check);
        let (r, _, _) = run_module(tmp.path(), &typo);
        assert_eq!(r["failed"], json!(true), "{r:#}");
        assert_eq!(r["counts"]["found"], json!(0), "{r:#}");
        assert_eq!(r["counts"]["local_reused"], json!(0), "{r:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_keeps_another_hashs_copies_through_the_module_and_the_cli() {
    const FH2: &str = "0123456789abcdef0123456789abcdef";
    let src = tk::Registry::plain().unwrap();
    let tgt = tk::Registry::plain().unwrap();
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
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let st = copy_containers::store::Store::open(&store).unwrap();
    let hashes = || -> Vec<String> {
        let mut v: Vec<String> = st
            .list_release("master")
            .unwrap()
            .into_iter()
            .filter_map(|i| i.hash)
            .collect();
        v.dedup();
        v
    };
    // Hash A's copies kept (as a failed push would keep them).
    let a = json!({
        "full_hash": FH, "named_label": "current-tripleo", "containers_list": ["nova-compute"],
        "source_registry": reg(&src), "target_registries": [reg(&tgt)],
        "tmp_file_root": tmp.path(), "keep_local": "always", "local_store": store,
    });
    let (r, _, _) = run_module(tmp.path(), &a);
    assert_eq!(r["failed"], json!(false), "{r:#}");
    assert_eq!(hashes(), [FH]);
    // Hash B succeeds (check mode, then for real): A's copies stay.
    let mut b = a.clone();
    b["full_hash"] = json!(FH2);
    b["keep_local"] = json!("on_failure");
    for check in [true, false] {
        b["_ansible_check_mode"] = json!(check);
        let (r, _, _) = run_module(tmp.path(), &b);
        assert_eq!(r["failed"], json!(false), "{r:#}");
        assert_eq!(r["counts"]["local_removed"], json!(0), "{r:#}");
        assert_eq!(hashes(), [FH], "check={check}");
    }
    // The same from the command line.
    let cli = |hash: &str, dry: bool| {
        let mut c = bin();
        c.args([
            "promote",
            "--json",
            "--hash",
            hash,
            "--named-label",
            "current-tripleo",
        ])
        .args(["--containers", "nova-compute", "--keep-local", "on_failure"])
        .arg("--local-store")
        .arg(&store)
        .args([
            "--source",
            &format!("host={},namespace={NS},insecure=true", src.host()),
        ])
        .args([
            "--target",
            &format!("host={},namespace={NS},insecure=true", tgt.host()),
        ])
        .arg("--tmp-file-root")
        .arg(tmp.path());
        if dry {
            c.arg("--dry-run");
        }
        let out = c.output().unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    cli(FH2, true);
    cli(FH2, false);
    assert_eq!(hashes(), [FH]);
    // A's own success removes A's copies.
    cli(FH, true);
    assert_eq!(hashes(), [FH], "a dry run removes nothing");
    cli(FH, false);
    assert!(hashes().is_empty());
}

/// Review findings: an all-digit password (YAML gives an integer) is accepted and censored; a password
/// written with JSON escapes inside a JSON-string argument is censored even when another argument is
/// wrong; `verify` under check mode writes no report.
#[test]
fn module_censors_numeric_and_escaped_passwords_and_check_mode_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let reports = tmp.path().join("reports");
    let args = json!({
        "action": "verify", "full_hash": FH, "named_label": "current-tripleo",
        "containers_list": "nova-compute", "retries": "1",
        "source_registry": {"host": "127.0.0.1:9", "namespace": "ns", "insecure": true},
        "target_registries": [{"host": "127.0.0.1:9", "namespace": "ns", "insecure": true,
                               "username": "robot", "password": 87654321987u64}],
        "tmp_file_root": &reports, "local_store": tmp.path().join("store"),
        "_ansible_check_mode": true,
    });
    let (v, all, _) = run_module(tmp.path(), &args);
    assert_eq!(v["failed"], json!(true), "{v}"); // nothing listens on port 9: verified, and failed
    assert!(!v["msg"].as_str().unwrap().contains("invalid type"), "{v}");
    assert!(!all.contains("87654321987"), "secret printed: {all}");
    assert_eq!(
        v["invocation"]["module_args"]["target_registries"][0]["password"],
        json!("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER")
    );
    assert!(
        !reports.exists() || std::fs::read_dir(&reports).unwrap().next().is_none(),
        "check mode wrote {:?}",
        std::fs::read_dir(&reports).map(|d| d.count())
    );

    let escaped =
        r#"[{"host":"127.0.0.1:9","namespace":"ns","username":"robot","password":"Plain\u0050wSecret77"}]"#;
    let bad = json!({
        "action": "verify", "full_hash": FH, "named_label": "current-tripleo",
        "containers_list": "nova-compute", "unknown_opt": "1",
        "source_registry": {"host": "127.0.0.1:9", "namespace": "ns"},
        "target_registries": escaped,
    });
    let (v, all, _) = run_module(tmp.path(), &bad);
    assert!(
        v["msg"].as_str().unwrap().contains("Unsupported parameters"),
        "{v}"
    );
    assert!(
        !all.contains("Plain\\u0050wSecret77") && !all.contains("PlainPwSecret77"),
        "{all}"
    );
    assert_eq!(
        v["invocation"]["module_args"]["target_registries"][0]["password"],
        json!("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"),
        "{v}"
    );
}

/// The promoter's staging switch read by the module: `stage_info` gives the registries (with a
/// password Ansible never sees, here one that looks like a Jinja template) and the hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_reads_the_stage_info_file() {
    let src = tk::Registry::plain().unwrap();
    let tgt = tk::Registry::tls_htpasswd("robot", "Pw{{zz9-stage").unwrap();
    stage(&client(&src), &["base", "nova-compute"], &[]).await;
    let tmp = tempfile::tempdir().unwrap();
    let info = tmp.path().join("stage-info.yaml");
    std::fs::write(
        &info,
        format!(
            "main: {{distro_name: centos, distro_version: 8, release: master}}\n\
             dlrn:\n  promotions:\n    promotion_candidate: {{full_hash: {FH}, name: tripleo-ci-staging}}\n\
             registries:\n  source: {{name: src, host: '{}', port: 1, namespace: {NS}, username: unused, password: unused, secure: false, schema: v2_s2}}\n\
             \x20 targets:\n  - {{name: sec, host: '{}', namespace: {NS}, username: robot, password: 'Pw{{{{zz9-stage', auth_url: '{}', ca_file: '{}', schema: v2_s2}}\n",
            src.host(),
            tgt.host(),
            tgt.url(),
            tgt.ca_pem_path().unwrap().display()
        ),
    )
    .unwrap();
    let args = json!({
        "named_label": "current-tripleo",
        "containers_list": ["nova-compute"],
        // what the playbook passes in production too; the stage-info file wins
        "source_registry": {"host": "quay.rdoproject.org", "namespace": NS},
        "stage_info": &info,
        "tmp_file_root": tmp.path(), "local_store": tmp.path().join("store"),
        "_ansible_verbosity": 3,
    });
    let (v, all, _) = run_module(tmp.path(), &args);
    assert_eq!(v["failed"], json!(false), "{v}");
    assert_eq!(v["full_hash"], json!(FH), "{v}");
    assert!(!all.contains("Pw{{zz9-stage"), "secret printed: {all}");
    // A broken stage-info file is a clear failure naming it.
    std::fs::write(&info, "registries: {}\n").unwrap();
    let (v, _, _) = run_module(tmp.path(), &args);
    assert_eq!(v["failed"], json!(true), "{v}");
    assert!(v["msg"].as_str().unwrap().contains("registries.source"), "{v}");
}

/// Secrets given in a shape the module does not take — a list or a dictionary under `password`
/// or `token`, a list of JSON strings as `target_registries` — never appear, in `msg` nor in
/// `invocation` (the secret-named key is shown as Ansible shows a no_log value); nor does a
/// stage-info password of the wrong YAML type (`!!int`), which serde would quote back.
#[test]
fn module_hides_secrets_given_in_any_shape() {
    let tmp = tempfile::tempdir().unwrap();
    let hidden = json!("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER");
    let base = json!({
        "action": "verify", "full_hash": FH, "named_label": "current-tripleo",
        "containers_list": ["nova-compute"], "retries": 0,
        "source_registry": {"host": "127.0.0.1:9", "namespace": "ns", "insecure": true},
        "target_registries": [{"host": "127.0.0.1:9", "namespace": "ns", "insecure": true}],
        "tmp_file_root": tmp.path(), "local_store": tmp.path().join("store"),
    });
    type Case = (
        &'static str,
        &'static str,
        Box<dyn Fn(&mut Value)>,
        &'static [&'static str],
    );
    let cases: Vec<Case> = vec![
        (
            "a list as a password",
            "Shape-List-Secret-1",
            Box::new(|a| a["target_registries"][0]["password"] = json!(["Shape-List-Secret-1", 9911])),
            &["target_registries", "0", "password"],
        ),
        (
            "a dictionary as a password",
            "Shape-Dict-Secret-2",
            Box::new(|a| a["source_registry"]["password"] = json!({"p": "Shape-Dict-Secret-2"})),
            &["source_registry", "password"],
        ),
        (
            "a list as a token",
            "Shape-Tok-Secret-3",
            Box::new(|a| a["source_registry"]["token"] = json!(["Shape-Tok-Secret-3"])),
            &["source_registry", "token"],
        ),
        (
            "a list of JSON strings",
            "Shape-JsonStr-Secret-4",
            Box::new(|a| {
                a["target_registries"] = json!([
                    r#"{"host": "127.0.0.1:9", "namespace": "ns", "username": "u", "password": "Shape-JsonStr-Secret-4"}"#
                ])
            }),
            &["target_registries", "0", "password"],
        ),
    ];
    for (what, secret, edit, at) in cases {
        let mut args = base.clone();
        edit(&mut args);
        let (v, all, _) = run_module(tmp.path(), &args);
        assert!(!all.contains(secret), "{what}: secret printed: {all}");
        assert!(!all.contains("9911"), "{what}: secret printed: {all}");
        let shown = at
            .iter()
            .fold(&v["invocation"]["module_args"], |v, k| match k.parse::<usize>() {
                Ok(i) => &v[i],
                Err(_) => &v[*k],
            });
        assert_eq!(shown, &hidden, "{what}: {v}");
    }

    // A password written into a registry's host URL: refused, and shown nowhere, not even in the
    // host as `invocation` repeats it.
    let mut args = base.clone();
    args["source_registry"]["host"] = json!("https://robot:Hunter2Secret@127.0.0.1:9");
    let (v, all, _) = run_module(tmp.path(), &args);
    assert_eq!(v["failed"], json!(true), "{v}");
    assert!(!all.contains("Hunter2Secret"), "secret printed: {all}");
    assert!(
        v["invocation"]["module_args"]["source_registry"]["host"]
            .as_str()
            .unwrap()
            .contains("robot:********@127.0.0.1:9"),
        "{v}"
    );

    // A stage-info file whose password YAML cannot read as the type its tag names.
    let info = tmp.path().join("stage-info.yaml");
    std::fs::write(
        &info,
        format!(
            "dlrn:\n  promotions:\n    promotion_candidate: {{full_hash: {FH}}}\n\
             registries:\n  source: {{host: '127.0.0.1:9', namespace: ns, username: u, password: !!int Shape-Yaml-Secret-5}}\n\
             \x20 targets: []\n"
        ),
    )
    .unwrap();
    let mut args = base.clone();
    args["stage_info"] = json!(info);
    let (v, all, _) = run_module(tmp.path(), &args);
    assert_eq!(v["failed"], json!(true), "{v}");
    assert!(!all.contains("Shape-Yaml-Secret-5"), "secret printed: {all}");
    let msg = v["msg"].as_str().unwrap();
    assert!(
        msg.contains("registries.source.password") && msg.contains("not shown"),
        "{msg}"
    );
}

// ---- the argument check alone (no binary, no registry) ------------------------------------------

fn v(x: Value) -> Result<args::Params, String> {
    args::validate(x.as_object().unwrap().clone()).map_err(|e| e.0)
}

fn args_base() -> Value {
    json!({"full_hash": "d7c3cd922f91d83aacb5d7555de9d5bc", "named_label": "current-tripleo", "containers_list": ["a"], "source_registry": {"host": "h", "namespace": "n"}})
}

#[test]
fn ansible_wording() {
    let mut a = args_base();
    a["bogus"] = json!(1);
    let e = v(a).unwrap_err();
    assert!(e.starts_with("Unsupported parameters for (copy_containers) module: bogus. Supported parameters include: action,"), "{e}");
    assert!(e.contains("containers_list (containers)"));
    let e = v(json!({"named_label": "x"})).unwrap_err();
    assert_eq!(
        e,
        "missing required arguments: full_hash (or stage_info), containers_list (or containers_list_file), \
         source_registry (or stage_info)"
    );
    let mut a = args_base();
    a["action"] = json!("foo");
    assert_eq!(
        v(a).unwrap_err(),
        "value of action must be one of: promote, verify, tag, rollback, delete_local, got: foo"
    );
    let mut a = args_base();
    a["manifest_push"] = json!("maybe");
    let e = v(a).unwrap_err();
    assert!(
        e.starts_with("argument 'manifest_push' is of type str and we were unable to convert to bool"),
        "{e}"
    );
    let mut a = args_base();
    a["retries"] = json!("three");
    assert!(v(a).unwrap_err().contains("unable to convert to int"));
    let mut a = args_base();
    a["target_registries"] = json!(["x"]);
    assert!(v(a).unwrap_err().contains("unable to convert to dict"));
}

/// The spec's promotion options are [`PromoteArgs`]' fields: each one it accepts is an option
/// (by name or alias), each option other than the module's own is one of its keys, and a value
/// the spec refuses for a bool or an int is refused by it too.
#[test]
fn spec_is_promote_args() {
    const MODULE_ONLY: &[&str] = &["action", "registries", "stage_info", "scope", "full_result"];
    let e = serde_json::from_value::<copy_containers::promote::PromoteArgs>(json!({"zz_not_a_key": 1}))
        .unwrap_err()
        .to_string();
    let fields: Vec<String> = e
        .split("expected one of ")
        .nth(1)
        .expect("serde names the fields")
        .split(", ")
        .map(|k| k.trim().trim_matches('`').to_string())
        .collect();
    for f in &fields {
        assert!(
            args::SPEC
                .iter()
                .any(|o| o.name == f || o.aliases.contains(&f.as_str())),
            "PromoteArgs field {f} is not in SPEC"
        );
    }
    for o in args::SPEC.iter().filter(|o| !MODULE_ONLY.contains(&o.name)) {
        let known = std::iter::once(&o.name)
            .chain(o.aliases)
            .any(|n| fields.iter().any(|f| f == n));
        assert!(known, "SPEC option {} is not a PromoteArgs field", o.name);
        let bad = match o.kind {
            args::Kind::Bool => json!("maybe"),
            args::Kind::Int => json!("many"),
            _ => continue,
        };
        let r = serde_json::from_value::<copy_containers::promote::PromoteArgs>(json!({ o.name: bad }));
        assert!(r.is_err(), "PromoteArgs accepts {} = {bad}", o.name);
    }
    for k in args::KEEP_LOCAL {
        assert_eq!(
            k.parse::<copy_containers::promote::model::KeepLocal>()
                .unwrap()
                .as_str(),
            *k
        );
    }
}

#[test]
fn typed_arguments() {
    let mut a = args_base();
    a["action"] = json!("tag");
    a["registries"] = json!([{"host": "r", "namespace": "n"}]);
    a["keep_local"] = json!("always");
    let t = v(a).unwrap().typed().unwrap();
    assert_eq!(t.action, args::Action::Tag);
    assert_eq!(t.registries.len(), 1);
    assert_eq!(t.promote.keep_local.as_deref(), Some("always"));
    let mut a = args_base();
    a["action"] = json!("tag");
    a["registries"] = json!([{"host": "r", "bogus": 1}]);
    assert!(v(a)
        .unwrap()
        .typed()
        .unwrap_err()
        .to_string()
        .starts_with("registries: unknown field `bogus`"));
    let t = v(json!({"action": "delete_local", "scope": "all"}))
        .unwrap()
        .typed()
        .unwrap();
    assert_eq!(
        (t.action, t.scope),
        (args::Action::DeleteLocal, Some(args::Scope::All))
    );
}

#[test]
fn conversions_like_ad_hoc() {
    let mut a = args_base();
    a["manifest_push"] = json!("yes");
    a["target_registries_push"] = json!("False");
    a["retries"] = json!("3");
    a.as_object_mut().unwrap().remove("containers_list");
    a["containers"] = json!("a, b,c");
    a["distro_version"] = json!(9);
    a["source_registry"] = json!("{\"host\": \"h\", \"namespace\": \"n\"}");
    a["release"] = Value::Null;
    a["_ansible_check_mode"] = json!(true);
    a["_ansible_diff"] = json!(true);
    a["_ansible_future_key"] = json!("ignored");
    let p = v(a).unwrap();
    assert!(p.check_mode && p.diff);
    assert_eq!(p.values["manifest_push"], json!(true));
    assert_eq!(p.values["target_registries_push"], json!(false));
    assert_eq!(p.values["retries"], json!(3));
    assert_eq!(p.values["containers_list"], json!(["a", "b", "c"]));
    assert_eq!(p.values["distro_version"], json!("9"));
    assert!(p.values["source_registry"].is_object());
    assert!(!p.values.contains_key("release"));
    // tag needs no source when it has registries
    let p = v(
        json!({"action": "tag", "full_hash": "x", "named_label": "y", "containers": "a",
                     "registries": [{"host": "r"}]}),
    )
    .unwrap();
    assert_eq!(p.values["action"], json!("tag"));
    let e = v(json!({"action": "tag", "full_hash": "x", "named_label": "y", "containers": "a"})).unwrap_err();
    assert_eq!(
        e,
        "missing required arguments: registries (or source_registry or stage_info)"
    );
}

/// What `ansible-playbook -v` prints into the log the promoter publishes: the whole result but
/// `invocation` (Ansible leaves that out below -vvv).
fn logged_bytes(v: &Value) -> usize {
    let mut v = v.clone();
    v.as_object_mut().unwrap().remove("invocation");
    serde_json::to_string(&v).unwrap().len()
}

/// The result is short: at 150 images it holds the outcome, the counts, each cause once with a few
/// of its images and the report files, and is no longer than at 10 images but for the digits of
/// the counts (per-image details stay in the JSON report, or come with `full_result`). A success,
/// and a failure with one cause (the target refuses the password).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_result_stays_short_at_150_images() {
    let src = tk::Registry::plain().unwrap();
    let tgt = tk::Registry::plain().unwrap();
    let secure = tk::Registry::tls_htpasswd("robot", "Right-Pa55word").unwrap();
    let names = copy_containers::stage::default_names(150);
    let opts = copy_containers::stage::StageOptions {
        names: names.clone(),
        no_ppc: true,
        base_layers: 1,
        base_layer_size: 512,
        unique_layer_size: 512,
        ..Default::default()
    };
    copy_containers::stage::stage(&client(&src), &opts).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let args = |n: usize, target: Value| {
        json!({
            "full_hash": FH, "named_label": "current-tripleo", "containers_list": names[..n],
            "source_registry": reg(&src), "target_registries": [target],
            "tmp_file_root": tmp.path(), "keep_local": "never",
        })
    };
    let mut wrong = reg(&secure);
    wrong["password"] = json!("Wrong-Pa55word");
    let mut sizes = Vec::new();
    for (what, target) in [("success", reg(&tgt)), ("failure", wrong)] {
        let (small, _, _) = run_module(tmp.path(), &args(10, target.clone()));
        let (big, all, code) = run_module(tmp.path(), &args(150, target));
        let ok = what == "success";
        assert_eq!(big["failed"], json!(!ok), "{big:#}");
        assert_eq!(code, i32::from(!ok));
        assert_eq!(big["counts"]["found"], json!(150), "{big:#}");
        assert_eq!(
            big["counts"]["pushed"],
            json!(if ok { 150 } else { 0 }),
            "{big:#}"
        );
        let files = big["report_files"].as_array().unwrap();
        assert!(
            files.iter().any(|f| f.as_str().unwrap().ends_with(".json")),
            "{big:#}"
        );
        // no per-image list, no secret
        for key in [
            "found",
            "pushed",
            "missed",
            "containers",
            "errors",
            "problems",
            "registries",
        ] {
            assert!(big.get(key).is_none(), "{key} in the short result");
        }
        assert!(!all.contains("Wrong-Pa55word") && !all.contains("Right-Pa55word"));
        if !ok {
            // the cause once, with how many images and three of them
            let causes = big["causes"].as_array().unwrap();
            let auth = &causes[0];
            assert_eq!(auth["kind"], json!("auth"), "{causes:#?}");
            assert_eq!(auth["images"], json!(150), "{causes:#?}");
            assert_eq!(auth["examples"].as_array().unwrap().len(), 3, "{causes:#?}");
            assert!(causes.len() <= 2, "{causes:#?}");
            assert!(
                big["msg"].as_str().unwrap().contains("authentication failed"),
                "{big:#}"
            );
        } else {
            assert_eq!(big["causes"], json!([]));
        }
        let (s, b) = (logged_bytes(&small), logged_bytes(&big));
        println!("FIGURES {{\"result\": \"{what}\", \"images_10\": {s}, \"images_150\": {b}}}");
        assert!(
            b <= s + 64,
            "{what}: {b} bytes at 150 images, {s} at 10: it grows with the images"
        );
        sizes.push(b);
    }
    // The promoter's budget for its whole published log is 15 KB for a 150-image success and 20 KB
    // for a failure with one cause; the result is the part that grew with the release.
    assert!(sizes[0] <= 2_500, "success: {} bytes", sizes[0]);
    assert!(sizes[1] <= 4_000, "failure: {} bytes", sizes[1]);
}
