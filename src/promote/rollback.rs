//! `rollback`: the hash was wrongly promoted. On every registry (targets, and the source when it is
//! labelled), point `named_label` back at what it pointed to before — recorded as the
//! `previous-<label>` tag when the label moved — but only where the label still points at the
//! `full_hash` image (so a rollback never undoes a later promotion), then read it back.

use std::time::Instant;

use futures_util::stream::{self, StreamExt};

use super::build;
use super::ids::{with_ids, ContainerId, TargetId};
use super::label::set_label;
use super::ledger::{At, Outcome};
use super::model::{KeepLocal, Promotion, RegistrySpec};
use crate::registry::Registry;
use crate::report::{Kind, Phase, Problem, Report, TagAction, TagEntry};
use crate::store::LabelRecord;

/// Roll the label back on the promotion's registries.
pub async fn run_rollback(p: &Promotion, dry_run: bool) -> Report {
    let started = Instant::now();
    let mut specs: Vec<RegistrySpec> = p.targets.clone();
    if p.label_source {
        specs.push(p.source.clone());
    }
    let report = Report {
        push: false,
        manifest_push: false,
        ..build::header(p, "rollback", dry_run, &specs)
    };
    let mut problems = Vec::new();
    // The store's label history answers where no previous-<label> tag exists.
    let history: Vec<LabelRecord> = history(p);
    let mut clients: Vec<(RegistrySpec, Registry)> = Vec::new();
    for s in &specs {
        match s.client() {
            Ok(c) => clients.push((s.clone(), c.written_to())),
            Err(e) => problems.push(Problem::from_error(Phase::Setup, &s.name, &e).registry(&s.name)),
        }
    }
    let jobs = with_ids::<_, TargetId>(&clients).flat_map(|(ri, client)| {
        with_ids::<_, ContainerId>(&p.containers).map(move |(ci, name)| (ci, ri, client, name))
    });
    let results: Vec<Outcome> = stream::iter(jobs.map(|(ci, ri, (spec, reg), name)| {
        let recorded: Vec<&LabelRecord> = history
            .iter()
            .filter(|r| {
                r.registry == spec.host
                    && r.repository == spec.repo(&p.prefix, name)
                    && r.label == p.named_label
            })
            .collect();
        async move {
            let repo = spec.repo(&p.prefix, name);
            let mut en = TagEntry::new(&spec.name, &repo, &p.named_label, None, TagAction::Skipped);
            // Targets hold the hash under push_hash when one was used; the source under full_hash.
            let is_source = spec.host == p.source.host && spec.namespace == p.source.namespace;
            let fh_tag = if is_source {
                p.full_hash.as_str()
            } else {
                p.target_hash()
            };
            let mut kind = Kind::Other;
            if let Err((k, e)) = roll_back_one(reg, &repo, p, fh_tag, &recorded, &mut en, dry_run).await {
                en.action = TagAction::Failed;
                en.verified = Some(false);
                en.error = Some(e);
                kind = k;
            }
            Outcome::new(ci, At::Target(ri), en, kind)
        }
    }))
    .buffer_unordered(p.per_registry)
    .collect()
    .await;
    build::per_registry(p, report, problems, started, results, &clients)
}

async fn roll_back_one(
    reg: &Registry,
    repo: &str,
    p: &Promotion,
    fh_tag: &str,
    recorded: &[&LabelRecord],
    en: &mut TagEntry,
    dry_run: bool,
) -> Result<(), (Kind, String)> {
    let typed = |e: crate::Error| (Kind::of(&e), e.to_string());
    let previous = format!("previous-{}", p.named_label);
    let previous = previous.as_str();
    let label = reg.head_manifest(repo, &p.named_label).await.map_err(typed)?;
    let prev = match reg.head_manifest(repo, previous).await.map_err(typed)? {
        Some(h) => Some(h.digest),
        // The latest recorded move to what the label points at now says where it was before.
        None => label.as_ref().and_then(|l| {
            recorded
                .iter()
                .rev()
                .find(|r| r.new_digest == l.digest)
                .and_then(|r| r.previous_digest.clone())
        }),
    };
    let Some(prev) = prev else {
        return Err((
            Kind::NotFound,
            format!("no {previous} tag on this registry and no recorded label move: nothing to roll back to"),
        ));
    };
    if label.as_ref().map(|l| &l.digest) == Some(&prev) {
        en.digest = Some(prev.to_string());
        en.previous = Some(prev.to_string());
        en.action = TagAction::AlreadyPresent;
        en.verified = Some(true);
        return Ok(());
    }
    let fh = reg.head_manifest(repo, fh_tag).await.map_err(typed)?;
    match (&label, &fh) {
        (Some(l), Some(f)) if l.digest == f.digest => {}
        (Some(l), _) => {
            return Err((
                Kind::NotAttempted,
                format!(
                    "{} points at {}, not at {}: not rolled back (a later promotion moved it)",
                    p.named_label, l.digest, fh_tag
                ),
            ))
        }
        (None, _) => {
            return Err((
                Kind::NotFound,
                format!("{} is not on this registry", p.named_label),
            ))
        }
    }
    let m = reg.get_manifest(repo, prev.as_str()).await.map_err(typed)?;
    en.digest = Some(m.digest.to_string());
    let kind = set_label(reg, repo, &p.named_label, &m, en, dry_run, None).await;
    if dry_run {
        en.verified = None;
    }
    match &en.error {
        Some(e) => Err((kind, e.clone())),
        None => Ok(()),
    }
}

fn history(p: &Promotion) -> Vec<LabelRecord> {
    if p.keep_local == KeepLocal::Never {
        return vec![];
    }
    let Ok(root) = crate::store::resolve_root(p.local_store.as_deref()) else {
        return vec![];
    };
    if !root.join(p.release.as_str()).is_dir() {
        return vec![];
    }
    crate::store::Store::open(root)
        .and_then(|s| s.label_history(&p.release))
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read the local store's label history");
            vec![]
        })
}
