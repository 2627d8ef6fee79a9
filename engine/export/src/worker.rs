//! The sender tasks of one exporter: take a batch from the queue, send it, retry, account for it.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use weir_config::RetryConfig;
use weir_core::telemetry::ExporterMetrics;
use weir_core::{Batch, QueueReceiver, Signal, blocking};

use crate::attempt::Attempt;
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
    async fn send(&self, batch: &Batch) -> Attempt {
        match self {
            Sink::Grpc(s) => s.send(batch).await,
            Sink::Http(s) => s.send(batch).await,
            Sink::Debug(s) => blocking(|| s.send(batch)),
            Sink::File(s) => blocking(|| s.send(batch)),
            // The plugin gets its own copy (it is lent to the plugin's store), on a blocking
            // thread, so that a shutdown deadline can stop waiting for it.
            Sink::Plugin(s) => {
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

/// What every sender task of one exporter shares.
pub(crate) struct Shared {
    pub name: String,
    pub sink: Sink,
    pub retry: RetryConfig,
    /// Indexed like [`Signal::ALL`].
    pub metrics: [ExporterMetrics; 3],
    /// Fired at the shutdown deadline: stop retrying, count what is left as dropped.
    pub abandon: CancellationToken,
}

impl Shared {
    fn metrics(&self, signal: Signal) -> &ExporterMetrics {
        &self.metrics[signal.index()]
    }
}

/// One sender task. Ends when the queue is closed and empty, or when `abandon` fires.
pub(crate) async fn run(shared: Arc<Shared>, rx: QueueReceiver) {
    loop {
        let batch = tokio::select! {
            biased;
            // The shutdown deadline passed: stop taking batches.
            () = shared.abandon.cancelled() => break,
            // The next batch from any pipeline; `None` once every pipeline is gone and the
            // queue is empty.
            b = rx.recv() => match b {
                Some(b) => b,
                None => return,
            },
        };
        deliver(&shared, batch).await;
    }
    // Pipelines stop at the same deadline and then drop their queue senders, which closes the
    // queue; until then every batch still arriving is counted, none is freed silently.
    while let Some(b) = rx.recv().await {
        let items = b.item_count() as u64;
        shared.metrics(b.signal()).dropped_shutdown.inc_by(items);
        tracing::warn!(exporter = %shared.name, items, "dropping a queued batch at the shutdown deadline");
    }
}

/// Sends one batch until it is delivered, refused for good, out of retry budget, or abandoned.
async fn deliver(shared: &Shared, batch: Batch) {
    let m = shared.metrics(batch.signal());
    let items = batch.item_count() as u64;
    let first = Instant::now();
    let mut backoff = Backoff::new(&shared.retry);
    loop {
        let start = Instant::now();
        let attempt = tokio::select! {
            biased;
            // The shutdown deadline passed while sending.
            () = shared.abandon.cancelled() => {
                m.dropped_shutdown.inc_by(items);
                tracing::warn!(exporter = %shared.name, items, "dropping a batch in flight at the shutdown deadline");
                return;
            }
            a = shared.sink.send(&batch) => a,
        };
        match attempt {
            Attempt::Delivered { rejected, message } => {
                m.latency.observe(start.elapsed().as_secs_f64());
                let rejected = rejected.min(items);
                m.sent.inc_by(items - rejected);
                if rejected > 0 {
                    m.dropped_rejected.inc_by(rejected);
                    tracing::warn!(exporter = %shared.name, rejected, reason = %message,
                        "backend accepted the batch partially; rejected items are dropped");
                }
                return;
            }
            Attempt::Permanent { message } => {
                m.failed.inc_by(items);
                m.dropped_rejected.inc_by(items);
                tracing::error!(exporter = %shared.name, items, reason = %message,
                    "backend refused the batch; not retryable, dropping it");
                return;
            }
            Attempt::Retryable { message, throttle } => {
                m.failed.inc_by(items);
                let Some(wait) = backoff.wait(throttle, first.elapsed(), &mut rand::rng()) else {
                    m.dropped_retries_exhausted.inc_by(items);
                    tracing::error!(exporter = %shared.name, items, reason = %message,
                        elapsed = ?first.elapsed(), "export failed and the retry budget is spent; dropping the batch");
                    return;
                };
                tracing::info!(exporter = %shared.name, items, reason = %message, ?wait, "export failed; retrying");
                tokio::select! {
                    // The shutdown deadline passed while waiting to retry.
                    () = shared.abandon.cancelled() => {
                        m.dropped_shutdown.inc_by(items);
                        tracing::warn!(exporter = %shared.name, items, "dropping a retrying batch at the shutdown deadline");
                        return;
                    }
                    // The backoff elapsed: try again.
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}
