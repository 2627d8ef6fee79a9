//! What a policy set is, for the people reading the report: one line in words
//! ("status ERROR or latency ≥ 1000 ms or 5% of traces; wait 10s") and the
//! `[samplers.<name>]` table as TOML.

use serde::Serialize;
use toml::{Table, Value};

/// A policy set's definition, as the report prints it beside its results.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Definition {
    /// One line in words: the policies that keep a trace (any one is enough), the ones that
    /// veto it, and the decision wait.
    pub summary: String,
    /// The sampler's table as TOML, as the policy file gives it (before `${VAR}` expansion).
    pub toml: String,
}

/// Describes the sampler `name` from its `[samplers.<name>]` table. Keys it does not know are
/// left out of the summary (the TOML has them all); nothing here fails.
pub fn describe(name: &str, sampler: &Table) -> Definition {
    let mut keeps = Vec::new();
    let mut vetoes = Vec::new();
    for p in list(sampler.get("policies")) {
        let (text, veto) = policy(p);
        if veto {
            vetoes.push(text);
        } else {
            keeps.push(text);
        }
    }
    let mut summary = if keeps.is_empty() {
        "keeps nothing".to_string()
    } else {
        keeps.join(" or ")
    };
    if !vetoes.is_empty() {
        summary.push_str(&format!("; never {}", vetoes.join(" or ")));
    }
    let wait = sampler
        .get("decision_wait")
        .map_or_else(|| "30s".to_string(), scalar);
    summary.push_str(&format!("; wait {wait}"));
    if let Some(root) = sampler.get("decision_wait_after_root") {
        summary.push_str(&format!(" ({} after the root)", scalar(root)));
    }
    Definition {
        summary,
        toml: as_toml(name, sampler),
    }
}

/// The sampler's table as a person writes it: its settings, then one `[[…policies]]` table per
/// policy with `name` and `type` first and `config` inline.
fn as_toml(name: &str, sampler: &Table) -> String {
    let head = format!("samplers.{}", key(name));
    let mut out = format!("[{head}]\n");
    // As `[[…policies]]` tables when each is a table; inline otherwise.
    let policies = sampler
        .get("policies")
        .filter(|v| v.as_array().is_some_and(|a| a.iter().all(Value::is_table)));
    for (k, v) in sampler {
        if !(k == "policies" && policies.is_some()) {
            out.push_str(&format!("{} = {}\n", key(k), inline(v)));
        }
    }
    for p in list(policies) {
        out.push_str(&format!("\n[[{head}.policies]]\n"));
        for (k, v) in ordered(p) {
            match v.as_array() {
                Some(subs) if k == "policies" && !subs.is_empty() => {
                    out.push_str("policies = [\n");
                    for s in subs {
                        out.push_str(&format!("  {},\n", inline(s)));
                    }
                    out.push_str("]\n");
                }
                _ => out.push_str(&format!("{} = {}\n", key(k), inline(v))),
            }
        }
    }
    out
}

/// A key, quoted unless it is bare.
fn key(k: &str) -> String {
    toml_writer::ToTomlKey::to_toml_key(k)
}

/// A policy's entries with `name`, `type` and `plugin` first.
fn ordered(t: &Table) -> Vec<(&String, &Value)> {
    let rank = |k: &str| {
        ["name", "type", "plugin"]
            .iter()
            .position(|f| *f == k)
            .unwrap_or(3)
    };
    let mut entries: Vec<_> = t.iter().collect();
    entries.sort_by_key(|(k, _)| rank(k));
    entries
}

/// A value in inline TOML: `{ name = "x", config = { … } }`, `[1, 2]`, `"s"`.
fn inline(v: &Value) -> String {
    match v {
        Value::Table(t) if t.is_empty() => "{}".into(),
        Value::Table(t) => {
            let entries: Vec<String> = ordered(t)
                .into_iter()
                .map(|(k, v)| format!("{} = {}", key(k), inline(v)))
                .collect();
            format!("{{ {} }}", entries.join(", "))
        }
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(inline).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

/// The tables of an array (`policies = [...]`), skipping anything else.
fn list(v: Option<&Value>) -> impl Iterator<Item = &Table> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_table)
}

/// A TOML value as a person would write it: strings bare, numbers trimmed, the rest inline.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        // Shortest exact form: 12.5, 1, 0.0001 (a rounded 0.001% would misstate the policy).
        Value::Float(f) => f.to_string(),
        Value::Array(a) => a.iter().map(scalar).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// `values` as `= a` for one value and `in {a, b}` for several.
fn one_of(values: Option<&Value>, op: &str) -> String {
    match values.and_then(Value::as_array) {
        Some(a) if a.len() == 1 => format!("{op} {}", scalar(&a[0])),
        Some(a) => format!("in {{{}}}", scalar(&Value::Array(a.clone()))),
        None => values.map_or_else(String::new, |v| format!("{op} {}", scalar(v))),
    }
}

/// One policy in words, and whether it is a veto (`drop`).
fn policy(p: &Table) -> (String, bool) {
    let empty = Table::new();
    let config = p.get("config").and_then(Value::as_table).unwrap_or(&empty);
    let key = |k: &str| config.get(k).or_else(|| p.get(k)).map(scalar);
    let subs = |joiner: &str| {
        list(p.get("policies"))
            .map(|s| policy(s).0)
            .collect::<Vec<_>>()
            .join(joiner)
    };
    if let Some(plugin) = p.get("plugin").and_then(Value::as_str) {
        let file = plugin.rsplit(['/', '\\']).next().unwrap_or(plugin);
        return (format!("plugin {file}"), false);
    }
    let kind = p.get("type").and_then(Value::as_str).unwrap_or("");
    let inverted = config
        .get("invert_match")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let not = if inverted { "not " } else { "" };
    let attr = key("key").unwrap_or_default();
    let text = match kind {
        "always_sample" => "every trace".to_string(),
        "latency" => match (key("threshold_ms"), key("upper_threshold_ms")) {
            (Some(lo), Some(hi)) => format!("latency {lo}–{hi} ms"),
            (Some(lo), None) => format!("latency ≥ {lo} ms"),
            (None, _) => "latency".into(),
        },
        "status_code" => format!("status {}", one_of(config.get("status_codes"), "").trim()),
        "string_attribute" => {
            let op = if config
                .get("enabled_regex_matching")
                .and_then(Value::as_bool)
                == Some(true)
            {
                "~"
            } else {
                "="
            };
            format!("{not}{attr} {}", one_of(config.get("values"), op))
        }
        "numeric_attribute" => match (key("min_value"), key("max_value")) {
            (Some(lo), Some(hi)) => format!("{not}{lo} ≤ {attr} ≤ {hi}"),
            (Some(lo), None) => format!("{not}{attr} ≥ {lo}"),
            (None, Some(hi)) => format!("{not}{attr} ≤ {hi}"),
            (None, None) => format!("{not}numeric {attr}"),
        },
        "boolean_attribute" => format!("{not}{attr} = {}", key("value").unwrap_or_default()),
        "probabilistic" => format!(
            "{}% of traces",
            key("sampling_percentage").unwrap_or_else(|| "?".into())
        ),
        "trace_state" => format!("tracestate {attr} {}", one_of(config.get("values"), "=")),
        "trace_flags" => "sampled flag".into(),
        "span_count" => match (key("min_spans"), key("max_spans")) {
            (Some(lo), Some(hi)) if hi != "0" => format!("{lo}–{hi} spans"),
            (Some(lo), _) => format!("≥ {lo} spans"),
            (None, _) => "span count".into(),
        },
        "sampling_priority" => "sampling.priority > 0".into(),
        "condition" => {
            let when = key("when").unwrap_or_default();
            let short: String = when.chars().take(60).collect();
            let more = if short.len() < when.len() { "…" } else { "" };
            format!("when {short}{more}")
        }
        "and" => format!("({})", subs(" and ")),
        "not" => format!("not {}", subs(", ")),
        "drop" => return (subs(" and "), true),
        "first_match" => format!("first of ({})", subs(", ")),
        "rate_limiting" => format!(
            "any trace up to {} spans/s",
            key("spans_per_second").unwrap_or_default()
        ),
        "bytes_limiting" => format!(
            "any trace up to {} bytes/s",
            key("bytes_per_second").unwrap_or_default()
        ),
        "composite" => {
            let shares: Vec<String> = list(p.get("policies"))
                .map(|s| {
                    let share = s
                        .get("percent")
                        .map_or_else(|| "rest".into(), |v| format!("{}%", scalar(v)));
                    format!("{} ({share})", policy(s).0)
                })
                .collect();
            format!(
                "within {} spans/s: {}",
                key("max_total_spans_per_second").unwrap_or_default(),
                shares.join(", ")
            )
        }
        "" => p.get("name").map_or_else(|| "?".into(), scalar),
        other => other.to_string(),
    };
    (text, false)
}
