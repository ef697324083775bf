//! The old role's six list files under `tmp_file_root`, one container name per line, exactly its
//! names: another job (tripleo-common integration) reads the parsed containers file.

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
            write(p, &[])?;
        }
        Ok(())
    }
}

/// Write names, one per line.
pub fn write(path: &Path, names: &[String]) -> Result<()> {
    let mut text = names.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    super::write_atomic(path, text.as_bytes())
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
        write(&f.parsed, &["a".into(), "b".into()]).unwrap();
        assert_eq!(std::fs::read_to_string(&f.parsed).unwrap(), "a\nb\n");
        assert_eq!(std::fs::read_to_string(&f.missed).unwrap(), "");
    }
}
