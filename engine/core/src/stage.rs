//! The function stage: a batch in, a batch out (a Wasm processor or a native helper). Stages
//! that buffer and emit later (tail samplers) are [`crate::TaskStage`]s.

use crate::Batch;

/// What happens to a batch when its stage fails (trap, deadline, invalid output, error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// Hand the batch on unchanged, as it was before the failing stage (fail-open).
    #[default]
    Pass,
    /// Drop the batch and count its items as dropped (fail-closed).
    Drop,
    /// Refuse the batch upstream with a retryable status. Only possible before the receiver has
    /// acknowledged it; inside an asynchronous pipeline it behaves like `Drop` and is counted.
    Refuse,
}

impl FailurePolicy {
    /// The config spelling (`on_error = "pass"`).
    pub fn as_str(self) -> &'static str {
        match self {
            FailurePolicy::Pass => "pass",
            FailurePolicy::Drop => "drop",
            FailurePolicy::Refuse => "refuse",
        }
    }
}

/// A stage failed on one batch.
#[derive(Debug, thiserror::Error)]
#[error("stage {stage}: {message}")]
pub struct StageError {
    /// The stage's configured name.
    pub stage: String,
    /// What went wrong, for logs.
    pub message: String,
    /// True when the stage was not run at all (its circuit breaker is open): the breaker logged
    /// when it opened, so the pipeline does not log every skipped batch again.
    pub skipped: bool,
}

/// One processing step of a pipeline. A stage is owned by exactly one pipeline task, so it may
/// keep mutable state; `process` runs synchronously on that task.
pub trait Stage: Send {
    /// The configured name, used in logs and metric labels.
    fn name(&self) -> &str;

    /// What the pipeline does with the batch when `process` fails.
    fn failure_policy(&self) -> FailurePolicy;

    /// True if `process` may block for a while or run WASI's synchronous bindings (which block
    /// on the async runtime): the pipeline then runs it with `tokio::task::block_in_place`.
    fn is_blocking(&self) -> bool {
        false
    }

    /// Transforms the batch in place. Removing every item is allowed: the pipeline then skips the
    /// remaining stages and exports nothing. On `Err` the batch must be as it was before the call
    /// (a stage applies its edits only once it knows it succeeded), so that the `pass` policy can
    /// hand it on without the pipeline keeping a copy.
    fn process(&mut self, batch: &mut Batch) -> Result<(), StageError>;
}

/// Runs synchronous work that may block for a while: a stage marked [`Stage::is_blocking`],
/// loading a plugin, writing to stdout or a file. On a multi-threaded runtime it runs in
/// `block_in_place`, so the other tasks of this worker move elsewhere and WASI's synchronous
/// bindings (which block on the runtime) are allowed; elsewhere (tests, no runtime) it runs
/// inline.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}
