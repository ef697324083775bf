//! The command-line face: parses flags (the promotion verbs' from the options' declaration), calls
//! one verb, prints its outcome. Results go to stdout; logs to stderr.

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
mod examples;
pub mod flags;
mod local;
mod promote;
mod releases;

use std::io::IsTerminal;

use clap::{Parser, Subcommand};

use crate::logging::{self, LogFormat};
use crate::progress::Progress;
use crate::verbs;

/// The heading of the global flags.
const LOGS: &str = "Logs and progress";

/// Promote container images between registries, registry to registry, verified.
#[derive(Parser, Debug)]
#[command(name = "copy-containers", version, about, long_about = None)]
pub struct Cli {
    // The global flags are listed after each command's own, under their own heading.
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true, help_heading = LOGS)]
    pub log_format: LogFormat,
    /// More logs (-v debug, -vv trace; on a terminal, where the summary says the rest, -v info,
    /// -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, help_heading = LOGS)]
    pub verbose: u8,
    /// Quieter: a promotion's results are its outcome line (and a warning about its label), the
    /// logs warnings and errors, no progress (-qq: errors only).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, help_heading = LOGS)]
    pub quiet: u8,
    /// Seconds between progress lines on stderr when it is not a terminal (on a terminal a bar is
    /// drawn instead); 0 switches progress off.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "COPY_CONTAINERS_PROGRESS_INTERVAL",
        default_value_t = 30,
        global = true,
        help_heading = LOGS
    )]
    pub progress_interval: u64,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show an image's manifest: a readable summary, or the raw bytes with --raw.
    #[command(after_help = examples::INSPECT)]
    Inspect(commands::InspectArgs),
    /// Copy one image (every architecture) from SRC to DST, byte-exact.
    #[command(after_help = examples::COPY)]
    Copy(commands::CopyArgs),
    /// Promote a hash: check the source, copy to every target, build manifest lists, verify, move
    /// the label.
    #[command(after_help = examples::PROMOTE)]
    Promote(flags::VerbFlags<{ flags::PROMOTE }>),
    /// The verification pass alone: every target × container × tag × architecture, and the label.
    ///
    /// Reads the source and the targets and changes nothing: each image the promotion would have
    /// pushed must be on every target with the source's digest, the lists must hold the expected
    /// architectures, and the label must point at the hash. Takes promote's flags, which describe
    /// what is checked.
    #[command(after_help = examples::VERIFY)]
    Verify(flags::VerbFlags<{ flags::VERIFY }>),
    /// Put a label on a hash's images on chosen registries (remotely; no blob traffic).
    ///
    /// The manifest already under the hash is written again under the label on each registry given
    /// with --registry (default: the source) and read back; nothing is copied, no list is built and
    /// the local store is not used.
    #[command(after_help = examples::TAG)]
    Tag(flags::VerbFlags<{ flags::TAG }>),
    /// Create a TripleO-like release in a registry (for tests, the demo and benchmarks).
    #[command(after_help = examples::STAGE)]
    Stage(commands::StageArgs),
    /// Point the label back where it was before the last promotion (the hash was wrongly promoted).
    ///
    /// On every target (and the source when the config sets label_source), the label moves back to
    /// its previous-<label> tag, or where the local store's history says it pointed, but only where
    /// it still points at the hash's images, so a later promotion is never undone.
    #[command(after_help = examples::ROLLBACK)]
    Rollback(flags::VerbFlags<{ flags::ROLLBACK }>),
    /// A releases file's entries and where their container list and hash come from (resolved
    /// read-only; `promote --config FILE --release NAME|all` runs them).
    #[command(after_help = examples::RELEASES)]
    Releases(releases::ReleasesArgs),
    /// The local store (images kept on this machine): list, delete (verified), fsck.
    #[command(after_help = examples::LOCAL)]
    Local(local::LocalArgs),
    /// copy-quay's command line, unchanged (a migration aid): `copy-quay [FLAGS] copy|tag [IMAGE…]`.
    ///
    /// Its cron lines keep their flags and change only the program: the entry of its config file
    /// is resolved and run by this tool (every tag read back, a failure exits non-zero, the report
    /// in this tool's HTML and JSON at --html). See docs/copy-quay.md for the differences and the
    /// native commands for the same jobs.
    #[command(after_help = examples::COPY_QUAY)]
    CopyQuay(copy_quay::CopyQuayArgs),
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
/// clap gives usage errors), else the status of the error's kind ([`crate::error::Kind::exit_status`]:
/// 2 for invalid input however deep it was found, 1 for a registry, the store, the network).
fn exit_code_of(e: &anyhow::Error) -> i32 {
    if e.chain().any(|c| c.is::<Usage>()) {
        return 2;
    }
    e.chain()
        .find_map(|c| c.downcast_ref::<crate::Error>())
        .map_or(1, |x| crate::error::Kind::of(x).exit_status())
}

/// `promote`/`verify`: a releases file (`releases:` / copy-quay's `entries:`, `--release NAME|all`)
/// runs its entries (`releases.rs`); anything else is one promotion (`promote.rs`). Routed here so
/// that neither of the two uses the other's command.
async fn promote_or_releases(
    f: &flags::PromoteFlags,
    verify_only: bool,
    progress: &Progress,
) -> anyhow::Result<i32> {
    handle_signals();
    // The config file is read once: a releases file (`releases:` / copy-quay's `entries:`) runs
    // entries (`--release NAME|all`); a plain one gives promotion fields under the flags.
    let plain = match &f.config {
        Some(path) => match verbs::releases::read_promote_config(path).map_err(usage_err)? {
            verbs::releases::PromoteConfig::Releases(cfg) => {
                return releases::promote_releases(f, path, &cfg, verify_only, progress).await
            }
            verbs::releases::PromoteConfig::Plain(text) => Some((path.clone(), text)),
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

/// `-q` was given: the results are the outcome line alone (set once, as the command line is read).
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A person reads stdout and stderr on a terminal (see [`run`]).
static PERSON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether a person reads the output on a terminal and no `-q` was given: the summary says the
/// causes, the log need not.
fn summary_says_causes() -> bool {
    PERSON.load(std::sync::atomic::Ordering::Relaxed) && !quiet()
}

/// Whether `-q` was given.
fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

/// Run the CLI; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let debug = matches!(&cli.command, Command::CopyQuay(a) if a.debug);
    // A person at a terminal (stdout and stderr both one, human logs) reads the summary, which
    // says each cause and every count: the log there is one step quieter (warnings and errors;
    // -v brings the engine's INFO lines) and does not repeat the causes.
    let person = cli.log_format == LogFormat::Human
        && std::io::stderr().is_terminal()
        && std::io::stdout().is_terminal();
    // -q: warnings and errors (each cause one ERROR line), the outcome line alone on stdout, no
    // progress; -qq: errors only.
    let verbosity = match cli.quiet {
        0 => cli.verbose as i8 + debug as i8 - person as i8,
        q => -(q.min(2) as i8),
    };
    QUIET.store(cli.quiet > 0, std::sync::atomic::Ordering::Relaxed);
    PERSON.store(person, std::sync::atomic::Ordering::Relaxed);
    let json_logs = cli.log_format == LogFormat::Json;
    let progress = Progress::for_stderr(
        std::time::Duration::from_secs(if cli.quiet > 0 { 0 } else { cli.progress_interval }),
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
            Command::Promote(a) => promote_or_releases(&a, false, &progress).await,
            Command::Verify(a) => promote_or_releases(&a, true, &progress).await,
            Command::Tag(a) => promote::tag_cmd(&a).await,
            Command::Stage(a) => commands::stage_cmd(a, &progress).await,
            Command::Rollback(a) => promote::rollback_cmd(&a).await,
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
