//! Workloads as a stream of arrivals: batches of spans in arrival order, each with its arrival
//! time on the virtual clock, plus the ground truth of every trace (its size, whether it has an
//! error, its duration, the operations it touched).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::time::Duration;

use weir_core::Batch;
use weir_core::otlp::collector::trace::v1::ExportTraceServiceRequest;
use weir_core::otlp::common::v1::InstrumentationScope;
use weir_core::otlp::resource::v1::Resource;
use weir_core::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

pub(crate) use weir_tail_sampling::trace_key;

use crate::scenario::{GenSpan, Generator, Operation, Scenario};

/// The truth about one trace.
#[derive(Debug, Clone, Default)]
pub struct Truth {
    /// Its spans.
    pub spans: u32,
    /// Any span has status ERROR.
    pub error: bool,
    /// Last end − first start, in ns.
    pub duration_ns: u64,
    /// The (service, operation) pairs it touched, as indices into [`Truths::operations`].
    pub operations: Vec<u32>,
}

/// Ground truth of a whole workload, filled in as it streams.
#[derive(Debug, Default)]
pub struct Truths {
    /// By trace id.
    pub traces: HashMap<[u8; 16], Truth>,
    /// Every (service, operation) pair seen.
    pub operations: Vec<(String, String)>,
    index: BTreeMap<(String, String), u32>,
    /// (first start, last end) per trace, while a recording is read.
    bounds: HashMap<[u8; 16], (u64, u64)>,
}

impl Truths {
    /// The index of a (service, operation) pair.
    pub(crate) fn operation(&mut self, service: &str, name: &str) -> u32 {
        let key = (service.to_string(), name.to_string());
        if let Some(i) = self.index.get(&key) {
            return *i;
        }
        let i = u32::try_from(self.operations.len()).unwrap_or(u32::MAX);
        self.operations.push(key.clone());
        self.index.insert(key, i);
        i
    }

    /// Adds one span (of a recorded workload) to its trace's truth; call
    /// [`Truths::finish_durations`] once every span was added.
    pub(crate) fn add(&mut self, service: &str, span: &Span) {
        let op = self.operation(service, &span.name);
        let id = trace_key(&span.trace_id);
        let t = self.traces.entry(id).or_default();
        t.spans += 1;
        t.error |= span.status.as_ref().is_some_and(|s| s.code == 2);
        if !t.operations.contains(&op) {
            t.operations.push(op);
        }
        let b = self.bounds.entry(id).or_insert((u64::MAX, 0));
        b.0 = b.0.min(span.start_time_unix_nano);
        b.1 = b.1.max(span.end_time_unix_nano);
    }

    /// Sets each recorded trace's duration from its first start and last end.
    pub(crate) fn finish_durations(&mut self) {
        for (id, (first, last)) in std::mem::take(&mut self.bounds) {
            if let Some(t) = self.traces.get_mut(&id) {
                t.duration_ns = last.saturating_sub(first);
            }
        }
    }
}

/// A stream of arrivals.
pub trait Source {
    /// The next batch of spans and the virtual time they arrive at (non-decreasing), or `None`
    /// at the end.
    fn next_batch(&mut self, truths: &mut Truths) -> Option<(Batch, Duration)>;

    /// How far the workload's virtual clock runs (for rates).
    fn virtual_duration(&self) -> Duration;
}

/// Arrivals are grouped into batches of this much virtual time (an SDK's export interval).
pub const WINDOW: Duration = Duration::from_millis(200);

/// The end of the window holding `t` (ns).
pub(crate) fn window_after(t: u64) -> u64 {
    let w = WINDOW.as_nanos() as u64;
    (t / w + 1).saturating_mul(w)
}

/// The Unix time the synthetic workloads start at (2023-11-14), in ns.
const EPOCH_NS: u64 = 1_700_000_000_000_000_000;

/// A synthetic workload streamed from a scenario.
pub struct Synthetic<'a> {
    scenario: &'a Scenario,
    generator: Generator<'a>,
    /// Spans waiting for their arrival: (arrival ns, sequence, trace number, span).
    pending: BinaryHeap<Reverse<(u64, u64, u64, SpanAt)>>,
    /// The start of the next trace, in ns; `None` once past the duration.
    next_start: Option<u64>,
    traces: u64,
    seq: u64,
    window_end: u64,
}

/// A generated span ready to become OTLP (ordered only by the heap's other fields).
#[derive(Debug, Clone)]
struct SpanAt {
    trace_id: [u8; 16],
    span: GenSpan,
}

impl PartialEq for SpanAt {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for SpanAt {}
impl PartialOrd for SpanAt {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for SpanAt {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl<'a> Synthetic<'a> {
    /// Streams `scenario` from its seed.
    pub fn new(scenario: &'a Scenario) -> Synthetic<'a> {
        let mut s = Synthetic {
            scenario,
            generator: Generator::new(scenario),
            pending: BinaryHeap::new(),
            next_start: Some(0),
            traces: 0,
            seq: 0,
            window_end: WINDOW.as_nanos() as u64,
        };
        s.advance_start();
        s
    }

    fn advance_start(&mut self) {
        let Some(at) = self.next_start else { return };
        let gap = self
            .generator
            .rng
            .exp(1e9 / self.scenario.traces_per_second) as u64;
        let next = at + gap;
        self.next_start = (next < self.scenario.duration.as_nanos() as u64).then_some(next);
    }

    /// Generates the trace starting at `start` and queues its spans by arrival.
    fn generate(&mut self, start: u64, truths: &mut Truths) {
        self.traces += 1;
        let n = self.traces;
        let mut trace_id = [0u8; 16];
        trace_id[..8].copy_from_slice(&self.generator.rng.next().to_be_bytes());
        trace_id[8..].copy_from_slice(&self.generator.rng.next().to_be_bytes());
        let spans = self.generator.trace(start);
        let delay = self.scenario.export_delay.as_nanos() as f64;
        let late = self.scenario.late_by.as_nanos() as u64;
        let mut truth = Truth::default();
        let (mut first, mut last) = (u64::MAX, 0);
        for span in spans {
            let op = &self.scenario.operations[span.op];
            let index = truths.operation(&op.service, &op.name);
            if !truth.operations.contains(&index) {
                truth.operations.push(index);
            }
            truth.spans += 1;
            truth.error |= span.error;
            first = first.min(span.start);
            last = last.max(span.end);
            let mut arrival = span
                .end
                .saturating_add((self.generator.rng.f64() * delay) as u64);
            if self.generator.rng.f64() < self.scenario.late_share {
                arrival = arrival.saturating_add(late);
            }
            self.seq += 1;
            self.pending
                .push(Reverse((arrival, self.seq, n, SpanAt { trace_id, span })));
        }
        truth.duration_ns = last.saturating_sub(first);
        truths.traces.insert(trace_id, truth);
    }
}

/// The OTLP span of a generated one.
fn otlp_span(trace_id: &[u8; 16], trace: u64, s: &GenSpan, op: &Operation) -> Span {
    // Trace number in the high bits, span number (from 1) in the low 24: never zero.
    let id = |n: u64| ((trace << 24) | (n & 0xff_ffff)).to_be_bytes().to_vec();
    let kind = match op.kind.as_deref() {
        Some("internal") => 1,
        Some("client") => 3,
        Some("producer") => 4,
        Some("consumer") => 5,
        _ => 2,
    };
    Span {
        trace_id: trace_id.to_vec(),
        span_id: id(s.span_id),
        parent_span_id: if s.parent == 0 {
            Vec::new()
        } else {
            id(s.parent)
        },
        name: op.name.clone(),
        kind,
        start_time_unix_nano: EPOCH_NS + s.start,
        end_time_unix_nano: EPOCH_NS + s.end,
        status: s.error.then(|| Status {
            code: 2,
            message: "generated error".into(),
        }),
        flags: 0x101,
        ..Default::default()
    }
}

impl Source for Synthetic<'_> {
    fn next_batch(&mut self, truths: &mut Truths) -> Option<(Batch, Duration)> {
        loop {
            // Generate every trace that starts before this window ends: spans arrive after their
            // trace starts, so what is pending before `window_end` is then complete.
            while let Some(start) = self.next_start.filter(|s| *s < self.window_end) {
                self.generate(start, truths);
                self.advance_start();
            }
            let mut by_service: BTreeMap<&str, Vec<Span>> = BTreeMap::new();
            while let Some(Reverse((arrival, _, _, _))) = self.pending.peek() {
                if *arrival >= self.window_end {
                    break;
                }
                let Some(Reverse((_, _, n, at))) = self.pending.pop() else {
                    break;
                };
                let op = &self.scenario.operations[at.span.op];
                let span = otlp_span(&at.trace_id, n, &at.span, op);
                by_service
                    .entry(op.service.as_str())
                    .or_default()
                    .push(span);
            }
            let now = Duration::from_nanos(self.window_end);
            let done = self.next_start.is_none() && self.pending.is_empty();
            self.window_end += WINDOW.as_nanos() as u64;
            if !by_service.is_empty() {
                return Some((batch(by_service), now));
            }
            if done {
                return None;
            }
            // Nothing arrived in this window: jump to the window of the next event.
            let next = self
                .pending
                .peek()
                .map(|Reverse((a, _, _, _))| *a)
                .into_iter()
                .chain(self.next_start)
                .min()
                .unwrap_or(self.window_end);
            self.window_end = self.window_end.max(window_after(next));
        }
    }

    fn virtual_duration(&self) -> Duration {
        self.scenario.duration
    }
}

/// A traces batch with one resource per service, described as the shared generator describes
/// a service (`service.*`, SDK, host and pod attributes).
fn batch(by_service: BTreeMap<&str, Vec<Span>>) -> Batch {
    let resource_spans = by_service
        .into_iter()
        .map(|(service, spans)| ResourceSpans {
            resource: Some(Resource {
                attributes: weir_synth::resource_attributes(service, 0),
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "weir.lab".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    Batch::Traces(ExportTraceServiceRequest { resource_spans })
}
