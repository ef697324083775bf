//! The container list the promoter itself uses: tripleo-common's container file at the commit that
//! went into the hash (found through the hash's `versions.csv`), minus the exclude lists of
//! tripleo-ci's build-containers role. This reproduces `containers_list` and `ppc_containers_list`
//! when running without the promoter, by the rules of the promoter's `RepoClient.get_containers_list`
//! (ci-config `dlrnapi_promoter/repo_client.py`), all in [`ReleaseRules`]:
//!
//! - current releases read `container-images/tripleo_containers.yaml`, keep only `image_source`
//!   tripleo or kolla, and only image names that contain `openstack-` (the container name is what
//!   follows it): `tripleo-ansible-ee`, built without the prefix, is left out as the promoter leaves it;
//! - the old releases (queens, stein, train, ussuri, osp16-2) read
//!   `container-images/overcloud_containers.yaml`, keep every `image_source`, and names containing
//!   `centos-binary-`;
//! - downstream releases are looked up in the exclude file under their `rhos-` name (`osp17-1` →
//!   `rhos-17.1`); an exclude entry is a list, or a mapping per distro (`centos9`, `redhat8`). The
//!   published `repo_client.py` reads `exclude_containers[release]` only, which on tripleo-ci's
//!   current per-distro file would exclude nothing; the distro level is read as tripleo-ci's build
//!   reads it, so that the list matches what was built.
//!
//! Where this project deliberately differs (docs/cli.md, "Running alone"): a release the exclude file does
//! not name gets master's excludes, as tripleo-ci's build does (the promoter excludes nothing, and would
//! ask for images the build never made); and the ppc64le list is `containers_list` minus the ppc
//! excludes. The promoter's ppc list (the full list minus the ppc excludes, or empty when the release
//! has none) can name images that are not promoted at all; it is computed too
//! ([`TripleoCommonLists::promoter_ppc_containers`]) so that `releases` shows both.

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
/// The prefix in the image names of current releases.
pub const NAME_PREFIX: &str = "openstack-";
/// The prefix in the image names of the old releases.
pub const OLD_NAME_PREFIX: &str = "centos-binary-";
/// The releases whose list is `overcloud_containers.yaml` with `centos-binary-` names.
pub const OLD_RELEASES: [&str; 5] = ["queens", "stein", "train", "ussuri", "osp16-2"];
/// tripleo-common's list of current releases.
pub const CONTAINERS_PATH: &str = "container-images/tripleo_containers.yaml";
/// tripleo-common's list of the old releases.
pub const OLD_CONTAINERS_PATH: &str = "container-images/overcloud_containers.yaml";
/// Downstream release names and the names the exclude file uses for them.
pub const DOWNSTREAM_RELEASES: [(&str, &str); 4] = [
    ("osp16-2", "rhos-16.2"),
    ("osp17", "rhos-17"),
    ("osp17-1", "rhos-17.1"),
    ("osp18", "rhos-18"),
];
/// The release whose excludes apply to releases the exclude file does not name.
pub const DEFAULT_RELEASE: &str = "master";
/// The `versions.csv` row of tripleo-common.
pub const TRIPLEO_COMMON_PROJECT: &str = "openstack-tripleo-common";

/// How the promoter reads tripleo-common's list for one release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRules {
    /// The release as given (`master`, `train`, `osp17-1`).
    pub release: String,
    /// The release as the exclude file names it (`rhos-17.1` for `osp17-1`).
    pub excludes_release: String,
    /// Only image names containing this are kept; the container name is what follows it.
    pub name_prefix: String,
    /// The list's path in tripleo-common.
    pub containers_path: String,
    /// Keep only `image_source` tripleo or kolla (current releases).
    pub filter_sources: bool,
}

impl ReleaseRules {
    /// The rules of `release`; an `osp*` release the promoter does not know is refused.
    pub fn for_release(release: &str) -> Result<ReleaseRules> {
        let old = is_old_release(release);
        let excludes_release = if release.starts_with("osp") {
            match DOWNSTREAM_RELEASES.iter().find(|(osp, _)| *osp == release) {
                Some((_, rhos)) => rhos.to_string(),
                None => {
                    let known: Vec<&str> = DOWNSTREAM_RELEASES.iter().map(|(o, _)| *o).collect();
                    return Err(Error::invalid(
                        "release",
                        release,
                        format!("unknown downstream release; expected one of {}", known.join(", ")),
                    ));
                }
            }
        } else {
            release.to_string()
        };
        Ok(ReleaseRules {
            release: release.to_string(),
            excludes_release,
            name_prefix: if old { OLD_NAME_PREFIX } else { NAME_PREFIX }.to_string(),
            containers_path: if old { OLD_CONTAINERS_PATH } else { CONTAINERS_PATH }.to_string(),
            filter_sources: !old,
        })
    }
}

/// queens, stein, train, ussuri, osp16-2: `overcloud_containers.yaml`, `centos-binary-` images.
pub fn is_old_release(release: &str) -> bool {
    OLD_RELEASES.contains(&release)
}

/// The promotion's image name prefix for `release` when none is given: `centos-binary` for the old
/// releases, `openstack` otherwise.
pub fn default_prefix(release: &str) -> &'static str {
    if is_old_release(release) {
        "centos-binary"
    } else {
        "openstack"
    }
}

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
    /// `containers` are master's: the file does not name the release (the promoter would exclude
    /// nothing).
    #[serde(default)]
    pub containers_defaulted: bool,
    /// `ppc_containers` are master's, likewise.
    #[serde(default)]
    pub ppc_containers_defaulted: bool,
}

/// One section resolved: the names, where they came from, and whether master's were taken.
struct Section {
    names: Vec<String>,
    from: Option<String>,
    defaulted: bool,
}

impl Section {
    fn none(defaulted: bool) -> Section {
        Section {
            names: Vec::new(),
            from: None,
            defaulted,
        }
    }
}

/// The result of [`fetch_container_lists`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TripleoCommonLists {
    /// `containers_list`, and this project's `ppc_containers_list` (`containers_list` minus the ppc
    /// excludes): what is promoted and written to the list files.
    pub lists: ContainerLists,
    /// The promoter's `ppc_containers_list`: the full list minus the ppc excludes, or empty when
    /// the release has no ppc excludes. Shown, not used.
    pub promoter_ppc_containers: Vec<String>,
    pub excludes: Excludes,
    pub rules: ReleaseRules,
    /// Names listed in tripleo-common before the excludes.
    pub listed: usize,
    /// Images of a kept `image_source` left out because their name lacks the prefix.
    pub without_prefix: Vec<String>,
    pub containers_source: String,
    pub excludes_source: Option<String>,
}

/// What [`parse_tripleo_containers`] keeps and leaves out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedContainers {
    /// Container names (prefix removed), in file order without duplicates.
    pub names: Vec<String>,
    /// Image names of another `image_source` (current releases only).
    pub other_sources: Vec<String>,
    /// Image names without the prefix (`tripleo-ansible-ee`).
    pub without_prefix: Vec<String>,
}

fn bad(source: &str, reason: impl Into<String>) -> Error {
    Error::invalid("tripleo-common container list", source, reason)
}

/// The last path element of an image reference, tag or digest removed.
pub fn image_base(imagename: &str) -> &str {
    let last = imagename.rsplit('/').next().unwrap_or(imagename);
    last.split(['@', ':']).next().unwrap_or(last)
}

/// The container name of an image reference, as the promoter takes it: the last path element
/// without tag or digest must contain `prefix`, and the name is what follows its last occurrence.
/// `None`: no prefix, not a container of the promotion.
pub fn image_name<'a>(imagename: &'a str, prefix: &str) -> Option<&'a str> {
    image_base(imagename).rsplit_once(prefix).map(|(_, name)| name)
}

fn entry_str<'a>(source: &str, entry: &'a Mapping, i: usize, key: &str) -> Result<Option<&'a str>> {
    match entry.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim())),
        None | Some(Value::Null) => Ok(None),
        Some(_) => Err(bad(
            source,
            format!("container_images[{i}].{key} is not a string"),
        )),
    }
}

/// Parse tripleo-common's `tripleo_containers.yaml` / `overcloud_containers.yaml`
/// (`container_images: [{image_source, imagename}]`) by `rules`: the `image_source` filter of
/// current releases, then the name prefix.
pub fn parse_tripleo_containers(source: &str, yaml: &str, rules: &ReleaseRules) -> Result<ParsedContainers> {
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
    let mut out = ParsedContainers::default();
    let mut names = Vec::new();
    for (i, entry) in images.iter().enumerate() {
        let Value::Mapping(entry) = entry else {
            return Err(bad(source, format!("container_images[{i}] is not a mapping")));
        };
        let Some(imagename) = entry_str(source, entry, i, "imagename")? else {
            return Err(bad(source, format!("container_images[{i}] has no imagename")));
        };
        let image_source = entry_str(source, entry, i, "image_source")?;
        if rules.filter_sources && !image_source.is_some_and(|s| KEPT_IMAGE_SOURCES.contains(&s)) {
            out.other_sources.push(imagename.to_string());
            continue;
        }
        match image_name(imagename, &rules.name_prefix) {
            Some(name) => names.push((name.to_string(), format!("container_images[{i}]"))),
            None => out.without_prefix.push(image_base(imagename).to_string()),
        }
    }
    tracing::debug!(source, other_sources = ?out.other_sources, without_prefix = ?out.without_prefix,
        "images left out of the list");
    if names.is_empty() {
        return Err(bad(source, no_images_reason(rules, &out)));
    }
    out.names = checked_names(source, "container_images", names, false)?;
    Ok(out)
}

fn no_images_reason(rules: &ReleaseRules, out: &ParsedContainers) -> String {
    let mut reason = format!("no container images named *{}* ", rules.name_prefix);
    if rules.filter_sources {
        reason.push_str(&format!("with image_source {} ", KEPT_IMAGE_SOURCES.join("/")));
    }
    reason.push_str(&format!(
        "for release {} ({} left out for another image_source, {} without the prefix); release {} reads {}",
        rules.release,
        out.other_sources.len(),
        out.without_prefix.len(),
        rules.release,
        rules.containers_path
    ));
    reason
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
fn resolve_section(source: &str, doc: &Value, section: &str, release: &str, distro: &str) -> Result<Section> {
    let map = match doc.get(section) {
        None | Some(Value::Null) => {
            tracing::debug!(source, section, "no such exclude section");
            return Ok(Section::none(false));
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
                return Ok(Section::none(false));
            }
        },
    };
    let defaulted = release_used != release;
    let found = |path: String, v: &Value| {
        Ok(Section {
            names: names_of(source, &path, v)?,
            from: Some(path),
            defaulted,
        })
    };
    match entry {
        Value::Mapping(distros) => match lookup(distros, distro) {
            Some(v) => found(format!("{section}.{release_used}.{distro}"), v),
            None => {
                tracing::info!(
                    source,
                    section,
                    release = release_used,
                    distro,
                    "no excludes for this distro"
                );
                Ok(Section::none(defaulted))
            }
        },
        other => found(format!("{section}.{release_used}"), other),
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
    let x86 = resolve_section(source, &doc, "exclude_containers", release, distro)?;
    let ppc = resolve_section(source, &doc, "exclude_ppc_containers", release, distro)?;
    Ok(Excludes {
        release: release.to_string(),
        distro: distro.to_string(),
        containers: x86.names,
        ppc_containers: ppc.names,
        containers_from: x86.from,
        ppc_containers_from: ppc.from,
        containers_defaulted: x86.defaulted,
        ppc_containers_defaulted: ppc.defaulted,
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

/// The promoter's `ppc_containers_list`: when the release has ppc excludes of its own, the full list
/// (before the x86 excludes) minus them; otherwise empty (the promoter then passes
/// `ppc_containers_list: []`).
pub fn promoter_ppc_list(names: &[String], excludes: &Excludes) -> Vec<String> {
    if excludes.ppc_containers.is_empty() || excludes.ppc_containers_defaulted {
        return Vec::new();
    }
    names
        .iter()
        .filter(|n| !excludes.ppc_containers.contains(n))
        .cloned()
        .collect()
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

/// `<tripleo-common base>/raw/commit/<sha>/<path>`, `path` being the release's
/// [`ReleaseRules::containers_path`].
pub fn tripleo_containers_url(tripleo_common_base: &str, sha: &str, path: &str) -> Result<Url> {
    validate_git_sha("tripleo-common commit", sha)?;
    let base = base_url("tripleo-common URL", tripleo_common_base)?;
    join(&base, &format!("raw/commit/{sha}/{path}"))
}

/// Read a `versions.csv` and return tripleo-common's commit.
pub async fn fetch_tripleo_common_sha(fetcher: &Fetcher, versions_csv: &Url) -> Result<String> {
    let f = fetcher.get(versions_csv).await?;
    versions_csv_tripleo_common_sha(&f.source, f.text()?)
}

/// What [`fetch_container_lists`] reads.
#[derive(Clone, Debug)]
pub struct TripleoCommonQuery {
    /// tripleo-common's list file: a URL or a path.
    pub containers_yaml: String,
    /// The build-containers vars YAML: a URL or a path; `None` excludes nothing.
    pub excludes_yaml: Option<String>,
    /// The release as the promoter names it (`master`, `train`, `osp17-1`).
    pub release: String,
    pub distro: String,
    /// Overrides the release's `image_source` filter: `true` keeps every source.
    pub keep_all_sources: Option<bool>,
}

impl TripleoCommonQuery {
    /// The release's rules with the `keep_all_sources` override applied.
    pub fn rules(&self) -> Result<ReleaseRules> {
        let mut rules = ReleaseRules::for_release(&self.release)?;
        if let Some(keep_all) = self.keep_all_sources {
            rules.filter_sources = !keep_all;
        }
        Ok(rules)
    }
}

/// A file's name (for messages) and text.
pub type Named<'a> = (&'a str, &'a str);

/// The lists from tripleo-common's file and the exclude file's text (`None`: nothing excluded), by
/// `rules`, for `distro` (`centos9`).
pub fn combine(
    containers: Named<'_>,
    excludes: Option<Named<'_>>,
    rules: &ReleaseRules,
    distro: &str,
) -> Result<TripleoCommonLists> {
    let (source, text) = containers;
    let parsed = parse_tripleo_containers(source, text, rules)?;
    let excludes_release = &rules.excludes_release;
    let ex = match excludes {
        Some((ex_source, ex_text)) => parse_excludes(ex_source, ex_text, excludes_release, distro)?,
        None => Excludes {
            release: excludes_release.clone(),
            distro: distro.to_string(),
            ..Excludes::default()
        },
    };
    let lists = apply_excludes(source, &parsed.names, &ex)?;
    let promoter_ppc_containers = promoter_ppc_list(&parsed.names, &ex);
    if !parsed.without_prefix.is_empty() {
        tracing::info!(source, left_out = ?parsed.without_prefix, prefix = %rules.name_prefix,
            "images without the prefix left out, as the promoter does");
    }
    Ok(TripleoCommonLists {
        lists,
        promoter_ppc_containers,
        excludes: ex,
        rules: rules.clone(),
        listed: parsed.names.len(),
        without_prefix: parsed.without_prefix,
        containers_source: source.to_string(),
        excludes_source: excludes.map(|(s, _)| s.to_string()),
    })
}

/// Read tripleo-common's list and the exclude lists and combine them.
pub async fn fetch_container_lists(fetcher: &Fetcher, q: &TripleoCommonQuery) -> Result<TripleoCommonLists> {
    let rules = q.rules()?;
    let yaml = fetcher.fetch_location(&q.containers_yaml).await?;
    let ex = match &q.excludes_yaml {
        Some(loc) => Some(fetcher.fetch_location(loc).await?),
        None => None,
    };
    let ex_named = match &ex {
        Some(f) => Some((f.source.as_str(), f.text()?)),
        None => None,
    };
    combine((&yaml.source, yaml.text()?), ex_named, &rules, &q.distro)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTAINERS: &str = include_str!("../../tests/fixtures/tripleo-common/tripleo_containers.yaml");
    const EXCLUDES: &str = include_str!("../../tests/fixtures/tripleo-ci/build-containers-vars-main.yaml");
    const VERSIONS: &str = include_str!("../../tests/fixtures/dlrn/versions.csv");

    fn rules(release: &str) -> ReleaseRules {
        ReleaseRules::for_release(release).unwrap()
    }

    #[test]
    fn fixture_keeps_tripleo_images_with_the_prefix_only() {
        let p = parse_tripleo_containers("tc.yaml", CONTAINERS, &rules("master")).unwrap();
        assert_eq!(p.names.len(), 86);
        assert_eq!(p.names[0], "aodh-api");
        assert!(p.names.iter().all(|n| !n.starts_with("openstack-")));
        for other in [
            "pushgateway",
            "prometheus",
            "ceph-grafana",
            "keepalived",
            "daemon",
            "tripleo-ansible-ee",
        ] {
            assert!(!p.names.contains(&other.to_string()), "{other}");
        }
        // tripleo's image_source, but no openstack- prefix: left out as the promoter leaves it.
        assert_eq!(p.without_prefix, ["tripleo-ansible-ee"]);
        assert_eq!(p.other_sources.len(), 96 - 87);
        // tripleo's own haproxy stays.
        assert!(p.names.contains(&"haproxy".to_string()));
        assert!(p.names.contains(&"neutron-mlnx-agent".to_string()));
        assert!(p.names.contains(&"ironic-pxe".to_string()));
        // Every source kept: third-party images have no openstack- prefix, so nothing is added.
        let mut all = rules("master");
        all.filter_sources = false;
        let p = parse_tripleo_containers("tc.yaml", CONTAINERS, &all).unwrap();
        assert_eq!(p.names.len(), 86);
        assert_eq!(p.without_prefix.len(), 96 - 86);
        // An old release's rules on a current file: nothing named centos-binary-*.
        let e = parse_tripleo_containers("tc.yaml", CONTAINERS, &rules("train"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("*centos-binary-*") && e.contains("overcloud_containers.yaml"),
            "{e}"
        );
    }

    #[test]
    fn release_rules() {
        let r = rules("master");
        assert_eq!(
            (
                r.name_prefix.as_str(),
                r.containers_path.as_str(),
                r.filter_sources
            ),
            ("openstack-", CONTAINERS_PATH, true)
        );
        assert_eq!(r.excludes_release, "master");
        for old in OLD_RELEASES {
            let r = rules(old);
            assert_eq!(
                (
                    r.name_prefix.as_str(),
                    r.containers_path.as_str(),
                    r.filter_sources
                ),
                ("centos-binary-", OLD_CONTAINERS_PATH, false),
                "{old}"
            );
            assert_eq!(default_prefix(old), "centos-binary");
        }
        assert_eq!(rules("osp16-2").excludes_release, "rhos-16.2");
        assert_eq!(rules("osp17").excludes_release, "rhos-17");
        assert_eq!(rules("osp17-1").excludes_release, "rhos-17.1");
        assert_eq!(rules("osp18").excludes_release, "rhos-18");
        assert!(rules("osp18").filter_sources);
        assert_eq!(rules("rhos-17.1").excludes_release, "rhos-17.1");
        assert_eq!(rules("wallaby").excludes_release, "wallaby");
        assert_eq!(default_prefix("wallaby"), "openstack");
        let e = ReleaseRules::for_release("osp13").unwrap_err().to_string();
        assert!(e.contains("osp13") && e.contains("osp17-1"), "{e}");
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
        assert!(ex.containers_defaulted && ex.ppc_containers.is_empty());
        let ex = parse_excludes("main.yaml", EXCLUDES, "antelope", "centos8").unwrap();
        assert_eq!(
            ex.ppc_containers_from.as_deref(),
            Some("exclude_ppc_containers.master.centos8")
        );
        assert!(ex.ppc_containers_defaulted);
        // The promoter takes no default: master's ppc excludes do not make a promoter ppc list.
        assert!(promoter_ppc_list(&["ironic-pxe".into(), "a".into()], &ex).is_empty());
        // A release named for x86 but not for ppc: master's ppc excludes, marked as such.
        let ex = parse_excludes("main.yaml", EXCLUDES, "wallaby", "centos8").unwrap();
        assert!(!ex.containers_defaulted && ex.ppc_containers_defaulted);
        let ex = parse_excludes("main.yaml", EXCLUDES, "master", "centos8").unwrap();
        assert!(!ex.containers_defaulted && !ex.ppc_containers_defaulted);
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
        let l = combine(
            ("tc.yaml", CONTAINERS),
            Some(("main.yaml", EXCLUDES)),
            &rules("master"),
            "centos9",
        )
        .unwrap();
        assert_eq!(l.listed, 86);
        assert_eq!(l.lists.containers.len(), 85);
        assert!(!l.lists.containers.contains(&"neutron-mlnx-agent".to_string()));
        assert_eq!(l.lists.ppc_containers.as_ref().unwrap().len(), 85);
        // master/centos9 has no ppc excludes: the promoter passes an empty ppc list.
        assert!(l.promoter_ppc_containers.is_empty());
        let l = combine(
            ("tc.yaml", CONTAINERS),
            Some(("main.yaml", EXCLUDES)),
            &rules("master"),
            "centos8",
        )
        .unwrap();
        let ppc = l.lists.ppc_containers.unwrap();
        assert_eq!(ppc.len(), 84);
        assert!(!ppc.contains(&"ironic-pxe".to_string()));
        assert_eq!(l.promoter_ppc_containers, ppc);
        // No exclude file: nothing excluded, and no ppc list for the promoter.
        let l = combine(("tc.yaml", CONTAINERS), None, &rules("master"), "centos9").unwrap();
        assert_eq!(l.lists.containers.len(), 86);
        assert_eq!(l.excludes_source, None);
    }

    #[test]
    fn promoter_ppc_list_keeps_x86_excluded_names() {
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let ex = Excludes {
            containers: vec!["a".into()],
            ppc_containers: vec!["b".into()],
            ..Excludes::default()
        };
        assert_eq!(promoter_ppc_list(&names, &ex), ["a", "c"]);
        let l = apply_excludes("x", &names, &ex).unwrap();
        assert_eq!(l.ppc_containers.unwrap(), ["c"]);
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
                "with image_source tripleo/kolla",
            ),
            (
                "container_images:\n- imagename: q/ns/tripleo-ansible-ee:t\n  image_source: tripleo\n",
                "1 without the prefix",
            ),
            ("container_images:\n- image_source: tripleo\n", "has no imagename"),
            (
                "container_images:\n- imagename: [x]\n  image_source: tripleo\n",
                "imagename is not a string",
            ),
            (
                "container_images:\n- imagename: q/ns/openstack-a:t\n  image_source: [tripleo]\n",
                "image_source is not a string",
            ),
            ("container_images:\n- just-a-string\n", "not a mapping"),
            (
                "container_images:\n- imagename: q/ns/openstack-Bad:t\n  image_source: tripleo\n",
                "container name",
            ),
            (
                "container_images:\n- imagename: q/ns/openstack-:t\n  image_source: tripleo\n",
                "container name",
            ),
            ("container_images: [\n", "not valid YAML"),
        ] {
            let e = parse_tripleo_containers("tc.yaml", y, &rules("master"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want) && e.contains("tc.yaml"), "{y:?}: {e}");
        }
        // Old releases: no image_source at all, every source kept, centos-binary- stripped.
        let y =
            "container_images:\n- imagename: docker.io/tripleotrain/centos-binary-nova-api:current-tripleo\n\
                 - imagename: docker.io/ceph/daemon:v4.0.12\n";
        let p = parse_tripleo_containers("x", y, &rules("train")).unwrap();
        assert_eq!(p.names, ["nova-api"]);
        assert_eq!(p.without_prefix, ["daemon"]);
    }

    #[test]
    fn image_names() {
        let n = |i| image_name(i, NAME_PREFIX);
        assert_eq!(
            n("quay.io/tripleomaster/openstack-aodh-api:current-tripleo"),
            Some("aodh-api")
        );
        assert_eq!(n("localhost:5000/ns/openstack-base@sha256:abc"), Some("base"));
        assert_eq!(n("quay.io/ceph/ceph:v17"), None);
        assert_eq!(n("quay.io/tripleomastercentos9/tripleo-ansible-ee:x"), None);
        assert_eq!(n("openstack-cron"), Some("cron"));
        // The namespace does not count, only the image's own name.
        assert_eq!(n("quay.io/openstack-ns/cron:x"), None);
        assert_eq!(
            image_name("docker.io/tripleou/centos-binary-nova-api:t", OLD_NAME_PREFIX),
            Some("nova-api")
        );
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
            tripleo_containers_url(
                DEFAULT_TRIPLEO_COMMON_URL,
                "9fca209d49497c11558b2537eddba1750c38ad94",
                CONTAINERS_PATH
            )
            .unwrap()
                .as_str(),
            "https://opendev.org/openstack/tripleo-common/raw/commit/9fca209d49497c11558b2537eddba1750c38ad94/container-images/tripleo_containers.yaml"
        );
        assert!(tripleo_containers_url(DEFAULT_TRIPLEO_COMMON_URL, "master", CONTAINERS_PATH).is_err());
        assert!(tripleo_containers_url(
            DEFAULT_TRIPLEO_COMMON_URL,
            "9fca209d49497c11558b2537eddba1750c38ad94",
            OLD_CONTAINERS_PATH
        )
        .unwrap()
        .as_str()
        .ends_with(
            "/raw/commit/9fca209d49497c11558b2537eddba1750c38ad94/container-images/overcloud_containers.yaml"
        ));
    }
}
