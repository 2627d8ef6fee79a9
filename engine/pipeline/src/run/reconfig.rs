//! Changing a running pipeline in place, between batches: a config reload swaps its stages,
//! tail sampler policies and exporter queues without closing its input queue, so receivers keep
//! sending and a sampler keeps the traces it buffers.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use weir_core::telemetry::Telemetry;
use weir_core::{QueueSender, Stage, blocking};
use weir_sampling::Sampler;

use super::{Pipeline, SamplerSlot, StageSlot};

/// One stage of the new line-up.
pub enum StageUpdate {
    /// Keep the running stage of this processor name (its instance, state and breaker).
    Keep(String),
    /// A new stage (a processor that is new here or whose config changed).
    New(Box<dyn Stage>),
}

/// What becomes of the tail sampler.
pub enum SamplerUpdate {
    /// No sampler from now on: a running one decides every trace it holds now, as at shutdown.
    None,
    /// Keep the running sampler, after the first `at` stages.
    Keep {
        /// Its new position.
        at: usize,
    },
    /// Take the policies and settings of `sampler`. A running sampler of the same name keeps
    /// its buffered traces and decision caches, so the traces it holds are decided by the new
    /// policies; otherwise `sampler` is installed as it is (after the old one decided).
    Replace {
        /// Its position.
        at: usize,
        /// The sampler built from the new config.
        sampler: Box<Sampler>,
    },
}

/// A new shape for a running pipeline, sent by a config reload.
pub struct Reconfigure {
    /// The stages in their new order.
    pub stages: Vec<StageUpdate>,
    /// The tail sampler.
    pub sampler: SamplerUpdate,
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
    /// Applies a reload's change: a sampler being removed decides what it holds first (on the
    /// old stages and exporters), then the new stages, sampler and exporters take over.
    pub(super) async fn reconfigure(&mut self, change: Reconfigure, telemetry: &Telemetry) {
        // A sampler that goes away (or is replaced by one of another name) decides now.
        let goes = match (&change.sampler, &self.sampler) {
            (SamplerUpdate::None, _) => true,
            (SamplerUpdate::Replace { sampler, .. }, Some(slot)) => {
                slot.sampler.name() != sampler.name()
            }
            _ => false,
        };
        if goes && let Some(mut slot) = self.sampler.take() {
            let now = self.clock();
            let rest = blocking(|| slot.sampler.finish(now));
            let at = slot.at;
            let _ = self.run_from(at, rest, None).await;
        }
        let mut old: HashMap<String, StageSlot> = self
            .stages
            .drain(..)
            .map(|s| (s.stage.name().to_string(), s))
            .collect();
        let (id, signal) = (self.settings.id.clone(), self.settings.signal);
        self.stages = change
            .stages
            .into_iter()
            .filter_map(|u| match u {
                StageUpdate::Keep(name) => {
                    let kept = old.remove(&name);
                    if kept.is_none() {
                        tracing::error!(pipeline = %id, processor = %name,
                            "a reload kept a stage this pipeline does not have; leaving it out");
                    }
                    kept
                }
                StageUpdate::New(stage) => Some(StageSlot {
                    dropped: telemetry.processor_dropped(&id, stage.name(), signal),
                    stage,
                }),
            })
            .collect();
        let stages = self.stages.len();
        match change.sampler {
            SamplerUpdate::None => {}
            SamplerUpdate::Keep { at } => {
                if let Some(slot) = self.sampler.as_mut() {
                    slot.at = at.min(stages);
                }
            }
            SamplerUpdate::Replace { at, sampler } => match self.sampler.as_mut() {
                Some(slot) if slot.sampler.name() == sampler.name() => {
                    slot.sampler.adopt(*sampler);
                    slot.at = at.min(stages);
                }
                _ => {
                    self.sampler = Some(SamplerSlot {
                        at: at.min(stages),
                        sampler: *sampler,
                    });
                }
            },
        }
        self.exporters = change.exporters;
        self.settings.send_batch_size = change.send_batch_size;
        self.settings.batch_timeout = change.batch_timeout;
        tracing::info!(pipeline = %id, stages, "pipeline reconfigured");
    }
}
