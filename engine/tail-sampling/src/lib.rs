//! Weir's tail sampler.
//!
//! ```text
//! pipeline stages ─▶ Sampler::ingest ─▶ buffer by trace id ──(decision_wait, root, bounds)──▶
//!     policies (Wasm leaves + host combinators and budgets) ─▶ keep: on to the next stages
//!                                                            └▶ drop: counted
//! late spans ─▶ decision caches (kept / dropped LRUs) ─▶ follow the earlier decision
//! ```
//!
//! - [`Sampler`]: the synchronous state machine, driven with the caller's clock so that the
//!   gateway, paused-clock tests and the policy lab run the same code;
//! - [`Policy`]: the policy tree — leaves implement [`Evaluate`] (the gateway plugs Wasm
//!   components in), combinators and rate budgets live in the host;
//! - `trace`: how a buffered trace is stored (encoded spans, shared resource and scope).

mod budget;
mod policy;
mod sampler;
mod task;
mod trace;

pub use policy::{
    Decision, ErrorSink, Evaluate, Outcome, Policy, PolicyError, TraceInput, Verdict, combine,
};
pub use sampler::{
    MAX_REASON, OnShutdown, POLICY_ATTRIBUTE, REASON_ATTRIBUTE, Sampler, SamplerSettings, TraceId,
    cut_reason, trace_key,
};

#[cfg(test)]
mod tests;
