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

/// How a stage failed. Each is a distinct label of `weir_plugin_errors_total{kind}`, and a
/// distinct cause in logs: a plugin that traps is a bug, one past its deadline is slow or
/// stuck, one at its memory cap needs a bigger limit or leaks, an invalid write is a contract
/// violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The plugin trapped (a panic, `unreachable`, a stack overflow).
    Trap,
    /// The call ran past its deadline and was interrupted.
    Deadline,
    /// The plugin tried to grow its memory past its cap.
    Memory,
    /// The plugin asked the host for an impossible write (a wrong row, a bad id length …).
    InvalidWrite,
    /// The plugin returned an error.
    Error,
    /// The stage was not run: its circuit breaker is open after repeated failures.
    Skipped,
}

impl FailureKind {
    /// The metric label (`weir_plugin_errors_total{kind}`).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Trap => "trap",
            FailureKind::Deadline => "timeout",
            FailureKind::Memory => "memory",
            FailureKind::InvalidWrite => "invalid",
            FailureKind::Error => "error",
            FailureKind::Skipped => "circuit_open",
        }
    }
}

/// A stage failed on one batch: which stage, how, and the underlying error (kept as the
/// source, so logs and callers can walk the chain).
#[derive(Debug, thiserror::Error)]
#[error("stage {stage}: {source}")]
pub struct StageError {
    /// The stage's configured name.
    pub stage: String,
    /// How it failed.
    pub kind: FailureKind,
    /// What went wrong.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl StageError {
    /// True when the stage was not run at all (its circuit breaker is open): the breaker logged
    /// when it opened, so the pipeline does not log every skipped batch again.
    pub fn skipped(&self) -> bool {
        self.kind == FailureKind::Skipped
    }
}

/// One processing step of a pipeline. A stage is owned by exactly one pipeline task, so it may
/// keep mutable state; `process` runs synchronously on that task.
pub trait Stage: Send {
    /// The configured name, used in logs and metric labels.
    fn name(&self) -> &str;

    /// What the pipeline does with the batch when `process` fails.
    fn failure_policy(&self) -> FailurePolicy;

    /// True if `process` on a batch of `items` may block for a while: the pipeline then runs it
    /// with `tokio::task::block_in_place`, so that the runtime worker's other tasks (receivers,
    /// exporters) move to another thread meanwhile instead of waiting.
    fn is_blocking(&self, items: usize) -> bool {
        let _ = items;
        false
    }

    /// True if `process` takes a [`Batch::Wire`] as it is (reading and editing the request's
    /// bytes, decoding only what it must); otherwise the pipeline decodes the batch before the
    /// call. A pipeline whose stages all read wire lets its receivers keep requests as bytes.
    fn reads_wire(&self) -> bool {
        false
    }

    /// Transforms the batch in place. Removing every item is allowed: the pipeline then skips the
    /// remaining stages and exports nothing. On `Err` the batch must be as it was before the call
    /// (a stage applies its edits only once it knows it succeeded), so that the `pass` policy can
    /// hand it on without the pipeline keeping a copy.
    fn process(&mut self, batch: &mut Batch) -> Result<(), StageError>;
}

/// Work on up to this many items (encoding a decoded batch, a plugin call on it) stays on the
/// async runtime's worker instead of going through [`blocking`]: about a millisecond at the
/// costs measured, less than what the hand-off to another thread and back costs the worker's
/// other tasks. Shared by the exporter's encoding and processor plugin calls.
pub const INLINE_ITEMS: usize = 512;

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
