//! The user verbs, each one call from a typed request to its finished outcome: the promotion's
//! (`promote`, `verify`, `copy`, `tag`, `rollback`: [`promotion`]), a releases file's ([`releases`]:
//! its plan, running entries, copy-quay's two steps on one entry), the local store's ([`local`]: list, delete, fsck), one image's
//! ([`images`]: inspect, copy) and [`stage`]. The faces ([`crate::cli`], [`crate::module`]) parse
//! their own input into these requests, call one verb and render its outcome, so what a run does and
//! keeps cannot differ between the command line and Ansible; they use nothing below this layer to run
//! one (`tests/layers.rs` checks it).

pub mod images;
pub mod local;
mod promotion;
pub mod releases;

pub use promotion::{copy, ppc_checked, promote, promotion, rollback, tag, verify, TagRequest};
pub use releases::{release_copy, release_tag, ReleaseOutcome};

pub use crate::promote::Promotion;
/// The promoter's staging switch (the module's `stage_info`).
pub use crate::sources::stage_info;
pub use crate::stage::{default_names as stage_names, StageOptions, StagedImage};

use crate::promote::RegistryArgs;

/// Stage a TripleO-like release in `registry` (its namespace is the release's; `opts.namespace` is
/// set from it): for tests, the demo and benchmarks. Returns the images and `host/namespace`.
pub async fn stage(
    registry: &RegistryArgs,
    mut opts: StageOptions,
) -> crate::Result<(Vec<StagedImage>, String)> {
    let spec = registry.resolve("--registry", None, 5)?;
    opts.namespace = spec.namespace.clone();
    let staged = crate::stage::stage(&spec.client()?, &opts).await?;
    Ok((staged, format!("{}/{}", spec.host, spec.namespace)))
}
