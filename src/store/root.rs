//! The store's root folder: where it is ([`resolve_root`]), whether it is ours (the marker file), who
//! holds its lock, and the temporary files dead runs left behind.
//!
//! The store only ever deletes what it wrote. A root is a store when it holds the marker
//! [`MARKER_FILE`], written when the store is created (the first locked write into a missing or
//! empty folder). A root without the marker is refused by every write, read and delete, with nothing
//! touched — a `local_store` pointed at `$HOME` or at `tmp_file_root` must not become a store.
//!
//! Stores made before the marker existed keep working: a root holding only what the tool writes
//! (`.lock`, temporary files, release folders with `oci-layout` and an `index.json` whose every
//! reference carries our release annotation) is recognisably ours; the next locked write adds the
//! marker, readers accept it as it is.

use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::{validate_release, LOCK_FILE, RELEASE_LOCK_PREFIX};
use crate::error::{Error, Result};
use crate::oci::fsutil::{self, temp_owner_pid, TMP_PREFIX};
use crate::oci::index::{IndexFile, ANN_RELEASE, OCI_LAYOUT};
use crate::oci::shared_host::{self, Folder};

/// The marker file under the root: the store's proof that it created (or adopted) this folder.
pub const MARKER_FILE: &str = ".copy-containers-store";
/// The one environment variable naming the store root (after config `local_store`).
pub const ROOT_ENV: &str = "COPY_CONTAINERS_LOCAL_ROOT";

/// The store root every command uses: `configured` (config `local_store`, or a flag standing for
/// it), else `$COPY_CONTAINERS_LOCAL_ROOT`, else [`super::default_root`].
pub fn resolve_root(configured: Option<&Path>) -> Result<PathBuf> {
    if let Some(c) = configured {
        return Ok(c.to_path_buf());
    }
    match std::env::var_os(ROOT_ENV).filter(|v| !v.is_empty()) {
        Some(v) => Ok(PathBuf::from(v)),
        None => super::default_root(),
    }
}

/// What a root folder is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RootState {
    /// Does not exist, or is an empty folder: a write creates the store there.
    Fresh,
    /// Holds the marker.
    Marked,
    /// No marker, but holds only what this tool writes (a store of an earlier version).
    Ours,
    /// Holds other things (up to a few of them named): never written to, never deleted from.
    Foreign(Vec<String>),
}

/// Is this release folder an OCI layout whose every reference we wrote?
fn release_is_ours(dir: &Path) -> bool {
    if !dir.join(OCI_LAYOUT).is_file() {
        return false;
    }
    match IndexFile::load(dir) {
        Ok(Some(idx)) => idx
            .manifests
            .iter()
            .all(|e| e.annotations.contains_key(ANN_RELEASE)),
        _ => false,
    }
}

/// Look at the root without changing anything.
pub(crate) fn root_state(root: &Path) -> Result<RootState> {
    if root.join(MARKER_FILE).is_file() {
        return Ok(RootState::Marked);
    }
    let rd = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(RootState::Fresh),
        Err(e) => return Err(Error::io(root.display(), e)),
    };
    let mut foreign = Vec::new();
    let mut any = false;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(root.display(), e))?;
        any = true;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        let ours = if is_dir {
            validate_release(&name).is_ok() && release_is_ours(&path)
        } else {
            name == LOCK_FILE || is_release_lock(&name) || name.starts_with(TMP_PREFIX)
        };
        if !ours {
            foreign.push(name);
        }
    }
    foreign.sort();
    Ok(match (any, foreign.is_empty()) {
        (false, _) => RootState::Fresh,
        (true, true) => RootState::Ours,
        (true, false) => RootState::Foreign(foreign),
    })
}

/// The error for a root that is not a store.
pub(crate) fn not_a_store(root: &Path, foreign: &[String]) -> Error {
    let shown: Vec<&str> = foreign.iter().take(5).map(String::as_str).collect();
    let more = foreign.len().saturating_sub(shown.len());
    Error::Local(format!(
        "{} is not a copy-containers local store (no {MARKER_FILE} marker) and holds other files \
         ({}{}); nothing was touched. Point local_store (--local-store, --root, {ROOT_ENV}) at a \
         store or at a new or empty folder",
        root.display(),
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    ))
}

/// Is `name` a release's lock file (`.lock.<release>`)?
pub(crate) fn is_release_lock(name: &str) -> bool {
    name.strip_prefix(RELEASE_LOCK_PREFIX)
        .is_some_and(|r| validate_release(r).is_ok())
}

/// Refuse a root that another user could change (see [`crate::oci::shared_host`]): owned by
/// someone else, writable by others (even with the sticky bit: they could add entries), or reached
/// through someone else's link.
pub(crate) fn check_safe(root: &Path) -> Result<()> {
    let fix = format!(
        "nothing was touched. Give local_store (--local-store, --root, {ROOT_ENV}) a folder of this \
         user's that only it can write"
    );
    match shared_host::inspect(root, "the local store root", &fix)? {
        Folder::Missing | Folder::Private => Ok(()),
        Folder::Shared => Err(Error::Local(format!(
            "the local store root {}: is writable by other users (sticky, like /tmp): they could add \
             files and folders in it; {fix}",
            root.display()
        ))),
    }
}

/// Refuse a root that is not ours or not safe (every read, write and delete).
pub(crate) fn check_ours(root: &Path) -> Result<RootState> {
    check_safe(root)?;
    match root_state(root)? {
        RootState::Foreign(f) => Err(not_a_store(root, &f)),
        s => Ok(s),
    }
}

/// Write the marker (the caller holds the exclusive lock of a fresh or recognised root).
pub(crate) fn write_marker(root: &Path) -> Result<()> {
    let text = format!(
        "copy-containers local store\ncreated: {}\nThe store deletes only what it wrote; do not put other files here.\n",
        fsutil::now_rfc3339()
    );
    fsutil::write_atomic(&root.join(MARKER_FILE), text.as_bytes())
}

/// Who holds the lock: written into the lock file by the exclusive holder.
pub(crate) fn holder_line() -> String {
    // `args_os`: an argument that is not UTF-8 must not panic here.
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let command = args
        .first()
        .map(|a| {
            Path::new(a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| a.clone())
        })
        .unwrap_or_else(|| "copy-containers".into());
    // Only the program and its verb: arguments may name files or values that are nobody's business.
    let verb = args
        .iter()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .filter(|a| {
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
        .map(|v| format!(" {v}"))
        .unwrap_or_default();
    format!(
        "PID {}, `{command}{verb}`, since {}",
        std::process::id(),
        fsutil::now_rfc3339()
    )
}

/// Record the holder in the (locked) lock file.
pub(crate) fn write_holder(file: &std::fs::File) {
    let mut f = file;
    let line = holder_line();
    let _ = f
        .set_len(0)
        .and_then(|_| f.seek(io::SeekFrom::Start(0)))
        .and_then(|_| f.write_all(line.as_bytes()));
}

/// Forget the holder (the exclusive holder, just before unlocking).
pub(crate) fn clear_holder(file: &std::fs::File) {
    let _ = file.set_len(0);
}

/// Who holds the lock, as recorded, if anyone recorded it.
pub(crate) fn read_holder(path: &Path) -> Option<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut s = String::new();
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(shared_host::nofollow())
        .open(path)
        .ok()?
        .take(512)
        .read_to_string(&mut s)
        .ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// The folders of a release where temporary files are written (never through a link).
fn release_dirs(root: &Path, release: &str) -> Vec<PathBuf> {
    let dir = root.join(release);
    if !shared_host::is_real_dir(&dir) {
        return vec![];
    }
    let mut dirs = vec![dir.clone()];
    if shared_host::is_real_dir(&dir.join("blobs")) {
        if let Ok(algs) = std::fs::read_dir(dir.join("blobs")) {
            dirs.extend(
                algs.flatten()
                    .filter(|a| a.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|a| a.path()),
            );
        }
    }
    dirs
}

/// Remove the temporary files of dead runs: the caller holds the store's exclusive lock, so every
/// `.tmp-*` file not of this process belongs to a run that is gone. Returns how many went.
pub(crate) fn sweep_temps(root: &Path, releases: &[String]) -> usize {
    let mut dirs = vec![root.to_path_buf()];
    for r in releases {
        dirs.extend(release_dirs(root, r));
    }
    sweep(dirs)
}

/// [`sweep_temps`] in one release, whose exclusive lock the caller holds, and in the root itself
/// (only the store's exclusive holder writes there, and the caller's shared hold of the store's
/// lock excludes one).
pub(crate) fn sweep_release_temps(root: &Path, release: &str) -> usize {
    let mut dirs = vec![root.to_path_buf()];
    dirs.extend(release_dirs(root, release));
    sweep(dirs)
}

fn sweep(dirs: Vec<PathBuf>) -> usize {
    let me = std::process::id();
    let mut removed = 0;
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for f in rd.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            let dead = name.starts_with(TMP_PREFIX) && temp_owner_pid(&name).is_none_or(|p| p != me);
            let file = f.file_type().is_ok_and(|t| t.is_file());
            if dead && file && std::fs::remove_file(f.path()).is_ok() {
                tracing::info!(file = %f.path().display(), "removed a temporary file left by a dead run");
                removed += 1;
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("r");
        assert_eq!(root_state(&root).unwrap(), RootState::Fresh);
        std::fs::create_dir(&root).unwrap();
        assert_eq!(root_state(&root).unwrap(), RootState::Fresh);
        std::fs::write(root.join(LOCK_FILE), b"").unwrap();
        assert_eq!(root_state(&root).unwrap(), RootState::Ours);
        std::fs::create_dir_all(root.join("master/blobs/sha256")).unwrap();
        assert!(matches!(root_state(&root).unwrap(), RootState::Foreign(f) if f == ["master"]));
        crate::oci::index::ensure_layout(&root.join("master")).unwrap();
        assert_eq!(root_state(&root).unwrap(), RootState::Ours);
        std::fs::write(root.join("notes.txt"), b"mine").unwrap();
        let RootState::Foreign(f) = root_state(&root).unwrap() else {
            panic!("foreign expected")
        };
        let e = not_a_store(&root, &f).to_string();
        assert!(e.contains("notes.txt") && e.contains(MARKER_FILE), "{e}");
        write_marker(&root).unwrap();
        assert_eq!(root_state(&root).unwrap(), RootState::Marked);
    }

    #[test]
    fn root_resolution_order() {
        let configured = Path::new("/from/config");
        assert_eq!(resolve_root(Some(configured)).unwrap(), configured);
    }
}
