//! What both transports do with a decoded request: validate, hand over, count.

use std::sync::Arc;
use std::time::Duration;

use weir_core::telemetry::ReceiverMetrics;
use weir_core::{Batch, ConsumeError, Consumer};

use crate::validate;

/// One signal's way into the pipelines, with the counters of one transport.
#[derive(Clone)]
pub(crate) struct Intake {
    pub consumer: Arc<dyn Consumer>,
    pub metrics: ReceiverMetrics,
}

/// A request was accepted; `rejected` items of it were invalid and dropped, as reported back.
#[derive(Debug, Default)]
pub(crate) struct Accepted {
    pub rejected: i64,
    pub message: String,
}

/// The request was not accepted; nothing of it was kept.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// A pipeline is full: retry after this long.
    Overloaded(Duration),
    /// A processor with `on_error = "refuse"` failed on it: retry after this long.
    Failed {
        /// Which processor of which pipeline, and why; shown to the client.
        message: String,
        /// The back-off to advertise.
        retry_after: Duration,
    },
    /// Above the memory soft limit: retry after this long.
    Memory(Duration),
    /// Shutting down: retry elsewhere or later.
    ShuttingDown,
}

impl Intake {
    /// Validates `batch`, hands the valid part to the pipelines, waits for the answer of those
    /// that acknowledge after processing (`ack = "processed"`), and counts.
    pub(crate) async fn accept(&self, mut batch: Batch) -> Result<Accepted, Refusal> {
        let rejection = validate::drop_invalid(&mut batch);
        let items = batch.item_count() as u64;
        if rejection.rejected > 0 {
            self.metrics
                .refused_invalid
                .inc_by(rejection.rejected as u64);
        }
        let accepted = Accepted {
            rejected: i64::try_from(rejection.rejected).unwrap_or(i64::MAX),
            message: rejection.message,
        };
        if items == 0 {
            return Ok(accepted);
        }
        let outcome = match self.consumer.consume(batch) {
            Ok(receipt) => receipt.wait().await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => {
                self.metrics.accepted.inc_by(items);
                Ok(accepted)
            }
            Err(ConsumeError::Refused {
                pipeline,
                stage,
                message,
                retry_after,
            }) => {
                self.metrics.refused_processing.inc_by(items);
                Err(Refusal::Failed {
                    message: format!("pipeline {pipeline}: processor {stage} failed: {message}"),
                    retry_after,
                })
            }
            Err(ConsumeError::Full {
                pipeline,
                retry_after,
            }) => {
                self.metrics.refused_overloaded.inc_by(items);
                tracing::debug!(%pipeline, items, "pipeline full; refusing with a retryable status");
                Err(Refusal::Overloaded(retry_after))
            }
            Err(ConsumeError::MemoryLimited { retry_after }) => {
                self.metrics.refused_memory.inc_by(items);
                Err(Refusal::Memory(retry_after))
            }
            Err(ConsumeError::ShuttingDown) => {
                self.metrics.refused_shutdown.inc_by(items);
                Err(Refusal::ShuttingDown)
            }
        }
    }

    /// Counts a request refused before it could be decoded (its items are unknown: counts 1).
    pub(crate) fn count_malformed(&self) {
        self.metrics.refused_invalid.inc();
    }
}
