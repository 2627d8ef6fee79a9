//! Runs policy configurations side by side over one workload, on the workload's virtual clock,
//! and measures what each keeps and what it costs.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use prost::Message;
use weir_core::Batch;
use weir_core::telemetry::SamplerMetrics;
use weir_tail_sampling::Sampler;

use crate::describe::Definition;
use crate::report::{ConfigReport, Report, WorkloadReport, ratio};
use crate::workload::{Source, Truths, trace_key};

/// One policy configuration: a sampler and its metrics.
pub struct Candidate {
    /// Shown in the report (the `[samplers.<name>]` name).
    pub name: String,
    /// The sampler, built exactly as the gateway builds it.
    pub sampler: Sampler,
    /// Its metrics (the lab reads early evictions from them).
    pub metrics: SamplerMetrics,
    /// What it is, for the report ([`crate::describe`] makes one from the sampler's table).
    pub definition: Definition,
}

/// Options of a run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Traces longer than this are "slow"; default: the workload's 99th percentile duration.
    pub slow_threshold: Option<Duration>,
    /// Leave wall-clock measurements (spans/s, policy CPU time) out of the report, so the same
    /// seed gives a byte-identical report.
    pub no_timing: bool,
}

/// What one candidate kept, as it streams.
#[derive(Default)]
struct Tally {
    /// Spans kept per trace, late ones included.
    kept_spans: HashMap<[u8; 16], u32>,
    /// Spans of each kept trace in the batch that first carried it: what the policies saw.
    at_decision: HashMap<[u8; 16], u32>,
    kept_span_count: u64,
    kept_bytes: u64,
    peak_traces: usize,
    peak_bytes: usize,
    busy: Duration,
    /// (virtual seconds, buffered bytes), once per virtual second.
    memory: Vec<(f64, u64)>,
}

impl Tally {
    fn count(&mut self, out: &Batch) {
        let Batch::Traces(r) = out else { return };
        let mut first_seen: HashMap<[u8; 16], u32> = HashMap::new();
        for span in r
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
        {
            let id = trace_key(&span.trace_id);
            if !self.at_decision.contains_key(&id) {
                *first_seen.entry(id).or_default() += 1;
            }
            *self.kept_spans.entry(id).or_default() += 1;
            self.kept_span_count += 1;
            self.kept_bytes += span.encoded_len() as u64;
        }
        self.at_decision.extend(first_seen);
    }
}

/// Replays `source` through every candidate and reports. `progress` is called with the virtual
/// time reached and the workload's virtual duration, after each batch.
pub fn run(
    workload: &str,
    source: &mut dyn Source,
    mut candidates: Vec<Candidate>,
    options: &Options,
    progress: &mut dyn FnMut(Duration, Duration),
) -> Report {
    let mut truths = Truths::default();
    let mut tallies: Vec<Tally> = candidates.iter().map(|_| Tally::default()).collect();
    let mut total_spans = 0u64;
    let mut total_bytes = 0u64;
    let mut next_sample = 0.0f64;
    let mut now = Duration::ZERO;
    let virtual_duration = source.virtual_duration();
    while let Some((batch, at)) = source.next_batch(&mut truths) {
        now = at;
        total_spans += batch.item_count() as u64;
        let last = candidates.len().saturating_sub(1);
        let mut batch = Some(batch);
        for (i, (c, tally)) in candidates.iter_mut().zip(&mut tallies).enumerate() {
            let input = if i == last {
                batch
                    .take()
                    .unwrap_or_else(|| Batch::empty(weir_core::Signal::Traces))
            } else {
                batch
                    .clone()
                    .unwrap_or_else(|| Batch::empty(weir_core::Signal::Traces))
            };
            if i == 0 {
                total_bytes += encoded_spans(&input);
            }
            let started = Instant::now();
            // Decisions due before this batch arrived come first (windows without spans make
            // no batch), so that its spans count as late for those traces, as in the gateway.
            while let Some(due) = c.sampler.next_deadline().filter(|d| *d < now) {
                let decided = c.sampler.decide_due(due);
                tally.count(&decided);
            }
            let passed = c.sampler.ingest(input, now);
            tally.peak_traces = tally.peak_traces.max(c.sampler.buffered_traces());
            tally.peak_bytes = tally.peak_bytes.max(c.sampler.buffered_bytes());
            let decided = c.sampler.decide_due(now);
            tally.busy += started.elapsed();
            tally.count(&passed);
            tally.count(&decided);
        }
        let secs = now.as_secs_f64();
        if secs >= next_sample {
            for (c, tally) in candidates.iter().zip(&mut tallies) {
                tally
                    .memory
                    .push((secs.floor(), c.sampler.buffered_bytes() as u64));
            }
            next_sample = secs.floor() + 1.0;
        }
        progress(now, virtual_duration);
    }
    // The end of the workload: let every wait run out (as if time went on), then decide.
    for (c, tally) in candidates.iter_mut().zip(&mut tallies) {
        let started = Instant::now();
        let mut end = now;
        while let Some(due) = c.sampler.next_deadline() {
            end = end.max(due);
            let out = c.sampler.decide_due(end);
            tally.count(&out);
        }
        let rest = c.sampler.finish(end);
        tally.busy += started.elapsed();
        tally.count(&rest);
    }
    report(
        workload,
        &truths,
        total_spans,
        total_bytes,
        virtual_duration,
        candidates,
        tallies,
        options,
    )
}

fn encoded_spans(b: &Batch) -> u64 {
    let Batch::Traces(r) = b else { return 0 };
    r.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| s.encoded_len() as u64)
        .sum()
}

/// The duration at quantile `q` of the traces (nearest rank).
fn quantile(mut durations: Vec<u64>, q: f64) -> u64 {
    if durations.is_empty() {
        return 0;
    }
    durations.sort_unstable();
    let rank = ((q * durations.len() as f64).ceil() as usize).clamp(1, durations.len());
    durations[rank - 1]
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site, all of it is the report"
)]
fn report(
    workload: &str,
    truths: &Truths,
    total_spans: u64,
    total_bytes: u64,
    virtual_duration: Duration,
    candidates: Vec<Candidate>,
    tallies: Vec<Tally>,
    options: &Options,
) -> Report {
    let durations: Vec<u64> = truths.traces.values().map(|t| t.duration_ns).collect();
    let slow_ns = options
        .slow_threshold
        .map_or_else(|| quantile(durations, 0.99), |d| d.as_nanos() as u64);
    // "Slow" is strictly above the threshold (the p99 by default: about 1% of traces).
    let is_slow = |t: &crate::workload::Truth| t.duration_ns > slow_ns;
    let error_traces = truths.traces.values().filter(|t| t.error).count() as u64;
    let slow_traces = truths.traces.values().filter(|t| is_slow(t)).count() as u64;
    let seconds = virtual_duration.as_secs_f64().max(1e-9);
    let configs = candidates
        .into_iter()
        .zip(tallies)
        .map(|(c, tally)| {
            let mut kept_errors = 0u64;
            let mut kept_slow = 0u64;
            let mut complete = 0u64;
            let mut delivered_complete = 0u64;
            let mut covered = vec![false; truths.operations.len()];
            for (id, n) in &tally.kept_spans {
                let Some(t) = truths.traces.get(id) else {
                    continue;
                };
                kept_errors += u64::from(t.error);
                kept_slow += u64::from(is_slow(t));
                let decided = tally.at_decision.get(id).copied().unwrap_or(0);
                complete += u64::from(decided >= t.spans);
                delivered_complete += u64::from(*n >= t.spans);
                for op in &t.operations {
                    if let Some(c) = covered.get_mut(*op as usize) {
                        *c = true;
                    }
                }
            }
            let kept_traces = tally.kept_spans.len() as u64;
            let evicted = ["max_traces", "max_buffered_bytes", "max_trace_bytes"]
                .iter()
                .map(|r| c.metrics.traces_evicted(r))
                .sum();
            let busy = tally.busy.as_secs_f64();
            ConfigReport {
                name: c.name,
                definition: c.definition,
                kept_traces,
                kept_spans: tally.kept_span_count,
                kept_traces_share: ratio(kept_traces, truths.traces.len() as u64),
                kept_spans_share: ratio(tally.kept_span_count, total_spans),
                kept_bytes_share: ratio(tally.kept_bytes, total_bytes),
                kept_spans_per_sec: tally.kept_span_count as f64 / seconds,
                kept_bytes_per_sec: tally.kept_bytes as f64 / seconds,
                error_recall: ratio(kept_errors, error_traces),
                slow_recall: ratio(kept_slow, slow_traces),
                operation_coverage: ratio(
                    covered.iter().filter(|c| **c).count() as u64,
                    covered.len() as u64,
                ),
                complete_share: ratio(complete, kept_traces),
                delivered_complete_share: ratio(delivered_complete, kept_traces),
                evicted_early: evicted,
                peak_buffered_traces: tally.peak_traces as u64,
                peak_buffered_bytes: tally.peak_bytes as u64,
                spans_per_sec: if options.no_timing || busy == 0.0 {
                    0.0
                } else {
                    total_spans as f64 / busy
                },
                policy_cpu_seconds: if options.no_timing { 0.0 } else { busy },
                memory: tally.memory,
            }
        })
        .collect();
    Report {
        workload: WorkloadReport {
            name: workload.to_string(),
            traces: truths.traces.len() as u64,
            spans: total_spans,
            bytes: total_bytes,
            error_traces,
            slow_traces,
            slow_threshold_ms: slow_ns as f64 / 1e6,
            operations: truths.operations.len() as u64,
            virtual_seconds: virtual_duration.as_secs_f64(),
        },
        configs,
    }
}
