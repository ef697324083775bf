//! What the targets already hold, asked before anything is written and while the source is still
//! being read (the answers do not depend on it): per container and target, the tags a promotion
//! writes there — `<fh>`, its per-architecture tags and `<fh>_manifest`. The copy's discovery and
//! the list step take these answers instead of asking again, and a list already on a target gives
//! the architecture step its platforms, so the source's config blobs need not be read (see
//! [`super::source`]). A repository holding none of those tags is marked bare: the copy takes the
//! images as absent there without asking by digest ([`SeenTags::mark_bare`]). Nothing here fails a
//! run: a question left unanswered is asked again later by the step that reports it.

use std::collections::HashMap;

use futures_util::stream::{self, StreamExt};

use super::model::{Promotion, RegistrySpec};
use super::plan::lists_for;
use crate::copy::SeenTags;
use crate::manifest::Manifest;
use crate::registry::Registry;

/// What the targets answered.
#[derive(Clone, Debug, Default)]
pub(crate) struct Looked {
    /// Every tag looked at, per registry and repository.
    pub seen: SeenTags,
    /// Per container: the `<fh>_manifest` list of the first target holding one.
    pub lists: HashMap<String, Manifest>,
}

/// The tags a promotion may write for one container on one target, the list's aside.
fn image_tags(p: &Promotion, t: &RegistrySpec, name: &str) -> Vec<String> {
    let mut tags = vec![p.target_hash().to_string()];
    if lists_for(p, t) {
        tags.push(p.target_x86_tag());
        if p.ppc_manifests && p.ppc_containers.iter().any(|c| c == name) {
            tags.push(p.target_ppc_tag());
        }
    }
    tags
}

/// Look at every container's tags on every target (container by container, the targets side by
/// side); the list is read whole (a GET instead of a HEAD) for its platforms.
pub(crate) async fn look(p: &Promotion, targets: &[Registry]) -> Looked {
    let seen = SeenTags::default();
    let jobs = p.containers.iter().flat_map(|name| {
        let sites = p.targets.iter().zip(targets);
        sites.map(move |(spec, reg)| (name, spec, reg))
    });
    let lists: Vec<Option<(String, Manifest)>> = stream::iter(jobs.map(|(name, spec, reg)| {
        let seen = &seen;
        async move {
            let repo = spec.repo(&p.prefix, name);
            // Every answer "absent": the repository is bare of this promotion's tags.
            let mut bare = true;
            for tag in image_tags(p, spec, name) {
                let head = reg.head_manifest(&repo, &tag).await;
                bare &= matches!(head, Ok(None));
                if let Ok(head) = head {
                    seen.insert(reg.name(), &repo, &tag, head.map(|h| h.digest));
                }
            }
            if !lists_for(p, spec) {
                if bare {
                    seen.mark_bare(reg.name(), &repo);
                }
                return None;
            }
            let tag = p.target_manifest_tag();
            let list = reg.get_manifest_opt(&repo, &tag).await.ok()?;
            seen.insert(reg.name(), &repo, &tag, list.as_ref().map(|m| m.digest.clone()));
            if bare && list.is_none() {
                seen.mark_bare(reg.name(), &repo);
            }
            list.map(|m| (name.clone(), m))
        }
    }))
    .buffered(p.per_registry * targets.len().max(1))
    .collect()
    .await;
    let mut first = HashMap::new();
    for (name, list) in lists.into_iter().flatten() {
        first.entry(name).or_insert(list);
    }
    Looked { seen, lists: first }
}
