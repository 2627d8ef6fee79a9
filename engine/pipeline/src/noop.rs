//! `builtin:noop`: a stage that changes nothing. It is the pass-through baseline of benchmarks
//! and tests, and the simplest example of the [`Stage`] trait.

use weir_core::{Batch, FailurePolicy, Stage, StageError};

/// A stage that hands every batch on unchanged.
#[derive(Debug)]
pub struct Noop {
    name: String,
    policy: FailurePolicy,
}

impl Noop {
    /// A no-op stage called `name`.
    pub fn new(name: impl Into<String>, policy: FailurePolicy) -> Noop {
        Noop {
            name: name.into(),
            policy,
        }
    }
}

impl Stage for Noop {
    fn name(&self) -> &str {
        &self.name
    }

    fn failure_policy(&self) -> FailurePolicy {
        self.policy
    }

    fn process(&mut self, _batch: &mut Batch) -> Result<(), StageError> {
        Ok(())
    }
}
