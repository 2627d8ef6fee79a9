//! A pipeline carries one signal from its receivers, through a batcher and its processor stages,
//! to every exporter it lists.
//!
//! ```text
//! receiver ─┐                              ┌─▶ exporter queue A
//! receiver ─┼─▶ input queue ─▶ batcher ─▶ stages ─┼─▶ exporter queue B
//!           │   (bounded; full = retryable refusal)  └─▶ …
//! ```
//!
//! A receiver acknowledges a request once it sits in the input queue of every pipeline that
//! listens to that receiver ([`Fanout`], all or nothing). From there on nothing is dropped without
//! a counter: the pipeline waits for room in exporter queues (backpressure), so when a backend
//! stalls, exporter queues fill, then the input queue, and receivers refuse with a retryable status.

mod fanout;
mod noop;
mod run;

pub use fanout::{Fanout, PipelineInput, Switch};
pub use noop::Noop;
pub use run::{
    Pipeline, PipelineControl, PipelineSettings, Reconfigure, SamplerUpdate, StageUpdate,
};
