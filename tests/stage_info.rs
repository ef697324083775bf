//! The promoter's staging switch through the module binary, with stage-info files written the way
//! ci-config's staging code writes them (`tests/common/staging.rs`): its TLS + htpasswd registry
//! (`secure: true`, `url: http://…`, the HTTPS address only in `auth_url`) is spoken to over HTTPS,
//! its certificate unchecked on loopback as docker left it.

mod common;

use std::path::Path;

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
