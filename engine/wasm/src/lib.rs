//! Weir's WebAssembly plugin host.
//!
//! - [`engine`]: the one hardened wasmtime engine (epochs, pooling, limits, compiled cache);
//! - [`ProcessorPlugin`]: a checked, compiled processor component, pre-instantiated;
//! - [`PolicyPlugin`] / [`WasmPolicy`]: a tail-sampling policy component (`sampler` world) and
//!   one sampler's instance of it, a leaf of `weir_tail_sampling`'s policy tree;
//! - [`ExporterPlugin`]: an exporter component (`exporter` world) whose `wasi:http` requests
//!   may go only to its [`AllowList`];
//! - [`inspect`]: what a component file is to Weir (worlds, WIT version, imports), for
//!   `weir plugin check`;
//! - [`ProcessorStage`]: a pipeline [`weir_core::Stage`] that runs batches through its own
//!   instance, applies the plugin's `on_error` policy on any failure, replaces a broken instance
//!   and backs off with a circuit breaker;
//! - `bindings`: the only `bindgen!` of `wit/`; `host`: the `log` and `telemetry` imports;
//!   `sandbox`: what a plugin may touch.

mod bindings;
mod breaker;
mod contract;
pub mod engine;
mod exporter;
mod host;
mod inspect;
mod lazy_io;
mod memory;
mod outgoing;
mod plugin;
mod policy;
mod sandbox;
mod slot;
mod stage;

use std::time::Duration;

pub use breaker::BreakerSettings;
pub use engine::{EngineSettings, WasmEngine};
pub use exporter::{AllowList, ExporterPlugin, SendOutcome};
pub use inspect::{Access, Import, Inspection, inspect, wit_version};
pub use memory::plugin_memory;
pub use plugin::{PluginSettings, ProcessorPlugin};
pub use policy::{PolicyPlugin, WasmPolicy};
pub use sandbox::Grants;
pub use slot::PluginSlot;
pub use stage::ProcessorStage;

/// Errors while loading a plugin; each names the plugin and says what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The engine itself could not be set up.
    #[error("wasm engine: {0}")]
    Engine(String),
    /// The plugin file could not be read.
    #[error("plugin {plugin}: cannot read {path}: {source}")]
    Read {
        /// The plugin's configured name.
        plugin: String,
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a usable processor component.
    #[error("plugin {plugin}: {origin}: {message}")]
    Plugin {
        /// The plugin's configured name.
        plugin: String,
        /// The file (or `builtin:` name) it came from.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// Instantiating the plugin or running its `init` failed.
    #[error("plugin {plugin}: {message}")]
    Init {
        /// The plugin's configured name.
        plugin: String,
        /// What failed, including the plugin's own message or panic output.
        message: String,
    },
}

/// The plugin host's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why one plugin call failed; each kind is a metric label.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum CallError {
    /// The plugin trapped (a panic, unreachable, a stack overflow …).
    #[error("trapped in {call}: {message}")]
    Trap {
        /// `init`, `process` or `instantiate`.
        call: &'static str,
        /// The trap and the plugin's last output.
        message: String,
    },
    /// The call ran past its deadline and was interrupted.
    #[error("{call} ran past its {timeout:?} deadline and was interrupted")]
    Timeout {
        /// Which call.
        call: &'static str,
        /// The deadline.
        timeout: Duration,
    },
    /// The plugin tried to grow its memory past the cap.
    #[error("{call} hit the memory limit: {message}")]
    Memory {
        /// Which call.
        call: &'static str,
        /// Wasmtime's message.
        message: String,
    },
    /// `init` returned an error for its config.
    #[error("{0}")]
    Rejected(String),
    /// `process` returned an error.
    #[error("process returned an error: {0}")]
    Failed(String),
    /// The plugin asked for something impossible.
    #[error("invalid request from the plugin: {0}")]
    Invalid(weir_columns::InvalidWrite),
}

impl CallError {
    /// The metric label of this failure.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            CallError::Trap { .. } => "trap",
            CallError::Timeout { .. } => "timeout",
            CallError::Memory { .. } => "memory",
            CallError::Rejected(_) => "init",
            CallError::Failed(_) => "error",
            CallError::Invalid(_) => "invalid",
        }
    }

    /// How a stage that made this call failed.
    pub(crate) fn failure_kind(&self) -> weir_core::FailureKind {
        use weir_core::FailureKind;
        match self {
            CallError::Trap { .. } => FailureKind::Trap,
            CallError::Timeout { .. } => FailureKind::Deadline,
            CallError::Memory { .. } => FailureKind::Memory,
            CallError::Invalid(_) => FailureKind::InvalidWrite,
            CallError::Rejected(_) | CallError::Failed(_) => FailureKind::Error,
        }
    }

    /// True if the instance must be thrown away (wasmtime poisons an instance after a trap).
    pub(crate) fn poisons(&self) -> bool {
        matches!(
            self,
            CallError::Trap { .. } | CallError::Timeout { .. } | CallError::Memory { .. }
        )
    }

    /// Turns a wasmtime error from `call` into a failure kind, using what the store saw.
    pub(crate) fn classify(
        call: &'static str,
        store: &mut wasmtime::Store<host::PluginState>,
        error: &wasmtime::Error,
        timeout: Duration,
    ) -> CallError {
        if store.data().limiter.memory_hit {
            return CallError::Memory {
                call,
                message: format!("{error:#}"),
            };
        }
        if matches!(
            error.downcast_ref::<wasmtime::Trap>(),
            Some(wasmtime::Trap::Interrupt)
        ) {
            return CallError::Timeout { call, timeout };
        }
        let output = store.data().stderr.take();
        let trap = error
            .downcast_ref::<wasmtime::Trap>()
            .map_or_else(|| format!("{error:#}"), ToString::to_string);
        let message = if output.is_empty() {
            trap
        } else {
            format!("{trap}; plugin output: {output}")
        };
        CallError::Trap { call, message }
    }
}
