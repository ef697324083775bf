//! The old role's six list files under `tmp_file_root`, one image name per line *with its prefix*
//! (`openstack-nova-compute`, `openstack-base`), with the contents the role's tasks and its
//! `generate_list.sh` / `generate_ppc_containers_list.sh` gave them (ci-config's
//! `ci-scripts/container-push/roles/containers-promote`): another job (tripleo-common integration)
//! reads the parsed containers file.
//!
//! What each holds, as the role wrote it:
//! - `parsed_containers-…`: the `containers_list` images found at the source, in list order; the
//!   base images the list does not name are appended after the check passed (never on a failed one);
//! - `missing_parsed_containers-…`: the images missing at the source;
//! - `parsed_ppc_containers-…` / `missing_parsed_ppc_containers-…`: the `ppc_containers_list` images
//!   with / without `<hash>_ppc64le`, in that list's order, only when the ppc64le check ran
//!   (pushing, `manifest_push`, `ppc_manifests`, a `v2_s2` target);
//! - `containers_pushed_list.txt` / `containers_missed_list.txt`: the `containers_list` images
//!   verified / not verified on the targets (never the appended base images), only when pushing.
//!
//! Where this differs from the role's files (its own bugs), docs/promoter.md lists it.
//!
//! A run stopped before its end (a signal, its deadline) writes the files whose contents it knows and
//! removes the others ([`ListFiles::remove_unknown`]), so no file the role would have filled is left
//! empty or half written: the parsed and missing files are known once the source check is over, the
//! ppc pair once the ppc64le check ran (or at once when it does not run: empty, as the role left
//! them), the pushed and missed files once the source check is over (none is promoted until the labels
//! move) or at once when the run does not push.

use std::path::{Path, PathBuf};

use crate::error::Result;

/// Paths of the six files.
#[derive(Clone, Debug)]
pub struct ListFiles {
    pub parsed: PathBuf,
    pub missing: PathBuf,
    pub parsed_ppc: PathBuf,
    pub missing_ppc: PathBuf,
    pub pushed: PathBuf,
    pub missed: PathBuf,
}

impl ListFiles {
    /// `suffix` is `<distro_name>-<distro_version>-<release>`.
    pub fn new(root: &Path, suffix: &str) -> ListFiles {
        ListFiles {
            parsed: root.join(format!("parsed_containers-{suffix}.txt")),
            missing: root.join(format!("missing_parsed_containers-{suffix}.txt")),
            parsed_ppc: root.join(format!("parsed_ppc_containers-{suffix}.txt")),
            missing_ppc: root.join(format!("missing_parsed_ppc_containers-{suffix}.txt")),
            pushed: root.join("containers_pushed_list.txt"),
            missed: root.join("containers_missed_list.txt"),
        }
    }

    pub fn all(&self) -> [&PathBuf; 6] {
        [
            &self.parsed,
            &self.missing,
            &self.parsed_ppc,
            &self.missing_ppc,
            &self.pushed,
            &self.missed,
        ]
    }

    /// Create (truncate) all six, as the role did first.
    pub fn truncate_all(&self) -> Result<()> {
        for p in self.all() {
            write(p, "", &[])?;
        }
        Ok(())
    }
}

/// What a run stopped before its end knows of the six files (see the module's doc).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Known {
    /// The source check is over: the parsed and missing files.
    pub source: bool,
    /// The ppc64le check ran, or this run makes none: the ppc pair.
    pub ppc: bool,
    /// The source check is over, or this run does not push: the pushed and missed files.
    pub outcome: bool,
}

impl ListFiles {
    /// The files whose contents a run that knows `k` cannot write.
    pub fn unknown(&self, k: Known) -> Vec<&PathBuf> {
        let mut out = Vec::new();
        if !k.source {
            out.extend([&self.parsed, &self.missing]);
        }
        if !k.ppc {
            out.extend([&self.parsed_ppc, &self.missing_ppc]);
        }
        if !k.outcome {
            out.extend([&self.pushed, &self.missed]);
        }
        out
    }

    /// Remove the files this run cannot fill (it created them, empty, when it started): none is
    /// left empty or partial for a reader to take as the truth. Returns the paths removed.
    pub fn remove_unknown(&self, k: Known) -> Result<Vec<PathBuf>> {
        let mut removed = Vec::new();
        for p in self.unknown(k) {
            match std::fs::remove_file(p) {
                Ok(()) => removed.push(p.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => removed.push(p.clone()),
                Err(err) => {
                    return Err(crate::error::Error::Io {
                        path: p.display().to_string(),
                        err,
                    })
                }
            }
        }
        Ok(removed)
    }
}

/// Write container names (without prefix, as the promotion knows them) as `<prefix>-<name>`, one
/// per line.
pub fn write(path: &Path, prefix: &str, names: &[String]) -> Result<()> {
    super::folder::write_file(
        path,
        lines(prefix, names).as_bytes(),
        super::folder::LIST_FILE_MODE,
    )
}

fn lines(prefix: &str, names: &[String]) -> String {
    names.iter().map(|n| format!("{prefix}-{n}\n")).collect()
}

/// The parsed containers file's names: those found, the appended base images only once the check
/// passed (nothing missing), as the role appended them after its check.
pub fn parsed(found: &[String], missing: &[String], base_added: &[String]) -> Vec<String> {
    match missing.is_empty() {
        true => found.to_vec(),
        false => listed_only(found, base_added),
    }
}

/// The names `containers_list` gave (the pushed and missed files never name the appended base
/// images: the role's check ran over `containers_list` alone).
pub fn listed_only(names: &[String], base_added: &[String]) -> Vec<String> {
    names
        .iter()
        .filter(|n| !base_added.contains(n))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_contents() {
        let d = tempfile::tempdir().unwrap();
        let f = ListFiles::new(d.path(), "centos-9-master");
        f.truncate_all().unwrap();
        let names: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        for want in [
            "parsed_containers-centos-9-master.txt",
            "missing_parsed_containers-centos-9-master.txt",
            "parsed_ppc_containers-centos-9-master.txt",
            "missing_parsed_ppc_containers-centos-9-master.txt",
            "containers_pushed_list.txt",
            "containers_missed_list.txt",
        ] {
            assert!(names.contains(&want.to_string()), "{want} in {names:?}");
        }
        write(&f.parsed, "openstack", &["nova-compute".into(), "base".into()]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&f.parsed).unwrap(),
            "openstack-nova-compute\nopenstack-base\n"
        );
        write(&f.missing, "centos-binary", &["aodh-api".into()]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&f.missing).unwrap(),
            "centos-binary-aodh-api\n"
        );
        assert_eq!(std::fs::read_to_string(&f.missed).unwrap(), "");
    }

    #[test]
    fn base_images_appear_where_the_role_appended_them() {
        let v = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (found, base) = (v(&["nova-compute", "base"]), v(&["base"]));
        assert_eq!(parsed(&found, &[], &base), found);
        assert_eq!(parsed(&found, &v(&["ghost"]), &base), v(&["nova-compute"]));
        assert_eq!(listed_only(&found, &base), v(&["nova-compute"]));
        // A base image the list names itself stays.
        assert_eq!(listed_only(&found, &[]), found);
    }

    #[test]
    fn a_stopped_run_removes_what_it_does_not_know() {
        let d = tempfile::tempdir().unwrap();
        let f = ListFiles::new(d.path(), "centos-9-master");
        let left = |d: &Path| {
            let mut n: Vec<String> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            n.sort();
            n
        };
        // stopped during the source check: nothing is known
        f.truncate_all().unwrap();
        let removed = f.remove_unknown(Known::default()).unwrap();
        assert_eq!(removed.len(), 6);
        assert!(left(d.path()).is_empty(), "{:?}", left(d.path()));
        // stopped while reading the architectures of a run with lists: the ppc pair is not known
        f.truncate_all().unwrap();
        let k = Known {
            source: true,
            ppc: false,
            outcome: true,
        };
        f.remove_unknown(k).unwrap();
        assert_eq!(
            left(d.path()),
            [
                "containers_missed_list.txt",
                "containers_pushed_list.txt",
                "missing_parsed_containers-centos-9-master.txt",
                "parsed_containers-centos-9-master.txt",
            ]
        );
        // later: every file stays
        f.truncate_all().unwrap();
        let all = Known {
            source: true,
            ppc: true,
            outcome: true,
        };
        assert!(f.unknown(all).is_empty());
        f.remove_unknown(all).unwrap();
        assert_eq!(left(d.path()).len(), 6);
    }
}
