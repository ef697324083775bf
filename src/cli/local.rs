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

use crate::config::{self, ConfigFile};
use crate::promote::options::{Action, Field};
use crate::store::{DeleteOptions, DeleteReport, DeleteScope, FsckReport, LocalImage, Store};

/// The help of `local`'s flag for the option `f` (its entry's words for `local`).
fn help(f: Field) -> String {
    let o = f.opt();
    super::flags::describe(
        o,
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

/// What `--config FILE` says: the store root, and the release an entry name stands for.
struct FromConfig {
    local_store: Option<PathBuf>,
    releases: Option<config::ReleasesConfig>,
}

fn read_config(path: Option<&PathBuf>) -> anyhow::Result<FromConfig> {
    let Some(path) = path else {
        return Ok(FromConfig {
            local_store: None,
            releases: None,
        });
    };
    Ok(match config::load(path).map_err(super::usage_err)? {
        ConfigFile::Promote(a) => FromConfig {
            local_store: a.local_store.clone(),
            releases: None,
        },
        ConfigFile::Releases(c) => FromConfig {
            local_store: c.options.local_store.clone(),
            releases: Some(*c),
        },
    })
}

impl FromConfig {
    /// A releases file's entry name → its release (the store's folder); other names as given.
    fn release(&self, name: Option<String>) -> Option<String> {
        let name = name?;
        let Some(c) = &self.releases else {
            return Some(name);
        };
        match c.entry(&name) {
            Ok((_, e)) => c.entry_args(e).release.or(Some(name)),
            Err(_) => Some(name),
        }
    }
}

/// Run a `local` subcommand; returns the exit code.
pub async fn local_cmd(a: LocalArgs) -> anyhow::Result<i32> {
    let cfg = read_config(a.config.as_ref())?;
    let configured = a.root.clone().or(cfg.local_store.clone());
    let st = Store::open(crate::store::resolve_root(configured.as_deref())?)?;
    let lock = Field::lock_timeout.opt();
    let wait = Duration::from_secs(lock.count(a.lock_timeout.or(lock.local_default)));
    // A name that cannot be a release is a usage error (exit 2), not a store failure.
    let release = move |r: Option<String>| -> anyhow::Result<Option<String>> {
        let r = cfg.release(r);
        if let Some(name) = &r {
            crate::store::validate_release(name).map_err(super::usage_err)?;
        }
        Ok(r)
    };
    // The verbs read and hash files: off the async workers.
    tokio::task::spawn_blocking(move || match a.command {
        LocalCommand::List(mut l) => {
            l.release = release(l.release)?;
            list(&st, l)
        }
        LocalCommand::Delete(mut d) => {
            d.release = release(d.release)?;
            delete(&st, d, wait)
        }
        LocalCommand::Fsck(f) => fsck(&st, f, wait),
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

fn list(st: &Store, a: ListArgs) -> anyhow::Result<i32> {
    let images = match &a.release {
        Some(r) => st.list_release(r)?,
        None => st.list()?,
    };
    let total = st.total_size()?;
    if a.json {
        let v = serde_json::json!({
            "root": st.root(),
            "images": images,
            "total_bytes": total,
        });
        say!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    if images.is_empty() {
        say!("No images in the local store {}.", st.root().display());
        return Ok(0);
    }
    say!("{}", table(&images).trim_end_matches('\n'));
    say!(
        "{} image(s); {} on disk in {}",
        images.len(),
        human_bytes(total),
        st.root().display()
    );
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

fn delete(st: &Store, a: DeleteArgs, wait: Duration) -> anyhow::Result<i32> {
    let scope = match (a.all, a.container.clone(), a.release.clone()) {
        (true, _, _) => DeleteScope::All,
        (false, Some(name), release) => DeleteScope::Container { name, release },
        (false, None, Some(r)) => DeleteScope::Release(r),
        (false, None, None) => return Err(usage!("give --container NAME, --release NAME or --all")),
    };
    let opts = DeleteOptions {
        dry_run: a.dry_run,
        require_match: true,
    };
    let ask = a.all && !a.yes && !a.dry_run && !a.json && std::io::stdin().is_terminal();
    if ask && !confirm(st, &scope, wait)? {
        say!("Nothing deleted.");
        return Ok(1);
    }
    let r = crate::store::delete_verified(st.root(), &scope, opts, wait)?;
    if a.json {
        say!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print_delete(st, &r);
    }
    Ok(if r.ok() { 0 } else { 1 })
}

/// Show what `scope` would delete and ask; `true` to go on.
fn confirm(st: &Store, scope: &DeleteScope, wait: Duration) -> anyhow::Result<bool> {
    let plan = crate::store::delete_verified(
        st.root(),
        scope,
        DeleteOptions {
            dry_run: true,
            require_match: true,
        },
        wait,
    )?;
    if !plan.changed {
        return Ok(true);
    }
    print_delete(st, &plan);
    print!(
        "Delete these {} image(s) from {}? [y/N] ",
        plan.removed.len(),
        st.root().display()
    );
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

fn print_delete(st: &Store, r: &DeleteReport) {
    let root = st.root().display();
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

fn fsck(st: &Store, a: FsckArgs, wait: Duration) -> anyhow::Result<i32> {
    let r = st.fsck_wait(wait)?;
    if a.json {
        say!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        say!("Local store {}:", st.root().display());
        print_verification(&r, "Verification", true);
    }
    Ok(if r.ok { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 20), "5.0 MiB");
    }
}
