//! Weir's core vocabulary: the per-signal [`Batch`] that flows from receivers through pipelines
//! to exporters, the [`Stage`] trait every processing step implements, the [`Consumer`] handoff
//! between receivers and pipelines, and the [`telemetry`] registry every component reports into.
//!
//! This crate knows nothing about Wasm, gRPC or HTTP so that every other crate can depend on it.

mod batch;
mod budget;
mod consumer;
pub mod ids;
mod json;
pub mod poll;
mod queue;
mod stage;
mod task;
pub mod telemetry;
pub mod wire;

pub use batch::{Batch, Signal, data_point_count};
pub use budget::CallBudget;
pub use consumer::{Ack, ConsumeError, Consumer, Outcome, Receipt};
pub use queue::{Delivery, QueueReceiver, QueueSender, batch_queue, batch_queue_held, disk_queue};
pub use stage::{FailureKind, FailurePolicy, INLINE_ITEMS, Stage, StageError, blocking};
pub use task::TaskStage;

/// Re-export of the OTLP protobuf types so that crates agree on one version.
pub use opentelemetry_proto::tonic as otlp;
