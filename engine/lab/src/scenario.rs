//! Synthetic workloads from a small TOML scenario: services and operations, a call graph with
//! fan-out, log-normal latencies with heavy tails, error rates, rare operations, a trace rate and
//! a duration. The same seed gives the same traces, span for span.
//!
//! ```toml
//! name = "web shop"
//! seed = 42
//! duration = "10m"
//! traces_per_second = 50
//!
//! [[operations]]
//! name = "GET /checkout"
//! service = "frontend"
//! root_weight = 5
//! latency = { median = "40ms", p99 = "900ms" }
//! error_rate = 0.01
//! calls = [{ operation = "charge", probability = 0.8 }]
//!
//! [[operations]]
//! name = "charge"
//! service = "billing-service-python"
//! latency = { median = "120ms", p99 = "3s" }
//! error_rate = 0.03
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::Error;
use weir_synth::Rng;

/// Most traces a scenario may generate.
const MAX_TRACES: f64 = 50_000_000.0;
/// Most calls one `calls` entry may fan out to.
const MAX_FAN_OUT: u32 = 1_000;
/// Longest own time of one span: one day, in ns.
const MAX_SPAN_NS: f64 = 86_400e9;
/// Most spans in one generated trace.
const MAX_TRACE_SPANS: usize = 100_000;

/// A scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Shown in the report.
    pub name: String,
    /// The random seed: the same seed gives the same workload.
    #[serde(default)]
    pub seed: u64,
    /// Virtual time covered by trace starts, e.g. `"10m"`.
    #[serde(with = "humantime_serde_compat")]
    pub duration: Duration,
    /// Mean trace starts per virtual second (a Poisson process).
    pub traces_per_second: f64,
    /// How long after a span ends it arrives at the sampler: uniform in `[0, export_delay]`
    /// (an SDK's batch delay). Default 1 s.
    #[serde(default = "default_export_delay", with = "humantime_serde_compat")]
    pub export_delay: Duration,
    /// Share of spans that arrive late, `late_by` after the others (a slow or retrying
    /// exporter). Default 0.
    #[serde(default)]
    pub late_share: f64,
    /// How late a late span is. Default 40 s.
    #[serde(default = "default_late_by", with = "humantime_serde_compat")]
    pub late_by: Duration,
    /// The operations, each of one service.
    pub operations: Vec<Operation>,
}

fn default_export_delay() -> Duration {
    Duration::from_secs(1)
}

fn default_late_by() -> Duration {
    Duration::from_secs(40)
}

/// One operation (a span name in a service).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    /// The span name; unique within the scenario.
    pub name: String,
    /// The `service.name` of its spans.
    pub service: String,
    /// How often traces start here, relative to other roots (0: never a root).
    #[serde(default)]
    pub root_weight: f64,
    /// The span's own duration: log-normal with this median and 99th percentile.
    pub latency: Latency,
    /// The chance that the span has status ERROR.
    #[serde(default)]
    pub error_rate: f64,
    /// What it calls, in order.
    #[serde(default)]
    pub calls: Vec<Call>,
    /// The span kind: `server` (default for roots), `client`, `internal`, …
    #[serde(default)]
    pub kind: Option<String>,
}

/// A log-normal latency from two quantiles.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    /// The median.
    #[serde(with = "humantime_serde_compat")]
    pub median: Duration,
    /// The 99th percentile (a heavy tail when far above the median).
    #[serde(with = "humantime_serde_compat")]
    pub p99: Duration,
}

/// One call from an operation to another.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Call {
    /// The operation called.
    pub operation: String,
    /// How many times (fan-out), default 1.
    #[serde(default = "one")]
    pub count: u32,
    /// The chance the call happens at all, default 1.
    #[serde(default = "certain")]
    pub probability: f64,
    /// Calls with `parallel = true` start together; otherwise one after another.
    #[serde(default)]
    pub parallel: bool,
}

fn one() -> u32 {
    1
}

fn certain() -> f64 {
    1.0
}

/// Durations written as `"250ms"`, `"10s"`, `"5m"`.
mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(s.trim()).map_err(|_| {
            serde::de::Error::custom(format!(
                "invalid duration \"{s}\": write a number and a unit, e.g. \"250ms\", \"10s\""
            ))
        })
    }
}

impl Scenario {
    /// Parses and checks a scenario; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Scenario, Error> {
        let s: Scenario = toml::from_str(text).map_err(|e| Error::Scenario {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        s.check().map_err(|message| Error::Scenario {
            file: file.to_string(),
            message,
        })?;
        Ok(s)
    }

    fn check(&self) -> Result<(), String> {
        if !(self.traces_per_second > 0.0 && self.traces_per_second.is_finite()) {
            return Err("traces_per_second: must be above 0".into());
        }
        if self.duration.is_zero() {
            return Err("duration: must be above 0".into());
        }
        if self.traces_per_second * self.duration.as_secs_f64() > MAX_TRACES {
            return Err(format!(
                "traces_per_second: with this duration the workload would have more than {MAX_TRACES} traces"
            ));
        }
        if !(0.0..=1.0).contains(&self.late_share) {
            return Err("late_share: must be between 0 and 1".into());
        }
        let mut index = BTreeMap::new();
        for (i, op) in self.operations.iter().enumerate() {
            if index.insert(op.name.as_str(), i).is_some() {
                return Err(format!(
                    "operations[{i}].name: `{}` is defined twice",
                    op.name
                ));
            }
            if !(0.0..=1.0).contains(&op.error_rate) {
                return Err(format!(
                    "operations[{i}].error_rate: must be between 0 and 1"
                ));
            }
            if op.latency.p99 < op.latency.median || op.latency.median.is_zero() {
                return Err(format!(
                    "operations[{i}].latency: median must be above 0 and p99 at least the median"
                ));
            }
            if op.root_weight < 0.0 {
                return Err(format!("operations[{i}].root_weight: must not be negative"));
            }
        }
        for (i, op) in self.operations.iter().enumerate() {
            for (j, call) in op.calls.iter().enumerate() {
                if !index.contains_key(call.operation.as_str()) {
                    return Err(format!(
                        "operations[{i}].calls[{j}].operation: no operation is called `{}`",
                        call.operation
                    ));
                }
                if call.count > MAX_FAN_OUT {
                    return Err(format!(
                        "operations[{i}].calls[{j}].count: at most {MAX_FAN_OUT}"
                    ));
                }
                if !(0.0..=1.0).contains(&call.probability) {
                    return Err(format!(
                        "operations[{i}].calls[{j}].probability: must be between 0 and 1"
                    ));
                }
            }
        }
        if !self.operations.iter().any(|o| o.root_weight > 0.0) {
            return Err("operations: give at least one operation a root_weight above 0".into());
        }
        // A call cycle would generate endless traces: depth-first search, colouring operations
        // in progress (1) and done (2).
        let mut colour = vec![0u8; self.operations.len()];
        for start in 0..self.operations.len() {
            if colour[start] != 0 {
                continue;
            }
            let mut stack = vec![(start, 0usize)];
            colour[start] = 1;
            while let Some((op, next_call)) = stack.pop() {
                let calls = &self.operations[op].calls;
                if let Some(call) = calls.get(next_call) {
                    stack.push((op, next_call + 1));
                    let Some(&child) = index.get(call.operation.as_str()) else {
                        continue;
                    };
                    match colour[child] {
                        1 => {
                            return Err(format!(
                                "operations[{child}]: its calls form a cycle (`{}` calls itself, directly or not)",
                                self.operations[child].name
                            ));
                        }
                        0 => {
                            colour[child] = 1;
                            stack.push((child, 0));
                        }
                        _ => {}
                    }
                } else {
                    colour[op] = 2;
                }
            }
        }
        Ok(())
    }
}

/// A generated span before it becomes OTLP: times in ns from the workload start.
#[derive(Debug, Clone)]
pub(crate) struct GenSpan {
    pub(crate) op: usize,
    pub(crate) span_id: u64,
    pub(crate) parent: u64,
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) error: bool,
}

/// Samples the operations' trees.
pub(crate) struct Generator<'a> {
    scenario: &'a Scenario,
    index: BTreeMap<&'a str, usize>,
    /// (mu, sigma) of each operation's log-normal latency, in ns.
    shapes: Vec<(f64, f64)>,
    roots: Vec<(usize, f64)>,
    root_total: f64,
    pub(crate) rng: Rng,
}

/// z of the 99th percentile of the standard normal.
const Z99: f64 = 2.326_347_874;

impl<'a> Generator<'a> {
    pub(crate) fn new(scenario: &'a Scenario) -> Generator<'a> {
        let index = scenario
            .operations
            .iter()
            .enumerate()
            .map(|(i, o)| (o.name.as_str(), i))
            .collect();
        let shapes = scenario
            .operations
            .iter()
            .map(|o| {
                let median = o.latency.median.as_nanos() as f64;
                let p99 = o.latency.p99.as_nanos() as f64;
                (median.ln(), (p99 / median).ln() / Z99)
            })
            .collect();
        let roots: Vec<(usize, f64)> = scenario
            .operations
            .iter()
            .enumerate()
            .filter(|(_, o)| o.root_weight > 0.0)
            .map(|(i, o)| (i, o.root_weight))
            .collect();
        let root_total = roots.iter().map(|(_, w)| w).sum();
        Generator {
            scenario,
            index,
            shapes,
            roots,
            root_total,
            rng: Rng::new(scenario.seed),
        }
    }

    /// One trace starting at `start` ns: its spans, root first.
    pub(crate) fn trace(&mut self, start: u64) -> Vec<GenSpan> {
        let mut pick = self.rng.f64() * self.root_total;
        let mut root = self.roots[0].0;
        for (op, w) in &self.roots {
            if pick < *w {
                root = *op;
                break;
            }
            pick -= w;
        }
        let mut spans = Vec::new();
        self.span(root, 0, start, 0, &mut spans);
        spans
    }

    /// Generates operation `op` starting at `start` under `parent`; returns its end.
    fn span(
        &mut self,
        op: usize,
        parent: u64,
        start: u64,
        depth: usize,
        out: &mut Vec<GenSpan>,
    ) -> u64 {
        let id = out.len() as u64 + 1;
        let at = out.len();
        out.push(GenSpan {
            op,
            span_id: id,
            parent,
            start,
            end: start,
            error: false,
        });
        let (mu, sigma) = self.shapes[op];
        let own = (mu + sigma * self.rng.normal()).exp().min(MAX_SPAN_NS) as u64;
        // Children run inside the parent: sequential calls one after another, parallel ones
        // together, after a small share of the parent's own time.
        let mut cursor = start.saturating_add(own / 10);
        let mut end = cursor;
        let calls = self.scenario.operations[op].calls.clone();
        for call in calls {
            if depth > 32 || out.len() >= MAX_TRACE_SPANS || self.rng.f64() >= call.probability {
                continue;
            }
            let Some(&child) = self.index.get(call.operation.as_str()) else {
                continue;
            };
            let mut latest = cursor;
            for _ in 0..call.count {
                let begin = if call.parallel { cursor } else { latest };
                let child_end = self.span(child, id, begin, depth + 1, out);
                latest = latest.max(child_end);
            }
            cursor = latest;
            end = end.max(latest);
        }
        let error = self.rng.f64() < self.scenario.operations[op].error_rate;
        let finish = start.saturating_add(own).max(end.saturating_add(own / 10));
        out[at].end = finish;
        out[at].error = error;
        finish
    }
}
