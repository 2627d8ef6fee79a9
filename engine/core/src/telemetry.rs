//! Weir's own metrics, exposed in Prometheus text format on the admin listener's `/metrics`.
//!
//! Components ask for their handles once, at build time (`Telemetry::receiver(..)` and friends),
//! so the data path only increments atomics.

use std::sync::{Arc, Mutex};

use prometheus_client::encoding::text::encode;
/// Re-exported so stages and pipelines can hold counters without depending on the client crate.
pub use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
/// Re-exported for the same reason as [`Counter`].
pub use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::Signal;

mod buckets;
mod health;
mod plugin_memory;
mod sampler;
mod security;
pub use health::{BreakerMetrics, HealthHandle, ListenerMetrics};
pub use sampler::SamplerMetrics;
pub use security::{AuthMetrics, TlsMetrics};

use buckets::{
    batch_size_histogram, decision_histogram, latency_histogram, plugin_duration_histogram,
};

/// A label set: keys are fixed per metric, values are component names and signals.
type Labels = Vec<(&'static str, String)>;
/// A histogram family built with a plain function, so the family type is nameable.
type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

/// Every metric family Weir exports. Cloning is cheap; all clones share the same values.
#[derive(Clone)]
pub struct Telemetry {
    registry: Arc<Mutex<Registry>>,
    receiver_accepted: Family<Labels, Counter>,
    receiver_refused: Family<Labels, Counter>,
    processor_dropped: Family<Labels, Counter>,
    pipeline_queue: Family<Labels, Gauge>,
    pipeline_batch_items: HistogramFamily,
    pipeline_dropped: Family<Labels, Counter>,
    exporter_sent: Family<Labels, Counter>,
    exporter_failed: Family<Labels, Counter>,
    exporter_dropped: Family<Labels, Counter>,
    exporter_queue: Family<Labels, Gauge>,
    exporter_queue_capacity: Family<Labels, Gauge>,
    exporter_latency: HistogramFamily,
    memory_rss: Gauge,
    memory_held: Family<Labels, Gauge>,
    memory_limited: Gauge,
    plugin_calls: Family<Labels, Counter>,
    plugin_errors: Family<Labels, Counter>,
    plugin_duration: HistogramFamily,
    plugin_items_in: Family<Labels, Counter>,
    plugin_items_out: Family<Labels, Counter>,
    plugin_counter: Family<Labels, Counter>,
    sampler_traces_buffered: Family<Labels, Gauge>,
    sampler_spans_buffered: Family<Labels, Gauge>,
    sampler_bytes_buffered: Family<Labels, Gauge>,
    sampler_traces_decided: Family<Labels, Counter>,
    sampler_spans_decided: Family<Labels, Counter>,
    sampler_traces_evicted: Family<Labels, Counter>,
    sampler_late_spans: Family<Labels, Counter>,
    sampler_decision_latency: HistogramFamily,
    sampler_policy_errors: Family<Labels, Counter>,
    reloads: Family<Labels, Counter>,
    health: health::Health,
    security: security::Security,
    plugin_memory: plugin_memory::PluginMemory,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    /// Creates the registry and registers every family.
    pub fn new() -> Telemetry {
        let mut registry = Registry::with_prefix("weir");
        let t = Telemetry {
            registry: Arc::default(),
            receiver_accepted: Family::default(),
            receiver_refused: Family::default(),
            processor_dropped: Family::default(),
            pipeline_queue: Family::default(),
            pipeline_batch_items: HistogramFamily::new_with_constructor(batch_size_histogram),
            pipeline_dropped: Family::default(),
            exporter_sent: Family::default(),
            exporter_failed: Family::default(),
            exporter_dropped: Family::default(),
            exporter_queue: Family::default(),
            exporter_queue_capacity: Family::default(),
            exporter_latency: HistogramFamily::new_with_constructor(latency_histogram),
            memory_rss: Gauge::default(),
            memory_held: Family::default(),
            memory_limited: Gauge::default(),
            plugin_calls: Family::default(),
            plugin_errors: Family::default(),
            plugin_duration: HistogramFamily::new_with_constructor(plugin_duration_histogram),
            plugin_items_in: Family::default(),
            plugin_items_out: Family::default(),
            plugin_counter: Family::default(),
            sampler_traces_buffered: Family::default(),
            sampler_spans_buffered: Family::default(),
            sampler_bytes_buffered: Family::default(),
            sampler_traces_decided: Family::default(),
            sampler_spans_decided: Family::default(),
            sampler_traces_evicted: Family::default(),
            sampler_late_spans: Family::default(),
            sampler_decision_latency: HistogramFamily::new_with_constructor(decision_histogram),
            sampler_policy_errors: Family::default(),
            reloads: Family::default(),
            health: health::Health::default(),
            security: security::Security::default(),
            plugin_memory: plugin_memory::PluginMemory::default(),
        };
        t.health.register(&mut registry);
        t.security.register(&mut registry);
        t.plugin_memory.register(&mut registry);
        registry.register(
            "receiver_accepted_items",
            "Items a receiver acknowledged to its client",
            t.receiver_accepted.clone(),
        );
        registry.register(
            "receiver_refused_items",
            "Items a receiver refused (malformed, too large, overloaded, shutting down)",
            t.receiver_refused.clone(),
        );
        registry.register(
            "processor_dropped_items",
            "Items a processor stage dropped on purpose or by its on_error policy",
            t.processor_dropped.clone(),
        );
        registry.register(
            "pipeline_queue_size",
            "Batches waiting in a pipeline's input queue",
            t.pipeline_queue.clone(),
        );
        registry.register(
            "pipeline_batch_items",
            "Items per batch leaving a pipeline's batcher",
            t.pipeline_batch_items.clone(),
        );
        registry.register(
            "pipeline_dropped_items",
            "Items a pipeline still held (batcher, input queue, waiting for an exporter queue) when the shutdown deadline passed",
            t.pipeline_dropped.clone(),
        );
        registry.register(
            "exporter_sent_items",
            "Items an exporter delivered (accepted by the backend)",
            t.exporter_sent.clone(),
        );
        registry.register(
            "exporter_send_failed_items",
            "Items in export attempts that failed (they may still be retried)",
            t.exporter_failed.clone(),
        );
        registry.register(
            "exporter_dropped_items",
            "Items an exporter gave up on: rejected by the backend, retries exhausted, or shutdown",
            t.exporter_dropped.clone(),
        );
        registry.register(
            "exporter_queue_size",
            "Batches waiting in an exporter's sending queue",
            t.exporter_queue.clone(),
        );
        registry.register(
            "exporter_queue_capacity",
            "Capacity of an exporter's sending queue, in batches",
            t.exporter_queue_capacity.clone(),
        );
        registry.register(
            "memory_held_bytes",
            "Telemetry a component holds, as encoded OTLP bytes (in memory it takes a few times more)",
            t.memory_held.clone(),
        );
        registry.register(
            "memory_rss_bytes",
            "The process's resident memory, as the memory limiter last read it",
            t.memory_rss.clone(),
        );
        registry.register(
            "memory_limited",
            "1 while the resident memory is above the soft limit and new data is refused",
            t.memory_limited.clone(),
        );
        registry.register(
            "exporter_send_latency_seconds",
            "Time of one successful export attempt, request to response",
            t.exporter_latency.clone(),
        );
        registry.register(
            "plugin_calls",
            "Calls into a Wasm plugin (one per batch)",
            t.plugin_calls.clone(),
        );
        registry.register(
            "plugin_errors",
            "Failed plugin calls by kind: trap, timeout, memory, error (the plugin returned one), invalid (it asked for something impossible), init, circuit_open (skipped while the breaker is open)",
            t.plugin_errors.clone(),
        );
        registry.register(
            "plugin_call_duration_seconds",
            "Wall time of one plugin call, including the host work it asked for",
            t.plugin_duration.clone(),
        );
        registry.register(
            "plugin_items_in",
            "Items handed to a plugin",
            t.plugin_items_in.clone(),
        );
        registry.register(
            "plugin_items_out",
            "Items a plugin handed back",
            t.plugin_items_out.clone(),
        );
        registry.register(
            "plugin_counter",
            "Counters a plugin reports itself (through the `metrics` import), by counter name and label, e.g. counter=\"redactions\", label=<attribute key>",
            t.plugin_counter.clone(),
        );
        t.register_sampler(&mut registry);
        Telemetry {
            registry: Arc::new(Mutex::new(registry)),
            ..t
        }
    }

    /// Renders every metric in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        self.plugin_memory.refresh();
        let mut out = String::new();
        let registry = match self.registry.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &registry);
        out
    }

    /// The bytes of telemetry `component` holds (`pipeline/<id>`, `exporter/<name>`).
    pub fn memory_held(&self, component: &str) -> Gauge {
        let labels = vec![("component", component.to_string())];
        self.memory_held.get_or_create(&labels).clone()
    }

    /// The memory limiter's gauges: resident bytes, and 1 while refusing.
    pub fn memory(&self) -> (Gauge, Gauge) {
        (self.memory_rss.clone(), self.memory_limited.clone())
    }

    /// Handles for one receiver, transport and signal.
    pub fn receiver(&self, receiver: &str, transport: &str, signal: Signal) -> ReceiverMetrics {
        let labels = vec![
            ("receiver", receiver.to_string()),
            ("transport", transport.to_string()),
            ("signal", signal.as_str().to_string()),
        ];
        let refused = |reason: &str| {
            let mut l = labels.clone();
            l.push(("reason", reason.to_string()));
            self.receiver_refused.get_or_create(&l).clone()
        };
        ReceiverMetrics {
            accepted: self.receiver_accepted.get_or_create(&labels).clone(),
            refused_invalid: refused("invalid"),
            refused_overloaded: refused("overloaded"),
            refused_processing: refused("processor_failed"),
            refused_memory: refused("memory_limit"),
            refused_shutdown: refused("shutting_down"),
        }
    }

    /// Handles for one pipeline.
    pub fn pipeline(&self, pipeline: &str, signal: Signal) -> PipelineMetrics {
        let labels = vec![("pipeline", pipeline.to_string())];
        let dropped = vec![
            ("pipeline", pipeline.to_string()),
            ("signal", signal.as_str().to_string()),
            ("reason", "shutdown".to_string()),
        ];
        let dropped_shutdown = self.pipeline_dropped.get_or_create(&dropped).clone();
        self.health.track_shutdown_drop(
            format!("pipeline/{pipeline}"),
            signal.as_str(),
            &dropped_shutdown,
        );
        PipelineMetrics {
            queue: self.pipeline_queue.get_or_create(&labels).clone(),
            batch_items: self.pipeline_batch_items.get_or_create(&labels).clone(),
            dropped_shutdown,
            held: self.memory_held(&format!("pipeline/{pipeline}")),
        }
    }

    /// The counter of items a processor stage dropped.
    pub fn processor_dropped(&self, pipeline: &str, processor: &str, signal: Signal) -> Counter {
        let labels = vec![
            ("pipeline", pipeline.to_string()),
            ("processor", processor.to_string()),
            ("signal", signal.as_str().to_string()),
        ];
        self.processor_dropped.get_or_create(&labels).clone()
    }

    /// Handles for one exporter and signal.
    pub fn exporter(&self, exporter: &str, signal: Signal) -> ExporterMetrics {
        let labels = vec![
            ("exporter", exporter.to_string()),
            ("signal", signal.as_str().to_string()),
        ];
        let dropped = |reason: &str| {
            let mut l = labels.clone();
            l.push(("reason", reason.to_string()));
            self.exporter_dropped.get_or_create(&l).clone()
        };
        let dropped_shutdown = dropped("shutdown");
        self.health.track_shutdown_drop(
            format!("exporter/{exporter}"),
            signal.as_str(),
            &dropped_shutdown,
        );
        ExporterMetrics {
            sent: self.exporter_sent.get_or_create(&labels).clone(),
            failed: self.exporter_failed.get_or_create(&labels).clone(),
            dropped_rejected: dropped("rejected"),
            dropped_retries_exhausted: dropped("retries_exhausted"),
            dropped_shutdown,
            latency: self.exporter_latency.get_or_create(&labels).clone(),
        }
    }

    /// Handles for one plugin stage (`processor`) in one pipeline.
    pub fn plugin(&self, processor: &str, pipeline: &str, signal: Signal) -> PluginMetrics {
        let labels = vec![
            ("processor", processor.to_string()),
            ("pipeline", pipeline.to_string()),
            ("signal", signal.as_str().to_string()),
        ];
        PluginMetrics {
            calls: self.plugin_calls.get_or_create(&labels).clone(),
            duration: self.plugin_duration.get_or_create(&labels).clone(),
            items_in: self.plugin_items_in.get_or_create(&labels).clone(),
            items_out: self.plugin_items_out.get_or_create(&labels).clone(),
            errors: self.plugin_errors.clone(),
            counters: self.plugin_counter.clone(),
            counter_keys: Arc::default(),
            breaker: self.breaker(processor, pipeline, signal),
            labels,
        }
    }

    /// Registers the tail-sampler families.
    fn register_sampler(&self, registry: &mut Registry) {
        registry.register(
            "sampler_traces_buffered",
            "Traces a tail sampler holds, waiting for their decision",
            self.sampler_traces_buffered.clone(),
        );
        registry.register(
            "sampler_spans_buffered",
            "Spans a tail sampler holds",
            self.sampler_spans_buffered.clone(),
        );
        registry.register(
            "sampler_bytes_buffered",
            "Encoded (wire) bytes a tail sampler holds: spans, plus the resource and scope of each request they came in",
            self.sampler_bytes_buffered.clone(),
        );
        registry.register(
            "sampler_traces_decided",
            "Traces decided, by decision (keep, drop) and the policy that decided (_none: no policy had an opinion; _shutdown: dropped at shutdown)",
            self.sampler_traces_decided.clone(),
        );
        registry.register(
            "sampler_spans_decided",
            "Spans of decided traces, by decision and policy",
            self.sampler_spans_decided.clone(),
        );
        registry.register(
            "sampler_traces_evicted",
            "Traces decided before their wait ran out, by bound (max_traces, max_buffered_bytes, max_trace_bytes)",
            self.sampler_traces_evicted.clone(),
        );
        registry.register(
            "sampler_late_spans",
            "Spans that arrived after their trace was decided and followed the cached decision (keep, drop)",
            self.sampler_late_spans.clone(),
        );
        registry.register(
            "sampler_decision_latency_seconds",
            "Time from a trace's first span to its decision",
            self.sampler_decision_latency.clone(),
        );
        registry.register(
            "sampler_policy_errors",
            "Sampling policy evaluations that failed and got the policy's fallback, by policy and kind",
            self.sampler_policy_errors.clone(),
        );
        registry.register(
            "reloads",
            "Reloads of a file Weir watches, by what it configures and outcome (applied, failed, or unchanged: the config file was read again and held no change)",
            self.reloads.clone(),
        );
    }

    /// Shows `what`'s reload counters for each of `outcomes` at 0 before its first reload, so
    /// that alerts on their increase see the first failure.
    pub fn reloads_watched(&self, what: &str, outcomes: &[&str]) {
        for outcome in outcomes {
            drop(self.reloads.get_or_create(&vec![
                ("what", what.to_string()),
                ("outcome", outcome.to_string()),
            ]));
        }
    }

    /// Counts one reload of `what` (e.g. `jaeger_sampling`) with `outcome` (`applied`, `failed`).
    pub fn reload(&self, what: &str, outcome: &str) {
        self.reloads
            .get_or_create(&vec![
                ("what", what.to_string()),
                ("outcome", outcome.to_string()),
            ])
            .inc();
    }

    /// Handles for one tail sampler in one pipeline.
    pub fn sampler(&self, sampler: &str, pipeline: &str) -> SamplerMetrics {
        let labels = vec![
            ("sampler", sampler.to_string()),
            ("pipeline", pipeline.to_string()),
        ];
        SamplerMetrics {
            traces_buffered: self.sampler_traces_buffered.get_or_create(&labels).clone(),
            spans_buffered: self.sampler_spans_buffered.get_or_create(&labels).clone(),
            bytes_buffered: self.sampler_bytes_buffered.get_or_create(&labels).clone(),
            decision_latency: self.sampler_decision_latency.get_or_create(&labels).clone(),
            traces_decided: self.sampler_traces_decided.clone(),
            spans_decided: self.sampler_spans_decided.clone(),
            evicted: self.sampler_traces_evicted.clone(),
            late: self.sampler_late_spans.clone(),
            errors: self.sampler_policy_errors.clone(),
            labels,
        }
    }

    /// The queue-size gauges of one exporter: (current size, capacity).
    pub fn exporter_queue(&self, exporter: &str) -> (Gauge, Gauge) {
        let labels = vec![("exporter", exporter.to_string())];
        (
            self.exporter_queue.get_or_create(&labels).clone(),
            self.exporter_queue_capacity.get_or_create(&labels).clone(),
        )
    }
}

/// A Wasm plugin stage's metrics for one pipeline.
#[derive(Clone, Debug)]
pub struct PluginMetrics {
    /// Calls made.
    pub calls: Counter,
    /// Call duration, in seconds.
    pub duration: Histogram,
    /// Items handed in.
    pub items_in: Counter,
    /// Items handed back.
    pub items_out: Counter,
    /// Its circuit breaker's state and the items that went past it unprocessed.
    pub breaker: BreakerMetrics,
    errors: Family<Labels, Counter>,
    counters: Family<Labels, Counter>,
    /// The (counter, label) pairs this stage has reported, to bound their number.
    counter_keys: Arc<Mutex<std::collections::BTreeSet<(String, String)>>>,
    labels: Labels,
}

/// How many distinct (counter, label) pairs one plugin stage may create; later ones are
/// counted under `label="_other"` so a plugin cannot blow up `/metrics`.
pub const PLUGIN_COUNTER_KEYS: usize = 1000;

impl PluginMetrics {
    /// Counts one failed call of `kind` (`trap`, `timeout`, `memory`, `error`, `invalid`,
    /// `init`, `circuit_open`).
    pub fn error(&self, kind: &'static str) {
        let mut l = self.labels.clone();
        l.push(("kind", kind.to_string()));
        self.errors.get_or_create(&l).inc();
    }

    /// Adds `delta` to the plugin-reported counter `name` with `label` (at most
    /// [`PLUGIN_COUNTER_KEYS`] distinct pairs; the rest go to `label="_other"`).
    pub fn count(&self, name: &str, label: &str, delta: u64) {
        let label = {
            let mut keys = match self.counter_keys.lock() {
                Ok(k) => k,
                Err(poisoned) => poisoned.into_inner(),
            };
            let key = (name.to_string(), label.to_string());
            if keys.contains(&key) {
                label
            } else if keys.len() < PLUGIN_COUNTER_KEYS {
                keys.insert(key);
                label
            } else {
                "_other"
            }
        };
        let mut l = self.labels.clone();
        l.push(("counter", name.to_string()));
        l.push(("label", label.to_string()));
        self.counters.get_or_create(&l).inc_by(delta);
    }
}

/// A receiver's counters for one transport and signal.
#[derive(Clone, Debug)]
pub struct ReceiverMetrics {
    /// Items acknowledged to clients.
    pub accepted: Counter,
    /// Items refused as malformed or invalid (including partial-success rejections).
    pub refused_invalid: Counter,
    /// Items refused because a pipeline queue was full.
    pub refused_overloaded: Counter,
    /// Items refused because a processor with `on_error = "refuse"` failed on them before they
    /// were acknowledged (`ack = "processed"`).
    pub refused_processing: Counter,
    /// Items refused while the process was above its memory soft limit.
    pub refused_memory: Counter,
    /// Items refused during shutdown.
    pub refused_shutdown: Counter,
}

/// A pipeline's gauges and histograms.
#[derive(Clone, Debug)]
pub struct PipelineMetrics {
    /// Batches waiting in the input queue.
    pub queue: Gauge,
    /// Items per batch leaving the batcher.
    pub batch_items: Histogram,
    /// Items still in the pipeline when the shutdown deadline passed.
    pub dropped_shutdown: Counter,
    /// Encoded bytes of the requests in the input queue, the batcher and the stages.
    pub held: Gauge,
}

/// An exporter's counters for one signal.
#[derive(Clone, Debug)]
pub struct ExporterMetrics {
    /// Items the backend accepted.
    pub sent: Counter,
    /// Items in failed attempts.
    pub failed: Counter,
    /// Items the backend rejected for good (4xx, partial success).
    pub dropped_rejected: Counter,
    /// Items dropped after the retry budget ran out.
    pub dropped_retries_exhausted: Counter,
    /// Items still queued or retrying when the shutdown deadline passed.
    pub dropped_shutdown: Counter,
    /// Latency of successful attempts, in seconds.
    pub latency: Histogram,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_labels() {
        let t = Telemetry::new();
        t.receiver("otlp", "grpc", Signal::Traces)
            .accepted
            .inc_by(7);
        let text = t.render();
        assert!(
            text.contains(
                r#"weir_receiver_accepted_items_total{receiver="otlp",transport="grpc",signal="traces"} 7"#
            ),
            "{text}"
        );
    }
}
