//! `copy-containers local …`: the local store (images kept on this machine): list, delete with
//! verification, fsck.
//!
//! The store root is resolved as every other command resolves it (`crate::store::resolve_root`):
//! `--root`, else the `local_store` of `--config FILE` (a promotion file or a releases file, as
//! `promote --config` reads), else `$COPY_CONTAINERS_LOCAL_ROOT`, else the XDG default.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args, Subcommand};

use crate::options::{Action, Field, Scope};
use crate::verbs::local::{self, DeleteReport, DeleteRequest, FsckReport, LocalImage, StoreAt};

/// The help of `local`'s flag for the option `f` (its entry's words for `local`).
fn help(f: Field) -> String {
    let o = f.opt();
    o.help_line(
        Action::DeleteLocal,
        o.help_for(Action::DeleteLocal).unwrap_or(o.help),
    )
}

#[derive(Args, Debug)]
pub struct LocalArgs {
    #[arg(long, global = true, value_name = "DIR", help = help(Field::local_store))]
    pub root: Option<PathBuf>,
    /// The promotion or releases file whose `local_store` names the store (as `promote --config`);
    /// with a releases file, `--release ENTRY` names the entry's release.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[arg(long, global = true, value_name = "SECS", help = help(Field::lock_timeout))]
    pub lock_timeout: Option<u64>,
    #[command(subcommand)]
    pub command: LocalCommand,
}

#[derive(Subcommand, Debug)]
pub enum LocalCommand {
    /// The images kept locally: release, container, tag, digest, size.
    List(ListArgs),
    /// Delete images (a container, a release, or everything), collect the blobs nothing uses any
    /// more, then verify what was touched. A scope matching nothing is an error listing what the
    /// store holds; `--all` on a terminal asks first (`--yes` does not).
    Delete(DeleteArgs),
    /// Verify the whole store: every reference complete, every blob's content matching its digest.
    Fsck(FsckArgs),
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only this release.
    #[arg(long)]
    pub release: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("what").required(true).multiple(true).args(["container", "release", "all"])))]
pub struct DeleteArgs {
    /// Every tag of this container: `nova-compute` (name without prefix) or `openstack-nova-compute`.
    #[arg(long)]
    pub container: Option<String>,
    /// Only in this release (alone: the whole release).
    #[arg(long)]
    pub release: Option<String>,
    /// Every release.
    #[arg(long, conflicts_with_all = ["container", "release"])]
    pub all: bool,
    /// Do not ask before `--all` on a terminal.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Show what would be deleted and the bytes freed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct FsckArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Run a `local` subcommand; returns the exit code.
pub async fn local_cmd(a: LocalArgs) -> anyhow::Result<i32> {
    let at = StoreAt::find(a.root.clone(), a.config.as_deref())?;
    let wait = local::lock_wait(a.lock_timeout, true);
    // The verbs read and hash files: off the async workers.
    tokio::task::spawn_blocking(move || match a.command {
        LocalCommand::List(l) => list(&at, at.release(l.release.clone())?, l.json),
        LocalCommand::Delete(d) => delete(&at, at.release(d.release.clone())?, d, wait),
        LocalCommand::Fsck(f) => fsck(&at, f, wait),
    })
    .await?
}

pub use crate::progress::human_bytes;

fn short_digest(d: &crate::digest::Digest) -> String {
    format!("{}:{}", d.algorithm(), &d.hex()[..12.min(d.hex().len())])
}

fn table(images: &[LocalImage]) -> String {
    let mut rows = vec![[
        "RELEASE".to_string(),
        "CONTAINER".into(),
        "TAG".into(),
        "DIGEST".into(),
        "SIZE".into(),
    ]];
    for i in images {
        rows.push([
            i.release.clone(),
            i.container.clone(),
            i.tag.clone(),
            short_digest(&i.digest),
            human_bytes(i.size),
        ]);
    }
    let mut width = [0usize; 5];
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 4 {
                    format!("{c:>w$}", w = width[i])
                } else {
                    format!("{c:<w$}", w = width[i])
                }
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn list(at: &StoreAt, release: Option<String>, json: bool) -> anyhow::Result<i32> {
    let l = local::list(at.root(), release.as_deref())?;
    if json {
        say!("{}", serde_json::to_string_pretty(&l)?);
        return Ok(0);
    }
    let root = l.root.display();
    if l.images.is_empty() {
        say!("No images in the local store {root}.");
        return Ok(0);
    }
    say!("{}", table(&l.images).trim_end_matches('\n'));
    let (n, total) = (l.images.len(), human_bytes(l.total_bytes));
    say!("{n} image(s); {total} on disk in {root}");
    Ok(0)
}

fn print_verification(v: &FsckReport, what: &str, rehashed: bool) {
    if v.ok {
        say!(
            "{what}: OK ({} reference(s) complete, {} blob(s), {}{})",
            v.references,
            v.blobs,
            human_bytes(v.bytes),
            if rehashed { " re-hashed" } else { "" }
        );
    } else {
        say!("{what}: FAILED ({} problem(s))", v.problems.len());
    }
    for p in &v.problems {
        say!("  problem: {p}");
    }
    for w in &v.warnings {
        say!("  warning: {w}");
    }
}

fn delete(at: &StoreAt, release: Option<String>, a: DeleteArgs, wait: Duration) -> anyhow::Result<i32> {
    let scope = match (a.all, &a.container, &release) {
        (true, _, _) => Scope::All,
        (false, Some(_), _) => Scope::Container,
        (false, None, Some(_)) => Scope::Release,
        (false, None, None) => return Err(usage!("give --container NAME, --release NAME or --all")),
    };
    let req = DeleteRequest {
        scope,
        containers: a.container.iter().cloned().collect(),
        release,
        dry_run: a.dry_run,
        require_match: true,
        wait,
    };
    let ask = a.all && !a.yes && !a.dry_run && !a.json && std::io::stdin().is_terminal();
    if ask && !confirm(at, &req)? {
        say!("Nothing deleted.");
        return Ok(1);
    }
    let d = local::delete(at.root(), &req)?;
    for r in &d.reports {
        match a.json {
            true => say!("{}", serde_json::to_string_pretty(r)?),
            false => print_delete(at, r),
        }
    }
    Ok(if d.ok() { 0 } else { 1 })
}

/// Show what the request would delete and ask; `true` to go on.
fn confirm(at: &StoreAt, req: &DeleteRequest) -> anyhow::Result<bool> {
    let plan = DeleteRequest {
        dry_run: true,
        ..req.clone()
    };
    let plan = local::delete(at.root(), &plan)?;
    if !plan.changed() {
        return Ok(true);
    }
    plan.reports.iter().for_each(|r| print_delete(at, r));
    print!(
        "Delete these {} image(s) from {}? [y/N] ",
        plan.removed(),
        at.root().display()
    );
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

fn print_delete(at: &StoreAt, r: &DeleteReport) {
    let root = at.root().display();
    if !r.changed {
        say!("Nothing to delete for {} in {root} (no change).", r.scope);
    } else {
        let verb = if r.dry_run { "Would delete" } else { "Deleted" };
        say!("{verb} {} image(s) ({}) from {root}:", r.removed.len(), r.scope);
        for i in &r.removed {
            say!(
                "  {}  {}:{}  {}  {}",
                i.release,
                i.container,
                i.tag,
                short_digest(&i.digest),
                human_bytes(i.size)
            );
        }
        say!(
            "{} {} ({} bytes) in {} blob(s){}",
            if r.dry_run { "Would free" } else { "Freed" },
            human_bytes(r.freed_bytes),
            r.freed_bytes,
            r.blobs_removed,
            if r.releases_removed.is_empty() {
                String::new()
            } else {
                format!("; release folder(s) removed: {}", r.releases_removed.join(", "))
            }
        );
    }
    for w in &r.warnings {
        say!("warning: {w}");
    }
    if r.dry_run {
        print!("(dry run: nothing changed) ");
    }
    print_verification(&r.verification, "Verification of the releases touched", false);
}

fn fsck(at: &StoreAt, a: FsckArgs, wait: Duration) -> anyhow::Result<i32> {
    let r = local::fsck(at.root(), wait)?;
    if a.json {
        say!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        say!("Local store {}:", at.root().display());
        print_verification(&r, "Verification", true);
    }
    Ok(if r.ok { 0 } else { 1 })
}
