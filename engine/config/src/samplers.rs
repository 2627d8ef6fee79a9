//! `[samplers.<name>]`: tail samplers and their policy trees.
//!
//! ```toml
//! [samplers.tail]
//! decision_wait = "10s"
//!
//! [[samplers.tail.policies]]
//! name = "errors"
//! type = "status_code"
//! config = { status_codes = ["ERROR"] }
//!
//! [[samplers.tail.policies]]
//! name = "the-rest"
//! type = "probabilistic"
//! config = { percent = 5 }
//! ```

use std::collections::BTreeSet;

use serde::Deserialize;
use toml::Spanned;

use crate::components::GrantsConfig;
use crate::units::{ByteSize, Seconds, Timeout};

/// The policy types the host itself implements: structure and rate budgets.
pub const HOST_POLICY_TYPES: [&str; 7] = [
    "and",
    "not",
    "drop",
    "first_match",
    "rate_limiting",
    "bytes_limiting",
    "composite",
];

/// The first-party Wasm policy types (the `policies` plugin), as `type` values.
pub const BUILTIN_POLICY_TYPES: [&str; 12] = [
    "always_sample",
    "latency",
    "status_code",
    "string_attribute",
    "numeric_attribute",
    "boolean_attribute",
    "probabilistic",
    "trace_state",
    "trace_flags",
    "span_count",
    "sampling_priority",
    "condition",
];

/// `[samplers.<name>]`: one tail sampler. Every default matches the Collector's
/// `tail_sampling` processor where it has the same setting.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplerConfig {
    /// Decide on a trace this long after its first span arrived.
    #[serde(default = "default_decision_wait")]
    pub decision_wait: Seconds,
    /// Decide this long after the root span (a span without parent) arrived, if that is sooner.
    /// Off unless set.
    #[serde(default)]
    pub decision_wait_after_root: Option<Seconds>,
    /// Most traces buffered at once; beyond it the oldest trace is decided early.
    #[serde(default = "default_max_traces")]
    pub max_traces: usize,
    /// Most encoded span bytes buffered at once; beyond it the oldest traces are decided early.
    #[serde(default = "default_max_buffered_bytes")]
    pub max_buffered_bytes: ByteSize,
    /// A trace holding more encoded bytes than this is decided at once (its later spans follow
    /// that decision).
    /// Unset: 8MiB, or `max_buffered_bytes` if that is smaller ([`SamplerConfig::trace_bytes`]).
    #[serde(default)]
    pub max_trace_bytes: Option<ByteSize>,
    /// When a bound is reached, stop taking data (receivers then refuse with a retryable status)
    /// instead of deciding the oldest traces early.
    #[serde(default)]
    pub block_on_overflow: bool,
    /// Sizes of the caches that late spans consult.
    #[serde(default)]
    pub decision_cache: DecisionCacheConfig,
    /// What stopping Weir does with buffered traces: `"decide"` on what arrived, or `"drop"`.
    #[serde(default)]
    pub on_shutdown: ShutdownConfig,
    /// Add `weir.sampling.policy` (and `weir.sampling.reason`) to kept spans.
    #[serde(default)]
    pub record_policy: bool,
    /// The policies, in order: any drop drops a trace, else any keep keeps it, else it is
    /// dropped.
    #[serde(default)]
    pub policies: Vec<Spanned<PolicyConfig>>,
}

fn default_decision_wait() -> Seconds {
    Seconds(std::time::Duration::from_secs(30))
}
fn default_max_traces() -> usize {
    50_000
}
fn default_max_buffered_bytes() -> ByteSize {
    ByteSize(256 << 20)
}
/// The default of `max_trace_bytes` when `max_buffered_bytes` is larger.
const DEFAULT_MAX_TRACE_BYTES: u64 = 8 << 20;

impl SamplerConfig {
    /// `max_trace_bytes` as set, or its default: 8MiB, at most `max_buffered_bytes`.
    pub fn trace_bytes(&self) -> ByteSize {
        self.max_trace_bytes.unwrap_or(ByteSize(
            DEFAULT_MAX_TRACE_BYTES.min(self.max_buffered_bytes.0),
        ))
    }
}

/// `decision_cache = { kept = …, dropped = … }`: how many trace ids each cache remembers.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionCacheConfig {
    /// Ids of kept traces (0 turns the cache off: late spans are buffered as a new trace).
    #[serde(default = "default_cache")]
    pub kept: usize,
    /// Ids of dropped traces.
    #[serde(default = "default_cache")]
    pub dropped: usize,
}

impl Default for DecisionCacheConfig {
    fn default() -> Self {
        DecisionCacheConfig {
            kept: default_cache(),
            dropped: default_cache(),
        }
    }
}

fn default_cache() -> usize {
    100_000
}

/// `on_shutdown`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShutdownConfig {
    /// Decide on each buffered trace with what arrived.
    #[default]
    Decide,
    /// Drop them, counted.
    Drop,
}

/// A policy's decision when its plugin fails (trap, timeout, error).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyFallback {
    /// As if the policy had no opinion (the default).
    #[default]
    NoOpinion,
    /// Keep the trace.
    Keep,
    /// Drop the trace (a veto).
    Drop,
}

/// One policy: a first-party type, a plugin file, or a host combinator or budget.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Unique within the sampler; the `policy` label of metrics and the value of
    /// `weir.sampling.policy`.
    pub name: Spanned<String>,
    /// A first-party policy (`latency`, `status_code`, …) or a host one (`and`, `composite`, …).
    #[serde(rename = "type", default)]
    pub kind: Option<Spanned<String>>,
    /// A policy plugin file (a component of the `sampler` world), instead of `type`.
    #[serde(default)]
    pub plugin: Option<Spanned<String>>,
    /// Handed to a plugin policy's `init` as JSON (first-party policies included).
    #[serde(default)]
    pub config: toml::Table,
    /// The decision when the plugin fails.
    #[serde(default)]
    pub on_error: PolicyFallback,
    /// Wall-clock budget of one evaluation, `base + per_item × spans of the trace` (default
    /// 100ms + 50µs per span).
    #[serde(default)]
    pub timeout: Timeout,
    /// Linear-memory cap of the plugin instance.
    #[serde(default = "default_policy_memory")]
    pub memory_limit: ByteSize,
    /// Capabilities beyond the default sandbox.
    #[serde(default)]
    pub grants: GrantsConfig,
    /// Sub-policies of `and`, `not` (exactly one), `drop`, `first_match` and `composite`.
    #[serde(default)]
    pub policies: Vec<Spanned<PolicyConfig>>,
    /// `rate_limiting`: spans kept per second.
    #[serde(default)]
    pub spans_per_second: Option<u64>,
    /// `bytes_limiting`: encoded bytes kept per second.
    #[serde(default)]
    pub bytes_per_second: Option<ByteSize>,
    /// `bytes_limiting`: the bucket depth (default: twice `bytes_per_second`).
    #[serde(default)]
    pub burst: Option<ByteSize>,
    /// `composite`: the spans per second shared by its sub-policies.
    #[serde(default)]
    pub max_total_spans_per_second: Option<u64>,
    /// A sub-policy of `composite`: its percent of `max_total_spans_per_second` (unset: an
    /// equal part of what the others leave).
    #[serde(default)]
    pub percent: Option<f64>,
}

fn default_policy_memory() -> ByteSize {
    ByteSize(64 << 20)
}

/// One problem in a policy tree: the span, the key path and the message.
pub(crate) type Problem = (std::ops::Range<usize>, String, String);

/// Checks a sampler's policy tree without I/O: each policy is exactly one of `type` and
/// `plugin`, the type is known, it has the keys its type needs and none it does not, names are
/// unique.
pub(crate) fn check(path: &str, sampler: &SamplerConfig) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut names = BTreeSet::new();
    if sampler.policies.is_empty() {
        problems.push((
            0..0,
            format!("{path}.policies"),
            "a sampler needs at least one policy ([[samplers.<name>.policies]])".into(),
        ));
    }
    let mut bound = |key: &str, msg: &str| {
        problems.push((0..0, format!("{path}.{key}"), msg.to_string()));
    };
    if sampler.max_traces == 0 {
        bound("max_traces", "must be at least 1");
    }
    if sampler.max_buffered_bytes.0 == 0 {
        bound("max_buffered_bytes", "must be above 0");
    }
    if let Some(t) = sampler.max_trace_bytes
        && (t.0 == 0 || t > sampler.max_buffered_bytes)
    {
        bound(
            "max_trace_bytes",
            "must be above 0 and at most max_buffered_bytes",
        );
    }
    for (i, p) in sampler.policies.iter().enumerate() {
        check_policy(
            &format!("{path}.policies[{i}]"),
            p,
            false,
            &mut names,
            &mut problems,
        );
    }
    problems
}

fn check_policy(
    path: &str,
    policy: &Spanned<PolicyConfig>,
    in_composite: bool,
    names: &mut BTreeSet<String>,
    out: &mut Vec<Problem>,
) {
    let span = policy.span();
    let p = policy.get_ref();
    let mut err = |key: &str, msg: String| {
        let at = if key.is_empty() {
            path.to_string()
        } else {
            format!("{path}.{key}")
        };
        out.push((span.clone(), at, msg));
    };
    let name = p.name.get_ref();
    if name.is_empty() {
        err("name", "must not be empty".into());
    } else if !names.insert(name.clone()) {
        err(
            "name",
            format!("`{name}` is used by another policy of this sampler; names must be unique"),
        );
    }
    let kind = match (&p.kind, &p.plugin) {
        (Some(_), Some(_)) => {
            err("", "set either `type` or `plugin`, not both".into());
            return;
        }
        (None, None) => {
            err(
                "",
                format!(
                    "set `type` (one of: {}, {}) or `plugin` (a sampler component file)",
                    BUILTIN_POLICY_TYPES.join(", "),
                    HOST_POLICY_TYPES.join(", ")
                ),
            );
            return;
        }
        (None, Some(_)) => "plugin",
        (Some(k), None) => k.get_ref().as_str(),
    };
    let host = HOST_POLICY_TYPES.contains(&kind);
    if !host && kind != "plugin" && !BUILTIN_POLICY_TYPES.contains(&kind) {
        let at = p.kind.as_ref().map_or(span.clone(), Spanned::span);
        out.push((
            at,
            format!("{path}.type"),
            format!(
                "unknown policy type `{kind}` (one of: {}, {}; or set `plugin` to a file)",
                BUILTIN_POLICY_TYPES.join(", "),
                HOST_POLICY_TYPES.join(", ")
            ),
        ));
        return;
    }
    if p.percent.is_some() && !in_composite {
        err(
            "percent",
            "only a sub-policy of `composite` has a percent".into(),
        );
    }
    if let Some(percent) = p.percent
        && !(0.0..=100.0).contains(&percent)
    {
        err("percent", "must be between 0 and 100".into());
    }
    let wants_subs = matches!(kind, "and" | "not" | "drop" | "first_match" | "composite");
    let keys: [(&str, bool, bool); 5] = [
        ("policies", !p.policies.is_empty(), wants_subs),
        (
            "spans_per_second",
            p.spans_per_second.is_some(),
            kind == "rate_limiting",
        ),
        (
            "bytes_per_second",
            p.bytes_per_second.is_some(),
            kind == "bytes_limiting",
        ),
        ("burst", p.burst.is_some(), kind == "bytes_limiting"),
        (
            "max_total_spans_per_second",
            p.max_total_spans_per_second.is_some(),
            kind == "composite",
        ),
    ];
    for (key, present, allowed) in keys {
        if present && !allowed {
            err(key, format!("does not apply to a `{kind}` policy"));
        }
    }
    if host && !p.config.is_empty() {
        err(
            "config",
            format!("a `{kind}` policy is built into Weir and takes no `config` table"),
        );
    }
    match kind {
        "and" | "drop" | "first_match" | "composite" if p.policies.is_empty() => {
            err("policies", format!("a `{kind}` policy needs sub-policies"));
        }
        "not" if p.policies.len() != 1 => {
            err(
                "policies",
                "a `not` policy takes exactly one sub-policy".into(),
            );
        }
        "rate_limiting" if p.spans_per_second.is_none_or(|n| n == 0) => {
            err(
                "spans_per_second",
                "required by `rate_limiting`, above 0".into(),
            );
        }
        "bytes_limiting" => {
            if p.bytes_per_second.is_none_or(|b| b.0 == 0) {
                err(
                    "bytes_per_second",
                    "required by `bytes_limiting`, above 0".into(),
                );
            }
            if p.burst.is_some_and(|b| b.0 == 0) {
                err("burst", "must be above 0".into());
            }
        }
        "composite" => {
            if p.max_total_spans_per_second.is_none_or(|n| n == 0) {
                err(
                    "max_total_spans_per_second",
                    "required by `composite`, above 0".into(),
                );
            }
            let total: f64 = p.policies.iter().filter_map(|s| s.get_ref().percent).sum();
            if total > 100.0 {
                err(
                    "policies",
                    format!("the sub-policies' percents add up to {total}, more than 100"),
                );
            }
        }
        _ => {}
    }
    for (i, sub) in p.policies.iter().enumerate() {
        check_policy(
            &format!("{path}.policies[{i}]"),
            sub,
            kind == "composite",
            names,
            out,
        );
    }
}
