//! Log setup shared by the CLI: human-readable lines by default, JSON lines with `--log-format json`,
//! verbosity from `-v`/`-q` (or `RUST_LOG`). Logs go to stderr so stdout stays for results, through
//! the run's scrubber ([`crate::scrub::scrub`]): a log line quoting what a registry answered must not
//! show a credential it echoed, and through the run's [`Progress`] handle, which prints it above the
//! progress bar when one is drawn. Also the run's warnings for people ([`warn_once`]): logged once
//! each and kept for the module's `warnings`, whichever layer gives them.

use tracing_subscriber::EnvFilter;

use crate::progress::Progress;

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// Colour only for a person at a terminal: never in a redirected stderr (CI logs, files), never with
/// `NO_COLOR` set (no-color.org).
fn colour() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Install the global subscriber. `verbosity`: 0 = info, 1 = debug, 2+ = trace, negative = warn/error.
/// Log lines are written through `progress` ([`Progress::none`] when nothing is drawn).
pub fn init(format: LogFormat, verbosity: i8, progress: Progress) {
    let level = match verbosity {
        i8::MIN..=-2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("COPY_CONTAINERS_LOG").unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "copy_containers={level},copy_containers_testkit={level},warn"
        ))
    });
    // A person at a terminal reads human logs: the time of day only (`04:37:52`, UTC), and lines
    // wrapped at its width. In a file or a pipe, full timestamps and whole lines.
    let width = match format {
        LogFormat::Human => crate::terminal::stderr_columns(),
        LogFormat::Json => None,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour())
        .with_writer(move || ScrubbedStderr(progress.clone(), width));
    let _ = match format {
        LogFormat::Human if width.is_some() => builder.with_target(false).with_timer(TimeOfDay).try_init(),
        LogFormat::Human => builder.with_target(false).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}

/// The time of day in UTC, to the second: what a person at a terminal needs to tell steps apart
/// and to match a line with the report's time.
struct TimeOfDay;

impl tracing_subscriber::fmt::time::FormatTime for TimeOfDay {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            % 86_400;
        write!(w, "{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    }
}

/// stderr, each write scrubbed, and wrapped at the terminal's width when it is one. The formatter
/// writes one event per `write_all`, so a secret is never split across two writes (and a line
/// never across a redraw of the bar).
struct ScrubbedStderr(Progress, Option<usize>);

impl std::io::Write for ScrubbedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut clean = crate::scrub::scrub(&String::from_utf8_lossy(buf), &[]);
        if let Some(width) = self.1 {
            let mut wrapped = String::with_capacity(clean.len() + 16);
            for line in clean.lines() {
                for part in crate::terminal::wrap(line, width) {
                    wrapped.push_str(&part);
                    wrapped.push('\n');
                }
            }
            clean = wrapped;
        }
        self.0.write_log(clean.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Warnings for people given during this run (each once), for the module's `warnings`.
static WARNINGS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Log a warning once per run (the same text again is dropped) and keep it for the module's
/// `warnings`, which Ansible shows.
pub fn warn_once(msg: &str) {
    let mut w = WARNINGS.lock().unwrap_or_else(|p| p.into_inner());
    if !w.iter().any(|x| x == msg) {
        w.push(msg.to_string());
        tracing::warn!("{msg}");
    }
}

/// The warnings given so far in this run.
pub fn warnings() -> Vec<String> {
    WARNINGS.lock().unwrap_or_else(|p| p.into_inner()).clone()
}
