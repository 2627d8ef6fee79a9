//! The sender tasks of one exporter: take a batch from the queue (or a parked one that fell
//! due), send it, park it for a retry, account for it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use tokio_util::sync::CancellationToken;
use weir_config::RetryConfig;
use weir_core::telemetry::{ExporterMetrics, HealthHandle};
use weir_core::{Batch, INLINE_ITEMS, QueueReceiver, Signal, blocking};

use crate::attempt::Attempt;
use crate::parked::{Parked, Pending};
use crate::retry::Backoff;
use crate::{debug, file, grpc, http};

/// Where one exporter sends batches.
pub(crate) enum Sink {
    Grpc(Box<grpc::GrpcSink>),
    Http(http::HttpSink),
    Debug(debug::DebugSink),
    File(file::FileSink),
    Plugin(Arc<dyn crate::PluginSink>),
}

impl Sink {
    /// The bytes an OTLP sink sends for `batch` (protobuf, compressed by the HTTP sink itself):
    /// made once, on the first attempt, and kept with the batch for its retries, so a retried
    /// batch is neither encoded nor compressed again. `None` for sinks that take the batch.
    /// Encoding and compressing a large batch takes milliseconds: it runs where blocking is
    /// allowed ([`blocking`]), not on a thread other connections need. A small one (see
    /// [`encodes_inline`]) is done where the sender runs.
    fn encode(&self, batch: &Batch) -> Result<Option<Bytes>, String> {
        let encode = |f: &dyn Fn() -> Result<Bytes, String>| {
            if encodes_inline(batch) {
                f()
            } else {
                blocking(f)
            }
        };
        match self {
            Sink::Grpc(s) => encode(&|| s.encode(batch)).map(Some),
            Sink::Http(s) => encode(&|| s.encode(batch)).map(Some),
            Sink::Debug(_) | Sink::File(_) | Sink::Plugin(_) => Ok(None),
        }
    }

    /// One attempt at `batch`; `wire` is what [`Sink::encode`] made of it.
    async fn send(&self, batch: &Batch, wire: Option<Bytes>) -> Attempt {
        match (self, wire) {
            (Sink::Grpc(s), Some(w)) => s.send(batch.signal(), w).await,
            (Sink::Http(s), Some(w)) => s.send(batch.signal(), w).await,
            (Sink::Grpc(_) | Sink::Http(_), None) => Attempt::Permanent {
                message: "internal: the batch was not encoded before sending".into(),
            },
            (Sink::Debug(s), _) => blocking(|| s.send(batch)),
            (Sink::File(s), _) => blocking(|| s.send(batch)),
            // The plugin gets its own copy (it is lent to the plugin's store), on a blocking
            // thread, so that a shutdown deadline can stop waiting for it.
            (Sink::Plugin(s), _) => {
                let (sink, batch) = (s.clone(), batch.clone());
                tokio::task::spawn_blocking(move || sink.send(batch))
                    .await
                    .unwrap_or_else(|e| Attempt::Retryable {
                        message: format!("the plugin call failed: {e}"),
                        throttle: None,
                    })
            }
        }
    }
}

/// Requests up to this size, and decoded batches up to [`INLINE_ITEMS`] items, are encoded and
/// compressed on the async worker: about 0.1 ms for 100 spans, less than `block_in_place`
/// costs, which hands the worker's other tasks to a new thread and back. With ten senders
/// encoding at once those handoffs kept ~70 threads alive under load, each holding its own
/// allocator pages and deflate state (benches/README.md, "Encoding small batches inline").
const INLINE_BYTES: usize = 256 << 10;

/// True if `batch` is small enough to encode without leaving the async worker.
fn encodes_inline(batch: &Batch) -> bool {
    match batch {
        Batch::Wire(w) => w.len() <= INLINE_BYTES,
        _ => batch.item_count() <= INLINE_ITEMS,
    }
}

/// What every sender task of one exporter shares.
pub(crate) struct Shared {
    pub name: String,
    pub sink: Sink,
    pub retry: RetryConfig,
    /// Indexed like [`Signal::ALL`].
    pub metrics: [ExporterMetrics; 3],
    /// Fired at the shutdown deadline (a child of `shutdown`), or when a changed exporter
    /// takes over this one's disk queue: stop taking and retrying batches; memory-queued ones
    /// left are counted as dropped, disk-queued ones go back to their queue.
    pub abandon: CancellationToken,
    /// Fired at the shutdown deadline only: tells the two reasons for `abandon` apart.
    pub shutdown: CancellationToken,
    /// Batches waiting for their next attempt.
    pub parked: Parked,
    /// Set while the backend refuses every batch for a configuration reason (`/readyz` says so).
    pub health: HealthHandle,
}

impl Shared {
    fn metrics(&self, signal: Signal) -> &ExporterMetrics {
        &self.metrics[signal.index()]
    }
}

/// How long a failed exporter waits between probes of its backend with the batch it holds.
fn probe_interval(retry: &RetryConfig) -> Duration {
    retry
        .max_interval
        .0
        .clamp(Duration::from_secs(1), Duration::from_secs(30))
}

/// One sender task. Ends when the queue is closed and empty and nothing is parked, or when
/// `abandon` fires.
pub(crate) async fn run(shared: Arc<Shared>, rx: QueueReceiver) {
    // The queue said it is closed and empty: only parked batches are left.
    let mut closed = false;
    loop {
        // A parked batch whose time has come goes first, so retries are not starved.
        if let Some(p) = shared.parked.take_due(Instant::now()) {
            attempt(&shared, p).await;
            continue;
        }
        if closed && shared.parked.is_empty() {
            return;
        }
        let changed = shared.parked.changed();
        let due = shared.parked.next_due();
        // New batches are taken while the backend is not refusing us for a configuration
        // reason and few enough batches wait for a retry; otherwise the queue fills and
        // pushes back on the pipelines.
        let take_new = !closed && shared.parked.has_room() && !shared.health.is_failed();
        tokio::select! {
            biased;
            // The shutdown deadline passed: stop taking batches.
            () = shared.abandon.cancelled() => break,
            // The earliest parked batch falls due.
            () = sleep_until(due), if due.is_some() => {}
            // A batch was parked (by another sender): its due time may be earlier.
            () = changed => {}
            // The next batch from any pipeline; `None` once every pipeline is gone and the
            // queue is empty.
            b = rx.recv(), if take_new => match b {
                Some(delivery) => {
                    let p = Pending {
                        delivery,
                        first: Instant::now(),
                        backoff: Backoff::new(&shared.retry),
                        wire: None,
                    };
                    attempt(&shared, p).await;
                }
                None => closed = true,
            },
        }
    }
    for p in shared.parked.take_all() {
        abandoned(&shared, &p, "waiting to be retried");
    }
    if rx.is_durable() {
        if shared.shutdown.is_cancelled() {
            // What is still on disk is sent after the next start: nothing is lost.
            tracing::info!(exporter = %shared.name, "shutdown deadline: leaving the rest of the disk queue for the next start");
        } else {
            tracing::debug!(exporter = %shared.name, "disk queue handed over to the exporter's new configuration; this sender stops");
        }
        return;
    }
    // Pipelines stop at the same deadline and then drop their queue senders, which closes the
    // queue; until then every batch still arriving is counted, none is freed silently.
    while let Some(d) = rx.recv().await {
        let items = d.batch.item_count() as u64;
        shared
            .metrics(d.batch.signal())
            .dropped_shutdown
            .inc_by(items);
        tracing::warn!(exporter = %shared.name, items, "dropping a queued batch at the shutdown deadline");
    }
}

/// Sleeps until `due` (forever if `None`; the caller disables the arm then).
async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// Makes one attempt at sending `p`: on success or a final failure the batch is done (and
/// counted); on a retryable failure it is parked for its backoff; on a configuration refusal
/// the exporter is marked failed and the batch parked for the next probe.
async fn attempt(shared: &Shared, mut p: Pending) {
    if p.wire.is_none() {
        match shared.sink.encode(&p.delivery.batch) {
            Ok(w) => p.wire = w,
            Err(message) => {
                let items = p.delivery.batch.item_count() as u64;
                let m = shared.metrics(p.delivery.batch.signal());
                m.failed.inc_by(items);
                m.dropped_rejected.inc_by(items);
                tracing::error!(exporter = %shared.name, items, reason = %message,
                    "cannot encode the batch; dropping it");
                p.delivery.done();
                return;
            }
        }
    }
    let batch = &p.delivery.batch;
    let m = shared.metrics(batch.signal());
    let items = batch.item_count() as u64;
    let start = Instant::now();
    let outcome = tokio::select! {
        biased;
        // The shutdown deadline passed while sending.
        () = shared.abandon.cancelled() => {
            abandoned(shared, &p, "in flight");
            return;
        }
        a = shared.sink.send(batch, p.wire.clone()) => a,
    };
    match outcome {
        Attempt::Delivered { rejected, message } => {
            m.latency.observe(start.elapsed().as_secs_f64());
            let rejected = rejected.min(items);
            m.sent.inc_by(items - rejected);
            if rejected > 0 {
                m.dropped_rejected.inc_by(rejected);
                tracing::warn!(exporter = %shared.name, rejected, reason = %message,
                    "backend accepted the batch partially; rejected items are dropped");
            }
            if shared.health.recover() {
                tracing::info!(exporter = %shared.name, "backend accepts batches again; exporter no longer failed");
            }
            p.delivery.done();
        }
        Attempt::Permanent { message } => {
            m.failed.inc_by(items);
            m.dropped_rejected.inc_by(items);
            tracing::error!(exporter = %shared.name, items, reason = %message,
                "backend refused the batch; not retryable, dropping it");
            p.delivery.done();
        }
        Attempt::Misconfigured { message, hint } => {
            m.failed.inc_by(items);
            let probe = probe_interval(&shared.retry);
            if shared.health.fail(&format!("{message} ({hint})")) {
                tracing::error!(exporter = %shared.name, reason = %message, fix = hint, ?probe,
                    "backend refuses this exporter's requests; the exporter is marked failed (/readyz is 503), keeps its data and takes no more batches (pipelines push back) until the backend accepts again");
            } else {
                tracing::debug!(exporter = %shared.name, reason = %message, "backend still refuses this exporter");
            }
            // Time spent refused does not count against the retry budget.
            p.first = Instant::now();
            p.backoff = Backoff::new(&shared.retry);
            shared.parked.park(p, Instant::now() + probe);
        }
        Attempt::Retryable { message, throttle } => {
            m.failed.inc_by(items);
            let Some(wait) =
                p.backoff
                    .wait(&shared.retry, throttle, p.first.elapsed(), &mut rand::rng())
            else {
                m.dropped_retries_exhausted.inc_by(items);
                tracing::error!(exporter = %shared.name, items, reason = %message,
                    elapsed = ?p.first.elapsed(), "export failed and the retry budget is spent; dropping the batch");
                p.delivery.done();
                return;
            };
            tracing::info!(exporter = %shared.name, items, reason = %message, ?wait, "export failed; retrying");
            shared.parked.park(p, Instant::now() + wait);
        }
    }
}

/// Accounts for a batch the shutdown deadline (or a takeover of the disk queue) interrupted
/// (`what`: in flight or retrying). A durable one stays in its disk queue (not marked done;
/// dropping its delivery gives it back to the queue's next reader).
fn abandoned(shared: &Shared, p: &Pending, what: &str) {
    let items = p.delivery.batch.item_count() as u64;
    if p.delivery.is_durable() {
        if shared.shutdown.is_cancelled() {
            tracing::info!(exporter = %shared.name, items, "shutdown deadline: a batch {what} stays in the disk queue for the next start");
        } else {
            tracing::debug!(exporter = %shared.name, items, "a batch {what} goes back to the disk queue for the exporter's new configuration");
        }
    } else {
        shared
            .metrics(p.delivery.batch.signal())
            .dropped_shutdown
            .inc_by(items);
        tracing::warn!(exporter = %shared.name, items, "dropping a batch {what} at the shutdown deadline");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;

    fn traces(spans: usize, name_len: usize) -> ExportTraceServiceRequest {
        let span = Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: "x".repeat(name_len),
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span; spans],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn only_small_batches_are_encoded_on_the_async_worker() {
        // Decoded batches go by their item count.
        assert!(encodes_inline(&Batch::Traces(traces(100, 10))));
        assert!(encodes_inline(&Batch::Traces(traces(INLINE_ITEMS, 10))));
        assert!(!encodes_inline(&Batch::Traces(traces(
            INLINE_ITEMS + 1,
            10
        ))));
        // Requests kept as bytes go by their size: few items can still be large.
        let wire = |req: ExportTraceServiceRequest| {
            Batch::from_wire(Signal::Traces, Bytes::from(req.encode_to_vec())).expect("valid")
        };
        assert!(encodes_inline(&wire(traces(100, 100))));
        assert!(!encodes_inline(&wire(traces(10, INLINE_BYTES / 8))));
    }
}
