//! `rollback`: point the label back where it was before the last promotion, on every registry.

use clap::Args;

use super::help::RollbackFlags;
use super::promote::finish;

#[derive(Args, Debug)]
pub struct RollbackArgs {
    /// The promotion's flags or `--config FILE`: `--full-hash` names the hash wrongly promoted,
    /// `--named-label` the label to move back.
    #[command(flatten)]
    pub promote: RollbackFlags,
}

pub async fn rollback_cmd(a: RollbackArgs) -> anyhow::Result<i32> {
    let p = a.promote.promotion()?;
    let mut report = crate::verbs::rollback(&p, a.promote.dry_run).await;
    finish(&mut report, a.promote.json)
}
