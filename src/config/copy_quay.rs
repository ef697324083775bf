//! copy-quay's config file (`zuul_api`, `pull_registry`, `push_registry`, `entries:` of `name`,
//! `release`, `job_name`, `api_entry`, `from_namespace`, `to_namespace`), as ci-config holds it for
//! copy-quay's cron jobs, read into the releases file's model ([`ReleasesConfig`]) so that the same
//! file drives `promote --config` and `releases --config` unchanged. It exists apart from the
//! releases file's own shape because copy-quay's keys and its release names (`mastercentos9`) mean
//! other things than ours.

use super::file::{ReleaseEntry, ReleasesConfig};
use super::yaml_error;
use crate::error::Result;
use crate::promote::flexible::{self, opt_string};
use crate::promote::{PromoteArgs, RegistryArgs};
use serde::Deserialize;

/// copy-quay's config file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CopyQuayConfig {
    #[serde(default)]
    zuul_api: Option<String>,
    #[serde(default)]
    pull_registry: Option<String>,
    #[serde(default)]
    push_registry: Option<String>,
    entries: Vec<CopyQuayEntry>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CopyQuayEntry {
    #[serde(deserialize_with = "flexible::string")]
    name: String,
    #[serde(default, deserialize_with = "opt_string")]
    release: Option<String>,
    #[serde(default)]
    job_name: Option<String>,
    #[serde(default)]
    api_entry: Option<String>,
    #[serde(default)]
    from_namespace: Option<String>,
    #[serde(default)]
    to_namespace: Option<String>,
}

/// A copy-quay text, read into the releases model (paths and validation are the caller's).
pub(super) fn parse(file: &str, text: &str) -> Result<ReleasesConfig> {
    let q: CopyQuayConfig = serde_norway::from_str(text).map_err(|e| yaml_error(file, &e))?;
    Ok(from_copy_quay(q))
}

/// copy-quay's `release: mastercentos9` → (`master`, `centos`, `9`).
pub fn split_copy_quay_release(release: &str) -> (String, Option<(String, String)>) {
    for distro in ["centos", "rhel", "redhat", "ubi"] {
        if let Some(pos) = release.rfind(distro) {
            let (rel, rest) = release.split_at(pos);
            let version = &rest[distro.len()..];
            if !rel.is_empty() && !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()) {
                return (rel.to_string(), Some((distro.to_string(), version.to_string())));
            }
        }
    }
    (release.to_string(), None)
}

fn from_copy_quay(q: CopyQuayConfig) -> ReleasesConfig {
    // copy-quay relied on `podman login`: use the first auth file that exists.
    let authfile = crate::transport::creds::default_auth_files()
        .into_iter()
        .find(|f| f.is_file());
    let reg = |host: Option<String>| {
        host.map(|h| RegistryArgs {
            host: h,
            authfile: authfile.clone(),
            ..Default::default()
        })
    };
    ReleasesConfig {
        zuul_api: q.zuul_api,
        options: PromoteArgs {
            source_registry: reg(q.pull_registry),
            target_registries: reg(q.push_registry).map(|r| vec![r]),
            ..Default::default()
        },
        releases: q
            .entries
            .into_iter()
            .map(|e| {
                let (release, distro) = match &e.release {
                    Some(r) => {
                        let (rel, d) = split_copy_quay_release(r);
                        (Some(rel), d)
                    }
                    None => (None, None),
                };
                ReleaseEntry {
                    name: e.name,
                    job_name: e.job_name,
                    api_entry: e.api_entry,
                    options: PromoteArgs {
                        release,
                        distro_name: distro.as_ref().map(|d| d.0.clone()),
                        distro_version: distro.map(|d| d.1),
                        source_namespace: e.from_namespace,
                        target_namespace: e.to_namespace,
                        ..Default::default()
                    },
                    ..Default::default()
                }
            })
            .collect(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_quay_release_names() {
        assert_eq!(
            split_copy_quay_release("mastercentos9"),
            ("master".into(), Some(("centos".into(), "9".into())))
        );
        assert_eq!(
            split_copy_quay_release("wallabycentos8"),
            ("wallaby".into(), Some(("centos".into(), "8".into())))
        );
        assert_eq!(split_copy_quay_release("master"), ("master".into(), None));
        assert_eq!(split_copy_quay_release("centos9"), ("centos9".into(), None));
    }
}
