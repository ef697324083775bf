//! Maintenance verbs: list, size, fsck, and the walks and scans the delete ([`super::delete`]) uses.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use super::root::{self, MARKER_FILE};
use super::{labels, validate_release, DeleteScope, FsckReport, LocalImage, Store, LOCK_FILE};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::{media, parse_content, Content, Descriptor};
use crate::oci::fsutil::{file_len, hash_file, read_small, TMP_PREFIX};
use crate::oci::index::{
    check_oci_layout, IndexEntry, IndexFile, ANN_CREATED, ANN_HASH, ANN_NAME, ANN_REPOSITORY, ANN_SOURCE,
    INDEX_JSON, OCI_LAYOUT,
};
use crate::oci::shared_host;
use crate::oci::MANIFEST_LIMIT;

/// Deepest nesting of indexes we follow.
const MAX_DEPTH: usize = 8;

pub(super) fn blob_path(dir: &Path, d: &Digest) -> PathBuf {
    dir.join("blobs").join(d.algorithm()).join(d.hex())
}

/// What a walk from references found.
#[derive(Default)]
pub(super) struct Walk {
    /// Every digest reachable, with the size its descriptor announces.
    pub(super) reachable: BTreeMap<Digest, u64>,
    pub(super) problems: Vec<String>,
    /// A manifest could not be read or parsed: what it references is unknown.
    pub(super) blind: bool,
}

impl Walk {
    fn total(&self) -> u64 {
        self.reachable.values().sum()
    }
}

/// Follow a descriptor: a manifest (its config, layers, children), or a plain blob.
pub(super) fn walk(dir: &Path, d: &Descriptor, kind: &str, ctx: &str, depth: usize, w: &mut Walk) {
    if w.reachable.contains_key(&d.digest) {
        return;
    }
    w.reachable.insert(d.digest.clone(), d.size);
    let path = blob_path(dir, &d.digest);
    let manifest = media::is_image(&d.media_type) || media::is_index(&d.media_type);
    if !manifest {
        match file_len(&path) {
            Ok(Some(n)) if n == d.size => {}
            Ok(Some(n)) => w.problems.push(format!(
                "{ctx}: {kind} {} has {n} bytes, its descriptor says {} ({})",
                d.digest,
                d.size,
                path.display()
            )),
            Ok(None) => w.problems.push(format!(
                "{ctx}: {kind} {} is missing ({})",
                d.digest,
                path.display()
            )),
            Err(e) => w.problems.push(format!("{ctx}: {e}")),
        }
        return;
    }
    if depth > MAX_DEPTH {
        w.problems.push(format!(
            "{ctx}: indexes nested more than {MAX_DEPTH} deep at {}",
            d.digest
        ));
        w.blind = true;
        return;
    }
    let bytes = match read_small(&path, MANIFEST_LIMIT) {
        Ok(Some(b)) => b,
        Ok(None) => {
            w.problems.push(format!(
                "{ctx}: {kind} {} is missing ({})",
                d.digest,
                path.display()
            ));
            w.blind = true;
            return;
        }
        Err(e) => {
            w.problems.push(format!("{ctx}: {kind} {}: {e}", d.digest));
            w.blind = true;
            return;
        }
    };
    if bytes.len() as u64 != d.size {
        w.problems.push(format!(
            "{ctx}: {kind} {} has {} bytes, its descriptor says {} ({})",
            d.digest,
            bytes.len(),
            d.size,
            path.display()
        ));
    }
    match parse_content(&d.media_type, &bytes) {
        Err(e) => {
            w.problems.push(format!(
                "{ctx}: {kind} {} cannot be parsed ({}): {e}",
                d.digest,
                path.display()
            ));
            w.blind = true;
        }
        Ok(Content::Image { config, layers }) => {
            walk(dir, &config, "config", ctx, depth + 1, w);
            for l in &layers {
                walk(dir, l, "layer", ctx, depth + 1, w);
            }
        }
        Ok(Content::Index { children }) => {
            for c in &children {
                walk(dir, &c.descriptor, "child manifest", ctx, depth + 1, w);
            }
        }
    }
}

pub(super) fn entry_descriptor(e: &IndexEntry) -> Descriptor {
    Descriptor {
        media_type: e.media_type.clone(),
        digest: e.digest.clone(),
        size: e.size,
    }
}

pub(super) fn ctx_of(release: &str, e: &IndexEntry) -> String {
    format!(
        "release {release}, {}",
        e.ref_name().unwrap_or("(unnamed reference)")
    )
}

/// The image of one `index.json` entry, its size from a walk.
pub(super) fn local_image(release: &str, dir: &Path, e: &IndexEntry) -> LocalImage {
    let mut w = Walk::default();
    walk(
        dir,
        &entry_descriptor(e),
        "manifest",
        &ctx_of(release, e),
        0,
        &mut w,
    );
    for p in &w.problems {
        tracing::warn!("{p}");
    }
    let (container, tag) = e.container_and_tag();
    LocalImage {
        release: release.to_string(),
        container,
        tag,
        digest: e.digest.clone(),
        media_type: e.media_type.clone(),
        size: w.total(),
        repository: e.annotations.get(ANN_REPOSITORY).cloned(),
        source: e.annotations.get(ANN_SOURCE).cloned(),
        hash: e.annotations.get(ANN_HASH).cloned(),
        created: e.annotations.get(ANN_CREATED).cloned(),
    }
}

/// The files under `<dir>/blobs`.
#[derive(Default)]
pub(super) struct BlobFiles {
    pub(super) blobs: BTreeMap<Digest, (PathBuf, u64)>,
    pub(super) temps: Vec<(PathBuf, u64)>,
    strays: Vec<PathBuf>,
    problems: Vec<String>,
}

pub(super) fn scan_blobs(dir: &Path) -> BlobFiles {
    let mut out = BlobFiles::default();
    let blobs = dir.join("blobs");
    if let Some(to) = shared_host::symlink_target(&blobs) {
        out.problems.push(format!(
            "{} is a symbolic link (to {}): not followed",
            blobs.display(),
            to.display()
        ));
        return out;
    }
    let rd = match std::fs::read_dir(&blobs) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return out,
        Err(e) => {
            out.problems.push(format!("{}: {e}", blobs.display()));
            return out;
        }
    };
    for alg in rd.flatten() {
        let alg_path = alg.path();
        let alg_name = alg.file_name().to_string_lossy().into_owned();
        // `file_type` does not follow links: a linked folder is a stray, never read or deleted.
        if !alg.file_type().is_ok_and(|t| t.is_dir()) {
            out.strays.push(alg_path);
            continue;
        }
        let files = match std::fs::read_dir(&alg_path) {
            Ok(f) => f,
            Err(e) => {
                out.problems.push(format!("{}: {e}", alg_path.display()));
                continue;
            }
        };
        for f in files.flatten() {
            let path = f.path();
            let name = f.file_name().to_string_lossy().into_owned();
            let len = match f.metadata() {
                Ok(m) if m.is_file() => m.len(),
                Ok(_) => {
                    out.strays.push(path);
                    continue;
                }
                Err(e) => {
                    out.problems.push(format!("{}: {e}", path.display()));
                    continue;
                }
            };
            if name.starts_with(TMP_PREFIX) {
                out.temps.push((path, len));
            } else if let Ok(d) = format!("{alg_name}:{name}").parse::<Digest>() {
                out.blobs.insert(d, (path, len));
            } else {
                out.strays.push(path);
            }
        }
    }
    out
}

/// Is an entry in `scope` (within a release the scope covers)?
pub(super) fn in_scope(e: &IndexEntry, scope: &DeleteScope) -> bool {
    match scope {
        DeleteScope::All | DeleteScope::Release(_) => true,
        DeleteScope::Container { name, .. } => container_matches(e, name),
        DeleteScope::Copies {
            source,
            hash,
            repositories,
            ..
        } => {
            e.ann(ANN_HASH) == Some(hash)
                && e.ann(ANN_REPOSITORY)
                    .is_some_and(|r| repositories.iter().any(|x| x == r))
                && e.ann(ANN_SOURCE).is_none_or(|s| s == source)
        }
        DeleteScope::Hash { source, hash, .. } => {
            e.ann(ANN_HASH) == Some(hash) && e.ann(ANN_SOURCE) == source.as_deref()
        }
    }
}

/// Does an entry belong to container `wanted`? Its full name (`openstack-nova-compute`), its recorded
/// name without prefix, or what follows the first '-' of its name (`nova-compute`).
fn container_matches(e: &IndexEntry, wanted: &str) -> bool {
    let (c, _) = e.container_and_tag();
    c == wanted
        || e.annotations.get(ANN_NAME).map(String::as_str) == Some(wanted)
        || c.split_once('-').is_some_and(|(_, rest)| rest == wanted)
}

/// fsck results plus what delete verification needs.
pub(super) struct FsckDetail {
    pub(super) report: FsckReport,
    /// Orphan blob paths per release.
    pub(super) orphans: BTreeMap<String, Vec<String>>,
    /// Reference names per release.
    pub(super) refs: BTreeMap<String, BTreeSet<String>>,
}

impl Store {
    /// Every image of every release, sorted by release, container, tag. Reads without locking.
    /// A release whose `index.json` cannot be read is an error naming the file.
    pub fn list(&self) -> Result<Vec<LocalImage>> {
        root::check_ours(self.root())?;
        let mut out = Vec::new();
        for r in self.releases()? {
            out.extend(self.list_release(&r)?);
        }
        Ok(out)
    }

    /// The images of one release (empty when it does not exist), sorted by container and tag.
    pub fn list_release(&self, release: &str) -> Result<Vec<LocalImage>> {
        validate_release(release)?;
        self.check_release_dir(release)?;
        let dir = self.release_dir(release);
        if !dir.is_dir() {
            return Ok(vec![]);
        }
        let idx = IndexFile::load(&dir)?.unwrap_or_else(IndexFile::empty);
        let mut out: Vec<LocalImage> = idx
            .manifests
            .iter()
            .map(|e| local_image(release, &dir, e))
            .collect();
        out.sort_by(|a, b| (&a.container, &a.tag).cmp(&(&b.container, &b.tag)));
        Ok(out)
    }

    /// Bytes of one release's blob files (each stored once, however many images and tags use it).
    pub fn release_size(&self, release: &str) -> Result<u64> {
        validate_release(release)?;
        self.check_release_dir(release)?;
        Ok(scan_blobs(&self.release_dir(release))
            .blobs
            .values()
            .map(|(_, n)| n)
            .sum())
    }

    /// The blob files of a release now: what [`Store::remove_new_orphans`] compares with.
    pub fn blob_files(&self, release: &str) -> BTreeSet<PathBuf> {
        scan_blobs(&self.release_dir(release))
            .blobs
            .into_values()
            .map(|(p, _)| p)
            .collect()
    }

    /// Remove the blobs of `release` that nothing references and that were not among `before`
    /// (what a write that failed half-way left, such as a keep whose copy broke off); an orphan
    /// that was there before stays for a delete or fsck to report. The caller holds the release's
    /// exclusive lock. Returns how many went and their bytes.
    pub fn remove_new_orphans(&self, release: &str, before: &BTreeSet<PathBuf>) -> Result<(usize, u64)> {
        let d = self.check_releases(&[release.to_string()]);
        let (mut n, mut bytes) = (0, 0);
        for o in d.orphans.get(release).into_iter().flatten() {
            let path = PathBuf::from(o);
            if before.contains(&path) {
                continue;
            }
            let len = std::fs::symlink_metadata(&path).map(|m| m.len()).unwrap_or(0);
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    n += 1;
                    bytes += len;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(path.display(), e)),
            }
        }
        Ok((n, bytes))
    }

    /// Bytes of all blob files (blobs shared within a release counted once).
    pub fn total_size(&self) -> Result<u64> {
        let mut total = 0;
        for r in self.releases()? {
            total += scan_blobs(&self.release_dir(&r))
                .blobs
                .values()
                .map(|(_, n)| n)
                .sum::<u64>();
        }
        Ok(total)
    }

    /// Verify the whole store under a shared lock: every `index.json` and `oci-layout` parses, every
    /// referenced manifest, config, layer and child is present with its announced size, every blob's
    /// content hashes to its name, label histories parse. Orphan blobs and leftover temporary files
    /// are warnings.
    pub fn fsck(&self) -> Result<FsckReport> {
        self.fsck_wait(std::time::Duration::ZERO)
    }

    /// [`Store::fsck`], waiting up to `timeout` for runs writing the store: it takes the store's
    /// shared lock and every release's. Creates nothing (a missing lock file is nothing to wait for).
    pub fn fsck_wait(&self, timeout: std::time::Duration) -> Result<FsckReport> {
        let _lock = self.lock_wait(false, timeout)?;
        let mut _releases = Vec::new();
        for r in self.releases()? {
            _releases.push(self.lock_release_wait(&r, false, timeout)?);
        }
        Ok(self.fsck_detail()?.report)
    }

    pub(super) fn fsck_detail(&self) -> Result<FsckDetail> {
        let mut d = FsckDetail {
            report: FsckReport::default(),
            orphans: BTreeMap::new(),
            refs: BTreeMap::new(),
        };
        let root = self.root();
        let rd = match std::fs::read_dir(root) {
            Ok(rd) => Some(rd),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(root.display(), e)),
        };
        let mut names = Vec::new();
        for entry in rd.into_iter().flatten() {
            let entry = entry.map_err(|e| Error::io(root.display(), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name == LOCK_FILE || name == MARKER_FILE || root::is_release_lock(&name) {
                continue;
            }
            if let Some(to) = shared_host::symlink_target(&path) {
                d.report.warnings.push(format!(
                    "{}: a symbolic link (to {}), not part of the store: never read nor deleted",
                    path.display(),
                    to.display()
                ));
            } else if !path.is_dir() {
                d.report.warnings.push(format!(
                    "{}: a file that does not belong to the store",
                    path.display()
                ));
            } else if validate_release(&name).is_err() {
                d.report
                    .warnings
                    .push(format!("{}: ignored (not a release folder name)", path.display()));
            } else if !path.join(OCI_LAYOUT).exists() && !path.join(INDEX_JSON).exists() {
                d.report.warnings.push(format!(
                    "{}: not an OCI layout (no oci-layout, no index.json): ignored, never deleted",
                    path.display()
                ));
            } else {
                names.push(name);
            }
        }
        names.sort();
        for r in names {
            self.fsck_release(&r, &mut d, true);
        }
        d.report.ok = d.report.problems.is_empty();
        Ok(d)
    }

    /// The checks of these releases only, without re-hashing blob contents (what a delete touched).
    pub(super) fn check_releases(&self, releases: &[String]) -> FsckDetail {
        let mut d = FsckDetail {
            report: FsckReport::default(),
            orphans: BTreeMap::new(),
            refs: BTreeMap::new(),
        };
        for r in releases {
            if self.release_dir(r).is_dir() {
                self.fsck_release(r, &mut d, false);
            }
        }
        d.report.ok = d.report.problems.is_empty();
        d
    }

    /// Check one release; `rehash`: also hash every blob's content.
    fn fsck_release(&self, release: &str, d: &mut FsckDetail, rehash: bool) {
        let dir = self.release_dir(release);
        let rep = &mut d.report;
        if let Err(p) = check_oci_layout(&dir) {
            rep.problems.push(p.to_string());
        }
        let idx = match IndexFile::load(&dir) {
            Ok(Some(i)) => Some(i),
            Ok(None) => {
                rep.problems
                    .push(format!("{}: missing", dir.join("index.json").display()));
                None
            }
            Err(e) => {
                rep.problems.push(e.to_string());
                None
            }
        };
        let mut w = Walk::default();
        let refs = d.refs.entry(release.to_string()).or_default();
        if let Some(idx) = &idx {
            for e in &idx.manifests {
                rep.references += 1;
                let ctx = ctx_of(release, e);
                match e.ref_name() {
                    Some(r) => {
                        if !refs.insert(r.to_string()) {
                            rep.problems.push(format!(
                                "{}: reference name {r:?} appears more than once",
                                dir.join("index.json").display()
                            ));
                        }
                    }
                    None => rep
                        .warnings
                        .push(format!("{ctx}: no {} annotation", super::ANN_REF_NAME)),
                }
                if !media::is_image(&e.media_type) && !media::is_index(&e.media_type) {
                    rep.problems
                        .push(format!("{ctx}: unsupported media type {:?}", e.media_type));
                }
                walk(&dir, &entry_descriptor(e), "manifest", &ctx, 0, &mut w);
            }
        }
        rep.problems.append(&mut w.problems);
        let files = scan_blobs(&dir);
        rep.problems.extend(files.problems.iter().cloned());
        for (digest, (path, len)) in &files.blobs {
            rep.blobs += 1;
            rep.bytes += len;
            if !rehash {
                continue;
            }
            match hash_file(path, digest) {
                Ok((true, _)) => {}
                Ok((false, _)) => rep.problems.push(format!(
                    "{}: content does not match its digest {digest} (corrupt blob)",
                    path.display()
                )),
                Err(e) => rep.problems.push(e.to_string()),
            }
        }
        if idx.is_some() && !w.blind {
            for (digest, (path, len)) in &files.blobs {
                if !w.reachable.contains_key(digest) {
                    rep.warnings.push(format!(
                        "{}: orphan blob ({len} bytes) referenced by nothing",
                        path.display()
                    ));
                    d.orphans
                        .entry(release.to_string())
                        .or_default()
                        .push(path.display().to_string());
                }
            }
        }
        for (t, n) in &files.temps {
            rep.warnings
                .push(format!("{}: leftover temporary file ({n} bytes)", t.display()));
        }
        for s in &files.strays {
            rep.warnings.push(format!(
                "{}: a file that does not belong to the layout",
                s.display()
            ));
        }
        if let Err(e) = labels::load(&dir) {
            rep.problems.push(e.to_string());
        }
    }
}
