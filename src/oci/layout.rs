//! One OCI image layout (a folder), with the registry client's operations (same names, same
//! signatures where they make sense), so the copy engine can read from it or write to it.
//!
//! `repo` is the registry-style repository path (`tripleomaster/openstack-nova-compute`); references by
//! tag live in `index.json` under `<last element of repo>:<tag>`. Blobs and manifests by digest are
//! shared by the whole release: `repo` does not matter for them (like a registry where every blob is
//! mounted everywhere).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::fsutil::{self, corrupt, file_len, hash_file, read_small, TempPath};
use super::index::{
    ensure_layout, IndexEntry, IndexFile, ANN_CREATED, ANN_HASH, ANN_NAME, ANN_REF_NAME, ANN_RELEASE,
    ANN_REPOSITORY, ANN_SOURCE,
};
use super::Keeper;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::BlobStream;
use crate::manifest::{media, parse_content, Content, Descriptor, Manifest};
use crate::reference::{validate_component, validate_tag};

/// Largest manifest we read (as the registry client).
pub(crate) const MANIFEST_LIMIT: u64 = 4 << 20;
/// Read size when streaming blobs out.
const CHUNK: usize = 256 << 10;
/// Deepest nesting of indexes we follow.
const MAX_DEPTH: usize = 8;

/// One layout (in the local store: one release). Cheap to clone.
#[derive(Clone, Debug)]
pub struct Layout {
    dir: PathBuf,
    name: String,
    release: Option<String>,
    hash: Option<String>,
    prefix: Option<String>,
    source: Option<String>,
    /// Whose lock a write holds (the store's), if any.
    keeper: Option<Arc<dyn Keeper>>,
    /// In-process serialisation of this folder's `index.json` rewrites (shared with whoever else
    /// rewrites files there: the store's label history).
    meta: Arc<Mutex<()>>,
}

enum Ref {
    Tag(String),
    Digest(Digest),
}

fn parse_reference(reference: &str) -> Result<Ref> {
    if reference.contains(':') {
        Ok(Ref::Digest(reference.parse()?))
    } else {
        validate_tag(reference)?;
        Ok(Ref::Tag(reference.to_string()))
    }
}

/// The last element of a repository path, validated.
fn last_element(repo: &str) -> Result<&str> {
    let last = repo.rsplit('/').next().unwrap_or(repo);
    validate_component(last).map_err(|e| Error::invalid("repository name", repo, e.reason()))?;
    Ok(last)
}

impl Layout {
    /// The layout in `dir` (nothing is touched: it is created on the first write). On its own it
    /// takes no lock against other processes; the local store's layouts come from
    /// [`crate::store::Store::layout`], which does.
    pub fn open(dir: impl Into<PathBuf>) -> Layout {
        let dir = dir.into();
        Layout {
            name: format!("oci:{}", dir.display()),
            dir,
            release: None,
            hash: None,
            prefix: None,
            source: None,
            keeper: None,
            meta: Arc::default(),
        }
    }

    /// Writes hold `keeper`'s lock, and `meta` while `index.json` is rewritten.
    pub fn kept_by(mut self, keeper: Arc<dyn Keeper>, meta: Arc<Mutex<()>>) -> Layout {
        self.keeper = Some(keeper);
        self.meta = meta;
        self
    }

    /// The release this layout holds: references written from now on record it
    /// ([`super::ANN_RELEASE`]).
    pub fn with_release(mut self, release: impl Into<String>) -> Layout {
        self.release = Some(release.into());
        self
    }

    /// The source registry host (`quay.io`) the images come from: references are then named
    /// `<host>/<repo>:<tag>` (`quay.io/tripleomaster/openstack-nova-compute:<hash>`) and record it
    /// ([`super::ANN_SOURCE`]), so copies of different sources or namespaces never replace or stand
    /// in for each other. Without it, references are `<last element of repo>:<tag>`.
    pub fn with_source(mut self, host: impl Into<String>) -> Layout {
        self.source = Some(host.into());
        self
    }

    /// Annotate references written from now on with this hash ([`super::ANN_HASH`]); without it the
    /// tag is recorded.
    pub fn with_hash(mut self, hash: impl Into<String>) -> Layout {
        self.hash = Some(hash.into());
        self
    }

    /// The container name prefix (`openstack`): references written from now on record the name
    /// without it ([`super::ANN_NAME`]), which `delete --container <name>` matches.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Layout {
        self.prefix = Some(prefix.into());
        self
    }

    /// `oci:<dir>`: what errors and logs call this layout.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn release(&self) -> Option<&str> {
        self.release.as_deref()
    }

    /// The layout folder (`skopeo … oci:<dir>:<ref name>`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The keeper's lock for one write (none without a keeper).
    fn write_lock(&self) -> Result<Option<Box<dyn Send>>> {
        self.keeper.as_ref().map(|k| k.write_lock()).transpose()
    }

    /// The in-process lock of this folder's metadata files.
    fn meta_lock(&self) -> MutexGuard<'_, ()> {
        self.meta.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The `index.json` reference name of `repo:tag`: `<last element of repo>:<tag>`, or
    /// `<source host>/<repo>:<tag>` with [`Layout::with_source`].
    pub fn ref_name(&self, repo: &str, tag: &str) -> Result<String> {
        validate_tag(tag)?;
        Ok(format!("{}{tag}", self.ref_prefix(repo)?))
    }

    /// What the reference names of `repo` start with (up to the tag).
    fn ref_prefix(&self, repo: &str) -> Result<String> {
        let last = last_element(repo)?;
        match &self.source {
            None => Ok(format!("{last}:")),
            Some(host) => {
                for c in repo.split('/') {
                    validate_component(c).map_err(|e| Error::invalid("repository name", repo, e.reason()))?;
                }
                Ok(format!("{host}/{repo}:"))
            }
        }
    }

    /// Where the blob `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("blobs").join(digest.algorithm()).join(digest.hex())
    }

    /// Has anything been written to this release?
    pub fn exists(&self) -> bool {
        self.dir.is_dir()
    }

    /// The index, or an empty one when the layout does not exist (yet).
    fn read_index(&self) -> Result<IndexFile> {
        Ok(IndexFile::load(&self.dir)?.unwrap_or_else(IndexFile::empty))
    }

    /// Read and verify a manifest blob known to be referenced (by a tag); errors name the path.
    fn read_referenced(&self, digest: &Digest, size: Option<u64>, what: &str) -> Result<Bytes> {
        let path = self.blob_path(digest);
        let bytes = read_small(&path, MANIFEST_LIMIT)?.ok_or_else(|| {
            Error::io(
                path.display(),
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!(
                        "{what} ({digest}) is missing from the local store; run `copy-containers local fsck`"
                    ),
                ),
            )
        })?;
        if let Some(size) = size {
            if bytes.len() as u64 != size {
                return Err(corrupt(
                    &path,
                    format!("{what}: {} bytes, its descriptor says {size}", bytes.len()),
                ));
            }
        }
        digest.verify(&format!("{what} ({})", path.display()), &bytes)?;
        Ok(Bytes::from(bytes))
    }

    /// HEAD a manifest: `None` when absent. (The manifest is read and verified: it is small.)
    pub async fn head_manifest(&self, repo: &str, reference: &str) -> Result<Option<Descriptor>> {
        Ok(self
            .get_manifest_opt(repo, reference)
            .await?
            .map(|m| m.descriptor()))
    }

    /// A manifest, verified; error when absent.
    pub async fn get_manifest(&self, repo: &str, reference: &str) -> Result<Manifest> {
        self.get_manifest_opt(repo, reference)
            .await?
            .ok_or_else(|| Error::NotFound {
                registry: self.name.clone(),
                what: format!("manifest {repo}:{reference}"),
            })
    }

    /// A manifest by tag (through `index.json`) or by digest (any manifest blob of the release),
    /// verified against its digest; `None` when absent. By digest, the media type comes from an
    /// `index.json` entry with that digest, else from the manifest's own `mediaType` field; a blob
    /// that is not a manifest is absent.
    pub async fn get_manifest_opt(&self, repo: &str, reference: &str) -> Result<Option<Manifest>> {
        match parse_reference(reference)? {
            Ref::Tag(tag) => {
                let ref_name = self.ref_name(repo, &tag)?;
                let idx = self.read_index()?;
                let Some(entry) = idx.position(&ref_name).map(|i| &idx.manifests[i]) else {
                    return Ok(None);
                };
                let what = format!("manifest {ref_name}");
                let bytes = self.read_referenced(&entry.digest, Some(entry.size), &what)?;
                Manifest::from_bytes(&self.name, &what, bytes, Some(&entry.media_type)).map(Some)
            }
            Ref::Digest(digest) => {
                let path = self.blob_path(&digest);
                match file_len(&path)? {
                    None => return Ok(None),
                    Some(n) if n > MANIFEST_LIMIT => return Ok(None),
                    Some(_) => {}
                }
                let what = format!("manifest {repo}@{digest}");
                let bytes = self.read_referenced(&digest, None, &what)?;
                let from_index = self
                    .read_index()?
                    .manifests
                    .into_iter()
                    .find(|e| e.digest == digest);
                let media_type = match from_index {
                    Some(e) => Some(e.media_type),
                    None => crate::manifest::sniff_media_type(&bytes),
                };
                let Some(media_type) = media_type else {
                    return Ok(None);
                };
                if !media::is_image(&media_type)
                    && !media::is_index(&media_type)
                    && !media::is_schema1(&media_type)
                {
                    return Ok(None);
                }
                Manifest::from_bytes(&self.name, &what, bytes, Some(&media_type)).map(Some)
            }
        }
    }

    /// Check that everything `content` references is present with the announced size (recursively
    /// through list children).
    fn check_complete(&self, content: &Content, what: &str, depth: usize) -> Result<()> {
        let missing = |kind: &str, d: &Descriptor| -> Result<()> {
            let path = self.blob_path(&d.digest);
            match file_len(&path)? {
                Some(n) if n == d.size => Ok(()),
                Some(n) => Err(Error::invalid(
                    "manifest",
                    what,
                    format!(
                        "its {kind} {} has {n} bytes in the local store, the manifest says {} ({})",
                        d.digest,
                        d.size,
                        path.display()
                    ),
                )),
                None => Err(Error::invalid(
                    "manifest",
                    what,
                    format!(
                        "its {kind} {} is not in the local store ({}); write blobs and child manifests \
                         before the manifest that references them",
                        d.digest,
                        path.display()
                    ),
                )),
            }
        };
        match content {
            Content::Image { config, layers } => {
                missing("config", config)?;
                for l in layers {
                    missing("layer", l)?;
                }
            }
            Content::Index { children } => {
                if depth >= MAX_DEPTH {
                    return Err(Error::invalid("manifest", what, "indexes nested too deep"));
                }
                for c in children {
                    let d = &c.descriptor;
                    missing("child manifest", d)?;
                    if media::is_image(&d.media_type) || media::is_index(&d.media_type) {
                        let child_what = format!("{what} → {}", d.digest);
                        let bytes = self.read_referenced(&d.digest, Some(d.size), &child_what)?;
                        let child = parse_content(&d.media_type, &bytes)?;
                        self.check_complete(&child, &child_what, depth + 1)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Store manifest bytes under a tag (blob + `index.json` reference `<last element of repo>:<tag>`)
    /// or a digest (blob only). Everything the manifest references must already be present. Returns
    /// the digest.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<Digest> {
        let r = parse_reference(reference)?;
        let last = last_element(repo)?;
        let prefix = self.ref_prefix(repo)?;
        let digest = Digest::sha256(&bytes);
        let what = match &r {
            Ref::Tag(t) => format!("{repo}:{t}"),
            Ref::Digest(d) => {
                d.verify(&format!("manifest {repo}@{d}"), &bytes)?;
                format!("{repo}@{d}")
            }
        };
        if !media::is_image(media_type) && !media::is_index(media_type) {
            return Err(Error::Unsupported {
                registry: self.name.clone(),
                what: format!("manifest {what}"),
                reason: format!(
                    "media type {media_type:?}: the local store keeps image manifests and indexes only"
                ),
            });
        }
        if bytes.len() as u64 > MANIFEST_LIMIT {
            return Err(Error::Unsupported {
                registry: self.name.clone(),
                what: format!("manifest {what}"),
                reason: format!("larger than {MANIFEST_LIMIT} bytes"),
            });
        }
        let content = parse_content(media_type, &bytes)?;
        let _lock = self.write_lock()?;
        let _g = self.meta_lock();
        ensure_layout(&self.dir)?;
        self.check_complete(&content, &what, 0)?;
        let path = self.blob_path(&digest);
        let present = match file_len(&path)? {
            Some(n) if n == bytes.len() as u64 => hash_file(&path, &digest)?.0,
            _ => false,
        };
        if !present {
            fsutil::write_atomic(&path, &bytes)?;
        }
        if let Ref::Tag(tag) = r {
            let ref_name = format!("{prefix}{tag}");
            let mut idx = self.read_index()?;
            let mut annotations = std::collections::BTreeMap::new();
            annotations.insert(ANN_REF_NAME.to_string(), ref_name.clone());
            annotations.insert(ANN_CREATED.to_string(), fsutil::now_rfc3339());
            if let Some(release) = &self.release {
                annotations.insert(ANN_RELEASE.to_string(), release.clone());
            }
            annotations.insert(
                ANN_HASH.to_string(),
                self.hash.clone().unwrap_or_else(|| tag.clone()),
            );
            annotations.insert(ANN_REPOSITORY.to_string(), repo.to_string());
            if let Some(host) = &self.source {
                annotations.insert(ANN_SOURCE.to_string(), host.clone());
            }
            if let Some(name) = self
                .prefix
                .as_deref()
                .and_then(|p| last.strip_prefix(p)?.strip_prefix('-'))
                .filter(|n| !n.is_empty())
            {
                annotations.insert(ANN_NAME.to_string(), name.to_string());
            }
            let entry = IndexEntry {
                media_type: media_type.to_string(),
                digest: digest.clone(),
                size: bytes.len() as u64,
                annotations,
                other: Default::default(),
            };
            match idx.position(&ref_name) {
                Some(i) => {
                    if idx.manifests[i]
                        .annotations
                        .get(ANN_REPOSITORY)
                        .map(String::as_str)
                        != Some(repo)
                    {
                        tracing::debug!(layout = %self.name, %ref_name, repo, "reference replaced");
                    }
                    idx.manifests[i] = entry;
                }
                None => idx.manifests.push(entry),
            }
            idx.save(&self.dir)?;
        }
        tracing::debug!(layout = %self.name, repo, reference, %digest, "manifest stored");
        Ok(digest)
    }

    /// A blob's size when present (not re-hashed; `get_blob` and `fsck` verify).
    pub async fn blob_exists(&self, _repo: &str, digest: &Digest) -> Result<Option<u64>> {
        file_len(&self.blob_path(digest))
    }

    /// A blob as a stream, verified against `digest` (and `size` when given) as it flows: the last
    /// item is an error when the content does not match.
    pub async fn get_blob(&self, repo: &str, digest: &Digest, size: Option<u64>) -> Result<BlobStream> {
        let path = self.blob_path(digest);
        let what = format!("blob {repo}@{digest} ({})", path.display());
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound {
                    registry: self.name.clone(),
                    what: format!("blob {repo}@{digest}"),
                })
            }
            Err(e) => return Err(Error::io(path.display(), e)),
        };
        let len = file
            .metadata()
            .await
            .map_err(|e| Error::io(path.display(), e))?
            .len();
        if let Some(size) = size {
            if len != size {
                return Err(Error::DigestMismatch {
                    what,
                    expected: format!("{size} bytes"),
                    actual: format!("{len} bytes"),
                });
            }
        }
        struct St {
            file: tokio::fs::File,
            verifier: crate::digest::Verifier,
            what: String,
            path: PathBuf,
        }
        let st = St {
            file,
            verifier: digest.verifier(),
            what,
            path,
        };
        let stream = futures_util::stream::unfold(Some(st), |st| async move {
            let mut st = st?;
            let mut buf = vec![0u8; CHUNK];
            loop {
                match st.file.read(&mut buf).await {
                    Ok(0) => {
                        return match st.verifier.finish(&st.what) {
                            Ok(_) => None,
                            Err(e) => Some((Err(e), None)),
                        }
                    }
                    Ok(n) => {
                        buf.truncate(n);
                        st.verifier.update(&buf);
                        return Some((Ok(Bytes::from(buf)), Some(st)));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Some((Err(Error::io(st.path.display(), e)), None)),
                }
            }
        });
        Ok(Box::pin(stream))
    }

    /// Store a blob from a stream: written to a temporary file while hashed, renamed into place only
    /// when digest and size match (never held whole in memory). An existing copy is replaced.
    pub async fn put_blob_stream(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        mut body: BlobStream,
    ) -> Result<()> {
        let _lock = self.write_lock()?;
        {
            let _g = self.meta_lock();
            ensure_layout(&self.dir)?;
        }
        let path = self.blob_path(digest);
        if let Some(dir) = path.parent() {
            fsutil::create_dir_all(dir)?;
        }
        let what = format!("blob {repo}@{digest} for {}", self.name);
        let tmp = TempPath::new(&path);
        let io_err = |e| Error::io(tmp.path().display(), e);
        let mut f = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(super::shared_host::FILE_MODE)
            .custom_flags(super::shared_host::nofollow())
            .open(tmp.path())
            .await
            .map_err(io_err)?;
        let mut v = digest.verifier();
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            v.update(&chunk);
            if v.len() > size {
                return Err(Error::DigestMismatch {
                    what,
                    expected: format!("{size} bytes"),
                    actual: format!("more than {size} bytes"),
                });
            }
            f.write_all(&chunk).await.map_err(io_err)?;
        }
        f.flush().await.map_err(io_err)?;
        f.sync_all().await.map_err(io_err)?;
        drop(f);
        if v.len() != size {
            return Err(Error::DigestMismatch {
                what,
                expected: format!("{size} bytes"),
                actual: format!("{} bytes", v.len()),
            });
        }
        v.finish(&what)?;
        tmp.persist(&path)?;
        Ok(())
    }

    /// Store a blob held in memory (verified).
    pub async fn upload_bytes(&self, repo: &str, digest: &Digest, bytes: Bytes) -> Result<()> {
        let size = bytes.len() as u64;
        let body: BlobStream = Box::pin(futures_util::stream::once(async move { Ok(bytes) }));
        self.put_blob_stream(repo, digest, size, body).await
    }

    /// Tags of a repository (its `<last element>:*` references), sorted; empty when none.
    pub async fn list_tags(&self, repo: &str) -> Result<Vec<String>> {
        let prefix = self.ref_prefix(repo)?;
        let mut tags: Vec<String> = self
            .read_index()?
            .manifests
            .iter()
            .filter_map(|e| e.ref_name()?.strip_prefix(&prefix).map(str::to_string))
            .collect();
        tags.sort();
        tags.dedup();
        Ok(tags)
    }

    /// Remove the references of `repo` pointing at `digest` (blobs stay until a `delete` collects
    /// them). Not found when there is neither such a reference nor such a manifest.
    pub async fn delete_manifest(&self, repo: &str, digest: &Digest) -> Result<()> {
        let prefix = self.ref_prefix(repo)?;
        let _lock = self.write_lock()?;
        let _g = self.meta_lock();
        let Some(mut idx) = IndexFile::load(&self.dir)? else {
            return Err(Error::NotFound {
                registry: self.name.clone(),
                what: format!("manifest {repo}@{digest}"),
            });
        };
        let before = idx.manifests.len();
        idx.manifests
            .retain(|e| !(e.digest == *digest && e.ref_name().is_some_and(|r| r.starts_with(&prefix))));
        if idx.manifests.len() == before {
            if file_len(&self.blob_path(digest))?.is_none() {
                return Err(Error::NotFound {
                    registry: self.name.clone(),
                    what: format!("manifest {repo}@{digest}"),
                });
            }
            return Ok(());
        }
        idx.save(&self.dir)
    }
}
