//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};

/// Weir: a WebAssembly-pluggable OpenTelemetry gateway.
#[derive(Debug, Parser)]
#[command(name = "weir", version, about)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the gateway (on the embedded default config when --config is not given).
    Run(RunArgs),
    /// Check a config file and exit: 0 when valid, 1 with every problem listed otherwise.
    Validate(ValidateArgs),
}

#[derive(Debug, ClapArgs)]
pub(crate) struct RunArgs {
    /// The TOML config. Without it Weir runs its embedded default: OTLP on 127.0.0.1:4317 (gRPC)
    /// and 127.0.0.1:4318 (HTTP) into the debug exporter.
    #[arg(long, short, env = "WEIR_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct ValidateArgs {
    /// The TOML config to check.
    #[arg(long, short)]
    pub config: PathBuf,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct LogArgs {
    /// Log filter: a level (error, warn, info, debug, trace) or a tracing directive such as
    /// "info,weir_export=debug". WEIR_LOG overrides it.
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// Log line format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "WEIR_LOG_FORMAT")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}
