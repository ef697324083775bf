//! The local store's verbs (images kept on this machine): [`list`], [`delete`] (verified) and
//! [`fsck`]; `delete` is the command line's `local delete` and the module's `delete_local` alike.
//! Which store: [`StoreAt::find`], as every command finds it (`crate::store::resolve_root`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::config::{self, ConfigFile, ReleasesConfig};
use crate::options::{Field, Scope};
use crate::store::{DeleteOptions, DeleteScope, Store};
pub use crate::store::{DeleteReport, FsckReport, LocalImage};

/// Which store, and what a releases file says of release names.
pub struct StoreAt {
    root: PathBuf,
    releases: Option<ReleasesConfig>,
}

impl StoreAt {
    /// `root`, else the `local_store` of `config` (a promotion or a releases file, as `promote
    /// --config` reads it), else `$COPY_CONTAINERS_LOCAL_ROOT`, else the XDG default.
    pub fn find(root: Option<PathBuf>, config: Option<&Path>) -> crate::Result<StoreAt> {
        let (configured, releases) = match config.map(config::load).transpose()? {
            None => (None, None),
            Some(ConfigFile::Promote(a)) => (a.local_store.clone(), None),
            Some(ConfigFile::Releases(c)) => (c.options.local_store.clone(), Some(*c)),
        };
        let root = crate::store::resolve_root(root.or(configured).as_deref())?;
        Ok(StoreAt { root, releases })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A release as named: a releases file's entry stands for its release (the store's folder);
    /// a name that cannot be a release is refused.
    pub fn release(&self, name: Option<String>) -> crate::Result<Option<String>> {
        let release = match (name, &self.releases) {
            (None, _) => return Ok(None),
            (Some(n), None) => n,
            (Some(n), Some(c)) => match c.entry(&n) {
                Ok((_, e)) => c.entry_args(e).release.unwrap_or(n),
                Err(_) => n,
            },
        };
        crate::store::validate_release(&release)?;
        Ok(Some(release))
    }
}

/// How long to wait while another run holds the store: `given`, else the option's default (at a
/// terminal, `local`: not at all; elsewhere the promotions' wait).
pub fn lock_wait(given: Option<u64>, at_terminal: bool) -> Duration {
    let o = Field::lock_timeout.opt();
    let default = if at_terminal { o.local_default } else { None };
    Duration::from_secs(o.count(given.or(default)))
}

/// What the store holds.
#[derive(Debug, Serialize)]
pub struct Listing {
    pub root: PathBuf,
    pub images: Vec<LocalImage>,
    pub total_bytes: u64,
}

/// The images kept in the store at `root` (of one release).
pub fn list(root: &Path, release: Option<&str>) -> crate::Result<Listing> {
    let st = Store::open(root)?;
    let images = match release {
        Some(r) => st.list_release(r)?,
        None => st.list()?,
    };
    Ok(Listing {
        total_bytes: st.total_size()?,
        root: root.to_path_buf(),
        images,
    })
}

/// What to delete.
#[derive(Debug, Clone)]
pub struct DeleteRequest {
    pub scope: Scope,
    /// `Scope::Container`: the containers (names with or without the prefix).
    pub containers: Vec<String>,
    /// Only in this release (`Scope::Release`: the release).
    pub release: Option<String>,
    pub dry_run: bool,
    /// A scope matching nothing is an error listing what the store holds (the command line: a typo
    /// must not pass as "nothing to delete"); else a warning (a rerun is a harmless no-op).
    pub require_match: bool,
    pub wait: Duration,
}

/// The deletions of a request, one per scope (one per container for `Scope::Container`).
#[derive(Debug, Serialize)]
pub struct Deletion {
    pub root: PathBuf,
    pub reports: Vec<DeleteReport>,
}

impl Deletion {
    pub fn changed(&self) -> bool {
        self.reports.iter().any(|r| r.changed)
    }
    pub fn ok(&self) -> bool {
        self.reports.iter().all(|r| r.ok())
    }
    pub fn freed_bytes(&self) -> u64 {
        self.reports.iter().map(|r| r.freed_bytes).sum()
    }
    pub fn removed(&self) -> usize {
        self.reports.iter().map(|r| r.removed.len()).sum()
    }
    pub fn warnings(&self) -> Vec<&String> {
        self.reports.iter().flat_map(|r| &r.warnings).collect()
    }
}

/// Delete what `req` names from the store at `root`, collect the blobs nothing uses any more and
/// verify what was touched.
pub fn delete(root: &Path, req: &DeleteRequest) -> crate::Result<Deletion> {
    let release = req.release.clone();
    let scopes: Vec<DeleteScope> = match req.scope {
        Scope::All => vec![DeleteScope::All],
        Scope::Release => vec![DeleteScope::Release(release.unwrap_or_default())],
        Scope::Container => req
            .containers
            .iter()
            .map(|n| DeleteScope::container(n, release.clone()))
            .collect(),
    };
    let opts = DeleteOptions {
        dry_run: req.dry_run,
        require_match: req.require_match,
    };
    let reports = scopes
        .iter()
        .map(|sc| crate::store::delete_verified(root, sc, opts, req.wait))
        .collect::<crate::Result<_>>()?;
    Ok(Deletion {
        root: root.to_path_buf(),
        reports,
    })
}

/// Verify the whole store: every reference complete, every blob's content matching its digest.
pub fn fsck(root: &Path, wait: Duration) -> crate::Result<FsckReport> {
    Store::open(root)?.fsck_wait(wait)
}
