//! A processor plugin as a pipeline stage: one instance per stage, one call per batch, the
//! batch lent through a [`Session`] so a failed call leaves it untouched.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::Resource;
use weir_columns::Session;
use weir_core::telemetry::PluginMetrics;
use weir_core::{Batch, FailureKind, FailurePolicy, INLINE_ITEMS, Signal, Stage, StageError};

use crate::CallError;
use crate::breaker::{Breaker, BreakerSettings};
use crate::engine::deadline_ticks;
use crate::plugin::{Instance, ProcessorPlugin};
use crate::slot::PluginSlot;

/// A call that took longer than this sends the stage's following batches into `block_in_place`
/// until a call is quick again (a slow plugin, or one that ran into its deadline).
const INLINE_CALL: Duration = Duration::from_millis(2);

/// One pipeline's use of a processor plugin.
pub struct ProcessorStage {
    /// Where a reload puts a new version; checked before each batch.
    slot: Arc<PluginSlot>,
    /// The slot's generation `plugin` came from.
    generation: u64,
    plugin: Arc<ProcessorPlugin>,
    signal: Signal,
    breaker_settings: BreakerSettings,
    /// Whether the plugin handles this pipeline's signal; if not, batches pass by uncalled.
    handles: bool,
    policy: FailurePolicy,
    /// The live instance; `None` after a failure that poisoned it, until the next batch.
    instance: Option<Instance>,
    breaker: Breaker,
    metrics: PluginMetrics,
    /// How long the last call took (zero before the first).
    last_call: Duration,
}

impl ProcessorStage {
    /// A stage running `plugin` on the batches of a pipeline of `signal`.
    pub fn new(
        plugin: Arc<ProcessorPlugin>,
        signal: Signal,
        policy: FailurePolicy,
        breaker: BreakerSettings,
        metrics: PluginMetrics,
    ) -> ProcessorStage {
        ProcessorStage::swappable(PluginSlot::new(plugin), signal, policy, breaker, metrics)
    }

    /// A stage running whatever version of a plugin `slot` holds: a new version takes over at
    /// the next batch, with a fresh instance and a closed circuit breaker.
    pub fn swappable(
        slot: Arc<PluginSlot>,
        signal: Signal,
        policy: FailurePolicy,
        breaker: BreakerSettings,
        metrics: PluginMetrics,
    ) -> ProcessorStage {
        let (generation, plugin) = slot.current();
        let handles = plugin.signals().contains(&signal);
        ProcessorStage {
            slot,
            generation,
            plugin,
            signal,
            breaker_settings: breaker,
            handles,
            policy,
            instance: None,
            breaker: Breaker::new(breaker),
            metrics,
            last_call: Duration::ZERO,
        }
    }

    /// Runs one call, returning the batch (changed or as it was) and the outcome.
    fn call(&mut self, batch: Batch) -> (Batch, Result<(), CallError>) {
        let instance = match self.instance.take() {
            Some(i) => i,
            // Instantiating (and `init`) can take long for big guests: it always leaves the
            // worker, even when a reload between `is_blocking` and here brought a new plugin.
            None => match weir_core::blocking(|| self.plugin.instantiate()) {
                Ok(i) => i,
                Err(e) => return (batch, Err(e)),
            },
        };
        let Instance { mut store, exports } = instance;
        let settings = &self.plugin.settings;
        let timeout = weir_core::CallBudget {
            base: settings.timeout,
            per_item: settings.per_item,
        }
        .for_items(batch.item_count());
        store.data_mut().session = Some(Session::new(batch));
        // Anything counted outside `process` (e.g. during `init`) is not a batch's count.
        store.data_mut().counts.clear();
        store.set_epoch_deadline(deadline_ticks(timeout));
        let result = exports.call_process(&mut store, Resource::new_borrow(0));
        let Some(session) = store.data_mut().session.take() else {
            // The session is only ever taken here; losing it would lose data, so be loud.
            unreachable!("the lent batch disappeared from the plugin store");
        };
        let counts = std::mem::take(&mut store.data_mut().counts);
        let (batch, outcome) = match result {
            Ok(Ok(())) => match session.finish() {
                Ok(b) => {
                    for (name, label, delta) in &counts {
                        self.metrics.count(name, label, *delta);
                    }
                    (b, Ok(()))
                }
                Err((b, invalid)) => (b, Err(CallError::Invalid(invalid))),
            },
            Ok(Err(message)) => (session.abort(), Err(CallError::Failed(message))),
            Err(e) => (
                session.abort(),
                Err(CallError::classify("process", &mut store, &e, timeout)),
            ),
        };
        if !outcome.as_ref().err().is_some_and(CallError::poisons) {
            self.instance = Some(Instance { store, exports });
        }
        (batch, outcome)
    }
}

impl Stage for ProcessorStage {
    fn name(&self) -> &str {
        self.plugin.name()
    }

    fn failure_policy(&self) -> FailurePolicy {
        self.policy
    }

    /// A call leaves the runtime's worker (`block_in_place`) only when it may take a while:
    /// when it must first instantiate the plugin (the first batch, after a failure or a reload),
    /// when the batch is large, or when the last call was slow. Otherwise it runs inline, and
    /// only the WASI functions that wait (printing, polling) leave the worker, from inside the
    /// call (see `lazy_io`): the hand-off cost two context switches per batch, about as much as
    /// a built-in plugin's work on 100 spans. A call that runs into its deadline holds the
    /// worker for up to `timeout` once; the batches after it leave the worker again.
    fn is_blocking(&self, items: usize) -> bool {
        // A plugin that does not handle this signal is never called, so it never gets an
        // instance: its batches stay inline.
        self.slot.generation() != self.generation
            || (self.handles
                && (self.instance.is_none()
                    || items > INLINE_ITEMS
                    || self.last_call > INLINE_CALL))
    }

    /// The plugin works through a [`Session`], which reads and edits traces and logs requests
    /// kept as bytes in place and decodes anything else itself.
    fn reads_wire(&self) -> bool {
        true
    }

    fn process(&mut self, batch: &mut Batch) -> Result<(), StageError> {
        if self.slot.generation() != self.generation {
            let (generation, plugin) = self.slot.current();
            self.handles = plugin.signals().contains(&self.signal);
            self.plugin = plugin;
            self.generation = generation;
            self.instance = None;
            self.breaker = Breaker::new(self.breaker_settings);
        }
        if !self.handles {
            return Ok(());
        }
        let now = Instant::now();
        let name = self.plugin.name().to_string();
        if !self.breaker.allows(now) {
            self.metrics.error("circuit_open");
            self.metrics
                .breaker
                .skipped
                .inc_by(batch.item_count() as u64);
            return Err(StageError {
                stage: name,
                kind: FailureKind::Skipped,
                source: "circuit breaker open after repeated failures; not calling the plugin"
                    .into(),
            });
        }
        // Half-open (a trial call) or closed from here on.
        self.metrics.breaker.open.set(0);
        let items = batch.item_count();
        self.metrics.calls.inc();
        self.metrics.items_in.inc_by(items as u64);
        let lent = std::mem::replace(batch, Batch::empty(batch.signal()));
        let (back, outcome) = self.call(lent);
        *batch = back;
        self.last_call = now.elapsed();
        self.metrics.duration.observe(self.last_call.as_secs_f64());
        match outcome {
            Ok(()) => {
                self.breaker.success();
                self.metrics.items_out.inc_by(batch.item_count() as u64);
                Ok(())
            }
            Err(e) => {
                self.metrics.error(e.kind());
                self.metrics.items_out.inc_by(items as u64);
                if let Some(open_for) = self.breaker.failure(Instant::now()) {
                    self.metrics.breaker.open.set(1);
                    tracing::warn!(
                        plugin = self.plugin.name(),
                        ?open_for,
                        "plugin keeps failing; circuit breaker open, batches get on_error = {}",
                        self.policy.as_str()
                    );
                }
                Err(StageError {
                    stage: name,
                    kind: e.failure_kind(),
                    source: Box::new(e),
                })
            }
        }
    }
}
