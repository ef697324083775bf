//! The local store: images kept on this machine as OCI image layouts, one per release. What a layout
//! is (its files, reads and writes with the registry client's operations) lives in [`crate::oci`];
//! the store is the bookkeeping around its layouts: the root and its marker, the locks between
//! processes (every write of a release's [`Layout`] holds that release's: the store is the layout's
//! [`crate::oci::Keeper`]), label history, list, fsck, the one delete and the retention policy. A release's layout is a
//! [`crate::place::Place`] like a registry, so the copy engine can use it as a source or a destination.
//!
//! ## On disk
//!
//! ```text
//! <root>/.copy-containers-store         the marker: this folder is a store (see [`MARKER_FILE`])
//! <root>/.lock                          the store's lock (shared under a release's; exclusive for the whole store)
//! <root>/.lock.<release>                a release's lock (exclusive for writers, shared for readers)
//! <root>/<release>/oci-layout           {"imageLayoutVersion": "1.0.0"}
//! <root>/<release>/index.json           OCI image index: one descriptor per reference
//! <root>/<release>/blobs/sha256/<hex>   manifests, configs, layers, list children (shared in a release)
//! <root>/<release>/labels.json          label moves recorded for rollback (see [`Store::record_label`])
//! ```
//!
//! The root is resolved the same way by every command ([`resolve_root`]): config `local_store`, then
//! `$COPY_CONTAINERS_LOCAL_ROOT`, then `$XDG_DATA_HOME/copy-containers` or
//! `~/.local/share/copy-containers` ([`default_root`]). A promotion's copies are written through a layout
//! given the source host ([`Layout::with_source`]): each reference carries
//! `org.opencontainers.image.ref.name` = `<host>/<repository>:<tag>`
//! (`quay.io/tripleomaster/openstack-nova-compute:<hash>`), so copies of different sources or
//! namespaces never replace or stand in for each other, and
//! `skopeo inspect oci:<root>/<release>:<that name>` reads it; without a source the name is
//! `<last element of the repository>:<tag>`. References also record the release, hash, source host,
//! repository and creation time ([`ANN_RELEASE`], [`ANN_HASH`], [`ANN_SOURCE`], [`ANN_REPOSITORY`],
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
//! - Only a store is written to, read or deleted from: a root without the marker that holds other
//!   files is refused, nothing touched; old stores without it are adopted (see `root.rs`).
//! - Writers of a release hold its exclusive lock ([`Store::lock_release`]), the whole store's
//!   operations the store's ([`Store::lock`]); see `lock.rs`. A run waiting for one gets one message
//!   naming the holder (PID, command, since when) and an error at the end of its wait
//!   ([`Store::lock_release_wait`]). Locks are re-entrant within one [`Store`] value (and its clones).
//!   Use one `Store` per root per process. Taking an exclusive lock removes dead runs' temporary
//!   files (of the release, or of the whole store).
//! - `list` reads without locking (files are replaced atomically); `fsck` and dry-run deletes take
//!   shared locks, and create no file.
//! - The root must be this user's (or root's) and writable by nobody else ([`crate::oci::shared_host`]);
//!   lock files are this user's, 0600, never opened through a link; a release folder that is a link is
//!   no release: never listed, written, or deleted through.
//!
//! ## Deleting
//!
//! [`Store::delete_with`] (in `delete.rs`) is the one delete: it removes references
//! ([`DeleteScope`]), garbage-collects the blobs of the touched releases that nothing references any
//! more, removes a release folder once it holds nothing (label history keeps it; only the names the
//! store writes are removed, never recursively), then verifies the touched releases ([`FsckReport`]):
//! the deleted references are gone and no orphan blob is left. A container matches by its full name
//! (`openstack-nova-compute`), by its name without prefix (`nova-compute`: what follows the first `-`,
//! or the name recorded with [`Layout::with_prefix`]); a promotion's own copies by
//! [`DeleteScope::Copies`].

mod delete;
mod labels;
mod lock;
mod maint;
mod retain;
mod root;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A release's images are an OCI layout; what its references record.
pub use crate::oci::{
    Layout, ANN_CREATED, ANN_HASH, ANN_NAME, ANN_REF_NAME, ANN_RELEASE, ANN_REPOSITORY, ANN_SOURCE,
};
pub use delete::DeleteOptions;
pub use labels::{LabelMove, LabelRecord};
pub use lock::StoreLock;
pub use retain::{Pruned, RetainReport, Retention};
pub use root::{resolve_root, MARKER_FILE, ROOT_ENV};

use crate::digest::Digest;
use crate::error::{Error, Result};

/// Name of the store's lock file under the root.
pub const LOCK_FILE: &str = ".lock";
/// Prefix of a release's lock file under the root: `.lock.<release>`.
pub const RELEASE_LOCK_PREFIX: &str = ".lock.";

/// The default root: `$XDG_DATA_HOME/copy-containers`, else `$HOME/.local/share/copy-containers`.
pub fn default_root() -> Result<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| Path::new(x).is_absolute()) {
        return Ok(PathBuf::from(x).join("copy-containers"));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".local/share/copy-containers")),
        None => Err(Error::Config(
            "no local store root: neither XDG_DATA_HOME nor HOME is set; set local_store (--local-store, \
             --root) or COPY_CONTAINERS_LOCAL_ROOT"
                .into(),
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
    /// The source registry host it was read from, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
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
    /// The copies one promotion kept (its cleanup after a verified success): references of this
    /// hash, read from this source registry host, of these repositories (`namespace/name`).
    /// References written before sources were recorded match by repository and hash alone.
    Copies {
        release: String,
        source: String,
        hash: String,
        repositories: Vec<String>,
    },
    /// Every copy of one hash read from one source host (`None`: copies that recorded no source)
    /// in one release: what the retention policy removes at once (see `retain.rs`).
    Hash {
        release: String,
        source: Option<String>,
        hash: String,
    },
}

impl DeleteScope {
    /// The one release this scope is confined to, if it is.
    pub fn release(&self) -> Option<&str> {
        match self {
            DeleteScope::All | DeleteScope::Container { release: None, .. } => None,
            DeleteScope::Release(r)
            | DeleteScope::Container { release: Some(r), .. }
            | DeleteScope::Copies { release: r, .. }
            | DeleteScope::Hash { release: r, .. } => Some(r),
        }
    }

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
            DeleteScope::Copies {
                release,
                source,
                hash,
                repositories,
            } => write!(
                f,
                "the copies of hash {hash} from {source} ({} repositories) in release {release}",
                repositories.len()
            ),
            DeleteScope::Hash {
                release,
                source,
                hash,
            } => write!(
                f,
                "the copies of hash {hash} from {} in release {release}",
                source.as_deref().unwrap_or("an unrecorded source")
            ),
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
/// `root`, takes the lock (waiting up to `lock_timeout` for another run), deletes (or plans, with
/// `dry_run`), verifies. A root that does not exist is not created.
pub fn delete_verified(
    root: &Path,
    scope: &DeleteScope,
    opts: DeleteOptions,
    lock_timeout: Duration,
) -> Result<DeleteReport> {
    let st = Store::open(root)?;
    let real = |r: &str| crate::oci::shared_host::is_real_dir(&st.release_dir(r));
    let _lock = match (root::check_ours(root)?, scope.release()) {
        (root::RootState::Fresh, _) => None,
        // Not there (or a link): nothing to wait for, and no lock file to create.
        (_, Some(r)) if !real(r) => None,
        (_, Some(r)) => Some(st.lock_release_wait(r, !opts.dry_run, lock_timeout)?),
        (_, None) => Some(st.lock_wait(!opts.dry_run, lock_timeout)?),
    };
    st.delete_with(scope, opts)
}

/// Is `e` the "store in use by another run" error of [`Store::lock`]?
pub fn is_lock_conflict(e: &Error) -> bool {
    matches!(e, Error::Io { err, .. } if err.kind() == io::ErrorKind::WouldBlock)
}

/// Is `name` acceptable as a release (a folder directly under the root)?
/// `[A-Za-z0-9][A-Za-z0-9._-]*`, at most 128 characters.
pub fn validate_release(name: &str) -> Result<()> {
    let bad = |reason: &str| Error::invalid("release name", name, reason);
    if name.is_empty() {
        return Err(bad("empty"));
    }
    if name.len() > 128 {
        return Err(bad("longer than 128 characters"));
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(bad("must start with a letter or digit"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(bad(&format!(
            "contains {c:?}; only letters, digits, '.', '_' and '-' are allowed"
        )));
    }
    Ok(())
}

/// The local store under one root.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    /// The locks this store holds and its lock files (see `lock.rs`).
    locks: Mutex<lock::Locks>,
    /// In-process serialisation of `index.json` / `labels.json` rewrites, per release.
    index_locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
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
                locks: Mutex::default(),
                index_locks: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Refuse a root that is not a store ([`MARKER_FILE`] missing, other files present), touching
    /// nothing: what a dry run checks before the real run would fail.
    pub fn check_root(&self) -> Result<()> {
        root::check_ours(&self.inner.root).map(|_| ())
    }

    /// The store at [`resolve_root`] with nothing configured: `$COPY_CONTAINERS_LOCAL_ROOT`, else
    /// [`default_root`].
    pub fn open_default() -> Result<Store> {
        Store::open(resolve_root(None)?)
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The layout of one release (created on its first write); its writes hold the release's
    /// lock. A release folder that is a symbolic link is refused: the store never writes or reads
    /// through one.
    pub fn layout(&self, release: &str) -> Result<Layout> {
        validate_release(release)?;
        self.check_release_dir(release)?;
        let keeper = lock::ReleaseKeeper {
            store: self.clone(),
            release: release.to_string(),
        };
        Ok(Layout::open(self.release_dir(release))
            .with_release(release)
            .kept_by(Arc::new(keeper), self.meta_mutex(release)))
    }

    /// A release folder that is a symbolic link is an error naming where it points.
    pub(crate) fn check_release_dir(&self, release: &str) -> Result<()> {
        let dir = self.release_dir(release);
        match crate::oci::shared_host::symlink_target(&dir) {
            None => Ok(()),
            Some(to) => Err(Error::Local(format!(
                "{} is a symbolic link (to {}): the local store never reads, writes or deletes \
                 through one; left alone. Remove the link, or keep that layout outside the store",
                dir.display(),
                to.display()
            ))),
        }
    }

    /// The folder of a release.
    pub fn release_dir(&self, release: &str) -> PathBuf {
        self.inner.root.join(release)
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

    /// The releases (folders with a valid release name under the root, not symbolic links), sorted.
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
            // `file_type` does not follow links: a link to a layout elsewhere is no release.
            if validate_release(&name).is_ok() && entry.file_type().is_ok_and(|t| t.is_dir()) {
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
    use std::time::Instant;

    #[test]
    fn release_names() {
        for ok in ["master", "wallaby", "centos9-zed", "17.1", "a_b"] {
            validate_release(ok).unwrap();
        }
        for bad in [
            "",
            ".",
            "..",
            ".lock",
            "-x",
            "a/b",
            "a b",
            "x:y",
            &"a".repeat(129),
        ] {
            assert!(validate_release(bad).is_err(), "{bad:?}");
        }
    }

    /// The store keeps its layouts: their writes hold its lock (refused while another run holds it);
    /// a layout opened on its own writes without any.
    #[tokio::test]
    async fn a_release_layout_writes_under_the_store_lock_a_bare_layout_under_none() {
        let d = tempfile::tempdir().unwrap();
        let a = Store::open(d.path().join("store")).unwrap();
        let b = Store::open(d.path().join("store")).unwrap();
        let blob = bytes::Bytes::from_static(b"layer");
        let digest = Digest::sha256(&blob);
        let held = a.lock().unwrap();
        let err = b
            .layout("master")
            .unwrap()
            .upload_bytes("ns/x", &digest, blob.clone())
            .await
            .unwrap_err();
        assert!(is_lock_conflict(&err), "{err}");
        let through_a = a.layout("master").unwrap();
        through_a
            .upload_bytes("ns/x", &digest, blob.clone())
            .await
            .unwrap();
        assert_eq!(through_a.blob_exists("ns/x", &digest).await.unwrap(), Some(5));
        drop(held);

        let bare = Layout::open(d.path().join("bare"));
        bare.upload_bytes("ns/x", &digest, blob).await.unwrap();
        assert_eq!(bare.blob_exists("ns/x", &digest).await.unwrap(), Some(5));
        assert!(!d.path().join("bare").join(LOCK_FILE).exists());
        assert!(!d.path().join("bare").join(MARKER_FILE).exists());
    }

    /// What a write that broke off left (blobs nothing references) goes; an orphan that was
    /// there before stays.
    #[tokio::test]
    async fn only_the_new_orphans_are_removed() {
        let d = tempfile::tempdir().unwrap();
        let st = Store::open(d.path().join("store")).unwrap();
        let layout = st.layout("master").unwrap();
        let old = bytes::Bytes::from_static(b"old orphan");
        layout
            .upload_bytes("ns/x", &Digest::sha256(&old), old)
            .await
            .unwrap();
        crate::oci::index::ensure_layout(&st.release_dir("master")).unwrap();
        let before = st.blob_files("master");
        assert_eq!(before.len(), 1);
        let new = bytes::Bytes::from_static(b"new orphan!");
        let nd = Digest::sha256(&new);
        layout.upload_bytes("ns/x", &nd, new).await.unwrap();
        let _l = st.lock_release("master", true).unwrap();
        assert_eq!(st.remove_new_orphans("master", &before).unwrap(), (1, 11));
        assert_eq!(st.blob_files("master"), before);
    }

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
    fn the_conflict_names_the_holder_and_the_wait_gives_up() {
        let d = tempfile::tempdir().unwrap();
        let a = Store::open(d.path()).unwrap();
        let b = Store::open(d.path()).unwrap();
        let g = a.lock().unwrap();
        let msg = b.lock().unwrap_err().to_string();
        let pid = format!("PID {}", std::process::id());
        assert!(msg.contains(&pid) && msg.contains("since 20"), "{msg}");
        let started = Instant::now();
        let err = b
            .lock_wait(true, Duration::from_millis(600))
            .unwrap_err()
            .to_string();
        assert!(started.elapsed() >= Duration::from_millis(600));
        assert!(err.contains(&pid) && err.contains("lock-timeout"), "{err}");
        drop(g);
        assert!(root::read_holder(&d.path().join(LOCK_FILE)).is_none());
        b.lock_wait(true, Duration::from_secs(5)).unwrap();
    }

    #[test]
    fn a_foreign_root_is_refused_untouched_and_an_old_store_is_adopted() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("notes.txt"), b"mine").unwrap();
        let s = Store::open(d.path()).unwrap();
        for e in [
            s.lock().unwrap_err(),
            s.lock_shared().unwrap_err(),
            s.list().unwrap_err(),
        ] {
            assert!(e.to_string().contains("not a copy-containers local store"), "{e}");
        }
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["notes.txt"], "nothing created");
        // A store of an earlier version: a layout we wrote, a dead run's temporary file, no marker.
        let old = tempfile::tempdir().unwrap();
        crate::oci::index::ensure_layout(&old.path().join("master")).unwrap();
        let dead = old.path().join("master/blobs/sha256/.tmp-4000000-0-00000000-x");
        std::fs::write(&dead, b"partial").unwrap();
        let s = Store::open(old.path()).unwrap();
        s.lock_shared().unwrap();
        assert!(!old.path().join(MARKER_FILE).exists(), "readers write nothing");
        let _l = s.lock().unwrap();
        assert!(old.path().join(MARKER_FILE).is_file(), "adopted by the writer");
        assert!(!dead.exists(), "the dead run's temporary file is removed");
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
