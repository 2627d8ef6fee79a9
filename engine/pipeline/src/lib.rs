//! A pipeline carries one signal from its receivers, through a batcher and its stages, to every
//! exporter it lists. Stages are function stages (processors: a batch in, a batch out) or task
//! stages (tail samplers: they hold traces and emit them when decided), in any number and order.
//!
//! ```text
//! receiver ─┐                              ┌─▶ exporter queue A
//! receiver ─┼─▶ input queue ─▶ batcher ─▶ stages ─┼─▶ exporter queue B
//!           │   (bounded; full = retryable refusal)  └─▶ …
//! ```
//!
//! A receiver hands a request to the input queue of every pipeline that listens to it
//! ([`Fanout`], all or nothing). With `ack = "processed"` (the default) it answers the client
//! only once each of those pipelines ran the request through its processors (up to the first
//! tail sampler) and put the result in every exporter queue: a processor with `on_error = "refuse"`
//! that fails makes the client retry, and nothing acknowledged was dropped on the way. With
//! `ack = "received"` it answers once the request is in the input queues. Either way nothing is
//! dropped without a counter: the pipeline waits for room in exporter queues (backpressure), so
//! when a backend stalls, exporter queues fill, then the input queue, and receivers refuse with
//! a retryable status.

mod fanout;
mod noop;
mod run;

pub use fanout::{Fanout, PipelineInput, Request, Switch};
pub use noop::Noop;
pub use run::{Pipeline, PipelineControl, PipelineSettings, Reconfigure, StageUpdate, Step};
