//! Where a run's files go under `tmp_file_root`, on a host other users share. The role's default,
//! `/var/tmp/promoter_logs`, sits in the world-writable `/var/tmp`, where anyone could create that
//! folder first, or a link by that name, and so choose where the reports and list files go, read
//! them, or stop every run. So the folder, and every entry on the way to it, is checked before
//! anything is written ([`output_dir`], see [`crate::oci::shared_host`]):
//!
//! - missing: created (0755, as the role's was), then used;
//! - this user's or root's, and only they can change it: used as it is;
//! - this user's or root's but shared, writable by others with the sticky bit (`/tmp`, `/var/tmp`
//!   themselves, or a folder an operator opened to several accounts): the files go to a private
//!   sub-folder, `copy-containers-<uid>` (0700, created once, and reused only when it is this
//!   user's own, not a link, and closed to others): others can add entries to a sticky folder,
//!   never into that one. A log line names it when it is created;
//! - another user's folder or link made in a shared (sticky) folder, as the folder itself or on the
//!   way to it (`/var/tmp/promoter_logs` made by someone else before the promoter's first run): not
//!   used, and not a stop either, since anyone could make it: the files go to a private folder
//!   beside it (`/var/tmp/promoter_logs-copy-containers-<uid>`, 0700, the rest of the path below
//!   it), and a warning (also in the module's `warnings`) names both and how to go back. Only for
//!   the default, [`DEFAULT_TMP_FILE_ROOT`]: a `tmp_file_root` the user chose that lies there is
//!   refused like the next case (they chose it; going around it would hide where the files are);
//! - another user's folder or link anywhere else, or a folder writable by others without the
//!   sticky bit (or with such a folder on the way): refused with an error saying why and what to
//!   do; nothing is written.
//!
//! A private folder's name someone else took first in the shared folder (they made
//! `copy-containers-<uid>` themselves) is not a stop either: this user's own
//! `<name>-<8 hex digits>` is made instead and found again by the next runs.
//!
//! Reports are 0600 (they name registry users and hosts); `report_group_readable` makes them 0640.
//! Every file is written through [`write_file`]: its folder checked the same way (a `report_json`
//! path's missing folders are created only under folders nobody else can change), then the one
//! atomic write of [`crate::oci::fsutil`].

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::oci::shared_host::{self, Folder, Squat, Untrusted, PRIVATE_DIR_MODE};

/// The role's `tmp_file_root`, used when none is given.
pub const DEFAULT_TMP_FILE_ROOT: &str = "/var/tmp/promoter_logs";

/// Mode of reports by default: this user's only.
pub const REPORT_MODE: u32 = shared_host::PRIVATE_MODE;
/// Mode of reports readable by the group (`report_group_readable`).
pub const GROUP_REPORT_MODE: u32 = 0o640;
/// Mode of the list files: readable by all, as the role's (another job reads the parsed list).
pub const LIST_FILE_MODE: u32 = shared_host::FILE_MODE;

const FIX: &str = "set tmp_file_root to a folder of this user's (or remove this one: the run creates it)";

/// The folder the run writes its reports and list files in, for `tmp_file_root` (see the module
/// doc): `root` itself, its private sub-folder, or a private folder beside another user's;
/// created when missing.
pub fn output_dir(root: &Path) -> Result<PathBuf> {
    output_dir_with(root, root == Path::new(DEFAULT_TMP_FILE_ROOT))
}

/// [`output_dir`]; `go_around`: another user's entry in a shared folder on the way is gone around
/// (the default's place), else refused (a `tmp_file_root` the user chose).
fn output_dir_with(root: &Path, go_around: bool) -> Result<PathBuf> {
    let dir = match shared_host::examine(root, "tmp_file_root", FIX) {
        Ok(_) => root.to_path_buf(),
        Err(u) => match *u {
            Untrusted {
                squat: Some(s),
                error,
            } if go_around => beside(root, &s, &error)?,
            u => return Err(u.error),
        },
    };

    match crate::oci::fsutil::ensure_dir(&dir, "tmp_file_root", FIX)? {
        Folder::Shared => private_sub_folder(&dir),
        _ => Ok(dir),
    }
}

/// Write a file the run makes (a report, a list file) with this mode: its folder checked (and its
/// missing folders made) as the module doc says, then written atomically, never through a link.
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let fix = "write it into a folder of this user's";
    let what = format!("the folder of {}", path.display());
    crate::oci::fsutil::ensure_dir(dir, &what, fix)?;
    crate::oci::fsutil::write_atomic_mode(path, bytes, mode)
}

/// `tmp_file_root` lies in (or below) another user's entry `s` in a shared folder: this user's
/// private folder beside that entry, with the rest of the path below it; a warning says so once.
fn beside(root: &Path, s: &Squat, why: &Error) -> Result<PathBuf> {
    let uid = shared_host::euid();
    let (Some(parent), Some(name)) = (s.entry.parent(), s.entry.file_name()) else {
        return Err(Error::Config(why.to_string()));
    };
    let name = format!("{}-copy-containers-{uid}", name.to_string_lossy());
    let mine = private_folder(parent, &name)?;
    let dir = mine.join(&s.rest);
    crate::logging::warn_once(&format!(
        "tmp_file_root {}: {} belongs to another user (uid {}), who could have made it to choose \
         where this user's files go: nothing is written there. This run's list files and reports \
         go to {} instead (a folder only this user can open); jobs reading the list files under \
         {} do not find them meanwhile. To go back: have {} removed (by root or its owner; the \
         next run makes it again), or set tmp_file_root to a folder of this user's",
        root.display(),
        s.entry.display(),
        s.uid,
        dir.display(),
        root.display(),
        s.entry.display()
    ));
    Ok(dir)
}

/// `<root>/copy-containers-<uid>`, this user's only.
fn private_sub_folder(root: &Path) -> Result<PathBuf> {
    let name = format!("copy-containers-{}", shared_host::euid());
    let sub = private_folder(root, &name)?;
    if sub.file_name().is_some_and(|n| n.to_string_lossy() != name) {
        crate::logging::warn_once(&format!(
            "tmp_file_root {} is shared with other users and another user made {} first: this \
             user's reports and list files go to {} (a folder only it can open)",
            root.display(),
            root.join(&name).display(),
            sub.display()
        ));
    }
    Ok(sub)
}

/// Is `m` a real folder of this user's that only it can open?
fn is_private(m: &std::fs::Metadata) -> bool {
    !m.file_type().is_symlink() && m.is_dir() && m.uid() == shared_host::euid() && m.mode() & 0o077 == 0
}

/// A folder of this user's only, in the shared (sticky) folder `parent`: `<parent>/<name>`, or,
/// when another user took that name first, this user's `<name>-<8 hex digits>` (found again by
/// later runs, made when there is none). Made 0700 and logged when made. This user's own `<name>`
/// opened to others is refused: someone may have put files in it.
fn private_folder(parent: &Path, name: &str) -> Result<PathBuf> {
    let first = parent.join(name);
    for _ in 0..8 {
        match std::fs::symlink_metadata(&first) {
            Ok(m) if is_private(&m) => return Ok(first),
            Ok(m) if m.uid() == shared_host::euid() && !m.file_type().is_symlink() => {
                return Err(Error::Local(format!(
                    "{}: the private folder for this user's files in the shared folder {} is not \
                     a folder only it can open (mode {:o}): someone may have put files in it; \
                     nothing was written. Remove it (or chmod 700 it), or set tmp_file_root to a \
                     folder of this user's",
                    first.display(),
                    parent.display(),
                    m.mode() & 0o7777
                )))
            }
            // Another user's name (or a link): ours beside it.
            Ok(_) => return numbered_private_folder(parent, name),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(first.display(), e)),
        }
        if make_private(&first)? {
            tracing::info!(
                "{} is shared with other users (writable by them, sticky): this user's reports \
                 and list files go to {}, a folder only it can open",
                parent.display(),
                first.display()
            );
            return Ok(first);
        }
    }
    numbered_private_folder(parent, name)
}

/// This user's `<parent>/<name>-<8 hex digits>`: the one an earlier run made, else a new one.
fn numbered_private_folder(parent: &Path, name: &str) -> Result<PathBuf> {
    let prefix = format!("{name}-");
    let mut found: Vec<PathBuf> = std::fs::read_dir(parent)
        .map_err(|e| Error::io(parent.display(), e))?
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let suffix = n.strip_prefix(&prefix).unwrap_or_default();
            suffix.len() == 8 && suffix.bytes().all(|b| b.is_ascii_hexdigit())
        })
        // `DirEntry::metadata` does not follow links.
        .filter(|e| e.metadata().is_ok_and(|m| is_private(&m)))
        .map(|e| e.path())
        .collect();
    found.sort();
    if let Some(dir) = found.into_iter().next() {
        return Ok(dir);
    }
    for _ in 0..8 {
        let dir = parent.join(format!("{prefix}{:08x}", fastrand::u32(..)));
        if make_private(&dir)? {
            tracing::info!(
                "{} in the shared folder {} belongs to another user: this user's files go to {}, \
                 a folder only it can open",
                parent.join(name).display(),
                parent.display(),
                dir.display()
            );
            return Ok(dir);
        }
    }
    Err(Error::Local(format!(
        "cannot make a private folder in {}: every name tried was taken",
        parent.display()
    )))
}

/// Make `dir` (0700 whatever the umask); `false` when something by that name exists.
fn make_private(dir: &Path) -> Result<bool> {
    match std::fs::DirBuilder::new().mode(PRIVATE_DIR_MODE).create(dir) {
        Ok(()) => {
            // Ours, just made, in a sticky folder: nobody else can swap it.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(PRIVATE_DIR_MODE))
                .map_err(|e| Error::io(dir.display(), e))?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(Error::io(dir.display(), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Another user's folder at the default's place, in a shared folder: a private folder beside
    /// it, made 0700 and reused; the same place chosen by the user is refused. Giving a folder to
    /// another user needs root.
    #[test]
    fn another_users_folder_at_the_default_place_is_gone_around_a_chosen_one_refused() {
        if shared_host::euid() != 0 {
            eprintln!("skipped: giving a folder to another user (chown) needs root");
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let var_tmp = d.path().join("var_tmp");
        std::fs::create_dir(&var_tmp).unwrap();
        std::fs::set_permissions(&var_tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let taken = var_tmp.join("promoter_logs");
        std::fs::create_dir(&taken).unwrap();
        std::os::unix::fs::chown(&taken, Some(65534), Some(65534)).unwrap();
        let e = output_dir_with(&taken, false).unwrap_err().to_string();
        assert!(e.contains("belongs to another user (uid 65534"), "{e}");
        let mine = output_dir_with(&taken, true).unwrap();
        let uid = shared_host::euid();
        assert_eq!(mine, var_tmp.join(format!("promoter_logs-copy-containers-{uid}")));
        let m = std::fs::symlink_metadata(&mine).unwrap();
        assert_eq!((m.mode() & 0o777, m.uid()), (0o700, uid));
        assert_eq!(output_dir_with(&taken, true).unwrap(), mine, "reused");
        assert!(
            std::fs::read_dir(&taken).unwrap().next().is_none(),
            "nothing in theirs"
        );
        let w = crate::logging::warnings();
        assert!(
            w.iter().any(|w| w.contains(&taken.display().to_string())
                && w.contains(&mine.display().to_string())
                && w.contains("have")),
            "{w:?}"
        );
    }

    #[test]
    fn a_report_folder_is_made_only_under_folders_nobody_else_can_change() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b/report.json");
        write_file(&p, b"{}", REPORT_MODE).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"{}");
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
        let open = d.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = write_file(&open.join("x/report.json"), b"{}", REPORT_MODE)
            .unwrap_err()
            .to_string();
        assert!(e.contains("without the sticky bit"), "{e}");
        assert!(!open.join("x").exists());
    }
}
