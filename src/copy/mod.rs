//! Moving images between registries, byte-exact, in batches. A batch is planned and run in phases so
//! that every blob is fetched from its source at most once per run, whatever the number of images
//! sharing it and targets needing it:
//!
//! 1. **resolve**: fetch each source manifest (and a list's children) once;
//! 2. **discover**: per destination, HEAD the tags, missing child manifests and their blobs;
//! 3. **blobs**: per digest, mount where the destination registry already has it in another repository,
//!    else one source GET streamed (teed) into an upload on every registry lacking it, then mounts;
//! 4. **manifests**: children by digest, then the image or list under each tag.
//!
//! Nothing is re-serialised, so digests are identical on both sides.

mod blobs;

/// The places a copy reads from and writes to (see [`crate::place`]).
pub use crate::place::{Mount, Place, Session};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::{Content, Descriptor, Manifest};

pub use blobs::BlobOutcome;

/// A repository on a registry.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub registry: Place,
    pub repo: String,
}

impl Endpoint {
    pub fn new(place: impl Into<Place>, repo: impl Into<String>) -> Endpoint {
        Endpoint {
            registry: place.into(),
            repo: repo.into(),
        }
    }

    pub fn key(&self) -> (String, String) {
        (self.registry.name().to_string(), self.repo.clone())
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.registry.name(), self.repo)
    }
}

/// One image (tag or digest at a source) to put under some tags at some destinations.
#[derive(Clone, Debug)]
pub struct CopyRequest {
    pub source: Endpoint,
    pub reference: String,
    pub dests: Vec<(Endpoint, Vec<String>)>,
    /// The source manifest when the caller already fetched it (saves a GET).
    pub known: Option<Manifest>,
}

/// What happened to one tag at one destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The tag already pointed at the source digest: nothing was sent.
    AlreadyPresent,
    /// Pushed (blobs and manifests as needed).
    Copied,
    /// Would be pushed (dry run / check mode).
    WouldCopy,
    Failed,
}

/// Result for one request × destination.
#[derive(Clone, Debug, Serialize)]
pub struct DestOutcome {
    pub destination: String,
    pub digest: Option<Digest>,
    pub tags: BTreeMap<String, Action>,
    /// Digest each tag pointed at before (None when absent).
    pub previous: BTreeMap<String, Option<Digest>>,
    pub blobs_uploaded: usize,
    pub blobs_mounted: usize,
    pub blobs_present: usize,
    pub bytes_uploaded: u64,
    pub error: Option<String>,
}

impl DestOutcome {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
    pub fn changed(&self) -> bool {
        self.tags
            .values()
            .any(|a| matches!(a, Action::Copied | Action::WouldCopy))
    }
}

/// Result for one request.
#[derive(Clone, Debug, Serialize)]
pub struct CopyOutcome {
    pub source: String,
    pub reference: String,
    pub source_digest: Option<Digest>,
    pub media_type: Option<String>,
    pub architectures: Vec<String>,
    pub error: Option<String>,
    pub dests: Vec<DestOutcome>,
    pub seconds: f64,
}

impl CopyOutcome {
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.dests.iter().all(DestOutcome::ok)
    }
}

/// A source image: the manifest, the children of a list, and every blob.
#[derive(Clone, Debug)]
pub struct SourceImage {
    pub root: Manifest,
    pub children: Vec<Manifest>,
    /// Architectures of the children (or of the image's config when it is a single image, when known).
    pub architectures: Vec<String>,
}

impl SourceImage {
    /// Blobs (configs and layers) of every image manifest in the tree, deduplicated.
    pub fn blobs(&self) -> Vec<Descriptor> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for m in std::iter::once(&self.root).chain(self.children.iter()) {
            if let Ok(Content::Image { config, layers }) = m.content() {
                for d in std::iter::once(config).chain(layers) {
                    if seen.insert(d.digest.clone()) {
                        out.push(d);
                    }
                }
            }
        }
        out
    }

    fn blobs_of(m: &Manifest) -> Vec<Descriptor> {
        match m.content() {
            Ok(Content::Image { config, layers }) => std::iter::once(config).chain(layers).collect(),
            _ => vec![],
        }
    }
}

/// Settings for a batch.
#[derive(Clone, Debug)]
pub struct CopyOptions {
    /// Requests in flight per registry.
    pub per_registry: usize,
    /// Blob transfers in flight.
    pub blob_jobs: usize,
    /// Plan only.
    pub dry_run: bool,
    /// Small blobs (configs) the caller already fetched: sent from memory, not fetched again.
    pub fetched: FetchedBlobs,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            per_registry: 16,
            blob_jobs: 8,
            dry_run: false,
            fetched: FetchedBlobs::default(),
        }
    }
}

/// Blobs already in memory (image configs read for their platform), by digest, so that a run
/// fetches each blob from the source once.
#[derive(Clone, Debug, Default)]
pub struct FetchedBlobs(Arc<std::sync::Mutex<HashMap<Digest, bytes::Bytes>>>);

impl FetchedBlobs {
    pub fn insert(&self, digest: Digest, bytes: bytes::Bytes) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest, bytes);
    }

    pub fn get(&self, digest: &Digest) -> Option<bytes::Bytes> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)
            .cloned()
    }
}

/// Per-registry request caps.
#[derive(Clone, Default)]
pub struct Limits {
    per_registry: usize,
    sems: Arc<std::sync::Mutex<HashMap<String, Arc<Semaphore>>>>,
}

impl Limits {
    pub fn new(per_registry: usize) -> Limits {
        Limits {
            per_registry: per_registry.max(1),
            sems: Default::default(),
        }
    }

    pub async fn acquire(&self, registry: &str) -> tokio::sync::OwnedSemaphorePermit {
        let sem = {
            let mut m = self.sems.lock().unwrap_or_else(|p| p.into_inner());
            m.entry(registry.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_registry)))
                .clone()
        };
        sem.acquire_owned().await.expect("semaphores are never closed")
    }
}

/// Fetch a source image tree (root manifest, a list's children).
pub async fn resolve(source: &Endpoint, reference: &str, known: Option<Manifest>) -> Result<SourceImage> {
    let root = match known {
        Some(m) => m,
        None => source.registry.get_manifest(&source.repo, reference).await?,
    };
    let mut children = Vec::new();
    let mut architectures = Vec::new();
    if let Content::Index { children: kids } = root.content()? {
        let fetched: Vec<Result<Manifest>> = stream::iter(kids.iter().map(|k| {
            let src = source.clone();
            let digest = k.descriptor.digest.clone();
            async move { src.registry.get_manifest(&src.repo, digest.as_str()).await }
        }))
        .buffered(8)
        .collect()
        .await;
        for (k, m) in kids.iter().zip(fetched) {
            let m = m?;
            if m.is_index() {
                return Err(Error::Unsupported {
                    registry: source.registry.name().to_string(),
                    what: format!("{}:{reference}", source.repo),
                    reason: "nested manifest lists are not supported".into(),
                });
            }
            if let Some(a) = &k.architecture {
                architectures.push(a.clone());
            }
            children.push(m);
        }
    }
    Ok(SourceImage {
        root,
        children,
        architectures,
    })
}

/// Copy a batch of images. Per-request and per-destination errors are recorded in the outcomes (the
/// batch keeps going); the function itself fails only on misuse.
pub async fn copy_batch(requests: &[CopyRequest], opts: &CopyOptions) -> Vec<CopyOutcome> {
    let limits = Limits::new(opts.per_registry);
    let started = Instant::now();

    // 1. resolve sources (each distinct source image once)
    let mut keys: Vec<(String, String, String)> = requests
        .iter()
        .map(|r| {
            (
                r.source.registry.name().to_string(),
                r.source.repo.clone(),
                r.reference.clone(),
            )
        })
        .collect();
    keys.sort();
    keys.dedup();
    let by_key: HashMap<_, _> = requests
        .iter()
        .map(|r| {
            (
                (
                    r.source.registry.name().to_string(),
                    r.source.repo.clone(),
                    r.reference.clone(),
                ),
                (r.source.clone(), r.known.clone()),
            )
        })
        .collect();
    let resolved: HashMap<(String, String, String), std::result::Result<Arc<SourceImage>, String>> =
        stream::iter(keys.into_iter().map(|k| {
            let (src, known) = by_key[&k].clone();
            let limits = limits.clone();
            async move {
                let _p = limits.acquire(src.registry.name()).await;
                let r = resolve(&src, &k.2, known)
                    .await
                    .map(Arc::new)
                    .map_err(|e| e.to_string());
                (k, r)
            }
        }))
        .buffer_unordered(opts.per_registry)
        .collect()
        .await;

    // 2. discover what each destination lacks
    struct Work {
        req: usize,
        dest: usize,
        image: Arc<SourceImage>,
        previous: BTreeMap<String, Option<Digest>>,
        missing_tags: Vec<String>,
        missing_children: Vec<Manifest>,
        root_missing: bool,
    }
    let mut outcomes: Vec<CopyOutcome> = requests
        .iter()
        .map(|r| {
            let key = (
                r.source.registry.name().to_string(),
                r.source.repo.clone(),
                r.reference.clone(),
            );
            let res = &resolved[&key];
            CopyOutcome {
                source: format!("{}:{}", r.source, r.reference),
                reference: r.reference.clone(),
                source_digest: res.as_ref().ok().map(|i| i.root.digest.clone()),
                media_type: res.as_ref().ok().map(|i| i.root.media_type.clone()),
                architectures: res.as_ref().map(|i| i.architectures.clone()).unwrap_or_default(),
                error: res.as_ref().err().cloned(),
                dests: r
                    .dests
                    .iter()
                    .map(|(d, _)| DestOutcome {
                        destination: d.to_string(),
                        digest: res.as_ref().ok().map(|i| i.root.digest.clone()),
                        tags: BTreeMap::new(),
                        previous: BTreeMap::new(),
                        blobs_uploaded: 0,
                        blobs_mounted: 0,
                        blobs_present: 0,
                        bytes_uploaded: 0,
                        error: None,
                    })
                    .collect(),
                seconds: 0.0,
            }
        })
        .collect();

    let discover_jobs: Vec<_> = requests
        .iter()
        .enumerate()
        .flat_map(|(ri, r)| {
            let key = (
                r.source.registry.name().to_string(),
                r.source.repo.clone(),
                r.reference.clone(),
            );
            let img = resolved[&key].as_ref().ok().cloned();
            r.dests.iter().enumerate().filter_map(move |(di, (dest, tags))| {
                img.clone()
                    .map(|image| (ri, di, dest.clone(), tags.clone(), image))
            })
        })
        .collect();
    let discovered: Vec<std::result::Result<Work, (usize, usize, String)>> =
        stream::iter(discover_jobs.into_iter().map(|(ri, di, dest, tags, image)| {
            let limits = limits.clone();
            async move {
                let r: Result<Work> = async {
                    let mut previous = BTreeMap::new();
                    let mut missing_tags = Vec::new();
                    for t in &tags {
                        let _p = limits.acquire(dest.registry.name()).await;
                        let head = dest.registry.head_manifest(&dest.repo, t).await?;
                        let prev = head.map(|h| h.digest);
                        if prev.as_ref() != Some(&image.root.digest) {
                            missing_tags.push(t.clone());
                        }
                        previous.insert(t.clone(), prev);
                    }
                    let mut missing_children = Vec::new();
                    let mut root_missing = false;
                    if !missing_tags.is_empty() {
                        let _p = limits.acquire(dest.registry.name()).await;
                        root_missing = dest
                            .registry
                            .head_manifest(&dest.repo, image.root.digest.as_str())
                            .await?
                            .is_none();
                        if root_missing {
                            for c in &image.children {
                                if dest
                                    .registry
                                    .head_manifest(&dest.repo, c.digest.as_str())
                                    .await?
                                    .is_none()
                                {
                                    missing_children.push(c.clone());
                                }
                            }
                        }
                    }
                    Ok(Work {
                        req: ri,
                        dest: di,
                        image,
                        previous,
                        missing_tags,
                        missing_children,
                        root_missing,
                    })
                }
                .await;
                r.map_err(|e| (ri, di, e.to_string()))
            }
        }))
        .buffer_unordered(opts.per_registry * 2)
        .collect()
        .await;

    let mut work = Vec::new();
    // Repositories whose image is already complete at a destination hold every blob of it: the
    // blob phase mounts from them instead of uploading again.
    let mut known_holders: Vec<(Digest, String, String)> = Vec::new();
    for d in discovered {
        match d {
            Ok(w) => {
                if w.missing_tags.is_empty() {
                    let dest = &requests[w.req].dests[w.dest].0;
                    for b in w.image.blobs() {
                        known_holders.push((b.digest, dest.registry.name().to_string(), dest.repo.clone()));
                    }
                }
                let o = &mut outcomes[w.req].dests[w.dest];
                o.previous = w.previous.clone();
                for (t, prev) in &w.previous {
                    let action = if w.missing_tags.contains(t) {
                        if opts.dry_run {
                            Action::WouldCopy
                        } else {
                            Action::Copied
                        }
                    } else {
                        let _ = prev;
                        Action::AlreadyPresent
                    };
                    o.tags.insert(t.clone(), action);
                }
                if !w.missing_tags.is_empty() {
                    work.push(w);
                }
            }
            Err((ri, di, e)) => outcomes[ri].dests[di].error = Some(e),
        }
    }

    if opts.dry_run || work.is_empty() {
        let secs = started.elapsed().as_secs_f64();
        for o in &mut outcomes {
            o.seconds = secs;
        }
        return outcomes;
    }

    // 3. blobs: what each destination repository needs
    let mut needs: Vec<blobs::BlobNeed> = Vec::new();
    let mut need_index: HashMap<(Digest, String, String), usize> = HashMap::new();
    for w in &work {
        if !w.root_missing {
            continue; // the manifest is there under its digest: only tags move
        }
        let r = &requests[w.req];
        let dest = &r.dests[w.dest].0;
        let manifests: Vec<&Manifest> = if w.image.children.is_empty() {
            vec![&w.image.root]
        } else {
            w.missing_children.iter().collect()
        };
        for m in manifests {
            for b in SourceImage::blobs_of(m) {
                let key = (
                    b.digest.clone(),
                    dest.registry.name().to_string(),
                    dest.repo.clone(),
                );
                let idx = *need_index.entry(key).or_insert_with(|| {
                    needs.push(blobs::BlobNeed {
                        descriptor: b.clone(),
                        source: r.source.clone(),
                        dest: dest.clone(),
                        users: vec![],
                    });
                    needs.len() - 1
                });
                needs[idx].users.push((w.req, w.dest));
            }
        }
    }
    let blob_results = blobs::transfer_all(needs, &known_holders, &limits, opts).await;
    for (need, res) in &blob_results {
        for &(ri, di) in &need.users {
            let o = &mut outcomes[ri].dests[di];
            match res {
                Ok(BlobOutcome::Present) => o.blobs_present += 1,
                Ok(BlobOutcome::Mounted) => o.blobs_mounted += 1,
                Ok(BlobOutcome::Uploaded(n)) => {
                    o.blobs_uploaded += 1;
                    o.bytes_uploaded += n;
                }
                Err(e) => {
                    if o.error.is_none() {
                        o.error = Some(format!("blob {}: {e}", need.descriptor.digest));
                    }
                }
            }
        }
    }

    // 4. manifests: children by digest, then the root under each missing tag
    let manifest_jobs: Vec<_> = work
        .into_iter()
        .filter(|w| outcomes[w.req].dests[w.dest].error.is_none())
        .collect();
    let pushed: Vec<(usize, usize, std::result::Result<(), String>)> =
        stream::iter(manifest_jobs.into_iter().map(|w| {
            let dest = requests[w.req].dests[w.dest].0.clone();
            let limits = limits.clone();
            async move {
                let r: Result<()> = async {
                let _p = limits.acquire(dest.registry.name()).await;
                for c in &w.missing_children {
                    dest.registry
                        .put_manifest(&dest.repo, c.digest.as_str(), &c.media_type, c.bytes.clone())
                        .await?;
                }
                for t in &w.missing_tags {
                    dest.registry
                        .put_manifest(&dest.repo, t, &w.image.root.media_type, w.image.root.bytes.clone())
                        .await?;
                    tracing::debug!(image = %format!("{dest}:{t}"), digest = %w.image.root.digest, "tagged");
                }
                Ok(())
            }
            .await;
                (w.req, w.dest, r.map_err(|e| e.to_string()))
            }
        }))
        .buffer_unordered(opts.per_registry * 2)
        .collect()
        .await;
    for (ri, di, r) in pushed {
        if let Err(e) = r {
            outcomes[ri].dests[di].error = Some(e);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    for o in &mut outcomes {
        for d in &mut o.dests {
            if d.error.is_some() {
                for a in d.tags.values_mut() {
                    if *a == Action::Copied {
                        *a = Action::Failed;
                    }
                }
            }
        }
        o.seconds = secs;
    }
    outcomes
}
