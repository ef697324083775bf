//! The six list files the module writes under `tmp_file_root`, and whether it looked for the ppc64le
//! images (the staging playbook then appends `ppc_manifests:` to the stage-info file), against what
//! the old `containers-promote` role wrote for the same inputs: success, a missing container, a
//! missing ppc64le image, pushing off, manifest lists off.
//!
//! [`role`] follows the role's tasks one by one (ci-config `ci-scripts/container-push/roles/
//! containers-promote`: `tasks/main.yaml` and `tasks/registry-push.yml` at 8b4b95cb,
//! `tasks/manifest-push.yml` at 6df1ceb9, `tasks/check_set_ppc_manifests.yml` at 75d82de2,
//! `templates/generate_list.sh.j2` at 29983b3b, `templates/generate_ppc_containers_list.sh.j2` at
//! 2d019947, `defaults/main.yml` at a14a49a1), independently of the code under test. Where the
//! module differs on purpose (the role's bugs), docs/promoter.md lists it; the one such difference
//! these inputs reach is marked where it is modelled.

mod common;

use std::path::Path;

use copy_containers_testkit as tk;
use serde_json::{json, Value};

use common::*;

const PREFIX: &str = "openstack";
/// The role's `base_container_images` default.
const BASE: &[&str] = &["base"];

/// The inputs of a case (one `v2_s2` target, `ppc_manifests` left to its default, `true`).
struct Case {
    name: &'static str,
    containers_list: &'static [&'static str],
    /// In another order than `containers_list`: the role listed the ppc images in this one's.
    ppc_containers_list: &'static [&'static str],
    target_registries_push: bool,
    manifest_push: bool,
    /// Staged without `<hash>_ppc64le`.
    ppc_missing: &'static [&'static str],
}

/// What the role left: the six files, whether it appended `ppc_manifests: <value>` to the
/// stage-info file (staging), and whether the play failed.
#[derive(Debug, Default, PartialEq)]
struct Files {
    parsed: String,
    missing: String,
    parsed_ppc: String,
    missing_ppc: String,
    pushed: String,
    missed: String,
    ppc_line: bool,
    failed: bool,
}

fn line(name: &str) -> String {
    format!("{PREFIX}-{name}\n")
}

/// The role, task by task, for a case; `at_source(name, tag_suffix)` says what the source holds.
fn role(c: &Case, at_source: impl Fn(&str, &str) -> bool) -> Files {
    // main.yaml, "Truncate containers file": the six files, empty.
    let mut f = Files::default();
    // "Generate list of containers to push": generate_list.sh without arguments, over
    // containers_list: `docker manifest inspect <source>/<prefix>-<name>:<full_hash>`.
    for n in c.containers_list {
        match at_source(n, "") {
            true => f.parsed += &line(n),
            false => f.missing += &line(n),
        }
    }
    // "Fail if there are missing containers", "Fail if containers list contains no images".
    if !f.missing.is_empty() || f.parsed.is_empty() {
        f.failed = true;
        return f;
    }
    // "append base images to containers list": lineinfile, so a line already there is not added.
    for b in BASE {
        if !f.parsed.lines().any(|l| l == line(b).trim_end()) {
            f.parsed += &line(b);
        }
    }
    // registry-push.yml runs for each target only `when: target_registries_push|bool`.
    if !c.target_registries_push {
        return f;
    }
    // After the pushes, manifest-push.yml `when: manifest_push` and the target is v2_s2; it includes
    // check_set_ppc_manifests.yml `when: ppc_manifests` (true by default), which first appends
    // `ppc_manifests: {{ ppc_manifests }}` to /tmp/stage-info.yaml (staging), then runs
    // generate_ppc_containers_list.sh over ppc_containers_list: `<name>:<full_hash>_ppc64le`.
    if c.manifest_push {
        f.ppc_line = true;
        for n in c.ppc_containers_list {
            match at_source(n, "_ppc64le") {
                true => f.parsed_ppc += &line(n),
                false => f.missing_ppc += &line(n),
            }
        }
    }
    // "Check if images were pushed": generate_list.sh target <pushed file> <missed file>, over
    // containers_list on the target, where every image is after the push. (The template at 29983b3b
    // takes its files one argument early, `containers_file=$1`: its pushed list named the images
    // missing on the last target and its missed list stayed empty. The module writes what it
    // meant; docs/promoter.md lists this.)
    for n in c.containers_list {
        f.pushed += &line(n);
    }
    f
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// What the module wrote for a case (`dir` holds the six files, and the run's own reports).
fn ours(dir: &Path, v: &Value) -> Files {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with("copy-containers-promote-"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "containers_missed_list.txt",
            "containers_pushed_list.txt",
            "missing_parsed_containers-centos-8-master.txt",
            "missing_parsed_ppc_containers-centos-8-master.txt",
            "parsed_containers-centos-8-master.txt",
            "parsed_ppc_containers-centos-8-master.txt",
        ]
    );
    Files {
        parsed: read(dir, "parsed_containers-centos-8-master.txt"),
        missing: read(dir, "missing_parsed_containers-centos-8-master.txt"),
        parsed_ppc: read(dir, "parsed_ppc_containers-centos-8-master.txt"),
        missing_ppc: read(dir, "missing_parsed_ppc_containers-centos-8-master.txt"),
        pushed: read(dir, "containers_pushed_list.txt"),
        missed: read(dir, "containers_missed_list.txt"),
        ppc_line: v["ppc_checked"].as_bool().unwrap_or(false),
        failed: v["failed"].as_bool().unwrap(),
    }
}

fn run_module(dir: &Path, args: &Value) -> Value {
    let path = dir.join("args.json");
    std::fs::write(&path, serde_json::to_vec(args).unwrap()).unwrap();
    let out = bin().arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not one JSON object ({e}): {stdout}"))
}

const CASES: &[Case] = &[
    Case {
        name: "success",
        containers_list: &["nova-compute", "neutron-server"],
        ppc_containers_list: &["neutron-server", "nova-compute"],
        target_registries_push: true,
        manifest_push: true,
        ppc_missing: &[],
    },
    Case {
        name: "a missing container",
        containers_list: &["nova-compute", "ghost-api", "neutron-server"],
        ppc_containers_list: &["neutron-server", "nova-compute"],
        target_registries_push: true,
        manifest_push: true,
        ppc_missing: &[],
    },
    Case {
        name: "a missing ppc64le image",
        containers_list: &["nova-compute", "neutron-server"],
        ppc_containers_list: &["neutron-server", "nova-compute"],
        target_registries_push: true,
        manifest_push: true,
        ppc_missing: &["neutron-server"],
    },
    Case {
        name: "pushing off",
        containers_list: &["nova-compute", "neutron-server"],
        ppc_containers_list: &["neutron-server", "nova-compute"],
        target_registries_push: false,
        manifest_push: true,
        ppc_missing: &[],
    },
    Case {
        name: "manifest lists off",
        containers_list: &["nova-compute", "neutron-server"],
        ppc_containers_list: &["neutron-server", "nova-compute"],
        target_registries_push: true,
        manifest_push: false,
        ppc_missing: &[],
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_six_files_and_the_ppc_line_are_the_roles() {
    let staged = ["base", "nova-compute", "neutron-server"];
    // One source with every ppc64le image, one without neutron-server's.
    let full = tk::Registry::plain().unwrap();
    let partial = tk::Registry::plain().unwrap();
    stage(&client(&full), &staged, &[]).await;
    stage(&client(&partial), &staged, &["neutron-server"]).await;
    let tmp = tempfile::tempdir().unwrap();
    for (i, c) in CASES.iter().enumerate() {
        let source = if c.ppc_missing.is_empty() { &full } else { &partial };
        let target = tk::Registry::plain().unwrap();
        let at_source = |n: &str, suffix: &str| {
            staged.contains(&n) && !(suffix == "_ppc64le" && c.ppc_missing.contains(&n))
        };
        let want = role(c, at_source);
        let logs = tmp.path().join(format!("case-{i}"));
        let args = json!({
            "full_hash": FH,
            "named_label": "current-tripleo",
            "containers_list": c.containers_list,
            "ppc_containers_list": c.ppc_containers_list,
            "source_registry": {"host": source.host(), "namespace": NS, "username": "unused",
                                "password": "unused", "secure": false, "schema": "v2_s2"},
            "target_registries": [{"host": target.host(), "namespace": NS, "username": "unused",
                                   "password": "unused", "secure": false, "schema": "v2_s2"}],
            "target_registries_push": c.target_registries_push,
            "manifest_push": c.manifest_push,
            "distro_name": "centos", "distro_version": 8, "release": "master",
            "tmp_file_root": &logs, "local_store": tmp.path().join("store"),
        });
        let v = run_module(tmp.path(), &args);
        assert_eq!(ours(&logs, &v), want, "{}: {v}", c.name);
    }
}

/// The model itself, on the cases' known outcomes (so that a wrong model cannot pass unnoticed).
#[test]
fn the_model_of_the_role_gives_the_known_outcomes() {
    let all = |_: &str, _: &str| true;
    let f = role(&CASES[0], all);
    assert_eq!(
        f.parsed,
        "openstack-nova-compute\nopenstack-neutron-server\nopenstack-base\n"
    );
    assert_eq!(f.parsed_ppc, "openstack-neutron-server\nopenstack-nova-compute\n");
    assert_eq!(f.pushed, "openstack-nova-compute\nopenstack-neutron-server\n");
    assert!(f.ppc_line && !f.failed);
    let f = role(&CASES[1], |n, _| n != "ghost-api");
    assert_eq!(f.missing, "openstack-ghost-api\n");
    assert_eq!(f.parsed, "openstack-nova-compute\nopenstack-neutron-server\n");
    assert!(f.failed && !f.ppc_line && f.pushed.is_empty());
    let f = role(&CASES[2], |n, s| !(n == "neutron-server" && s == "_ppc64le"));
    assert_eq!(
        (f.parsed_ppc.as_str(), f.missing_ppc.as_str()),
        ("openstack-nova-compute\n", "openstack-neutron-server\n")
    );
    assert!(f.ppc_line);
    let f = role(&CASES[3], all);
    assert!(f.pushed.is_empty() && f.parsed_ppc.is_empty() && !f.ppc_line);
    let f = role(&CASES[4], all);
    assert!(!f.pushed.is_empty() && f.parsed_ppc.is_empty() && !f.ppc_line);
}
