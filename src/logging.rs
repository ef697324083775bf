//! Log setup shared by the CLI: human-readable lines by default, JSON lines with `--log-format json`,
//! verbosity from `-v`/`-q` (or `RUST_LOG`). Logs go to stderr so stdout stays for results.

use tracing_subscriber::EnvFilter;

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
pub fn init(format: LogFormat, verbosity: i8) {
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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.with_target(false).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}
