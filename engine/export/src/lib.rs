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
mod parked;
mod retry;
mod settings;
mod tls;
mod worker;

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weir_config::ExporterConfig;
use weir_core::telemetry::Telemetry;
use weir_core::{Batch, QueueSender, Signal, batch_queue_held, blocking, disk_queue};

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
    /// The disk queue could not be opened.
    #[error("exporter {exporter}: {error}")]
    Queue {
        /// Exporter name.
        exporter: String,
        /// What failed.
        error: weir_spool::SpoolError,
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

/// Batches per sender task that may wait for a retry outside the queue: enough that a backend
/// failing part of its requests does not slow the rest down, bounded so that a backend failing
/// all of them fills the queue (and pushes back) instead of memory.
const PARKED_PER_SENDER: usize = 10;

/// A started exporter: pipelines send into `queue`; `tasks` end once the queue is closed and
/// drained (or the abandon token fired).
pub struct RunningExporter {
    /// Clone one into every pipeline that lists this exporter.
    pub queue: QueueSender,
    /// The sender tasks.
    pub tasks: Vec<JoinHandle<()>>,
}

/// Builds the exporter `name` (of type `plugin`: around `plugin`) and starts its sender tasks.
/// `tls` is the client config of an `https://` endpoint (`weir_tls::client_config`).
/// `queue_dir` is the resolved directory of a disk sending queue (what it still holds from a
/// previous run is sent first). Firing `abandon` makes the senders stop retrying and count
/// whatever is left as dropped (the shutdown deadline) — or leave it in the disk queue.
pub fn start(
    name: &str,
    config: &ExporterConfig,
    tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
    plugin: Option<Arc<dyn PluginSink>>,
    queue_dir: Option<&std::path::Path>,
    telemetry: &Telemetry,
    abandon: CancellationToken,
) -> Result<RunningExporter, ExportError> {
    let sink = match config {
        ExporterConfig::Plugin(_) => {
            worker::Sink::Plugin(plugin.ok_or_else(|| ExportError::Config {
                exporter: name.to_string(),
                message: "its plugin was not loaded".into(),
            })?)
        }
        ExporterConfig::OtlpGrpc(otlp) => {
            worker::Sink::Grpc(Box::new(grpc::GrpcSink::new(name, otlp, tls)?))
        }
        ExporterConfig::OtlpHttp(otlp) => worker::Sink::Http(http::HttpSink::new(name, otlp, tls)?),
        ExporterConfig::Debug(debug) => worker::Sink::Debug(debug::DebugSink::new(name, debug)),
        ExporterConfig::File(file) => worker::Sink::File(file::FileSink::new(name, file)?),
    };
    let retry = config.retry();
    let (size, capacity) = telemetry.exporter_queue(name);
    let q = config.sending_queue();
    let (queue, rx) = match (q.storage, queue_dir) {
        (weir_config::QueueStorage::Disk, Some(dir)) => {
            let fsync = match q.fsync {
                weir_config::FsyncMode::Always => weir_spool::Fsync::Always,
                weir_config::FsyncMode::Batch => weir_spool::Fsync::Batch,
                weir_config::FsyncMode::Never => weir_spool::Fsync::Never,
            };
            let options = weir_spool::SpoolOptions::new(q.max_size.0, fsync);
            let (spool, found) =
                blocking(|| weir_spool::Spool::open(dir, options)).map_err(|error| {
                    ExportError::Queue {
                        exporter: name.to_string(),
                        error,
                    }
                })?;
            if found.records > 0 {
                tracing::info!(exporter = name, batches = found.records, dir = %dir.display(),
                    "disk queue holds batches from a previous run; sending them first");
            }
            if found.lost > 0 || found.damaged > 0 {
                tracing::warn!(exporter = name, lost_batches = found.lost, damaged_stretches = found.damaged,
                    dir = %dir.display(), "disk queue was damaged; the intact batches are sent, the damaged ones are lost");
            }
            disk_queue(Arc::new(spool), size)
        }
        _ => {
            capacity.set(i64::try_from(q.queue_size).unwrap_or(i64::MAX));
            let held = telemetry.memory_held(&format!("exporter/{name}"));
            batch_queue_held(q.queue_size, size, held)
        }
    };
    let consumers = config.senders();
    let shared = Arc::new(worker::Shared {
        name: name.to_string(),
        sink,
        retry,
        metrics: Signal::ALL.map(|s| telemetry.exporter(name, s)),
        abandon,
        parked: parked::Parked::new(PARKED_PER_SENDER * consumers.max(1)),
        health: telemetry.health_handle(&format!("exporter/{name}")),
    });
    let tasks = (0..consumers.max(1))
        .map(|_| tokio::spawn(worker::run(shared.clone(), rx.clone())))
        .collect();
    Ok(RunningExporter { queue, tasks })
}
