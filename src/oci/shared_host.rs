//! Files on a shared host. The promoter's machine has several accounts, and the folders the tool
//! writes into (the local store's root, `tmp_file_root` under the world-writable `/var/tmp`) can be
//! reached by them. So:
//!
//! - a folder is trusted ([`inspect`]) only when it belongs to this user or to root, and no other
//!   user can add, rename or remove entries in it: not writable by group or others, or, when it is
//!   (like `/var/tmp`), with the sticky bit, which stops others from removing or renaming what is
//!   not theirs. The folders above it must hold the same, or another user could swap the folder
//!   itself. A folder reached through a symbolic link is trusted only when the link is this
//!   user's or root's;
//! - a file created or opened for writing is opened with `O_NOFOLLOW` (and created with `O_EXCL`,
//!   under a random name, then renamed into place: a planted link is replaced, never written
//!   through), with an explicit mode, whatever the umask: lock files and reports 0600, the rest
//!   0644, folders 0755;
//! - a lock file that is not this user's own regular file is refused (another user's file could
//!   be locked by them to block every writer), and one readable by others is made 0600.
//!
//! `rustix` gives the effective user and the `open` flags, which `std` lacks.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Mode of the files the tool creates where others may read (layout files, list files).
pub(crate) const FILE_MODE: u32 = 0o644;
/// Mode of lock files and reports: this user only.
pub(crate) const PRIVATE_MODE: u32 = 0o600;
/// Mode of the folders the tool creates.
pub(crate) const DIR_MODE: u32 = 0o755;

/// The effective user id of this process.
pub(crate) fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// May this owner's folders and links be trusted: this user's own, or root's.
fn trusted(uid: u32) -> bool {
    uid == 0 || uid == euid()
}

/// The `O_NOFOLLOW` flag for [`OpenOptionsExt::custom_flags`].
pub(crate) fn nofollow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

/// What a checked folder is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Folder {
    /// It does not exist (the folders above it were checked).
    Missing,
    /// This user's or root's, and nobody else can change its entries.
    Private,
    /// This user's or root's, writable by others, with the sticky bit (like `/var/tmp`): others can
    /// add entries, not remove or rename the ones that are not theirs.
    Shared,
}

fn refuse(what: &str, path: &Path, why: String, fix: &str) -> Error {
    Error::Local(format!("{what} {}: {why}; {fix}", path.display()))
}

/// Look at the folder `path` (`what` names it in errors: "the local store root") and every folder
/// above it; an error says why it cannot be trusted and what to do.
pub(crate) fn inspect(path: &Path, what: &str, fix: &str) -> Result<Folder> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            check_above(path, what, fix)?;
            return Ok(Folder::Missing);
        }
        Err(e) => return Err(Error::io(path.display(), e)),
    };
    let meta = if meta.file_type().is_symlink() {
        if !trusted(meta.uid()) {
            return Err(refuse(
                what,
                path,
                format!(
                    "is a symbolic link of another user (uid {}), not followed: they chose where it points",
                    meta.uid()
                ),
                fix,
            ));
        }
        match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(refuse(what, path, "is a symbolic link to nothing".into(), fix))
            }
            Err(e) => return Err(Error::io(path.display(), e)),
        }
    } else {
        meta
    };
    if !meta.is_dir() {
        return Err(refuse(what, path, "is not a folder".into(), fix));
    }
    let state = folder_state(&meta).map_err(|why| refuse(what, path, why.to_string(), fix))?;
    let real = std::fs::canonicalize(path).map_err(|e| Error::io(path.display(), e))?;
    check_above(&real, what, fix)?;
    Ok(state)
}

/// Why a folder cannot be trusted.
#[derive(Debug)]
enum Untrusted {
    /// Another user owns it.
    Owner(u32),
    /// Others can write it, and no sticky bit keeps them off what is not theirs.
    OpenToOthers(u32),
}

impl std::fmt::Display for Untrusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Untrusted::Owner(uid) => write!(
                f,
                "belongs to another user (uid {uid}; this run is uid {}): they could replace what the tool \
                 writes there",
                euid()
            ),
            Untrusted::OpenToOthers(mode) => write!(
                f,
                "is writable by other users (mode {mode:o}) without the sticky bit: they could replace what \
                 the tool writes there"
            ),
        }
    }
}

/// Owner and mode of one folder.
fn folder_state(meta: &std::fs::Metadata) -> std::result::Result<Folder, Untrusted> {
    if !trusted(meta.uid()) {
        return Err(Untrusted::Owner(meta.uid()));
    }
    let mode = meta.mode();
    if mode & 0o022 == 0 {
        Ok(Folder::Private)
    } else if mode & 0o1000 != 0 {
        Ok(Folder::Shared)
    } else {
        Err(Untrusted::OpenToOthers(mode & 0o7777))
    }
}

/// The folders above `path` (the nearest existing one and up): each this user's or root's, and
/// not open to others without the sticky bit, so nobody else can move `path` away.
fn check_above(path: &Path, what: &str, fix: &str) -> Result<()> {
    let mut cur: Option<&Path> = path.parent();
    while let Some(dir) = cur {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        match std::fs::metadata(dir) {
            Ok(m) => {
                if let Err(why) = folder_state(&m) {
                    return Err(refuse(
                        what,
                        path,
                        format!("the folder above it, {}, {why}", dir.display()),
                        fix,
                    ));
                }
                // The rest of the way up, on the real path.
                let real = std::fs::canonicalize(dir).map_err(|e| Error::io(dir.display(), e))?;
                let mut up = real.parent();
                while let Some(a) = up {
                    let m = std::fs::metadata(a).map_err(|e| Error::io(a.display(), e))?;
                    if let Err(why) = folder_state(&m) {
                        return Err(refuse(
                            what,
                            path,
                            format!("the folder above it, {}, {why}", a.display()),
                            fix,
                        ));
                    }
                    up = a.parent();
                }
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => cur = dir.parent(),
            Err(e) => return Err(Error::io(dir.display(), e)),
        }
    }
    Ok(())
}

/// Is `path` (not followed) a symbolic link? Where it points, when it is.
pub(crate) fn symlink_target(path: &Path) -> Option<PathBuf> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            Some(std::fs::read_link(path).unwrap_or_else(|_| PathBuf::from("?")))
        }
        _ => None,
    }
}

/// Is `path` a real folder (not a symbolic link to one)?
pub(crate) fn is_real_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// Open a lock file for locking: never through a symbolic link; created 0600 when `create`
/// (`Ok(None)` when it is missing and not to be created); refused unless it is a regular file of
/// this user (or root); made 0600 when it was readable by others (anyone who can open it can
/// `flock` it). Read-write when possible, else read-only (a store this user may only read).
pub(crate) fn open_lock(path: &Path, create: bool) -> Result<Option<File>> {
    let open = |write: bool| {
        OpenOptions::new()
            .read(true)
            .write(write)
            .create(write && create)
            .truncate(false)
            .mode(PRIVATE_MODE)
            .custom_flags(nofollow())
            .open(path)
    };
    let file = match open(true) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound && !create => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => match open(false) {
            Ok(f) => f,
            Err(e2) if e2.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(_) => return Err(Error::io(path.display(), e)),
        },
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Err(Error::Local(format!(
                "{} is a symbolic link: a lock file is never opened through one (someone may have \
                 planted it to make the tool write elsewhere); remove it",
                path.display()
            )))
        }
        Err(e) => return Err(Error::io(path.display(), e)),
    };
    let meta = file.metadata().map_err(|e| Error::io(path.display(), e))?;
    if !meta.is_file() {
        return Err(Error::Local(format!(
            "{} is not a regular file; remove it",
            path.display()
        )));
    }
    if !trusted(meta.uid()) {
        return Err(Error::Local(format!(
            "{} belongs to another user (uid {}; this run is uid {}), who could lock it and block \
             every run; remove it",
            path.display(),
            meta.uid(),
            euid()
        )));
    }
    if meta.mode() & 0o077 != 0 && meta.uid() == euid() {
        // A lock file of an earlier version (0644): anyone who could read it could lock it.
        let _ = file.set_permissions(std::fs::Permissions::from_mode(PRIVATE_MODE));
    }
    Ok(Some(file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn folders_are_judged_by_owner_and_mode() {
        let d = tempfile::tempdir().unwrap();
        let fix = "fix it";
        let p = d.path().join("x");
        assert_eq!(inspect(&p, "the folder", fix).unwrap(), Folder::Missing);
        std::fs::create_dir(&p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(inspect(&p, "the folder", fix).unwrap(), Folder::Private);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(inspect(&p, "the folder", fix).unwrap(), Folder::Shared);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = inspect(&p, "the folder", fix).unwrap_err().to_string();
        assert!(
            e.contains("writable by other users (mode 777)") && e.contains(fix),
            "{e}"
        );
        // Below it, the folder above is the problem.
        let e = inspect(&p.join("sub"), "the folder", fix)
            .unwrap_err()
            .to_string();
        assert!(e.contains("the folder above it"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        // A link of this user's is followed.
        let l = d.path().join("link");
        symlink(&p, &l).unwrap();
        assert_eq!(inspect(&l, "the folder", fix).unwrap(), Folder::Private);
        let f = d.path().join("file");
        std::fs::write(&f, b"").unwrap();
        assert!(inspect(&f, "the folder", fix).is_err());
    }

    #[test]
    fn lock_files_are_never_opened_through_a_link_and_are_private() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let lock = d.path().join(".lock");
        symlink(&victim, &lock).unwrap();
        let e = open_lock(&lock, true).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        std::fs::remove_file(&lock).unwrap();
        assert!(open_lock(&lock, false).unwrap().is_none(), "not created");
        assert!(!lock.exists());
        open_lock(&lock, true).unwrap().unwrap();
        let mode = std::fs::metadata(&lock).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o644)).unwrap();
        open_lock(&lock, false).unwrap().unwrap();
        assert_eq!(std::fs::metadata(&lock).unwrap().mode() & 0o777, 0o600);
    }
}
