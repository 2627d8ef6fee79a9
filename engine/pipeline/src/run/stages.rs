//! A pipeline's stages as they run: [`Step`] is a stage of either kind as the config builds
//! it, [`Slot`] the running one; [`run_functions`] runs consecutive function stages (in one
//! blocking section) and applies each one's `on_error` policy (pass, drop, or refuse while a
//! client still waits).

use weir_core::telemetry::{Counter, Telemetry};
use weir_core::{Batch, ConsumeError, FailurePolicy, Stage, TaskStage, blocking};

use super::{PipelineSettings, REFUSED_RETRY_AFTER};

/// One stage and the counter of the items it removed.
pub(super) struct StageSlot {
    pub(super) stage: Box<dyn Stage>,
    pub(super) dropped: Counter,
}

/// One stage of a pipeline, of either kind, as the config builds it.
pub enum Step {
    /// A function stage: a batch in, a batch out (a processor).
    Function(Box<dyn Stage>),
    /// A task stage: it holds what it takes and emits later (a tail sampler).
    Task(Box<dyn TaskStage>),
}

impl Step {
    /// The configured name.
    pub fn name(&self) -> &str {
        match self {
            Step::Function(s) => s.name(),
            Step::Task(t) => t.name(),
        }
    }
}

impl From<Box<dyn Stage>> for Step {
    fn from(stage: Box<dyn Stage>) -> Step {
        Step::Function(stage)
    }
}

/// A running stage of either kind.
pub(super) enum Slot {
    Function(StageSlot),
    Task(Box<dyn TaskStage>),
}

impl Slot {
    pub(super) fn name(&self) -> &str {
        match self {
            Slot::Function(s) => s.stage.name(),
            Slot::Task(t) => t.name(),
        }
    }

    pub(super) fn task(&mut self) -> Option<&mut Box<dyn TaskStage>> {
        match self {
            Slot::Task(t) => Some(t),
            Slot::Function(_) => None,
        }
    }
}

/// A running slot for `step`, with its dropped-items counter.
pub(super) fn slot(step: Step, settings: &PipelineSettings, telemetry: &Telemetry) -> Slot {
    match step {
        Step::Function(stage) => Slot::Function(StageSlot {
            dropped: telemetry.processor_dropped(&settings.id, stage.name(), settings.signal),
            stage,
        }),
        Step::Task(task) => Slot::Task(task),
    }
}

/// Runs the function stages at the start of `slots` (up to the first task stage) over `batch`
/// in pipeline `id`; returns how many slots that was, and whether to go on (`false` when
/// nothing is left to send). `Err` when a `refuse` stage failed and the batch can still be
/// refused (`refusable`).
///
/// When any of them may block on this batch (a Wasm plugin on a large batch, or one whose last
/// call was slow), the whole run goes into one [`blocking`] section: each section hands the
/// runtime worker's other tasks to another thread and back, which cost two context switches
/// per stage and batch when every stage had its own.
pub(super) fn run_functions(
    slots: &mut [Slot],
    batch: &mut Batch,
    refusable: bool,
    id: &str,
) -> Result<(usize, bool), ConsumeError> {
    let run = slots
        .iter()
        .take_while(|s| matches!(s, Slot::Function(_)))
        .count();
    let items = batch.item_count();
    let any_blocking = slots
        .iter()
        .take(run)
        .any(|s| matches!(s, Slot::Function(f) if f.stage.is_blocking(items)));
    let functions = slots.iter_mut().take(run).filter_map(|s| match s {
        Slot::Function(f) => Some(f),
        Slot::Task(_) => None,
    });
    let go = || -> Result<bool, ConsumeError> {
        for slot in functions {
            if batch.is_empty() || !run_stage(slot, batch, refusable, id)? {
                return Ok(false);
            }
        }
        Ok(true)
    };
    let go_on = if any_blocking { blocking(go) } else { go() }?;
    Ok((run, go_on))
}

/// Runs one function stage over `batch` in pipeline `id`: `Ok(true)` to go on, `Ok(false)` when
/// nothing is left to send, `Err` when a `refuse` stage failed and the batch can still be
/// refused (`refusable`). The caller decides whether this runs in a [`blocking`] section.
fn run_stage(
    slot: &mut StageSlot,
    batch: &mut Batch,
    refusable: bool,
    id: &str,
) -> Result<bool, ConsumeError> {
    // A stage that reads fields of decoded batches gets one (decoded once, for it and the
    // stages after it); one that reads wire takes the bytes as they are.
    if !slot.stage.reads_wire() {
        batch.make_typed();
    }
    let before = batch.item_count();
    let outcome = slot.stage.process(batch);
    match outcome {
        Ok(()) => {
            let after = batch.item_count();
            if after < before {
                slot.dropped.inc_by((before - after) as u64);
            }
            Ok(after > 0)
        }
        // A stage skipped by its open circuit breaker is logged once, by the breaker (and
        // counted in weir_processor_circuit_skipped_items_total), not per batch.
        Err(e) => match slot.stage.failure_policy() {
            FailurePolicy::Pass if e.skipped() => {
                tracing::debug!(pipeline = %id, error = %e,
                    "processor skipped; passing the batch on unchanged (on_error = pass)");
                Ok(true)
            }
            FailurePolicy::Pass => {
                tracing::warn!(pipeline = %id, error = %e,
                    "processor failed; passing the batch on unchanged (on_error = pass)");
                Ok(true)
            }
            FailurePolicy::Refuse if refusable => {
                // Nothing of the batch was acknowledged: its clients get a retryable refusal
                // (the receivers count the items as refused).
                if e.skipped() {
                    tracing::debug!(pipeline = %id, error = %e, items = before,
                        "processor skipped; refusing the batch (on_error = refuse)");
                } else {
                    tracing::warn!(pipeline = %id, error = %e, items = before,
                        "processor failed; refusing the batch (on_error = refuse)");
                }
                Err(ConsumeError::Refused {
                    pipeline: id.to_string(),
                    stage: slot.stage.name().to_string(),
                    message: e.source.to_string(),
                    retry_after: REFUSED_RETRY_AFTER,
                })
            }
            policy @ (FailurePolicy::Drop | FailurePolicy::Refuse) => {
                // Without a waiting client (`ack = "received"`, or after a task stage) `refuse`
                // can only drop; either way the items are counted.
                slot.dropped.inc_by(before as u64);
                if e.skipped() {
                    tracing::debug!(pipeline = %id, error = %e, items = before,
                        "processor skipped; dropping the batch (on_error = {})", policy.as_str());
                } else {
                    tracing::warn!(pipeline = %id, error = %e, items = before,
                        "processor failed; dropping the batch (on_error = {})", policy.as_str());
                }
                Ok(false)
            }
        },
    }
}
