//! Changing a running pipeline in place, between batches: a config reload swaps its stages,
//! tail samplers' policies and exporter queues without closing its input queue, so receivers
//! keep sending and samplers keep the traces they buffer.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use weir_core::QueueSender;
use weir_core::telemetry::Telemetry;

use super::{Pipeline, Slot, Step, slot};

/// One stage of the new line-up.
pub enum StageUpdate {
    /// Keep the running stage of this name as it is (a processor's instance, state and
    /// breaker; a sampler's buffer, caches, policies and settings).
    Keep(String),
    /// A new function stage (a processor that is new here or whose config changed), or a task
    /// stage: one of the same name already running takes its settings and keeps what it holds
    /// (a sampler keeps its buffered traces and decision caches, which the new policies
    /// decide); otherwise it is installed as it is.
    New(Step),
}

impl StageUpdate {
    /// The name of the stage this update keeps, or of the task stage that may adopt it.
    fn keeps(&self) -> Option<&str> {
        match self {
            StageUpdate::Keep(name) => Some(name),
            StageUpdate::New(Step::Task(t)) => Some(t.name()),
            StageUpdate::New(Step::Function(_)) => None,
        }
    }
}

/// A new shape for a running pipeline, sent by a config reload.
pub struct Reconfigure {
    /// The stages of both kinds in their new order.
    pub stages: Vec<StageUpdate>,
    /// The exporter queues; queues no longer listed are dropped, so an exporter that no
    /// pipeline feeds drains and stops.
    pub exporters: Vec<QueueSender>,
    /// Flush once this many items gathered.
    pub send_batch_size: usize,
    /// Flush whatever gathered this long after its first item arrived.
    pub batch_timeout: Duration,
}

/// The config reload's end of a pipeline's control channel. Changes queue without limit and
/// apply in order (each describes the line-up relative to the previous one), so a reload never
/// waits for a pipeline that is busy handing a batch to a stalled exporter.
#[derive(Clone, Debug)]
pub struct PipelineControl {
    tx: mpsc::UnboundedSender<(Reconfigure, oneshot::Sender<()>)>,
}

impl PipelineControl {
    pub(super) fn channel() -> (
        PipelineControl,
        mpsc::UnboundedReceiver<(Reconfigure, oneshot::Sender<()>)>,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        (PipelineControl { tx }, rx)
    }

    /// Sends `change`; the pipeline applies it between two batches and then completes the
    /// returned receiver. `None` if the pipeline has stopped.
    pub fn send(&self, change: Reconfigure) -> Option<oneshot::Receiver<()>> {
        let (done, applied) = oneshot::channel();
        self.tx.send((change, done)).ok()?;
        Some(applied)
    }
}

impl Pipeline {
    /// Applies a reload's change: task stages that go away emit what they hold first (through
    /// the old line-up and exporters, as at shutdown), then the new line-up and exporters take
    /// over.
    pub(super) async fn reconfigure(&mut self, change: Reconfigure, telemetry: &Telemetry) {
        let staying: BTreeSet<String> = change
            .stages
            .iter()
            .filter_map(|u| u.keeps().map(str::to_string))
            .collect();
        self.finish_tasks(|name| !staying.contains(name)).await;
        let mut old: HashMap<String, Slot> = self
            .slots
            .drain(..)
            .map(|s| (s.name().to_string(), s))
            .collect();
        let id = self.settings.id.clone();
        let mut slots = Vec::with_capacity(change.stages.len());
        for update in change.stages {
            match update {
                StageUpdate::Keep(name) => match old.remove(&name) {
                    Some(kept) => slots.push(kept),
                    None => tracing::error!(pipeline = %id, stage = %name,
                        "a reload kept a stage this pipeline does not have; leaving it out"),
                },
                StageUpdate::New(Step::Task(task)) => match old.remove(task.name()) {
                    Some(Slot::Task(mut running)) => match running.adopt(task) {
                        Ok(()) => slots.push(Slot::Task(running)),
                        Err(task) => {
                            let lost = running.held_items();
                            tracing::error!(pipeline = %id, stage = %task.name(), lost,
                                "a reload replaced a task stage with one of another kind; dropping what the old one held");
                            slots.push(Slot::Task(task));
                        }
                    },
                    _ => slots.push(Slot::Task(task)),
                },
                StageUpdate::New(step) => slots.push(slot(step, &self.settings, telemetry)),
            }
        }
        self.slots = slots;
        self.wire
            .store(super::slots_read_wire(&self.slots), Ordering::Release);
        self.exporters = change.exporters;
        self.settings.send_batch_size = change.send_batch_size;
        self.settings.batch_timeout = change.batch_timeout;
        tracing::info!(pipeline = %id, stages = self.slots.len(), "pipeline reconfigured");
    }
}
