//! The all-or-nothing handoff from one receiver to the input queues of its pipelines.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use weir_core::telemetry::PipelineMetrics;
use weir_core::{Ack, Batch, ConsumeError, Consumer, Receipt};

/// What a full pipeline queue tells clients to wait before retrying.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// One request in a pipeline's input queue: its valid items, and the ack to answer once they
/// are processed when the pipeline acknowledges after processing.
#[derive(Debug)]
pub struct Request {
    /// The request's items.
    pub batch: Batch,
    /// `Some` with `ack = "processed"`: answered by the pipeline task.
    pub ack: Option<Ack>,
    /// When the receiver handed it over; bounds how long its client waits for exporter room.
    pub received: tokio::time::Instant,
    /// Its encoded size, counted in the pipeline's held bytes until it leaves the pipeline.
    pub bytes: u64,
}

/// The sending end of one pipeline's input queue. Receivers hold clones (through [`Fanout`]); the
/// pipeline drains and stops once every clone is dropped.
#[derive(Clone, Debug)]
pub struct PipelineInput {
    pub(crate) id: String,
    /// The pipeline answers each request after processing it (`ack = "processed"`).
    pub(crate) ack_processed: bool,
    pub(crate) tx: mpsc::Sender<Request>,
    pub(crate) metrics: PipelineMetrics,
    /// Set while every stage of the pipeline takes batches as bytes (none, or only plugin
    /// stages, which read and edit requests in place): receivers may then hand them over as
    /// the bytes they arrived in (`Batch::Wire`). Its pipeline updates it when a reload changes
    /// the stages.
    pub(crate) wire: Arc<AtomicBool>,
}

impl PipelineInput {
    fn note_queue_size(&self) {
        let used = self.tx.max_capacity() - self.tx.capacity();
        self.metrics
            .queue
            .set(i64::try_from(used).unwrap_or(i64::MAX));
    }
}

/// Everything one receiver feeds for one signal: the inputs of every pipeline that lists it.
#[derive(Clone, Debug)]
pub struct Fanout {
    inputs: Vec<PipelineInput>,
    /// Set when shutdown begins; from then on every request is refused as retryable.
    closing: Arc<AtomicBool>,
    /// Set by the memory limiter while the process is above its soft limit.
    memory: Option<Arc<AtomicBool>>,
}

impl Fanout {
    /// A fan-out to `inputs`; `closing` is shared by the whole process and set on shutdown.
    pub fn new(inputs: Vec<PipelineInput>, closing: Arc<AtomicBool>) -> Fanout {
        Fanout {
            inputs,
            closing,
            memory: None,
        }
    }

    /// Refuses every request (retryably) while `over` is set: the memory limiter's gate.
    pub fn with_memory_gate(mut self, over: Arc<AtomicBool>) -> Fanout {
        self.memory = Some(over);
        self
    }
}

impl Consumer for Fanout {
    fn wants_wire(&self) -> bool {
        !self.inputs.is_empty() && self.inputs.iter().all(|i| i.wire.load(Ordering::Acquire))
    }

    fn consume(&self, batch: Batch) -> Result<Receipt, ConsumeError> {
        if self.closing.load(Ordering::Acquire) {
            return Err(ConsumeError::ShuttingDown);
        }
        if self
            .memory
            .as_ref()
            .is_some_and(|m| m.load(Ordering::Acquire))
        {
            return Err(ConsumeError::MemoryLimited {
                retry_after: RETRY_AFTER,
            });
        }
        // Reserve a slot in every queue first, so a request is never in one pipeline and
        // refused by another (which would duplicate it when the client retries).
        let mut permits = Vec::with_capacity(self.inputs.len());
        for input in &self.inputs {
            match input.tx.try_reserve() {
                Ok(permit) => permits.push(permit),
                Err(mpsc::error::TrySendError::Full(())) => {
                    return Err(ConsumeError::Full {
                        pipeline: input.id.clone(),
                        retry_after: RETRY_AFTER,
                    });
                }
                Err(mpsc::error::TrySendError::Closed(())) => {
                    return Err(ConsumeError::ShuttingDown);
                }
            }
        }
        let bytes = batch.encoded_len() as u64;
        let mut batch = Some(batch);
        let mut receipt = Receipt::ready();
        let received = tokio::time::Instant::now();
        let last = permits.len().saturating_sub(1);
        for (i, (permit, input)) in permits.into_iter().zip(&self.inputs).enumerate() {
            let b = if i == last {
                batch.take()
            } else {
                batch.clone()
            };
            let ack = input.ack_processed.then(|| {
                let (ack, answer) = Ack::new();
                receipt.push(answer);
                ack
            });
            if let Some(batch) = b {
                input
                    .metrics
                    .held
                    .inc_by(i64::try_from(bytes).unwrap_or(i64::MAX));
                permit.send(Request {
                    batch,
                    ack,
                    received,
                    bytes,
                });
            }
        }
        for input in &self.inputs {
            input.note_queue_size();
        }
        Ok(receipt)
    }
}

/// A receiver's handle on its [`Fanout`] for one signal, which a config reload re-points (to
/// pipelines added, rebuilt or removed) while the receiver keeps its sockets and connections.
/// A request is handed to the fan-out in force when it arrives, all or nothing as before.
#[derive(Debug)]
pub struct Switch {
    current: std::sync::RwLock<Arc<Fanout>>,
}

impl Switch {
    /// A switch pointing at `fanout`.
    pub fn new(fanout: Fanout) -> Switch {
        Switch {
            current: std::sync::RwLock::new(Arc::new(fanout)),
        }
    }

    /// Points the switch at `fanout`: requests arriving from now on go there. Requests already
    /// handed to the previous pipelines stay there; a pipeline no switch holds drains and stops.
    pub fn set(&self, fanout: Fanout) {
        let old = {
            let mut guard = self
                .current
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            std::mem::replace(&mut *guard, Arc::new(fanout))
        };
        // Dropped outside the lock: the last clone of an input closes its pipeline's queue.
        drop(old);
    }

    fn get(&self) -> Arc<Fanout> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Consumer for Switch {
    fn wants_wire(&self) -> bool {
        self.get().wants_wire()
    }

    fn consume(&self, batch: Batch) -> Result<Receipt, ConsumeError> {
        self.get().consume(batch)
    }
}
