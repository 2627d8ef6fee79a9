//! Native exporters and the machinery every exporter shares: a bounded sending queue, N
//! concurrent senders, exponential backoff with jitter on retryable failures (honouring the
//! backend's RetryInfo / Retry-After), and a counter for every item given up on.
//!
//! ```text
//! pipelines ─▶ sending queue (bounded) ─▶ sender 1..N ─▶ sink (otlp-grpc | otlp-http | debug | file)
//!                                             └── retry with backoff until max_elapsed_time, then drop (counted)
//! ```

mod attempt;
mod debug;
mod file;
mod grpc;
mod http;
mod retry;
mod settings;
mod worker;

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weir_config::{ExporterConfig, ExporterKind};
use weir_core::telemetry::Telemetry;
use weir_core::{Batch, QueueSender, Signal, batch_queue};

pub use attempt::Attempt;

/// An exporter implemented outside this crate, such as a Wasm exporter plugin: it sends one
/// batch and says how it went; queueing, retries and counting stay here. `send` blocks (it runs
/// on a blocking thread).
pub trait PluginSink: Send + Sync + 'static {
    /// Sends one batch once.
    fn send(&self, batch: Batch) -> Attempt;
}

/// Why an exporter could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The endpoint URL is unusable.
    #[error("exporter {exporter}: invalid endpoint {endpoint:?}: {reason}")]
    Endpoint {
        /// Exporter name.
        exporter: String,
        /// The URL as configured.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A configured header has an invalid name or value.
    #[error("exporter {exporter}: invalid header {header:?}: {reason}")]
    Header {
        /// Exporter name.
        exporter: String,
        /// Header name.
        header: String,
        /// What is wrong.
        reason: String,
    },
    /// The output file could not be opened.
    #[error("exporter {exporter}: cannot open {path}: {error}")]
    File {
        /// Exporter name.
        exporter: String,
        /// The path as configured.
        path: String,
        /// The I/O error; shown in the message, so not also a `source` (chains would print it twice).
        error: std::io::Error,
    },
    /// A required setting is missing (config validation normally catches this first).
    #[error("exporter {exporter}: {message}")]
    Config {
        /// Exporter name.
        exporter: String,
        /// What is missing.
        message: String,
    },
}

/// A started exporter: pipelines send into `queue`; `tasks` end once the queue is closed and
/// drained (or the abandon token fired).
pub struct RunningExporter {
    /// Clone one into every pipeline that lists this exporter.
    pub queue: QueueSender,
    /// The sender tasks.
    pub tasks: Vec<JoinHandle<()>>,
}

/// Builds the exporter `name` (of type `plugin`: around `plugin`) and starts its sender tasks. Firing `abandon` makes the senders
/// stop retrying and count whatever is left as dropped (the shutdown deadline).
pub fn start(
    name: &str,
    config: &ExporterConfig,
    plugin: Option<Arc<dyn PluginSink>>,
    telemetry: &Telemetry,
    abandon: CancellationToken,
) -> Result<RunningExporter, ExportError> {
    let sink = match config.r#type {
        ExporterKind::Plugin => {
            worker::Sink::Plugin(plugin.ok_or_else(|| ExportError::Config {
                exporter: name.to_string(),
                message: "its plugin was not loaded".into(),
            })?)
        }
        ExporterKind::OtlpGrpc => worker::Sink::Grpc(Box::new(grpc::GrpcSink::new(name, config)?)),
        ExporterKind::OtlpHttp => worker::Sink::Http(http::HttpSink::new(name, config)?),
        ExporterKind::Debug => worker::Sink::Debug(debug::DebugSink::new(name, config)),
        ExporterKind::File => worker::Sink::File(file::FileSink::new(name, config)?),
    };
    let retry = match config.r#type {
        ExporterKind::OtlpGrpc | ExporterKind::OtlpHttp | ExporterKind::Plugin => config
            .retry_on_failure
            .as_ref()
            .map(|r| r.get_ref().clone())
            .unwrap_or_default(),
        // A failed file write (disk full) may clear up: the default backoff applies.
        ExporterKind::File => weir_config::RetryConfig::default(),
        ExporterKind::Debug => weir_config::RetryConfig {
            enabled: false,
            ..Default::default()
        },
    };
    let (size, capacity) = telemetry.exporter_queue(name);
    capacity.set(i64::try_from(config.sending_queue.queue_size).unwrap_or(i64::MAX));
    let (queue, rx) = batch_queue(config.sending_queue.queue_size, size);
    let shared = Arc::new(worker::Shared {
        name: name.to_string(),
        sink,
        retry,
        metrics: Signal::ALL.map(|s| telemetry.exporter(name, s)),
        abandon,
    });
    let consumers = match config.r#type {
        // Lines from one file exporter stay in the order batches arrived.
        ExporterKind::File | ExporterKind::Debug => 1,
        _ => config.sending_queue.num_consumers,
    };
    let tasks = (0..consumers.max(1))
        .map(|_| tokio::spawn(worker::run(shared.clone(), rx.clone())))
        .collect();
    Ok(RunningExporter { queue, tasks })
}
