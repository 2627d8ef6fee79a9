//! Native exporters and the machinery every exporter shares: a bounded sending queue, N
//! concurrent senders, exponential backoff with jitter on retryable failures (honouring the
//! backend's RetryInfo / Retry-After), and a counter for every item given up on.
//!
//! ```text
//! pipelines ─▶ sending queue (bounded) ─▶ sender 1..N ─▶ sink (otlp-grpc | otlp-http | debug | file)
//!                                             └── retry with backoff until max_elapsed_time, then drop (counted)
//! ```

mod attempt;
mod compress;
mod debug;
mod file;
mod grpc;
mod http;
mod parked;
mod retry;
mod settings;
mod tls;
mod unary;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weir_config::ExporterConfig;
use weir_core::telemetry::Telemetry;
use weir_core::{
    Batch, QueueReceiver, QueueSender, Signal, batch_queue_held, blocking, disk_queue,
};

pub use attempt::Attempt;
pub use http::config_refusal_hint;

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

/// Batches per sender task that may wait for a retry outside the queue, at least: enough that
/// a backend failing part of its requests does not slow the rest down, bounded so that a
/// backend failing all of them fills the queue (and pushes back) instead of memory.
const PARKED_PER_SENDER: usize = 10;

/// How many batches may wait parked for their retries. With a memory queue as many as the
/// queue holds: a backend failing half its requests keeps a batch parked for about two backoffs
/// on average, so parking must hold what arrives in that time or intake drops to
/// `limit / backoff`. The queue refills while batches are parked, so an exporter holds at most
/// 2 × `queue_size` batches (counted in `weir_memory_held_bytes`; `memory_limit` guards the
/// total). Batches from a disk queue are decoded into memory to be parked: there the
/// per-sender bound alone holds.
fn parked_limit(consumers: usize, memory_queue: Option<usize>) -> usize {
    let per_sender = PARKED_PER_SENDER * consumers;
    memory_queue.map_or(per_sender, |size| size.max(per_sender))
}

/// An exporter built and not yet sending: pipelines can be given `queue` now; [`start`]
/// (`PreparedExporter::start`) spawns the senders once the change it is part of is committed.
/// Dropped instead, it closes its queue (a disk queue taken over stays with its owner).
pub struct PreparedExporter {
    /// Clone one into every pipeline that lists this exporter.
    pub queue: QueueSender,
    shared: Arc<worker::Shared>,
    rx: QueueReceiver,
    consumers: usize,
    disk: Option<DiskQueue>,
    /// The senders of the exporter whose disk queue this one takes over: retired at start,
    /// when the queue also takes this exporter's size limit and syncing.
    predecessor: Option<(CancellationToken, weir_spool::SpoolOptions)>,
}

/// A started exporter: pipelines send into `queue`; `tasks` end once the queue is closed and
/// drained, the abandon token fired, or (with a disk queue) a successor took the queue over.
pub struct RunningExporter {
    /// Clone one into every pipeline that lists this exporter.
    pub queue: QueueSender,
    /// The sender tasks.
    pub tasks: Vec<JoinHandle<()>>,
    /// Its disk queue, for the next version of this exporter to take over on a reload.
    pub disk: Option<DiskQueue>,
}

/// A running exporter's disk queue and what retires the senders reading it. A reload that
/// changes an exporter but keeps its queue's directory hands the open queue to the new
/// senders ([`prepare`]'s `take_over`): the directory stays locked by this process, what is
/// queued keeps its order, and the batches the old senders held go back to the queue.
#[derive(Clone)]
pub struct DiskQueue {
    dir: PathBuf,
    spool: Arc<weir_spool::Spool>,
    queue: QueueSender,
    rx: QueueReceiver,
    retire: CancellationToken,
}

impl DiskQueue {
    /// The queue's directory, as resolved when it was opened.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// True if `dir` names this queue's directory (compared as canonical paths, so
    /// `q/./a` and an absolute spelling of it match).
    pub fn is_in(&self, dir: &Path) -> bool {
        self.dir == dir
            || matches!(
                (std::fs::canonicalize(&self.dir), std::fs::canonicalize(dir)),
                (Ok(a), Ok(b)) if a == b
            )
    }
}

/// Builds the exporter `name` (of type `plugin`: around `plugin`) without starting it.
/// `tls` is the client config of an `https://` endpoint (`weir_tls::client_config`).
/// `queue_dir` is the resolved directory of a disk sending queue (what it still holds from a
/// previous run is sent first); `take_over` is a running exporter's disk queue in that same
/// directory, which this one continues instead of opening it again. Firing `abandon` makes
/// the senders stop retrying and count whatever is left as dropped (the shutdown deadline) —
/// or leave it in the disk queue.
#[allow(
    clippy::too_many_arguments,
    reason = "what building one exporter takes"
)]
pub fn prepare(
    name: &str,
    config: &ExporterConfig,
    tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
    plugin: Option<Arc<dyn PluginSink>>,
    queue_dir: Option<&Path>,
    take_over: Option<&DiskQueue>,
    telemetry: &Telemetry,
    abandon: CancellationToken,
) -> Result<PreparedExporter, ExportError> {
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
    let retire = abandon.child_token();
    let (queue, rx, disk, predecessor) = match (q.storage, queue_dir) {
        (weir_config::QueueStorage::Disk, Some(dir)) => {
            let options = spool_options(q);
            let (spool, queue, rx, predecessor) = match take_over.filter(|t| t.is_in(dir)) {
                Some(t) => (
                    t.spool.clone(),
                    t.queue.clone(),
                    t.rx.clone(),
                    Some((t.retire.clone(), options)),
                ),
                None => {
                    let spool = open_spool(name, dir, options)?;
                    let (queue, rx) = disk_queue(spool.clone(), size);
                    (spool, queue, rx, None)
                }
            };
            let disk = DiskQueue {
                dir: dir.to_path_buf(),
                spool,
                queue: queue.clone(),
                rx: rx.clone(),
                retire: retire.clone(),
            };
            (queue, rx, Some(disk), predecessor)
        }
        _ => {
            capacity.set(i64::try_from(q.queue_size).unwrap_or(i64::MAX));
            let held = telemetry.memory_held(&format!("exporter/{name}"));
            let (queue, rx) = batch_queue_held(q.queue_size, size, held);
            (queue, rx, None, None)
        }
    };
    let consumers = config.senders().max(1);
    let shared = Arc::new(worker::Shared {
        name: name.to_string(),
        sink,
        retry,
        metrics: Signal::ALL.map(|s| telemetry.exporter(name, s)),
        abandon: retire,
        shutdown: abandon,
        parked: parked::Parked::new(parked_limit(
            consumers,
            disk.is_none().then_some(q.queue_size),
        )),
        health: telemetry.health_handle(&format!("exporter/{name}")),
    });
    Ok(PreparedExporter {
        queue,
        shared,
        rx,
        consumers,
        disk,
        predecessor,
    })
}

impl PreparedExporter {
    /// Starts the senders; an exporter whose disk queue this one took over stops taking
    /// batches from it now and gives back those it holds.
    pub fn start(self) -> RunningExporter {
        if let (Some((old, options)), Some(disk)) = (self.predecessor, &self.disk) {
            disk.spool.set_options(options);
            tracing::info!(exporter = %self.shared.name, dir = %disk.dir.display(), batches = disk.spool.len(),
                "the changed exporter takes over its disk queue");
            old.cancel();
        }
        let tasks = (0..self.consumers)
            .map(|_| tokio::spawn(worker::run(self.shared.clone(), self.rx.clone())))
            .collect();
        RunningExporter {
            queue: self.queue,
            tasks,
            disk: self.disk,
        }
    }
}

/// The spool settings of a sending queue's config.
fn spool_options(q: &weir_config::QueueConfig) -> weir_spool::SpoolOptions {
    let fsync = match q.fsync {
        weir_config::FsyncMode::Always => weir_spool::Fsync::Always,
        weir_config::FsyncMode::Batch => weir_spool::Fsync::Batch,
        weir_config::FsyncMode::Never => weir_spool::Fsync::Never,
    };
    weir_spool::SpoolOptions::new(q.max_size.0, fsync)
}

/// Opens exporter `name`'s disk queue in `dir` and says what it found from a previous run.
fn open_spool(
    name: &str,
    dir: &Path,
    options: weir_spool::SpoolOptions,
) -> Result<Arc<weir_spool::Spool>, ExportError> {
    let (spool, found) =
        blocking(|| weir_spool::Spool::open(dir, options)).map_err(|error| ExportError::Queue {
            exporter: name.to_string(),
            error,
        })?;
    if found.records > 0 {
        tracing::info!(exporter = name, batches = found.records, dir = %dir.display(),
            "disk queue holds batches from a previous run; sending them first");
    }
    if found.lost > 0 || found.damaged > 0 {
        tracing::warn!(exporter = name, lost_batches = found.lost, damaged_stretches = found.damaged,
            dir = %dir.display(), "disk queue was damaged; the intact batches are sent, the damaged ones are lost");
    }
    Ok(Arc::new(spool))
}
