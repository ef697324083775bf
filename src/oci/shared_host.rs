//! Files on a shared host. The promoter's machine has several accounts, and the folders the tool
//! writes into (the local store's root, `tmp_file_root` under the world-writable `/var/tmp`) can be
//! reached by them. So:
//!
//! - a folder is trusted ([`inspect`]) only when every entry on the way to it, as the path is
//!   written, can be changed by nobody but this user and root: each folder on the way is this
//!   user's or root's, and not writable by group or others or, when it is (like `/var/tmp`), has
//!   the sticky bit, which stops others from removing or renaming what is not theirs; each
//!   symbolic link met on the way (in the middle of the path, at its end, with or without a
//!   trailing `/`, and inside the targets of links) is this user's or root's, and is followed
//!   component by component so its target is held to the same rule. The folder itself must also
//!   be this user's or root's and not open to others without the sticky bit. Another user's entry
//!   met in a shared (sticky) folder is reported as such ([`Squat`]), so that a caller whose
//!   default lies there can route around a name someone else took first;
//! - a file created or opened for writing is opened with `O_NOFOLLOW` (and created with `O_EXCL`,
//!   under a random name, then renamed into place: a planted link is replaced, never written
//!   through), with an explicit mode, whatever the umask: lock files and reports 0600, the rest
//!   0644, folders 0755 (private ones 0700);
//! - a lock file that is not this user's own regular file is refused (another user's file could
//!   be locked by them to block every writer), and one readable by others is made 0600.
//!
//! `rustix` gives the effective user and the `open` flags, which `std` lacks.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// Mode of the files the tool creates where others may read (layout files, list files).
pub(crate) const FILE_MODE: u32 = 0o644;
/// Mode of lock files and reports: this user only.
pub(crate) const PRIVATE_MODE: u32 = 0o600;
/// Mode of the folders the tool creates.
pub(crate) const DIR_MODE: u32 = 0o755;
/// Mode of the folders only this user may open (its own folder in a shared one).
pub(crate) const PRIVATE_DIR_MODE: u32 = 0o700;

/// Symbolic links followed at most while walking one path (as Linux's `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

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
    /// It does not exist (the folders on the way to it were checked).
    Missing,
    /// This user's or root's, and nobody else can change its entries.
    Private,
    /// This user's or root's, writable by others, with the sticky bit (like `/var/tmp`): others can
    /// add entries, not remove or rename the ones that are not theirs.
    Shared,
}

/// Another user's entry (folder, link or file) met in a shared (sticky) folder on the way to a
/// path, or as the path itself: a name they may have taken first to choose where the tool's files
/// go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Squat {
    /// The entry, as reached (its folder's real path and its name).
    pub entry: PathBuf,
    /// The rest of the path after it.
    pub rest: PathBuf,
    /// Its owner.
    pub uid: u32,
}

/// Why a path cannot be trusted: the error to show, and the other user's entry in a shared folder
/// when that is the reason.
#[derive(Debug)]
pub(crate) struct Untrusted {
    pub error: Error,
    pub squat: Option<Squat>,
}

/// Look at the folder `path` (`what` names it in errors: "the local store root") and every entry
/// on the way to it; an error says why it cannot be trusted and what to do (`fix`).
pub(crate) fn inspect(path: &Path, what: &str, fix: &str) -> Result<Folder> {
    examine(path, what, fix).map_err(|u| u.error)
}

/// One walk of a path's components (see the module doc).
struct Walk<'a> {
    path: &'a Path,
    what: &'a str,
    fix: &'a str,
}

impl Walk<'_> {
    fn refuse(&self, why: String) -> Untrusted {
        Untrusted {
            error: Error::Local(format!(
                "{} {}: {why}; {}",
                self.what,
                self.path.display(),
                self.fix
            )),
            squat: None,
        }
    }

    fn io(&self, at: &Path, e: io::Error) -> Untrusted {
        Untrusted {
            error: Error::io(at.display(), e),
            squat: None,
        }
    }
}

/// The components of `p` to walk: names and `..` (the root and `.` need no step).
fn steps(p: &Path) -> impl DoubleEndedIterator<Item = OsString> + '_ {
    p.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.to_os_string()),
        Component::ParentDir => Some(OsString::from("..")),
        Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
    })
}

/// [`inspect`] with the other user's entry in a shared folder, when that is why the path is
/// refused.
pub(crate) fn examine(path: &Path, what: &str, fix: &str) -> std::result::Result<Folder, Box<Untrusted>> {
    let w = Walk { path, what, fix };
    let start = match path.is_absolute() {
        true => path.to_path_buf(),
        false => std::env::current_dir()
            .map_err(|e| w.io(Path::new("."), e))?
            .join(path),
    };
    let mut todo: VecDeque<OsString> = steps(&start).collect();
    // `cur` is a real folder whose every ancestor was checked; `state` is its state.
    let mut cur = PathBuf::from("/");
    let mut state = folder_at(&w, &cur, todo.is_empty())?;
    let mut links = 0;
    while let Some(name) = todo.pop_front() {
        let last = todo.is_empty();
        if name == ".." {
            cur.pop();
            state = folder_at(&w, &cur, last)?;
            continue;
        }
        let next = cur.join(&name);
        let meta = match std::fs::symlink_metadata(&next) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Folder::Missing),
            Err(e) => return Err(w.io(&next, e).into()),
        };
        let squat = || {
            (state == Folder::Shared && !trusted(meta.uid())).then(|| Squat {
                entry: next.clone(),
                rest: todo.iter().collect(),
                uid: meta.uid(),
            })
        };
        let on_the_way = |what: &str| match last {
            true => what.to_string(),
            false => format!("{}, on the way to it, {what}", next.display()),
        };
        if meta.file_type().is_symlink() {
            if !trusted(meta.uid()) {
                let why = on_the_way(&format!(
                    "is a symbolic link of another user (uid {}), not followed: they chose where it points",
                    meta.uid()
                ));
                return Err(Box::new(Untrusted {
                    squat: squat(),
                    ..w.refuse(why)
                }));
            }
            links += 1;
            if links > MAX_LINKS {
                return Err(w
                    .refuse(format!("more than {MAX_LINKS} symbolic links on the way to it"))
                    .into());
            }
            let target = std::fs::read_link(&next).map_err(|e| w.io(&next, e))?;
            if target.is_absolute() {
                cur = PathBuf::from("/");
                state = folder_at(&w, &cur, false)?;
            }
            for s in steps(&target).rev() {
                todo.push_front(s);
            }
            if todo.is_empty() {
                // A link to `/` (or to its own folder).
                state = folder_at(&w, &cur, true)?;
            }
            continue;
        }
        if !meta.is_dir() {
            return Err(Box::new(Untrusted {
                squat: squat(),
                ..w.refuse(on_the_way("is not a folder"))
            }));
        }
        match folder_state(&meta) {
            Ok(s) => {
                state = s;
                cur = next;
            }
            Err(why) => {
                let why = match last {
                    true => why.to_string(),
                    false => format!("the folder above it, {}, {why}", next.display()),
                };
                return Err(Box::new(Untrusted {
                    squat: squat(),
                    ..w.refuse(why)
                }));
            }
        }
    }
    Ok(state)
}

/// The state of the real folder `dir` (reached by `..` or as the root); `last`: it is the folder
/// the walk was for.
fn folder_at(w: &Walk, dir: &Path, last: bool) -> std::result::Result<Folder, Box<Untrusted>> {
    let meta = std::fs::metadata(dir).map_err(|e| w.io(dir, e))?;
    folder_state(&meta).map_err(|why| {
        Box::new(match last {
            true => w.refuse(why.to_string()),
            false => w.refuse(format!("the folder above it, {}, {why}", dir.display())),
        })
    })
}

/// Owner and mode of one folder.
fn folder_state(meta: &std::fs::Metadata) -> std::result::Result<Folder, Distrust> {
    if !trusted(meta.uid()) {
        return Err(Distrust::Owner(meta.uid()));
    }
    let mode = meta.mode();
    if mode & 0o022 == 0 {
        Ok(Folder::Private)
    } else if mode & 0o1000 != 0 {
        Ok(Folder::Shared)
    } else {
        Err(Distrust::OpenToOthers(mode & 0o7777))
    }
}

/// Why a folder cannot be trusted.
#[derive(Debug)]
enum Distrust {
    /// Another user owns it.
    Owner(u32),
    /// Others can write it, and no sticky bit keeps them off what is not theirs.
    OpenToOthers(u32),
}

impl std::fmt::Display for Distrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Distrust::Owner(uid) => write!(
                f,
                "belongs to another user (uid {uid}; this run is uid {}): they could replace what the tool \
                 writes there",
                euid()
            ),
            Distrust::OpenToOthers(mode) => write!(
                f,
                "is writable by other users (mode {mode:o}) without the sticky bit: they could replace what \
                 the tool writes there"
            ),
        }
    }
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

    /// Another user's link is never followed: at the end of the path, with a trailing `/`, in the
    /// middle of it, or reached through a link of this user's. Giving a link away needs root.
    #[test]
    fn another_users_link_anywhere_on_the_way_is_refused() {
        if euid() != 0 {
            eprintln!("skipped: giving a link to another user (lchown) needs root");
            return;
        }
        const NOBODY: u32 = 65534;
        let d = tempfile::tempdir().unwrap();
        let fix = "fix it";
        let target = d.path().join("target");
        std::fs::create_dir_all(target.join("x")).unwrap();
        let evil = d.path().join("evil");
        symlink(&target, &evil).unwrap();
        std::os::unix::fs::lchown(&evil, Some(NOBODY), Some(NOBODY)).unwrap();
        let mine = d.path().join("mine");
        symlink("evil/x", &mine).unwrap();
        for p in [
            evil.clone(),
            PathBuf::from(format!("{}/", evil.display())),
            evil.join("x"),
            evil.join("x/missing"),
            mine.clone(),
            PathBuf::from(format!("{}/", mine.display())),
        ] {
            let e = inspect(&p, "the folder", fix).unwrap_err().to_string();
            assert!(
                e.contains("symbolic link of another user (uid 65534)") && e.contains(fix),
                "{}: {e}",
                p.display()
            );
        }
        // The same folder reached without the link is fine.
        assert_eq!(
            inspect(&target.join("x"), "the folder", fix).unwrap(),
            Folder::Private
        );
    }

    /// Another user's entry in a shared (sticky) folder on the way is named as such (the caller
    /// whose default lies there goes around it).
    #[test]
    fn another_users_entry_in_a_shared_folder_is_a_squat() {
        if euid() != 0 {
            eprintln!("skipped: giving a folder to another user (chown) needs root");
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let shared = d.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let taken = shared.join("promoter_logs");
        std::fs::create_dir(&taken).unwrap();
        std::os::unix::fs::chown(&taken, Some(65534), Some(65534)).unwrap();
        let u = examine(&taken.join("a/b"), "tmp_file_root", "fix it").unwrap_err();
        let s = u.squat.expect("a squat");
        assert_eq!(
            (s.entry, s.rest, s.uid),
            (taken.clone(), PathBuf::from("a/b"), 65534)
        );
        assert!(u.error.to_string().contains("another user"), "{}", u.error);
        // Not in a shared folder: refused, not a squat.
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(examine(&taken, "tmp_file_root", "fix it")
            .unwrap_err()
            .squat
            .is_none());
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
