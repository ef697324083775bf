//! The command-line face: parses flags, builds registry clients, runs a verb, prints results.
//! Results go to stdout; logs to stderr.

/// A usage or configuration error of the command line (exit status 2, like clap's own): a flag, a
/// value or a config file was wrong, nothing was attempted.
/// `println!` for results: a reader gone away (`… | head`) ends the printing, not the run. A
/// promotion must not panic half-way through moving labels because its output was cut off.
macro_rules! say {
    () => { $crate::cli::say_line("") };
    ($($t:tt)*) => { $crate::cli::say_line(&format!($($t)*)) };
}

/// Print a line of results on stdout; once stdout is a closed pipe, print nothing more (logs and
/// the exit status still tell the outcome).
pub(crate) fn say_line(line: &str) {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    static CLOSED: AtomicBool = AtomicBool::new(false);
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|_| out.flush()) {
        CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            tracing::warn!(error = %e, "cannot write the results to stdout");
        }
    }
}

macro_rules! usage {
    ($($t:tt)*) => {
        anyhow::Error::new($crate::cli::Usage(format!($($t)*)))
    };
}

mod commands;
mod copy_quay;
mod help;
mod local;
mod promote;
mod releases;
mod rollback;
mod tag;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use std::io::IsTerminal;

use crate::logging::{self, LogFormat};
use crate::progress::Progress;
use crate::reference::Reference;
use crate::registry::Registry;
use crate::transport::{creds, Credentials, RegistryConfig, Secret};

/// Promote container images between registries, registry to registry, verified.
#[derive(Parser, Debug)]
#[command(name = "copy-containers", version, about, long_about = None)]
pub struct Cli {
    // The global flags are listed after each command's own (`display_order`).
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true, display_order = 900)]
    pub log_format: LogFormat,
    /// More logs (-v debug, -vv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, display_order = 900)]
    pub verbose: u8,
    /// Fewer logs (-q warnings only, -qq errors only).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, display_order = 900)]
    pub quiet: u8,
    /// Seconds between progress lines on stderr when it is not a terminal (on a terminal a bar is
    /// drawn instead); 0 switches progress off.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "COPY_CONTAINERS_PROGRESS_INTERVAL",
        default_value_t = 30,
        global = true,
        display_order = 900
    )]
    pub progress_interval: u64,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show an image's manifest: a readable summary, or the raw bytes with --raw.
    Inspect(commands::InspectArgs),
    /// Copy one image (every architecture) from SRC to DST, byte-exact.
    Copy(commands::CopyArgs),
    /// Promote a hash: check the source, copy to every target, build manifest lists, verify, move
    /// the label.
    Promote(promote::PromoteFlags),
    /// The verification pass alone: every target × container × tag × architecture, and the label.
    ///
    /// Reads the source and the targets and changes nothing: each image the promotion would have
    /// pushed must be on every target with the source's digest, the lists must hold the expected
    /// architectures, and the label must point at the hash. Takes promote's flags, which describe
    /// what is checked.
    Verify(help::VerifyFlags),
    /// Put a label on a hash's images on chosen registries (remotely; no blob traffic).
    ///
    /// The manifest already under the hash is written again under the label on each registry given
    /// with --registry (default: the source) and read back; nothing is copied, no list is built and
    /// the local store is not used.
    Tag(tag::TagArgs),
    /// Create a TripleO-like release in a registry (for tests, the demo and benchmarks).
    Stage(promote::StageArgs),
    /// Point the label back where it was before the last promotion (the hash was wrongly promoted).
    ///
    /// On every target (and the source when the config sets label_source), the label moves back to
    /// its previous-<label> tag, or where the local store's history says it pointed, but only where
    /// it still points at the hash's images, so a later promotion is never undone.
    Rollback(rollback::RollbackArgs),
    /// A releases file's entries and where their container list and hash come from (resolved
    /// read-only; `promote --config FILE --release NAME|all` runs them).
    Releases(releases::ReleasesArgs),
    /// The local store (images kept on this machine): list, delete (verified), fsck.
    Local(local::LocalArgs),
    /// copy-quay's command line, unchanged (a migration aid): `copy-quay [FLAGS] copy|tag [IMAGE…]`.
    ///
    /// Its cron lines keep their flags and change only the program: the entry of its config file
    /// is resolved and run by this tool (every tag read back, a failure exits non-zero, the report
    /// in this tool's HTML and JSON at --html). See docs/copy-quay.md for the differences and the
    /// native commands for the same jobs.
    CopyQuay(copy_quay::CopyQuayArgs),
}

/// How to reach one side (source or destination) of a command.
#[derive(Args, Debug, Clone, Default)]
pub struct Side {
    /// Use plain HTTP (only for registries meant to be insecure).
    pub insecure: bool,
    /// Do not verify the TLS certificate (explicit opt-out; logged).
    pub no_tls_verify: bool,
    /// CA bundle (PEM) trusted for this registry.
    pub ca_file: Option<PathBuf>,
    /// certs.d directory of this registry (else `<root>/<host>` in the certs.d roots).
    pub cert_dir: Option<PathBuf>,
    /// Username; the password comes from the environment variable named by `password_env`.
    pub username: Option<String>,
    pub password_env: Option<String>,
    /// Auth file (docker config.json or containers auth.json) to read credentials from.
    pub authfile: Option<PathBuf>,
    /// Attempts per request.
    pub retries: Option<u32>,
}

impl Side {
    /// Registry client for the registry of `r`.
    pub fn registry(&self, r: &Reference) -> anyhow::Result<Registry> {
        let mut cfg = RegistryConfig::new(&r.registry);
        cfg.insecure = self.insecure;
        cfg.tls_verify = !self.no_tls_verify;
        cfg.ca_file = self.ca_file.clone();
        cfg.cert_dir = self.cert_dir.clone();
        if let Some(n) = self.retries {
            cfg.retry.attempts = n.max(1);
        }
        if self.no_tls_verify && !self.insecure {
            tracing::warn!(registry = %r.registry, "TLS certificate verification is switched off for this registry");
        }
        cfg.credentials = match (&self.username, &self.password_env) {
            (Some(u), Some(var)) => {
                let p = std::env::var(var).map_err(|_| {
                    usage!(
                        "the environment variable {var} (password for {}) is not set",
                        r.registry
                    )
                })?;
                Credentials::Basic {
                    username: u.clone(),
                    password: Secret::new(p),
                }
            }
            (Some(_), None) => {
                return Err(usage!(
                    "--*-username needs --*-password-env naming the variable that holds the password"
                ))
            }
            (None, Some(_)) => return Err(usage!("--*-password-env needs --*-username")),
            (None, None) => match &self.authfile {
                Some(f) => creds::lookup_in(&r.registry, std::slice::from_ref(f))?,
                None => creds::lookup(&r.registry)?,
            },
        };
        if self.insecure
            && !cfg.credentials.is_anonymous()
            && !crate::reference::is_loopback_host(&r.registry)
        {
            tracing::warn!(registry = %r.registry, "credentials are sent over plain HTTP to this registry (insecure)");
        }
        Ok(Registry::new(cfg)?)
    }
}

/// What was given on the command line (or in the config file it names) is wrong: exit status 2.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// Mark an error reading or validating the input (flags, config file, references) as a usage error.
pub(crate) fn usage_err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(Usage(e.to_string()))
}

/// Exit status of a command that could not run: 2 when what it was given is wrong (the same status
/// clap gives usage errors), 1 for everything else (a registry, the store, the network).
fn exit_code_of(e: &anyhow::Error) -> i32 {
    if e.chain().any(|c| c.is::<Usage>()) {
        2
    } else {
        1
    }
}

/// `promote`/`verify`: a releases file (`releases:` / copy-quay's `entries:`, `--release NAME|all`)
/// runs its entries (`releases.rs`); anything else is one promotion (`promote.rs`). Routed here so
/// that neither of the two uses the other's command.
async fn promote_or_releases(
    f: promote::PromoteFlags,
    verify_only: bool,
    progress: &Progress,
) -> anyhow::Result<i32> {
    handle_signals();
    // The config file is read once: a releases file (`releases:` / copy-quay's `entries:`) runs
    // entries (`--release NAME|all`); a plain one gives promotion fields under the flags.
    let plain = match &f.config {
        Some(path) => match releases::read_promote_config(path)? {
            releases::PromoteConfig::Releases(cfg) => {
                return releases::promote_releases(&f, path, &cfg, verify_only, progress).await
            }
            releases::PromoteConfig::Plain(text) => Some((path.clone(), text)),
        },
        None => None,
    };
    promote::promote_cmd(f, plain, verify_only, progress).await
}

/// From here on SIGTERM, SIGINT and SIGHUP stop a promotion cleanly (its report written, no label
/// moved after the signal, exit status 143, 130, 129); a second one ends the process at once.
fn handle_signals() {
    if let Err(e) = crate::stop::handle_signals(stopped_at_once) {
        tracing::warn!("cannot handle signals ({e}): a signal ends the run without a report");
    }
}

/// A second signal ended the process: one line says so, and how to resume.
fn stopped_at_once(signal: crate::stop::Signal) {
    eprintln!(
        "copy-containers: {} again: stopped at once, without a report (the labels moved so far \
         stay); run the same command again to resume",
        signal.name()
    );
}

/// Run the CLI; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let debug = matches!(&cli.command, Command::CopyQuay(a) if a.debug);
    let verbosity = cli.verbose as i8 - cli.quiet as i8 + debug as i8;
    let json_logs = cli.log_format == LogFormat::Json;
    let progress = Progress::for_stderr(
        std::time::Duration::from_secs(cli.progress_interval),
        std::io::stderr().is_terminal(),
        cli.log_format == LogFormat::Human,
    );
    logging::init(cli.log_format, verbosity, progress.clone());
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Inspect(a) => commands::inspect(a).await,
            Command::Copy(a) => commands::copy(a, &progress).await,
            Command::Promote(a) => promote_or_releases(a, false, &progress).await,
            Command::Verify(a) => promote_or_releases(a.0, true, &progress).await,
            Command::Tag(a) => tag::tag_cmd(a).await,
            Command::Stage(a) => promote::stage_cmd(a).await,
            Command::Rollback(a) => rollback::rollback_cmd(a).await,
            Command::Releases(a) => releases::releases_cmd(a).await,
            Command::Local(a) => local::local_cmd(a).await,
            Command::CopyQuay(a) => copy_quay::copy_quay_cmd(a, &progress).await,
        }
    });
    progress.finish();
    match result {
        Ok(code) => code,
        Err(e) => {
            let message = crate::report::scrub(&format!("{e:#}"), &[]);
            if json_logs {
                // Every stderr line is a JSON record for whoever parses these logs.
                tracing::error!("{message}");
            } else {
                eprintln!("error: {message}");
            }
            exit_code_of(&e)
        }
    }
}
