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
        let delivery = tokio::select! {
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
        if deliver(&shared, &delivery.batch, delivery.is_durable()).await {
            delivery.done();
        }
    }
    if rx.is_durable() {
        // What is still on disk is sent after the next start: nothing is lost.
        tracing::info!(exporter = %shared.name, "shutdown deadline: leaving the rest of the disk queue for the next start");
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

/// Sends one batch until it is delivered, refused for good, out of retry budget, or abandoned.
/// Returns false if abandoned at the shutdown deadline (a `durable` batch then stays in its disk
/// queue for the next start and is not counted as dropped).
async fn deliver(shared: &Shared, batch: &Batch, durable: bool) -> bool {
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
                abandoned(shared, m, items, durable, "in flight");
                return false;
            }
            a = shared.sink.send(batch) => a,
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
                return true;
            }
            Attempt::Permanent { message } => {
                m.failed.inc_by(items);
                m.dropped_rejected.inc_by(items);
                tracing::error!(exporter = %shared.name, items, reason = %message,
                    "backend refused the batch; not retryable, dropping it");
                return true;
            }
            Attempt::Retryable { message, throttle } => {
                m.failed.inc_by(items);
                let Some(wait) = backoff.wait(throttle, first.elapsed(), &mut rand::rng()) else {
                    m.dropped_retries_exhausted.inc_by(items);
                    tracing::error!(exporter = %shared.name, items, reason = %message,
                        elapsed = ?first.elapsed(), "export failed and the retry budget is spent; dropping the batch");
                    return true;
                };
                tracing::info!(exporter = %shared.name, items, reason = %message, ?wait, "export failed; retrying");
                tokio::select! {
                    // The shutdown deadline passed while waiting to retry.
                    () = shared.abandon.cancelled() => {
                        abandoned(shared, m, items, durable, "retrying");
                        return false;
                    }
                    // The backoff elapsed: try again.
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

/// Accounts for a batch the shutdown deadline interrupted (`what`: in flight or retrying).
fn abandoned(shared: &Shared, m: &ExporterMetrics, items: u64, durable: bool, what: &str) {
    if durable {
        tracing::info!(exporter = %shared.name, items, "shutdown deadline: a batch {what} stays in the disk queue for the next start");
    } else {
        m.dropped_shutdown.inc_by(items);
        tracing::warn!(exporter = %shared.name, items, "dropping a batch {what} at the shutdown deadline");
    }
}
