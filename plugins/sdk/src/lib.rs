//! Write Weir plugins in Rust: processors ([`Processor`], [`export_processor!`]),
//! tail-sampling policies ([`Policy`], [`export_policy!`]) and exporters ([`Exporter`],
//! [`export_exporter!`], with [`http`] for their requests).
//!
//! ```ignore
//! use weir_plugin::{Batch, Config, Processor};
//!
//! #[derive(serde::Deserialize)]
//! struct Tag { key: String, value: String }
//!
//! impl Processor for Tag {
//!     fn init(config: Config) -> Result<Self, String> {
//!         config.parse()
//!     }
//!     fn process(&mut self, batch: &Batch) -> Result<(), String> {
//!         for span in batch.items() {
//!             if span.status_code() == 2 {
//!                 span.set_attribute(&self.key, self.value.as_str());
//!             }
//!         }
//!         Ok(())
//!     }
//! }
//! weir_plugin::export_processor!(Tag);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2` and point a processor's `plugin`
//! at `target/wasm32-wasip2/release/<crate>.wasm`. With the `testing` feature,
//! [`testing::run`] runs the same logic natively on OTLP/JSON fixtures.

mod batch;
pub mod columns;
mod exporter;
mod host;
pub mod http;
pub mod log;
pub mod metrics;
pub mod otlp_json;
mod policy;
#[cfg(feature = "testing")]
pub mod testing;
mod value;

/// Generated bindings of the `processor` world of Weir's `wit/` (not checked in).
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "processor",
        path: "../../wit",
        pub_export_macro: true,
        default_bindings_module: "weir_plugin::bindings",
    });
}

/// Generated bindings of the `sampler` world; its imports are the processor world's.
#[doc(hidden)]
pub mod sampler_bindings {
    wit_bindgen::generate!({
        world: "sampler",
        path: "../../wit",
        pub_export_macro: true,
        default_bindings_module: "weir_plugin::sampler_bindings",
        with: {
            "weir:plugin/types@0.1.2": crate::bindings::weir::plugin::types,
            "weir:plugin/log@0.1.2": crate::bindings::weir::plugin::log,
            "weir:plugin/metrics@0.1.2": crate::bindings::weir::plugin::metrics,
            "weir:plugin/telemetry@0.1.2": crate::bindings::weir::plugin::telemetry,
        },
    });
}

/// Generated bindings of the `exporter` world; its imports are the processor world's.
#[doc(hidden)]
pub mod exporter_bindings {
    wit_bindgen::generate!({
        world: "exporter",
        path: "../../wit",
        pub_export_macro: true,
        default_bindings_module: "weir_plugin::exporter_bindings",
        with: {
            "weir:plugin/types@0.1.2": crate::bindings::weir::plugin::types,
            "weir:plugin/log@0.1.2": crate::bindings::weir::plugin::log,
            "weir:plugin/metrics@0.1.2": crate::bindings::weir::plugin::metrics,
            "weir:plugin/telemetry@0.1.2": crate::bindings::weir::plugin::telemetry,
        },
    });
}

pub use batch::{Batch, Found, Item, Resource};
pub use bindings::weir::plugin::types::{
    AttributeLevel as Level, Edit, IdField, NumberField, RemoveAttribute, SetAttribute, SetText,
    Signal, TextField,
};
pub use exporter::{ExportError, Exporter, Sent};
pub use policy::{Decision, Policy, Verdict};
pub use value::{Value, ValueRef};

/// A plugin's `config` table from Weir's configuration, as JSON.
#[derive(Debug, Clone)]
pub struct Config(String);

impl Config {
    /// Wraps a JSON object.
    pub fn new(json: impl Into<String>) -> Config {
        Config(json.into())
    }

    /// The raw JSON.
    pub fn json(&self) -> &str {
        &self.0
    }

    /// Deserializes the config; the error starts with the path of the key at fault
    /// (`actions[1].pattern: …`), so that Weir points at that key's line in the config file,
    /// as it does for the other SDKs' plugins. Where in the JSON handed to the plugin the
    /// problem was (serde_json's "at line 1 column 13") is left out: that text is Weir's, not
    /// the user's file.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        let mut de = serde_json::Deserializer::from_str(&self.0);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            let message = inner
                .rfind(" at line ")
                .map_or(inner.as_str(), |i| &inner[..i]);
            if path.is_empty() || path == "." {
                format!("invalid config: {message}")
            } else {
                format!("{path}: {message}")
            }
        })
    }
}

/// A processor: created once per instance from its config, then called once per batch.
pub trait Processor: Sized + 'static {
    /// Builds the processor from its config; an error stops Weir from starting.
    fn init(config: Config) -> Result<Self, String>;

    /// The signals to be called for; batches of other signals pass by untouched.
    fn signals(&self) -> Vec<Signal> {
        vec![Signal::Traces, Signal::Metrics, Signal::Logs]
    }

    /// Processes one batch. Writes take effect only if this returns `Ok`; an `Err` gives the
    /// batch the processor's `on_error` policy.
    fn process(&mut self, batch: &Batch) -> Result<(), String>;
}

/// Glue used by [`export_processor!`]; not part of the API.
#[doc(hidden)]
pub mod __private {
    use std::any::Any;
    use std::cell::RefCell;

    pub use crate::bindings::Guest;
    pub use crate::bindings::export;
    pub use crate::bindings::weir::plugin::telemetry::Batch as HostBatch;
    pub use crate::exporter_bindings::Guest as ExporterGuest;
    pub use crate::exporter_bindings::export as export_exporter;
    pub use crate::exporter_bindings::{ExportError as WitExportError, Sent as WitSent};
    pub use crate::sampler_bindings::Guest as SamplerGuest;
    pub use crate::sampler_bindings::Verdict as WitVerdict;
    pub use crate::sampler_bindings::export as export_sampler;
    use crate::{Batch, Config, Policy, Processor, Signal};

    thread_local! {
        /// The instance's processor, created by `init`. A Wasm instance is single-threaded.
        static STATE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
    }

    /// Installs a panic hook that reports through Weir's log, then keeps what `build` makes
    /// from the config as the instance's state.
    fn install<T: Any>(
        build: impl FnOnce(Config) -> Result<T, String>,
        config: String,
    ) -> Result<(), String> {
        std::panic::set_hook(Box::new(|info| {
            crate::log::error(&format!("panic: {info}"))
        }));
        let state = build(Config(config))?;
        STATE.with(|s| *s.borrow_mut() = Some(Box::new(state)));
        Ok(())
    }

    /// `init` of a processor plugin.
    pub fn init<P: Processor>(config: String) -> Result<(), String> {
        install(P::init, config)
    }

    /// `signals`.
    pub fn signals<P: Processor>() -> Vec<Signal> {
        STATE.with(|s| {
            s.borrow()
                .as_ref()
                .and_then(|b| b.downcast_ref::<P>())
                .map_or_else(Vec::new, Processor::signals)
        })
    }

    /// `process`.
    pub fn process<P: Processor>(handle: &HostBatch) -> Result<(), String> {
        let batch = Batch::new(crate::host::Backend::Host(handle));
        run::<P>(&batch)
    }

    /// `init` of an exporter plugin.
    pub fn init_exporter<E: crate::Exporter>(config: String) -> Result<(), String> {
        install(E::init, config)
    }

    /// `send`.
    pub fn send<E: crate::Exporter>(handle: &HostBatch) -> Result<WitSent, WitExportError> {
        let batch = Batch::new(crate::host::Backend::Host(handle));
        STATE.with(|s| {
            let mut state = s.borrow_mut();
            let e = state
                .as_mut()
                .and_then(|b| b.downcast_mut::<E>())
                .ok_or_else(|| WitExportError::Rejected("send called before init".into()))?;
            e.send(&batch).map(Into::into).map_err(Into::into)
        })
    }

    /// `init` of a sampler plugin.
    pub fn init_policy<P: Policy>(config: String) -> Result<(), String> {
        install(P::init, config)
    }

    /// `evaluate`.
    pub fn evaluate<P: Policy>(handle: &HostBatch) -> Result<WitVerdict, String> {
        let batch = Batch::new(crate::host::Backend::Host(handle));
        judge::<P>(&batch)
    }

    /// Runs `P` on a trace.
    pub fn judge<P: Policy>(trace: &Batch) -> Result<WitVerdict, String> {
        STATE.with(|s| {
            let mut state = s.borrow_mut();
            let p = state
                .as_mut()
                .and_then(|b| b.downcast_mut::<P>())
                .ok_or_else(|| "evaluate called before init".to_string())?;
            let v = p.evaluate(trace)?;
            Ok(WitVerdict {
                decision: v.decision,
                reason: v.reason,
            })
        })
    }

    /// Runs `P` on a batch and flushes its writes on success.
    pub fn run<P: Processor>(batch: &Batch) -> Result<(), String> {
        STATE.with(|s| {
            let mut state = s.borrow_mut();
            let p = state
                .as_mut()
                .and_then(|b| b.downcast_mut::<P>())
                .ok_or_else(|| "process called before init".to_string())?;
            p.process(batch)?;
            batch.finish();
            Ok(())
        })
    }
}

/// Exports a [`Processor`] type as the plugin's implementation of the `processor` world.
#[macro_export]
macro_rules! export_processor {
    ($t:ty) => {
        #[doc(hidden)]
        struct __WeirProcessorExport;
        impl $crate::__private::Guest for __WeirProcessorExport {
            fn init(config: String) -> Result<(), String> {
                $crate::__private::init::<$t>(config)
            }
            fn signals() -> Vec<$crate::Signal> {
                $crate::__private::signals::<$t>()
            }
            fn process(batch: &$crate::__private::HostBatch) -> Result<(), String> {
                $crate::__private::process::<$t>(batch)
            }
        }
        $crate::__private::export!(__WeirProcessorExport with_types_in $crate::bindings);
    };
}

#[cfg(test)]
mod config_tests {
    use super::Config;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "only deserialized")]
    struct Action {
        key: String,
        pattern: Option<String>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "only deserialized")]
    struct Settings {
        percent: f64,
        actions: Vec<Action>,
    }

    #[test]
    fn config_errors_start_with_the_key_at_fault() {
        let e = Config::new(r#"{"percent": "ten", "actions": []}"#)
            .parse::<Settings>()
            .unwrap_err();
        assert_eq!(e, "percent: invalid type: string \"ten\", expected f64");
        let e = Config::new(r#"{"percent": 1, "actions": [{"key": "a"}, {"key": 3}]}"#)
            .parse::<Settings>()
            .unwrap_err();
        assert_eq!(
            e,
            "actions[1].key: invalid type: integer `3`, expected a string"
        );
        let e = Config::new(r#"{"percent": 1}"#)
            .parse::<Settings>()
            .unwrap_err();
        assert_eq!(e, "invalid config: missing field `actions`");
        assert!(!e.contains("line 1"), "{e}");
    }
}
