//! Which items of a batch a rule applies to. Shared by `builtin:filter` (drop what matches) and
//! `builtin:enrich` (write only where `when` matches).
//!
//! A condition is a TOML/JSON table; every key it sets must match (AND):
//! ```toml
//! { attribute = "http.route", equals = "/healthz" }
//! { resource_attribute = "service.name", regex = "^billing-" }
//! { attribute = "user.id", exists = false }
//! { name_regex = "^GET /static/", span_kind = ["server"], status = ["unset", "ok"] }
//! { severity_below = "info" }
//! ```
//! Conditions on span kind and status only match spans, conditions on severity only match log
//! records; `signals = ["traces"]` restricts a condition explicitly.

use regex::Regex;
use serde::Deserialize;
use serde_json::Value as Json;
use weir_plugin::{Batch, Level, NumberField, Signal, TextField, ValueRef};

/// A condition as written in a plugin's config.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionConfig {
    /// An attribute of the item (span, data point, log record) to test.
    pub attribute: Option<String>,
    /// An attribute of the item's resource to test (e.g. `service.name`).
    pub resource_attribute: Option<String>,
    /// The attribute equals this value (string, number or boolean; types must agree, and
    /// integers and floats compare as numbers).
    pub equals: Option<Json>,
    /// The attribute is a string matching this regular expression (Rust `regex` syntax).
    pub regex: Option<String>,
    /// The attribute is present (`true`) or absent (`false`).
    pub exists: Option<bool>,
    /// The span, metric or log event name equals this.
    pub name: Option<String>,
    /// The span, metric or log event name matches this regular expression.
    pub name_regex: Option<String>,
    /// Spans of these kinds: `unspecified`, `internal`, `server`, `client`, `producer`,
    /// `consumer`.
    pub span_kind: Option<Vec<String>>,
    /// Spans with these status codes: `unset`, `ok`, `error`.
    pub status: Option<Vec<String>>,
    /// Log records with a severity number below this level (`trace`, `debug`, `info`, `warn`,
    /// `error`, `fatal`); records without a severity (0) count as below every level.
    pub severity_below: Option<String>,
    /// Log records with a severity number at or above this level.
    pub severity_at_least: Option<String>,
    /// Only items of these signals: `traces`, `metrics`, `logs`.
    pub signals: Option<Vec<String>>,
}

/// How an attribute is tested.
#[derive(Debug)]
enum Test {
    Equals(Json),
    Regex(Regex),
    Exists(bool),
}

/// A compiled condition.
#[derive(Debug)]
pub struct Condition {
    attribute: Option<(Level, String, Test)>,
    name: Option<String>,
    name_regex: Option<Regex>,
    kinds: Option<Vec<i64>>,
    statuses: Option<Vec<i64>>,
    severity: Option<(i64, i64)>,
    signals: Vec<Signal>,
}

fn regex(at: &str, key: &str, pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| format!("{at}.{key}: invalid regex {pattern:?}: {e}"))
}

fn names(at: &str, key: &str, given: &[String], known: &[&str]) -> Result<Vec<i64>, String> {
    given
        .iter()
        .map(|g| {
            known
                .iter()
                .position(|k| k.eq_ignore_ascii_case(g))
                .and_then(|p| i64::try_from(p).ok())
                .ok_or_else(|| {
                    format!(
                        "{at}.{key}: unknown value {g:?} (one of: {})",
                        known.join(", ")
                    )
                })
        })
        .collect()
}

const KINDS: [&str; 6] = [
    "unspecified",
    "internal",
    "server",
    "client",
    "producer",
    "consumer",
];
const STATUSES: [&str; 3] = ["unset", "ok", "error"];
const SEVERITIES: [&str; 6] = ["trace", "debug", "info", "warn", "error", "fatal"];

/// The lowest severity number of a level name (`info` → 9).
fn severity(at: &str, key: &str, level: &str) -> Result<i64, String> {
    let p = names(at, key, &[level.to_string()], &SEVERITIES)?;
    Ok(p.first().copied().unwrap_or(0) * 4 + 1)
}

impl Condition {
    /// Compiles a condition; `at` names it in messages (e.g. `drop[2]`).
    pub fn compile(c: ConditionConfig, at: &str) -> Result<Condition, String> {
        let mut signals = vec![Signal::Traces, Signal::Metrics, Signal::Logs];
        let attribute = match (c.attribute, c.resource_attribute) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "{at}: set `attribute` or `resource_attribute`, not both"
                ));
            }
            (None, None) => {
                if c.equals.is_some() || c.regex.is_some() || c.exists.is_some() {
                    return Err(format!(
                        "{at}: `equals`, `regex` and `exists` need an `attribute` or `resource_attribute`"
                    ));
                }
                None
            }
            (item, resource) => {
                let (level, key) = match (item, resource) {
                    (Some(k), _) => (Level::Item, k),
                    (_, Some(k)) => (Level::Resource, k),
                    _ => unreachable!("one of the two is set"),
                };
                let test = match (c.equals, c.regex, c.exists) {
                    (Some(v), None, None) => {
                        if !(v.is_string() || v.is_number() || v.is_boolean()) {
                            return Err(format!(
                                "{at}.equals: must be a string, number or boolean"
                            ));
                        }
                        Test::Equals(v)
                    }
                    (None, Some(r), None) => Test::Regex(regex(at, "regex", &r)?),
                    (None, None, Some(e)) => Test::Exists(e),
                    (None, None, None) => {
                        return Err(format!(
                            "{at}: `{key}` needs one of `equals`, `regex` or `exists`"
                        ));
                    }
                    _ => {
                        return Err(format!(
                            "{at}: set only one of `equals`, `regex` and `exists`"
                        ));
                    }
                };
                Some((level, key, test))
            }
        };
        let kinds = c
            .span_kind
            .map(|k| names(at, "span_kind", &k, &KINDS))
            .transpose()?;
        let statuses = c
            .status
            .map(|s| names(at, "status", &s, &STATUSES))
            .transpose()?;
        if kinds.is_some() || statuses.is_some() {
            signals.retain(|s| *s == Signal::Traces);
        }
        let below = c
            .severity_below
            .map(|l| severity(at, "severity_below", &l))
            .transpose()?;
        let at_least = c
            .severity_at_least
            .map(|l| severity(at, "severity_at_least", &l))
            .transpose()?;
        let severity = match (at_least, below) {
            (None, None) => None,
            (lo, hi) => {
                signals.retain(|s| *s == Signal::Logs);
                Some((lo.unwrap_or(i64::MIN), hi.unwrap_or(i64::MAX)))
            }
        };
        if let Some(only) = c.signals {
            let wanted = names(at, "signals", &only, &["traces", "metrics", "logs"])?;
            let all = [Signal::Traces, Signal::Metrics, Signal::Logs];
            signals.retain(|s| {
                wanted
                    .iter()
                    .any(|w| usize::try_from(*w).ok().and_then(|w| all.get(w)) == Some(s))
            });
        }
        let name_regex = c
            .name_regex
            .map(|r| regex(at, "name_regex", &r))
            .transpose()?;
        Ok(Condition {
            attribute,
            name: c.name,
            name_regex,
            kinds,
            statuses,
            severity,
            signals,
        })
    }

    /// The signals this condition can match.
    pub fn signals(&self) -> &[Signal] {
        &self.signals
    }

    /// One flag per item of `batch`: does the condition hold?
    pub fn select(&self, batch: &Batch) -> Vec<bool> {
        let n = batch.len() as usize;
        if !self.signals.contains(&batch.signal()) {
            return vec![false; n];
        }
        let mut out = vec![true; n];
        if let Some(name) = &self.name {
            let names = batch.text(TextField::Name);
            for (i, o) in out.iter_mut().enumerate() {
                *o &= names.get(i) == name;
            }
        }
        if let Some(r) = &self.name_regex {
            let names = batch.text(TextField::Name);
            for (i, o) in out.iter_mut().enumerate() {
                *o = *o && r.is_match(names.get(i));
            }
        }
        let numbers = |field, allowed: &dyn Fn(i64) -> bool, out: &mut Vec<bool>| {
            for (item, o) in batch.items().zip(out.iter_mut()) {
                *o = *o && allowed(item.number(field).cast_signed());
            }
        };
        if let Some(kinds) = &self.kinds {
            numbers(NumberField::Kind, &|k| kinds.contains(&k), &mut out);
        }
        if let Some(statuses) = &self.statuses {
            numbers(
                NumberField::StatusCode,
                &|s| statuses.contains(&s),
                &mut out,
            );
        }
        if let Some((lo, hi)) = self.severity {
            numbers(NumberField::Kind, &|s| s >= lo && s < hi, &mut out);
        }
        if let Some((level, key, test)) = &self.attribute {
            let column = batch.attribute(*level, key);
            for item in batch.items() {
                let i = item.index() as usize;
                if !out[i] {
                    continue;
                }
                let row = match level {
                    Level::Item => i,
                    Level::Resource => item.resource().index() as usize,
                };
                out[i] = test.holds(column.get(row));
            }
        }
        out
    }
}

impl Test {
    fn holds(&self, v: Option<ValueRef<'_>>) -> bool {
        match (self, v) {
            (Test::Exists(e), v) => v.is_some() == *e,
            (Test::Regex(r), Some(ValueRef::Str(s))) => r.is_match(s),
            (Test::Equals(want), Some(v)) => equals(want, v),
            _ => false,
        }
    }
}

/// Typed equality between a config value and an attribute value.
fn equals(want: &Json, v: ValueRef<'_>) -> bool {
    match (want, v) {
        (Json::String(w), ValueRef::Str(s)) => w == s,
        (Json::Bool(w), ValueRef::Bool(b)) => *w == b,
        // Integers compare exactly; only a float in the config compares as a float.
        (Json::Number(w), ValueRef::Int(i)) => match w.as_i64() {
            Some(w) => w == i,
            None => w.is_f64() && w.as_f64().is_some_and(|f| f == i as f64),
        },
        (Json::Number(w), ValueRef::Double(d)) => w.as_f64() == Some(d),
        _ => false,
    }
}
