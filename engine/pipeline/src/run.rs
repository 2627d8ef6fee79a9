//! The pipeline task: batch, run the stages in order, fan out to exporter queues.

use std::time::Duration;

use futures::future::join_all;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use weir_core::telemetry::{Counter, PipelineMetrics, Telemetry};
use weir_core::{Batch, FailurePolicy, QueueSender, Signal, Stage, blocking};

use crate::fanout::PipelineInput;

/// What a pipeline needs to know about itself.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    /// `traces` or `traces/<name>`; used in logs and metric labels.
    pub id: String,
    /// The signal it carries.
    pub signal: Signal,
    /// Input queue capacity, in requests.
    pub queue_size: usize,
    /// Flush once this many items gathered; 0 hands every request on by itself.
    pub send_batch_size: usize,
    /// Flush whatever gathered this long after its first item arrived.
    pub batch_timeout: Duration,
}

/// One stage and the counter of the items it removed.
struct StageSlot {
    stage: Box<dyn Stage>,
    dropped: Counter,
}

/// A running pipeline; drive it with [`Pipeline::run`].
pub struct Pipeline {
    settings: PipelineSettings,
    /// Receivers (through [`crate::Fanout`]) send; only this task receives. `None` from `recv`
    /// means every receiver is gone: flush and stop.
    rx: mpsc::Receiver<Batch>,
    stages: Vec<StageSlot>,
    /// One queue per exporter; dropping them when the task ends lets exporters drain and stop.
    exporters: Vec<QueueSender>,
    metrics: PipelineMetrics,
    /// Fired at the shutdown deadline: stop, and count what is still held as dropped.
    abandon: CancellationToken,
}

impl Pipeline {
    /// Builds a pipeline and the input that receivers send into. Firing `abandon` (the shutdown
    /// deadline) makes the pipeline count everything it still holds as dropped and stop.
    pub fn new(
        settings: PipelineSettings,
        stages: Vec<Box<dyn Stage>>,
        exporters: Vec<QueueSender>,
        telemetry: &Telemetry,
        abandon: CancellationToken,
    ) -> (Pipeline, PipelineInput) {
        let (tx, rx) = mpsc::channel(settings.queue_size.max(1));
        let metrics = telemetry.pipeline(&settings.id, settings.signal);
        let stages = stages
            .into_iter()
            .map(|stage| StageSlot {
                dropped: telemetry.processor_dropped(&settings.id, stage.name(), settings.signal),
                stage,
            })
            .collect();
        let input = PipelineInput {
            id: settings.id.clone(),
            tx,
            metrics: metrics.clone(),
        };
        let pipeline = Pipeline {
            settings,
            rx,
            stages,
            exporters,
            metrics,
            abandon,
        };
        (pipeline, input)
    }

    /// Runs until every input sender is dropped and everything received has been handed to the
    /// exporter queues.
    pub async fn run(mut self) {
        let signal = self.settings.signal;
        let mut pending = Batch::empty(signal);
        let mut pending_items = 0usize;
        let mut deadline: Option<Instant> = None;
        loop {
            tokio::select! {
                biased;
                // The shutdown deadline passed: count what is held and stop.
                () = self.abandon.cancelled() => {
                    self.rx.close();
                    let mut lost = pending_items;
                    while let Ok(b) = self.rx.try_recv() {
                        lost += b.item_count();
                    }
                    self.count_lost(lost, "batcher and input queue");
                    return;
                }
                msg = self.rx.recv() => {
                    // A receiver handed over a request, or all receivers are gone.
                    let used = self.rx.len();
                    self.metrics.queue.set(i64::try_from(used).unwrap_or(i64::MAX));
                    let Some(batch) = msg else { break };
                    pending_items += batch.item_count();
                    if let Err(other) = pending.append(batch) {
                        tracing::error!(pipeline = %self.settings.id, signal = %other.signal(),
                            "batch of the wrong signal reached this pipeline; sending it alone");
                        self.flush(other).await;
                    }
                    if pending_items >= self.settings.send_batch_size {
                        let full = std::mem::replace(&mut pending, Batch::empty(signal));
                        pending_items = 0;
                        deadline = None;
                        self.flush(full).await;
                    } else if deadline.is_none() {
                        deadline = Some(Instant::now() + self.settings.batch_timeout);
                    }
                }
                // The batch timeout passed since the first item of the pending batch.
                () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    let due = std::mem::replace(&mut pending, Batch::empty(signal));
                    pending_items = 0;
                    deadline = None;
                    self.flush(due).await;
                }
            }
        }
        if !pending.is_empty() {
            self.flush(pending).await;
        }
        tracing::debug!(pipeline = %self.settings.id, "pipeline drained");
    }

    /// Runs the stages over one batch and hands the result to every exporter queue.
    async fn flush(&mut self, mut batch: Batch) {
        if batch.is_empty() {
            return;
        }
        let items = batch.item_count();
        self.metrics.batch_items.observe(items as f64);
        let mut before = items;
        for slot in &mut self.stages {
            let outcome = if slot.stage.is_blocking() {
                blocking(|| slot.stage.process(&mut batch))
            } else {
                slot.stage.process(&mut batch)
            };
            match outcome {
                Ok(()) => {
                    let after = batch.item_count();
                    if after < before {
                        slot.dropped.inc_by((before - after) as u64);
                    }
                    before = after;
                    if after == 0 {
                        return;
                    }
                }
                Err(e) => match slot.stage.failure_policy() {
                    FailurePolicy::Pass => {
                        tracing::warn!(pipeline = %self.settings.id, error = %e,
                            "processor failed; passing the batch on unchanged (on_error = pass)");
                    }
                    policy @ (FailurePolicy::Drop | FailurePolicy::Refuse) => {
                        // The request was acknowledged when it entered the queue, so `refuse`
                        // can only drop here; either way the items are counted.
                        slot.dropped.inc_by(before as u64);
                        tracing::warn!(pipeline = %self.settings.id, error = %e, items = before,
                            "processor failed; dropping the batch (on_error = {})", policy.as_str());
                        return;
                    }
                },
            }
        }
        let Some((last, rest)) = self.exporters.split_last() else {
            return;
        };
        let mut copies: Vec<(&QueueSender, Batch)> =
            rest.iter().map(|q| (q, batch.clone())).collect();
        copies.push((last, batch));
        let abandon = &self.abandon;
        // Every copy holds the `before` items the last stage left.
        let items = before;
        let sends = copies.into_iter().map(|(q, b)| async move {
            tokio::select! {
                biased;
                // Room in the queue: delivered to the exporter (or the exporter is gone).
                r = q.send(b) => r.err().map(|_| items),
                // The shutdown deadline passed while waiting for room.
                () = abandon.cancelled() => Some(items),
            }
        });
        // Waits for room in every exporter queue: this is where backpressure starts.
        let lost: usize = join_all(sends).await.into_iter().flatten().sum();
        self.count_lost(lost, "copies waiting for exporter queues");
    }

    /// Counts items this pipeline gives up on at the shutdown deadline.
    fn count_lost(&self, items: usize, place: &str) {
        if items > 0 {
            self.metrics.dropped_shutdown.inc_by(items as u64);
            tracing::warn!(pipeline = %self.settings.id, items, "dropping {place} at the shutdown deadline");
        }
    }
}

#[cfg(test)]
mod tests;
