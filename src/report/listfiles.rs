//! The old role's six list files under `tmp_file_root`, one image name per line *with its prefix*
//! (`openstack-nova-compute`, `openstack-base`), exactly as the role's `generate_list.sh` wrote them:
//! another job (tripleo-common integration) reads the parsed containers file.

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

/// Write container names (without prefix, as the promotion knows them) as `<prefix>-<name>`, one
/// per line.
pub fn write(path: &Path, prefix: &str, names: &[String]) -> Result<()> {
    super::write_atomic(path, lines(prefix, names).as_bytes())
}

fn lines(prefix: &str, names: &[String]) -> String {
    names.iter().map(|n| format!("{prefix}-{n}\n")).collect()
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
}
