//! Moving the label: the same manifest bytes put under `named_label` (no blob traffic), what it
//! pointed at kept as `previous-<label>`, the move read back. Shared by the promotion (targets gated
//! on verification, then the source), `tag` and `rollback`. Where a promotion moved it, the images
//! it left and now points at are compared by build date ([`built_dates`]): a label moved to an
//! older build (an older hash promoted again) is warned about, with how to roll back.

use std::time::Instant;

use futures_util::stream::{self, StreamExt};

use super::ids::{with_ids, ById, ContainerId};
use super::ledger::{At, Ledger, Outcome};
use super::model::{Promotion, RegistrySpec};
use super::source::Facts;
use crate::digest::Digest;
use crate::manifest::{Content, Manifest};
use crate::progress::Progress;
use crate::quay::Quay;
use crate::registry::Registry;
use crate::report::{Built, Kind, TagAction, TagEntry};
use crate::stop::{Stop, GRACE};

/// Where the label moves: one registry of the promotion, its spec and client.
pub(crate) struct LabelSite<'a> {
    pub at: At,
    pub spec: &'a RegistrySpec,
    pub client: &'a Registry,
}

/// Move (or, with `dry_run`, predict) the label on every site for every container: on a target only
/// where every tag of that image verified (`gate`, read from the ledger); elsewhere unconditionally.
///
/// Once the run is asked to stop (`stop`), no move starts (its entry says why); a move on the wire
/// then has [`crate::stop::GRACE`] to finish, after which it is abandoned and its entry says the
/// label may or may not have moved (it would point at a verified image either way). So this always
/// returns, with every move accounted for, soon after a stop.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn move_labels(
    p: &Promotion,
    sites: &[LabelSite<'_>],
    facts: &[Facts],
    ledger: &Ledger,
    gate: bool,
    dry_run: bool,
    progress: &Progress,
    stop: &Stop,
) -> Vec<Outcome> {
    let source_only = sites.iter().all(|s| matches!(s.at, At::Source));
    let phase = if source_only { "source label" } else { "labels" };
    progress.phase(phase, (sites.len() * facts.len()) as u64);
    let jobs = sites
        .iter()
        .flat_map(|s| with_ids::<_, ContainerId>(facts).map(move |(ci, f)| (ci, f, s)));
    stream::iter(jobs.map(|(ci, f, site)| {
        let ready = match (gate, site.at) {
            (true, At::Target(ti)) => ledger.verified(ci, ti),
            _ => true,
        };
        async move {
            let repo = site.spec.repo(&p.prefix, &f.name);
            let mut en = TagEntry::new(
                &site.spec.name,
                &repo,
                &p.named_label,
                Some(&f.root.digest),
                TagAction::Skipped,
            );
            if !ready {
                en.error = Some("label not moved: the image did not verify on this registry".into());
                progress.step();
                return Outcome::new(ci, site.at, en, Kind::NotAttempted);
            }
            if let Some(cause) = stop.cause() {
                en.error = Some(format!("label not moved: {cause} before it"));
                progress.step();
                return Outcome::new(ci, site.at, en, Kind::Interrupted);
            }
            let keep = if dry_run { None } else { p.previous_label() };
            let mut moving = en.clone();
            let moved = tokio::select! {
                kind = set_label(
                    site.client,
                    &repo,
                    &p.named_label,
                    &f.root,
                    &mut moving,
                    dry_run,
                    keep.as_deref(),
                ) => Some(kind),
                _ = stop.expired(GRACE) => None,
            };
            let kind = match moved {
                Some(kind) => {
                    en = moving;
                    kind
                }
                None => {
                    // Not a failure of the registry: the move is not known to have happened.
                    let cause = stop.cause().map(|c| c.to_string()).unwrap_or_default();
                    en.action = TagAction::Skipped;
                    en.error = Some(format!(
                        "{cause} while the label was moving: it may or may not have moved (a rerun sets it)"
                    ));
                    Kind::Interrupted
                }
            };
            if dry_run {
                en.verified = None;
            }
            progress.step();
            Outcome::new(ci, site.at, en, kind)
        }
    }))
    .buffer_unordered(p.per_registry * sites.len().max(1))
    .collect()
    .await
}

/// Point `label` at `m` (same bytes), recording the previous digest, then read it back. Returns the
/// kind of failure (meaningful when `en.error` is set).
pub(crate) async fn set_label(
    reg: &Registry,
    repo: &str,
    label: &str,
    m: &Manifest,
    en: &mut TagEntry,
    dry_run: bool,
    keep_previous: Option<&str>,
) -> Kind {
    set_label_through(reg, None, (repo, label, m), en, dry_run, keep_previous).await
}

/// [`set_label`], the tags written through `quay`'s API when given (Quay moves a tag to a digest it
/// holds: copy-quay's way), else through the registry; read back through the registry either way.
pub(crate) async fn set_label_through(
    reg: &Registry,
    quay: Option<&Quay>,
    (repo, label, m): (&str, &str, &Manifest),
    en: &mut TagEntry,
    dry_run: bool,
    keep_previous: Option<&str>,
) -> Kind {
    let started = Instant::now();
    let r = move_one(reg, quay, (repo, label, m), en, dry_run, keep_previous).await;
    en.seconds = started.elapsed().as_secs_f64();
    match r {
        Ok(()) => Kind::Other,
        Err((kind, e)) => {
            en.action = TagAction::Failed;
            en.verified = Some(false);
            en.error = Some(e);
            kind
        }
    }
}

async fn move_one(
    reg: &Registry,
    quay: Option<&Quay>,
    (repo, label, m): (&str, &str, &Manifest),
    en: &mut TagEntry,
    dry_run: bool,
    keep_previous: Option<&str>,
) -> Result<(), (Kind, String)> {
    let typed = |e: crate::Error| (Kind::of(&e), e.to_string());
    let prev = reg.head_manifest(repo, label).await.map_err(typed)?;
    en.previous = prev.as_ref().map(|h| h.digest.to_string());
    if prev.as_ref().map(|h| &h.digest) == Some(&m.digest) {
        en.action = TagAction::AlreadyPresent;
        en.verified = Some(true);
        return Ok(());
    }
    if dry_run {
        en.action = TagAction::WouldChange;
        return Ok(());
    }
    if let (Some(prev), Some(keep)) = (&prev, keep_previous) {
        // What the label pointed at stays reachable (and protected from pruning) as
        // `previous-<label>`, for a rollback. Failing to keep it is a warning, not a stop.
        let kept = async {
            if let Some(q) = quay {
                return q.set_tag(repo, keep, &prev.digest).await;
            }
            let old = reg.get_manifest(repo, prev.digest.as_str()).await?;
            reg.put_manifest(repo, keep, &old.media_type, old.bytes)
                .await
                .map(|_| ())
        }
        .await;
        if let Err(e) = kept {
            tracing::warn!(registry = %reg.name(), repo, tag = keep, error = %e, "could not keep the previous label");
        }
    }
    let confirmed = match quay {
        Some(q) => q.set_tag(repo, label, &m.digest).await.map(|_| false),
        None => reg
            .put_manifest_acked(repo, label, &m.media_type, m.bytes.clone())
            .await
            .map(|(_, confirmed)| confirmed),
    }
    .map_err(typed)?;
    en.action = TagAction::Tagged;
    // The registry's answer named the digest: that is the read-back. Otherwise, ask.
    let now = if confirmed {
        Some(m.digest.clone())
    } else {
        reg.head_manifest(repo, label)
            .await
            .map_err(typed)?
            .map(|h| h.digest)
    };
    if now.as_ref() != Some(&m.digest) {
        let now = now.map(|d| d.to_string()).unwrap_or_else(|| "nothing".into());
        return Err((
            Kind::Verification,
            format!("after the push {label} points at {now}, expected {}", m.digest),
        ));
    }
    en.verified = Some(true);
    Ok(())
}

/// Per site where the label moved, when the image it left and the one it now points at were built
/// (their configs' `created`), read on the first container moved there: a few small reads per
/// registry, not per image (one release's images are built together). A label moved to an older
/// build is warned about once, with how to roll back. What cannot be read is left out, silently: a
/// comparison, not a check of the promotion.
pub(crate) async fn built_dates(sites: &[LabelSite<'_>], facts: &[Facts], moved: &[Outcome]) -> Vec<Built> {
    let compared = sites.iter().filter_map(|site| {
        let o = moved
            .iter()
            .find(|o| o.at == site.at && o.entry.action == TagAction::Tagged && o.entry.error.is_none())?;
        let en = &o.entry;
        let old: Digest = en.previous.as_deref()?.parse().ok()?;
        let new: Digest = en.digest.as_deref()?.parse().ok()?;
        let name = facts.by_id(o.container).name.clone();
        let repo = en.repository.clone();
        Some(async move {
            let (replaced, now) =
                futures_util::future::join(built(site.client, &repo, &old), built(site.client, &repo, &new))
                    .await;
            let (replaced, now) = (replaced?, now?);
            Some(Built {
                registry: site.spec.name.clone(),
                container: name,
                backwards: now.0 < replaced.0,
                replaced: replaced.1,
                now: now.1,
            })
        })
    });
    let out: Vec<Built> = futures_util::future::join_all(compared)
        .await
        .into_iter()
        .flatten()
        .collect();
    for b in out.iter().filter(|b| b.backwards) {
        tracing::warn!(
            registry = %b.registry,
            container = %b.container,
            built = %b.now,
            replaced_built = %b.replaced,
            "the label now points at an image built earlier than the one it replaced (rollback points it back)"
        );
    }
    out
}

/// When the image `digest` in `repo` was built: its config's `created` (a list's: its amd64 child's,
/// else its first child's), parsed and as written.
async fn built(reg: &Registry, repo: &str, digest: &Digest) -> Option<(time::OffsetDateTime, String)> {
    let mut m = reg.get_manifest(repo, digest.as_str()).await.ok()?;
    if let Content::Index { children } = m.content().ok()? {
        let amd64 = children
            .iter()
            .find(|c| c.architecture.as_deref() == Some("amd64"));
        let child = amd64.or(children.first())?;
        m = reg
            .get_manifest(repo, child.descriptor.digest.as_str())
            .await
            .ok()?;
    }
    let Content::Image { config, .. } = m.content().ok()? else {
        return None;
    };
    let bytes = reg.get_blob_bytes(repo, &config.digest, 4 << 20).await.ok()?;
    created(&bytes)
}

/// An image config's `created`, parsed (RFC 3339) and as written.
fn created(config: &[u8]) -> Option<(time::OffsetDateTime, String)> {
    #[derive(serde::Deserialize)]
    struct Config {
        created: Option<String>,
    }
    let c: Config = serde_json::from_slice(config).ok()?;
    let written = c.created?;
    let at = time::OffsetDateTime::parse(&written, &time::format_description::well_known::Rfc3339).ok()?;
    Some((at, written))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_dates_are_read_from_the_config() {
        let c = br#"{"architecture":"amd64","created":"2026-11-01T12:30:00.123456789Z"}"#;
        let (at, written) = created(c).unwrap();
        assert_eq!(written, "2026-11-01T12:30:00.123456789Z");
        let later = created(br#"{"created":"2026-11-02T00:00:00Z"}"#).unwrap().0;
        assert!(at < later);
        assert!(created(br#"{"architecture":"amd64"}"#).is_none());
        assert!(created(br#"{"created":"yesterday"}"#).is_none());
    }
}
