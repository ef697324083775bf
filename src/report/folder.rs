//! Where a run's files go under `tmp_file_root`, on a host other users share. The role's default,
//! `/var/tmp/promoter_logs`, sits in the world-writable `/var/tmp`, where anyone could create that
//! folder first, or a link by that name, and so choose where the reports and list files go or read
//! them. So the folder is checked before anything is written ([`output_dir`]):
//!
//! - missing: created (0755, as the role's was), then used;
//! - this user's or root's, and only they can change it: used as it is;
//! - this user's or root's but shared, writable by others with the sticky bit (`/tmp`, `/var/tmp`
//!   themselves, or a folder an operator opened to several accounts): the files go to a private
//!   sub-folder, `copy-containers-<uid>` (0700, created once, and reused only when it is this
//!   user's own, not a link, and closed to others): others can add entries to a sticky folder,
//!   never into that one. A log line names it when it is created;
//! - another user's, writable by others without the sticky bit, or reached through another user's
//!   link (or with such a folder above it): refused with an error saying why and what to do;
//!   nothing is written.
//!
//! Reports are 0600 (they name registry users and hosts); `report_group_readable` makes them 0640.

use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::oci::shared_host::{self, Folder};

/// Mode of reports by default: this user's only.
pub const REPORT_MODE: u32 = 0o600;
/// Mode of reports readable by the group (`report_group_readable`).
pub const GROUP_REPORT_MODE: u32 = 0o640;

/// The folder the run writes its reports and list files in, for `tmp_file_root` (see the module
/// doc): `root` itself or its private sub-folder; created when missing.
pub fn output_dir(root: &Path) -> Result<PathBuf> {
    let fix = "set tmp_file_root to a folder of this user's (or remove this one: the run creates it)";
    match shared_host::inspect(root, "tmp_file_root", fix)? {
        Folder::Private => Ok(root.to_path_buf()),
        Folder::Missing => {
            crate::store::create_dir_all(root)?;
            match shared_host::inspect(root, "tmp_file_root", fix)? {
                Folder::Private => Ok(root.to_path_buf()),
                _ => private_sub_folder(root),
            }
        }
        Folder::Shared => private_sub_folder(root),
    }
}

/// `<root>/copy-containers-<uid>`, this user's only.
fn private_sub_folder(root: &Path) -> Result<PathBuf> {
    let uid = shared_host::euid();
    let sub = root.join(format!("copy-containers-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&sub) {
        Ok(()) => tracing::info!(
            "tmp_file_root {} is shared with other users (writable by them, sticky): this user's \
             reports and list files go to {}, a folder only it can open",
            root.display(),
            sub.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io(sub.display(), e)),
    }
    let m = std::fs::symlink_metadata(&sub).map_err(|e| Error::io(sub.display(), e))?;
    if m.file_type().is_symlink() || !m.is_dir() || m.uid() != uid || m.mode() & 0o077 != 0 {
        return Err(Error::Local(format!(
            "{}: the private folder for this user's files in the shared tmp_file_root {} is not a \
             folder of this user's that only it can open (a link, another user's, or open to \
             others): someone may have made it first; nothing was written. Remove it, or set \
             tmp_file_root to a folder of this user's",
            sub.display(),
            root.display()
        )));
    }
    Ok(sub)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_missing_folder_is_made_a_shared_one_gets_a_private_sub_folder() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("promoter_logs");
        assert_eq!(output_dir(&root).unwrap(), root);
        assert_eq!(std::fs::metadata(&root).unwrap().mode() & 0o777, 0o755);
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let sub = output_dir(&root).unwrap();
        assert_eq!(sub, root.join(format!("copy-containers-{}", shared_host::euid())));
        assert_eq!(std::fs::metadata(&sub).unwrap().mode() & 0o777, 0o700);
        assert_eq!(output_dir(&root).unwrap(), sub, "reused");
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = output_dir(&root).unwrap_err().to_string();
        assert!(e.contains("only it can open"), "{e}");
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = output_dir(&root).unwrap_err().to_string();
        assert!(e.contains("without the sticky bit"), "{e}");
    }
}
