//! Moving images between registries, byte-exact, in batches. A batch is planned and run in phases so
//! that every blob is fetched from its source at most once per run, whatever the number of images
//! sharing it and targets needing it:
//!
//! 1. **resolve**: fetch each source manifest (and a list's children) once;
//! 2. **discover**: per destination, HEAD the tags (unless the caller just did: [`SeenTags`]), then,
//!    when some tag lacks the image and none holds it, the image and a list's children by digest
//!    (not in a repository the caller found bare of its tags: [`SeenTags::mark_bare`]);
//! 3. **blobs**, per digest, the largest first: mount where the destination registry is known to
//!    hold it in another repository (the mount's 201 says it is there: no HEAD first); elsewhere
//!    HEAD one repository per registry (not for an image config, uploaded unasked), and where it is
//!    absent one source GET streamed (teed) into an upload on every registry lacking it, then mounts
//!    into the other repositories;
//! 4. **manifests**: children by digest, then the image or list under each tag, for each
//!    destination as soon as every blob it waits for is there (while other blobs still flow).
//!
//! Nothing is re-serialised, so digests are identical on both sides.
//!
//! Once the run is asked to stop ([`CopyOptions::stop`]), no request starts any more (each waits
//! for its registry's slot, [`Limits::acquire`], and a stopped run's slots never open): what is in
//! flight finishes, and the caller abandons the batch after [`crate::stop::GRACE`].
//!
//! [`copy_batch`] reads as those phases. Between them the values are typed and the deciding is pure:
//! `plan` (which sources, which destinations, which blob transfers, each once), `blobs` (the transfer
//! itself), `outcome` (the per-request results, assembled from what each phase returned).

mod blobs;
mod outcome;
mod plan;

/// The places a copy reads from and writes to (see [`crate::place`]).
pub use crate::place::{Mount, Place, Session};

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::digest::Digest;
use crate::error::{Error, Kind, Result};
use crate::manifest::{Content, Descriptor, Manifest};
use crate::progress::Progress;
use crate::stop::Stop;

pub use blobs::BlobOutcome;

use outcome::DestFailure;
use plan::{DestGap, DestId, Probe, Resolved};

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

/// A failure inside a batch, with its kind, so that callers group causes by kind rather than by
/// reading the text.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub kind: Kind,
    pub message: String,
}

impl Fault {
    /// A failure of no library error's kind (a consequence, a refusal of ours).
    pub fn other(message: impl Into<String>) -> Fault {
        Fault {
            kind: Kind::Other,
            message: message.into(),
        }
    }
}

impl From<&Error> for Fault {
    fn from(e: &Error) -> Fault {
        Fault {
            kind: Kind::of(e),
            message: e.to_string(),
        }
    }
}

impl From<Error> for Fault {
    fn from(e: Error) -> Fault {
        Fault::from(&e)
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
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
    /// The kind of `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<Kind>,
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
    /// The kind of `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<Kind>,
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
    /// Where the batch reports its phases and the blob bytes it moves.
    pub progress: Progress,
    /// Filled by the batch: every blob it found, mounted or uploaded, and every tag it pushed that
    /// the registry acknowledged, where (a later read-back of the run need not ask again).
    pub proven: Proven,
    /// Destination tags the caller already looked at moments before: not asked again.
    pub seen: SeenTags,
    /// The run's stop: once asked, no new request starts.
    pub stop: Stop,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            per_registry: 16,
            blob_jobs: 8,
            dry_run: false,
            fetched: FetchedBlobs::default(),
            progress: Progress::none(),
            proven: Proven::default(),
            seen: SeenTags::default(),
            stop: Stop::default(),
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

/// What a run's destinations answered: blobs there (a HEAD 200, a mount 201, an upload's PUT 201
/// after the registry checked the digest) as (registry, repository, digest), and tags whose PUT the
/// registry acknowledged with the digest (`Docker-Content-Digest`), as (registry, repository, tag)
/// → digest. A later read-back in the same run need not ask again.
#[derive(Clone, Debug, Default)]
pub struct Proven(Arc<std::sync::Mutex<ProvenSets>>);

#[derive(Debug, Default)]
struct ProvenSets {
    blobs: HashSet<(String, String, Digest)>,
    tags: HashMap<TagKey, Digest>,
    /// (registry, repository, digest) of every image pushed after this run saw all its blobs there.
    complete: HashSet<(String, String, Digest)>,
}

impl Proven {
    fn sets(&self) -> std::sync::MutexGuard<'_, ProvenSets> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn blob(&self, registry: &str, repo: &str, digest: &Digest) {
        let key = (registry.to_string(), repo.to_string(), digest.clone());
        self.sets().blobs.insert(key);
    }

    /// Every (registry, repository, digest) seen there.
    pub fn blobs(&self) -> Vec<(String, String, Digest)> {
        self.sets().blobs.iter().cloned().collect()
    }

    pub fn tag(&self, registry: &str, repo: &str, tag: &str, digest: &Digest) {
        let key = (registry.to_string(), repo.to_string(), tag.to_string());
        self.sets().tags.insert(key, digest.clone());
    }

    /// The image `digest` was pushed to `repo` with an acknowledged tag, after this run's blob step
    /// saw every one of its blobs there (found, mounted or uploaded).
    pub fn complete(&self, registry: &str, repo: &str, digest: &Digest) {
        let key = (registry.to_string(), repo.to_string(), digest.clone());
        self.sets().complete.insert(key);
    }

    /// See [`Proven::complete`]: the manifest and all its blobs are there, by this run's own answers.
    pub fn is_complete(&self, registry: &str, repo: &str, digest: &Digest) -> bool {
        let key = (registry.to_string(), repo.to_string(), digest.clone());
        self.sets().complete.contains(&key)
    }

    /// Did the registry acknowledge `tag` at `digest`?
    pub fn tag_acked(&self, registry: &str, repo: &str, tag: &str, digest: &Digest) -> bool {
        let key = (registry.to_string(), repo.to_string(), tag.to_string());
        self.sets().tags.get(&key) == Some(digest)
    }
}

/// What tags pointed at on a destination, as (registry, repository, tag) → the digest (`None`:
/// absent), when a caller asked before the batch (while it was still reading its sources); and the
/// repositories where the caller found none of the tags it asked about (see [`SeenTags::mark_bare`]).
#[derive(Clone, Debug, Default)]
pub struct SeenTags(Arc<std::sync::Mutex<SeenSets>>);

#[derive(Debug, Default)]
struct SeenSets {
    tags: HashMap<TagKey, Option<Digest>>,
    bare: HashSet<(String, String)>,
}

/// (registry, repository, tag).
type TagKey = (String, String, String);

impl SeenTags {
    fn sets(&self) -> std::sync::MutexGuard<'_, SeenSets> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn insert(&self, registry: &str, repo: &str, tag: &str, digest: Option<Digest>) {
        let key = (registry.to_string(), repo.to_string(), tag.to_string());
        self.sets().tags.insert(key, digest);
    }

    /// `None`: not looked at; `Some(None)`: absent.
    pub fn get(&self, registry: &str, repo: &str, tag: &str) -> Option<Option<Digest>> {
        let key = (registry.to_string(), repo.to_string(), tag.to_string());
        self.sets().tags.get(&key).cloned()
    }

    /// The caller asked about every tag it will write for one image (the image's tags and those of
    /// its relatives: a promotion's hash, architecture and list tags) and found none. The copy
    /// then takes the images it puts there as absent, without asking by digest: they are new builds,
    /// named by those tags, so a repository without the tags is as good as certain to lack them.
    /// Were one there after all (under other tags only), the blob step finds its layers present and
    /// the manifest PUT writes the same bytes again: more requests, the same result.
    pub fn mark_bare(&self, registry: &str, repo: &str) {
        let key = (registry.to_string(), repo.to_string());
        self.sets().bare.insert(key);
    }

    /// See [`SeenTags::mark_bare`].
    pub fn is_bare(&self, registry: &str, repo: &str) -> bool {
        let key = (registry.to_string(), repo.to_string());
        self.sets().bare.contains(&key)
    }
}

/// Per-registry request caps; every request of a batch starts by taking a slot, so they are also
/// where a stopped run starts nothing more.
#[derive(Clone, Default)]
pub struct Limits {
    per_registry: usize,
    sems: Arc<std::sync::Mutex<HashMap<String, Arc<Semaphore>>>>,
    stop: Stop,
}

impl Limits {
    pub fn new(per_registry: usize) -> Limits {
        Limits {
            per_registry: per_registry.max(1),
            sems: Default::default(),
            stop: Stop::default(),
        }
    }

    /// No slot opens once `stop` is asked.
    pub fn stopping_with(mut self, stop: &Stop) -> Limits {
        self.stop = stop.clone();
        self
    }

    /// A slot for one request to `registry`; never given once the run is asked to stop (the
    /// request is not started, and the caller abandons the batch).
    pub async fn acquire(&self, registry: &str) -> tokio::sync::OwnedSemaphorePermit {
        let sem = {
            let mut m = self.sems.lock().unwrap_or_else(|p| p.into_inner());
            m.entry(registry.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_registry)))
                .clone()
        };
        if self.stop.requested() {
            return std::future::pending().await;
        }
        tokio::select! {
            biased;
            _ = self.stop.wait() => std::future::pending().await,
            permit = sem.acquire_owned() => permit.expect("semaphores are never closed"),
        }
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
    let limits = Limits::new(opts.per_registry).stopping_with(&opts.stop);
    let timeline = outcome::Timeline::start();

    let resolved = resolve_sources(plan::distinct_sources(requests), &limits, opts.per_registry).await;
    let mut outcomes = outcome::initial(requests, &resolved);

    let probes = plan::probes(requests, &resolved);
    opts.progress.phase("copy check", probes.len() as u64);
    let discovered = discover(probes, &limits, opts, &timeline).await;
    let gaps = outcome::record_discovery(&mut outcomes, discovered, opts.dry_run);
    let holders = plan::complete_holders(requests, &gaps);
    let work: Vec<DestGap> = gaps.into_iter().filter(|g| !g.complete()).collect();

    if !opts.dry_run && !work.is_empty() {
        let needs = plan::blob_needs(requests, &work);
        let users: Vec<Vec<DestId>> = needs.iter().map(|n| n.users.clone()).collect();
        let (finished, reports) = tokio::sync::mpsc::unbounded_channel();
        let transfer = blobs::transfer_all(needs, &holders, &limits, opts, finished);
        let ready = Ready::new(work, &users);
        let manifests = push_manifests(requests, ready, reports, &limits, opts, &timeline);
        let (transferred, failures) = futures_util::future::join(transfer, manifests).await;
        outcome::record_blobs(&mut outcomes, &transferred);
        outcome::record_push_failures(&mut outcomes, failures);
    }
    outcome::finish(&mut outcomes, &timeline);
    outcomes
}

/// Phase 1: fetch each distinct source image once.
async fn resolve_sources(sources: Vec<plan::Source>, limits: &Limits, per_registry: usize) -> Resolved {
    stream::iter(sources.into_iter().map(|s| {
        let limits = limits.clone();
        async move {
            let _p = limits.acquire(s.endpoint.registry.name()).await;
            let r = resolve(&s.endpoint, s.key.reference(), s.known)
                .await
                .map(Arc::new)
                .map_err(Fault::from);
            (s.key, r)
        }
    }))
    .buffer_unordered(per_registry)
    .collect()
    .await
}

/// Phase 2: what each destination lacks.
async fn discover(
    probes: Vec<Probe>,
    limits: &Limits,
    opts: &CopyOptions,
    timeline: &outcome::Timeline,
) -> Vec<Result<DestGap, DestFailure>> {
    stream::iter(probes.into_iter().map(|p| {
        let limits = limits.clone();
        async move {
            let at = p.at;
            let r = discover_one(p, &limits, &opts.seen)
                .await
                .map_err(|e| DestFailure {
                    at,
                    error: Fault::from(&e),
                });
            timeline.mark(at);
            opts.progress.step();
            r
        }
    }))
    .buffer_unordered(opts.per_registry * 2)
    .collect()
    .await
}

/// HEAD each tag (unless the caller saw it); when some tag lacks the image and none holds it, HEAD
/// the image by digest, and when that is absent too, a list's children.
async fn discover_one(p: Probe, limits: &Limits, seen: &SeenTags) -> Result<DestGap> {
    let (dest, image) = (&p.dest, &p.image);
    let mut previous = BTreeMap::new();
    let mut missing_tags = Vec::new();
    for t in &p.tags {
        let prev = match seen.get(dest.registry.name(), &dest.repo, t) {
            Some(known) => known,
            None => {
                let _p = limits.acquire(dest.registry.name()).await;
                let head = dest.registry.head_manifest(&dest.repo, t).await?;
                head.map(|h| h.digest)
            }
        };
        if prev.as_ref() != Some(&image.root.digest) {
            missing_tags.push(t.clone());
        }
        previous.insert(t.clone(), prev);
    }
    let mut missing_children = Vec::new();
    let mut root_missing = false;
    // A tag found at the image's digest shows the image is there: no need to ask by digest. A
    // repository the caller found bare lacks it (see `SeenTags::mark_bare`): no need either.
    let held = previous.values().any(|d| d.as_ref() == Some(&image.root.digest));
    if missing_tags.is_empty() || held {
        // nothing to look up
    } else if seen.is_bare(dest.registry.name(), &dest.repo) {
        root_missing = true;
        missing_children = image.children.clone();
    } else {
        let _p = limits.acquire(dest.registry.name()).await;
        root_missing = !has_manifest(dest, &image.root).await?;
        if root_missing {
            for c in &image.children {
                if !has_manifest(dest, c).await? {
                    missing_children.push(c.clone());
                }
            }
        }
    }
    Ok(DestGap {
        at: p.at,
        image: p.image,
        previous,
        missing_tags,
        missing_children,
        root_missing,
    })
}

async fn has_manifest(dest: &Endpoint, m: &Manifest) -> Result<bool> {
    Ok(dest
        .registry
        .head_manifest(&dest.repo, m.digest.as_str())
        .await?
        .is_some())
}

/// Which destinations wait for which blob needs, and what came of them.
struct Ready<'a> {
    gaps: Vec<Option<DestGap>>,
    index: HashMap<DestId, usize>,
    waiting: Vec<usize>,
    failed: Vec<bool>,
    users: &'a [Vec<DestId>],
}

impl<'a> Ready<'a> {
    /// `users[need]`: the destinations waiting for that need (as often as they wait for it).
    fn new(work: Vec<DestGap>, users: &'a [Vec<DestId>]) -> Ready<'a> {
        let index: HashMap<DestId, usize> = work.iter().enumerate().map(|(i, g)| (g.at, i)).collect();
        let mut waiting = vec![0; work.len()];
        for u in users.iter().flatten() {
            waiting[index[u]] += 1;
        }
        let failed = vec![false; work.len()];
        let gaps = work.into_iter().map(Some).collect();
        Ready {
            gaps,
            index,
            waiting,
            failed,
            users,
        }
    }

    /// The destinations waiting for nothing.
    fn at_once(&mut self) -> Vec<DestGap> {
        let idle = (0..self.gaps.len())
            .filter(|&i| self.waiting[i] == 0)
            .collect::<Vec<_>>();
        idle.into_iter().filter_map(|i| self.gaps[i].take()).collect()
    }

    /// These needs finished (`ok`): the destinations no longer waiting for anything, each with
    /// whether every blob it waited for is there.
    fn finished(&mut self, done: Vec<(usize, bool)>) -> Vec<(DestGap, bool)> {
        let mut out = Vec::new();
        for (need, ok) in done {
            for u in &self.users[need] {
                let i = self.index[u];
                self.failed[i] |= !ok;
                self.waiting[i] -= 1;
                if self.waiting[i] == 0 {
                    out.extend(self.gaps[i].take().map(|g| (g, !self.failed[i])));
                }
            }
        }
        out
    }
}

/// Phase 4, as the blobs come (`reports`: the needs the blob step finished): per destination, as
/// soon as every blob it waits for is there, the missing children by digest, then the image under
/// each missing tag; a destination whose blob failed gets none. Returns the destinations whose
/// push failed.
async fn push_manifests(
    requests: &[CopyRequest],
    mut ready: Ready<'_>,
    mut reports: tokio::sync::mpsc::UnboundedReceiver<Vec<(usize, bool)>>,
    limits: &Limits,
    opts: &CopyOptions,
    timeline: &outcome::Timeline,
) -> Vec<DestFailure> {
    let push = |g: DestGap| {
        let dest = requests[g.at.req].dests[g.at.dest].0.clone();
        async move {
            let r = push_one(&dest, &g, limits, &opts.proven).await;
            timeline.mark(g.at);
            r.err().map(|e| DestFailure {
                at: g.at,
                error: Fault::from(&e),
            })
        }
    };
    let mut pushes = stream::FuturesUnordered::new();
    let mut started = 0;
    for g in ready.at_once() {
        pushes.push(push(g));
        started += 1;
    }
    let (mut failures, mut done_early, mut blobs_over) = (Vec::new(), 0, false);
    loop {
        tokio::select! {
            report = reports.recv(), if !blobs_over => match report {
                Some(done) => {
                    for (g, ok) in ready.finished(done) {
                        if ok {
                            pushes.push(push(g));
                            started += 1;
                        } else {
                            timeline.mark(g.at);
                        }
                    }
                }
                None => {
                    // The blob step is over: the manifests phase shows from here, with what is done.
                    blobs_over = true;
                    opts.progress.phase("manifests", started);
                    (0..done_early).for_each(|_| opts.progress.step());
                }
            },
            Some(failure) = pushes.next(), if !pushes.is_empty() => {
                failures.extend(failure);
                match blobs_over {
                    true => opts.progress.step(),
                    false => done_early += 1,
                }
            }
            else => break,
        }
    }
    failures
}

async fn push_one(dest: &Endpoint, g: &DestGap, limits: &Limits, proven: &Proven) -> Result<()> {
    let _p = limits.acquire(dest.registry.name()).await;
    for c in &g.missing_children {
        dest.registry
            .put_manifest(&dest.repo, c.digest.as_str(), &c.media_type, c.bytes.clone())
            .await?;
    }
    let root = &g.image.root;
    for t in &g.missing_tags {
        let (repo, mt, bytes) = (&dest.repo, &root.media_type, root.bytes.clone());
        let (digest, acked) = match &dest.registry {
            // A registry may acknowledge the digest in its answer (then the tag is proven).
            Place::Registry(r) => r.put_manifest_acked(repo, t, mt, bytes).await?,
            other => (other.put_manifest(repo, t, mt, bytes).await?, false),
        };
        if acked {
            proven.tag(dest.registry.name(), &dest.repo, t, &digest);
            // the blob step ran for this image (it was missing) and every blob came through:
            // only such gaps reach their manifests
            if g.root_missing {
                proven.complete(dest.registry.name(), &dest.repo, &digest);
            }
        }
        tracing::debug!(image = %format!("{dest}:{t}"), digest = %root.digest, "tagged");
    }
    Ok(())
}
