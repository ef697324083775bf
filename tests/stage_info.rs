//! The promoter's staging switch through the module binary, with stage-info files written the way
//! ci-config's staging code writes them (`tests/common/staging.rs`): its TLS + htpasswd registry
//! (`secure: true`, `url: http://…`, the HTTPS address only in `auth_url`) is spoken to over HTTPS,
//! its certificate unchecked on loopback as docker left it;
//! a file left behind for another hash stops the run before any registry is asked anything and
//! before any file is written; an old file for the same hash is a warning.

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use copy_containers_testkit as tk;
use serde_json::{json, Value};

use common::staging::{stage_info_yaml, Staged};
use common::*;

fn run_module(dir: &Path, args: &Value, env: &[(&str, &Path)]) -> Value {
    let path = dir.join("args.json");
    std::fs::write(&path, serde_json::to_vec(args).unwrap()).unwrap();
    let mut cmd = bin();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.arg(&path).output().unwrap();
    std::fs::remove_file(&path).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not one JSON object ({e}): {stdout}"))
}

/// The images the staging containers scene pushes for `names` (`<ns>/openstack-<name>:<tag>`).
fn images(names: &[&str], no_ppc: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for n in names {
        for suffix in ["", "_ppc64le", "_x86_64"] {
            if !(suffix == "_ppc64le" && no_ppc.contains(n)) {
                out.push(format!("{NS}/openstack-{n}:{FH}{suffix}"));
            }
        }
    }
    out
}

fn set_age(path: &Path, age: Duration) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
}

/// Every file under `dir`, relative.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secure_staging_registry_is_spoken_to_over_https_whatever_url_says() {
    let src = tk::Registry::plain().unwrap();
    // ci-config's staging registry: htpasswd `username` / `password`, its own certificate.
    let secure = tk::Registry::tls_htpasswd("username", "password").unwrap();
    let names = ["base", "nova-compute", "neutron-server"];
    stage(&client(&src), &names, &["neutron-server"]).await;
    let tmp = tempfile::tempdir().unwrap();
    let info = tmp.path().join("stage-info.yaml");
    let source = Staged {
        name: "local-source-registry",
        port: src.port(),
        secure: false,
    };
    let targets = [Staged {
        name: "local-secure-registry-1",
        port: secure.port(),
        secure: true,
    }];
    let text = stage_info_yaml(FH, NS, &source, &targets, &images(&names, &["neutron-server"]));
    assert!(text.contains(&format!(
        "  - auth_url: https://localhost:{0}\n    host: localhost:{0}\n",
        secure.port()
    )));
    assert!(text.contains(&format!("    url: http://localhost:{}\n", secure.port())));
    std::fs::write(&info, &text).unwrap();
    let args = json!({
        "full_hash": FH,
        "named_label": "tripleo-ci-staging-promoted",
        "containers_list": ["nova-compute", "neutron-server"],
        "ppc_containers_list": ["nova-compute", "neutron-server"],
        "manifest_push": "true",
        "stage_info": &info,
        "tmp_file_root": tmp.path().join("logs"), "local_store": tmp.path().join("store"),
    });
    // Nothing trusts its certificate, as on the staging hosts (ci-config's is self-signed and
    // expired): on loopback it is not checked, as docker did not check it.
    let nowhere = tmp.path().join("no-certs.d");
    let v = run_module(tmp.path(), &args, &[("COPY_CONTAINERS_CERTS_D", &nowhere)]);
    assert_eq!(v["failed"], json!(false), "{v}");
    assert_eq!(v["ppc_checked"], json!(true), "{v}");
    let tags = client(&secure)
        .list_tags(&format!("{NS}/openstack-nova-compute"))
        .await
        .unwrap();
    for t in [
        FH.to_string(),
        format!("{FH}_manifest"),
        format!("{FH}_x86_64"),
        format!("{FH}_ppc64le"),
        "tripleo-ci-staging-promoted".to_string(),
    ] {
        assert!(tags.contains(&t), "{t} in {tags:?}");
    }
    assert!(!v.to_string().contains("\"password\":\"password\""), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_info_file_for_another_hash_stops_the_run_before_any_request() {
    let src = tk::Registry::plain().unwrap();
    let tgt = tk::Registry::plain().unwrap();
    let production = tk::Registry::plain().unwrap();
    // Counting proxies: every request to any of them is seen.
    let proxies = [&src, &tgt, &production].map(|r| tk::Proxy::for_registry(r).unwrap());
    let port = |p: &tk::Proxy| p.addr().port();
    let work = tempfile::tempdir().unwrap();
    let info = work.path().join("stage-info.yaml");
    let staged_hash = "360d335e94246d7095672c5aa92b59afa380a059_9e598812";
    let source = Staged {
        name: "local-source-registry",
        port: port(&proxies[0]),
        secure: false,
    };
    let targets = [Staged {
        name: "local-target-registry-1",
        port: port(&proxies[1]),
        secure: false,
    }];
    std::fs::write(&info, stage_info_yaml(staged_hash, NS, &source, &targets, &[])).unwrap();
    set_age(&info, Duration::from_secs(3 * 86_400 + 600));
    let before = std::fs::read(&info).unwrap();
    let out = work.path().join("out");
    std::fs::create_dir(&out).unwrap();
    // What the promoter passes in production, with the report options set.
    let args = json!({
        "full_hash": FH,
        "named_label": "current-tripleo",
        "containers_list": ["nova-compute"],
        "manifest_push": true,
        "source_registry": {"host": proxies[2].host(), "namespace": NS, "insecure": true},
        "target_registries": [{"host": proxies[2].host(), "namespace": "other", "insecure": true}],
        "stage_info": &info,
        "tmp_file_root": out.join("promoter_logs"), "local_store": out.join("store"),
        "report_json": out.join("report.json"), "report_html": out.join("report.html"),
    });
    let v = run_module(work.path(), &args, &[]);
    assert_eq!(v["failed"], json!(true), "{v}");
    let msg = v["msg"].as_str().unwrap();
    for part in [
        staged_hash,
        FH,
        &info.display().to_string(),
        "written 3 days ago",
        &format!("rm {}", info.display()),
    ] {
        assert!(msg.contains(part), "{part:?} in {msg}");
    }
    for (p, what) in proxies
        .iter()
        .zip(["staging source", "staging target", "production"])
    {
        assert_eq!(p.total(), 0, "{what} registry contacted: {:?}", p.log());
    }
    assert_eq!(files_under(&out), Vec::<String>::new(), "files written");
    assert_eq!(
        std::fs::read(&info).unwrap(),
        before,
        "the stage-info file changed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_stage_info_file_for_the_same_hash_is_a_warning() {
    let src = tk::Registry::plain().unwrap();
    let tgt = tk::Registry::plain().unwrap();
    stage(&client(&src), &["base", "nova-compute"], &[]).await;
    let tmp = tempfile::tempdir().unwrap();
    let info = tmp.path().join("stage-info.yaml");
    let source = Staged {
        name: "local-source-registry",
        port: src.port(),
        secure: false,
    };
    let targets = [Staged {
        name: "local-target-registry-1",
        port: tgt.port(),
        secure: false,
    }];
    std::fs::write(&info, stage_info_yaml(FH, NS, &source, &targets, &[])).unwrap();
    set_age(&info, Duration::from_secs(2 * 86_400 + 600));
    let args = json!({
        "full_hash": FH,
        "named_label": "tripleo-ci-staging-promoted",
        "containers_list": ["nova-compute"],
        "stage_info": &info,
        "tmp_file_root": tmp.path().join("logs"), "local_store": tmp.path().join("store"),
    });
    let v = run_module(tmp.path(), &args, &[]);
    assert_eq!(v["failed"], json!(false), "{v}");
    let warnings = v["warnings"].as_array().cloned().unwrap_or_default();
    assert!(
        warnings.iter().any(|w| {
            let w = w.as_str().unwrap_or_default();
            w.contains("is 2 days old") && w.contains(&info.display().to_string())
        }),
        "{v}"
    );
}
