//! `tag`: put a label on a hash's images on chosen registries, remotely (the same manifest bytes
//! under the label; no blob traffic), each move read back. The previous digest is recorded. With
//! `push_hash`, the images are read under it on the registries named (the targets a promotion
//! pushed them to), and under `full_hash` when the source is labelled by default. Through the Quay
//! API ([`run_tag_through`], copy-quay's `tag`), Quay moves the tags to the digest; the image is
//! still found, and the move read back, through the registry.

use std::time::Instant;

use futures_util::stream::{self, StreamExt};

use super::build;
use super::ids::{with_ids, ById, ContainerId, TargetId};
use super::label::set_label_through;
use super::ledger::{At, Outcome};
use super::model::{Promotion, RegistrySpec};
use crate::quay::Quay;
use crate::report::{Kind, Phase, Problem, Report, TagAction, TagEntry};

/// Label the images tagged `hash` as `p.named_label` on `registries`.
pub async fn run_tag(p: &Promotion, registries: &[RegistrySpec], hash: &str, dry_run: bool) -> Report {
    run_tag_through(p, registries, hash, dry_run, false).await
}

/// [`run_tag`]; with `quay_api`, each registry's tags are moved through its Quay API (a registry
/// without one, `create_repo` and a token, is a setup problem).
pub async fn run_tag_through(
    p: &Promotion,
    registries: &[RegistrySpec],
    hash: &str,
    dry_run: bool,
    quay_api: bool,
) -> Report {
    let started = Instant::now();
    let report = Report {
        source: String::new(),
        push: false,
        manifest_push: false,
        ..build::header(p, "tag", dry_run, registries)
    };
    let mut problems = Vec::new();
    let mut clients = Vec::new();
    let mut quays = Vec::new();
    for r in registries {
        match (r.client(), quay_of(r, quay_api)) {
            (Ok(c), Ok(q)) => {
                clients.push((r.clone(), c.written_to()));
                quays.push(q);
            }
            (Err(e), _) | (_, Err(e)) => {
                problems.push(Problem::from_error(Phase::Setup, &r.name, &e).registry(&r.name))
            }
        }
    }
    let jobs = with_ids::<_, TargetId>(&clients).flat_map(|(ri, client)| {
        with_ids::<_, ContainerId>(&p.containers).map(move |(ci, name)| (ci, ri, client, name))
    });
    let quays = quays.as_slice();
    let results: Vec<Outcome> = stream::iter(jobs.map(|(ci, ri, (spec, reg), name)| async move {
        let quay = quays.by_id(ri).as_ref();
        let repo = spec.repo(&p.prefix, name);
        let mut en = TagEntry::new(&spec.name, &repo, &p.named_label, None, TagAction::Skipped);
        let kind = match reg.get_manifest_opt(&repo, hash).await {
            Ok(Some(m)) => {
                en.digest = Some(m.digest.to_string());
                let kind = set_label_through(
                    reg,
                    quay,
                    (&repo, &p.named_label, &m),
                    &mut en,
                    dry_run,
                    p.previous_label().as_deref(),
                )
                .await;
                if dry_run {
                    en.verified = None;
                }
                kind
            }
            Ok(None) => {
                en.action = TagAction::Failed;
                en.error = Some(format!("{}/{repo}:{hash} does not exist", spec.host));
                Kind::NotFound
            }
            Err(e) => {
                en.action = TagAction::Failed;
                en.error = Some(e.to_string());
                Kind::of(&e)
            }
        };
        Outcome::new(ci, At::Target(ri), en, kind)
    }))
    .buffer_unordered(p.per_registry)
    .collect()
    .await;
    build::per_registry(p, report, problems, started, results, &clients)
}

/// The Quay API client of a registry, when tags move through it.
fn quay_of(r: &RegistrySpec, quay_api: bool) -> crate::Result<Option<Quay>> {
    if !quay_api {
        return Ok(None);
    }
    let spec = r.quay.clone().ok_or_else(|| {
        crate::Error::Config(format!(
            "{}: tags are to move through the Quay API, but no API and token are given for it",
            r.name
        ))
    })?;
    Quay::new(spec).map(Some)
}
