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
    /// Convert an OpenTelemetry Collector config (YAML) into a Weir config (TOML, on stdout or
    /// --output). Exit 0 when everything converted, 3 when some settings did not (they are kept
    /// in the output as NOT CONVERTED comments and listed on stderr), 1 when the file cannot be
    /// read or is not a Collector config.
    Convert(ConvertArgs),
    /// Compare tail-sampling policy configurations on a synthetic or recorded workload.
    Lab(LabArgs),
    /// Work with plugin files.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum PluginCommand {
    /// Say which Weir world(s) a component implements, against which WIT version, and which
    /// imports (capabilities) it asks for; exit 1 if Weir would refuse it.
    Check {
        /// The component file (.wasm).
        file: PathBuf,
    },
    /// Create a ready-to-build plugin project (a README, a sample fixture, the command that tests
    /// it).
    New {
        /// The plugin's name: lower-case letters, digits, `-` and `_`.
        name: String,
        /// The language.
        #[arg(long, value_enum, default_value_t = Lang::Rust)]
        lang: Lang,
        /// The plugin kind.
        #[arg(long, value_enum, default_value_t = Kind::Processor)]
        kind: Kind,
        /// Where to create it (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Weir's plugin SDK (`plugins/sdk`; default: the source tree this weir was built from).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Run a plugin through the real host on an OTLP/JSON export request and print the result
    /// (a processor's output batch, a sampler's verdict), or compare it with --expect. The
    /// plugin's log lines and the time per batch go to stderr.
    Test {
        /// The component file (.wasm).
        file: PathBuf,
        /// An OTLP/JSON export request (traces, metrics or logs; one trace for a sampler).
        #[arg(long, short)]
        input: PathBuf,
        /// The expected output (OTLP/JSON, or `{"decision": …, "reason": …}` for a sampler);
        /// exit 1 with a diff when it differs.
        #[arg(long, short)]
        expect: Option<PathBuf>,
        /// The plugin's config: a TOML table (`.toml`) or a JSON object.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Also time the plugin: load it again (its compiled code now in the cache: read,
        /// link, instantiate, init) and run N more calls on copies of the input; the numbers
        /// go to stderr.
        #[arg(long, value_name = "N", default_value_t = 0)]
        repeat: usize,
    },
}

#[derive(Debug, ClapArgs)]
pub(crate) struct LabArgs {
    /// A scenario (`.toml`) or a recording: OTLP JSON lines from the `file` exporter, or an
    /// OTLP protobuf file.
    #[arg(long, short)]
    pub workload: PathBuf,
    /// A file with one or more `[samplers.<name>]` tables (a gateway config works too); repeat
    /// to compare files.
    #[arg(long, short, required = true)]
    pub policies: Vec<PathBuf>,
    /// Where report.json and report.html go.
    #[arg(long, short, default_value = "weir-lab-report")]
    pub out: PathBuf,
    /// Traces longer than this count as slow (default: the workload's p99 duration).
    #[arg(long, value_parser = parse_duration)]
    pub slow_threshold: Option<LabDuration>,
    /// Leave wall-clock numbers out of the report, so that the same seed gives a byte-identical
    /// report.json.
    #[arg(long)]
    pub no_timing: bool,
}

/// A duration argument such as `500ms`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LabDuration(pub std::time::Duration);

fn parse_duration(s: &str) -> Result<LabDuration, String> {
    humantime::parse_duration(s)
        .map(LabDuration)
        .map_err(|e| format!("invalid duration \"{s}\": {e} (write e.g. \"500ms\", \"2s\")"))
}

#[derive(Debug, ClapArgs)]
pub(crate) struct RunArgs {
    /// The TOML config. Without it Weir runs its embedded default: OTLP on 127.0.0.1:4317 (gRPC)
    /// and 127.0.0.1:4318 (HTTP) into the debug exporter.
    #[arg(long, short, env = "WEIR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the embedded default's OTLP/gRPC receiver listens (default 127.0.0.1:4317, or
    /// WEIR_GRPC). A config file sets its own addresses.
    #[arg(long, value_name = "ADDR")]
    pub grpc: Option<std::net::SocketAddr>,
    /// Where the embedded default's OTLP/HTTP receiver listens (default 127.0.0.1:4318, or
    /// WEIR_HTTP).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<std::net::SocketAddr>,
    /// Where the embedded default's admin listener (/metrics, /readyz) listens (default
    /// 127.0.0.1:8888, or WEIR_ADMIN).
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub log: LogArgs,
}

impl RunArgs {
    /// The listener flags given, by name (they apply to the embedded default only).
    pub(crate) fn listener_flags(&self) -> Vec<&'static str> {
        [
            ("--grpc", self.grpc.is_some()),
            ("--http", self.http.is_some()),
            ("--admin", self.admin.is_some()),
        ]
        .into_iter()
        .filter_map(|(f, set)| set.then_some(f))
        .collect()
    }
}

#[derive(Debug, ClapArgs)]
pub(crate) struct ValidateArgs {
    /// The TOML config to check.
    #[arg(long, short)]
    pub config: PathBuf,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct ConvertArgs {
    /// The Collector config (`otelcol.yaml`).
    pub file: PathBuf,
    /// Write the Weir config here instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
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

/// A plugin language `weir plugin new` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Lang {
    /// Rust, with Weir's SDK.
    Rust,
    /// Python, with componentize-py.
    Python,
    /// JavaScript, with componentize-js.
    Js,
    /// C, with clang and wit-bindgen.
    C,
}

/// A plugin kind (a world of wit/).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Kind {
    /// Transforms batches.
    Processor,
    /// A tail-sampling policy.
    Sampler,
    /// Sends batches to a backend.
    Exporter,
}

impl Kind {
    /// The flag's spelling.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Processor => "processor",
            Kind::Sampler => "sampler",
            Kind::Exporter => "exporter",
        }
    }
}
