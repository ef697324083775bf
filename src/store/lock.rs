//! The locks between processes: one for the store and one per release, so that runs of different
//! releases work side by side and a run waits only for what it touches.
//!
//! - `<root>/.lock`, the store's: taken **shared** by whoever works on a release (under that
//!   release's lock), **exclusive** by what works on the whole store (`local delete --all`, creating
//!   or adopting the store). The exclusive holder writes who it is into the file.
//! - `<root>/.lock.<release>`, a release's: **shared** while a run reads the release (`fsck`, a
//!   promotion reading its kept copies), **exclusive** while one writes it (keeping copies, label
//!   history, a delete). Release lock files are never removed: a waiter holding a removed file
//!   would lock nothing.
//!
//! Locks are `flock`s, non-blocking, on files of this user created 0600 without following links
//! (see [`crate::oci::shared_host::open_lock`]): nobody else can open them to block a run. A wait
//! ([`Store::lock_wait`], [`Store::lock_release_wait`]) says once who holds the lock and gives up
//! after its timeout. Readers never create a lock file: a missing one means nothing to exclude yet.
//!
//! Locks are re-entrant within one [`Store`] value (and its clones): a lock held returns itself; a
//! store's exclusive lock covers every release. Use one `Store` per root per process.

use std::collections::HashMap;
use std::fs::{File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, Weak};
use std::time::{Duration, Instant};

use super::root::{self, RootState};
use super::{is_lock_conflict, validate_release, Inner, Store, LOCK_FILE, RELEASE_LOCK_PREFIX};
use crate::error::{Error, Result};
use crate::oci::shared_host;
use crate::oci::Keeper;
use crate::stop::Stop;

/// What `held` and `lock_files` are keyed by: "" for the store's lock, else the release.
type Key = String;

/// The locks one [`Store`] holds and the lock files it opened.
#[derive(Debug, Default)]
pub(super) struct Locks {
    /// The locks held, for re-entrant use.
    held: HashMap<Key, Weak<LockInner>>,
    /// The store's one open description of each lock file, opened on first use and kept. `flock`
    /// locks belong to the open file description: a child process forked by another thread holds a
    /// copy of it until it execs, so closing our descriptor would not release the lock in time and
    /// a new descriptor would then conflict with it. We lock and unlock these explicitly instead.
    files: HashMap<Key, Arc<File>>,
}

#[derive(Debug)]
struct LockInner {
    store: Arc<Inner>,
    key: Key,
    /// `None`: nothing to lock (a reader of a store or release without a lock file yet).
    file: Option<Arc<File>>,
    exclusive: bool,
    path: PathBuf,
    /// A release's lock holds the store's shared lock.
    _store_lock: Option<StoreLock>,
}

impl Drop for LockInner {
    fn drop(&mut self) {
        let Some(file) = &self.file else {
            return;
        };
        let locks = self.store.locks.lock().unwrap_or_else(PoisonError::into_inner);
        // Another thread may have taken the lock again on the same description after our last
        // reference went (a no-op conversion for flock): then it is theirs now.
        if locks.held.get(&self.key).and_then(Weak::upgrade).is_none() {
            if self.exclusive {
                root::clear_holder(file);
            }
            // `File::unlock` is stable since Rust 1.89; Cargo.toml's rust-version (1.85) predates it.
            #[allow(clippy::incompatible_msrv)]
            let _ = file.unlock();
        }
    }
}

/// A held lock (the store's or a release's); released when the last clone is dropped.
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

/// A release's layout writes under that release's lock.
#[derive(Debug)]
pub(super) struct ReleaseKeeper {
    pub(super) store: Store,
    pub(super) release: String,
}

impl Keeper for ReleaseKeeper {
    fn write_lock(&self) -> Result<Box<dyn Send>> {
        Ok(Box::new(self.store.lock_release(&self.release, true)?))
    }
}

impl Store {
    fn lock_path(&self, key: &str) -> PathBuf {
        if key.is_empty() {
            self.root().join(LOCK_FILE)
        } else {
            self.root().join(format!("{RELEASE_LOCK_PREFIX}{key}"))
        }
    }

    fn in_use(&self, key: &str, path: &Path) -> Error {
        let holder = root::read_holder(path).unwrap_or_else(|| {
            "a run reading it: a promotion reusing kept copies, `local fsck` or a dry run".into()
        });
        let what = if key.is_empty() {
            String::new()
        } else {
            format!(" for release {key}")
        };
        Error::io(
            path.display(),
            io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "the local store {} is in use by another copy-containers run{what} ({holder}); \
                     wait for it to finish",
                    self.root().display()
                ),
            ),
        )
    }

    /// The lock held under `key` by this store, if any.
    fn held(&self, key: &str) -> Option<Arc<LockInner>> {
        let locks = self.inner.locks.lock().unwrap_or_else(PoisonError::into_inner);
        locks.held.get(key).and_then(Weak::upgrade)
    }

    fn shared_held_error(&self) -> Error {
        Error::Local(format!(
            "the local store {} is held with a shared (read) lock by this run; release it before writing",
            self.root().display()
        ))
    }

    /// Take the lock `key` (non-blocking). Returns it and whether it was taken afresh (not
    /// re-entered). `create`: create the lock file when missing.
    fn take(&self, key: &str, exclusive: bool, create: bool) -> Result<(StoreLock, bool)> {
        if !key.is_empty() {
            if let Some(s) = self.held("").filter(|s| s.exclusive) {
                return Ok((StoreLock { inner: s }, false));
            }
        }
        let reenter = |h: Arc<LockInner>| {
            if exclusive && !h.exclusive {
                Err(self.shared_held_error())
            } else {
                Ok((StoreLock { inner: h }, false))
            }
        };
        if let Some(h) = self.held(key) {
            return reenter(h);
        }
        let store_lock = match key.is_empty() {
            true => None,
            false => Some(self.take("", false, create)?.0),
        };
        let path = self.lock_path(key);
        let mut locks = self.inner.locks.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(h) = locks.held.get(key).and_then(Weak::upgrade) {
            drop(locks);
            return reenter(h);
        }
        let file = match locks.files.get(key) {
            Some(f) => Some(f.clone()),
            None => match shared_host::open_lock(&path, create)? {
                Some(f) => {
                    let f = Arc::new(f);
                    locks.files.insert(key.to_string(), f.clone());
                    Some(f)
                }
                None => None,
            },
        };
        if let Some(file) = &file {
            // `File::try_lock` is stable since Rust 1.89; Cargo.toml's rust-version (1.85) predates it.
            #[allow(clippy::incompatible_msrv)]
            let locked = if exclusive {
                file.try_lock()
            } else {
                file.try_lock_shared()
            };
            match locked {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Err(self.in_use(key, &path)),
                Err(TryLockError::Error(e)) => return Err(Error::io(path.display(), e)),
            }
            if exclusive {
                root::write_holder(file);
            }
        }
        let inner = Arc::new(LockInner {
            store: self.inner.clone(),
            key: key.to_string(),
            file: file.clone(),
            exclusive,
            path,
            _store_lock: store_lock,
        });
        if file.is_some() {
            locks.held.insert(key.to_string(), Arc::downgrade(&inner));
        }
        Ok((StoreLock { inner }, true))
    }

    /// Take the store's exclusive lock (non-blocking): an error naming the root and the holder when
    /// another run holds it or any of its releases. Re-entrant: while a lock from this store is
    /// alive, this returns it.
    ///
    /// A root that is not a store ([`super::MARKER_FILE`] missing and other files present), or that
    /// another user could change, is refused with nothing touched; a missing or empty root becomes a
    /// store (the marker is written), and so does a store of an earlier version. Taking the lock
    /// afresh removes the temporary files dead runs left behind.
    pub fn lock(&self) -> Result<StoreLock> {
        let root = self.root();
        root::check_ours(root)?;
        crate::oci::fsutil::create_dir_all(root)?;
        // Again: another user may have made the folder (or a link by its name) meanwhile.
        root::check_safe(root)?;
        let (lock, fresh) = self.take("", true, true)?;
        if fresh {
            // Under the lock: another run may have changed the root since we looked.
            match root::root_state(root)? {
                RootState::Marked => {}
                RootState::Foreign(f) => return Err(root::not_a_store(root, &f)),
                _ => root::write_marker(root)?,
            }
            root::sweep_temps(root, &self.releases()?);
        }
        Ok(lock)
    }

    /// Take the store's shared lock (non-blocking): what a reader of the whole store holds.
    /// Returns the lock this store already holds, if any. A root that does not exist is not
    /// created; a root that is not a store is refused.
    pub fn lock_shared(&self) -> Result<StoreLock> {
        root::check_ours(self.root())?;
        if let Some(h) = self.held("") {
            return Ok(StoreLock { inner: h });
        }
        Ok(self.take("", false, false)?.0)
    }

    /// Take one release's lock (non-blocking): `exclusive` to write it, else to read it. Another
    /// release's runs are not in the way; a run holding the store's exclusive lock is. Writing
    /// makes a missing root a store first (see [`Store::lock`]) and, when the lock is taken afresh,
    /// removes the release's temporary files left by dead runs.
    pub fn lock_release(&self, release: &str, exclusive: bool) -> Result<StoreLock> {
        validate_release(release)?;
        let root = self.root();
        let state = root::check_ours(root)?;
        if !exclusive {
            if state == RootState::Fresh {
                return Ok(self.take("", false, false)?.0);
            }
            return Ok(self.take(release, false, false)?.0);
        }
        if state != RootState::Marked && self.held("").is_none() {
            // Create (or adopt) the store under its exclusive lock, then let go of it.
            drop(self.lock()?);
        }
        let (lock, fresh) = self.take(release, true, true)?;
        if fresh && lock.inner.key == release {
            root::sweep_release_temps(root, release);
        }
        Ok(lock)
    }

    /// [`Store::lock`] (or [`Store::lock_shared`]), waiting up to `timeout` while another run holds
    /// the store: one message naming the holder when the wait starts, an error naming it at the end.
    pub fn lock_wait(&self, exclusive: bool, timeout: Duration) -> Result<StoreLock> {
        wait_for(timeout, None, || match exclusive {
            true => self.lock(),
            false => self.lock_shared(),
        })
    }

    /// [`Store::lock_release`], waiting up to `timeout` while another run holds the release (or
    /// the whole store), as [`Store::lock_wait`].
    pub fn lock_release_wait(&self, release: &str, exclusive: bool, timeout: Duration) -> Result<StoreLock> {
        wait_for(timeout, None, || self.lock_release(release, exclusive))
    }

    /// [`Store::lock_release_wait`] that also stops waiting when the run is asked to stop (a
    /// signal, its deadline): an error naming the holder and why the wait ended.
    pub fn lock_release_wait_or_stop(
        &self,
        release: &str,
        exclusive: bool,
        timeout: Duration,
        stop: &Stop,
    ) -> Result<StoreLock> {
        wait_for(timeout, Some(stop), || self.lock_release(release, exclusive))
    }
}

/// Try `attempt` until it gets the lock or `timeout` passes: one message naming the holder when
/// the wait starts, an error naming it (and the setting that waits longer) at the end.
/// With `stop`, the wait also ends when the run is asked to stop.
fn wait_for(
    timeout: Duration,
    stop: Option<&Stop>,
    attempt: impl Fn() -> Result<StoreLock>,
) -> Result<StoreLock> {
    let started = Instant::now();
    let mut told = false;
    loop {
        match attempt() {
            Err(e) if is_lock_conflict(&e) && stop.is_some_and(Stop::requested) => {
                let cause = stop
                    .and_then(Stop::cause)
                    .map(|c| c.to_string())
                    .unwrap_or_default();
                return Err(Error::Config(format!("{e} ({cause}: stopped waiting)")));
            }
            Err(e) if is_lock_conflict(&e) && started.elapsed() < timeout => {
                if !told {
                    tracing::info!("{e}; waiting up to {}s", timeout.as_secs());
                    told = true;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) if is_lock_conflict(&e) && !timeout.is_zero() => {
                return Err(Error::Local(format!(
                    "{e} (waited {}s; a longer --lock-timeout / lock_timeout waits more)",
                    timeout.as_secs()
                )))
            }
            other => return other,
        }
    }
}
