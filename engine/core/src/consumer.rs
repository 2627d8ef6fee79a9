//! The handoff from a receiver to the pipelines that listen to it.

use std::time::Duration;

use crate::Batch;

/// Why a batch was not accepted. Both cases are retryable for the client: nothing was kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsumeError {
    /// A pipeline queue is full; the client should retry after `retry_after`.
    #[error("pipeline {pipeline} is full, retry after {retry_after:?}")]
    Full {
        /// The pipeline whose queue was full.
        pipeline: String,
        /// The back-off the receiver advertises (RetryInfo / Retry-After).
        retry_after: Duration,
    },
    /// Weir is shutting down and accepts nothing new.
    #[error("weir is shutting down")]
    ShuttingDown,
}

/// Accepts batches from a receiver. `consume` either takes ownership of the whole batch for every
/// pipeline that listens (the receiver may then acknowledge it) or takes nothing.
pub trait Consumer: Send + Sync {
    /// Hands `batch` to the pipelines, all or nothing, without waiting.
    fn consume(&self, batch: Batch) -> Result<(), ConsumeError>;
}
