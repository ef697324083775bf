//! The verification pass: after pushing, every registry × image × tag is checked. A tag must point
//! at the expected digest; a manifest list must hold exactly the expected architectures, and every
//! child manifest, config and layer it refers to must be present on that registry. What this run's
//! own answers already prove is not asked again (a tag found in place or whose push the registry
//! acknowledged with the digest; a list this run pushed over children it pushed after seeing all
//! their blobs: [`pass`]); the rest is read back. Blob checks are shared within a pass (one HEAD per
//! repository and digest, none for a blob the copy saw there). `verify` alone reads everything.
//!
//! [`check`] reads a [`Place`], so a local copy (an OCI layout) is verified by the same code as a
//! registry.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use futures_util::stream::{self, StreamExt};

use super::ids::{with_ids, ById, ContainerId};
use super::ledger::{At, Ledger, Outcome, Verdict};
use super::model::Promotion;
use super::plan::{Plan, PlannedCheck};
use super::source::Facts;
use crate::copy::Proven;
use crate::digest::Digest;
use crate::manifest::{Content, Manifest};
use crate::place::Place;
use crate::progress::Progress;
use crate::registry::Registry;
use crate::report::{Kind, Reason, TagAction, TagEntry};

/// What a tag must look like (planned by [`super::plan`]).
pub use super::plan::Expectation;

/// A check that did not pass (kept in the run's [`super::ledger`]).
pub use super::ledger::Failure;

/// Memo of blob HEADs within one pass.
#[derive(Clone, Default)]
pub struct BlobMemo(Arc<Mutex<HashMap<BlobKey, bool>>>);

/// (place, repository, digest).
type BlobKey = (String, String, Digest);

impl BlobMemo {
    /// A memo that already knows the blobs this run's copy saw present, mounted or uploaded.
    pub fn seeded(proven: &Proven) -> BlobMemo {
        let known = proven.blobs().into_iter().map(|k| (k, true)).collect();
        BlobMemo(Arc::new(Mutex::new(known)))
    }

    async fn present(&self, reg: &Place, repo: &str, digest: &Digest) -> Result<bool, crate::Error> {
        let key = (reg.name().to_string(), repo.to_string(), digest.clone());
        if let Some(v) = self.0.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(*v);
        }
        let v = reg.blob_exists(repo, digest).await?.is_some();
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(key, v);
        Ok(v)
    }
}

/// Check one expectation on a registry or a local layout; `Err` says what is wrong, and why.
pub async fn check(reg: &Place, e: &Expectation, memo: &BlobMemo) -> Result<(), Failure> {
    let where_ = format!("{}/{}:{}", reg.name(), e.repo, e.tag);
    // A check of the content reads the manifest under the tag once (its digest is the bytes'),
    // instead of a HEAD and then a GET.
    let (found, m) = if e.architectures.is_none() && !e.deep {
        let head = reg.head_manifest(&e.repo, &e.tag).await;
        (
            head.map_err(|x| Failure::unreadable("", &x))?.map(|h| h.digest),
            None,
        )
    } else {
        let m = reg.get_manifest_opt(&e.repo, &e.tag).await;
        let m = m.map_err(|x| Failure::unreadable("", &x))?;
        (m.as_ref().map(|m| m.digest.clone()), m)
    };
    let Some(found) = found else {
        return Err(Failure::new(Reason::MissingTag, format!("{where_} is missing")));
    };
    if found != e.digest {
        let msg = format!("{where_} points at {found}, expected {}", e.digest);
        return Err(Failure::new(Reason::WrongDigest, msg));
    }
    let Some(m) = m else {
        return Ok(());
    };
    match m.content().map_err(|x| Failure::unreadable(&where_, &x))? {
        Content::Index { children } => {
            if let Some(want) = &e.architectures {
                let have: BTreeSet<String> = children.iter().filter_map(|c| c.architecture.clone()).collect();
                let want: BTreeSet<String> = want.iter().cloned().collect();
                if have != want {
                    let msg = format!(
                        "{where_} holds architectures {:?}, expected {:?}",
                        have.into_iter().collect::<Vec<_>>(),
                        want.into_iter().collect::<Vec<_>>()
                    );
                    return Err(Failure::new(Reason::WrongArchitectures, msg));
                }
            }
            for c in children {
                let d = &c.descriptor.digest;
                let child = reg
                    .get_manifest_opt(&e.repo, d.as_str())
                    .await
                    .map_err(|x| Failure::unreadable(&format!("{where_}: child {d}"), &x))?
                    .ok_or_else(|| {
                        let arch = c.architecture.as_deref().unwrap_or("?");
                        let msg = format!("{where_}: child manifest {d} ({arch}) is missing (dangling list)");
                        Failure::new(Reason::MissingChild, msg)
                    })?;
                check_blobs(reg, &e.repo, &child, memo, &where_).await?;
            }
        }
        Content::Image { .. } => {
            if e.architectures.is_some() {
                let msg = format!("{where_} is a single image, expected a manifest list");
                return Err(Failure::new(Reason::NotAList, msg));
            }
            check_blobs(reg, &e.repo, &m, memo, &where_).await?;
        }
    }
    Ok(())
}

async fn check_blobs(
    reg: &Place,
    repo: &str,
    m: &Manifest,
    memo: &BlobMemo,
    where_: &str,
) -> Result<(), Failure> {
    if let Content::Image { config, layers } = m.content().map_err(|x| Failure::unreadable(where_, &x))? {
        for d in std::iter::once(&config).chain(layers.iter()) {
            let present = memo
                .present(reg, repo, &d.digest)
                .await
                .map_err(|x| Failure::unreadable("", &x))?;
            if !present {
                let msg = format!("{where_}: blob {} of {} is missing", d.digest, m.digest);
                return Err(Failure::new(Reason::MissingBlob, msg));
            }
        }
    }
    Ok(())
}

/// The verification step of a promotion: every planned check on its target, except tags this run
/// found already pointing at the expected digest moments ago, or whose push the registry
/// acknowledged with that digest (that read or answer is their verification; see
/// `Ledger::answered`), and lists answered by this run's pushes (`list_acked`); blobs the copy saw
/// there are not asked again. `verify` alone (`verify_only`) reads everything, deeply.
pub(crate) async fn pass(
    p: &Promotion,
    plan: &Plan,
    ledger: &Ledger,
    targets: &[Registry],
    verify_only: bool,
    progress: &Progress,
) -> Vec<Verdict> {
    progress.phase("verify", plan.checks.len() as u64);
    let (answered, jobs): (Vec<&PlannedCheck>, Vec<&PlannedCheck>) = plan.checks.iter().partition(|c| {
        let name = targets.by_id(c.target).name();
        !verify_only && (ledger.answered(c, name) || list_acked(c, plan, ledger, name))
    });
    let verdict = |c: &PlannedCheck, result| Verdict {
        container: c.container,
        target: c.target,
        expect: c.expect.clone(),
        result,
    };
    let mut verdicts: Vec<Verdict> = answered.into_iter().map(|c| verdict(c, Ok(()))).collect();
    for _ in &verdicts {
        progress.step();
    }
    let memo = BlobMemo::seeded(&ledger.proven);
    let checked: Vec<Verdict> = stream::iter(jobs.into_iter().map(|c| {
        let memo = &memo;
        async move {
            let r = check(&Place::from(targets.by_id(c.target)), &c.expect, memo).await;
            progress.step();
            verdict(c, r)
        }
    }))
    .buffer_unordered(p.per_registry * targets.len().max(1))
    .collect()
    .await;
    verdicts.extend(checked);
    tracing::info!(
        checks = verdicts.len(),
        failed = verdicts.iter().filter(|v| v.result.is_err()).count(),
        "verify"
    );
    verdicts
}

/// Is a list check answered by this run's own answers: its push of the planned list acknowledged
/// with its digest, and every child it names pushed to the same repository in this run, with an
/// acknowledged tag, after the copy saw all of that child's blobs there (found, mounted or
/// uploaded; [`crate::copy::Proven::is_complete`])? The list's architectures are those of the bytes
/// the plan built, so reading the list, its children and their blobs back would only repeat those
/// answers. A child the copy did not push that way (its tag was already there, or its image found
/// by digest) is read back as before.
fn list_acked(c: &PlannedCheck, plan: &Plan, ledger: &Ledger, registry: &str) -> bool {
    let e = &c.expect;
    let planned = plan.lists.iter().find(|l| {
        (l.container, l.target) == (c.container, c.target) && l.tag == e.tag && l.digest == e.digest
    });
    let Some(l) = planned else { return false };
    if !ledger.proven.tag_acked(registry, &e.repo, &e.tag, &e.digest) {
        return false;
    }
    let m = Manifest::from_bytes(registry, &e.tag, l.bytes.clone(), Some(&l.media_type));
    let Ok(Content::Index { children }) = m.and_then(|m| m.content()) else {
        return false;
    };
    !children.is_empty()
        && children
            .iter()
            .all(|k| ledger.proven.is_complete(registry, &e.repo, &k.descriptor.digest))
}

/// `verify` of a promotion that labels its source: the label there, per container, with why it did
/// not verify.
pub(crate) async fn source_labels(p: &Promotion, src: &Registry, facts: &[Facts]) -> Vec<Outcome> {
    let memo = BlobMemo::default();
    let src = &Place::from(src);
    stream::iter(with_ids::<_, ContainerId>(facts).map(|(ci, f)| {
        let memo = &memo;
        async move {
            let mut en = TagEntry::new(
                &p.source.name,
                &f.repo,
                &p.named_label,
                Some(&f.root.digest),
                TagAction::AlreadyPresent,
            );
            let e = Expectation {
                repo: f.repo.clone(),
                tag: p.named_label.to_string(),
                digest: f.root.digest.clone(),
                architectures: None,
                deep: false,
            };
            let reason = match check(src, &e, memo).await {
                Ok(()) => {
                    en.verified = Some(true);
                    None
                }
                Err(m) => {
                    en.verified = Some(false);
                    en.action = TagAction::Failed;
                    en.error = Some(format!("verification: {m}"));
                    Some(m.reason)
                }
            };
            Outcome {
                reason,
                ..Outcome::new(ci, At::Source, en, Kind::Verification)
            }
        }
    }))
    .buffer_unordered(p.per_registry)
    .collect()
    .await
}
