//! The handoff from a receiver to the pipelines that listen to it, and the answer that comes
//! back: whether the receiver may acknowledge the request.

use std::time::Duration;

use tokio::sync::oneshot;

use crate::Batch;

/// Why a request was not accepted. Every case is retryable for the client: nothing of the
/// request was kept (or, across several pipelines, what one kept is duplicated by the retry).
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
    /// A processor with `on_error = "refuse"` failed on the batch holding the request.
    #[error("pipeline {pipeline}: processor {stage} failed: {message}")]
    Refused {
        /// The pipeline the processor runs in.
        pipeline: String,
        /// The processor's configured name.
        stage: String,
        /// Why it failed (trap, deadline, error …).
        message: String,
        /// The back-off the receiver advertises.
        retry_after: Duration,
    },
    /// The process is above its memory soft limit (`[service] memory_limit`).
    #[error("weir is above its memory limit, retry after {retry_after:?}")]
    MemoryLimited {
        /// The back-off the receiver advertises.
        retry_after: Duration,
    },
    /// Weir is shutting down and accepts nothing new (or stopped before the request was
    /// processed).
    #[error("weir is shutting down")]
    ShuttingDown,
}

/// What one pipeline answers about one request.
pub type Outcome = Result<(), ConsumeError>;

/// Travels with a request into a pipeline (`ack = "processed"`): the pipeline answers through
/// it once the request's items passed every processor and sit in every exporter's queue, or
/// failed. Dropping it unanswered (the pipeline stopped) reads as [`ConsumeError::ShuttingDown`].
#[derive(Debug)]
pub struct Ack(oneshot::Sender<Outcome>);

impl Ack {
    /// A new ack and the receiver half that [`Receipt`] waits on.
    pub fn new() -> (Ack, oneshot::Receiver<Outcome>) {
        let (tx, rx) = oneshot::channel();
        (Ack(tx), rx)
    }

    /// Answers the request (the receiver may have gone: the client hung up; nothing to do).
    pub fn answer(self, outcome: Outcome) {
        let _ = self.0.send(outcome);
    }
}

/// What [`Consumer::consume`] hands back: the answers still to come from the pipelines that
/// acknowledge only after processing. [`Receipt::wait`] resolves once all have answered.
#[derive(Debug, Default)]
pub struct Receipt {
    pending: Vec<oneshot::Receiver<Outcome>>,
}

impl Receipt {
    /// A receipt with nothing to wait for (`ack = "received"` everywhere).
    pub fn ready() -> Receipt {
        Receipt::default()
    }

    /// Adds one pipeline's answer to wait for.
    pub fn push(&mut self, answer: oneshot::Receiver<Outcome>) {
        self.pending.push(answer);
    }

    /// True if no pipeline answer is pending.
    pub fn is_ready(&self) -> bool {
        self.pending.is_empty()
    }

    /// Waits for every pipeline's answer; the first failure wins (in pipeline order).
    pub async fn wait(self) -> Outcome {
        let mut first = Ok(());
        for answer in self.pending {
            let outcome = answer.await.unwrap_or(Err(ConsumeError::ShuttingDown));
            if first.is_ok() {
                first = outcome;
            }
        }
        first
    }
}

/// Accepts batches from a receiver. `consume` either takes the whole batch for every pipeline
/// that listens or takes nothing; the receiver acknowledges once the [`Receipt`] resolves `Ok`.
pub trait Consumer: Send + Sync {
    /// Hands `batch` to the pipelines, all or nothing, without waiting.
    fn consume(&self, batch: Batch) -> Result<Receipt, ConsumeError>;

    /// Whether the receiver should hand requests over as their bytes ([`Batch::Wire`]) rather
    /// than decoded: true when nothing behind this consumer reads fields (every pipeline is
    /// without processors). Either form is accepted at any time; this only saves work.
    fn wants_wire(&self) -> bool {
        false
    }
}
