//! Policies and how the host combines them.
//!
//! A leaf policy is anything that implements [`Evaluate`] (in the gateway: a Wasm plugin of the
//! `sampler` world). Everything stateful or structural — `and`, `not`, `drop`, `first_match`,
//! `rate_limiting`, `bytes_limiting` and `composite` — lives here in the host: a budget is
//! state of the sampler (of each pipeline's sampler instance), not of a plugin instance.

use std::sync::Arc;
use std::time::Duration;

use weir_core::Batch;

use crate::budget::{Composite, SpanRate, TokenBucket};

/// A policy's opinion of one trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Keep the trace.
    Keep,
    /// Drop the trace, whatever other policies say (a veto).
    Drop,
    /// Let the other policies decide.
    NoOpinion,
}

impl Decision {
    /// The metric label and config spelling: `keep`, `drop`, `no-opinion`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Keep => "keep",
            Decision::Drop => "drop",
            Decision::NoOpinion => "no-opinion",
        }
    }
}

/// What a leaf policy returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The decision.
    pub decision: Decision,
    /// A short reason (`status=ERROR`), empty for none.
    pub reason: String,
}

/// Why a leaf policy gave no verdict; the trace gets the policy's fallback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// The metric label: `trap`, `timeout`, `memory`, `error`, `circuit_open` …
    pub kind: &'static str,
    /// What happened, for the log.
    pub message: String,
}

/// A leaf policy: one verdict over one assembled trace. The gateway's implementation runs a
/// Wasm component; tests and the policy lab may use native ones.
pub trait Evaluate: Send {
    /// Judges the trace. `trace` is a traces batch holding every buffered span of one trace id;
    /// it must be left as it was (implementations lend it and take it back).
    fn evaluate(&mut self, trace: &mut Batch) -> Result<Verdict, PolicyError>;
}

/// One assembled trace, as the combinators see it.
pub struct TraceInput<'a> {
    /// The spans, as a traces batch.
    pub batch: &'a mut Batch,
    /// How many spans.
    pub spans: usize,
    /// Their encoded (wire) size in bytes.
    pub bytes: usize,
    /// The sampler's clock, for the rate budgets.
    pub now: Duration,
}

/// The result of evaluating one policy (tree) on a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The decision.
    pub decision: Decision,
    /// The leaf or budget policy that decided and its reason, when there is a decision.
    pub by: Option<(Arc<str>, String)>,
    /// True when a failed leaf's fallback shaped the decision (directly or through `and`,
    /// `drop` or `first_match`): `not` then has no opinion rather than turning a broken policy
    /// into "keep everything".
    pub failed: bool,
}

impl Outcome {
    fn none() -> Outcome {
        Outcome {
            decision: Decision::NoOpinion,
            by: None,
            failed: false,
        }
    }

    /// Marks an outcome that a failed leaf below it shaped.
    fn failed_if(mut self, failed: bool) -> Outcome {
        self.failed |= failed;
        self
    }

    fn of(decision: Decision, name: &Arc<str>, reason: String) -> Outcome {
        Outcome {
            decision,
            by: Some((name.clone(), reason)),
            failed: false,
        }
    }
}

/// Where evaluation errors of leaf policies go (the sampler counts and logs them).
pub trait ErrorSink {
    /// Policy `policy` failed and got its fallback.
    fn policy_failed(&mut self, policy: &str, error: &PolicyError);
}

/// One configured policy: a name (for metrics, logs and `weir.sampling.policy`) and what it is.
pub struct Policy {
    name: Arc<str>,
    kind: Kind,
}

enum Kind {
    Leaf {
        eval: Box<dyn Evaluate>,
        fallback: Decision,
    },
    And(Vec<Policy>),
    Not(Box<Policy>),
    Drop(Vec<Policy>),
    FirstMatch(Vec<Policy>),
    RateLimiting(SpanRate),
    BytesLimiting(TokenBucket),
    Composite(Composite),
}

impl Policy {
    /// A leaf policy; `fallback` is its decision when it fails (trap, timeout, error).
    pub fn leaf(name: &str, eval: Box<dyn Evaluate>, fallback: Decision) -> Policy {
        Policy {
            name: name.into(),
            kind: Kind::Leaf { eval, fallback },
        }
    }

    /// Keeps when every sub-policy keeps; otherwise no opinion.
    pub fn and(name: &str, policies: Vec<Policy>) -> Policy {
        Policy {
            name: name.into(),
            kind: Kind::And(policies),
        }
    }

    /// Keeps when the sub-policy does not keep (it drops or has no opinion); otherwise no
    /// opinion. Read it as "matches when the other does not". When the sub-policy failed,
    /// `not` has no opinion.
    pub fn not(name: &str, policy: Policy) -> Policy {
        Policy {
            name: name.into(),
            kind: Kind::Not(Box::new(policy)),
        }
    }

    /// Drops (vetoes) when every sub-policy keeps; otherwise no opinion.
    pub fn drop_when(name: &str, policies: Vec<Policy>) -> Policy {
        Policy {
            name: name.into(),
            kind: Kind::Drop(policies),
        }
    }

    /// The first sub-policy with an opinion (keep or drop) decides.
    pub fn first_match(name: &str, policies: Vec<Policy>) -> Policy {
        Policy {
            name: name.into(),
            kind: Kind::FirstMatch(policies),
        }
    }

    /// Keeps traces while fewer than `spans_per_second` spans were kept by it in the current
    /// second of the sampler's clock; no opinion after that.
    pub fn rate_limiting(name: &str, spans_per_second: u64) -> Policy {
        Policy {
            name: name.into(),
            kind: Kind::RateLimiting(SpanRate::new(spans_per_second)),
        }
    }

    /// Keeps traces while a token bucket of `burst` bytes refilled at `bytes_per_second` holds
    /// their encoded size; no opinion after that.
    pub fn bytes_limiting(name: &str, bytes_per_second: u64, burst: u64) -> Policy {
        Policy {
            name: name.into(),
            kind: Kind::BytesLimiting(TokenBucket::new(bytes_per_second, burst)),
        }
    }

    /// Splits `max_total_spans_per_second` across sub-policies by percent: the first
    /// sub-policy (in order) that keeps the trace and still has room in its share this second
    /// keeps it. Sub-policies given `None` share what the listed percentages leave, equally.
    pub fn composite(
        name: &str,
        max_total_spans_per_second: u64,
        policies: Vec<(Policy, Option<f64>)>,
    ) -> Policy {
        let shares: Vec<Option<f64>> = policies.iter().map(|(_, p)| *p).collect();
        let subs = policies.into_iter().map(|(p, _)| p).collect();
        Policy {
            name: name.into(),
            kind: Kind::Composite(Composite::new(max_total_spans_per_second, &shares, subs)),
        }
    }

    /// The configured name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Evaluates this policy (tree) on one trace.
    pub fn evaluate(&mut self, trace: &mut TraceInput<'_>, errors: &mut dyn ErrorSink) -> Outcome {
        match &mut self.kind {
            Kind::Leaf { eval, fallback } => match eval.evaluate(trace.batch) {
                Ok(v) => match v.decision {
                    Decision::NoOpinion => Outcome::none(),
                    d => Outcome::of(d, &self.name, v.reason),
                },
                Err(e) => {
                    errors.policy_failed(&self.name, &e);
                    let mut o = match *fallback {
                        Decision::NoOpinion => Outcome::none(),
                        d => Outcome::of(d, &self.name, format!("fallback after {}", e.kind)),
                    };
                    o.failed = true;
                    o
                }
            },
            Kind::And(subs) => {
                let mut reasons = Vec::new();
                for p in subs.iter_mut() {
                    let o = p.evaluate(trace, errors);
                    if o.decision != Decision::Keep {
                        return Outcome::none().failed_if(o.failed);
                    }
                    reasons.extend(o.by.map(|(n, r)| join(&n, &r)));
                }
                Outcome::of(Decision::Keep, &self.name, reasons.join(", "))
            }
            Kind::Not(sub) => {
                let o = sub.evaluate(trace, errors);
                match o.decision {
                    _ if o.failed => Outcome::none().failed_if(true),
                    Decision::Keep => Outcome::none(),
                    Decision::Drop | Decision::NoOpinion => {
                        Outcome::of(Decision::Keep, &self.name, format!("not {}", sub.name))
                    }
                }
            }
            Kind::Drop(subs) => {
                for p in subs.iter_mut() {
                    let o = p.evaluate(trace, errors);
                    if o.decision != Decision::Keep {
                        return Outcome::none().failed_if(o.failed);
                    }
                }
                Outcome::of(Decision::Drop, &self.name, String::new())
            }
            Kind::FirstMatch(subs) => {
                let mut failed = false;
                for p in subs.iter_mut() {
                    let o = p.evaluate(trace, errors);
                    if o.decision != Decision::NoOpinion {
                        return o;
                    }
                    failed |= o.failed;
                }
                Outcome::none().failed_if(failed)
            }
            Kind::RateLimiting(rate) => {
                if rate.take(trace.now, trace.spans as u64) {
                    Outcome::of(Decision::Keep, &self.name, String::new())
                } else {
                    Outcome::none()
                }
            }
            Kind::BytesLimiting(bucket) => {
                if bucket.take(trace.now, trace.bytes as u64) {
                    Outcome::of(Decision::Keep, &self.name, String::new())
                } else {
                    Outcome::none()
                }
            }
            Kind::Composite(c) => {
                let now = trace.now;
                let spans = trace.spans as u64;
                for (p, rate) in c.policies.iter_mut().zip(&mut c.rates) {
                    let o = p.evaluate(trace, errors);
                    if o.decision == Decision::Keep && rate.take(now, spans) {
                        return o;
                    }
                }
                Outcome::none()
            }
        }
    }
}

fn join(name: &str, reason: &str) -> String {
    if reason.is_empty() {
        name.to_string()
    } else {
        format!("{name}: {reason}")
    }
}

/// Combines the sampler's top-level policies the way the Collector does: any drop drops the
/// trace, else any keep keeps it (the first keeping policy is recorded), else it is dropped.
pub fn combine(
    policies: &mut [Policy],
    trace: &mut TraceInput<'_>,
    errors: &mut dyn ErrorSink,
) -> Outcome {
    let mut kept: Option<Outcome> = None;
    for p in policies.iter_mut() {
        let o = p.evaluate(trace, errors);
        match o.decision {
            Decision::Drop => return o,
            Decision::Keep if kept.is_none() => kept = Some(o),
            Decision::Keep | Decision::NoOpinion => {}
        }
    }
    kept.unwrap_or(Outcome {
        decision: Decision::Drop,
        by: None,
        failed: false,
    })
}
