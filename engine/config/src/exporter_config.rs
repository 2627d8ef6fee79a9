//! `[exporters.<name>]`: the table as written ([`ExporterTable`], one flat set of keys that
//! validation checks against its `type`) and what the gateway runs from ([`ExporterConfig`], one
//! variant per type, each with only its own settings and its defaults filled in).
//!
//! The table is read flat because a `type`-tagged serde enum buffers the table and loses the
//! positions that errors point at; [`crate::schema::EXPORTER_KEYS`] plays `deny_unknown_fields`
//! for each type, with a message naming the types that do take a key.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::components::{
    Compression, GrantsConfig, QueueConfig, RetryConfig, Verbosity, default_plugin_memory,
};
use crate::security::ClientTlsConfig;
use crate::units::{ByteSize, Seconds};

/// An exporter's time limit of one attempt when `timeout` is not set.
pub const DEFAULT_EXPORT_TIMEOUT: Seconds = Seconds(std::time::Duration::from_secs(5));

/// `[exporters.<name>]` as written: every key any exporter type takes. Validation refuses the
/// keys its `type` does not take and turns it into an [`ExporterConfig`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExporterTable {
    /// `"otlp-grpc"`, `"otlp-http"`, `"debug"`, `"file"` or `"plugin"`.
    pub r#type: ExporterKind,
    /// otlp-grpc / otlp-http: the backend URL, e.g. `"http://127.0.0.1:4317"`. For otlp-http,
    /// `/v1/traces`, `/v1/metrics` or `/v1/logs` is appended, as the Collector does.
    pub endpoint: Option<Spanned<String>>,
    /// otlp-*: `"gzip"` (default), `"zstd"` or `"none"`.
    pub compression: Option<Spanned<Compression>>,
    /// otlp-*: time limit of one export attempt. Default `"5s"`.
    pub timeout: Option<Spanned<Seconds>>,
    /// otlp-*: extra headers (gRPC metadata) on every request, e.g. an API key.
    pub headers: Option<Spanned<BTreeMap<String, String>>>,
    /// debug: `"basic"` (default; a one-line summary per batch) or `"detailed"` (the batch as
    /// OTLP JSON).
    pub verbosity: Option<Spanned<Verbosity>>,
    /// file: the file that receives one OTLP JSON request per line (appended).
    pub path: Option<Spanned<String>>,
    /// The bounded queue in front of the senders.
    #[serde(default)]
    pub sending_queue: QueueConfig,
    /// Retries of failed exports (otlp-* and plugin).
    pub retry_on_failure: Option<Spanned<RetryConfig>>,
    /// plugin: `builtin:<name>` or the path of an exporter component.
    pub plugin: Option<Spanned<String>>,
    /// plugin: handed to the plugin's `init` as JSON.
    pub config: Option<toml::Table>,
    /// plugin: the hosts (`host:port`) its HTTP requests may go to; the host of a `config`
    /// `endpoint` URL is allowed too. Any other request is refused.
    pub allowed_hosts: Option<Spanned<Vec<String>>>,
    /// plugin: linear-memory cap of one instance. Default `"64MiB"`.
    pub memory_limit: Option<Spanned<ByteSize>>,
    /// plugin: capabilities beyond the sandbox (clocks, environment variables).
    pub grants: Option<GrantsConfig>,
    /// otlp-* and plugin: TLS settings for `https://` (trusted CA, client certificate). Without
    /// it, `https://` trusts the system's root certificates.
    pub tls: Option<Spanned<ClientTlsConfig>>,
}

/// Exporter types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExporterKind {
    /// OTLP over gRPC.
    OtlpGrpc,
    /// OTLP over HTTP, protobuf.
    OtlpHttp,
    /// Prints batches to stdout.
    Debug,
    /// Appends OTLP JSON lines to a file.
    File,
    /// A Wasm exporter plugin (`exporter` world).
    Plugin,
}

impl ExporterKind {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ExporterKind::OtlpGrpc => "otlp-grpc",
            ExporterKind::OtlpHttp => "otlp-http",
            ExporterKind::Debug => "debug",
            ExporterKind::File => "file",
            ExporterKind::Plugin => "plugin",
        }
    }

    /// True for the OTLP exporters.
    pub fn is_otlp(self) -> bool {
        matches!(self, ExporterKind::OtlpGrpc | ExporterKind::OtlpHttp)
    }
}

/// A validated `[exporters.<name>]`: one variant per `type`, holding only what that type takes,
/// with its defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub enum ExporterConfig {
    /// `type = "otlp-grpc"`: OTLP/gRPC to `endpoint`.
    OtlpGrpc(OtlpExporter),
    /// `type = "otlp-http"`: OTLP/HTTP protobuf to `endpoint` + `/v1/<signal>`.
    OtlpHttp(OtlpExporter),
    /// `type = "debug"`: batches printed to stdout.
    Debug(DebugExporter),
    /// `type = "file"`: OTLP JSON lines appended to `path`.
    File(FileExporter),
    /// `type = "plugin"`: a Wasm component of the `exporter` world.
    Plugin(PluginExporter),
}

/// The settings of an otlp-grpc or otlp-http exporter.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpExporter {
    /// The backend URL (`http://` or `https://`), as written; errors point at it.
    pub endpoint: Spanned<String>,
    /// Request compression (default gzip).
    pub compression: Compression,
    /// Time limit of one attempt (default 5 s).
    pub timeout: Seconds,
    /// Extra request headers / gRPC metadata.
    pub headers: BTreeMap<String, String>,
    /// Retries of failed attempts (default: on, the Collector's backoff).
    pub retry_on_failure: RetryConfig,
    /// Client TLS for an `https://` endpoint (without it: the system's roots).
    pub tls: Option<Spanned<ClientTlsConfig>>,
    /// The sending queue and its senders.
    pub sending_queue: QueueConfig,
}

/// The settings of a debug exporter.
#[derive(Debug, Clone, PartialEq)]
pub struct DebugExporter {
    /// One line per batch, or the batch as OTLP JSON.
    pub verbosity: Verbosity,
    /// The sending queue (drained by one sender, so lines keep their order).
    pub sending_queue: QueueConfig,
}

/// The settings of a file exporter.
#[derive(Debug, Clone, PartialEq)]
pub struct FileExporter {
    /// The file appended to, as written (relative to the working directory).
    pub path: Spanned<String>,
    /// The sending queue (drained by one sender, so lines keep their order).
    pub sending_queue: QueueConfig,
}

/// The settings of a Wasm exporter plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginExporter {
    /// `builtin:<name>` or the component's path, as written; errors point at it.
    pub plugin: Spanned<String>,
    /// Handed to the plugin's `init` as JSON.
    pub config: toml::Table,
    /// Time limit of one `send-batch` call, network included (default 5 s).
    pub timeout: Seconds,
    /// Retries of failed batches (default: on).
    pub retry_on_failure: RetryConfig,
    /// Hosts (`host:port`) its HTTP requests may go to, besides those of `config`'s endpoints.
    pub allowed_hosts: Vec<String>,
    /// Linear-memory cap of one instance (default 64 MiB).
    pub memory_limit: ByteSize,
    /// Environment variables it may read (exporters always get real clocks).
    pub grants: GrantsConfig,
    /// Client TLS for the `https://` hosts it reaches.
    pub tls: Option<Spanned<ClientTlsConfig>>,
    /// The sending queue and its senders.
    pub sending_queue: QueueConfig,
}

impl ExporterConfig {
    /// The exporter's `type`.
    pub fn kind(&self) -> ExporterKind {
        match self {
            ExporterConfig::OtlpGrpc(_) => ExporterKind::OtlpGrpc,
            ExporterConfig::OtlpHttp(_) => ExporterKind::OtlpHttp,
            ExporterConfig::Debug(_) => ExporterKind::Debug,
            ExporterConfig::File(_) => ExporterKind::File,
            ExporterConfig::Plugin(_) => ExporterKind::Plugin,
        }
    }

    /// The sending queue every type has.
    pub fn sending_queue(&self) -> &QueueConfig {
        match self {
            ExporterConfig::OtlpGrpc(o) | ExporterConfig::OtlpHttp(o) => &o.sending_queue,
            ExporterConfig::Debug(d) => &d.sending_queue,
            ExporterConfig::File(f) => &f.sending_queue,
            ExporterConfig::Plugin(p) => &p.sending_queue,
        }
    }

    /// The client TLS table, for the types that send over the network.
    pub fn tls(&self) -> Option<&Spanned<ClientTlsConfig>> {
        match self {
            ExporterConfig::OtlpGrpc(o) | ExporterConfig::OtlpHttp(o) => o.tls.as_ref(),
            ExporterConfig::Plugin(p) => p.tls.as_ref(),
            ExporterConfig::Debug(_) | ExporterConfig::File(_) => None,
        }
    }

    /// How failed sends are retried: as configured for the network types; a file write that
    /// failed (disk full) may clear up, so it gets the default backoff; stdout is not retried.
    pub fn retry(&self) -> RetryConfig {
        match self {
            ExporterConfig::OtlpGrpc(o) | ExporterConfig::OtlpHttp(o) => o.retry_on_failure.clone(),
            ExporterConfig::Plugin(p) => p.retry_on_failure.clone(),
            ExporterConfig::File(_) => RetryConfig::default(),
            ExporterConfig::Debug(_) => RetryConfig {
                enabled: false,
                ..RetryConfig::default()
            },
        }
    }

    /// Concurrent senders: as configured, but one for debug and file, whose lines keep the
    /// order batches arrived in.
    pub fn senders(&self) -> usize {
        match self {
            ExporterConfig::Debug(_) | ExporterConfig::File(_) => 1,
            _ => self.sending_queue().num_consumers.max(1),
        }
    }
}

impl ExporterTable {
    /// The typed exporter, or the key that its type needs and the table lacks (validation
    /// reports that first, so a validated table always converts).
    pub(crate) fn typed(self) -> Result<ExporterConfig, &'static str> {
        let t = self;
        let timeout = t
            .timeout
            .map_or(DEFAULT_EXPORT_TIMEOUT, Spanned::into_inner);
        let retry_on_failure = t
            .retry_on_failure
            .map(Spanned::into_inner)
            .unwrap_or_default();
        let otlp = |endpoint: Option<Spanned<String>>| -> Result<OtlpExporter, &'static str> {
            Ok(OtlpExporter {
                endpoint: endpoint.ok_or("endpoint")?,
                compression: t
                    .compression
                    .as_ref()
                    .map(|c| *c.get_ref())
                    .unwrap_or_default(),
                timeout,
                headers: t
                    .headers
                    .clone()
                    .map(Spanned::into_inner)
                    .unwrap_or_default(),
                retry_on_failure: retry_on_failure.clone(),
                tls: t.tls.clone(),
                sending_queue: t.sending_queue.clone(),
            })
        };
        Ok(match t.r#type {
            ExporterKind::OtlpGrpc => ExporterConfig::OtlpGrpc(otlp(t.endpoint.clone())?),
            ExporterKind::OtlpHttp => ExporterConfig::OtlpHttp(otlp(t.endpoint.clone())?),
            ExporterKind::Debug => ExporterConfig::Debug(DebugExporter {
                verbosity: t.verbosity.map(Spanned::into_inner).unwrap_or_default(),
                sending_queue: t.sending_queue,
            }),
            ExporterKind::File => ExporterConfig::File(FileExporter {
                path: t.path.ok_or("path")?,
                sending_queue: t.sending_queue,
            }),
            ExporterKind::Plugin => ExporterConfig::Plugin(PluginExporter {
                plugin: t.plugin.ok_or("plugin")?,
                config: t.config.unwrap_or_default(),
                timeout,
                retry_on_failure,
                allowed_hosts: t.allowed_hosts.map(Spanned::into_inner).unwrap_or_default(),
                memory_limit: t
                    .memory_limit
                    .map_or_else(default_plugin_memory, Spanned::into_inner),
                grants: t.grants.unwrap_or_default(),
                tls: t.tls,
                sending_queue: t.sending_queue,
            }),
        })
    }
}
