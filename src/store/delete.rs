//! The one delete of the store: every path that removes local copies (`local delete`, the module's
//! `delete_local`, a promotion's cleanup after a verified success) goes through
//! [`Store::delete_with`], which only ever removes what the store wrote:
//!
//! - a root that is not a store (no marker, other files) is refused, nothing touched;
//! - a release folder without `oci-layout` is reported and left alone;
//! - a release folder is removed file by file (`oci-layout`, `index.json`, `labels.json`, the blobs
//!   the plan collects), never recursively: one holding anything else stays, with a warning;
//! - the verification afterwards checks the releases the delete touched (`fsck` checks everything).

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use super::labels::{self, LABELS_JSON};
use super::maint::{ctx_of, entry_descriptor, in_scope, local_image, scan_blobs, walk, Walk};
use super::root::{self, RootState};
use super::{validate_release, DeleteReport, DeleteScope, FsckReport, LocalImage, Store};
use crate::error::{Error, Result};
use crate::oci::fsutil::{sync_dir, TMP_PREFIX};
use crate::oci::index::{check_oci_layout, IndexEntry, IndexFile, INDEX_JSON, OCI_LAYOUT};
use crate::oci::shared_host;

/// How to delete.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// Plan and report; change nothing.
    pub dry_run: bool,
    /// A scope naming a release or container that matches nothing is an error listing what the
    /// store holds (the CLI: a typo must not pass as "nothing to delete").
    pub require_match: bool,
}

/// What a delete does in one release.
struct Plan {
    release: String,
    dir: PathBuf,
    removed: Vec<LocalImage>,
    removed_refs: Vec<String>,
    new_index: Option<IndexFile>,
    blobs: Vec<(PathBuf, u64)>,
    remove_dir: bool,
}

impl Plan {
    fn changes(&self) -> bool {
        !self.removed.is_empty() || !self.blobs.is_empty() || self.remove_dir
    }
}

impl Store {
    /// [`Store::delete_with`] without `require_match`.
    pub fn delete(&self, scope: &DeleteScope, dry_run: bool) -> Result<DeleteReport> {
        self.delete_with(
            scope,
            DeleteOptions {
                dry_run,
                require_match: false,
            },
        )
    }

    /// Delete the references in `scope` (nothing with `dry_run`), collect the blobs nothing
    /// references any more in the releases touched, remove releases left empty (label history keeps
    /// a release), then verify what was touched. Deleting what does not exist is a no-op
    /// (`changed: false`) unless `require_match`.
    pub fn delete_with(&self, scope: &DeleteScope, opts: DeleteOptions) -> Result<DeleteReport> {
        let scope = normalize(scope)?;
        let mut report = DeleteReport {
            scope: scope.to_string(),
            removed: vec![],
            freed_bytes: 0,
            blobs_removed: 0,
            releases_removed: vec![],
            verification: FsckReport {
                ok: true,
                ..Default::default()
            },
            changed: false,
            dry_run: opts.dry_run,
            warnings: vec![],
        };
        if root::check_ours(self.root())? == RootState::Fresh {
            self.matched_nothing(&scope, opts, &mut report)?;
            return Ok(report);
        }
        // A release that is not there (or is a link) has nothing to delete: no lock, no file.
        if let Some(dir) = scope.release().map(|r| self.release_dir(r)) {
            if !shared_host::is_real_dir(&dir) {
                if let Some(link) = linked(&dir) {
                    report.warnings.push(left_alone(&link));
                }
                self.matched_nothing(&scope, opts, &mut report)?;
                return Ok(report);
            }
        }
        // A release's delete holds that release's lock; the whole store's, the store's.
        let _lock = match scope.release() {
            Some(r) => self.lock_release(r, !opts.dry_run)?,
            None if opts.dry_run => self.lock_shared()?,
            None => self.lock()?,
        };
        let releases = match &scope {
            DeleteScope::All | DeleteScope::Container { release: None, .. } => self.releases()?,
            DeleteScope::Release(r)
            | DeleteScope::Container { release: Some(r), .. }
            | DeleteScope::Copies { release: r, .. }
            | DeleteScope::Hash { release: r, .. } => vec![r.clone()],
        };
        let mut plans = Vec::new();
        for r in &releases {
            if let Some(p) = self.plan_release(r, &scope, &mut report.warnings)? {
                plans.push(p);
            }
        }
        if plans.is_empty() {
            self.matched_nothing(&scope, opts, &mut report)?;
        }
        for p in &plans {
            report.removed.extend(p.removed.iter().cloned());
            report.freed_bytes += p.blobs.iter().map(|(_, n)| n).sum::<u64>();
            report.blobs_removed += p.blobs.len();
            if p.remove_dir {
                report.releases_removed.push(p.release.to_string());
            }
            report.changed |= p.changes();
        }
        if !opts.dry_run {
            for p in plans.iter().filter(|p| p.changes()) {
                self.apply(p, &mut report.warnings)?;
            }
        }
        report.verification = self.verify_after(&plans, opts.dry_run);
        // Said when something went (or would go); a delete with nothing to remove (after every
        // successful promotion that kept nothing) is a debug line.
        if report.removed.is_empty() {
            tracing::debug!(scope = %report.scope, verified = report.verification.ok, "local store delete: nothing to remove");
        } else {
            tracing::info!(
                scope = %report.scope,
                dry_run = opts.dry_run,
                removed = report.removed.len(),
                freed_bytes = report.freed_bytes,
                verified = report.verification.ok,
                "local store delete"
            );
        }
        Ok(report)
    }

    /// A release or container scope matched nothing: an error with `require_match`, else a
    /// warning; both name what the store holds.
    fn matched_nothing(
        &self,
        scope: &DeleteScope,
        opts: DeleteOptions,
        report: &mut DeleteReport,
    ) -> Result<()> {
        if !matches!(scope, DeleteScope::Release(_) | DeleteScope::Container { .. }) {
            return Ok(());
        }
        let e = self.nothing_matched(scope, &report.warnings);
        if opts.require_match {
            return Err(e);
        }
        report.warnings.push(e.to_string());
        Ok(())
    }

    /// The error of a scope that matches nothing: what the store holds instead.
    fn nothing_matched(&self, scope: &DeleteScope, warnings: &[String]) -> Error {
        let mut held = Vec::new();
        for r in self.releases().unwrap_or_default() {
            let mut names: Vec<String> = self
                .list_release(&r)
                .unwrap_or_default()
                .into_iter()
                .map(|i| i.container)
                .collect();
            names.dedup();
            let n = names.len();
            names.truncate(12);
            let more = if n > names.len() {
                format!(", … {} more", n - names.len())
            } else {
                String::new()
            };
            held.push(format!("release {r}: {}{more}", names.join(", ")));
        }
        let holds = if held.is_empty() {
            "the store is empty".to_string()
        } else {
            format!("it holds {}", held.join("; "))
        };
        let notes = if warnings.is_empty() {
            String::new()
        } else {
            format!(" ({})", warnings.join("; "))
        };
        Error::Local(format!(
            "nothing in the local store {} matches {scope}{notes}; {holds}. Nothing was deleted",
            self.root().display()
        ))
    }

    /// What deleting `scope` does in one release; `None` when the scope matches nothing there or
    /// the folder is not a layout the store wrote (reported in `warnings`).
    fn plan_release(
        &self,
        release: &str,
        scope: &DeleteScope,
        warnings: &mut Vec<String>,
    ) -> Result<Option<Plan>> {
        let dir = self.release_dir(release);
        if let Some(link) = linked(&dir) {
            warnings.push(left_alone(&link));
            return Ok(None);
        }
        if !dir.is_dir() {
            return Ok(None);
        }
        if let Err(p) = check_oci_layout(&dir) {
            warnings.push(format!(
                "{}: not an OCI layout written by copy-containers ({p}); left alone",
                dir.display()
            ));
            return Ok(None);
        }
        let whole = matches!(scope, DeleteScope::All | DeleteScope::Release(_));
        let (idx, unreadable) = match IndexFile::load(&dir) {
            Ok(Some(i)) => (i, false),
            Ok(None) => (IndexFile::empty(), false),
            Err(e) if whole => {
                warnings.push(format!("release {release}: {e}; removing the whole release"));
                (IndexFile::empty(), true)
            }
            Err(e) => return Err(unreadable_index(&dir, release, e)),
        };
        let (remove, keep): (Vec<IndexEntry>, Vec<IndexEntry>) =
            idx.manifests.iter().cloned().partition(|e| in_scope(e, scope));
        if !whole && remove.is_empty() {
            return Ok(None);
        }
        let removed = remove.iter().map(|e| local_image(release, &dir, e)).collect();
        let removed_refs = remove
            .iter()
            .filter_map(|e| e.ref_name().map(str::to_string))
            .collect();
        let collected = collectable(&dir, release, &keep, warnings);
        let has_labels = labels::load(&dir).map(|r| !r.is_empty()).unwrap_or(true);
        let remove_dir = keep.is_empty()
            && !has_labels
            && collected
                .as_ref()
                .is_some_and(|blobs| only_ours(&dir, blobs, warnings));
        let blobs = collected.unwrap_or_default();
        let new_index = (!remove.is_empty() || unreadable).then(|| IndexFile {
            manifests: keep,
            ..if unreadable {
                IndexFile::empty()
            } else {
                idx.clone()
            }
        });
        Ok(Some(Plan {
            release: release.to_string(),
            dir,
            removed,
            removed_refs,
            new_index,
            blobs,
            remove_dir,
        }))
    }

    /// Carry out a plan: references first (one atomic index rewrite), then blobs, then the folder.
    fn apply(&self, p: &Plan, warnings: &mut Vec<String>) -> Result<()> {
        let mutex = self.meta_mutex(&p.release);
        let _g = mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(idx) = &p.new_index {
            idx.save(&p.dir)?;
        }
        let mut dirs = BTreeSet::new();
        for (path, _) in &p.blobs {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => warnings.push(format!("{}: cannot remove: {e}", path.display())),
            }
            if let Some(parent) = path.parent() {
                dirs.insert(parent.to_path_buf());
            }
        }
        for d in dirs {
            sync_dir(&d);
        }
        if p.remove_dir {
            if let Err(e) = remove_release_dir(&p.dir) {
                warnings.push(format!(
                    "{}: cannot remove the release folder: {e}",
                    p.dir.display()
                ));
            }
            sync_dir(self.root());
        }
        Ok(())
    }

    /// Check the releases the delete touched (would touch, in a dry run): their layout, index and
    /// references; the deleted references gone, no orphan blob left, emptied folders gone.
    fn verify_after(&self, plans: &[Plan], dry_run: bool) -> FsckReport {
        let touched: Vec<String> = plans
            .iter()
            .filter(|p| p.changes())
            .map(|p| p.release.to_string())
            .collect();
        let d = self.check_releases(&touched);
        let mut rep = d.report;
        if dry_run {
            return rep;
        }
        for p in plans {
            if p.remove_dir && p.dir.exists() {
                rep.problems.push(format!(
                    "{}: release folder still exists after delete",
                    p.dir.display()
                ));
            }
            if let Some(now) = d.refs.get(&p.release) {
                for r in p.removed_refs.iter().filter(|r| now.contains(*r)) {
                    rep.problems.push(format!(
                        "release {}: reference {r} still present after delete",
                        p.release
                    ));
                }
            }
            for o in d.orphans.get(&p.release).into_iter().flatten() {
                rep.problems
                    .push(format!("{o}: orphan blob still present after delete"));
            }
        }
        rep.ok = rep.problems.is_empty();
        rep
    }
}

/// The first of a release folder, its `blobs` and `blobs/<algorithm>` folders that is a symbolic
/// link, described (`<path> is a symbolic link (to <target>)`).
fn linked(dir: &Path) -> Option<String> {
    let blobs = dir.join("blobs");
    let algs: Vec<PathBuf> = match shared_host::is_real_dir(&blobs) {
        true => std::fs::read_dir(&blobs)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect(),
        false => vec![],
    };
    std::iter::once(dir.to_path_buf())
        .chain(std::iter::once(blobs.clone()))
        .chain(algs)
        .find_map(|p| {
            shared_host::symlink_target(&p)
                .map(|to| format!("{} is a symbolic link (to {})", p.display(), to.display()))
        })
}

fn left_alone(link: &str) -> String {
    format!("{link}: the store never deletes through a symbolic link; left alone")
}

fn unreadable_index(dir: &Path, release: &str, e: Error) -> Error {
    Error::io(
        dir.join(INDEX_JSON).display(),
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{e}; cannot delete single containers from this release \
                 (`copy-containers local delete --release {release}` removes it whole)"
            ),
        ),
    )
}

/// The blobs of `dir` nothing in `keep` references; `None` (with a warning) when a kept reference
/// cannot be read, so what it needs is unknown.
fn collectable(
    dir: &Path,
    release: &str,
    keep: &[IndexEntry],
    warnings: &mut Vec<String>,
) -> Option<Vec<(PathBuf, u64)>> {
    let mut w = Walk::default();
    for e in keep {
        walk(
            dir,
            &entry_descriptor(e),
            "manifest",
            &ctx_of(release, e),
            0,
            &mut w,
        );
    }
    if w.blind {
        warnings.push(format!(
            "release {release}: some remaining references cannot be read ({}); no blob collected",
            w.problems.join("; ")
        ));
        return None;
    }
    Some(
        scan_blobs(dir)
            .blobs
            .into_iter()
            .filter(|(d, _)| !w.reachable.contains_key(d))
            .map(|(_, pn)| pn)
            .collect(),
    )
}

/// May an emptied release folder go? Only when it holds nothing but what the store wrote (and the
/// blobs being collected); otherwise a warning names the rest and the folder stays.
fn only_ours(dir: &Path, collected: &[(PathBuf, u64)], warnings: &mut Vec<String>) -> bool {
    let others = not_ours(dir, collected);
    if !others.is_empty() {
        warnings.push(format!(
            "{}: holds files the store did not write ({}); the folder stays",
            dir.display(),
            others.join(", ")
        ));
    }
    others.is_empty()
}

/// The files of a release folder the store did not write (and a delete would not remove): all but
/// the layout's own files, temporary files and the blobs in `collected`.
fn not_ours(dir: &Path, collected: &[(PathBuf, u64)]) -> Vec<String> {
    let collected: BTreeSet<&Path> = collected.iter().map(|(p, _)| p.as_path()).collect();
    let mut out = Vec::new();
    let is_temp = |p: &Path| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(TMP_PREFIX))
    };
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        // `file_type` does not follow links: a link is never one of ours.
        let kind = e.file_type().ok();
        let is_file = kind.is_some_and(|t| t.is_file());
        match name.as_str() {
            OCI_LAYOUT | INDEX_JSON | LABELS_JSON if is_file => {}
            "blobs" if kind.is_some_and(|t| t.is_dir()) => {
                for alg in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                    let files: Vec<PathBuf> = match std::fs::read_dir(alg.path()) {
                        Ok(rd) => rd.flatten().map(|f| f.path()).collect(),
                        Err(_) => vec![alg.path()],
                    };
                    out.extend(
                        files
                            .iter()
                            .filter(|f| !collected.contains(f.as_path()) && !is_temp(f))
                            .map(|f| f.display().to_string()),
                    );
                }
            }
            _ if is_temp(&path) && is_file => {}
            _ => out.push(path.display().to_string()),
        }
    }
    out
}

/// Remove an emptied release folder, only the names the store writes, never recursively.
fn remove_release_dir(dir: &Path) -> io::Result<()> {
    for f in [LABELS_JSON, INDEX_JSON, OCI_LAYOUT] {
        match std::fs::remove_file(dir.join(f)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    let blobs = dir.join("blobs");
    for alg in std::fs::read_dir(&blobs).into_iter().flatten().flatten() {
        for t in std::fs::read_dir(alg.path()).into_iter().flatten().flatten() {
            if t.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                let _ = std::fs::remove_file(t.path());
            }
        }
        std::fs::remove_dir(alg.path())?;
    }
    match std::fs::remove_dir(&blobs) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    for t in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if t.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            let _ = std::fs::remove_file(t.path());
        }
    }
    std::fs::remove_dir(dir)
}

/// Validate a scope; a container given as a repository path keeps its last element.
fn normalize(scope: &DeleteScope) -> Result<DeleteScope> {
    Ok(match scope {
        DeleteScope::All => DeleteScope::All,
        DeleteScope::Release(r) => {
            validate_release(r)?;
            DeleteScope::Release(r.clone())
        }
        DeleteScope::Copies { release, .. } | DeleteScope::Hash { release, .. } => {
            validate_release(release)?;
            scope.clone()
        }
        DeleteScope::Container { name, release } => {
            if let Some(r) = release {
                validate_release(r)?;
            }
            let n = name.trim().trim_end_matches('/');
            let n = n.rsplit('/').next().unwrap_or(n);
            if n.is_empty() {
                return Err(Error::invalid("container name", name, "empty"));
            }
            if n.contains(':') || n.contains('@') {
                return Err(Error::invalid(
                    "container name",
                    name,
                    "give the name without tag or digest (every tag of the container is deleted)",
                ));
            }
            DeleteScope::Container {
                name: n.to_string(),
                release: release.clone(),
            }
        }
    })
}
