//! The tail sampler: buffers spans by trace id, decides each trace once, and lets late spans
//! follow the cached decision.
//!
//! The sampler is a synchronous state machine driven by its owner with the time of each call
//! (`now`, a [`Duration`] since any fixed origin): the gateway's pipeline passes the tokio
//! clock and tests pause it; a replay of recorded traffic can pass span timestamps. Nothing in
//! here sleeps. A `now` earlier than one seen before counts as the later one.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use lru::LruCache;
use weir_core::Batch;
use weir_core::otlp::common::v1::{AnyValue, KeyValue, any_value};
use weir_core::otlp::trace::v1::Span;
use weir_core::telemetry::SamplerMetrics;

use crate::policy::{Decision, ErrorSink, Policy, PolicyError, TraceInput, combine};
use crate::trace::{Origin, Output, ResourcePart, Trace};

/// The attribute a kept span gets with the name of the policy that kept its trace (when
/// `record_policy` is on).
pub const POLICY_ATTRIBUTE: &str = "weir.sampling.policy";
/// The attribute with that policy's reason, when it gave one.
pub const REASON_ATTRIBUTE: &str = "weir.sampling.reason";

/// What happens to buffered traces when the gateway stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnShutdown {
    /// Decide on each buffered trace with what arrived (the default).
    #[default]
    Decide,
    /// Drop them, counted.
    Drop,
}

/// The sampler's bounds and timing (`[samplers.<name>]`).
#[derive(Debug, Clone)]
pub struct SamplerSettings {
    /// Decide this long after a trace's first span arrived.
    pub decision_wait: Duration,
    /// If set, decide this long after the root span arrived, when that is sooner.
    pub decision_wait_after_root: Option<Duration>,
    /// Most traces buffered at once.
    pub max_traces: usize,
    /// Most encoded span bytes buffered at once.
    pub max_buffered_bytes: usize,
    /// A trace holding more encoded bytes than this is decided at once.
    pub max_trace_bytes: usize,
    /// When full, stop taking data (backpressure, so receivers refuse with a retryable status)
    /// instead of deciding the oldest trace early.
    pub block_on_overflow: bool,
    /// How many kept trace ids to remember for late spans (0: none).
    pub kept_cache_size: usize,
    /// How many dropped trace ids to remember for late spans (0: none).
    pub dropped_cache_size: usize,
    /// What shutdown does with buffered traces.
    pub on_shutdown: OnShutdown,
    /// Record [`POLICY_ATTRIBUTE`] (and [`REASON_ATTRIBUTE`]) on kept spans.
    pub record_policy: bool,
}

impl Default for SamplerSettings {
    fn default() -> Self {
        SamplerSettings {
            decision_wait: Duration::from_secs(30),
            decision_wait_after_root: None,
            max_traces: 50_000,
            max_buffered_bytes: 256 << 20,
            max_trace_bytes: 8 << 20,
            block_on_overflow: false,
            kept_cache_size: 100_000,
            dropped_cache_size: 100_000,
            on_shutdown: OnShutdown::Decide,
            record_policy: false,
        }
    }
}

/// Why a trace was decided before its wait ran out; the `reason` label of the eviction metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    Due,
    MaxTraces,
    MaxBufferedBytes,
    MaxTraceBytes,
    Shutdown,
}

/// Resizes a decision cache to `size` entries (0: none).
fn resize<V>(cache: &mut Option<LruCache<TraceId, V>>, size: usize) {
    match (cache.as_mut(), NonZeroUsize::new(size)) {
        (_, None) => *cache = None,
        (Some(c), Some(n)) => c.resize(n),
        (None, Some(n)) => *cache = Some(LruCache::new(n)),
    }
}

/// A trace id as a map key.
pub type TraceId = [u8; 16];

/// The policy that kept a trace and its reason (if any), remembered for late spans. The name is
/// shared with the policy; a reason is at most [`MAX_REASON`] bytes.
type KeptBy = (Arc<str>, Option<Arc<str>>);

/// The longest reason recorded on spans and cached for late spans.
pub const MAX_REASON: usize = 256;

/// One tail sampler instance (one per pipeline that lists it).
pub struct Sampler {
    name: Arc<str>,
    settings: SamplerSettings,
    policies: Vec<Policy>,
    traces: HashMap<TraceId, Trace>,
    /// (decision time, id, seq) by first arrival: due order and eviction order (oldest first).
    /// Entries of traces already decided are skipped when they come up.
    waits: VecDeque<(Duration, TraceId, u64)>,
    /// (decision time, id, seq) by root arrival, for `decision_wait_after_root`.
    roots: VecDeque<(Duration, TraceId, u64)>,
    next_seq: u64,
    bytes: usize,
    spans: usize,
    /// Kept ids and the policy that kept them, with its reason.
    kept: Option<LruCache<TraceId, Option<KeptBy>>>,
    /// The latest time seen: the clock never runs backwards, even if the caller's does.
    last_now: Duration,
    dropped: Option<LruCache<TraceId, ()>>,
    metrics: SamplerMetrics,
}

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler")
            .field("name", &self.name)
            .field("traces", &self.traces.len())
            .field("spans", &self.spans)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

/// Counts and logs policy failures for one sampler.
struct Errors<'a> {
    sampler: &'a str,
    metrics: &'a SamplerMetrics,
}

impl ErrorSink for Errors<'_> {
    fn policy_failed(&mut self, policy: &str, error: &PolicyError) {
        let n = self.metrics.policy_error(policy, error.kind);
        // Every failure is counted; the log shows the first and then every power of two.
        if n.is_power_of_two() {
            tracing::warn!(sampler = self.sampler, policy, kind = error.kind, failures = n,
                error = %error.message, "sampling policy failed; the trace gets its fallback");
        }
    }
}

impl Sampler {
    /// A sampler called `name` that combines `policies` (any drop → drop, else any keep → keep,
    /// else drop).
    pub fn new(
        name: &str,
        settings: SamplerSettings,
        policies: Vec<Policy>,
        metrics: SamplerMetrics,
    ) -> Sampler {
        Sampler {
            name: name.into(),
            kept: NonZeroUsize::new(settings.kept_cache_size).map(LruCache::new),
            dropped: NonZeroUsize::new(settings.dropped_cache_size).map(LruCache::new),
            settings,
            policies,
            traces: HashMap::new(),
            waits: VecDeque::new(),
            roots: VecDeque::new(),
            next_seq: 0,
            bytes: 0,
            spans: 0,
            last_now: Duration::ZERO,
            metrics,
        }
    }

    /// Takes the policies and settings of `new` (built from a reloaded config) and keeps
    /// everything this sampler holds: buffered traces are decided by the new policies when they
    /// come due, and the decision caches keep answering late spans (resized to the new bounds).
    /// A changed `decision_wait` applies to traces that arrive from now on.
    pub fn adopt(&mut self, new: Sampler) {
        resize(&mut self.kept, new.settings.kept_cache_size);
        resize(&mut self.dropped, new.settings.dropped_cache_size);
        self.policies = new.policies;
        self.settings = new.settings;
        self.publish();
    }

    /// The configured name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Spans buffered now.
    pub fn buffered_spans(&self) -> usize {
        self.spans
    }

    /// Traces buffered now.
    pub fn buffered_traces(&self) -> usize {
        self.traces.len()
    }

    /// Encoded bytes buffered now: the spans, plus the resource and scope of each run of spans
    /// a trace holds (charged to every trace that holds them).
    pub fn buffered_bytes(&self) -> usize {
        self.bytes
    }

    /// True when `block_on_overflow` is set and a bound is reached: the owner should stop
    /// handing in data until [`Sampler::decide_due`] frees room.
    pub fn is_full(&self) -> bool {
        self.settings.block_on_overflow
            && (self.traces.len() >= self.settings.max_traces
                || self.bytes >= self.settings.max_buffered_bytes)
    }

    /// Takes a traces batch at time `now`. Returns what can go on at once: late spans of
    /// traces kept earlier, and traces decided early (oversized, or evicted to stay within
    /// bounds). A batch of another signal is handed back untouched.
    pub fn ingest(&mut self, mut batch: Batch, now: Duration) -> Batch {
        batch.make_typed();
        let Batch::Traces(request) = batch else {
            return batch;
        };
        let now = self.clock(now);
        let mut out = Output::default();
        for rs in request.resource_spans {
            let part = Arc::new(ResourcePart {
                resource: rs.resource,
                schema_url: rs.schema_url,
            });
            for ss in rs.scope_spans {
                let origin = Arc::new(Origin::new(part.clone(), ss.scope, ss.schema_url));
                let mut late = Vec::new();
                for span in ss.spans {
                    self.take_span(span, &origin, now, &mut late, &mut out);
                }
                out.push(&origin, late);
            }
        }
        self.enforce_bounds(now, &mut out);
        self.publish();
        out.finish()
    }

    /// Routes one span: after a cached decision, or into its trace's buffer.
    fn take_span(
        &mut self,
        mut span: Span,
        origin: &Arc<Origin>,
        now: Duration,
        late: &mut Vec<Span>,
        out: &mut Output,
    ) {
        let id = trace_key(&span.trace_id);
        if !self.traces.contains_key(&id) {
            if let Some(by) = self.kept.as_mut().and_then(|c| c.get(&id)) {
                if self.settings.record_policy
                    && let Some((policy, reason)) = by
                {
                    set_attr(&mut span, POLICY_ATTRIBUTE, policy);
                    if let Some(reason) = reason {
                        set_attr(&mut span, REASON_ATTRIBUTE, reason);
                    }
                }
                self.metrics.late_span("keep");
                late.push(span);
                return;
            }
            if self.dropped.as_mut().is_some_and(|c| c.get(&id).is_some()) {
                self.metrics.late_span("drop");
                return;
            }
        }
        let trace = match self.traces.entry(id) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.waits
                    .push_back((now + self.settings.decision_wait, id, seq));
                e.insert(Trace::new(seq, now))
            }
        };
        let had_root = trace.root_seen;
        self.bytes += trace.push(origin, &span);
        self.spans += 1;
        if !had_root
            && trace.root_seen
            && let Some(wait) = self.settings.decision_wait_after_root
        {
            self.roots.push_back((now + wait, id, trace.seq));
        }
        if trace.bytes() > self.settings.max_trace_bytes {
            self.decide(id, now, Cause::MaxTraceBytes, out);
        }
    }

    /// Decides the oldest traces until the buffer is within its bounds (unless
    /// `block_on_overflow`, where the owner stops feeding instead).
    fn enforce_bounds(&mut self, now: Duration, out: &mut Output) {
        if self.settings.block_on_overflow {
            return;
        }
        loop {
            let cause = if self.traces.len() > self.settings.max_traces {
                Cause::MaxTraces
            } else if self.bytes > self.settings.max_buffered_bytes {
                Cause::MaxBufferedBytes
            } else {
                return;
            };
            let Some((_, id, seq)) = self.waits.pop_front() else {
                return;
            };
            if self.live(&id, seq) {
                self.decide(id, now, cause, out);
            }
        }
    }

    /// `now`, or the latest time seen if `now` is earlier: the due queues stay in order.
    fn clock(&mut self, now: Duration) -> Duration {
        self.last_now = self.last_now.max(now);
        self.last_now
    }

    /// True if `(id, seq)` names a trace still buffered (not a stale queue entry).
    fn live(&self, id: &TraceId, seq: u64) -> bool {
        self.traces.get(id).is_some_and(|t| t.seq == seq)
    }

    /// When the next trace is due, if any is buffered.
    pub fn next_deadline(&mut self) -> Option<Duration> {
        for queue in [&mut self.waits, &mut self.roots] {
            while let Some((_, id, seq)) = queue.front() {
                if self.traces.get(id).is_some_and(|t| t.seq == *seq) {
                    break;
                }
                queue.pop_front();
            }
        }
        match (self.waits.front(), self.roots.front()) {
            (Some(a), Some(b)) => Some(a.0.min(b.0)),
            (a, b) => a.or(b).map(|e| e.0),
        }
    }

    /// Decides every trace due at `now` and returns the spans kept.
    pub fn decide_due(&mut self, now: Duration) -> Batch {
        let now = self.clock(now);
        let mut out = Output::default();
        loop {
            let take_root = match (self.waits.front(), self.roots.front()) {
                (Some(w), Some(r)) => r.0 < w.0,
                (None, Some(_)) => true,
                _ => false,
            };
            let queue = if take_root {
                &mut self.roots
            } else {
                &mut self.waits
            };
            match queue.front() {
                Some(&(due, id, seq)) if due <= now => {
                    queue.pop_front();
                    if self.live(&id, seq) {
                        self.decide(id, now, Cause::Due, &mut out);
                    }
                }
                _ => break,
            }
        }
        self.publish();
        out.finish()
    }

    /// Shutdown: decides (or drops, per `on_shutdown`) every buffered trace, oldest first, and
    /// returns the spans kept.
    pub fn finish(&mut self, now: Duration) -> Batch {
        let now = self.clock(now);
        let mut out = Output::default();
        while let Some((_, id, seq)) = self.waits.pop_front() {
            if !self.live(&id, seq) {
                continue;
            }
            match self.settings.on_shutdown {
                OnShutdown::Decide => self.decide(id, now, Cause::Shutdown, &mut out),
                OnShutdown::Drop => {
                    if let Some(t) = self.traces.remove(&id) {
                        self.bytes -= t.bytes();
                        self.spans -= t.spans;
                        self.metrics.decided("drop", "_shutdown", t.spans);
                    }
                }
            }
        }
        self.roots.clear();
        self.publish();
        out.finish()
    }

    /// Runs the policies over one buffered trace and routes it by their decision.
    fn decide(&mut self, id: TraceId, now: Duration, cause: Cause, out: &mut Output) {
        let Some(trace) = self.traces.remove(&id) else {
            return;
        };
        let (spans, bytes) = (trace.spans, trace.bytes());
        self.bytes -= bytes;
        self.spans -= spans;
        self.metrics
            .decision_latency
            .observe(now.saturating_sub(trace.first).as_secs_f64());
        match cause {
            Cause::Due | Cause::Shutdown => {}
            Cause::MaxTraces => self.metrics.evicted("max_traces"),
            Cause::MaxBufferedBytes => self.metrics.evicted("max_buffered_bytes"),
            Cause::MaxTraceBytes => self.metrics.evicted("max_trace_bytes"),
        }
        let (mut batch, origins) = trace.decode();
        let mut input = TraceInput {
            batch: &mut batch,
            spans,
            bytes,
            now,
        };
        let mut errors = Errors {
            sampler: &self.name,
            metrics: &self.metrics,
        };
        let mut outcome = combine(&mut self.policies, &mut input, &mut errors);
        if let Some((_, reason)) = outcome.by.as_mut() {
            // Joined reasons (`and`) can grow; every kept span carries one.
            cut_reason(reason);
        }
        let label = outcome.by.as_ref().map_or("_none", |(n, _)| &**n);
        // "No policy had an opinion" is a drop.
        let decision = match outcome.decision {
            Decision::NoOpinion => Decision::Drop,
            d => d,
        }
        .as_str();
        self.metrics.decided(decision, label, spans);
        if outcome.decision == Decision::Keep {
            if self.settings.record_policy
                && let (Some((name, reason)), Batch::Traces(req)) = (&outcome.by, &mut batch)
            {
                for span in req
                    .resource_spans
                    .iter_mut()
                    .flat_map(|rs| &mut rs.scope_spans)
                    .flat_map(|ss| &mut ss.spans)
                {
                    set_attr(span, POLICY_ATTRIBUTE, name);
                    if !reason.is_empty() {
                        set_attr(span, REASON_ATTRIBUTE, reason);
                    }
                }
            }
            out.push_trace(batch, &origins);
            if let Some(c) = self.kept.as_mut() {
                let by = outcome
                    .by
                    .map(|(n, r)| (n, (!r.is_empty()).then(|| Arc::from(r))));
                c.put(id, by);
            }
        } else if let Some(c) = self.dropped.as_mut() {
            c.put(id, ());
        }
    }

    /// Sets the buffer gauges.
    fn publish(&self) {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.metrics.traces_buffered.set(gauge(self.traces.len()));
        self.metrics.spans_buffered.set(gauge(self.spans));
        self.metrics.bytes_buffered.set(gauge(self.bytes));
    }
}

/// The map key of a trace id: its 16 bytes (shorter or longer ids are cut or zero-padded; the
/// receivers refuse malformed ids, so this only matters for data built in-process).
pub fn trace_key(id: &[u8]) -> TraceId {
    let mut key = [0u8; 16];
    for (k, b) in key.iter_mut().zip(id) {
        *k = *b;
    }
    key
}

/// Cuts a policy's reason to at most [`MAX_REASON`] bytes, at a character boundary: it is
/// copied onto every kept span and cached for late spans.
pub fn cut_reason(reason: &mut String) {
    if reason.len() > MAX_REASON {
        let mut at = MAX_REASON;
        while !reason.is_char_boundary(at) {
            at -= 1;
        }
        reason.truncate(at);
    }
}

/// Sets a string attribute on a span, replacing one with the same key.
fn set_attr(span: &mut Span, key: &str, value: &str) {
    let value = Some(AnyValue {
        value: Some(any_value::Value::StringValue(value.to_string())),
    });
    match span.attributes.iter_mut().find(|kv| kv.key == key) {
        Some(kv) => kv.value = value,
        None => span.attributes.push(KeyValue {
            key: key.to_string(),
            value,
            ..Default::default()
        }),
    }
}
