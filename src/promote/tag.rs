//! `tag`: put a label on a hash's images on chosen registries, remotely (the same manifest bytes
//! under the label; no blob traffic), each move read back. The previous digest is recorded. With
//! `push_hash`, the images are read under it on the registries named (the targets a promotion
//! pushed them to), and under `full_hash` when the source is labelled by default.

use std::time::Instant;

use futures_util::stream::{self, StreamExt};

use super::build;
use super::ids::{with_ids, ContainerId, TargetId};
use super::label::set_label;
use super::ledger::{At, Outcome};
use super::model::{Promotion, RegistrySpec};
use crate::report::{Kind, Phase, Problem, Report, TagAction, TagEntry};

/// Label the images tagged `hash` as `p.named_label` on `registries`.
pub async fn run_tag(p: &Promotion, registries: &[RegistrySpec], hash: &str, dry_run: bool) -> Report {
    let started = Instant::now();
    let report = Report {
        source: String::new(),
        push: false,
        manifest_push: false,
        ..build::header(p, "tag", dry_run, registries)
    };
    let mut problems = Vec::new();
    let mut clients = Vec::new();
    for r in registries {
        match r.client() {
            Ok(c) => clients.push((r.clone(), c)),
            Err(e) => problems.push(Problem::from_error(Phase::Setup, &r.name, &e).registry(&r.name)),
        }
    }
    let jobs = with_ids::<_, TargetId>(&clients).flat_map(|(ri, client)| {
        with_ids::<_, ContainerId>(&p.containers).map(move |(ci, name)| (ci, ri, client, name))
    });
    let results: Vec<Outcome> = stream::iter(jobs.map(|(ci, ri, (spec, reg), name)| async move {
        let repo = spec.repo(&p.prefix, name);
        let mut en = TagEntry::new(&spec.name, &repo, &p.named_label, None, TagAction::Skipped);
        let kind = match reg.get_manifest_opt(&repo, hash).await {
            Ok(Some(m)) => {
                en.digest = Some(m.digest.to_string());
                let kind = set_label(
                    reg,
                    &repo,
                    &p.named_label,
                    &m,
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
