//! The tail sampler's metrics (`weir_sampler_*`).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use super::Labels;

/// A tail sampler's metrics for one pipeline.
#[derive(Clone, Debug)]
pub struct SamplerMetrics {
    /// Traces buffered.
    pub traces_buffered: Gauge,
    /// Spans buffered.
    pub spans_buffered: Gauge,
    /// Encoded span bytes buffered.
    pub bytes_buffered: Gauge,
    /// Seconds from a trace's first span to its decision.
    pub decision_latency: Histogram,
    pub(super) traces_decided: Family<Labels, Counter>,
    pub(super) spans_decided: Family<Labels, Counter>,
    pub(super) evicted: Family<Labels, Counter>,
    pub(super) late: Family<Labels, Counter>,
    pub(super) errors: Family<Labels, Counter>,
    pub(super) labels: Labels,
}

impl SamplerMetrics {
    fn with(&self, extra: &[(&'static str, &str)]) -> Labels {
        let mut l = self.labels.clone();
        l.extend(extra.iter().map(|(k, v)| (*k, (*v).to_string())));
        l
    }

    /// Counts one trace of `spans` spans decided `decision` (`keep`, `drop`) by `policy`.
    pub fn decided(&self, decision: &str, policy: &str, spans: usize) {
        let l = self.with(&[("decision", decision), ("policy", policy)]);
        self.traces_decided.get_or_create(&l).inc();
        self.spans_decided.get_or_create(&l).inc_by(spans as u64);
    }

    /// Counts one trace decided early because of `bound`.
    pub fn evicted(&self, bound: &str) {
        self.evicted
            .get_or_create(&self.with(&[("reason", bound)]))
            .inc();
    }

    /// Counts one late span that followed a cached `decision`.
    pub fn late_span(&self, decision: &str) {
        self.late
            .get_or_create(&self.with(&[("decision", decision)]))
            .inc();
    }

    /// Counts one failed evaluation of `policy`; returns how many it has had so far.
    pub fn policy_error(&self, policy: &str, kind: &str) -> u64 {
        let c = self
            .errors
            .get_or_create(&self.with(&[("policy", policy), ("kind", kind)]));
        c.inc() + 1
    }

    /// The traces decided `decision` by `policy` so far (for tests and the policy lab).
    pub fn traces_decided(&self, decision: &str, policy: &str) -> u64 {
        self.traces_decided
            .get_or_create(&self.with(&[("decision", decision), ("policy", policy)]))
            .get()
    }

    /// The traces evicted early because of `bound` so far.
    pub fn traces_evicted(&self, bound: &str) -> u64 {
        self.evicted
            .get_or_create(&self.with(&[("reason", bound)]))
            .get()
    }

    /// The late spans that followed a cached `decision` so far.
    pub fn late_spans(&self, decision: &str) -> u64 {
        self.late
            .get_or_create(&self.with(&[("decision", decision)]))
            .get()
    }

    /// The failed evaluations of `policy` of `kind` so far.
    pub fn policy_errors(&self, policy: &str, kind: &str) -> u64 {
        self.errors
            .get_or_create(&self.with(&[("policy", policy), ("kind", kind)]))
            .get()
    }
}
