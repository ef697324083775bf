//! The local store: images kept on this machine as OCI image layouts, one per release, behind the
//! same operations as the registry client ([`Layout`] mirrors [`crate::registry::Registry`]), so the
//! copy engine can use it as a source or a destination.
//!
//! ## On disk
//!
//! ```text
//! <root>/.lock                          exclusive lock of writers (shared lock of fsck)
//! <root>/<release>/oci-layout           {"imageLayoutVersion": "1.0.0"}
//! <root>/<release>/index.json           OCI image index: one descriptor per reference
//! <root>/<release>/blobs/sha256/<hex>   manifests, configs, layers, list children (shared in a release)
//! <root>/<release>/labels.json          label moves recorded for rollback (see [`Store::record_label`])
//! ```
//!
//! The root defaults to `$XDG_DATA_HOME/copy-containers` or `~/.local/share/copy-containers`
//! ([`default_root`]). Each reference in `index.json` carries `org.opencontainers.image.ref.name` =
//! `<last element of the repository>:<tag>` (`openstack-nova-compute:<hash>`), so
//! `skopeo inspect oci:<root>/<release>:openstack-nova-compute:<hash>` reads it, plus the release,
//! hash, source repository and creation time ([`ANN_RELEASE`], [`ANN_HASH`], [`ANN_REPOSITORY`],
//! [`ANN_CREATED`]). A manifest list is the referenced manifest; its children are blobs.
//! Descriptors keep the manifests' real media types (Docker or OCI), since the bytes are kept exactly.
//!
//! ## Guarantees
//!
//! - Every write goes to a temporary file in the same folder, is fsynced and renamed into place;
//!   `index.json` and `labels.json` are rewritten the same way. Blobs are hashed while they stream to
//!   disk and only renamed into place when digest and size match.
//! - A manifest is only accepted when everything it references (config, layers, children and their
//!   blobs) is already present, so every reference in `index.json` is complete.
//! - Writers hold an exclusive lock on `<root>/.lock` ([`Store::lock`]); a second run gets "the local
//!   store ROOT is in use by another copy-containers run". Locks are re-entrant within one [`Store`]
//!   value (and its clones): a run takes `lock()` once and every write and `delete` under it reuses it;
//!   without it each write takes the lock for itself. Use one `Store` per root per process.
//! - `list` reads without locking (files are replaced atomically); `fsck` and dry-run deletes take a
//!   shared lock.
//!
//! ## Deleting
//!
//! [`Store::delete`] removes references ([`DeleteScope`]), garbage-collects the blobs of the touched
//! releases that nothing references any more, removes a release folder once it holds nothing (label
//! history keeps it), then verifies the whole store ([`FsckReport`]) and that the deleted references
//! are gone and no orphan blob is left in the touched releases. A container matches by its full name
//! (`openstack-nova-compute`), by its name without prefix (`nova-compute`: what follows the first `-`,
//! or the name recorded with [`Layout::with_prefix`]).

mod fsutil;
mod index;
mod labels;
mod layout;
mod maint;

use std::collections::HashMap;
use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use serde::{Deserialize, Serialize};

pub use fsutil::validate_release;
pub(crate) use fsutil::write_atomic;
pub use index::{ANN_CREATED, ANN_HASH, ANN_NAME, ANN_REF_NAME, ANN_RELEASE, ANN_REPOSITORY};
pub use labels::LabelRecord;
pub use layout::Layout;

use crate::digest::Digest;
use crate::error::{Error, Result};

/// Name of the lock file under the root.
pub const LOCK_FILE: &str = ".lock";

/// The default root: `$XDG_DATA_HOME/copy-containers`, else `$HOME/.local/share/copy-containers`.
pub fn default_root() -> Result<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| Path::new(x).is_absolute()) {
        return Ok(PathBuf::from(x).join("copy-containers"));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".local/share/copy-containers")),
        None => Err(Error::Config(
            "no local store root: neither XDG_DATA_HOME nor HOME is set; pass --root".into(),
        )),
    }
}

/// One image (one reference of a release's `index.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalImage {
    pub release: String,
    /// The reference name without tag: `openstack-nova-compute`.
    pub container: String,
    pub tag: String,
    pub digest: Digest,
    pub media_type: String,
    /// Bytes of its manifest, configs and layers, list children included (each blob counted once).
    pub size: u64,
    /// The repository it was written for (`tripleomaster/openstack-nova-compute`), when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// The hash annotation, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// When it was written (RFC 3339), when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
}

/// What [`Store::delete`] removes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteScope {
    /// Every release.
    All,
    /// One release, all its images.
    Release(String),
    /// One container (every tag), in one release or in all.
    Container { name: String, release: Option<String> },
}

impl DeleteScope {
    /// Convenience constructor for [`DeleteScope::Container`].
    pub fn container(name: impl Into<String>, release: Option<String>) -> DeleteScope {
        DeleteScope::Container {
            name: name.into(),
            release,
        }
    }
}

impl fmt::Display for DeleteScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeleteScope::All => f.write_str("all releases"),
            DeleteScope::Release(release) => write!(f, "release {release}"),
            DeleteScope::Container {
                name,
                release: Some(r),
            } => write!(f, "container {name} in release {r}"),
            DeleteScope::Container { name, release: None } => write!(f, "container {name} in every release"),
        }
    }
}

/// The result of checking the store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsckReport {
    /// No problems.
    pub ok: bool,
    /// References (index.json entries) checked.
    pub references: usize,
    /// Blob files re-hashed.
    pub blobs: usize,
    /// Their bytes.
    pub bytes: u64,
    /// What is wrong: unreadable files, missing or corrupt content, incomplete references.
    pub problems: Vec<String>,
    /// Harmless findings: orphan blobs (kept from an interrupted run; a delete in that release
    /// collects them), leftover temporary files, files that do not belong.
    pub warnings: Vec<String>,
}

/// The result of [`Store::delete`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteReport {
    /// What was asked, in words.
    pub scope: String,
    /// The references removed (or that would be, in a dry run).
    pub removed: Vec<LocalImage>,
    /// Bytes of blob files removed (or that would be).
    pub freed_bytes: u64,
    /// Blob files removed (or that would be).
    pub blobs_removed: usize,
    /// Release folders removed (or that would be).
    pub releases_removed: Vec<String>,
    /// The check after the delete (in a dry run: of the store as it is).
    pub verification: FsckReport,
    /// Did anything change (would anything, in a dry run)? `false` for a delete of nothing.
    pub changed: bool,
    pub dry_run: bool,
    /// Things worth knowing that did not stop the delete.
    pub warnings: Vec<String>,
}

impl DeleteReport {
    /// Delete done and verified.
    pub fn ok(&self) -> bool {
        self.verification.ok
    }
}

/// Delete with verification, for the CLI and the module (`action: delete_local`): opens the store at
/// `root`, takes the lock, deletes (or plans, with `dry_run`), verifies.
pub fn delete_verified(root: &Path, scope: &DeleteScope, dry_run: bool) -> Result<DeleteReport> {
    Store::open(root)?.delete(scope, dry_run)
}

/// Is `e` the "store in use by another run" error of [`Store::lock`]?
pub fn is_lock_conflict(e: &Error) -> bool {
    matches!(e, Error::Io { err, .. } if err.kind() == io::ErrorKind::WouldBlock)
}

/// The local store under one root.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    /// The lock this store holds, if any (re-entrant use).
    held: Mutex<Weak<LockInner>>,
    /// The store's one open description of `<root>/.lock`, opened on first use and kept. `flock`
    /// locks belong to the open file description: a child process forked by another thread holds a
    /// copy of it until it execs, so closing our descriptor would not release the lock in time and a
    /// new descriptor would then conflict with it. We lock and unlock this one explicitly instead.
    lock_file: Mutex<Option<Arc<File>>>,
    /// In-process serialisation of `index.json` / `labels.json` rewrites, per release.
    index_locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

#[derive(Debug)]
struct LockInner {
    store: Arc<Inner>,
    /// `None`: a shared lock on a root that does not exist yet (nothing to protect).
    file: Option<Arc<File>>,
    exclusive: bool,
    path: PathBuf,
}

impl Drop for LockInner {
    fn drop(&mut self) {
        let Some(file) = &self.file else {
            return;
        };
        let held = self.store.held.lock().unwrap_or_else(PoisonError::into_inner);
        // Another thread may have taken the lock again on the same description after our last
        // reference went (a no-op conversion for flock): then it is theirs now.
        if held.upgrade().is_none() {
            // `File::unlock` is stable since Rust 1.89; Cargo.toml's rust-version (1.85) predates it.
            #[allow(clippy::incompatible_msrv)]
            let _ = file.unlock();
        }
    }
}

/// A held store lock; released when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct StoreLock {
    inner: Arc<LockInner>,
}

impl StoreLock {
    pub fn is_exclusive(&self) -> bool {
        self.inner.exclusive
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }
}

impl Store {
    /// The store at `root` (created on the first write; nothing is touched here).
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        let root: PathBuf = root.into();
        if root.as_os_str().is_empty() {
            return Err(Error::Config("the local store root is an empty path".into()));
        }
        if root.exists() && !root.is_dir() {
            return Err(Error::io(
                root.display(),
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the local store root is not a folder",
                ),
            ));
        }
        Ok(Store {
            inner: Arc::new(Inner {
                root,
                held: Mutex::new(Weak::new()),
                lock_file: Mutex::new(None),
                index_locks: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The store at [`default_root`].
    pub fn open_default() -> Result<Store> {
        Store::open(default_root()?)
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The layout of one release (created on its first write).
    pub fn layout(&self, release: &str) -> Result<Layout> {
        validate_release(release)?;
        Ok(Layout::new(self.clone(), release))
    }

    /// The folder of a release.
    pub fn release_dir(&self, release: &str) -> PathBuf {
        self.inner.root.join(release)
    }

    fn in_use(&self, path: &Path) -> Error {
        Error::io(
            path.display(),
            io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "the local store {} is in use by another copy-containers run; wait for it to finish",
                    self.inner.root.display()
                ),
            ),
        )
    }

    /// The store's lock file description (opened once; created when missing, read-only when the
    /// root is not writable).
    fn lock_file(&self, path: &Path) -> Result<Arc<File>> {
        let mut slot = self
            .inner
            .lock_file
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(f) = &*slot {
            return Ok(f.clone());
        }
        let file = match OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                File::open(path).map_err(|_| Error::io(path.display(), e))?
            }
            Err(e) => return Err(Error::io(path.display(), e)),
        };
        let file = Arc::new(file);
        *slot = Some(file.clone());
        Ok(file)
    }

    fn acquire(&self, held: &mut Weak<LockInner>, exclusive: bool) -> Result<StoreLock> {
        let path = self.inner.root.join(LOCK_FILE);
        let file = self.lock_file(&path)?;
        // `File::try_lock` is stable since Rust 1.89; Cargo.toml's rust-version (1.85) predates it.
        #[allow(clippy::incompatible_msrv)]
        let locked = if exclusive {
            file.try_lock()
        } else {
            file.try_lock_shared()
        };
        match locked {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(self.in_use(&path)),
            Err(TryLockError::Error(e)) => return Err(Error::io(path.display(), e)),
        }
        let inner = Arc::new(LockInner {
            store: self.inner.clone(),
            file: Some(file),
            exclusive,
            path,
        });
        *held = Arc::downgrade(&inner);
        Ok(StoreLock { inner })
    }

    /// Take the exclusive lock (non-blocking): an error naming the root when another run holds it.
    /// Re-entrant: while a lock from this store is alive, this returns it.
    pub fn lock(&self) -> Result<StoreLock> {
        let mut held = self.inner.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(h) = held.upgrade() {
            if h.exclusive {
                return Ok(StoreLock { inner: h });
            }
            return Err(Error::Config(format!(
                "the local store {} is held with a shared (read) lock by this run; release it before writing",
                self.inner.root.display()
            )));
        }
        fsutil::create_dir_all(&self.inner.root)?;
        self.acquire(&mut held, true)
    }

    /// Take a shared lock (non-blocking): readers exclude writers, not each other. Returns the lock
    /// this store already holds, if any. A root that does not exist is not created.
    pub fn lock_shared(&self) -> Result<StoreLock> {
        let mut held = self.inner.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(h) = held.upgrade() {
            return Ok(StoreLock { inner: h });
        }
        if !self.inner.root.is_dir() {
            return Ok(StoreLock {
                inner: Arc::new(LockInner {
                    store: self.inner.clone(),
                    file: None,
                    exclusive: false,
                    path: self.inner.root.join(LOCK_FILE),
                }),
            });
        }
        self.acquire(&mut held, false)
    }

    /// The in-process mutex serialising rewrites of one release's metadata files.
    fn meta_mutex(&self, release: &str) -> Arc<Mutex<()>> {
        let mut m = self
            .inner
            .index_locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        m.entry(release.to_string()).or_default().clone()
    }

    /// The releases (folders with a valid release name under the root), sorted.
    pub fn releases(&self) -> Result<Vec<String>> {
        let root = &self.inner.root;
        let rd = match std::fs::read_dir(root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(Error::io(root.display(), e)),
        };
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| Error::io(root.display(), e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if validate_release(&name).is_ok() && entry.path().is_dir() {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_is_exclusive_between_stores_and_reentrant_within_one() {
        let d = tempfile::tempdir().unwrap();
        let a = Store::open(d.path()).unwrap();
        let b = Store::open(d.path()).unwrap();
        let g1 = a.lock().unwrap();
        let g2 = a.lock().unwrap();
        assert!(g1.is_exclusive() && g2.is_exclusive());
        let err = b.lock().unwrap_err();
        assert!(is_lock_conflict(&err));
        let msg = err.to_string();
        assert!(
            msg.contains(&format!(
                "the local store {} is in use by another copy-containers run",
                d.path().display()
            )),
            "{msg}"
        );
        assert!(b.lock_shared().is_err());
        drop(g1);
        assert!(b.lock().is_err(), "still held through the second guard");
        drop(g2);
        let s1 = b.lock_shared().unwrap();
        let s2 = a.lock_shared().unwrap();
        assert!(!s1.is_exclusive() && !s2.is_exclusive());
        assert!(
            a.lock().is_err(),
            "a shared holder blocks writers, also in the same store"
        );
        drop((s1, s2));
        a.lock().unwrap();
    }

    #[test]
    fn relocking_survives_children_forked_meanwhile() {
        // A child forked by another thread briefly holds a copy of the lock file's description; the
        // lock must still be released and re-taken reliably.
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spawner = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = std::process::Command::new("true").status();
                }
            })
        };
        let start = std::time::Instant::now();
        let mut i = 0;
        while i < 2000 || start.elapsed() < std::time::Duration::from_millis(700) {
            i += 1;
            let l = if i % 3 == 0 { s.lock_shared() } else { s.lock() };
            l.unwrap_or_else(|e| panic!("iteration {i}: {e}"));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        spawner.join().unwrap();
        let other = Store::open(d.path()).unwrap();
        other.lock().expect("released for other holders");
    }

    #[test]
    fn shared_lock_on_missing_root_creates_nothing() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("nope");
        let s = Store::open(&root).unwrap();
        let _l = s.lock_shared().unwrap();
        assert!(!root.exists());
        assert!(s.releases().unwrap().is_empty());
    }

    #[test]
    fn open_rejects_a_file_root() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("file");
        std::fs::write(&f, b"x").unwrap();
        let err = Store::open(&f).unwrap_err().to_string();
        assert!(err.contains(&f.display().to_string()), "{err}");
        assert!(Store::open("").is_err());
    }

    #[test]
    fn scope_json_and_words() {
        let s = DeleteScope::container("nova-compute", Some("master".into()));
        let j = serde_json::to_value(&s).unwrap();
        assert_eq!(j["container"]["name"], "nova-compute");
        assert_eq!(serde_json::from_value::<DeleteScope>(j).unwrap(), s);
        assert_eq!(s.to_string(), "container nova-compute in release master");
        assert_eq!(DeleteScope::All.to_string(), "all releases");
        assert_eq!(serde_json::to_value(DeleteScope::All).unwrap(), "all");
        assert_eq!(
            serde_json::to_value(DeleteScope::Release("zed".into())).unwrap(),
            serde_json::json!({"release": "zed"})
        );
    }
}
