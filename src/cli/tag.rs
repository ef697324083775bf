//! `tag`: put the label on a hash's images on chosen registries (default: the source), remotely.

use clap::Args;

use super::help::TagFlags;
use super::promote::{finish, parse_registry_spec};
use crate::verbs;

#[derive(Args, Debug)]
pub struct TagArgs {
    #[command(flatten)]
    pub promote: TagFlags,
    /// Registries to label on (repeatable; same forms as --target). Default: the source.
    #[arg(long = "registry")]
    pub registries: Vec<String>,
}

pub async fn tag_cmd(a: TagArgs) -> anyhow::Result<i32> {
    let args = a.promote.to_args()?;
    // `tag` needs no source: label on the given registries (or the source when none are given).
    if a.registries.is_empty() && args.source_registry.is_none() {
        return Err(usage!("give --registry (or --source)"));
    }
    let registries = a
        .registries
        .iter()
        .map(|r| parse_registry_spec(r))
        .collect::<anyhow::Result<_>>()?;
    let req = verbs::TagRequest {
        args,
        registries,
        what: "registry",
        dry_run: a.promote.dry_run,
    };
    let mut report = verbs::tag(req).await?;
    finish(&mut report, a.promote.json)
}
