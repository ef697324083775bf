//! `tag`: put a label on a hash's images on chosen registries, remotely (the same manifest bytes
//! under the label; no blob traffic), each move read back. The previous digest is recorded. With
//! `push_hash`, the images are read under it on the registries named (the targets a promotion
//! pushed them to), and under `full_hash` when the source is labelled by default.

use std::time::Instant;

use futures_util::stream::{self, StreamExt};

use super::model::{Promotion, RegistrySpec};
use super::run::{entry, finish_per_registry, set_label};
use crate::report::{Report, TagAction};

/// Label the images tagged `hash` as `p.named_label` on `registries`.
pub async fn run_tag(p: &Promotion, registries: &[RegistrySpec], hash: &str, dry_run: bool) -> Report {
    let started = Instant::now();
    let mut report = Report {
        tool: concat!("copy-containers ", env!("CARGO_PKG_VERSION")).into(),
        action: "tag".into(),
        started_at: crate::report::now_string(),
        dry_run,
        full_hash: p.full_hash.clone(),
        named_label: p.named_label.clone(),
        release: p.release.clone(),
        distro: format!("{}-{}", p.distro_name, p.distro_version),
        targets: registries
            .iter()
            .map(|t| format!("{}/{}", t.host, t.namespace))
            .collect(),
        ..Default::default()
    };
    let mut clients = Vec::new();
    for r in registries {
        match r.client() {
            Ok(c) => clients.push((r.clone(), c)),
            Err(e) => report.errors.push(format!("{}: {e}", r.name)),
        }
    }
    let jobs: Vec<(usize, usize)> = (0..clients.len())
        .flat_map(|ri| (0..p.containers.len()).map(move |ci| (ci, ri)))
        .collect();
    let results: Vec<_> = stream::iter(jobs.into_iter().map(|(ci, ri)| {
        let (spec, reg) = &clients[ri];
        let name = &p.containers[ci];
        async move {
            let repo = spec.repo(&p.prefix, name);
            let mut en = entry(&spec.name, &repo, &p.named_label, None, TagAction::Skipped);
            match reg.get_manifest_opt(&repo, hash).await {
                Ok(Some(m)) => {
                    en.digest = Some(m.digest.to_string());
                    set_label(
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
                }
                Ok(None) => {
                    en.action = TagAction::Failed;
                    en.error = Some(format!("{}/{repo}:{hash} does not exist", spec.host));
                }
                Err(e) => {
                    en.action = TagAction::Failed;
                    en.error = Some(e.to_string());
                }
            }
            (ci, en)
        }
    }))
    .buffer_unordered(p.per_registry)
    .collect()
    .await;
    finish_per_registry(report, p, started, results, &clients)
}
