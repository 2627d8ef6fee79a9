//! `builtin:head-sample`: keeps a share of traces, deciding per span (and per log record) from
//! its trace id alone, so every span of a trace gets the same decision in every Weir instance.
//!
//! - `mode = "probabilistic"` (default): OpenTelemetry's consistent probability sampling. A
//!   span is kept when the 56-bit randomness of its trace (`ot=rv:` if present, else the last 7
//!   bytes of the trace id) is at least the rejection threshold for `percent`; kept spans carry
//!   that threshold as `ot=th:…` in their `tracestate` (or an upstream one, if it was stricter).
//! - `mode = "const"`: keep everything (`decision = true`) or nothing.
//! - `mode = "rate-limiting"`: at most `max_traces_per_second` new traces per second (a token
//!   bucket on span start times); each trace's decision is remembered for its later spans.
//!
//! In every mode an item whose `sampling.priority` attribute is > 0 is kept and one where it
//! is 0 is dropped, as Jaeger's clients expect.

use std::collections::{HashMap, VecDeque};

use weir_plugin::{Batch, Config, Level, NumberField, Processor, Signal, TextField, ValueRef};

pub use weir_probability as threshold;

use threshold::TraceState;

/// The config as written; every key is documented in docs/processors/head-sample.md.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default = "default_mode")]
    mode: String,
    percent: Option<f64>,
    #[serde(default = "default_precision")]
    sampling_precision: u32,
    decision: Option<bool>,
    max_traces_per_second: Option<f64>,
    #[serde(default = "default_remembered")]
    remembered_traces: usize,
    #[serde(default = "default_priority")]
    priority_attribute: String,
}

fn default_mode() -> String {
    "probabilistic".into()
}
fn default_precision() -> u32 {
    4
}
fn default_remembered() -> usize {
    100_000
}
fn default_priority() -> String {
    "sampling.priority".into()
}

/// How traces are chosen.
enum Mode {
    /// Keep when randomness >= threshold.
    Probabilistic { threshold: u64 },
    /// Keep all or nothing.
    Const(bool),
    /// A token bucket over span start times, with remembered decisions.
    RateLimiting(RateLimiter),
}

/// The head sampler.
pub struct HeadSample {
    mode: Mode,
    priority: String,
}

/// Traces per second on a clock driven by the items' own timestamps.
struct RateLimiter {
    per_second: f64,
    tokens: f64,
    now_nanos: u64,
    decided: HashMap<[u8; 16], bool>,
    order: VecDeque<[u8; 16]>,
    remembered: usize,
}

impl RateLimiter {
    fn decide(&mut self, trace: [u8; 16], at_nanos: u64) -> bool {
        if let Some(d) = self.decided.get(&trace) {
            return *d;
        }
        // A timestamp far ahead of the clock (a skewed client) must not stall the refill for
        // everyone else; items without a timestamp (0) do not move the clock.
        let far_ahead = self.now_nanos > 0 && at_nanos > self.now_nanos + 3_600_000_000_000;
        if at_nanos > self.now_nanos && !far_ahead {
            if self.now_nanos > 0 {
                #[expect(clippy::cast_precision_loss, reason = "nanoseconds to seconds")]
                let elapsed = (at_nanos - self.now_nanos) as f64 / 1e9;
                self.tokens =
                    (self.tokens + elapsed * self.per_second).min(self.per_second.max(1.0));
            }
            self.now_nanos = at_nanos;
        }
        let keep = self.tokens >= 1.0;
        if keep {
            self.tokens -= 1.0;
        }
        if self.order.len() >= self.remembered
            && let Some(old) = self.order.pop_front()
        {
            self.decided.remove(&old);
        }
        self.order.push_back(trace);
        self.decided.insert(trace, keep);
        keep
    }
}

impl Processor for HeadSample {
    fn init(config: Config) -> Result<Self, String> {
        let s: Settings = config.parse()?;
        let unused = |key: &str, set: bool| {
            if set {
                Err(format!("{key}: not used by mode = {:?}", s.mode))
            } else {
                Ok(())
            }
        };
        let mode = match s.mode.as_str() {
            "probabilistic" => {
                unused("decision", s.decision.is_some())?;
                unused("max_traces_per_second", s.max_traces_per_second.is_some())?;
                let percent = s
                    .percent
                    .ok_or("percent: required for mode = \"probabilistic\"")?;
                if !(0.0..=100.0).contains(&percent) {
                    return Err(format!("percent: {percent} is not between 0 and 100"));
                }
                if !(1..=14).contains(&s.sampling_precision) {
                    return Err(format!(
                        "sampling_precision: {} is not between 1 and 14 hex digits",
                        s.sampling_precision
                    ));
                }
                Mode::Probabilistic {
                    threshold: threshold::for_percent(percent, s.sampling_precision),
                }
            }
            "const" => {
                unused("percent", s.percent.is_some())?;
                unused("max_traces_per_second", s.max_traces_per_second.is_some())?;
                Mode::Const(
                    s.decision
                        .ok_or("decision: required for mode = \"const\" (true or false)")?,
                )
            }
            "rate-limiting" => {
                unused("percent", s.percent.is_some())?;
                unused("decision", s.decision.is_some())?;
                let per_second = s
                    .max_traces_per_second
                    .ok_or("max_traces_per_second: required for mode = \"rate-limiting\"")?;
                if !(per_second.is_finite() && per_second > 0.0) {
                    return Err(format!(
                        "max_traces_per_second: {per_second} must be above 0"
                    ));
                }
                if s.remembered_traces == 0 {
                    return Err("remembered_traces: must be at least 1".into());
                }
                Mode::RateLimiting(RateLimiter {
                    per_second,
                    tokens: per_second.max(1.0),
                    now_nanos: 0,
                    decided: HashMap::new(),
                    order: VecDeque::new(),
                    remembered: s.remembered_traces,
                })
            }
            other => {
                return Err(format!(
                    "mode: unknown mode {other:?} (one of: probabilistic, const, rate-limiting)"
                ));
            }
        };
        Ok(HeadSample {
            mode,
            priority: s.priority_attribute,
        })
    }

    fn signals(&self) -> Vec<Signal> {
        vec![Signal::Traces, Signal::Logs]
    }

    fn process(&mut self, batch: &Batch) -> Result<(), String> {
        let spans = batch.signal() == Signal::Traces;
        let priorities =
            (!self.priority.is_empty()).then(|| batch.attribute(Level::Item, &self.priority));
        let mut drops = Vec::new();
        for item in batch.items() {
            let i = item.index();
            let forced = priorities
                .as_ref()
                .and_then(|p| priority(p.get(i as usize)?));
            let trace_id = item.trace_id();
            let keep = match (forced, &mut self.mode) {
                // A forced keep leaves `tracestate` alone: a downstream sampler may raise an
                // upstream threshold, never lower it, and this keep says nothing about the
                // trace's probability.
                (Some(keep), _) => keep,
                (None, Mode::Const(keep)) => *keep,
                (None, Mode::RateLimiting(limiter)) => match <[u8; 16]>::try_from(trace_id) {
                    Ok(id) if id != [0; 16] => {
                        let keep = limiter.decide(id, item.number(NumberField::TimeUnixNano));
                        if keep && spans {
                            // A decision of unknown probability: `th` no longer holds.
                            let mut ts = TraceState::parse(item.text(TextField::TraceState));
                            if ts.get("th").is_some() {
                                ts.set("th", None);
                                item.set_text(TextField::TraceState, ts.render());
                            }
                        }
                        keep
                    }
                    // No trace to decide on (log records outside traces): keep.
                    _ => true,
                },
                (None, Mode::Probabilistic { threshold }) => {
                    let mut ts = if spans {
                        TraceState::parse(item.text(TextField::TraceState))
                    } else {
                        TraceState::default()
                    };
                    match threshold::randomness(trace_id, ts.get("rv")) {
                        // No trace to decide on (log records outside traces): keep.
                        None => true,
                        Some(r) => {
                            // An upstream threshold the randomness does not pass (or one that
                            // does not parse) is inconsistent: it is replaced by ours.
                            let upstream =
                                ts.get("th").and_then(threshold::decode).filter(|u| r >= *u);
                            let t = upstream.unwrap_or(0).max(*threshold);
                            let keep = r >= t;
                            if keep && spans && upstream != Some(t) {
                                ts.set("th", Some(threshold::encode(t)));
                                item.set_text(TextField::TraceState, ts.render());
                            }
                            keep
                        }
                    }
                }
            };
            if !keep {
                drops.push(i);
            }
        }
        if !drops.is_empty() {
            batch.drop_items(&drops);
        }
        Ok(())
    }
}

/// `sampling.priority`: > 0 keeps, 0 drops; anything else (negative, not a number) is ignored.
fn priority(v: ValueRef<'_>) -> Option<bool> {
    let p = match v {
        ValueRef::Int(i) => i as f64,
        ValueRef::Double(d) => d,
        ValueRef::Str(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    if p > 0.0 {
        Some(true)
    } else if p == 0.0 {
        Some(false)
    } else {
        None
    }
}

#[cfg(target_arch = "wasm32")]
weir_plugin::export_processor!(HeadSample);
