//! The `[admin]`, `[service]`, `[receivers.*]`, `[processors.*]` and `[exporters.*]` tables.
//!
//! Every field's doc comment is its user documentation; defaults are written once, here.

use std::fmt;
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use toml::Spanned;
use weir_core::FailurePolicy;

use crate::connections::ConnectionConfig;
use crate::security::{AuthConfig, ServerTlsConfig};
use crate::units::{ByteSize, ListenAddr, Seconds, Timeout};

/// `[admin]`: the operations listener with `/healthz`, `/readyz` and `/metrics`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Where the admin HTTP listener binds. Default `127.0.0.1:8888`.
    #[serde(default = "default_admin_listen")]
    pub listen: ListenAddr,
    /// Serve Jaeger remote sampling (`GET /sampling?service=NAME`) from a strategies file.
    pub jaeger_sampling: Option<JaegerSamplingConfig>,
    /// Connection limits and timeouts.
    #[serde(default)]
    pub connections: ConnectionConfig,
    /// Serve the admin API over TLS (and with `client_ca_file`, only to clients with a
    /// certificate).
    pub tls: Option<ServerTlsConfig>,
    /// A token that requests which change state (`POST /-/reload`) must send as
    /// `Authorization: Bearer <token>`; write it as `"${WEIR_ADMIN_TOKEN}"` to keep it out of
    /// the file. Without it, anyone who reaches the admin listener can reload Weir (a warning
    /// at start when the listener is not on loopback).
    pub bearer_token: Option<Spanned<String>>,
    /// Require the token for every endpoint, `/metrics`, `/healthz` and `/readyz` included.
    /// Default false: those stay open for probes and scrapers.
    pub token_for_reads: Option<Spanned<bool>>,
}

impl AdminConfig {
    /// True when `token_for_reads = true`.
    pub fn token_for_reads(&self) -> bool {
        self.token_for_reads.as_ref().is_some_and(|t| *t.get_ref())
    }
}

/// `[admin.jaeger_sampling]`: head-sampling strategies for Jaeger clients and SDKs with a remote
/// sampler, from a file in Jaeger's strategies format, reloaded when it changes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JaegerSamplingConfig {
    /// The strategies file (relative to the config file's directory).
    pub file: String,
    /// How often the file is checked for changes. Default `"10s"`.
    #[serde(default = "default_reload_interval")]
    pub reload_interval: Seconds,
}

fn default_reload_interval() -> Seconds {
    Seconds(Duration::from_secs(10))
}

fn default_admin_listen() -> ListenAddr {
    ListenAddr(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8888))
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: default_admin_listen(),
            jaeger_sampling: None,
            connections: ConnectionConfig::default(),
            tls: None,
            bearer_token: None,
            token_for_reads: None,
        }
    }
}

/// `[service]`: process-wide settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// How long a SIGTERM/SIGINT shutdown may spend draining queues and retrying exports before
    /// what is left is dropped (and counted). Default `"30s"`.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout: Seconds,
    /// Watch plugin files and reload those that changed (as on SIGHUP) this long after the last
    /// change; `"0s"` (the default) reloads them only on SIGHUP and `POST /-/reload`.
    #[serde(default = "default_watch")]
    pub watch_plugins: Seconds,
    /// Watch the config file and reload it (as on SIGHUP) this long after it last changed;
    /// `"0s"` (the default) reloads it only on SIGHUP and `POST /-/reload`.
    #[serde(default = "default_watch")]
    pub watch_config: Seconds,
    /// Watch files by checking them every `watch_plugins` / `watch_config` instead of through
    /// the operating system's file events, for file systems whose events are unreliable
    /// (network and some container mounts). Weir falls back to it when events are unavailable.
    #[serde(default)]
    pub watch_poll: bool,
    /// The resident memory Weir must stay under: above `memory_limit - memory_spike` (the soft
    /// limit) receivers refuse new data with retryable statuses until it falls again.
    #[serde(default)]
    pub memory_limit: Option<Spanned<ByteSize>>,
    /// Headroom below `memory_limit` for what arrives between two checks. Default 20% of the
    /// limit.
    #[serde(default)]
    pub memory_spike: Option<Spanned<ByteSize>>,
    /// Write Weir's own metrics (the `/metrics` text) to the log as the last thing before
    /// exiting, so that what a shutdown counted is not lost with the process. Default false.
    #[serde(default)]
    pub log_final_metrics: bool,
}

impl ServiceConfig {
    /// The memory limiter's (soft, hard) limits in bytes, when `memory_limit` is set.
    pub fn memory_limits(&self) -> Option<(u64, u64)> {
        let hard = self.memory_limit.as_ref()?.get_ref().0;
        let spike = self
            .memory_spike
            .as_ref()
            .map_or(hard / 5, |s| s.get_ref().0);
        Some((hard.saturating_sub(spike), hard))
    }
}

fn default_watch() -> Seconds {
    Seconds(Duration::ZERO)
}

fn default_shutdown_timeout() -> Seconds {
    Seconds(Duration::from_secs(30))
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            shutdown_timeout: default_shutdown_timeout(),
            watch_plugins: default_watch(),
            watch_config: default_watch(),
            watch_poll: false,
            memory_limit: None,
            memory_spike: None,
            log_final_metrics: false,
        }
    }
}

/// `[receivers.<name>]`: an OTLP receiver with a gRPC and/or an HTTP listener.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    /// The receiver type. Only `"otlp"` exists, and it is the default.
    #[serde(default)]
    pub r#type: ReceiverKind,
    /// OTLP/gRPC listener: an address (`"127.0.0.1:4317"`) or a table with `endpoint` and
    /// `max_recv_msg_size`.
    #[serde(default, deserialize_with = "string_or_table")]
    pub grpc: Option<GrpcServerConfig>,
    /// OTLP/HTTP listener: an address (`"127.0.0.1:4318"`) or a table with `endpoint`,
    /// `max_request_body_size` and `cors_allowed_origins`.
    #[serde(default, deserialize_with = "string_or_table")]
    pub http: Option<HttpServerConfig>,
    /// Serve both listeners over TLS; with `client_ca_file`, clients need a certificate (mTLS).
    pub tls: Option<Spanned<ServerTlsConfig>>,
    /// Require credentials (bearer tokens or HTTP basic) on every request.
    pub auth: Option<Spanned<AuthConfig>>,
    /// Set this resource attribute on everything received to the authenticated tenant (the
    /// token's tenant, the basic-auth user, or the common name of the mTLS client
    /// certificate), replacing what the client sent, so processors and routing can tell
    /// tenants apart. Needs `auth` or `tls.client_ca_file`.
    pub tenant_attribute: Option<Spanned<String>>,
}

/// Receiver types.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReceiverKind {
    /// OTLP over gRPC and HTTP.
    #[default]
    Otlp,
}

/// The gRPC side of an OTLP receiver.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcServerConfig {
    /// Listen address. Port 0 picks a free port.
    pub endpoint: ListenAddr,
    /// Largest accepted message, measured after decompression. Default `"4MiB"`.
    #[serde(default = "default_grpc_max")]
    pub max_recv_msg_size: ByteSize,
    /// Connection limits and timeouts.
    #[serde(default)]
    pub connections: ConnectionConfig,
}

fn default_grpc_max() -> ByteSize {
    ByteSize(4 << 20)
}

impl FromStr for GrpcServerConfig {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(GrpcServerConfig {
            endpoint: s.parse()?,
            max_recv_msg_size: default_grpc_max(),
            connections: ConnectionConfig::default(),
        })
    }
}

/// The HTTP side of an OTLP receiver (`/v1/traces`, `/v1/metrics`, `/v1/logs`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    /// Listen address. Port 0 picks a free port.
    pub endpoint: ListenAddr,
    /// Largest accepted body, measured after decompression; larger requests get 413.
    /// Default `"20MiB"`.
    #[serde(default = "default_http_max")]
    pub max_request_body_size: ByteSize,
    /// Origins allowed to send from a browser (CORS). Empty (the default) turns CORS off;
    /// `"*"` allows any origin.
    #[serde(default)]
    pub cors_allowed_origins: Vec<String>,
    /// Connection limits and timeouts.
    #[serde(default)]
    pub connections: ConnectionConfig,
}

fn default_http_max() -> ByteSize {
    ByteSize(20 << 20)
}

impl FromStr for HttpServerConfig {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(HttpServerConfig {
            endpoint: s.parse()?,
            max_request_body_size: default_http_max(),
            cors_allowed_origins: Vec::new(),
            connections: ConnectionConfig::default(),
        })
    }
}

/// Reads `Some(T)` from either a string (parsed with `FromStr`) or a table, keeping the inner
/// error messages and their positions.
fn string_or_table<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + FromStr<Err = String>,
{
    struct V<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de> + FromStr<Err = String>> Visitor<'de> for V<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an address string or a table")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<T>, E> {
            v.parse().map(Some).map_err(E::custom)
        }
        fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Option<T>, M::Error> {
            T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }
    d.deserialize_any(V(PhantomData))
}

/// `[processors.<name>]`: a processing stage (a Wasm plugin, or a `builtin:` one).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessorConfig {
    /// `builtin:<name>` for a plugin shipped inside Weir, or a path to a component file.
    pub plugin: Spanned<String>,
    /// What happens to a batch when the plugin fails: `"pass"` hands it on unchanged, `"drop"`
    /// drops it and counts it, `"refuse"` refuses it upstream when possible. Unset: the
    /// plugin's default ([`ProcessorConfig::failure_policy`]).
    #[serde(default)]
    pub on_error: Option<OnError>,
    /// Handed to the plugin's `init` as JSON.
    #[serde(default)]
    pub config: toml::Table,
    /// Wall-clock budget of one plugin call, `base + per_item × items` (default 100ms + 50µs
    /// per item); a call past it is interrupted and gets `on_error`.
    #[serde(default)]
    pub timeout: Timeout,
    /// Linear-memory cap of one plugin instance (at most 1GiB).
    #[serde(default = "default_plugin_memory")]
    pub memory_limit: ByteSize,
    /// Capabilities beyond the default sandbox (no clocks, no environment, no files, no
    /// sockets).
    #[serde(default)]
    pub grants: GrantsConfig,
    /// A fixture every new version of the plugin must pass before it runs: at start, on a
    /// plugin reload and on a config reload.
    #[serde(default)]
    pub self_test: Option<Spanned<SelfTestConfig>>,
}

/// `[processors.<name>.self_test]`: the plugin's output on `input` must equal `expect`, as in
/// `weir plugin test --input … --expect …`. Paths are relative to the config file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelfTestConfig {
    /// An OTLP JSON request (traces, metrics or logs).
    pub input: String,
    /// The OTLP JSON the plugin must turn it into.
    pub expect: String,
}

impl ProcessorConfig {
    /// The failure policy: `on_error` if set, else `refuse` for `builtin:redact` (failing open
    /// would pass secrets on unredacted; refusing makes the client retry rather than losing the
    /// data) and `pass` for every other plugin.
    pub fn failure_policy(&self) -> FailurePolicy {
        match self.on_error {
            Some(o) => o.into(),
            None if self.plugin.get_ref() == "builtin:redact" => FailurePolicy::Refuse,
            None => FailurePolicy::Pass,
        }
    }
}

pub(crate) fn default_plugin_memory() -> ByteSize {
    ByteSize(64 << 20)
}

/// `[processors.<name>.grants]`: what a plugin may use beyond the default sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantsConfig {
    /// Real wall and monotonic clocks (otherwise both read zero).
    #[serde(default)]
    pub clocks: bool,
    /// Names of Weir's environment variables the plugin may read.
    #[serde(default)]
    pub env: Vec<String>,
}

/// The config spelling of [`FailurePolicy`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnError {
    /// See [`FailurePolicy::Pass`].
    #[default]
    Pass,
    /// See [`FailurePolicy::Drop`].
    Drop,
    /// See [`FailurePolicy::Refuse`].
    Refuse,
}

impl From<OnError> for FailurePolicy {
    fn from(o: OnError) -> Self {
        match o {
            OnError::Pass => FailurePolicy::Pass,
            OnError::Drop => FailurePolicy::Drop,
            OnError::Refuse => FailurePolicy::Refuse,
        }
    }
}

/// Request compression of the OTLP exporters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compression {
    /// gzip (the default, as in the Collector).
    #[default]
    Gzip,
    /// zstd.
    Zstd,
    /// No compression.
    None,
}

/// How much the debug exporter prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verbosity {
    /// One summary line per batch.
    #[default]
    Basic,
    /// The whole batch as OTLP JSON.
    Detailed,
}

/// `sending_queue`: the bounded queue of one exporter and its senders.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Batches the queue holds. When it is full the pipeline waits, its own queue fills, and
    /// receivers refuse new data with a retryable status. Default 1000.
    #[serde(default = "default_queue_size")]
    pub queue_size: usize,
    /// Concurrent senders draining the queue. Default 10.
    #[serde(default = "default_num_consumers")]
    pub num_consumers: usize,
    /// `memory` (default) or `disk`: a disk queue keeps batches in `dir` until they are
    /// delivered or given up on, across restarts and crashes.
    #[serde(default)]
    pub storage: QueueStorage,
    /// `disk`: the queue's directory (relative to the config file), one per exporter.
    #[serde(default)]
    pub dir: Option<Spanned<String>>,
    /// `disk`: the bytes the queue may take; when full, upstream is refused. Default 1GiB.
    #[serde(default = "default_disk_size")]
    pub max_size: ByteSize,
    /// `disk`: when writes are forced to the disk: `always`, `batch` (default), `never`.
    #[serde(default)]
    pub fsync: FsyncMode,
}

/// `sending_queue.storage`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QueueStorage {
    /// Bounded in batches, in memory: lost on a crash.
    #[default]
    Memory,
    /// Bounded in bytes, in `dir`: what is queued survives a crash and is sent after restart.
    Disk,
}

/// `sending_queue.fsync`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FsyncMode {
    /// Every write is synced before the batch counts as queued (survives power loss).
    Always,
    /// Synced at the first write 100 ms or more after the last sync, and at shutdown
    /// (survives a process crash).
    #[default]
    Batch,
    /// Left to the OS (survives a process crash).
    Never,
}

fn default_disk_size() -> ByteSize {
    ByteSize(1 << 30)
}

fn default_queue_size() -> usize {
    1000
}
fn default_num_consumers() -> usize {
    10
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            queue_size: default_queue_size(),
            num_consumers: default_num_consumers(),
            storage: QueueStorage::Memory,
            dir: None,
            max_size: default_disk_size(),
            fsync: FsyncMode::Batch,
        }
    }
}

/// `retry_on_failure`: exponential backoff with jitter for retryable failures, as the Collector's.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Retry at all. Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Wait before the first retry. Default `"5s"`.
    #[serde(default = "default_initial_interval")]
    pub initial_interval: Seconds,
    /// Longest wait between retries. Default `"30s"`.
    #[serde(default = "default_max_interval")]
    pub max_interval: Seconds,
    /// Give up (and count the items as dropped) after this long. Default `"300s"`.
    #[serde(default = "default_max_elapsed")]
    pub max_elapsed_time: Seconds,
    /// Growth of the wait per attempt. Default 1.5.
    #[serde(default = "default_multiplier")]
    pub multiplier: f64,
    /// Jitter: each wait is randomized by ± this fraction. Default 0.5.
    #[serde(default = "default_randomization")]
    pub randomization_factor: f64,
}

fn yes() -> bool {
    true
}
fn default_initial_interval() -> Seconds {
    Seconds(Duration::from_secs(5))
}
fn default_max_interval() -> Seconds {
    Seconds(Duration::from_secs(30))
}
fn default_max_elapsed() -> Seconds {
    Seconds(Duration::from_secs(300))
}
fn default_multiplier() -> f64 {
    1.5
}
fn default_randomization() -> f64 {
    0.5
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            enabled: true,
            initial_interval: default_initial_interval(),
            max_interval: default_max_interval(),
            max_elapsed_time: default_max_elapsed(),
            multiplier: default_multiplier(),
            randomization_factor: default_randomization(),
        }
    }
}
