//! The pipeline task: batch, run the stages in order, fan out to exporter queues. Stages are of
//! two kinds ([`Step`]): function stages (processors) hand a batch on at once; task stages
//! (tail samplers) hold what they take and emit it later, when their deadlines come. A pipeline
//! holds any number of each, in the order its config lists them.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use futures::future::join_all;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use weir_core::telemetry::{PipelineMetrics, Telemetry};
use weir_core::{Ack, Batch, ConsumeError, Outcome, QueueSender, Signal, blocking};

use crate::fanout::{PipelineInput, Request};

mod reconfig;
mod stages;

pub use reconfig::{PipelineControl, Reconfigure, StageUpdate};
pub use stages::Step;
use stages::{Slot, run_functions, slot};

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

/// How often a pipeline whose task stage is full checks whether shutdown began.
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
    /// (up to the first task stage, a tail sampler) and sit in every exporter's queue, so a
    /// processor's failure can still refuse it. The batcher then never holds a request waiting
    /// for more: it takes what waits in the input queue (up to `send_batch_size`) and processes
    /// it at once.
    pub ack_processed: bool,
}

/// A running pipeline; drive it with [`Pipeline::run`].
pub struct Pipeline {
    settings: PipelineSettings,
    /// Receivers (through [`crate::Fanout`]) send requests, with an [`Ack`] when this pipeline
    /// acknowledges after processing; only this task receives. `None` from `recv` means every
    /// receiver is gone: flush and stop.
    rx: mpsc::Receiver<Request>,
    /// The line-up, in order.
    slots: Vec<Slot>,
    /// The origin of the task stages' clock (set when `run` starts).
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
    /// Shared with the pipeline's input: set while every stage reads wire batches (see
    /// `PipelineInput::wire`).
    wire: Arc<AtomicBool>,
}

/// Whether a pipeline with these stages takes batches as bytes: no stage, or only stages that
/// read [`Batch::Wire`] themselves (no task stage: the tail sampler keeps decoded traces).
fn slots_read_wire(slots: &[Slot]) -> bool {
    slots.iter().all(|s| match s {
        Slot::Function(f) => f.stage.reads_wire(),
        Slot::Task(_) => false,
    })
}

impl Pipeline {
    /// Builds a pipeline and the input that receivers send into. Firing `abandon` (the shutdown
    /// deadline) makes the pipeline count everything it still holds as dropped and stop.
    pub fn new(
        settings: PipelineSettings,
        steps: Vec<Step>,
        exporters: Vec<QueueSender>,
        telemetry: &Telemetry,
        abandon: CancellationToken,
    ) -> (Pipeline, PipelineInput) {
        let (tx, rx) = mpsc::channel(settings.queue_size.max(1));
        let metrics = telemetry.pipeline(&settings.id, settings.signal);
        let slots: Vec<Slot> = steps
            .into_iter()
            .map(|step| slot(step, &settings, telemetry))
            .collect();
        let input = PipelineInput {
            id: settings.id.clone(),
            ack_processed: settings.ack_processed,
            tx,
            metrics: metrics.clone(),
            wire: Arc::new(AtomicBool::new(slots_read_wire(&slots))),
        };
        let wire = input.wire.clone();
        let pipeline = Pipeline {
            settings,
            rx,
            slots,
            start: Instant::now(),
            exporters,
            metrics,
            abandon,
            control: None,
            telemetry: telemetry.clone(),
            wire,
        };
        (pipeline, input)
    }

    /// The handle a config reload changes this pipeline through, between batches.
    pub fn control(&mut self) -> PipelineControl {
        let (control, rx) = PipelineControl::channel();
        self.control = Some(rx);
        control
    }

    /// The task stages' clock: time since the pipeline started.
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
            // Task stages emit on ticks, so that traces due close together leave as one batch
            // instead of one export request each.
            let decide_at = self
                .slots
                .iter_mut()
                .filter_map(|s| s.task()?.next_deadline())
                .min()
                .map(|d| start + round_up(d, DECISION_TICK));
            // A full task stage (a sampler with `block_on_overflow`) stops this task from
            // reading: the input queue fills and receivers refuse with a retryable status. Once
            // every receiver is gone (shutdown) it reads again, so the queue drains and `finish`
            // runs in time.
            let accepting = !self
                .slots
                .iter()
                .any(|s| matches!(s, Slot::Task(t) if t.is_full()))
                || self.rx.is_closed();
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
                    lost += self
                        .slots
                        .iter()
                        .map(|s| match s {
                            Slot::Task(t) => t.held_items(),
                            Slot::Function(_) => 0,
                        })
                        .sum::<usize>();
                    self.count_lost(lost, "batcher, input queue and tail samplers");
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
                // A task stage's deadline came (a buffered trace is due), ahead of new data, so
                // that a steady stream cannot postpone decisions.
                () = sleep_until(decide_at.unwrap_or_else(Instant::now)), if decide_at.is_some() => {
                    self.decide_due().await;
                }
                // Not reading (a task stage is full): look again shortly whether the receivers are gone,
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
        self.finish_tasks(|_| true).await;
        tracing::debug!(pipeline = %self.settings.id, "pipeline drained");
    }

    /// Makes the task stages `which` accepts emit everything they hold, in line-up order (so
    /// what one emits reaches the later ones before they finish), and sends it on.
    async fn finish_tasks(&mut self, which: impl Fn(&str) -> bool) {
        for at in 0..self.slots.len() {
            let now = self.clock();
            let rest = match self.slots.get_mut(at) {
                Some(Slot::Task(task)) if which(task.name()) => blocking(|| task.finish(now)),
                _ => continue,
            };
            let _ = self.run_from(at + 1, rest, None).await;
        }
    }

    /// Runs every task stage whose deadline came and sends on what it emits (answered for long
    /// ago), in line-up order.
    async fn decide_due(&mut self) {
        for at in 0..self.slots.len() {
            let now = self.clock();
            let Some(task) = self.slots.get_mut(at).and_then(Slot::task) else {
                continue;
            };
            if task.next_deadline().is_none_or(|d| d > now) {
                continue;
            }
            let due = blocking(|| task.due(now));
            let _ = self.run_from(at + 1, due, None).await;
        }
    }

    /// Runs one batch from the batcher through the pipeline. `room_by` is set when clients wait
    /// for an answer: a processor with `on_error = "refuse"` that fails before the first task
    /// stage then refuses the whole batch instead of dropping it, and so does a lack of
    /// exporter room at that instant; the outcome is what its requests are answered. Stages
    /// after a task stage run on data already answered for.
    async fn flush(&mut self, batch: Batch, room_by: Option<Instant>) -> Outcome {
        if !batch.is_empty() {
            self.metrics.batch_items.observe(batch.item_count() as f64);
        }
        self.run_from(0, batch, room_by).await
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

    /// Runs `slots[from..]` over a batch and hands the result to the exporters (see
    /// [`Pipeline::flush`] for `room_by`). A task stage takes the batch and hands on only what
    /// it lets through at once (late spans of traces already kept), which must reach the
    /// exporter queues in time like any other waiting request.
    async fn run_from(
        &mut self,
        from: usize,
        mut batch: Batch,
        room_by: Option<Instant>,
    ) -> Outcome {
        let mut refusable = room_by.is_some();
        let mut at = from;
        while at < self.slots.len() {
            if batch.is_empty() {
                return Ok(());
            }
            let now = self.clock();
            let id = &self.settings.id;
            match self.slots.get_mut(at..) {
                Some([Slot::Task(task), ..]) => {
                    batch.make_typed();
                    batch = blocking(|| task.ingest(batch, now));
                    refusable = false;
                    at += 1;
                }
                Some(rest) => {
                    let (ran, go_on) = run_functions(rest, &mut batch, refusable, id)?;
                    if !go_on {
                        return Ok(());
                    }
                    at += ran.max(1);
                }
                None => break,
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
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
