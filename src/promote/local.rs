//! The local store's part in a promotion: earlier runs' copies stand in for the source (see
//! [`super::source`]); this run keeps copies by policy (always, or the whole promotion when a push
//! failed, so the rerun needs nothing from a source that may be down or pruned), records every label
//! move for `rollback`, and after a verified success removes exactly this promotion's copies.

use super::execute;
use super::ids::{with_ids, ById, ContainerId};
use super::model::{KeepLocal, Promotion};
use super::plan;
use super::source::Facts;
use crate::copy::{self, CopyOptions, Endpoint, Place};
use crate::digest::Digest;
use crate::oci::Layout;
use crate::progress::Progress;
use crate::report::{Kind, Phase, Problem, TagAction, TagEntry};
use crate::stop::Stop;
use crate::store::{DeleteScope, LabelMove, Store, StoreLock};

/// The local store for this run: its release's layout, and the release's shared lock while the run
/// reads kept copies. Nothing is held otherwise: each write step takes the release's exclusive lock
/// for its own length ([`Local::write_lock`]), so runs of other releases never wait for this one
/// and runs of this release wait only while this one reads or writes it.
pub(crate) struct Local {
    pub store: Store,
    pub layout: Layout,
    release: String,
    timeout: std::time::Duration,
    reading: std::sync::Mutex<Option<StoreLock>>,
    /// The run's stop: a lock wait ends when it is asked.
    stop: Stop,
    /// The run's progress: keeping copies is a phase of its own (its bytes read from the source
    /// again), not seconds of silence after a failure.
    progress: Progress,
}

impl Local {
    /// The run is done reading its kept copies (none were used, or its copies are written): other
    /// runs of the release may write it again.
    pub(crate) fn done_reading(&self) {
        let mut r = self
            .reading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        r.take();
    }

    /// The release's exclusive lock for one write step (keeping copies, the label history, the
    /// cleanup), waiting up to `lock_timeout` for another run of the release.
    pub(crate) fn write_lock(&self) -> crate::Result<StoreLock> {
        self.done_reading();
        self.store
            .lock_release_wait_or_stop(&self.release, true, self.timeout, &self.stop)
    }
}

/// What the store step did.
#[derive(Default)]
pub(crate) struct LocalOutcome {
    pub kept: Vec<String>,
    pub removed: Vec<String>,
    pub root: Option<String>,
    pub bytes: u64,
    /// What the retention policy removed (`<hash> of <release> (age|size)`).
    pub pruned: Vec<String>,
    pub problems: Vec<Problem>,
}

fn problem(context: &str, e: impl std::fmt::Display, kind: Kind) -> Problem {
    let message = e.to_string();
    let text = format!("{context}: {message}");
    Problem::new(Phase::LocalStore, kind, message, text)
}

/// A problem said root cause first (`e`), then what it means for the run and what to do (`then`).
fn root_cause_first(e: impl std::fmt::Display, then: &str, kind: Kind) -> Problem {
    let message = e.to_string();
    let text = format!("{message}: {then}");
    Problem::new(Phase::LocalStore, kind, message, text)
}

/// Open this release's local store (None: no store for this run). `read_only` runs (dry run,
/// verify) do not create one. When the release holds copies, its shared lock is taken (waiting up
/// to `lock_timeout` for a run writing it, or until the run is asked to stop) and held until
/// [`Local::done_reading`].
pub(crate) fn open(
    p: &Promotion,
    read_only: bool,
    stop: &Stop,
    progress: &Progress,
) -> crate::Result<Option<Local>> {
    if p.keep_local == KeepLocal::Never {
        return Ok(None);
    }
    let store = Store::open(crate::store::resolve_root(p.local_store.as_deref())?)?;
    store.check_root()?;
    store.check_release_dir(&p.release)?;
    let kept = store.release_dir(&p.release).is_dir();
    if read_only && !kept {
        return Ok(None);
    }
    let reading = match kept {
        true => Some(store.lock_release_wait_or_stop(&p.release, false, p.lock_timeout, stop)?),
        false => None,
    };
    // Copies are named and annotated by what they are (source host, namespace, repository, tag,
    // hash): a copy of another source or namespace is never found here.
    let layout = store
        .layout(&p.release)?
        .with_hash(p.full_hash.to_string())
        .with_prefix(p.prefix.clone())
        .with_source(p.source.host.clone());
    Ok(Some(Local {
        store,
        layout,
        release: p.release.to_string(),
        timeout: p.lock_timeout,
        reading: std::sync::Mutex::new(reading),
        stop: stop.clone(),
        progress: progress.clone(),
    }))
}

/// Keep the images of a failed push (or all, with `always`) in the local layout, under the source's
/// own tag names.
pub(crate) async fn keep(
    p: &Promotion,
    local: &Local,
    facts: &[Facts],
    sources: &[Place],
    failed_push: bool,
    out: &mut LocalOutcome,
) {
    if p.keep_local != KeepLocal::Always && !failed_push {
        return;
    }
    let _writing = match local.write_lock() {
        Ok(l) => l,
        Err(e) => {
            let context = "keeping local copies";
            return out.problems.push(problem(context, &e, Kind::of(&e)));
        }
    };
    let mut planned = Vec::new();
    for (ci, f) in with_ids::<_, ContainerId>(facts).filter(|(ci, _)| !sources.by_id(*ci).is_local()) {
        for c in plan::copies(p, f, &p.full_hash, true, false, |t: &str| t.to_string()) {
            planned.push(plan::PlannedCopy { container: ci, ..c });
        }
    }
    // What the release holds now: a copy that breaks off leaves blobs nothing references, removed
    // below (only the ones this keep wrote).
    let before = local.store.blob_files(&p.release);
    let dest = Place::Layout(local.layout.clone());
    let requests = execute::requests(&planned, facts, sources, |c| {
        Endpoint::new(&dest, facts.by_id(c.container).repo.clone())
    });
    // What could not be kept, per container: one problem each (a full disk is one cause for all,
    // see report::problem), and only what was written is said to be kept.
    let mut failed: Vec<ContainerId> = Vec::new();
    if !requests.is_empty() {
        let opts = CopyOptions {
            stop: local.stop.clone(),
            progress: local.progress.clone(),
            ..CopyOptions::default()
        };
        // Its progress is the copy's own phases (copy check, blobs, manifests), then one line
        // says what was kept.
        let outcomes = copy::copy_batch(&requests, &opts).await;
        for (o, c) in outcomes.iter().zip(&planned).filter(|(o, _)| !o.ok()) {
            let dest = o.dests.iter().find(|d| d.error.is_some());
            let e = o.error.clone().or_else(|| dest.and_then(|d| d.error.clone()));
            let kind = o.error_kind.or(dest.and_then(|d| d.error_kind));
            let name = &facts.by_id(c.container).name;
            let then = format!(
                "{name} was not kept in the local store (what its copy had written there is \
                 removed): a rerun needs the source {} for it",
                o.source
            );
            let p = root_cause_first(e.unwrap_or_default(), &then, kind.unwrap_or(Kind::Other));
            out.problems.push(p.container(name));
            failed.push(c.container);
        }
    }
    failed.dedup();
    if !failed.is_empty() {
        match local.store.remove_new_orphans(&p.release, &before) {
            Ok((0, _)) => {}
            Ok((n, bytes)) => tracing::info!(
                blobs = n,
                bytes,
                store = %local.layout.name(),
                "removed what the local copies that could not be kept had written"
            ),
            Err(e) => {
                let then = "the blobs the failed local copies wrote stay in the local store, \
                            referenced by nothing: `copy-containers local fsck` lists them and the \
                            next delete or retention pass of the release removes them";
                out.problems.push(root_cause_first(&e, then, Kind::of(&e)));
            }
        }
    }
    out.kept = with_ids::<_, ContainerId>(facts)
        .filter(|(ci, _)| !failed.contains(ci))
        .map(|(_, f)| f.name.clone())
        .collect();
    if !out.kept.is_empty() || !failed.is_empty() {
        tracing::info!(containers = out.kept.len(), not_kept = failed.len(), store = %local.layout.name(), "local copies kept");
    }
}

/// Every label move of this run goes into the store's label history (for `rollback`).
pub(crate) fn record_labels<'a>(
    p: &Promotion,
    local: &Local,
    entries: impl Iterator<Item = &'a TagEntry>,
    out: &mut LocalOutcome,
) {
    let host_of = |name: &str| {
        std::iter::once(&p.source)
            .chain(p.targets.iter())
            .find(|s| s.name == name)
            .map(|s| s.host.clone())
            .unwrap_or_else(|| name.to_string())
    };
    let mut moves = Vec::new();
    for e in entries.filter(|e| e.tag == p.named_label && e.action == TagAction::Tagged) {
        let (Some(new), previous) = (
            e.digest.as_deref().and_then(|d| d.parse::<Digest>().ok()),
            e.previous.as_deref().and_then(|d| d.parse::<Digest>().ok()),
        ) else {
            continue;
        };
        moves.push(LabelMove {
            registry: host_of(&e.registry),
            repository: e.repository.clone(),
            label: p.named_label.to_string(),
            previous_digest: previous,
            new_digest: new,
        });
    }
    if moves.is_empty() {
        return;
    }
    // All of the run's moves in one write of the history.
    let written = local
        .write_lock()
        .and_then(|_lock| local.store.record_labels(&p.release, moves));
    if let Err(err) = written {
        let then = format!(
            "the label moves of this run are not in the local store's label history, so \
             `rollback` cannot undo them from it (the labels did move on the registries). Fix the \
             cause; to undo this run meanwhile, move {} back to the previous digests this report \
             shows for each image",
            p.named_label
        );
        out.problems.push(root_cause_first(&err, &then, Kind::of(&err)));
    }
}

/// After a fully verified success (`success`), the copies of this promotion go (unless `always`):
/// this hash, from this source, of these repositories; another hash's or namespace's copies stay.
/// Then the outcome says what the store holds.
pub(crate) fn clean(p: &Promotion, local: &Local, facts: &[Facts], success: bool, out: &mut LocalOutcome) {
    if success && p.keep_local != KeepLocal::Always && !facts.is_empty() {
        let scope = DeleteScope::Copies {
            release: p.release.to_string(),
            source: p.source.host.clone(),
            hash: p.full_hash.to_string(),
            repositories: facts.iter().map(|f| f.repo.to_string()).collect(),
        };
        let context = "removing this promotion's local copies";
        let deleted = local
            .write_lock()
            .and_then(|_lock| local.store.delete(&scope, false));
        match deleted {
            Ok(d) => {
                let removed = |f: &&Facts| {
                    d.removed
                        .iter()
                        .any(|i| i.repository.as_deref() == Some(f.repo.as_str()))
                };
                out.removed = facts.iter().filter(removed).map(|f| f.name.clone()).collect();
                out.removed.dedup();
                if !d.ok() {
                    let e = format!("verification failed: {}", d.verification.problems.join("; "));
                    out.problems.push(problem(context, e, Kind::Verification));
                }
            }
            Err(e) => out.problems.push(problem(context, &e, Kind::of(&e))),
        }
    }
    // A stopped run does no housekeeping: the next run's pass does it.
    if !local.stop.requested() {
        retain(p, local, out);
    }
    out.root = Some(local.store.root().display().to_string());
    // What is on disk: a blob shared by images, or an image under two tags, is stored once.
    out.bytes = local.store.release_size(&p.release).unwrap_or(0);
}

/// Every run that writes the store applies the retention policy to it (this hash's copies from this
/// source spared: what the run keeps is what its rerun needs). Housekeeping: what it cannot do is
/// a warning, never the promotion's failure.
fn retain(p: &Promotion, local: &Local, out: &mut LocalOutcome) {
    let spare = [(
        p.release.to_string(),
        Some(p.source.host.clone()),
        p.full_hash.to_string(),
    )];
    let now = std::time::SystemTime::now();
    match local.store.retain(&p.local_retention, &spare, now) {
        Ok(r) => {
            out.pruned = r
                .pruned
                .iter()
                .map(|x| format!("{} of {} ({})", x.hash, x.release, x.reason))
                .collect();
            for e in r.problems {
                crate::report::warn_once(&format!("local store retention: {e}"));
            }
        }
        Err(e) => crate::report::warn_once(&format!("local store retention: {e}")),
    }
}
