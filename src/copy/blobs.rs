//! Blob transfer for a batch: HEAD, mount, or one source GET teed into uploads on every registry that
//! lacks the blob. Memory stays bounded: chunks flow through small channels, never a whole layer.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use tokio::sync::mpsc;

use super::{CopyOptions, Endpoint, FetchedBlobs, Limits, Mount, Session};
use crate::error::{Error, Result};
use crate::manifest::BlobStream;
use crate::manifest::Descriptor;

/// Chunks buffered per destination while teeing (chunks are ~16-64 KiB).
const TEE_DEPTH: usize = 16;

/// One blob one destination repository needs.
#[derive(Clone, Debug)]
pub struct BlobNeed {
    pub descriptor: Descriptor,
    pub source: Endpoint,
    pub dest: Endpoint,
    /// (request, destination) pairs waiting for it.
    pub users: Vec<(usize, usize)>,
}

/// How a blob got (or already was) there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobOutcome {
    Present,
    Mounted,
    /// Uploaded, with the byte count.
    Uploaded(u64),
}

type Res = std::result::Result<BlobOutcome, String>;

/// Make every need true. Returns each need with its outcome.
pub async fn transfer_all(
    needs: Vec<BlobNeed>,
    known_holders: &[(crate::digest::Digest, String, String)],
    limits: &Limits,
    opts: &CopyOptions,
) -> Vec<(BlobNeed, Res)> {
    // HEAD each (registry, repo, digest) once.
    let heads: Vec<(usize, Result<Option<u64>>)> = stream::iter(needs.iter().enumerate().map(|(i, n)| {
        let limits = limits.clone();
        let n = n.clone();
        async move {
            let _p = limits.acquire(n.dest.registry.name()).await;
            (
                i,
                n.dest
                    .registry
                    .blob_exists(&n.dest.repo, &n.descriptor.digest)
                    .await,
            )
        }
    }))
    .buffer_unordered(opts.per_registry * 2)
    .collect()
    .await;
    let mut results: Vec<Option<Res>> = vec![None; needs.len()];
    for (i, r) in heads {
        match r {
            Ok(Some(_)) => results[i] = Some(Ok(BlobOutcome::Present)),
            Ok(None) => {}
            Err(e) => results[i] = Some(Err(e.to_string())),
        }
    }
    // Group what is still missing by digest.
    let mut by_digest: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, n) in needs.iter().enumerate() {
        if results[i].is_none() {
            by_digest
                .entry(n.descriptor.digest.to_string())
                .or_default()
                .push(i);
        }
    }
    // Repositories known to hold each digest, per registry (for mounts).
    let mut holders: HashMap<(String, String), Vec<String>> = HashMap::new();
    for (digest, registry, repo) in known_holders {
        holders
            .entry((digest.to_string(), registry.clone()))
            .or_default()
            .push(repo.clone());
    }
    for (i, n) in needs.iter().enumerate() {
        if matches!(results[i], Some(Ok(BlobOutcome::Present))) {
            holders
                .entry((
                    n.descriptor.digest.to_string(),
                    n.dest.registry.name().to_string(),
                ))
                .or_default()
                .push(n.dest.repo.clone());
        }
    }
    let needs = Arc::new(needs);
    let holders = Arc::new(holders);
    crate::progress::phase("blobs", by_digest.len() as u64);
    let done: Vec<Vec<(usize, Res)>> = stream::iter(by_digest.into_values().map(|idxs| {
        let needs = needs.clone();
        let holders = holders.clone();
        let limits = limits.clone();
        let attempts = needs[idxs[0]].source.registry.retry().attempts.max(1);
        let fetched = opts.fetched.clone();
        async move {
            let r = transfer_one(&needs, &idxs, &holders, &limits, attempts, &fetched).await;
            crate::progress::step();
            r
        }
    }))
    .buffer_unordered(opts.blob_jobs.max(1))
    .collect()
    .await;
    for group in done {
        for (i, r) in group {
            results[i] = Some(r);
        }
    }
    let needs = Arc::try_unwrap(needs).unwrap_or_else(|a| (*a).clone());
    needs
        .into_iter()
        .zip(results)
        .map(|(n, r)| (n, r.unwrap_or_else(|| Err("not attempted".into()))))
        .collect()
}

/// One digest: all the destination repositories (indices into `needs`) lacking it.
async fn transfer_one(
    needs: &[BlobNeed],
    idxs: &[usize],
    holders: &HashMap<(String, String), Vec<String>>,
    limits: &Limits,
    attempts: u32,
    fetched: &FetchedBlobs,
) -> Vec<(usize, Res)> {
    let first = &needs[idxs[0]];
    let digest = first.descriptor.digest.clone();
    let source = first.source.clone();
    // Group by destination registry.
    let mut by_reg: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for &i in idxs {
        by_reg
            .entry(needs[i].dest.registry.name().to_string())
            .or_default()
            .push(i);
    }
    let mut out: Vec<(usize, Res)> = Vec::new();
    // For each registry: the repository to mount from, or the one to upload into.
    let mut to_upload: Vec<usize> = Vec::new();
    let mut mount_later: Vec<(usize, usize)> = Vec::new(); // (need, upload need it mounts from)
    for (reg, list) in &by_reg {
        let mut from: Option<String> = holders
            .get(&(digest.to_string(), reg.clone()))
            .and_then(|v| v.first().cloned());
        if from.is_none() && source.registry.name() == reg {
            from = Some(source.repo.clone());
        }
        match from {
            Some(from) => {
                for &i in list {
                    let n = &needs[i];
                    let _p = limits.acquire(reg).await;
                    match n.dest.registry.mount_blob(&n.dest.repo, &digest, &from).await {
                        Ok(Mount::Mounted) => out.push((i, Ok(BlobOutcome::Mounted))),
                        Ok(Mount::Upload(_)) => to_upload.push(i),
                        Err(e) => {
                            tracing::debug!(registry = %reg, %digest, error = %e, "mount refused; uploading instead");
                            to_upload.push(i)
                        }
                    }
                }
            }
            None => {
                to_upload.push(list[0]);
                for &i in &list[1..] {
                    mount_later.push((i, list[0]));
                }
            }
        }
    }
    // One source GET, teed to every upload; failed ones are tried again (fetching again). The source
    // GETs of every round draw on one budget of attempts (the transport retries a failing GET itself:
    // a round must not multiply those): once the source has failed a round with that budget spent,
    // no further round. Failed uploads (a PUT cannot be replayed by the transport) get their rounds.
    let mut pending = to_upload;
    let mut attempt = 0;
    let mut src_used = 0;
    let mut src_failed = false;
    let mut last_err: HashMap<usize, String> = HashMap::new();
    let mut wait_hint: Option<std::time::Duration> = None;
    while !pending.is_empty() && attempt < attempts && !(src_failed && src_used >= attempts) {
        attempt += 1;
        if attempt > 1 {
            let policy = source.registry.retry();
            // A destination's Retry-After wins over our own backoff (capped).
            let delay = match wait_hint.take() {
                Some(d) => d.min(policy.max_retry_after),
                None => policy.backoff(attempt - 1),
            };
            tokio::time::sleep(delay).await;
        }
        src_failed = false;
        let results = tee_upload(needs, &pending, limits, fetched, &mut src_used, &mut src_failed).await;
        pending.clear();
        for (i, r) in results {
            match r {
                Ok(n) => out.push((i, Ok(BlobOutcome::Uploaded(n)))),
                Err(e) => {
                    if let Error::Busy {
                        retry_after: Some(d), ..
                    } = &e
                    {
                        wait_hint = Some(wait_hint.map_or(*d, |w| w.max(*d)));
                    }
                    let retry = !matches!(
                        e,
                        Error::DigestMismatch { .. } | Error::Auth { .. } | Error::NotFound { .. }
                    );
                    last_err.insert(i, e.to_string());
                    if retry {
                        pending.push(i);
                    } else {
                        out.push((i, Err(e.to_string())));
                    }
                }
            }
        }
        if !pending.is_empty() && attempt < attempts && !(src_failed && src_used >= attempts) {
            tracing::info!(%digest, targets = pending.len(), attempt, "blob transfer failed; trying again");
        }
    }
    for i in pending {
        out.push((
            i,
            Err(last_err.remove(&i).unwrap_or_else(|| "upload failed".into())),
        ));
    }
    // Mount into the other repositories of registries we uploaded to.
    let ok: HashSet<usize> = out.iter().filter(|(_, r)| r.is_ok()).map(|(i, _)| *i).collect();
    for (i, from_i) in mount_later {
        let n = &needs[i];
        if !ok.contains(&from_i) {
            out.push((i, Err(format!("upload to {} failed", needs[from_i].dest))));
            continue;
        }
        let from = needs[from_i].dest.repo.clone();
        let _p = limits.acquire(n.dest.registry.name()).await;
        let r = match n.dest.registry.mount_blob(&n.dest.repo, &digest, &from).await {
            Ok(Mount::Mounted) => Ok(BlobOutcome::Mounted),
            Ok(Mount::Upload(_)) | Err(_) => {
                // The registry would not mount: fetch again for this one.
                let mut r = Err("upload failed".to_string());
                for (_, res) in tee_upload(needs, &[i], limits, fetched, &mut 0, &mut false).await {
                    r = res.map(BlobOutcome::Uploaded).map_err(|e| e.to_string());
                }
                r
            }
        };
        out.push((i, r));
    }
    out
}

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
    fetched: &FetchedBlobs,
    src_used: &mut u32,
    src_failed: &mut bool,
) -> Vec<(usize, Result<u64>)> {
    let src = &needs[targets[0]].source;
    let desc = needs[targets[0]].descriptor.clone();
    // Open the upload sessions first: a refused destination must not cost a source fetch.
    let mut sessions: Vec<(usize, Session)> = Vec::new();
    let mut out: Vec<(usize, Result<u64>)> = Vec::new();
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
    for (i, loc) in sessions.iter().cloned() {
        let (tx, rx) = mpsc::channel(TEE_DEPTH);
        senders.push(Some(tx));
        let n = needs[i].clone();
        let desc = desc.clone();
        uploads.push(async move {
            let r = n
                .dest
                .registry
                .put_upload_stream(&n.dest.repo, loc, &desc.digest, desc.size, channel_stream(rx))
                .await;
            (i, r.map(|_| desc.size))
        });
    }
    let pump = async {
        let mut s: BlobStream = match fetched.get(&desc.digest) {
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
                    if !alive {
                        return Ok(());
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    for t in senders.iter().flatten() {
                        let _ = t
                            .send(Err(Error::Network {
                                registry: src.registry.name().to_string(),
                                detail: msg.clone(),
                            }))
                            .await;
                    }
                    return Err(e);
                }
            }
        }
        drop(senders);
        Ok(())
    };
    let (pumped, uploaded) = futures_util::future::join(pump, futures_util::future::join_all(uploads)).await;
    drop(permits);
    match pumped {
        Ok(()) => out.extend(uploaded),
        Err(e) => {
            // The source failed: every upload fails with the source's error.
            *src_failed = true;
            let msg = e.to_string();
            let kind_mismatch = matches!(e, Error::DigestMismatch { .. });
            for (i, up) in uploaded {
                if let Err(busy @ Error::Busy { .. }) = up {
                    // The destination also asked us to wait: keep its hint.
                    out.push((i, Err(busy)));
                    continue;
                }
                out.push((
                    i,
                    Err(if kind_mismatch {
                        Error::DigestMismatch {
                            what: format!("source {}", src),
                            expected: desc.digest.to_string(),
                            actual: msg.clone(),
                        }
                    } else {
                        Error::Network {
                            registry: src.registry.name().to_string(),
                            detail: msg.clone(),
                        }
                    }),
                ));
            }
        }
    }
    out
}
