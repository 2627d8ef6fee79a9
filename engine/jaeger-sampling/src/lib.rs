//! Jaeger remote sampling: SDKs and Jaeger clients configured with a remote sampler ask
//! `GET /sampling?service=NAME` for their head-sampling strategy. Weir serves the answers from a
//! strategies file in Jaeger's own format (the one `jaeger-collector --sampling.strategies-file`
//! and the Collector's `jaegerremotesampling` extension read), and reloads it when it changes.
//!
//! - [`Strategies`] parses and checks the file and renders one service's answer;
//! - [`Store`] holds the strategies in force and reloads them: a file that fails to parse leaves
//!   the previous strategies in force, and the failure is logged and counted.

mod store;
mod strategies;

pub use store::{Reload, Store};
pub use strategies::{Error, Strategies};
