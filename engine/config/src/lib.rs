//! Weir's config: TOML shaped like the OpenTelemetry Collector's, read into typed tables,
//! `${VAR}`-expanded, and validated without I/O. Every error names the file, line, column and key.
//!
//! ```toml
//! [receivers.otlp]
//! grpc = "127.0.0.1:4317"
//! http = "127.0.0.1:4318"
//!
//! [exporters.backend]
//! type = "otlp-grpc"
//! endpoint = "http://127.0.0.1:14317"
//!
//! [pipelines.traces]
//! receivers = ["otlp"]
//! exporters = ["backend"]
//! ```

mod collector;
mod components;
mod connections;
mod env;
mod error;
mod exporter_config;
mod exporters;
mod pipelines;
mod raw;
mod risks;
mod samplers;
pub mod schema;
mod security;
mod units;
mod validate;

use std::collections::BTreeMap;
use std::path::Path;

use toml::Spanned;
use weir_core::Signal;

pub use collector::{component_hint, key_hint};
pub use components::{
    AdminConfig, Compression, FsyncMode, GrantsConfig, GrpcServerConfig, HttpServerConfig,
    JaegerSamplingConfig, OnError, ProcessorConfig, QueueConfig, QueueStorage, ReceiverConfig,
    ReceiverKind, RetryConfig, SelfTestConfig, ServiceConfig, Verbosity,
};
pub use connections::ConnectionConfig;
pub use error::{ConfigError, Diagnostic};
pub use exporter_config::{
    DEFAULT_EXPORT_TIMEOUT, DebugExporter, ExporterConfig, ExporterKind, ExporterTable,
    FileExporter, OtlpExporter, PluginExporter,
};
pub use pipelines::{AckMode, BatchConfig, PipelineGroup, PipelineSpec};
pub use samplers::{
    BUILTIN_POLICY_TYPES, DecisionCacheConfig, HOST_POLICY_TYPES, PolicyConfig, PolicyFallback,
    SamplerConfig, ShutdownConfig,
};
pub use security::{AuthConfig, BasicAuthConfig, ClientTlsConfig, ServerTlsConfig, TlsVersion};
pub use units::{ByteSize, ListenAddr, Seconds, Timeout};

/// The config Weir runs when `weir run` is given no `--config`: OTLP on the standard ports into
/// the debug exporter, one summary line per batch.
pub const EMBEDDED_DEFAULT: &str = include_str!("default.toml");

/// The file name used in messages about [`EMBEDDED_DEFAULT`].
pub const EMBEDDED_NAME: &str = "<embedded default>";

/// The whole file as written, before cross-table validation (read entry by entry, see
/// [`raw::read`]).
#[derive(Debug, Default)]
struct RawConfig {
    admin: AdminConfig,
    service: ServiceConfig,
    receivers: BTreeMap<Spanned<String>, Spanned<ReceiverConfig>>,
    processors: BTreeMap<Spanned<String>, Spanned<ProcessorConfig>>,
    samplers: BTreeMap<Spanned<String>, Spanned<SamplerConfig>>,
    exporters: BTreeMap<Spanned<String>, Spanned<ExporterTable>>,
    pipelines: BTreeMap<Spanned<String>, Spanned<PipelineGroup>>,
}

/// A validated config, ready to build the runtime from.
#[derive(Debug, Clone)]
pub struct Config {
    /// The admin listener.
    pub admin: AdminConfig,
    /// Process-wide settings.
    pub service: ServiceConfig,
    /// Receivers by name.
    pub receivers: BTreeMap<String, ReceiverConfig>,
    /// Processors by name.
    pub processors: BTreeMap<String, ProcessorConfig>,
    /// Tail samplers by name (listed in a traces pipeline's `processors`).
    pub samplers: BTreeMap<String, SamplerConfig>,
    /// Exporters by name.
    pub exporters: BTreeMap<String, ExporterConfig>,
    /// Every pipeline, named pipelines included, in file order of their signal and name.
    pub pipelines: Vec<Pipeline>,
    /// The file name and expanded text, to locate errors found after validation.
    source: (String, String),
}

/// One step of a path into the config document, for [`Config::locate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathStep<'a> {
    /// A table key.
    Key(&'a str),
    /// An array index.
    Index(usize),
}

/// One resolved pipeline: every name it lists exists.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    /// `traces`, or `traces/internal` for `[pipelines.traces.internal]`.
    pub id: String,
    /// The signal it carries.
    pub signal: Signal,
    /// Receiver names.
    pub receivers: Vec<String>,
    /// Processor names, in order; a traces pipeline may list one sampler among them.
    pub processors: Vec<String>,
    /// Exporter names.
    pub exporters: Vec<String>,
    /// Batching.
    pub batch: BatchConfig,
    /// Input queue capacity in requests.
    pub queue_size: usize,
    /// When receivers answer requests for this pipeline.
    pub ack: AckMode,
}

impl Config {
    /// A diagnostic at a position of this config's file (a span from one of its `Spanned`
    /// fields), for errors found while building the runtime, such as an unknown plugin.
    pub fn diagnostic(
        &self,
        span: std::ops::Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Diagnostic {
        let src = error::Source {
            name: &self.source.0,
            text: &self.source.1,
        };
        src.at(span, key, message)
    }

    /// The span of the value at `path` (table keys and array indices from the document root)
    /// in this config's text, and how many steps of `path` were found: if only a prefix exists,
    /// the span is the deepest value that does. `None` if not even the first step exists. Used
    /// to point a plugin's complaint about its `config` (e.g. `detectors[1]`) at its line.
    pub fn locate(&self, path: &[PathStep<'_>]) -> Option<(std::ops::Range<usize>, usize)> {
        use toml::de::{DeTable, DeValue};
        let doc = DeTable::parse(&self.source.1).ok()?;
        let mut found: Option<(std::ops::Range<usize>, usize)> = None;
        let mut table: Option<&DeTable<'_>> = Some(doc.get_ref());
        let mut array: Option<&[toml::Spanned<DeValue<'_>>]> = None;
        for (depth, step) in path.iter().enumerate() {
            let next = match (step, table, array) {
                (PathStep::Key(k), Some(t), _) => {
                    t.iter().find(|(key, _)| key.get_ref() == k).map(|(_, v)| v)
                }
                (PathStep::Index(i), _, Some(a)) => a.get(*i),
                _ => None,
            };
            let Some(v) = next else { break };
            found = Some((v.span(), depth + 1));
            (table, array) = match v.get_ref() {
                DeValue::Table(t) => (Some(t), None),
                DeValue::Array(a) => (None, Some(a.as_ref())),
                _ => (None, None),
            };
        }
        found
    }

    /// Resolves a path written in this config: relative paths are taken from the directory of
    /// the config file (the working directory for the embedded default).
    pub fn resolve_path(&self, path: &str) -> std::path::PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            return p.to_path_buf();
        }
        let file = Path::new(&self.source.0);
        match file.parent() {
            Some(dir) if file.is_file() => dir.join(p),
            _ => p.to_path_buf(),
        }
    }

    /// Reads and validates the file at `path`, expanding `${VAR}` from the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.display().to_string(),
            error,
        })?;
        Config::parse(&path.display().to_string(), &text, &|k| {
            std::env::var(k).ok()
        })
    }

    /// The embedded default config.
    pub fn embedded_default() -> Result<Config, ConfigError> {
        Config::embedded_default_with(&|k| std::env::var(k).ok())
    }

    /// The embedded default with its listen addresses looked up in `lookup` (`WEIR_GRPC`,
    /// `WEIR_HTTP`, `WEIR_ADMIN`; unset ones keep 127.0.0.1:4317, :4318 and :8888): what
    /// `weir run --grpc/--http/--admin` and the environment change.
    pub fn embedded_default_with(
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Config::parse(EMBEDDED_NAME, EMBEDDED_DEFAULT, lookup)
    }

    /// Parses and validates `text`; `name` is used in messages, `lookup` resolves `${VAR}`.
    pub fn parse(
        name: &str,
        text: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        match Config::parse_partial(name, text, lookup)? {
            (config, diags) if diags.is_empty() => Ok(config),
            (_, diags) => Err(ConfigError::Invalid(diags)),
        }
    }

    /// Reads and validates the file at `path` as far as it goes: see [`Config::parse_partial`].
    pub fn load_partial(path: &Path) -> Result<(Config, Vec<Diagnostic>), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.display().to_string(),
            error,
        })?;
        Config::parse_partial(&path.display().to_string(), &text, &|k| {
            std::env::var(k).ok()
        })
    }

    /// Parses `text` and returns the config made of the components that are valid, with every
    /// problem found; an error only when nothing can be read (a TOML syntax error, an unset
    /// variable). `weir validate` uses it to check the plugins of the valid components too, so
    /// one run reports every independent problem; a config with problems must not be run.
    pub fn parse_partial(
        name: &str,
        text: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Config, Vec<Diagnostic>), ConfigError> {
        let original = error::Source { name, text };
        let expanded = env::expand(&original, lookup).map_err(ConfigError::Invalid)?;
        // Expansion keeps line breaks, so lines still match the file; columns after an expanded
        // reference on the same line may shift.
        let src = error::Source {
            name,
            text: &expanded,
        };
        let (raw, broken, read_errors) =
            raw::read(&src).map_err(|d| ConfigError::Invalid(vec![d]))?;
        let (mut config, diags) = validate::validate(&src, raw, &broken, read_errors);
        config.source = (name.to_string(), expanded);
        Ok((config, diags))
    }
}

#[cfg(test)]
mod tests;
