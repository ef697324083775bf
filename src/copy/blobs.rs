//! Blob transfer for a batch: mount, or one source GET teed into uploads on every registry that
//! lacks the blob, each digest's needs reported as they finish (the batch pushes an image's
//! manifests as soon as its blobs are there). Memory stays bounded: chunks flow through small
//! channels, never a whole layer. The big digests go first, in their own lane, the small ones image
//! by image; each asks only what its answers do not already tell: a mount's 201 proves the blob is
//! there, so nothing is HEADed before a mount, and a blob absent from the first repository of a
//! registry is uploaded there and mounted into the others unasked.
//!
//! Per digest the steps are: [`plan_routes`] (mount from a repository known to hold it; elsewhere
//! one HEAD per registry, none for an image config ([`upload_unasked`]), then the pure [`plan_unknown`]: upload into one repository per registry
//! and mount into the others), then the mounts, the upload rounds ([`upload_rounds`], each round
//! one [`tee_upload`]), and the mounts that wait for an upload. A refused mount asks (HEAD) before
//! it uploads. What each answer proved is kept in [`super::Proven`] for the run's read-back.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use tokio::sync::mpsc;

use super::plan::{BlobNeed, Holding};
use super::{CopyOptions, Endpoint, Fault, Limits, Mount, Session};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::BlobStream;
use crate::manifest::{media, Descriptor};
use crate::transport::RetryPolicy;

/// Chunks buffered per destination while teeing. A chunk is what the source's connection hands over
/// (on a fast link it can be a few hundred KiB), and the big layers now stream side by side: with
/// 16, the full-size benchmark's peak RSS went from 45 to 64 MiB once four base layers streamed at
/// once (docs/benchmarks.md, run 4).
const TEE_DEPTH: usize = 4;

/// How a blob got (or already was) there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobOutcome {
    Present,
    Mounted,
    /// Uploaded, with the byte count.
    Uploaded(u64),
}

pub(super) type BlobResult = std::result::Result<BlobOutcome, Fault>;

/// Repositories holding each digest, per registry, in the order they became known (the first is
/// mounted from).
#[derive(Debug, Default)]
struct Holders(HashMap<(String, String), Vec<String>>);

impl Holders {
    /// The repositories known to hold blobs before any blob request (complete images).
    fn new(known: &[Holding]) -> Holders {
        let mut h = Holders::default();
        for k in known {
            h.add(&k.digest, &k.registry, &k.repo);
        }
        h
    }

    fn add(&mut self, digest: &Digest, registry: &str, repo: &str) {
        let key = (digest.to_string(), registry.to_string());
        self.0.entry(key).or_default().push(repo.to_string());
    }

    fn first(&self, digest: &Digest, registry: &str) -> Option<&str> {
        let key = (digest.to_string(), registry.to_string());
        self.0.get(&key).and_then(|v| v.first()).map(String::as_str)
    }
}

/// Make every need true. Returns each need with its outcome. The digests go largest first, each
/// asking its own questions (no blob HEAD phase before the transfers), so the big layers that bound
/// a run start at once.
pub(super) async fn transfer_all(
    needs: Vec<BlobNeed>,
    known_holders: &[Holding],
    limits: &Limits,
    opts: &CopyOptions,
    finished: mpsc::UnboundedSender<Vec<(usize, bool)>>,
) -> Vec<(BlobNeed, BlobResult)> {
    let groups = largest_first(&needs);
    let holders = Holders::new(known_holders);
    let progress = &opts.progress;
    progress.phase("blobs", groups.len() as u64);
    progress.add_total_bytes(groups.iter().map(|g| needs[g[0]].descriptor.size).sum());
    let (needs_ref, holders, finished) = (&needs, &holders, &finished);
    let one = |idxs: Vec<usize>| {
        let attempts = needs_ref[idxs[0]].source.registry.retry().attempts.max(1);
        async move {
            let r = transfer_one(needs_ref, &idxs, holders, limits, attempts, opts).await;
            // the caller may go on with what waited for these needs (a closed receiver: it does not)
            let _ = finished.send(r.iter().map(|(i, o)| (*i, o.is_ok())).collect());
            if !r.iter().any(|(_, o)| matches!(o, Ok(BlobOutcome::Uploaded(_)))) {
                // Present, mounted (or failed): its bytes are not going to flow.
                progress.sub_total_bytes(needs_ref[idxs[0]].descriptor.size);
            }
            progress.step();
            r
        }
    };
    let sizes: Vec<u64> = groups.iter().map(|g| needs[g[0]].descriptor.size).collect();
    let (big, small) = lanes(&sizes, opts.blob_jobs.max(1));
    let mut groups = groups;
    let mut rest = groups.split_off(big.count);
    // The small blobs image by image (the order of their first destinations), so that images are
    // complete one after the other and their manifests go meanwhile, instead of all at the end.
    rest.sort_by_key(|g| needs[g[0]].users.iter().map(|u| (u.req, u.dest)).min());
    let done = two_lanes((groups, big.jobs), (rest, small.jobs), one).await;
    let mut results: Vec<Option<BlobResult>> = vec![None; needs.len()];
    for (i, r) in done.into_iter().flatten() {
        if r.is_ok() {
            let n = &needs[i];
            opts.proven
                .blob(n.dest.registry.name(), &n.dest.repo, &n.descriptor.digest);
        }
        results[i] = Some(r);
    }
    needs
        .into_iter()
        .zip(results)
        .map(|(n, r)| (n, r.unwrap_or_else(|| Err(Fault::other("not attempted")))))
        .collect()
}

/// Run the big lane's and the small lane's work side by side, each with its own jobs in flight;
/// a lane that has finished lends its jobs to the other (the few base layers are usually done
/// long before the many small blobs: their jobs then carry small ones, instead of idling while a
/// half-width lane drains the tail). Never more than the two lanes' jobs in flight in all.
async fn two_lanes<G, T, Fut>(
    (big, big_jobs): (Vec<G>, usize),
    (small, small_jobs): (Vec<G>, usize),
    run: impl Fn(G) -> Fut,
) -> Vec<T>
where
    Fut: std::future::Future<Output = T>,
{
    use tokio::sync::Semaphore;
    debug_assert!(big.is_empty() || big_jobs > 0, "a lane with work has jobs");
    debug_assert!(small.is_empty() || small_jobs > 0, "a lane with work has jobs");
    let (big_sem, small_sem) = (Semaphore::new(big_jobs), Semaphore::new(small_jobs));
    let all = (big_jobs + small_jobs).max(1);
    let (mut done, more) = futures_util::future::join(
        lane(big, (&big_sem, &small_sem, big_jobs), all, &run),
        lane(small, (&small_sem, &big_sem, small_jobs), all, &run),
    )
    .await;
    done.extend(more);
    done
}

/// One lane of [`two_lanes`]: each piece of work holds one of `mine`'s permits while it runs; when
/// the lane is done, `lend` permits are added to `other`.
async fn lane<G, T, Fut>(
    work: Vec<G>,
    (mine, other, lend): (&tokio::sync::Semaphore, &tokio::sync::Semaphore, usize),
    all: usize,
    run: &impl Fn(G) -> Fut,
) -> Vec<T>
where
    Fut: std::future::Future<Output = T>,
{
    let work = work.into_iter().map(|g| async move {
        let _slot = mine.acquire().await.expect("never closed");
        run(g).await
    });
    let out: Vec<T> = stream::iter(work).buffer_unordered(all).collect().await;
    other.add_permits(lend);
    out
}

/// One lane of blob transfers: its first `count` groups (of the largest-first order), `jobs` at a time.
#[derive(Debug, PartialEq, Eq)]
struct Lane {
    count: usize,
    jobs: usize,
}

/// Split `jobs` transfers in flight between the big blobs (each at least 1 MiB and 1/(2 × jobs) of
/// all the bytes: the few base layers that bound a run) and the rest, so that the many small
/// blobs keep flowing beside the big ones instead of queueing behind them. `sizes`: largest first.
/// A lane without blobs lends its jobs to the other from the start, a lane that finishes lends them
/// then ([`two_lanes`]); never more than `jobs` in flight in all.
fn lanes(sizes: &[u64], jobs: usize) -> (Lane, Lane) {
    let total: u64 = sizes.iter().sum();
    let floor = (total / (2 * jobs as u64)).max(1 << 20);
    let big = match jobs {
        // One job: one lane, largest first.
        1 => sizes.len(),
        _ => sizes.iter().take_while(|&&s| s >= floor).count(),
    };
    let small = sizes.len() - big;
    let big_jobs = match (big, small) {
        (0, _) => 0,
        (_, 0) => jobs,
        _ => jobs / 2,
    };
    // a lane without blobs gets no jobs: the two lanes' jobs always add up to `jobs`
    let small_jobs = if small == 0 { 0 } else { jobs - big_jobs };
    let lane = |count, jobs| Lane { count, jobs };
    (lane(big, big_jobs), lane(small, small_jobs))
}

/// The needs grouped by digest, as indices into `needs`: the largest blobs first (then by digest).
fn largest_first(needs: &[BlobNeed]) -> Vec<Vec<usize>> {
    let mut by_digest: BTreeMap<(std::cmp::Reverse<u64>, String), Vec<usize>> = BTreeMap::new();
    for (i, n) in needs.iter().enumerate() {
        let key = (
            std::cmp::Reverse(n.descriptor.size),
            n.descriptor.digest.to_string(),
        );
        by_digest.entry(key).or_default().push(i);
    }
    by_digest.into_values().collect()
}

/// HEAD one need's (registry, repository, digest): `None` when absent, else present or the failure.
async fn head(n: &BlobNeed, limits: &Limits) -> Option<BlobResult> {
    let _p = limits.acquire(n.dest.registry.name()).await;
    match n
        .dest
        .registry
        .blob_exists(&n.dest.repo, &n.descriptor.digest)
        .await
    {
        Ok(Some(_)) => Some(Ok(BlobOutcome::Present)),
        Ok(None) => None,
        Err(e) => Some(Err(Fault::from(e))),
    }
}

/// How one need of a digest gets its blob.
#[derive(Clone, Debug, PartialEq)]
enum Route {
    /// Mount from a repository of the same registry known to hold it (uploading if refused). No
    /// HEAD first: a mount answering 201 proves the blob is there.
    Mount { need: usize, from: String },
    /// Upload (the first need of a registry where nothing holds it: its HEAD said absent, or it was
    /// not asked, see [`upload_unasked`]).
    Upload(usize),
    /// Mount from the upload of `from` once it is done (the other needs of that registry).
    MountAfter { need: usize, from: usize },
    /// Settled by a HEAD (present, or the HEAD failed).
    Settled(usize, BlobResult),
}

/// The needs (indices into `needs`) of one digest by registry, in name order.
fn by_registry<'a>(needs: &'a [BlobNeed], idxs: &[usize]) -> BTreeMap<&'a str, Vec<usize>> {
    let mut by_reg: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for &i in idxs {
        by_reg.entry(needs[i].dest.registry.name()).or_default().push(i);
    }
    by_reg
}

/// The repository known to hold the digest on `reg`: a holder, or the source repository itself
/// when the source is on that registry.
fn known_holder<'a>(needs: &'a [BlobNeed], first: usize, reg: &str, holders: &'a Holders) -> Option<&'a str> {
    let (digest, source) = (&needs[first].descriptor.digest, &needs[first].source);
    holders
        .first(digest, reg)
        .or((source.registry.name() == reg).then_some(source.repo.as_str()))
}

/// Routes for the needs of one registry where no repository is known to hold the digest, given
/// the answer to the HEAD of its first need (`None`: absent, or not asked) and, when that one was not absent, of
/// the others. Absent: upload there and mount into the others without asking them. Present: mount
/// from it into the others found absent. The HEAD failed: the first of the others found absent
/// uploads and the rest mount from it.
fn plan_unknown(
    needs: &[BlobNeed],
    (first, head): (usize, Option<BlobResult>),
    rest: Vec<(usize, Option<BlobResult>)>,
) -> Vec<Route> {
    let mut routes = Vec::new();
    // Where the others get it: a repository holding it, or the need that uploads it.
    let mut from: Option<Result<String, usize>> = None;
    match head {
        None => {
            routes.push(Route::Upload(first));
            from = Some(Err(first));
        }
        Some(Ok(o)) => {
            routes.push(Route::Settled(first, Ok(o)));
            from = Some(Ok(needs[first].dest.repo.clone()));
        }
        Some(e) => routes.push(Route::Settled(first, e)),
    }
    for (need, head) in rest {
        match (head, &from) {
            (Some(r), _) => routes.push(Route::Settled(need, r)),
            (None, Some(Ok(repo))) => routes.push(Route::Mount {
                need,
                from: repo.clone(),
            }),
            (None, Some(Err(up))) => routes.push(Route::MountAfter { need, from: *up }),
            (None, None) => {
                routes.push(Route::Upload(need));
                from = Some(Err(need));
            }
        }
    }
    routes
}

/// Routes for the needs of one digest, registry by registry in name order: mounts from a known
/// holder without a HEAD; elsewhere a HEAD of the first need decides (see [`plan_unknown`]).
async fn plan_routes(needs: &[BlobNeed], idxs: &[usize], holders: &Holders, limits: &Limits) -> Vec<Route> {
    let per_registry = by_registry(needs, idxs)
        .into_iter()
        .map(|(reg, list)| async move {
            if let Some(from) = known_holder(needs, list[0], reg, holders) {
                let mount = |&need: &usize| Route::Mount {
                    need,
                    from: from.to_string(),
                };
                return list.iter().map(mount).collect();
            }
            let first = match upload_unasked(&needs[list[0]]) {
                true => None,
                false => head(&needs[list[0]], limits).await,
            };
            // Absent from the first repository: absent from the others too, as far as this run
            // cares (they get a mount, which tells).
            let rest = if first.is_none() {
                list[1..].iter().map(|&i| (i, None)).collect()
            } else {
                let asked = list[1..]
                    .iter()
                    .map(|&i| async move { (i, head(&needs[i], limits).await) });
                futures_util::future::join_all(asked).await
            };
            plan_unknown(needs, (list[0], first), rest)
        });
    let routes = futures_util::future::join_all(per_registry).await;
    routes.into_iter().flatten().collect()
}

/// The largest image config uploaded without a HEAD first.
const CONFIG_UNASKED_MAX: u64 = 1 << 20;

/// Is this an image config, uploaded without asking whether it is there? A config belongs to one
/// image build (it names the build's layers and time), and a blob is only needed where the image's
/// manifest is absent, so there it is as good as never present; it is small, so the HEAD would cost
/// a round trip (and, on a registry, as much work as the upload) to save a few KiB. Where it was
/// there after all, the upload writes the same bytes again, under the same digest.
fn upload_unasked(n: &BlobNeed) -> bool {
    // a local layout answers from its own disk: asking costs nothing there
    if !matches!(n.dest.registry, super::Place::Registry(_)) {
        return false;
    }
    let config = matches!(
        n.descriptor.media_type.as_str(),
        media::DOCKER_CONFIG | media::OCI_CONFIG
    );
    config && n.descriptor.size <= CONFIG_UNASKED_MAX
}

/// Mount `need` from `from`; `None` when the registry would not: the caller uploads (after a HEAD,
/// since nothing asked whether the blob was already there).
async fn mount(n: &BlobNeed, from: &str, limits: &Limits) -> Option<BlobResult> {
    let _p = limits.acquire(n.dest.registry.name()).await;
    match n
        .dest
        .registry
        .mount_blob(&n.dest.repo, &n.descriptor.digest, from)
        .await
    {
        Ok(Mount::Mounted) => Some(Ok(BlobOutcome::Mounted)),
        Ok(Mount::Upload(_)) => None,
        Err(e) => {
            let (registry, digest) = (n.dest.registry.name(), &n.descriptor.digest);
            tracing::debug!(%registry, %digest, error = %e, "mount refused; uploading instead");
            None
        }
    }
}

/// One digest: all the destination repositories (indices into `needs`) lacking it.
async fn transfer_one(
    needs: &[BlobNeed],
    idxs: &[usize],
    holders: &Holders,
    limits: &Limits,
    attempts: u32,
    opts: &CopyOptions,
) -> Vec<(usize, BlobResult)> {
    let mut out: Vec<(usize, BlobResult)> = Vec::new();
    let mut mounts: Vec<(usize, String)> = Vec::new();
    let mut to_upload: Vec<usize> = Vec::new();
    let mut mount_later: Vec<(usize, usize)> = Vec::new();
    for route in plan_routes(needs, idxs, holders, limits).await {
        match route {
            Route::Mount { need, from } => mounts.push((need, from)),
            Route::Upload(need) => to_upload.push(need),
            Route::MountAfter { need, from } => mount_later.push((need, from)),
            Route::Settled(need, r) => out.push((need, r)),
        }
    }
    let mounted = futures_util::future::join_all(mounts.into_iter().map(|(need, from)| async move {
        match mount(&needs[need], &from, limits).await {
            Some(r) => (need, Some(r)),
            // Refused: is it there anyway (nothing asked before)? Absent: upload.
            None => (need, head(&needs[need], limits).await),
        }
    }))
    .await;
    for (need, r) in mounted {
        match r {
            Some(r) => out.push((need, r)),
            None => to_upload.push(need),
        }
    }
    out.extend(upload_rounds(needs, to_upload, limits, opts, attempts).await);
    let ok: HashSet<usize> = out.iter().filter(|(_, r)| r.is_ok()).map(|(i, _)| *i).collect();
    let faults: HashMap<usize, Fault> = out
        .iter()
        .filter_map(|(i, r)| r.as_ref().err().map(|f| (*i, f.clone())))
        .collect();
    let settled = (&ok, &faults);
    out.extend(mount_after_upload(needs, mount_later, settled, limits, opts).await);
    out
}

/// The state of the upload rounds of one digest. The source GETs of every round draw on one budget
/// of attempts (the transport retries a failing GET itself: a round must not multiply those): once
/// the source has failed a round with that budget spent, no further round. Failed uploads (a PUT
/// cannot be replayed by the transport) get their rounds.
struct Rounds {
    attempts: u32,
    attempt: u32,
    /// Source GET attempts spent, over all rounds.
    src_used: u32,
    /// The source failed in the last round.
    src_failed: bool,
    /// The longest Retry-After a destination asked for in the last round.
    wait_hint: Option<Duration>,
}

impl Rounds {
    fn new(attempts: u32) -> Rounds {
        Rounds {
            attempts,
            attempt: 0,
            src_used: 0,
            src_failed: false,
            wait_hint: None,
        }
    }

    fn another(&self) -> bool {
        self.attempt < self.attempts && !(self.src_failed && self.src_used >= self.attempts)
    }

    /// Start a round: after the first, wait (a destination's Retry-After wins over our own backoff,
    /// capped).
    async fn begin(&mut self, policy: &RetryPolicy) {
        self.attempt += 1;
        if self.attempt > 1 {
            let delay = match self.wait_hint.take() {
                Some(d) => d.min(policy.max_retry_after),
                None => policy.backoff(self.attempt - 1),
            };
            tokio::time::sleep(delay).await;
        }
        self.src_failed = false;
    }

    fn note(&mut self, e: &Error) {
        if let Error::Busy {
            retry_after: Some(d), ..
        } = e
        {
            self.wait_hint = Some(self.wait_hint.map_or(*d, |w| w.max(*d)));
        }
    }
}

/// Whether another round may help an upload that failed with `e`.
fn worth_retrying(e: &Error) -> bool {
    !matches!(
        e,
        Error::DigestMismatch { .. } | Error::Auth { .. } | Error::NotFound { .. }
    )
}

/// One source GET teed to every upload per round; failed ones are tried again (fetching again).
async fn upload_rounds(
    needs: &[BlobNeed],
    targets: Vec<usize>,
    limits: &Limits,
    opts: &CopyOptions,
    attempts: u32,
) -> Vec<(usize, BlobResult)> {
    let Some(&first) = targets.first() else {
        return vec![];
    };
    let (source, digest) = (&needs[first].source, &needs[first].descriptor.digest);
    let mut rounds = Rounds::new(attempts);
    let mut pending = targets;
    let mut out = Vec::new();
    let mut last_err: HashMap<usize, Fault> = HashMap::new();
    while !pending.is_empty() && rounds.another() {
        rounds.begin(&source.registry.retry()).await;
        let (used, failed) = (&mut rounds.src_used, &mut rounds.src_failed);
        let results = tee_upload(needs, &pending, limits, opts, used, failed).await;
        pending.clear();
        for (i, r) in results {
            match r {
                Ok(n) => out.push((i, Ok(BlobOutcome::Uploaded(n)))),
                Err(e) => {
                    rounds.note(&e);
                    last_err.insert(i, Fault::from(&e));
                    if worth_retrying(&e) {
                        pending.push(i);
                    } else {
                        out.push((i, Err(Fault::from(&e))));
                    }
                }
            }
        }
        if !pending.is_empty() && rounds.another() {
            let attempt = rounds.attempt;
            tracing::debug!(%digest, targets = pending.len(), attempt, "blob transfer failed; trying again");
        }
    }
    for i in pending {
        let e = last_err
            .remove(&i)
            .unwrap_or_else(|| Fault::other("upload failed"));
        out.push((i, Err(e)));
    }
    out
}

/// Mount into the other repositories of registries we uploaded to (`ok`: the settled needs; `faults`:
/// why the others failed), all at once; where a registry will not mount and the blob is not there,
/// fetch again for that one. A need whose upload failed fails with that upload's fault (its kind
/// and cause: a full disk is one cause for every image that waited for it).
async fn mount_after_upload(
    needs: &[BlobNeed],
    mount_later: Vec<(usize, usize)>,
    (ok, faults): (&HashSet<usize>, &HashMap<usize, Fault>),
    limits: &Limits,
    opts: &CopyOptions,
) -> Vec<(usize, BlobResult)> {
    let one = |(i, from_i): (usize, usize)| async move {
        let n = &needs[i];
        if !ok.contains(&from_i) {
            let upload = format!("the upload to {} it waited for failed", needs[from_i].dest);
            let fault = match faults.get(&from_i) {
                Some(f) => Fault {
                    kind: f.kind,
                    message: format!("{upload}: {}", f.message),
                },
                None => Fault::other(upload),
            };
            return (i, Err(fault));
        }
        if let Some(r) = mount(n, &needs[from_i].dest.repo, limits).await {
            return (i, r);
        }
        if let Some(r) = head(n, limits).await {
            return (i, r);
        }
        let mut r = Err(Fault::other("upload failed"));
        for (_, res) in tee_upload(needs, &[i], limits, opts, &mut 0, &mut false).await {
            r = res.map(BlobOutcome::Uploaded).map_err(Fault::from);
        }
        (i, r)
    };
    futures_util::future::join_all(mount_later.into_iter().map(one)).await
}

type Tx = mpsc::Sender<std::result::Result<Bytes, Error>>;

/// Receiver side of a tee channel as a byte stream for an upload body.
fn channel_stream(rx: mpsc::Receiver<std::result::Result<Bytes, Error>>) -> BlobStream {
    Box::pin(stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

/// Fetch the blob once from the source and stream it into an upload on each destination.
async fn tee_upload(
    needs: &[BlobNeed],
    targets: &[usize],
    limits: &Limits,
    opts: &CopyOptions,
    src_used: &mut u32,
    src_failed: &mut bool,
) -> Vec<(usize, Result<u64>)> {
    let src = &needs[targets[0]].source;
    let desc = &needs[targets[0]].descriptor;
    // Open the upload sessions first: a refused destination must not cost a source fetch.
    let mut out: Vec<(usize, Result<u64>)> = Vec::new();
    let mut sessions: Vec<(usize, Session)> = Vec::new();
    let mut permits = Vec::new();
    for &i in targets {
        let n = &needs[i];
        permits.push(limits.acquire(n.dest.registry.name()).await);
        match n.dest.registry.start_upload(&n.dest.repo).await {
            Ok(u) => sessions.push((i, u)),
            Err(e) => out.push((i, Err(e))),
        }
    }
    if sessions.is_empty() {
        return out;
    }
    let _src_permit = limits.acquire(src.registry.name()).await;
    let mut senders = Vec::new();
    let mut uploads = Vec::new();
    for (i, session) in sessions {
        let (tx, rx) = mpsc::channel(TEE_DEPTH);
        senders.push(Some(tx));
        uploads.push(upload_from(&needs[i].dest, session, desc, rx, i));
    }
    let pump = pump(src, desc, opts, senders, src_used);
    let (pumped, uploaded) = futures_util::future::join(pump, futures_util::future::join_all(uploads)).await;
    drop(permits);
    match pumped {
        Ok(()) => out.extend(uploaded),
        Err(e) => {
            *src_failed = true;
            out.extend(blame_source(&e, src, desc, uploaded));
        }
    }
    out
}

/// One destination's upload, its body read from a tee channel.
async fn upload_from(
    dest: &Endpoint,
    session: Session,
    desc: &Descriptor,
    rx: mpsc::Receiver<std::result::Result<Bytes, Error>>,
    i: usize,
) -> (usize, Result<u64>) {
    let r = dest
        .registry
        .put_upload_stream(&dest.repo, session, &desc.digest, desc.size, channel_stream(rx))
        .await;
    (i, r.map(|_| desc.size))
}

/// Stream the blob (from memory when the caller already fetched it, else one source GET) into every
/// live channel. Stops early when every upload has gone; a source error is passed to every upload.
/// The bytes it passes on are the progress's bytes (once per blob, whatever the number of uploads).
async fn pump(
    src: &Endpoint,
    desc: &Descriptor,
    opts: &CopyOptions,
    mut senders: Vec<Option<Tx>>,
    src_used: &mut u32,
) -> Result<()> {
    let mut s: BlobStream = match opts.fetched.get(&desc.digest) {
        // Already in memory (and verified when it was fetched).
        Some(bytes) => Box::pin(stream::iter(std::iter::once(Ok(bytes)))),
        None => {
            src.registry
                .get_blob_counted(&src.repo, &desc.digest, Some(desc.size), src_used)
                .await?
        }
    };
    while let Some(chunk) = s.next().await {
        match chunk {
            Ok(b) => {
                let n = b.len() as u64;
                if !send_to_all(&mut senders, b).await {
                    return Ok(());
                }
                opts.progress.bytes(n);
            }
            Err(e) => {
                let msg = e.to_string();
                for t in senders.iter().flatten() {
                    let detail = msg.clone();
                    let registry = src.registry.name().to_string();
                    let _ = t.send(Err(Error::Network { registry, detail })).await;
                }
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Send a chunk to every live channel, forgetting closed ones; false when none is left.
async fn send_to_all(senders: &mut [Option<Tx>], b: Bytes) -> bool {
    let mut alive = false;
    for tx in senders.iter_mut() {
        if let Some(t) = tx {
            if t.send(Ok(b.clone())).await.is_err() {
                *tx = None;
            } else {
                alive = true;
            }
        }
    }
    alive
}

/// The source failed: every upload fails with the source's error, except that a destination which
/// also asked us to wait keeps its hint.
fn blame_source(
    e: &Error,
    src: &Endpoint,
    desc: &Descriptor,
    uploaded: Vec<(usize, Result<u64>)>,
) -> Vec<(usize, Result<u64>)> {
    let msg = e.to_string();
    let mismatch = matches!(e, Error::DigestMismatch { .. });
    uploaded
        .into_iter()
        .map(|(i, up)| match up {
            Err(busy @ Error::Busy { .. }) => (i, Err(busy)),
            _ if mismatch => (
                i,
                Err(Error::DigestMismatch {
                    what: format!("source {src}"),
                    expected: desc.digest.to_string(),
                    actual: msg.clone(),
                }),
            ),
            _ => (
                i,
                Err(Error::Network {
                    registry: src.registry.name().to_string(),
                    detail: msg.clone(),
                }),
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::plan::tests::{endpoint, image};

    fn need(n: u8, src: &Endpoint, dest: &Endpoint) -> BlobNeed {
        BlobNeed {
            descriptor: image(n, &[]).descriptor(),
            source: src.clone(),
            dest: dest.clone(),
            users: vec![],
        }
    }

    fn sized(n: u8, size: u64, src: &Endpoint, dest: &Endpoint) -> BlobNeed {
        let mut need = need(n, src, dest);
        need.descriptor.size = size;
        need
    }

    #[test]
    fn absent_from_the_first_repository_uploads_there_and_mounts_the_rest_unasked() {
        let src = endpoint("s:5000", "img");
        let (a1, a2, a3) = (
            endpoint("a:5000", "one"),
            endpoint("a:5000", "two"),
            endpoint("a:5000", "three"),
        );
        let needs = vec![need(1, &src, &a1), need(1, &src, &a2), need(1, &src, &a3)];
        let routes = plan_unknown(&needs, (0, None), vec![(1, None), (2, None)]);
        assert_eq!(
            routes,
            vec![
                Route::Upload(0),
                Route::MountAfter { need: 1, from: 0 },
                Route::MountAfter { need: 2, from: 0 }
            ]
        );
    }

    #[test]
    fn present_in_the_first_repository_mounts_from_it_where_the_others_lack_it() {
        let src = endpoint("s:5000", "img");
        let (a1, a2, a3) = (
            endpoint("a:5000", "one"),
            endpoint("a:5000", "two"),
            endpoint("a:5000", "three"),
        );
        let needs = vec![need(1, &src, &a1), need(1, &src, &a2), need(1, &src, &a3)];
        let present = || Some(Ok(BlobOutcome::Present));
        let routes = plan_unknown(&needs, (0, present()), vec![(1, present()), (2, None)]);
        assert_eq!(
            routes,
            vec![
                Route::Settled(0, Ok(BlobOutcome::Present)),
                Route::Settled(1, Ok(BlobOutcome::Present)),
                Route::Mount {
                    need: 2,
                    from: "one".into()
                }
            ]
        );
        // the first HEAD failed: the first of the others found absent uploads for the rest
        let failed: BlobResult = Err(Fault::other("HEAD failed"));
        let routes = plan_unknown(&needs, (0, Some(failed.clone())), vec![(1, None), (2, None)]);
        assert_eq!(
            routes,
            vec![
                Route::Settled(0, failed),
                Route::Upload(1),
                Route::MountAfter { need: 2, from: 1 }
            ]
        );
    }

    #[test]
    fn a_known_holder_or_the_source_repository_is_mounted_from() {
        let src = endpoint("s:5000", "img");
        let (a, s) = (endpoint("a:5000", "one"), endpoint("s:5000", "copy"));
        let needs = vec![need(1, &src, &a), need(1, &src, &s)];
        let known = [Holding {
            digest: needs[0].descriptor.digest.clone(),
            registry: "a:5000".into(),
            repo: "held".into(),
        }];
        let holders = Holders::new(&known);
        assert_eq!(known_holder(&needs, 0, "a:5000", &holders), Some("held"));
        assert_eq!(known_holder(&needs, 1, "s:5000", &holders), Some("img"));
        assert_eq!(known_holder(&needs, 0, "b:5000", &holders), None);
    }

    /// The most pieces of work in flight at once while `two_lanes` runs `big` and `small` (true:
    /// quick work; false: 40 ms each).
    async fn most_in_flight(big: (Vec<bool>, usize), small: (Vec<bool>, usize)) -> usize {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let (now, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let (now, most) = (&now, &most);
        let work = |quick: bool| async move {
            if quick {
                return;
            }
            most.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
            tokio::time::sleep(Duration::from_millis(40)).await;
            now.fetch_sub(1, SeqCst);
        };
        two_lanes(big, small, work).await;
        most.load(SeqCst)
    }

    #[tokio::test]
    async fn a_finished_lane_lends_its_jobs_to_the_other() {
        // 1 quick big job and 8 slow small ones, 2 jobs per lane: without the big lane's 2 jobs,
        // the small lane would never run more than its own 2
        assert_eq!(most_in_flight((vec![true], 2), (vec![false; 8], 2)).await, 4);
    }

    #[tokio::test]
    async fn an_empty_lane_lends_nothing() {
        // one job, every blob in one lane (as `lanes` gives it): never two transfers at once
        let (big, small) = lanes(&[5 << 20; 4], 1);
        assert_eq!(
            most_in_flight((vec![false; 4], big.jobs), (vec![], small.jobs)).await,
            1
        );
    }

    #[test]
    fn big_blobs_get_half_the_jobs_and_small_ones_the_rest() {
        let mib = 1u64 << 20;
        // six base layers of 188 MiB and 740 small ones: half the jobs each
        let mut sizes = vec![188 * mib; 6];
        sizes.extend(std::iter::repeat_n(mib / 2, 740));
        let (big, small) = lanes(&sizes, 8);
        assert_eq!(
            (big, small),
            (Lane { count: 6, jobs: 4 }, Lane { count: 740, jobs: 4 })
        );
        // nothing big (all alike, or all under 1 MiB): every job to the one lane
        let (big, small) = lanes(&[mib / 4; 10], 8);
        assert_eq!((big.count, small.jobs), (0, 8));
        let (big, small) = lanes(&[64 * mib; 3], 8);
        assert_eq!((big.jobs, small.count, small.jobs), (8, 0, 0));
        // one job: one lane, never two transfers at once
        let (big, small) = lanes(&sizes, 1);
        assert_eq!(
            (big, small),
            (Lane { count: 746, jobs: 1 }, Lane { count: 0, jobs: 0 })
        );
        let (big, small) = lanes(&sizes, 5);
        assert_eq!((big.jobs, small.jobs), (2, 3));
    }

    #[test]
    fn blobs_grouped_by_digest_largest_first() {
        let src = endpoint("s:5000", "img");
        let (a, b) = (endpoint("a:5000", "one"), endpoint("b:5000", "one"));
        let needs = vec![
            sized(2, 10, &src, &a),
            sized(1, 500, &src, &a),
            sized(2, 10, &src, &b),
            sized(3, 20, &src, &b),
        ];
        assert_eq!(largest_first(&needs), vec![vec![1], vec![3], vec![0, 2]]);
    }

    #[test]
    fn rounds_stop_when_the_source_budget_is_spent() {
        let mut r = Rounds::new(3);
        assert!(r.another());
        r.attempt = 1;
        r.src_failed = true;
        r.src_used = 2;
        assert!(r.another(), "budget left");
        r.src_used = 3;
        assert!(!r.another(), "source failed with its budget spent");
        r.src_failed = false;
        assert!(r.another(), "a destination failed: the rounds go on");
        r.attempt = 3;
        assert!(!r.another());
    }

    #[test]
    fn busy_hints_keep_the_longest_and_some_errors_are_final() {
        let mut r = Rounds::new(3);
        for secs in [2, 5, 1] {
            r.note(&Error::Busy {
                registry: "a".into(),
                detail: "slow down".into(),
                retry_after: Some(Duration::from_secs(secs)),
            });
        }
        assert_eq!(r.wait_hint, Some(Duration::from_secs(5)));
        let mismatch = Error::DigestMismatch {
            what: "x".into(),
            expected: "a".into(),
            actual: "b".into(),
        };
        assert!(!worth_retrying(&mismatch));
        let net = Error::Network {
            registry: "a".into(),
            detail: "reset".into(),
        };
        assert!(worth_retrying(&net));
    }

    #[test]
    fn a_failed_source_fails_every_upload_but_busy_keeps_its_hint() {
        let src = endpoint("s:5000", "img");
        let desc = image(1, &[]).descriptor();
        let busy = Error::Busy {
            registry: "a".into(),
            detail: "wait".into(),
            retry_after: Some(Duration::from_secs(3)),
        };
        let e = Error::Network {
            registry: "s:5000".into(),
            detail: "reset".into(),
        };
        let out = blame_source(&e, &src, &desc, vec![(0, Ok(10)), (1, Err(busy))]);
        assert!(matches!(&out[0], (0, Err(Error::Network { registry, .. })) if registry == "s:5000"));
        assert!(matches!(&out[1], (1, Err(Error::Busy { .. }))));
        let mismatch = Error::DigestMismatch {
            what: "x".into(),
            expected: "a".into(),
            actual: "b".into(),
        };
        let out = blame_source(&mismatch, &src, &desc, vec![(0, Ok(10))]);
        assert!(
            matches!(&out[0], (0, Err(Error::DigestMismatch { what, .. })) if what == "source s:5000/img")
        );
    }
}
