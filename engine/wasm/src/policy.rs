//! A tail-sampling policy plugin (`sampler` world): compiled and checked like a processor,
//! evaluated by one instance per sampler, with the same deadline, memory cap and circuit
//! breaker. A failed evaluation is returned as a [`PolicyError`]; the sampler gives the trace
//! the policy's fallback and counts it.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use wasmtime::Store;
use wasmtime::component::Resource;
use weir_columns::Session;
use weir_core::Batch;
use weir_core::telemetry::PluginMetrics;
use weir_tail_sampling::{Decision, Evaluate, PolicyError, Verdict};

use crate::CallError;
use crate::bindings::sampler::{self, Sampler, SamplerPre};
use crate::breaker::{Breaker, BreakerSettings};
use crate::contract::World;
use crate::engine::{WasmEngine, deadline_ticks};
use crate::host::PluginState;
use crate::plugin::{PluginSettings, check_memory, prepare, start_instance};
use crate::{Error, Result};

/// A compiled, checked policy plugin, ready to instantiate.
pub struct PolicyPlugin {
    name: Arc<str>,
    pre: SamplerPre<PluginState>,
    engine: WasmEngine,
    settings: PluginSettings,
    config_json: String,
}

impl std::fmt::Debug for PolicyPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyPlugin")
            .field("name", &self.name)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A live policy instance.
struct Instance {
    store: Store<PluginState>,
    exports: Sampler,
}

impl PolicyPlugin {
    /// Reads, checks and compiles the sampler component at `path` for the policy `name`, and
    /// runs its `init(config_json)` once so a bad config stops Weir from starting.
    pub fn load(
        engine: &WasmEngine,
        name: &str,
        path: &Path,
        config_json: String,
        settings: PluginSettings,
    ) -> Result<PolicyPlugin> {
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            plugin: name.to_string(),
            path: path.display().to_string(),
            source,
        })?;
        let origin = path.display().to_string();
        Self::from_bytes(engine, name, &origin, &bytes, config_json, settings)
    }

    /// Like [`PolicyPlugin::load`] for a component in memory; `origin` names it in errors.
    pub fn from_bytes(
        engine: &WasmEngine,
        name: &str,
        origin: &str,
        bytes: &[u8],
        config_json: String,
        settings: PluginSettings,
    ) -> Result<PolicyPlugin> {
        let pre = prepare(
            engine,
            (name, origin, bytes),
            &settings,
            World::Sampler,
            SamplerPre::new,
        )?;
        Self::initialised(name, pre, engine.clone(), settings, config_json)
    }

    /// The same compiled component as another policy `name` with its own config and settings,
    /// without compiling again (first-party policies share one component). Runs `init`.
    pub fn with_config(
        &self,
        name: &str,
        config_json: String,
        settings: PluginSettings,
    ) -> Result<PolicyPlugin> {
        check_memory(&settings).map_err(|message| Error::Init {
            plugin: name.to_string(),
            message,
        })?;
        Self::initialised(
            name,
            self.pre.clone(),
            self.engine.clone(),
            settings,
            config_json,
        )
    }

    /// The plugin, once a first instance ran `init` on its config.
    fn initialised(
        name: &str,
        pre: SamplerPre<PluginState>,
        engine: WasmEngine,
        settings: PluginSettings,
        config_json: String,
    ) -> Result<PolicyPlugin> {
        let plugin = PolicyPlugin {
            name: name.into(),
            pre,
            engine,
            settings,
            config_json,
        };
        plugin.instantiate().map_err(|e| Error::Init {
            plugin: name.to_string(),
            message: e.to_string(),
        })?;
        Ok(plugin)
    }

    /// The policy's configured name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A fresh instance with `init` already run.
    fn instantiate(&self) -> std::result::Result<Instance, CallError> {
        let (store, exports) = start_instance(
            (&self.engine, &self.name, &self.settings, &self.config_json),
            |_| {},
            |store| self.pre.instantiate(store),
            |exports, store, config| exports.call_init(store, config),
        )?;
        Ok(Instance { store, exports })
    }
}

/// One sampler's use of a policy plugin: its own instance, breaker and metrics.
pub struct WasmPolicy {
    plugin: Arc<PolicyPlugin>,
    instance: Option<Instance>,
    breaker: Breaker,
    metrics: PluginMetrics,
}

impl WasmPolicy {
    /// A policy evaluating traces with `plugin`.
    pub fn new(
        plugin: Arc<PolicyPlugin>,
        breaker: BreakerSettings,
        metrics: PluginMetrics,
    ) -> WasmPolicy {
        WasmPolicy {
            plugin,
            instance: None,
            breaker: Breaker::new(breaker),
            metrics,
        }
    }

    /// One `evaluate` call on the lent trace; the trace comes back unchanged.
    fn call(&mut self, trace: Batch) -> (Batch, std::result::Result<Verdict, CallError>) {
        let instance = match self.instance.take() {
            Some(i) => i,
            None => match self.plugin.instantiate() {
                Ok(i) => i,
                Err(e) => return (trace, Err(e)),
            },
        };
        let Instance { mut store, exports } = instance;
        let settings = &self.plugin.settings;
        let timeout = weir_core::CallBudget {
            base: settings.timeout,
            per_item: settings.per_item,
        }
        .for_items(trace.item_count());
        store.data_mut().session = Some(Session::new(trace));
        store.data_mut().counts.clear();
        store.set_epoch_deadline(deadline_ticks(timeout));
        let result = exports.call_evaluate(&mut store, Resource::new_borrow(0));
        let Some(session) = store.data_mut().session.take() else {
            unreachable!("the lent trace disappeared from the plugin store");
        };
        let counts = std::mem::take(&mut store.data_mut().counts);
        let wrote = session.has_writes();
        let invalid = session.invalid().map(ToString::to_string);
        let trace = session.abort();
        let outcome = match result {
            Ok(Ok(_)) if wrote => Err(CallError::Failed(
                "a sampling policy sees the trace read-only, but it tried to change it".into(),
            )),
            Ok(Ok(_)) if invalid.is_some() => Err(CallError::Failed(format!(
                "invalid request: {}",
                invalid.unwrap_or_default()
            ))),
            Ok(Ok(v)) => {
                for (name, label, delta) in &counts {
                    self.metrics.count(name, label, *delta);
                }
                Ok(Verdict {
                    decision: match v.decision {
                        sampler::Decision::Sample => Decision::Keep,
                        sampler::Decision::Drop => Decision::Drop,
                        sampler::Decision::NoOpinion => Decision::NoOpinion,
                    },
                    reason: {
                        let mut reason = v.reason;
                        weir_tail_sampling::cut_reason(&mut reason);
                        reason
                    },
                })
            }
            Ok(Err(message)) => Err(CallError::Failed(message)),
            Err(e) => Err(CallError::classify("evaluate", &mut store, &e, timeout)),
        };
        if !outcome.as_ref().err().is_some_and(CallError::poisons) {
            self.instance = Some(Instance { store, exports });
        }
        (trace, outcome)
    }
}

impl Evaluate for WasmPolicy {
    fn evaluate(&mut self, trace: &mut Batch) -> std::result::Result<Verdict, PolicyError> {
        let now = Instant::now();
        if !self.breaker.allows(now) {
            return Err(PolicyError {
                kind: "circuit_open",
                message: "circuit breaker open after repeated failures; not calling the plugin"
                    .into(),
            });
        }
        let spans = trace.item_count() as u64;
        self.metrics.calls.inc();
        self.metrics.items_in.inc_by(spans);
        let lent = std::mem::replace(trace, Batch::empty(trace.signal()));
        let (back, outcome) = self.call(lent);
        *trace = back;
        self.metrics.duration.observe(now.elapsed().as_secs_f64());
        match outcome {
            Ok(v) => {
                self.breaker.success();
                Ok(v)
            }
            Err(e) => {
                self.metrics.error(e.kind());
                if let Some(open_for) = self.breaker.failure(Instant::now()) {
                    tracing::warn!(
                        policy = self.plugin.name(),
                        ?open_for,
                        "policy keeps failing; circuit breaker open, traces get its fallback"
                    );
                }
                Err(PolicyError {
                    kind: e.kind(),
                    message: e.to_string(),
                })
            }
        }
    }
}
