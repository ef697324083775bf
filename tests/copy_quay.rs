//! copy-quay's config file as ci-config holds it (`tests/fixtures/copy-quay/config.yaml`): every
//! entry gets its release, distribution and version, and copy-quay's command line is mapped onto an
//! entry as its two steps need.

use std::path::{Path, PathBuf};

use copy_containers::config::{self, ContainersSource, HashSource};

const REAL_CONFIG: &str = "fixtures/copy-quay/config.yaml";
const AGG: &str = "d7c3cd922f91d83aacb5d7555de9d5bc";

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(rel)
}

/// Every entry of ci-config's copy-quay config: its release, distribution and version, whatever
/// the entry's name says or does not, and what it takes to run as copy-quay's two steps.
#[test]
fn every_entry_of_the_real_config_gets_its_distribution() {
    let c = config::load_releases(&fixture(REAL_CONFIG)).unwrap();
    let want = [
        ("mastercentos9", "master", "centos", "9"),
        ("wallaby", "wallaby", "centos", "8"),
        ("wallabycentos9", "wallaby", "centos", "9"),
        ("zedcentos9", "zed", "centos", "9"),
        ("train8", "train", "centos", "8"),
    ];
    assert_eq!(c.names(), want.map(|w| w.0));
    for (name, release, distro, version) in want {
        let (_, e) = c.entry(name).unwrap();
        let a = c.entry_args(e);
        let got = (
            a.release.as_deref(),
            a.distro_name.as_deref(),
            a.distro_version.as_deref(),
        );
        assert_eq!(got, (Some(release), Some(distro), Some(version)), "{name}");
        let plan = c.plan(e, &config::Overrides::default());
        assert_eq!(plan.distro, format!("{distro}{version}"), "{name}");
    }
    // train is an old release: its images are centos-binary-*, its list overcloud_containers.yaml.
    let (_, train) = c.entry("train8").unwrap();
    assert_eq!(
        c.entry_args(train).container_name_prefix.as_deref(),
        Some("centos-binary")
    );
    assert!(c
        .plan(train, &config::Overrides::default())
        .list_text()
        .contains("overcloud_containers.yaml"));

    // The two steps: the list from the build job (never another source), the hash from its log
    // (copy) or DLRN (tag); the Quay API only with a token, for the registry on its host.
    use copy_containers::config::copy_quay::{CopyQuayJob, Step, Token, QUAY_API};
    let job = |release: &str| CopyQuayJob {
        release: release.into(),
        token: Some(Token::Env("TOKEN".into())),
        ..Default::default()
    };
    let run = job("wallaby").run(&c, &Step::Copy).unwrap();
    let e = &run.config.releases[run.index];
    assert_eq!(e.containers_source, Some(ContainersSource::Zuul));
    assert_eq!(e.hash_source, Some(HashSource::BuildLog));
    assert!(run.quay_api, "quay.io is the Quay API's host");
    let t = &run.config.options.target_registries.as_ref().unwrap()[0];
    assert_eq!(
        (t.create_repo, t.quay_api.as_deref()),
        (Some(true), Some(QUAY_API))
    );
    let tag = Step::Tag {
        label: "current-tripleo".into(),
    };
    let run = job("zedcentos9")
        .run(&c, &Step::Tag { label: "ci".into() })
        .unwrap();
    let e = &run.config.releases[run.index];
    assert_eq!(e.hash_source, Some(HashSource::Dlrn));
    // DLRN's current-tripleo hash, whatever label is put.
    assert_eq!(e.dlrn_label.as_deref(), Some("current-tripleo"));
    assert_eq!(run.overrides.args.named_label.as_deref(), Some("ci"));
    assert!(job("zedcentos9").run(&c, &tag).is_ok());
    // copy-rdo.sh: pushing to the RDO registry, the quay.io token is not sent there.
    let rdo = CopyQuayJob {
        pull_registry: Some("quay.io".into()),
        push_registry: Some("quay.rdoproject.org".into()),
        hash: Some(AGG.into()),
        push_hash: Some(AGG.into()),
        ..job("train8")
    };
    let run = rdo.run(&c, &Step::Copy).unwrap();
    assert!(!run.quay_api);
    let t = &run.config.options.target_registries.as_ref().unwrap()[0];
    assert_eq!((t.host.as_str(), t.create_repo), ("quay.rdoproject.org", None));
    assert_eq!(run.overrides.full_hash.as_deref(), Some(AGG));
    // Images given are the release's repositories, copied alone at --hash.
    let one = CopyQuayJob {
        images: vec!["openstack-nova-compute".into()],
        ..job("mastercentos9")
    };
    let e = one.run(&c, &Step::Copy).unwrap_err().to_string();
    assert!(e.contains("--hash"), "{e}");
    let one = CopyQuayJob {
        hash: Some(AGG.into()),
        ..one
    };
    let run = one.run(&c, &Step::Copy).unwrap();
    let e = &run.config.releases[run.index];
    assert_eq!(e.options.containers, Some(vec!["nova-compute".to_string()]));
    let other = CopyQuayJob {
        images: vec!["daemon".into()],
        ..one
    };
    let e = other.run(&c, &Step::Copy).unwrap_err().to_string();
    assert!(e.contains("daemon") && e.contains("openstack-<name>"), "{e}");
    let e = job("victoria").run(&c, &Step::Copy).unwrap_err().to_string();
    assert!(e.contains("no release named \"victoria\""), "{e}");
}
