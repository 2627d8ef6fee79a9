//! Structured logs on stderr via `tracing` (stdout belongs to the debug exporter).

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::args::{LogArgs, LogFormat};

/// Installs the global subscriber.
pub(crate) fn init(args: &LogArgs) -> anyhow::Result<()> {
    let directive = std::env::var("WEIR_LOG").unwrap_or_else(|_| args.log_level.clone());
    let filter = EnvFilter::try_new(&directive)
        .with_context(|| format!("invalid log level {directive:?}"))?;
    // Colour only for a person at a terminal, and never with NO_COLOR set (no-color.org):
    // a log file or a collector must not get escape codes.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let installed = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}
