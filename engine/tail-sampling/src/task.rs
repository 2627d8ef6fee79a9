//! The tail sampler as a pipeline's task stage.

use std::any::Any;
use std::time::Duration;

use weir_core::{Batch, TaskStage};

use crate::Sampler;

impl TaskStage for Sampler {
    fn name(&self) -> &str {
        Sampler::name(self)
    }

    fn ingest(&mut self, batch: Batch, now: Duration) -> Batch {
        Sampler::ingest(self, batch, now)
    }

    fn next_deadline(&mut self) -> Option<Duration> {
        Sampler::next_deadline(self)
    }

    fn due(&mut self, now: Duration) -> Batch {
        self.decide_due(now)
    }

    fn finish(&mut self, now: Duration) -> Batch {
        Sampler::finish(self, now)
    }

    fn is_full(&self) -> bool {
        Sampler::is_full(self)
    }

    fn held_items(&self) -> usize {
        self.buffered_spans()
    }

    /// A sampler of the same name takes the new policies and settings and keeps its buffered
    /// traces and decision caches (see [`Sampler::adopt`]).
    fn adopt(&mut self, new: Box<dyn TaskStage>) -> Result<(), Box<dyn TaskStage>> {
        if new.name() != self.name() || !new.as_any().is::<Sampler>() {
            return Err(new);
        }
        if let Ok(sampler) = new.into_any().downcast::<Sampler>() {
            Sampler::adopt(self, *sampler);
        }
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}
