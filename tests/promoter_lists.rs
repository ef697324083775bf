//! The container lists as the promoter computes them (ci-config `RepoClient.get_containers_list`),
//! over the real fixture files, for every release/distro pair tripleo-ci's exclude file names: the
//! expected lists are written out here from the promoter's rules (prefix filter, `image_source` filter
//! of current releases, `overcloud_containers.yaml` and `centos-binary-` for the old ones, the osp →
//! rhos release map, excludes per release and distro), not computed by the code under test.

use copy_containers::sources::tripleo_common::{combine, ReleaseRules, TripleoCommonLists};

const CONTAINERS: &str = include_str!("fixtures/tripleo-common/tripleo_containers.yaml");
const OVERCLOUD: &str = include_str!("fixtures/tripleo-common/overcloud_containers.yaml");
const EXCLUDES: &str = include_str!("fixtures/tripleo-ci/build-containers-vars-main.yaml");

/// The image names of a fixture with `prefix`, kept sources only, in file order: read line by line
/// (independently of the YAML parser under test).
fn names_in(text: &str, prefix: &str, sources: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut image: Option<String> = None;
    for line in text.lines() {
        let line = line.trim_start_matches("- ").trim();
        if let Some(i) = line.strip_prefix("imagename: ") {
            image = Some(i.to_string());
        } else if let (Some(s), Some(i)) = (line.strip_prefix("image_source: "), image.take()) {
            let last = i.rsplit('/').next().unwrap().split(':').next().unwrap();
            if let (true, Some(name)) = (
                sources.is_empty() || sources.contains(&s),
                last.strip_prefix(prefix),
            ) {
                if !out.contains(&name.to_string()) {
                    out.push(name.to_string());
                }
            }
        }
    }
    out
}

fn minus(list: &[String], names: &[&str]) -> Vec<String> {
    list.iter()
        .filter(|n| !names.contains(&n.as_str()))
        .cloned()
        .collect()
}

struct Case {
    /// The release as the promoter's config names it.
    release: &'static str,
    distro: &'static str,
    /// Where the exclude file has it.
    excludes_from: &'static str,
    excluded: &'static [&'static str],
    /// The promoter's ppc excludes (`None`: the release has none, the promoter's ppc list is empty).
    promoter_ppc_excluded: Option<&'static [&'static str]>,
    /// This project's ppc excludes (master's when the file does not name the release).
    ppc_excluded: &'static [&'static str],
}

const NMA: &str = "neutron-mlnx-agent";
const TRAIN_7: &[&str] = &[
    "opendaylight",
    "neutron-server-opendaylight",
    NMA,
    "nova-serialproxy",
    "sahara-api",
    "sahara-engine",
    "sensu-client",
];
const TRAIN_8: &[&str] = &[
    "fluentd",
    "opendaylight",
    "neutron-server-opendaylight",
    NMA,
    "nova-serialproxy",
    "sahara-api",
    "sahara-engine",
    "sensu-client",
];
const MASTER_PPC_8: &[&str] = &["ironic-pxe", NMA];

fn case(
    release: &'static str,
    distro: &'static str,
    excludes_from: &'static str,
    excluded: &'static [&'static str],
) -> Case {
    Case {
        release,
        distro,
        excludes_from,
        excluded,
        promoter_ppc_excluded: None,
        ppc_excluded: &[],
    }
}

/// Every (release, distro) of `exclude_containers` in the fixture.
fn cases() -> Vec<Case> {
    vec![
        Case {
            promoter_ppc_excluded: Some(MASTER_PPC_8),
            ppc_excluded: MASTER_PPC_8,
            ..case("master", "centos8", "master.centos8", &[NMA])
        },
        case("master", "centos9", "master.centos9", &[NMA]),
        case("zed", "centos9", "zed.centos9", &[NMA]),
        // wallaby is not in exclude_ppc_containers: master's centos8 ppc excludes apply here, the
        // promoter has none.
        Case {
            ppc_excluded: MASTER_PPC_8,
            ..case("wallaby", "centos8", "wallaby.centos8", &[NMA])
        },
        case("wallaby", "centos9", "wallaby.centos9", &[NMA]),
        case("train", "centos7", "train.centos7", TRAIN_7),
        Case {
            ppc_excluded: MASTER_PPC_8,
            ..case("train", "centos8", "train.centos8", TRAIN_8)
        },
        case("osp18", "redhat9", "rhos-18.redhat9", &[NMA]),
        case("osp17-1", "redhat8", "rhos-17.1.redhat8", &[NMA]),
        case("osp17-1", "redhat9", "rhos-17.1.redhat9", &[NMA]),
        case("osp17", "redhat8", "rhos-17.redhat8", &[NMA]),
        case("osp17", "redhat9", "rhos-17.redhat9", &[NMA]),
        case("osp16-2", "redhat8", "rhos-16.2.redhat8", &[NMA]),
    ]
}

fn run(c: &Case) -> (TripleoCommonLists, Vec<String>) {
    let old = ["queens", "stein", "train", "ussuri", "osp16-2"].contains(&c.release);
    let (file, text, full) = if old {
        // No image_source filter; names must contain centos-binary- (forced, whatever the distro).
        let full = names_in(OVERCLOUD, "centos-binary-", &[]);
        ("overcloud_containers.yaml", OVERCLOUD, full)
    } else {
        let full = names_in(CONTAINERS, "openstack-", &["tripleo", "kolla"]);
        ("tripleo_containers.yaml", CONTAINERS, full)
    };
    let rules = ReleaseRules::for_release(c.release).unwrap();
    let got = combine((file, text), Some(("main.yaml", EXCLUDES)), &rules, c.distro)
        .unwrap_or_else(|e| panic!("{} {}: {e}", c.release, c.distro));
    (got, full)
}

#[test]
fn every_release_and_distro_of_the_exclude_file() {
    for c in cases() {
        let at = format!("{} {}", c.release, c.distro);
        let (got, full) = run(&c);
        assert!(full.len() >= 50, "{at}: {}", full.len());
        assert_eq!(got.listed, full.len(), "{at}");
        let want = minus(&full, c.excluded);
        assert_eq!(got.lists.containers, want, "{at}: containers_list");
        assert_eq!(
            got.excludes.containers_from.as_deref(),
            Some(format!("exclude_containers.{}", c.excludes_from).as_str()),
            "{at}"
        );
        assert!(!got.excludes.containers_defaulted, "{at}");
        let promoter_ppc = match c.promoter_ppc_excluded {
            Some(ex) => minus(&full, ex),
            None => vec![],
        };
        assert_eq!(
            got.promoter_ppc_containers, promoter_ppc,
            "{at}: the promoter's ppc list"
        );
        let ours = minus(&want, c.ppc_excluded);
        assert_eq!(got.lists.ppc_containers.as_ref(), Some(&ours), "{at}: ppc list");
    }
}

#[test]
fn current_releases_drop_unprefixed_and_foreign_images() {
    let (got, full) = run(&case("master", "centos9", "", &[]));
    assert_eq!(full.len(), 86);
    assert_eq!(got.without_prefix, ["tripleo-ansible-ee"]);
    for gone in [
        "tripleo-ansible-ee",
        "ansible-ee",
        "daemon",
        "prometheus",
        "pushgateway",
    ] {
        assert!(!got.lists.containers.contains(&gone.to_string()), "{gone}");
    }
    // tripleo's own haproxy, not ceph's.
    assert!(got.lists.containers.contains(&"haproxy".to_string()));
}

#[test]
fn old_releases_read_every_source_with_the_centos_binary_prefix() {
    let (got, full) = run(&case("train", "centos7", "", &[]));
    assert_eq!(full.len(), 50);
    assert_eq!(
        got.rules.containers_path,
        "container-images/overcloud_containers.yaml"
    );
    // ceph and prom images are kept by source but have no centos-binary- name.
    assert_eq!(
        got.without_prefix,
        ["daemon", "prometheus", "alertmanager", "grafana"]
    );
    // queens' file has no image_source at all: the same names.
    let queens: String = OVERCLOUD
        .lines()
        .filter(|l| !l.contains("image_source"))
        .map(|l| format!("{l}\n"))
        .collect();
    let rules = ReleaseRules::for_release("queens").unwrap();
    let q = combine(("q.yaml", &queens), None, &rules, "centos7").unwrap();
    assert_eq!(q.lists.containers, full);
    // A current release's rules on the same text find nothing, and say why.
    let rules = ReleaseRules::for_release("victoria").unwrap();
    let e = combine(("q.yaml", &queens), None, &rules, "centos8")
        .unwrap_err()
        .to_string();
    assert!(e.contains("q.yaml") && e.contains("image_source"), "{e}");
}
