//! The pipeline task: batch, run the stages in order (a tail sampler among them holds traces
//! until their decision), fan out to exporter queues.

use std::time::Duration;

use futures::future::join_all;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use weir_core::telemetry::{Counter, PipelineMetrics, Telemetry};
use weir_core::{
    Ack, Batch, ConsumeError, FailurePolicy, Outcome, QueueSender, Signal, Stage, blocking,
};
use weir_sampling::Sampler;

use crate::fanout::{PipelineInput, Request};

mod reconfig;

pub use reconfig::{PipelineControl, Reconfigure, SamplerUpdate, StageUpdate};

/// The granularity of tail-sampling decisions: every trace due within one tick is decided at
/// its end.
const DECISION_TICK: Duration = Duration::from_millis(100);

/// `d` rounded up to a whole number of `tick`s.
fn round_up(d: Duration, tick: Duration) -> Duration {
    let ticks = d.as_nanos().div_ceil(tick.as_nanos().max(1));
    Duration::from_nanos(u64::try_from(ticks * tick.as_nanos()).unwrap_or(u64::MAX))
}

/// The next change from a config reload; `None` when the channel closed (or never existed).
async fn recv_control<T>(control: &mut Option<mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match control {
        Some(rx) => rx.recv().await,
        None => None,
    }
}

/// How often a pipeline whose sampler is full checks whether shutdown began.
const RECHECK: Duration = Duration::from_millis(100);

/// What a refusal by a processor, or for want of exporter room, tells clients to retry after.
const REFUSED_RETRY_AFTER: Duration = Duration::from_secs(1);

/// How long after its arrival a waiting client's request may still wait for room in the
/// exporter queues; past that it is refused as overloaded, so a stalled backend makes clients
/// retry later instead of hanging on an unanswered request.
const ROOM_WAIT: Duration = Duration::from_secs(1);

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
    /// Flush whatever gathered this long after its first item arrived (`ack = "received"`).
    pub batch_timeout: Duration,
    /// `ack = "processed"`: a request is answered only once its items passed every processor
    /// (up to a tail sampler) and sit in every exporter's queue, so a processor's failure can
    /// still refuse it. The batcher then never holds a request waiting for more: it takes what
    /// waits in the input queue (up to `send_batch_size`) and processes it at once.
    pub ack_processed: bool,
}

/// One stage and the counter of the items it removed.
struct StageSlot {
    stage: Box<dyn Stage>,
    dropped: Counter,
}

/// A tail sampler placed between the stages: `stages[..at]` run before it, `stages[at..]` on
/// what it lets through.
struct SamplerSlot {
    at: usize,
    sampler: Sampler,
}

/// A running pipeline; drive it with [`Pipeline::run`].
pub struct Pipeline {
    settings: PipelineSettings,
    /// Receivers (through [`crate::Fanout`]) send requests, with an [`Ack`] when this pipeline
    /// acknowledges after processing; only this task receives. `None` from `recv` means every
    /// receiver is gone: flush and stop.
    rx: mpsc::Receiver<Request>,
    stages: Vec<StageSlot>,
    sampler: Option<SamplerSlot>,
    /// The origin of the sampler's clock (set when `run` starts).
    start: Instant,
    /// One queue per exporter; dropping them when the task ends lets exporters drain and stop.
    exporters: Vec<QueueSender>,
    metrics: PipelineMetrics,
    /// Fired at the shutdown deadline: stop, and count what is still held as dropped.
    abandon: CancellationToken,
    /// Config reloads send changes (see [`Pipeline::control`]); `None` once every
    /// [`PipelineControl`] is gone or when there never was one.
    control: Option<mpsc::UnboundedReceiver<(Reconfigure, tokio::sync::oneshot::Sender<()>)>>,
    /// For the metrics of stages a reload adds.
    telemetry: Telemetry,
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
            ack_processed: settings.ack_processed,
            tx,
            metrics: metrics.clone(),
        };
        let pipeline = Pipeline {
            settings,
            rx,
            stages,
            sampler: None,
            start: Instant::now(),
            exporters,
            metrics,
            abandon,
            control: None,
            telemetry: telemetry.clone(),
        };
        (pipeline, input)
    }

    /// Places a tail sampler after the first `at` stages (clamped to the number of stages).
    pub fn with_sampler(mut self, at: usize, sampler: Sampler) -> Pipeline {
        self.sampler = Some(SamplerSlot {
            at: at.min(self.stages.len()),
            sampler,
        });
        self
    }

    /// The handle a config reload changes this pipeline through, between batches.
    pub fn control(&mut self) -> PipelineControl {
        let (control, rx) = PipelineControl::channel();
        self.control = Some(rx);
        control
    }

    /// The sampler's clock: time since the pipeline started.
    fn clock(&self) -> Duration {
        self.start.elapsed()
    }

    /// Runs until every input sender is dropped and everything received has been handed to the
    /// exporter queues.
    pub async fn run(mut self) {
        let signal = self.settings.signal;
        self.start = Instant::now();
        let mut pending = Batch::empty(signal);
        let mut pending_items = 0usize;
        // The encoded bytes of the requests in `pending` (the pipeline's held bytes).
        let mut pending_bytes = 0u64;
        // The acks of the requests in `pending`, answered when it has been processed, and when
        // the first of those requests arrived.
        let mut acks: Vec<Ack> = Vec::new();
        let mut oldest: Option<Instant> = None;
        let mut deadline: Option<Instant> = None;
        loop {
            let start = self.start;
            // Decisions are taken on ticks, so that traces due close together leave as one
            // batch instead of one export request each.
            let decide_at = self
                .sampler
                .as_mut()
                .and_then(|s| s.sampler.next_deadline())
                .map(|d| start + round_up(d, DECISION_TICK));
            // With `block_on_overflow`, a full sampler stops this task from reading: the input
            // queue fills and receivers refuse with a retryable status. Once every receiver is
            // gone (shutdown) it reads again, so the queue drains and `finish` runs in time.
            let accepting =
                !self.sampler.as_ref().is_some_and(|s| s.sampler.is_full()) || self.rx.is_closed();
            tokio::select! {
                biased;
                // The shutdown deadline passed: count what is held and stop.
                () = self.abandon.cancelled() => {
                    self.rx.close();
                    // Requests with an ack were never acknowledged: dropping the ack refuses
                    // them as retryable. Only acknowledged items are lost.
                    let mut lost = if acks.is_empty() { pending_items } else { 0 };
                    let all = pending_bytes;
                    self.release(&mut pending_bytes, all);
                    while let Ok(r) = self.rx.try_recv() {
                        self.release(&mut 0, r.bytes);
                        if r.ack.is_none() {
                            lost += r.batch.item_count();
                        }
                    }
                    lost += self.sampler.as_ref().map_or(0, |s| s.sampler.buffered_spans());
                    self.count_lost(lost, "batcher, input queue and tail sampler");
                    return;
                }
                // A config reload sent a change (or every control handle is gone: stop listening).
                change = recv_control(&mut self.control), if self.control.is_some() => {
                    match change {
                        Some((change, done)) => {
                            let telemetry = self.telemetry.clone();
                            self.reconfigure(change, &telemetry).await;
                            let _ = done.send(());
                        }
                        None => self.control = None,
                    }
                }
                // A buffered trace's decision time came (ahead of new data, so that a steady
                // stream cannot postpone decisions).
                () = sleep_until(decide_at.unwrap_or_else(Instant::now)), if decide_at.is_some() => {
                    self.decide_due().await;
                }
                // Not reading (sampler full): look again shortly whether the receivers are gone,
                // and refuse the requests whose clients wait for an answer meanwhile.
                () = tokio::time::sleep(RECHECK), if !accepting => {
                    if self.settings.ack_processed {
                        self.refuse_waiting();
                    }
                }
                msg = self.rx.recv(), if accepting => {
                    // A receiver handed over a request, or all receivers are gone.
                    let used = self.rx.len();
                    self.metrics.queue.set(i64::try_from(used).unwrap_or(i64::MAX));
                    let Some(Request { batch, ack, received, bytes }) = msg else { break };
                    let items = batch.item_count();
                    pending_bytes += bytes;
                    match pending.append(batch) {
                        Ok(()) => {
                            pending_items += items;
                            if ack.is_some() && oldest.is_none() {
                                oldest = Some(received);
                            }
                            acks.extend(ack);
                        }
                        Err(other) => {
                            tracing::error!(pipeline = %self.settings.id, signal = %other.signal(),
                                "batch of the wrong signal reached this pipeline; sending it alone");
                            let waiting = ack.as_ref().map(|_| received + ROOM_WAIT);
                            let outcome = self.flush(other, waiting).await;
                            answer(ack.into_iter().collect(), &outcome);
                            self.release(&mut pending_bytes, bytes);
                        }
                    }
                    // With acks, nothing waits for more once the queue is empty: the clients
                    // are waiting, and under load the queue refills while this batch runs.
                    let drained = self.settings.ack_processed && self.rx.is_empty();
                    if pending_items >= self.settings.send_batch_size || drained {
                        let full = std::mem::replace(&mut pending, Batch::empty(signal));
                        pending_items = 0;
                        deadline = None;
                        let waiting = std::mem::take(&mut acks);
                        let room_by = oldest.take().map(|t| t + ROOM_WAIT);
                        let outcome = self.flush(full, room_by).await;
                        answer(waiting, &outcome);
                        let all = pending_bytes;
                        self.release(&mut pending_bytes, all);
                    } else if deadline.is_none() {
                        deadline = Some(Instant::now() + self.settings.batch_timeout);
                    }
                }
                // The batch timeout passed since the first item of the pending batch.
                () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    let due = std::mem::replace(&mut pending, Batch::empty(signal));
                    pending_items = 0;
                    deadline = None;
                    let waiting = std::mem::take(&mut acks);
                    let room_by = oldest.take().map(|t| t + ROOM_WAIT);
                    let outcome = self.flush(due, room_by).await;
                    answer(waiting, &outcome);
                    let all = pending_bytes;
                    self.release(&mut pending_bytes, all);
                }
            }
        }
        if !pending.is_empty() {
            let outcome = self.flush(pending, oldest.map(|t| t + ROOM_WAIT)).await;
            answer(acks, &outcome);
        }
        let all = pending_bytes;
        self.release(&mut pending_bytes, all);
        let now = self.clock();
        if let Some(slot) = self.sampler.as_mut() {
            let at = slot.at;
            let rest = blocking(|| slot.sampler.finish(now));
            let _ = self.run_from(at, rest, None).await;
        }
        tracing::debug!(pipeline = %self.settings.id, "pipeline drained");
    }

    /// Decides the sampler's due traces and sends on what it keeps (answered for long ago).
    async fn decide_due(&mut self) {
        let now = self.clock();
        let Some(slot) = self.sampler.as_mut() else {
            return;
        };
        let at = slot.at;
        let kept = blocking(|| slot.sampler.decide_due(now));
        let _ = self.run_from(at, kept, None).await;
    }

    /// Runs one batch from the batcher through the pipeline: the stages before the sampler,
    /// the sampler, and (for what it lets through now) the stages after it. `room_by` is set
    /// when clients wait for an answer: a processor with `on_error = "refuse"` that fails then
    /// refuses the whole batch instead of dropping it, and so does a lack of exporter room at
    /// that instant; the outcome is what its requests are answered. Stages after a tail sampler
    /// run on traces already answered for.
    async fn flush(&mut self, batch: Batch, room_by: Option<Instant>) -> Outcome {
        if !batch.is_empty() {
            self.metrics.batch_items.observe(batch.item_count() as f64);
        }
        let Some(slot) = self.sampler.as_ref() else {
            return self.run_from(0, batch, room_by).await;
        };
        let at = slot.at;
        let Some(batch) = self.run_stages(0, at, batch, room_by.is_some())? else {
            return Ok(());
        };
        let now = self.clock();
        let Some(slot) = self.sampler.as_mut() else {
            return Ok(());
        };
        let passed = blocking(|| slot.sampler.ingest(batch, now));
        // The sampler holds what it buffers; what it lets through at once (late spans of traces
        // already kept) must reach the exporter queues in time like any other waiting request.
        self.run_from(at, passed, room_by).await
    }

    /// Takes `bytes` (of requests that left the pipeline) off `pending` and the held gauge.
    fn release(&self, pending: &mut u64, bytes: u64) {
        *pending = pending.saturating_sub(bytes);
        self.metrics
            .held
            .dec_by(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// See [`refuse_waiting`].
    fn refuse_waiting(&mut self) {
        refuse_waiting(&mut self.rx, &self.settings.id, &self.metrics);
    }

    /// Runs `stages[from..]` over a batch and hands the result to the exporters (see
    /// [`Pipeline::flush`] for `room_by`).
    async fn run_from(&mut self, from: usize, batch: Batch, room_by: Option<Instant>) -> Outcome {
        let to = self.stages.len();
        let Some(batch) = self.run_stages(from, to, batch, room_by.is_some())? else {
            return Ok(());
        };
        let sent = if room_by.is_none() && self.settings.ack_processed {
            // Acknowledged data (decided traces) must wait for room however long it takes;
            // clients waiting in the input queue meanwhile are refused, not held behind it.
            let send = send(&self.exporters, &self.abandon, batch, None);
            tokio::pin!(send);
            loop {
                tokio::select! {
                    // Every copy reached its queue (or the shutdown deadline took it).
                    s = &mut send => break s,
                    // Still no room: answer the waiting clients with a retryable refusal.
                    () = tokio::time::sleep(ROOM_WAIT) => {
                        refuse_waiting(&mut self.rx, &self.settings.id, &self.metrics);
                    }
                }
            }
        } else {
            send(&self.exporters, &self.abandon, batch, room_by).await
        };
        if room_by.is_some() {
            // Never acknowledged: the clients are refused (and retry), nothing is lost. Copies
            // already in other exporters' queues are sent again after the retry (at least once).
            if sent.lost > 0 {
                return Err(ConsumeError::ShuttingDown);
            }
            if sent.no_room {
                return Err(ConsumeError::Full {
                    pipeline: self.settings.id.clone(),
                    retry_after: REFUSED_RETRY_AFTER,
                });
            }
        } else {
            self.count_lost(sent.lost, "copies waiting for exporter queues");
        }
        Ok(())
    }

    /// Runs `stages[from..to]` over one batch; `Ok(None)` when nothing is left to send, `Err`
    /// when a `refuse` stage failed and the batch can still be refused (`refusable`).
    fn run_stages(
        &mut self,
        from: usize,
        to: usize,
        mut batch: Batch,
        refusable: bool,
    ) -> Result<Option<Batch>, ConsumeError> {
        if batch.is_empty() {
            return Ok(None);
        }
        let mut before = batch.item_count();
        for slot in self.stages.get_mut(from..to).unwrap_or_default() {
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
                        return Ok(None);
                    }
                }
                // A stage skipped by its open circuit breaker is logged once, by the breaker
                // (and counted in weir_processor_circuit_skipped_items_total), not per batch.
                Err(e) => match slot.stage.failure_policy() {
                    FailurePolicy::Pass if e.skipped => {
                        tracing::debug!(pipeline = %self.settings.id, error = %e,
                            "processor skipped; passing the batch on unchanged (on_error = pass)");
                    }
                    FailurePolicy::Pass => {
                        tracing::warn!(pipeline = %self.settings.id, error = %e,
                            "processor failed; passing the batch on unchanged (on_error = pass)");
                    }
                    FailurePolicy::Refuse if refusable => {
                        // Nothing of the batch was acknowledged: its clients get a retryable
                        // refusal (the receivers count the items as refused).
                        if e.skipped {
                            tracing::debug!(pipeline = %self.settings.id, error = %e, items = before,
                                "processor skipped; refusing the batch (on_error = refuse)");
                        } else {
                            tracing::warn!(pipeline = %self.settings.id, error = %e, items = before,
                                "processor failed; refusing the batch (on_error = refuse)");
                        }
                        return Err(ConsumeError::Refused {
                            pipeline: self.settings.id.clone(),
                            stage: slot.stage.name().to_string(),
                            message: e.message,
                            retry_after: REFUSED_RETRY_AFTER,
                        });
                    }
                    policy @ (FailurePolicy::Drop | FailurePolicy::Refuse) => {
                        // Without a waiting client (`ack = "received"`, or after a tail
                        // sampler) `refuse` can only drop; either way the items are counted.
                        slot.dropped.inc_by(before as u64);
                        if e.skipped {
                            tracing::debug!(pipeline = %self.settings.id, error = %e, items = before,
                                "processor skipped; dropping the batch (on_error = {})", policy.as_str());
                        } else {
                            tracing::warn!(pipeline = %self.settings.id, error = %e, items = before,
                                "processor failed; dropping the batch (on_error = {})", policy.as_str());
                        }
                        return Ok(None);
                    }
                },
            }
        }
        Ok(Some(batch))
    }

    /// Counts items this pipeline gives up on at the shutdown deadline.
    fn count_lost(&self, items: usize, place: &str) {
        if items > 0 {
            self.metrics.dropped_shutdown.inc_by(items as u64);
            tracing::warn!(pipeline = %self.settings.id, items, "dropping {place} at the shutdown deadline");
        }
    }
}

/// Hands a batch to every exporter queue, waiting for room (backpressure) — until `room_by`
/// when set. Says what did not reach a queue.
async fn send(
    exporters: &[QueueSender],
    abandon: &CancellationToken,
    batch: Batch,
    room_by: Option<Instant>,
) -> Sent {
    let mut sent = Sent::default();
    if batch.is_empty() {
        return sent;
    }
    // Every copy holds these items and bytes.
    let items = batch.item_count();
    let bytes = batch.encoded_len() as u64;
    let Some((last, rest)) = exporters.split_last() else {
        return sent;
    };
    let mut copies: Vec<(&QueueSender, Batch)> = rest.iter().map(|q| (q, batch.clone())).collect();
    copies.push((last, batch));
    let sends = copies.into_iter().map(|(q, b)| async move {
        tokio::select! {
            biased;
            // Room in the queue: delivered to the exporter (or the exporter is gone).
            r = q.send_sized(b, bytes) => r.err().map(|_| Miss::Lost(items)),
            // The shutdown deadline passed while waiting for room.
            () = abandon.cancelled() => Some(Miss::Lost(items)),
            // A waiting client's request found no room in time: refuse it instead.
            () = sleep_until(room_by.unwrap_or_else(Instant::now)), if room_by.is_some() => {
                Some(Miss::NoRoom)
            }
        }
    });
    // Waits for room in every exporter queue: this is where backpressure starts.
    for failed in join_all(sends).await.into_iter().flatten() {
        match failed {
            Miss::Lost(n) => sent.lost += n,
            Miss::NoRoom => sent.no_room = true,
        }
    }
    sent
}

/// What [`send`] could not hand to the exporter queues.
#[derive(Debug, Default)]
struct Sent {
    /// Items of copies kept from their queue by the shutdown deadline or a stopped exporter.
    lost: usize,
    /// Some queue had no room before the waiting clients' deadline.
    no_room: bool,
}

/// One copy that did not reach its exporter queue.
enum Miss {
    Lost(usize),
    NoRoom,
}

/// Refuses (as full) every request waiting in the input queue: the pipeline cannot take them
/// in time (a full tail sampler, or decided traces waiting for exporter room), and their
/// clients wait for an answer. A request without an ack cannot be in an `ack = "processed"`
/// pipeline; one that is anyway is counted as lost.
fn refuse_waiting(rx: &mut mpsc::Receiver<Request>, id: &str, metrics: &PipelineMetrics) {
    let mut refused = 0;
    while let Ok(r) = rx.try_recv() {
        metrics
            .held
            .dec_by(i64::try_from(r.bytes).unwrap_or(i64::MAX));
        match r.ack {
            Some(ack) => {
                refused += 1;
                ack.answer(Err(ConsumeError::Full {
                    pipeline: id.to_string(),
                    retry_after: REFUSED_RETRY_AFTER,
                }));
            }
            None => {
                let items = r.batch.item_count();
                metrics.dropped_shutdown.inc_by(items as u64);
                tracing::error!(pipeline = %id, items, "a request without an ack reached an ack = processed pipeline; dropping it");
            }
        }
    }
    if refused > 0 {
        tracing::debug!(pipeline = %id, refused, "cannot take requests in time: refusing the waiting ones");
    }
}

/// Answers every waiting request of a processed batch.
fn answer(acks: Vec<Ack>, outcome: &Outcome) {
    for ack in acks {
        ack.answer(outcome.clone());
    }
}

#[cfg(test)]
mod tests;
