//! The running Weir gateway, as one object with three verbs: [`Service::start`] builds it from
//! a config, [`Service::reload`] changes it, [`Service::shutdown`] drains and stops it.
//!
//! Every change, whatever asks for it (the first start, SIGHUP, `POST /-/reload`, a watched
//! config, plugin, policy or certificate file), takes one path:
//!
//! ```text
//! config file ─▶ Config ─┐
//! every file it names ──┴▶ Desired (config + content hash of each file)
//!        plan(running, desired) ─▶ Plan: keep / swap / build / start / stop, per component
//!        apply(plan) ─▶ prepare everything new (compile, bind, start exporters) ─▶ commit
//! ```
//!
//! [`plan`] is pure: it compares two desired states and says what changes, so what a reload
//! will do is testable without starting anything. `apply` (in `apply.rs`) prepares every new
//! part first and commits only when all of them are ready: a failed reload leaves the running
//! gateway as it was.
//!
//! Where a batch goes, from a socket to a backend: `weir-listen` accepts the connection,
//! `weir-receiver` decodes OTLP and hands the batch to a [`weir_pipeline::Fanout`], the
//! pipeline (`weir-pipeline`) batches it and runs its stages (processors through `weir-wasm`,
//! tail samplers from `weir-tail-sampling`), then puts it in each exporter's queue, from which
//! `weir-export` sends it.

mod apply;
mod check;
mod control;
mod desired;
mod exporters;
mod jaeger;
mod memory;
mod plan;
mod processors;
mod run;
mod samplers;
mod security;
mod selftest;
mod swap;
mod watch;

pub use check::check;
pub use control::What;
pub use desired::{Component, Desired, referenced};
pub use plan::{Action, PipelineAction, Plan, ReceiverAction, RestartNeeded, plan};
pub use processors::Plugins;
pub use run::Service;
pub use samplers::Policies;
pub use selftest::diff;

/// Why the gateway could not start, or a reload was refused. The message is a diagnostic for
/// a person (with `file:line: key:` where a config setting is at fault) and keeps its causes.
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct Error(#[from] anyhow::Error);
