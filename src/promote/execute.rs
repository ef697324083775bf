//! Carrying out the plan's writes to the targets: every planned copy in one deduplicated batch
//! ([`crate::copy::copy_batch`]), then each `<fh>_manifest` list where all of its images copied.
//! Each step returns typed outcomes keyed by container and target, and the problems it met.

use std::time::Instant;

use futures_util::stream::{self, StreamExt};

use super::ids::ById;
use super::ledger::{At, Ledger, Outcome};
use super::model::Promotion;
use super::plan::{Plan, PlannedCopy, PlannedList};
use super::source::Facts;
use crate::copy::{self, Action, CopyOptions, CopyOutcome, CopyRequest, Endpoint, Place, Proven, SeenTags};
use crate::progress::Progress;
use crate::registry::Registry;
use crate::report::{Kind, Phase, Problem, TagAction, TagEntry};
use crate::stop::Stop;

/// The copy requests of planned copies from the sources to `dest(copy)`.
pub(crate) fn requests(
    planned: &[PlannedCopy],
    facts: &[Facts],
    sources: &[Place],
    dest: impl Fn(&PlannedCopy) -> Endpoint,
) -> Vec<CopyRequest> {
    planned
        .iter()
        .map(|c| CopyRequest {
            source: Endpoint::new(sources.by_id(c.container), facts.by_id(c.container).repo.clone()),
            reference: c.reference.clone(),
            dests: vec![(dest(c), c.tags.clone())],
            known: Some(c.known.clone()),
        })
        .collect()
}

/// Run the plan's copies to the targets.
pub(crate) async fn copies(
    p: &Promotion,
    plan: &Plan,
    facts: &[Facts],
    sources: &[Place],
    targets: &[Registry],
    copts: &CopyOptions,
) -> (Vec<Outcome>, Vec<Problem>) {
    let requests = requests(&plan.copies, facts, sources, |c| {
        let repo = p
            .targets
            .by_id(c.target)
            .repo(&p.prefix, &facts.by_id(c.container).name);
        Endpoint::new(targets.by_id(c.target), repo)
    });
    let results = copy::copy_batch(&requests, copts).await;
    tracing::info!(
        images = requests.len(),
        targets = targets.len(),
        failed = results.iter().filter(|o| !o.ok()).count(),
        bytes_uploaded = results
            .iter()
            .flat_map(|o| o.dests.iter())
            .map(|d| d.bytes_uploaded)
            .sum::<u64>(),
        "copy"
    );
    let mut outcomes = Vec::new();
    let mut problems = Vec::new();
    for (o, c) in results.iter().zip(&plan.copies) {
        let t = p.targets.by_id(c.target);
        let name = &facts.by_id(c.container).name;
        if let Some(e) = &o.error {
            let text = format!("{name}: source {}: {e}", o.source);
            let kind = o.error_kind.unwrap_or(Kind::Other);
            problems.push(
                Problem::new(Phase::Copy, kind, e.clone(), text)
                    .container(name)
                    .registry(&p.source.name)
                    .tag(&o.reference),
            );
        }
        let repo = t.repo(&p.prefix, name);
        for en in entries(o, &t.name, &repo) {
            let kind = o
                .dests
                .iter()
                .find_map(|d| d.error_kind)
                .or(o.error_kind)
                .unwrap_or(Kind::Other);
            outcomes.push(Outcome::new(c.container, At::Target(c.target), en, kind));
        }
        for d in o.dests.iter().filter(|d| d.error.is_some()) {
            let e = d.error.clone().unwrap_or_default();
            let text = format!("{name}: {}: {e}", d.destination);
            let kind = d.error_kind.unwrap_or(Kind::Other);
            problems.push(
                Problem::new(Phase::Copy, kind, e, text)
                    .container(name)
                    .registry(&t.name)
                    .tag(&o.reference),
            );
        }
    }
    (outcomes, problems)
}

/// The report entries of one copy on one target: one per tag (one failed entry when no tag was
/// reached).
fn entries(o: &CopyOutcome, registry: &str, repo: &str) -> Vec<TagEntry> {
    let mut out = Vec::new();
    for d in &o.dests {
        for (i, (tag, action)) in d.tags.iter().enumerate() {
            let action = match action {
                Action::AlreadyPresent => TagAction::AlreadyPresent,
                Action::WouldCopy => TagAction::WouldChange,
                Action::Failed => TagAction::Failed,
                Action::Copied if d.blobs_uploaded > 0 => TagAction::Copied,
                Action::Copied if d.blobs_mounted > 0 => TagAction::Mounted,
                Action::Copied => TagAction::Tagged,
            };
            let mut en = TagEntry::new(registry, repo, tag, o.source_digest.as_ref(), action);
            en.previous = d.previous.get(tag).cloned().flatten().map(|x| x.to_string());
            if i == 0 {
                // One image's blobs moved once, whatever the number of tags put on it: counted on
                // its first tag, so that sums over entries are true.
                en.blobs_uploaded = d.blobs_uploaded;
                en.blobs_mounted = d.blobs_mounted;
                en.blobs_present = d.blobs_present;
                en.bytes_uploaded = d.bytes_uploaded;
            }
            en.seconds = o.seconds;
            en.error = d.error.clone();
            out.push(en);
        }
        if d.tags.is_empty() {
            let mut en = TagEntry::new(registry, repo, &o.reference, None, TagAction::Failed);
            en.error = d.error.clone().or(o.error.clone());
            out.push(en);
        }
    }
    out
}

/// Push the plan's manifest lists, each only where all its images copied; none once the run is
/// asked to stop.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn lists(
    p: &Promotion,
    plan: &Plan,
    (facts, seen): (&[Facts], &SeenTags),
    ledger: &Ledger,
    targets: &[Registry],
    dry_run: bool,
    progress: &Progress,
    stop: &Stop,
) -> (Vec<Outcome>, Vec<Problem>) {
    progress.phase("lists", plan.lists.len() as u64);
    let results: Vec<Outcome> = stream::iter(plan.lists.iter().map(|l| {
        let children_ok = ledger.copied(l.container, l.target);
        let reg = targets.by_id(l.target);
        let name = &p.targets.by_id(l.target).name;
        async move {
            let mut en = TagEntry::new(name, &l.repo, &l.tag, Some(&l.digest), TagAction::Skipped);
            let kind = if !children_ok {
                en.error = Some("not built: its images failed to copy".into());
                Kind::NotAttempted
            } else if let Some(cause) = stop.cause() {
                en.error = Some(format!("not pushed: {cause} before it"));
                Kind::Interrupted
            } else {
                push_list(reg, l, &mut en, (dry_run, seen), &ledger.proven).await
            };
            progress.step();
            Outcome::new(l.container, At::Target(l.target), en, kind)
        }
    }))
    .buffer_unordered(p.per_registry)
    .collect()
    .await;
    let problems = results
        .iter()
        .filter_map(|o| {
            let (en, e) = (&o.entry, o.entry.error.as_ref()?);
            let name = &facts.by_id(o.container).name;
            let text = format!("{name}: {}:{}: {e}", en.registry, en.tag);
            let problem = Problem::new(Phase::Lists, o.kind, e.clone(), text);
            Some(problem.container(name).registry(&en.registry).tag(&en.tag))
        })
        .collect();
    (results, problems)
}

/// Push one list unless the tag already points at it (with `dry_run`, say what would happen; `seen`:
/// the tags looked at earlier in the run, not asked again); the kind of its failure, if it fails.
/// A push the registry acknowledges with the list's digest is recorded in `proven` (verification
/// reads that instead of the list).
async fn push_list(
    reg: &Registry,
    l: &PlannedList,
    en: &mut TagEntry,
    (dry_run, seen): (bool, &SeenTags),
    proven: &Proven,
) -> Kind {
    let started = Instant::now();
    let r: crate::Result<()> = async {
        let prev = match seen.get(reg.name(), &l.repo, &l.tag) {
            Some(known) => known,
            None => reg.head_manifest(&l.repo, &l.tag).await?.map(|h| h.digest),
        };
        en.previous = prev.as_ref().map(|d| d.to_string());
        if prev == Some(l.digest.clone()) {
            en.action = TagAction::AlreadyPresent;
        } else if dry_run {
            en.action = TagAction::WouldChange;
        } else {
            let (digest, acked) = reg
                .put_manifest_acked(&l.repo, &l.tag, &l.media_type, l.bytes.clone())
                .await?;
            if acked {
                proven.tag(reg.name(), &l.repo, &l.tag, &digest);
            }
            en.action = TagAction::Tagged;
        }
        Ok(())
    }
    .await;
    en.seconds = started.elapsed().as_secs_f64();
    match r {
        Ok(()) => Kind::Other,
        Err(e) => {
            en.action = TagAction::Failed;
            en.error = Some(e.to_string());
            Kind::of(&e)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::copy::DestOutcome;

    #[test]
    fn an_image_under_two_tags_counts_its_bytes_once() {
        let fh = "d7c3cd922f91d83aacb5d7555de9d5bc";
        let tags: BTreeMap<String, Action> = [
            (fh.to_string(), Action::Copied),
            (format!("{fh}_x86_64"), Action::Copied),
        ]
        .into();
        let o = CopyOutcome {
            source: "src/ns/openstack-nova".into(),
            reference: fh.into(),
            source_digest: None,
            media_type: None,
            architectures: vec![],
            error: None,
            error_kind: None,
            dests: vec![DestOutcome {
                destination: "t/ns/openstack-nova".into(),
                digest: None,
                tags,
                previous: BTreeMap::new(),
                blobs_uploaded: 3,
                blobs_mounted: 1,
                blobs_present: 2,
                bytes_uploaded: 4096,
                error: None,
                error_kind: None,
            }],
            seconds: 1.0,
        };
        let en = entries(&o, "t", "ns/openstack-nova");
        assert_eq!(en.len(), 2);
        assert!(en.iter().all(|e| e.action == TagAction::Copied));
        let bytes: u64 = en.iter().map(|e| e.bytes_uploaded).sum();
        let blobs: usize = en
            .iter()
            .map(|e| e.blobs_uploaded + e.blobs_mounted + e.blobs_present)
            .sum();
        assert_eq!((bytes, blobs), (4096, 6));
    }
}
