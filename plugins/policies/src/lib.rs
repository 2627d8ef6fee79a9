//! Weir's first-party tail-sampling policies, one `sampler`-world component. The host selects
//! the policy with the `type` it injects into the config (a sampler's `type = "latency"`
//! becomes `{"type": "latency", …config}`), so every type shares one compiled component.
//!
//! Each policy follows the Collector's `tail_sampling` policy of the same name and its config
//! keys (differences are listed in docs/sampling.md: `probabilistic` uses the head sampler's
//! randomness unless salted, `latency` bounds are inclusive); `condition` stands in for
//! `ottl_condition` with the conditions of `builtin:filter`; `trace_flags` keeps traces with
//! the W3C sampled flag; `sampling_priority` is Jaeger's.

mod attributes;

use regex::Regex;
use serde::Deserialize;
use weir_conditions::{Condition, ConditionConfig};
use weir_plugin::{Batch, Config, NumberField, Policy, TextField, ValueRef, Verdict};

use attributes::{AttributeMatch, Found};

/// One trace's verdict under a configured policy.
enum Kind {
    AlwaysSample,
    Latency {
        threshold_ns: u64,
        upper_ns: Option<u64>,
    },
    StatusCode(Vec<i64>),
    Attribute(AttributeMatch),
    Probabilistic {
        threshold: u64,
        salt: Option<String>,
    },
    TraceState {
        key: String,
        values: Vec<String>,
    },
    TraceFlags,
    SpanCount {
        min: u64,
        max: Option<u64>,
    },
    SamplingPriority,
    Condition(Vec<Condition>),
}

/// The config as written, tagged by the `type` the host injects. Parsed once at `init`.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Raw {
    AlwaysSample {},
    Latency {
        threshold_ms: u64,
        #[serde(default)]
        upper_threshold_ms: Option<u64>,
    },
    StatusCode {
        status_codes: Vec<String>,
    },
    StringAttribute {
        key: String,
        values: Vec<String>,
        #[serde(default)]
        enabled_regex_matching: bool,
        #[serde(default)]
        invert_match: bool,
    },
    NumericAttribute {
        key: String,
        #[serde(default)]
        min_value: Option<f64>,
        #[serde(default)]
        max_value: Option<f64>,
        #[serde(default)]
        invert_match: bool,
    },
    BooleanAttribute {
        key: String,
        value: bool,
        #[serde(default)]
        invert_match: bool,
    },
    Probabilistic {
        sampling_percentage: f64,
        #[serde(default)]
        hash_salt: Option<String>,
    },
    TraceState {
        key: String,
        values: Vec<String>,
    },
    TraceFlags {},
    SpanCount {
        min_spans: u64,
        #[serde(default)]
        max_spans: Option<u64>,
    },
    SamplingPriority {},
    Condition {
        when: OneOrMany,
    },
}

/// `when = { … }` or `when = [{ … }, { … }]` (any of them).
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(Box<ConditionConfig>),
    Many(Vec<ConditionConfig>),
}

/// A configured first-party policy.
pub struct Policies {
    kind: Kind,
}

fn status_code(name: &str, at: usize) -> Result<i64, String> {
    match name.to_ascii_uppercase().as_str() {
        "UNSET" => Ok(0),
        "OK" => Ok(1),
        "ERROR" => Ok(2),
        _ => Err(format!(
            "status_codes[{at}]: unknown status code \"{name}\" (one of: OK, ERROR, UNSET)"
        )),
    }
}

fn compile(raw: Raw) -> Result<Kind, String> {
    Ok(match raw {
        Raw::AlwaysSample {} => Kind::AlwaysSample,
        Raw::Latency {
            threshold_ms,
            upper_threshold_ms,
        } => {
            if let Some(upper) = upper_threshold_ms
                && upper <= threshold_ms
            {
                return Err("upper_threshold_ms: must be greater than threshold_ms".into());
            }
            Kind::Latency {
                threshold_ns: threshold_ms.saturating_mul(1_000_000),
                upper_ns: upper_threshold_ms.map(|u| u.saturating_mul(1_000_000)),
            }
        }
        Raw::StatusCode { status_codes } => {
            if status_codes.is_empty() {
                return Err("status_codes: list at least one of OK, ERROR, UNSET".into());
            }
            let codes = status_codes
                .iter()
                .enumerate()
                .map(|(i, c)| status_code(c, i))
                .collect::<Result<_, _>>()?;
            Kind::StatusCode(codes)
        }
        Raw::StringAttribute {
            key,
            values,
            enabled_regex_matching,
            invert_match,
        } => {
            if values.is_empty() {
                return Err("values: list at least one value".into());
            }
            let test = if enabled_regex_matching {
                let regexes = values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        Regex::new(v).map_err(|e| format!("values[{i}]: invalid regex: {e}"))
                    })
                    .collect::<Result<_, _>>()?;
                attributes::Test::Regex(regexes)
            } else {
                attributes::Test::Strings(values)
            };
            Kind::Attribute(AttributeMatch::new(key, test, invert_match))
        }
        Raw::NumericAttribute {
            key,
            min_value,
            max_value,
            invert_match,
        } => {
            if min_value.is_none() && max_value.is_none() {
                return Err("min_value: set min_value, max_value or both".into());
            }
            let min = min_value.unwrap_or(f64::NEG_INFINITY);
            let max = max_value.unwrap_or(f64::INFINITY);
            if min > max {
                return Err("max_value: must not be below min_value".into());
            }
            Kind::Attribute(AttributeMatch::new(
                key,
                attributes::Test::Range(min, max),
                invert_match,
            ))
        }
        Raw::BooleanAttribute {
            key,
            value,
            invert_match,
        } => Kind::Attribute(AttributeMatch::new(
            key,
            attributes::Test::Bool(value),
            invert_match,
        )),
        Raw::Probabilistic {
            sampling_percentage,
            hash_salt,
        } => {
            if !(0.0..=100.0).contains(&sampling_percentage) {
                return Err("sampling_percentage: must be between 0 and 100".into());
            }
            Kind::Probabilistic {
                // Full precision: the same threshold the head sampler uses by default.
                threshold: weir_probability::for_percent(sampling_percentage, 4),
                salt: hash_salt.filter(|s| !s.is_empty()),
            }
        }
        Raw::TraceState { key, values } => {
            if values.is_empty() {
                return Err("values: list at least one value".into());
            }
            Kind::TraceState { key, values }
        }
        Raw::TraceFlags {} => Kind::TraceFlags,
        Raw::SpanCount {
            min_spans,
            max_spans,
        } => {
            // As in the Collector, `max_spans = 0` means no upper bound.
            let max = max_spans.filter(|m| *m > 0);
            if let Some(max) = max
                && max < min_spans
            {
                return Err("max_spans: must not be below min_spans".into());
            }
            Kind::SpanCount {
                min: min_spans,
                max,
            }
        }
        Raw::SamplingPriority {} => Kind::SamplingPriority,
        Raw::Condition { when } => {
            let list = match when {
                OneOrMany::One(c) => vec![*c],
                OneOrMany::Many(v) => v,
            };
            if list.is_empty() {
                return Err("when: list at least one condition".into());
            }
            let compiled = list
                .into_iter()
                .enumerate()
                .map(|(i, c)| Condition::compile(c, &format!("when[{i}]")))
                .collect::<Result<_, _>>()?;
            Kind::Condition(compiled)
        }
    })
}

impl Policy for Policies {
    fn init(config: Config) -> Result<Self, String> {
        let raw: Raw = config.parse()?;
        Ok(Policies {
            kind: compile(raw)?,
        })
    }

    fn evaluate(&mut self, trace: &Batch) -> Result<Verdict, String> {
        Ok(evaluate(&self.kind, trace))
    }
}

fn keep_if(hit: bool, reason: impl FnOnce() -> String) -> Verdict {
    if hit {
        Verdict::keep(reason())
    } else {
        Verdict::no_opinion()
    }
}

fn evaluate(kind: &Kind, trace: &Batch) -> Verdict {
    match kind {
        Kind::AlwaysSample => Verdict::keep(""),
        Kind::Latency {
            threshold_ns,
            upper_ns,
        } => {
            let (mut first, mut last) = (u64::MAX, 0u64);
            for span in trace.items() {
                first = first.min(span.number(NumberField::TimeUnixNano));
                last = last.max(span.number(NumberField::EndTimeUnixNano));
            }
            let duration = last.saturating_sub(first);
            let hit = duration >= *threshold_ns && upper_ns.is_none_or(|u| duration <= u);
            keep_if(hit, || format!("duration={}ms", duration / 1_000_000))
        }
        Kind::StatusCode(codes) => {
            let hit = trace.items().find(|s| codes.contains(&s.status_code()));
            keep_if(hit.is_some(), || {
                let code = hit.map_or(0, |s| s.status_code());
                format!(
                    "status={}",
                    ["UNSET", "OK", "ERROR"]
                        .get(usize::try_from(code).unwrap_or(0))
                        .unwrap_or(&"UNSET")
                )
            })
        }
        Kind::Attribute(m) => match m.find(trace) {
            Found::Matched(reason) if m.invert => Verdict::drop(format!("not {reason}")),
            Found::Matched(reason) => Verdict::keep(reason),
            Found::Nothing if m.invert => Verdict::keep(format!("no {}", m.key)),
            Found::Nothing => Verdict::no_opinion(),
        },
        Kind::Probabilistic { threshold, salt } => {
            let Some(first) = trace.items().next() else {
                return Verdict::no_opinion();
            };
            let randomness = match salt {
                Some(salt) => Some(salted(first.trace_id(), salt)),
                None => {
                    let ts = weir_probability::TraceState::parse(first.text(TextField::TraceState));
                    weir_probability::randomness(first.trace_id(), ts.get("rv"))
                }
            };
            keep_if(randomness.is_some_and(|r| r >= *threshold), String::new)
        }
        Kind::TraceState { key, values } => {
            let hit = trace.items().any(|s| {
                s.text(TextField::TraceState).split(',').any(|member| {
                    member
                        .trim()
                        .split_once('=')
                        .is_some_and(|(k, v)| k == key && values.iter().any(|x| x == v))
                })
            });
            keep_if(hit, || format!("tracestate {key}"))
        }
        Kind::TraceFlags => {
            let hit = trace
                .items()
                .any(|s| s.number(NumberField::Flags) & 0x01 != 0);
            keep_if(hit, || "sampled flag".into())
        }
        Kind::SpanCount { min, max } => {
            let n = u64::from(trace.len());
            keep_if(n >= *min && max.is_none_or(|m| n <= m), || {
                format!("spans={n}")
            })
        }
        Kind::SamplingPriority => {
            let mut zero = false;
            for span in trace.items() {
                match span.attribute("sampling.priority").and_then(priority) {
                    Some(p) if p > 0.0 => return Verdict::keep("sampling.priority>0"),
                    Some(0.0) => zero = true,
                    _ => {}
                }
            }
            if zero {
                Verdict::drop("sampling.priority=0")
            } else {
                Verdict::no_opinion()
            }
        }
        Kind::Condition(conditions) => {
            let hit = conditions
                .iter()
                .any(|c| c.select(trace).into_iter().any(|m| m));
            keep_if(hit, || "condition".into())
        }
    }
}

/// A `sampling.priority` value as a number (Jaeger clients send ints, some send strings).
fn priority(v: ValueRef<'_>) -> Option<f64> {
    match v {
        ValueRef::Int(i) => Some(i as f64),
        ValueRef::Double(d) => Some(d),
        ValueRef::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// 56 bits of FNV-1a over the salt and the trace id: randomness independent of the trace id's
/// own, for sampling that must not correlate with head sampling.
fn salted(trace_id: &[u8], salt: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in salt.as_bytes().iter().chain(trace_id) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h >> 8
}

weir_plugin::export_policy!(Policies);

#[cfg(test)]
mod tests;
