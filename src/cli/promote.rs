//! `promote`, `verify`, `tag` and `rollback`: the promotion verbs on the command line, and the
//! table of a report. Every promotion field can come from `--config FILE` (YAML, the same field
//! names as the Ansible module); flags override the file.

use std::path::{Path, PathBuf};

use super::flags::PromoteFlags;
use crate::options::Action;
use crate::options::PromoteArgs;
use crate::progress::Progress;
use crate::report::Report;
use crate::verbs;
use crate::verbs::Promotion;

/// Read a YAML config of promotion fields.
pub fn read_config(path: &Path) -> anyhow::Result<PromoteArgs> {
    let text =
        crate::input::read_to_string(path, "config file").map_err(|e| usage!("{}: {e}", path.display()))?;
    parse_config(path, &text)
}

/// A plain config's promotion fields (serde's own message, as the command line always gave it).
pub fn parse_config(path: &Path, text: &str) -> anyhow::Result<PromoteArgs> {
    serde_norway::from_str(text).map_err(|e| usage!("{}: {e}", path.display()))
}

/// The flags over the config file's fields (flags override), with everything `action` requires.
fn args_of(f: &PromoteFlags, config: Option<(&Path, &str)>, action: Action) -> anyhow::Result<PromoteArgs> {
    let flags = f.flag_args()?;
    let args = match (config, &f.config) {
        (Some((path, text)), _) => flags.or(parse_config(path, text)?),
        (None, Some(path)) => flags.or(read_config(path)?),
        (None, None) => flags,
    };
    f.check_required(action, &args)?;
    Ok(args)
}

/// Validate promotion fields; a problem is a usage error.
fn resolve(args: PromoteArgs) -> anyhow::Result<Promotion> {
    verbs::promotion(&args).map_err(super::usage_err)
}

/// The end of a command that ran: the outcome decided, every failure logged at ERROR (the same
/// message once, with how many times it came), the result printed; returns the exit status.
pub fn finish(report: &mut Report, f: &PromoteFlags) -> anyhow::Result<i32> {
    report.settle();
    // Logged at ERROR for logs and `-q`; a person at a terminal reads them in the summary below.
    if f.json || !super::summary_says_causes() {
        log_failures(report);
    }
    if f.json {
        say!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_summary(report, f.table);
    }
    Ok(report.exit_status())
}

/// Each cause of failure once at ERROR, with structured fields (phase, kind, registry, how many
/// problems, how many images and a few of them: the report names them all), so that logs
/// (`--log-format json`, `-q`) carry what went wrong, not only the retries on the way.
pub fn log_failures(report: &Report) {
    for g in report.groups() {
        tracing::error!(
            action = %report.action,
            full_hash = %report.full_hash,
            phase = %g.phase,
            kind = %g.kind,
            registry = g.registry.as_deref().unwrap_or("-"),
            times = g.count,
            images = g.containers.len(),
            containers = %crate::report::problem::compact(&g.containers, 4),
            "{}",
            g.summary()
        );
    }
}

/// The report as a table on stdout ([`crate::report::text`]).
/// With `-q` the outcome line alone (the causes are the log's ERROR lines); the table with
/// `--table` or for a small run; wrapped at the terminal's width when stdout is one.
pub fn print_summary(report: &Report, table: bool) {
    use crate::report::text::{render, Shown};
    let shown = match (super::quiet(), table) {
        (true, _) => Shown::Outcome,
        (false, true) => Shown::Table,
        (false, false) => Shown::Usual,
    };
    render(report, shown, crate::terminal::stdout_columns())
        .iter()
        .for_each(|l| say!("{l}"));
}

/// `promote`/`verify` of one promotion: the flags over `config`, the text of a plain promotion file
/// (`--config`, read once by `promote_or_releases` in `cli/mod.rs`, which routes releases files to
/// `releases.rs`).
pub async fn promote_cmd(
    f: &PromoteFlags,
    config: Option<(PathBuf, String)>,
    verify_only: bool,
    progress: &Progress,
) -> anyhow::Result<i32> {
    let action = if verify_only {
        Action::Verify
    } else {
        Action::Promote
    };
    let config = config.as_ref().map(|(p, t)| (p.as_path(), t.as_str()));
    let p = resolve(args_of(f, config, action)?)?;
    let mut report = if verify_only {
        verbs::verify(&p, f.dry_run, true, progress).await
    } else {
        verbs::promote(&p, f.dry_run, progress).await
    };
    // The bar off the terminal before the results are printed.
    progress.finish();
    finish(&mut report, f)
}

/// `tag`: the label on `--registry` (default: the source), remotely.
pub async fn tag_cmd(f: &PromoteFlags) -> anyhow::Result<i32> {
    let req = verbs::TagRequest {
        args: args_of(f, None, Action::Tag)?,
        registries: f.registries()?,
        what: "registry",
        dry_run: f.dry_run,
    };
    let mut report = verbs::tag(req).await?;
    finish(&mut report, f)
}

/// `rollback`: the label back where it was before the last promotion, on every registry.
pub async fn rollback_cmd(f: &PromoteFlags) -> anyhow::Result<i32> {
    let p = resolve(args_of(f, None, Action::Rollback)?)?;
    let mut report = verbs::rollback(&p, f.dry_run).await;
    finish(&mut report, f)
}
