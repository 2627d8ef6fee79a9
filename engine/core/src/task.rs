//! The second kind of pipeline stage. A function stage ([`crate::Stage`]) takes a batch and
//! hands it on at once; a task stage owns a stream: it takes batches in, holds what it must
//! (a tail sampler buffers each trace until its decision), and emits later, when its own clock
//! says so. A pipeline holds any number of both, in the order the config lists them.

use std::any::Any;
use std::time::Duration;

use crate::Batch;

/// A stage that buffers and emits later (a tail sampler). Owned by one pipeline task, which
/// drives it: `ingest` on every batch that reaches it, `due` when `next_deadline` comes,
/// `finish` when the pipeline stops or the stage is removed. Times are the pipeline's clock
/// (time since the pipeline started), so a stage is testable on a paused clock.
pub trait TaskStage: Send {
    /// The configured name, in logs and metric labels.
    fn name(&self) -> &str;

    /// Takes a batch at `now`; returns what goes on at once (possibly empty).
    fn ingest(&mut self, batch: Batch, now: Duration) -> Batch;

    /// When [`TaskStage::due`] should next run, if anything is held.
    fn next_deadline(&mut self) -> Option<Duration>;

    /// Emits what is due at `now`.
    fn due(&mut self, now: Duration) -> Batch;

    /// Emits (or drops, by its own settings) everything it holds: the pipeline stops, or a
    /// reload removes this stage.
    fn finish(&mut self, now: Duration) -> Batch;

    /// True while the stage wants no more input (its bounds are reached and it is set to
    /// block): the pipeline stops reading, and clients get a retryable refusal meanwhile.
    fn is_full(&self) -> bool;

    /// Items it holds now (counted as lost if the shutdown deadline passes).
    fn held_items(&self) -> usize;

    /// A reload changed this stage's settings: take those of `new` (a stage of the same name
    /// built from the new config) and keep what is held. Gives `new` back when it is of
    /// another kind, so the caller installs it instead.
    fn adopt(&mut self, new: Box<dyn TaskStage>) -> Result<(), Box<dyn TaskStage>>;

    /// For [`TaskStage::adopt`]: the stage as `Any`, to see its concrete type.
    fn as_any(&self) -> &dyn Any;

    /// For [`TaskStage::adopt`]: the stage as `Any`, to take its concrete settings.
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}
