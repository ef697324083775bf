//! The container list the promoter itself uses: tripleo-common's `tripleo_containers.yaml` at the
//! commit that went into the hash (found through the hash's `versions.csv`), minus the exclude lists
//! of tripleo-ci's build-containers role. This reproduces `containers_list` and
//! `ppc_containers_list` when running without the promoter.

use serde::{Deserialize, Serialize};
use serde_norway::{Mapping, Value};
use url::Url;

use crate::error::{Error, Result};
use crate::sources::hash::{shorten, validate_git_sha};
use crate::sources::http::{base_url, join, Fetcher};
use crate::sources::list::{checked_names, ContainerLists};

/// tripleo-common's repository on opendev (raw files under `/raw/commit/<sha>/…`).
pub const DEFAULT_TRIPLEO_COMMON_URL: &str = "https://opendev.org/openstack/tripleo-common";
/// The exclude lists of tripleo-ci's build-containers role.
pub const DEFAULT_EXCLUDES_URL: &str =
    "https://opendev.org/openstack/tripleo-ci/raw/branch/master/roles/build-containers/vars/main.yaml";
/// The `image_source` values a promotion keeps (others are third-party images).
pub const KEPT_IMAGE_SOURCES: [&str; 2] = ["tripleo", "kolla"];
/// The prefix stripped from image names.
pub const NAME_PREFIX: &str = "openstack-";
/// The release whose excludes apply to releases the exclude file does not name.
pub const DEFAULT_RELEASE: &str = "master";
/// The `versions.csv` row of tripleo-common.
pub const TRIPLEO_COMMON_PROJECT: &str = "openstack-tripleo-common";

/// The exclude lists that apply to one release and distro, and where they came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Excludes {
    pub release: String,
    pub distro: String,
    pub containers: Vec<String>,
    pub ppc_containers: Vec<String>,
    /// Where `containers` came from (`exclude_containers.master.centos9`), if anywhere.
    pub containers_from: Option<String>,
    /// Where `ppc_containers` came from, if anywhere.
    pub ppc_containers_from: Option<String>,
}

/// The result of [`fetch_container_lists`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TripleoCommonLists {
    pub lists: ContainerLists,
    pub excludes: Excludes,
    /// Names listed in tripleo-common before the excludes.
    pub listed: usize,
    pub containers_source: String,
    pub excludes_source: Option<String>,
}

fn bad(source: &str, reason: impl Into<String>) -> Error {
    Error::invalid("tripleo-common container list", source, reason)
}

/// The container name of an image reference: last path element, tag or digest removed,
/// `openstack-` prefix removed.
pub fn image_name(imagename: &str) -> &str {
    let last = imagename.rsplit('/').next().unwrap_or(imagename);
    let last = last.split(['@', ':']).next().unwrap_or(last);
    last.strip_prefix(NAME_PREFIX).unwrap_or(last)
}

/// Parse `tripleo_containers.yaml` (`container_images: [{image_source, imagename}]`) into container
/// names, in file order without duplicates. Only `image_source` tripleo or kolla is kept unless
/// `keep_all_sources` (old releases without `image_source`).
pub fn parse_tripleo_containers(source: &str, yaml: &str, keep_all_sources: bool) -> Result<Vec<String>> {
    let doc: Value = serde_norway::from_str(yaml).map_err(|e| bad(source, format!("not valid YAML: {e}")))?;
    let Some(images) = doc.get("container_images") else {
        return Err(bad(
            source,
            "no `container_images` key; expected container_images: [{image_source, imagename}]",
        ));
    };
    let Value::Sequence(images) = images else {
        return Err(bad(
            source,
            "`container_images` must be a list of {image_source, imagename}",
        ));
    };
    let mut names = Vec::new();
    let mut dropped: Vec<String> = Vec::new();
    for (i, entry) in images.iter().enumerate() {
        let Value::Mapping(entry) = entry else {
            return Err(bad(source, format!("container_images[{i}] is not a mapping")));
        };
        let imagename = match entry.get("imagename") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim(),
            Some(_) => {
                return Err(bad(
                    source,
                    format!("container_images[{i}].imagename is not a string"),
                ))
            }
            None => return Err(bad(source, format!("container_images[{i}] has no imagename"))),
        };
        let image_source = match entry.get("image_source") {
            Some(Value::String(s)) => Some(s.as_str()),
            None | Some(Value::Null) => None,
            Some(_) => {
                return Err(bad(
                    source,
                    format!("container_images[{i}].image_source is not a string"),
                ))
            }
        };
        if !keep_all_sources && !image_source.is_some_and(|s| KEPT_IMAGE_SOURCES.contains(&s)) {
            dropped.push(imagename.to_string());
            continue;
        }
        names.push((
            image_name(imagename).to_string(),
            format!("container_images[{i}]"),
        ));
    }
    if !dropped.is_empty() {
        tracing::debug!(source, dropped = ?dropped, "images with another image_source left out");
    }
    if names.is_empty() {
        let hint = if keep_all_sources {
            String::new()
        } else {
            format!(
                " with image_source {} ({} other entries left out; old releases without image_source \
                 need all sources kept)",
                KEPT_IMAGE_SOURCES.join("/"),
                dropped.len()
            )
        };
        return Err(bad(source, format!("no container images{hint}")));
    }
    checked_names(source, "container_images", names, false)
}

/// A mapping entry by key, comparing keys as text (`17.1:` is a number key in YAML).
fn lookup<'a>(map: &'a Mapping, key: &str) -> Option<&'a Value> {
    map.iter().find_map(|(k, v)| {
        let matches = match k {
            Value::String(s) => s == key,
            Value::Number(n) => n.to_string() == key,
            Value::Bool(b) => b.to_string() == key,
            _ => false,
        };
        matches.then_some(v)
    })
}

fn names_of(source: &str, path: &str, v: &Value) -> Result<Vec<String>> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.trim().to_string()),
                _ => Err(Error::invalid(
                    "exclude lists",
                    source,
                    format!("{path}[{i}] is not a string; expected container names"),
                )),
            })
            .collect(),
        _ => Err(Error::invalid(
            "exclude lists",
            source,
            format!("{path} must be a list of container names"),
        )),
    }
}

/// One exclude section (`exclude_containers` or `exclude_ppc_containers`) resolved for a release
/// and distro: `{release: {distro: [names]}}` or the older `{release: [names]}`; a release the
/// section does not name gets master's excludes (logged).
fn resolve_section(
    source: &str,
    doc: &Value,
    section: &str,
    release: &str,
    distro: &str,
) -> Result<(Vec<String>, Option<String>)> {
    let map = match doc.get(section) {
        None | Some(Value::Null) => {
            tracing::debug!(source, section, "no such exclude section");
            return Ok((Vec::new(), None));
        }
        Some(Value::Mapping(m)) => m,
        Some(_) => {
            return Err(Error::invalid(
                "exclude lists",
                source,
                format!("`{section}` must map releases to lists (or to distros and lists)"),
            ))
        }
    };
    let (release_used, entry) = match lookup(map, release) {
        Some(e) => (release, e),
        None => match lookup(map, DEFAULT_RELEASE) {
            Some(e) => {
                tracing::warn!(
                    source,
                    section,
                    release,
                    "release not in the exclude lists; using master's excludes"
                );
                (DEFAULT_RELEASE, e)
            }
            None => {
                tracing::warn!(
                    source,
                    section,
                    release,
                    "neither the release nor master in the exclude lists; excluding nothing"
                );
                return Ok((Vec::new(), None));
            }
        },
    };
    match entry {
        Value::Mapping(distros) => match lookup(distros, distro) {
            Some(v) => {
                let path = format!("{section}.{release_used}.{distro}");
                Ok((names_of(source, &path, v)?, Some(path)))
            }
            None => {
                tracing::info!(
                    source,
                    section,
                    release = release_used,
                    distro,
                    "no excludes for this distro"
                );
                Ok((Vec::new(), None))
            }
        },
        other => {
            let path = format!("{section}.{release_used}");
            Ok((names_of(source, &path, other)?, Some(path)))
        }
    }
}

/// Parse tripleo-ci's build-containers vars YAML (anchors and aliases resolved) into the
/// excludes for `release` (e.g. `master`, `wallaby`) and `distro` (e.g. `centos9`, `redhat9`).
pub fn parse_excludes(source: &str, yaml: &str, release: &str, distro: &str) -> Result<Excludes> {
    let doc: Value = serde_norway::from_str(yaml)
        .map_err(|e| Error::invalid("exclude lists", source, format!("not valid YAML: {e}")))?;
    if !doc.is_mapping() {
        return Err(Error::invalid(
            "exclude lists",
            source,
            "expected a YAML mapping with exclude_containers / exclude_ppc_containers",
        ));
    }
    let (containers, containers_from) = resolve_section(source, &doc, "exclude_containers", release, distro)?;
    let (ppc_containers, ppc_containers_from) =
        resolve_section(source, &doc, "exclude_ppc_containers", release, distro)?;
    Ok(Excludes {
        release: release.to_string(),
        distro: distro.to_string(),
        containers,
        ppc_containers,
        containers_from,
        ppc_containers_from,
    })
}

/// `containers_list` = names − excludes; `ppc_containers_list` = that − ppc excludes. An empty
/// `containers_list` is an error; the ppc list may be empty.
pub fn apply_excludes(source: &str, names: &[String], excludes: &Excludes) -> Result<ContainerLists> {
    let containers: Vec<String> = names
        .iter()
        .filter(|n| !excludes.containers.contains(n))
        .cloned()
        .collect();
    if containers.is_empty() {
        return Err(Error::invalid(
            "container list",
            source,
            format!(
                "nothing left after the excludes of release {} / {}; an empty list would promote nothing",
                excludes.release, excludes.distro
            ),
        ));
    }
    let ppc: Vec<String> = containers
        .iter()
        .filter(|n| !excludes.ppc_containers.contains(n))
        .cloned()
        .collect();
    Ok(ContainerLists {
        containers,
        ppc_containers: Some(ppc),
    })
}

/// Split one CSV line (RFC 4180 quoting, no embedded newlines).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if cur.is_empty() => quoted = true,
            (',', false) => fields.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

/// The `Source Sha` of the `openstack-tripleo-common` row of a DLRN `versions.csv`.
pub fn versions_csv_tripleo_common_sha(source: &str, csv_text: &str) -> Result<String> {
    let bad = |reason: String| Error::invalid("versions.csv", source, reason);
    let mut lines = csv_text
        .strip_prefix('\u{feff}')
        .unwrap_or(csv_text)
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty());
    let header = lines.next().ok_or_else(|| {
        bad("empty; expected a header line starting with Project,Source Repo,Source Sha".into())
    })?;
    let header = csv_fields(header);
    let col = |name: &str| header.iter().position(|h| h.trim() == name);
    let (Some(project_col), Some(sha_col)) = (col("Project"), col("Source Sha")) else {
        return Err(bad(format!(
            "header has no Project / Source Sha columns (got {:?}); expected \
             Project,Source Repo,Source Sha,Dist Repo,Dist Sha,Status,Last Success Timestamp,Component,Pkg NVR",
            shorten(&header.join(","))
        )));
    };
    for line in lines {
        let fields = csv_fields(line);
        if fields.get(project_col).map(|p| p.trim()) != Some(TRIPLEO_COMMON_PROJECT) {
            continue;
        }
        let sha = fields.get(sha_col).map(|s| s.trim()).unwrap_or("");
        validate_git_sha("tripleo-common Source Sha", sha)
            .map_err(|e| bad(format!("the {TRIPLEO_COMMON_PROJECT} row: {e}")))?;
        return Ok(sha.to_string());
    }
    Err(bad(format!("no {TRIPLEO_COMMON_PROJECT} row")))
}

/// `<repo_url>/<commit_dir>/versions.csv` (`commit_dir` may be empty when `repo_url` already
/// points at the hash's directory, as DLRN's promotions API reports it).
pub fn versions_csv_url(repo_url: &str, commit_dir: &str) -> Result<Url> {
    let dir = commit_dir.trim_matches('/');
    let ok_segment = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    if !dir.is_empty() && !dir.split('/').all(ok_segment) {
        return Err(Error::invalid(
            "DLRN commit directory",
            shorten(commit_dir),
            "expected path segments like d7/c3/<hash>",
        ));
    }
    let base = base_url("DLRN repo URL", repo_url)?;
    if dir.is_empty() {
        join(&base, "versions.csv")
    } else {
        join(&base, &format!("{dir}/versions.csv"))
    }
}

/// `<tripleo-common base>/raw/commit/<sha>/container-images/tripleo_containers.yaml`.
pub fn tripleo_containers_url(tripleo_common_base: &str, sha: &str) -> Result<Url> {
    validate_git_sha("tripleo-common commit", sha)?;
    let base = base_url("tripleo-common URL", tripleo_common_base)?;
    join(
        &base,
        &format!("raw/commit/{sha}/container-images/tripleo_containers.yaml"),
    )
}

/// Read a `versions.csv` and return tripleo-common's commit.
pub async fn fetch_tripleo_common_sha(fetcher: &Fetcher, versions_csv: &Url) -> Result<String> {
    let f = fetcher.get(versions_csv).await?;
    versions_csv_tripleo_common_sha(&f.source, f.text()?)
}

/// What [`fetch_container_lists`] reads.
#[derive(Clone, Debug)]
pub struct TripleoCommonQuery {
    /// `tripleo_containers.yaml`: a URL or a path.
    pub containers_yaml: String,
    /// The build-containers vars YAML: a URL or a path; `None` excludes nothing.
    pub excludes_yaml: Option<String>,
    pub release: String,
    pub distro: String,
    /// Keep every `image_source` (old releases).
    pub keep_all_sources: bool,
}

/// Read tripleo-common's list and the exclude lists and combine them.
pub async fn fetch_container_lists(fetcher: &Fetcher, q: &TripleoCommonQuery) -> Result<TripleoCommonLists> {
    let yaml = fetcher.fetch_location(&q.containers_yaml).await?;
    let names = parse_tripleo_containers(&yaml.source, yaml.text()?, q.keep_all_sources)?;
    let (excludes, excludes_source) = match &q.excludes_yaml {
        Some(loc) => {
            let ex = fetcher.fetch_location(loc).await?;
            (
                parse_excludes(&ex.source, ex.text()?, &q.release, &q.distro)?,
                Some(ex.source),
            )
        }
        None => (
            Excludes {
                release: q.release.clone(),
                distro: q.distro.clone(),
                ..Excludes::default()
            },
            None,
        ),
    };
    let lists = apply_excludes(&yaml.source, &names, &excludes)?;
    Ok(TripleoCommonLists {
        lists,
        excludes,
        listed: names.len(),
        containers_source: yaml.source,
        excludes_source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTAINERS: &str = include_str!("../../tests/fixtures/tripleo-common/tripleo_containers.yaml");
    const EXCLUDES: &str = include_str!("../../tests/fixtures/tripleo-ci/build-containers-vars-main.yaml");
    const VERSIONS: &str = include_str!("../../tests/fixtures/dlrn/versions.csv");

    #[test]
    fn fixture_keeps_tripleo_images_only() {
        let names = parse_tripleo_containers("tc.yaml", CONTAINERS, false).unwrap();
        assert_eq!(names.len(), 87);
        assert_eq!(names[0], "aodh-api");
        assert!(names.iter().all(|n| !n.starts_with("openstack-")));
        for other in [
            "pushgateway",
            "prometheus",
            "ceph-grafana",
            "keepalived",
            "daemon",
        ] {
            assert!(!names.contains(&other.to_string()), "{other}");
        }
        // tripleo's own haproxy stays.
        assert!(names.contains(&"haproxy".to_string()));
        assert!(names.contains(&"neutron-mlnx-agent".to_string()));
        assert!(names.contains(&"ironic-pxe".to_string()));
        // Keeping every source: the duplicated pushgateway entry appears once; tripleo's own
        // haproxy image and ceph's share the name "haproxy".
        let all = parse_tripleo_containers("tc.yaml", CONTAINERS, true).unwrap();
        assert_eq!(all.len(), 94);
        assert!(all.contains(&"daemon".to_string()));
        assert_eq!(all.iter().filter(|n| *n == "pushgateway").count(), 1);
    }

    #[test]
    fn excludes_master_centos9_and_aliases() {
        let ex = parse_excludes("main.yaml", EXCLUDES, "master", "centos9").unwrap();
        assert_eq!(ex.containers, ["neutron-mlnx-agent"]);
        assert_eq!(
            ex.containers_from.as_deref(),
            Some("exclude_containers.master.centos9")
        );
        // master has ppc excludes only for centos8.
        assert!(ex.ppc_containers.is_empty());
        assert_eq!(ex.ppc_containers_from, None);
        // Aliases resolve.
        let ex = parse_excludes("main.yaml", EXCLUDES, "wallaby", "centos8").unwrap();
        assert_eq!(ex.containers, ["neutron-mlnx-agent"]);
        let ex = parse_excludes("main.yaml", EXCLUDES, "train", "centos7").unwrap();
        assert_eq!(ex.containers.len(), 7);
        assert_eq!(ex.containers[0], "opendaylight");
        let ex = parse_excludes("main.yaml", EXCLUDES, "rhos-17.1", "redhat9").unwrap();
        assert_eq!(ex.containers, ["neutron-mlnx-agent"]);
        let ex = parse_excludes("main.yaml", EXCLUDES, "master", "centos8").unwrap();
        assert_eq!(ex.ppc_containers, ["ironic-pxe", "neutron-mlnx-agent"]);
    }

    #[test]
    fn unknown_release_defaults_to_master() {
        let ex = parse_excludes("main.yaml", EXCLUDES, "antelope", "centos9").unwrap();
        assert_eq!(ex.containers, ["neutron-mlnx-agent"]);
        assert_eq!(
            ex.containers_from.as_deref(),
            Some("exclude_containers.master.centos9")
        );
        let ex = parse_excludes("main.yaml", EXCLUDES, "antelope", "centos8").unwrap();
        assert_eq!(
            ex.ppc_containers_from.as_deref(),
            Some("exclude_ppc_containers.master.centos8")
        );
    }

    #[test]
    fn older_list_form_and_numeric_keys() {
        let y = "exclude_containers:\n  queens: [a, b]\n  17.1:\n    - c\nexclude_ppc_containers:\n  queens:\n    - d\n";
        let ex = parse_excludes("v.yaml", y, "queens", "centos7").unwrap();
        assert_eq!(ex.containers, ["a", "b"]);
        assert_eq!(ex.ppc_containers, ["d"]);
        assert_eq!(ex.containers_from.as_deref(), Some("exclude_containers.queens"));
        let ex = parse_excludes("v.yaml", y, "17.1", "x").unwrap();
        assert_eq!(ex.containers, ["c"]);
        // No master and an unknown release: nothing excluded.
        let ex = parse_excludes("v.yaml", y, "rocky", "centos7").unwrap();
        assert!(ex.containers.is_empty());
    }

    #[test]
    fn bad_exclude_files() {
        for (y, want) in [
            ("exclude_containers: [a]\n", "must map releases"),
            ("exclude_containers:\n  master: 5\n", "must be a list"),
            (
                "exclude_containers:\n  master:\n    centos9: [a, {b: c}]\n",
                "[1] is not a string",
            ),
            ("- a\n- b\n", "expected a YAML mapping"),
            ("a: [b\n", "not valid YAML"),
            ("x: *undefined\n", "not valid YAML"),
        ] {
            let e = parse_excludes("vars.yaml", y, "master", "centos9")
                .unwrap_err()
                .to_string();
            assert!(e.contains(want) && e.contains("vars.yaml"), "{y:?}: {e}");
        }
        // No sections at all: nothing excluded.
        let ex = parse_excludes("vars.yaml", "workspace: x\n", "master", "centos9").unwrap();
        assert!(ex.containers.is_empty() && ex.ppc_containers.is_empty());
    }

    #[test]
    fn lists_from_fixtures() {
        let names = parse_tripleo_containers("tc.yaml", CONTAINERS, false).unwrap();
        let ex = parse_excludes("main.yaml", EXCLUDES, "master", "centos9").unwrap();
        let l = apply_excludes("tc.yaml", &names, &ex).unwrap();
        assert_eq!(l.containers.len(), 86);
        assert!(!l.containers.contains(&"neutron-mlnx-agent".to_string()));
        assert_eq!(l.ppc_containers.as_ref().unwrap().len(), 86);
        let ex = parse_excludes("main.yaml", EXCLUDES, "master", "centos8").unwrap();
        let l = apply_excludes("tc.yaml", &names, &ex).unwrap();
        let ppc = l.ppc_containers.unwrap();
        assert_eq!(ppc.len(), 85);
        assert!(!ppc.contains(&"ironic-pxe".to_string()));
    }

    #[test]
    fn everything_excluded_is_an_error() {
        let ex = Excludes {
            release: "master".into(),
            distro: "centos9".into(),
            containers: vec!["base".into()],
            ..Excludes::default()
        };
        let e = apply_excludes("tc.yaml", &["base".into()], &ex)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nothing left") && e.contains("tc.yaml"), "{e}");
    }

    #[test]
    fn bad_container_files() {
        for (y, want) in [
            ("", "no `container_images` key"),
            ("foo: bar\n", "no `container_images` key"),
            ("container_images: 3\n", "must be a list"),
            ("container_images: []\n", "no container images"),
            (
                "container_images:\n- imagename: q/ns/openstack-a:t\n  image_source: prom\n",
                "no container images with image_source",
            ),
            ("container_images:\n- image_source: tripleo\n", "has no imagename"),
            (
                "container_images:\n- imagename: [x]\n  image_source: tripleo\n",
                "not a string",
            ),
            ("container_images:\n- just-a-string\n", "not a mapping"),
            (
                "container_images:\n- imagename: q/ns/openstack-Bad:t\n  image_source: tripleo\n",
                "container name",
            ),
            ("container_images: [\n", "not valid YAML"),
        ] {
            let e = parse_tripleo_containers("tc.yaml", y, false)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want) && e.contains("tc.yaml"), "{y:?}: {e}");
        }
        // Old releases: no image_source at all, keep everything.
        let y =
            "container_images:\n- imagename: docker.io/tripleotrain/centos-binary-nova-api:current-tripleo\n";
        assert_eq!(
            parse_tripleo_containers("x", y, true).unwrap(),
            ["centos-binary-nova-api"]
        );
    }

    #[test]
    fn image_names() {
        assert_eq!(
            image_name("quay.io/tripleomaster/openstack-aodh-api:current-tripleo"),
            "aodh-api"
        );
        assert_eq!(image_name("localhost:5000/ns/openstack-base@sha256:abc"), "base");
        assert_eq!(image_name("quay.io/ceph/ceph:v17"), "ceph");
        assert_eq!(image_name("openstack-cron"), "cron");
    }

    #[test]
    fn versions_csv() {
        assert_eq!(
            versions_csv_tripleo_common_sha("versions.csv", VERSIONS).unwrap(),
            "9fca209d49497c11558b2537eddba1750c38ad94"
        );
        // Quoted fields, CRLF, columns in another order.
        let t = "\"Source Sha\",Project\r\n\"9fca209d49497c11558b2537eddba1750c38ad94\",\"openstack-tripleo-common\"\r\n";
        assert_eq!(
            versions_csv_tripleo_common_sha("v", t).unwrap(),
            "9fca209d49497c11558b2537eddba1750c38ad94"
        );
    }

    #[test]
    fn bad_versions_csv() {
        let header = "Project,Source Repo,Source Sha,Dist Repo,Dist Sha,Status,Last Success Timestamp,Component,Pkg NVR\n";
        for (t, want) in [
            (String::new(), "empty".to_string()),
            ("<html>404</html>\n".into(), "no Project / Source Sha".into()),
            (
                format!("{header}openstack-nova,r,6c1a8f0e2b3d4c5a69788796a5b4c3d2e1f00112\n"),
                "no openstack-tripleo-common row".into(),
            ),
            (
                format!("{header}openstack-tripleo-common,r,9fca209;reboot\n"),
                "40 lowercase hex".into(),
            ),
            (
                format!("{header}openstack-tripleo-common\n"),
                "40 lowercase hex".into(),
            ),
        ] {
            let e = versions_csv_tripleo_common_sha("https://trunk/versions.csv", &t)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&want) && e.contains("https://trunk/versions.csv"),
                "{t:?}: {e}"
            );
        }
    }

    #[test]
    fn url_builders() {
        assert_eq!(
            versions_csv_url(
                "https://trunk.rdoproject.org/centos9-master",
                "d7/c3/d7c3cd922f91d83aacb5d7555de9d5bc"
            )
            .unwrap()
            .as_str(),
            "https://trunk.rdoproject.org/centos9-master/d7/c3/d7c3cd922f91d83aacb5d7555de9d5bc/versions.csv"
        );
        assert_eq!(
            versions_csv_url("https://trunk.rdoproject.org/centos9-master/d7/c3/x/", "")
                .unwrap()
                .as_str(),
            "https://trunk.rdoproject.org/centos9-master/d7/c3/x/versions.csv"
        );
        assert!(versions_csv_url("https://t/", "../../etc").is_err());
        assert!(versions_csv_url("https://t/", "a?b").is_err());
        assert!(versions_csv_url("file:///etc", "a").is_err());
        assert_eq!(
            tripleo_containers_url(DEFAULT_TRIPLEO_COMMON_URL, "9fca209d49497c11558b2537eddba1750c38ad94")
                .unwrap()
                .as_str(),
            "https://opendev.org/openstack/tripleo-common/raw/commit/9fca209d49497c11558b2537eddba1750c38ad94/container-images/tripleo_containers.yaml"
        );
        assert!(tripleo_containers_url(DEFAULT_TRIPLEO_COMMON_URL, "master").is_err());
    }
}
