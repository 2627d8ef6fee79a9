//! `tail_sampling` as a `[samplers.<id>]` table: Weir's policy types keep the Collector's names
//! and config keys, so most policies move over as they are; `and`, `drop` and `composite` trees
//! become nested `policies`, and `ottl_condition` becomes a `condition` policy where its OTTL
//! converts.

use toml::Value;
use yaml_rust2::Yaml;

use crate::out::{Item, Table};
use crate::yaml::{self, get, string};
use crate::{Became, Cx, Section, header};

/// Policy types whose config moves over as written (keys are the Collector's).
const PLAIN: [(&str, &[&str]); 10] = [
    ("always_sample", &[]),
    ("latency", &["threshold_ms", "upper_threshold_ms"]),
    (
        "numeric_attribute",
        &["key", "min_value", "max_value", "invert_match"],
    ),
    ("probabilistic", &["sampling_percentage", "hash_salt"]),
    ("status_code", &["status_codes"]),
    (
        "string_attribute",
        &["key", "values", "enabled_regex_matching", "invert_match"],
    ),
    ("span_count", &["min_spans", "max_spans"]),
    ("trace_state", &["key", "values"]),
    ("boolean_attribute", &["key", "value", "invert_match"]),
    ("trace_flags", &[]),
];

/// Converts a `tail_sampling` processor.
pub(crate) fn convert(cx: &mut Cx, id: &str, node: &Yaml) -> Became {
    let path = format!("processors.{id}");
    let mut t = Table::new(header("samplers", id));
    t.note(format!("The Collector's tail_sampling processor `{id}`."));
    if let Some(w) = yaml::duration(node, "decision_wait") {
        t.set("decision_wait", w);
    } else {
        // The Collector's default; Weir's own is 30s.
        t.set_noted("decision_wait", "30s", "the Collector's default".into());
    }
    if let Some(n) = yaml::int(node, "num_traces") {
        t.set("max_traces", n);
    }
    if let Some(b) = yaml::int(node, "maximum_trace_size_bytes") {
        t.set("max_trace_bytes", b);
    }
    if yaml::boolean(node, "drop_pending_traces_on_shutdown") == Some(true) {
        t.set("on_shutdown", "drop");
    }
    if let Some(c) = get(node, "decision_cache") {
        let mut cache = toml::Table::new();
        if let Some(n) = yaml::int(c, "sampled_cache_size") {
            cache.insert("kept".into(), Value::Integer(n));
        }
        if let Some(n) = yaml::int(c, "non_sampled_cache_size") {
            cache.insert("dropped".into(), Value::Integer(n));
        }
        t.set("decision_cache", Value::Table(cache));
    }
    for k in yaml::keys(node) {
        match k.as_str() {
            "decision_wait"
            | "num_traces"
            | "maximum_trace_size_bytes"
            | "drop_pending_traces_on_shutdown"
            | "decision_cache"
            | "policies" => {}
            "expected_new_traces_per_sec" => {
                t.note("expected_new_traces_per_sec: Weir needs no sizing hint.");
            }
            _ => {
                cx.lost(&format!("{path}.{k}"), "Weir's sampler has no such setting");
            }
        }
    }
    let mut tables = vec![t];
    let policies = match get(node, "policies") {
        Some(Yaml::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    let base = header("samplers", id);
    for (i, p) in policies.iter().enumerate() {
        policy(
            cx,
            &format!("{path}.policies[{i}]"),
            &format!("{base}.policies"),
            p,
            None,
            &mut tables,
        );
    }
    if tables.len() == 1 {
        let line = cx.lost(&path, "no policy could be converted");
        cx.kept(Section::Samplers, line, id, node);
        return Became::Nothing;
    }
    cx.samplers.extend(tables.into_iter().map(Item::Table));
    Became::Components(vec![id.to_string()])
}

/// One policy (and its sub-policies, depth first) as `[[<header>]]` tables; `percent` is its
/// share under a `composite`. A policy that does not convert is left out with a note, and
/// `false` returned.
fn policy(
    cx: &mut Cx,
    path: &str,
    at: &str,
    p: &Yaml,
    percent: Option<f64>,
    out: &mut Vec<Table>,
) -> bool {
    let mut name = string(p, "name").unwrap_or_else(|| "unnamed".into());
    // Weir's names are unique within a sampler (they label metrics); the Collector's only
    // among siblings.
    let taken = |n: &str| {
        out.iter()
            .any(|t| t.array && t.keys.first().is_some_and(|k| k.1.as_str() == Some(n)))
    };
    if taken(&name) {
        let base = name.clone();
        let mut i = 2;
        while taken(&format!("{base}-{i}")) {
            i += 1;
        }
        name = format!("{base}-{i}");
    }
    let kind = string(p, "type").unwrap_or_default();
    let mut t = Table::new(at.to_string());
    t.array = true;
    t.set("name", name.clone()).set("type", kind.clone());
    if let Some(pc) = percent {
        t.set("percent", pc);
    }
    let settings = get(p, &kind).cloned().unwrap_or(Yaml::Null);
    let mut subs: Vec<(Yaml, Option<f64>)> = Vec::new();
    let needs_settings = !matches!(kind.as_str(), "always_sample" | "trace_flags");
    if settings.is_null() && needs_settings {
        let other = yaml::keys(p)
            .into_iter()
            .find(|k| !matches!(k.as_str(), "name" | "type"));
        let why = match other {
            Some(o) => format!(
                "policy `{name}` of type `{kind}` has its settings under `{o}`, not `{kind}` \
                 (the Collector ignores them too)"
            ),
            None => format!("policy `{name}` of type `{kind}` has no `{kind}` settings"),
        };
        let line = cx.lost(path, why);
        out[0].note(line);
        return false;
    }
    if let Some((_, keys)) = PLAIN.iter().find(|(k, _)| *k == kind) {
        let mut config = toml::Table::new();
        for k in yaml::keys(&settings) {
            let Some(v) = get(&settings, &k) else {
                continue;
            };
            if keys.contains(&k.as_str()) {
                config.insert(k, yaml::to_toml(v));
            } else {
                cx.lost(
                    &format!("{path}.{kind}.{k}"),
                    "Weir's policy has no such setting",
                );
            }
        }
        if !config.is_empty() {
            t.set("config", Value::Table(config));
        }
    } else {
        match kind.as_str() {
            "rate_limiting" => {
                t.set(
                    "spans_per_second",
                    yaml::int(&settings, "spans_per_second").unwrap_or(0),
                );
            }
            "bytes_limiting" => {
                t.set(
                    "bytes_per_second",
                    yaml::int(&settings, "bytes_per_second").unwrap_or(0),
                );
                if let Some(b) = yaml::int(&settings, "burst_capacity") {
                    t.set("burst", b);
                }
            }
            "and" | "drop" => {
                let key = format!("{kind}_sub_policy");
                if let Some(Yaml::Array(a)) = get(&settings, &key) {
                    subs = a.iter().map(|s| (s.clone(), None)).collect();
                }
            }
            "composite" => {
                t.set(
                    "max_total_spans_per_second",
                    yaml::int(&settings, "max_total_spans_per_second").unwrap_or(0),
                );
                subs = composite(&settings);
            }
            "ottl_condition" => match ottl(cx, path, &settings) {
                Some(when) => {
                    t.keys[1].1 = Value::String("condition".into());
                    let mut config = toml::Table::new();
                    config.insert("when".into(), when);
                    t.set("config", Value::Table(config));
                }
                None => {
                    let line = cx.lost(path, format!("policy `{name}`: its OTTL does not convert"));
                    out[0].note(line);
                    return false;
                }
            },
            _ => {
                let line = cx.lost(
                    path,
                    format!("policy `{name}`: unknown policy type `{kind}`"),
                );
                out[0].note(line);
                return false;
            }
        }
    }
    if yaml::has(p, "invert_match") {
        cx.lost(
            &format!("{path}.invert_match"),
            "set invert_match inside the policy's settings",
        );
    }
    let parent = out.len();
    out.push(t);
    let mut kept = 0;
    for (i, (s, pc)) in subs.iter().enumerate() {
        if policy(
            cx,
            &format!("{path}.{kind}[{i}]"),
            &format!("{at}.policies"),
            s,
            *pc,
            out,
        ) {
            kept += 1;
        }
    }
    // `and` and `drop` mean something else with a sub-policy missing (a `drop` of fewer
    // conditions drops more traces): all or nothing. A composite without one only loses that
    // share.
    let partial = matches!(kind.as_str(), "and" | "drop") && kept < subs.len();
    if partial || (kind == "composite" && kept == 0) {
        out.truncate(parent);
        let line = cx.lost(
            path,
            format!("policy `{name}`: left out, as not all of its sub-policies converted"),
        );
        out[0].note(line);
        return false;
    }
    true
}

/// A composite's sub-policies in `policy_order`, each with its `rate_allocation` percent.
fn composite(settings: &Yaml) -> Vec<(Yaml, Option<f64>)> {
    let subs: Vec<Yaml> = match get(settings, "composite_sub_policy") {
        Some(Yaml::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    let order = yaml::strings(settings, "policy_order");
    let percent_of = |name: &str| -> Option<f64> {
        match get(settings, "rate_allocation") {
            Some(Yaml::Array(a)) => a
                .iter()
                .find(|r| string(r, "policy").as_deref() == Some(name))
                .and_then(|r| yaml::float(r, "percent")),
            _ => None,
        }
    };
    let mut sorted: Vec<&Yaml> = order
        .iter()
        .filter_map(|n| {
            subs.iter()
                .find(|s| string(s, "name").as_deref() == Some(n))
        })
        .collect();
    for s in &subs {
        if !sorted.iter().any(|x| std::ptr::eq(*x, s)) {
            sorted.push(s);
        }
    }
    sorted
        .into_iter()
        .map(|s| {
            let n = string(s, "name").unwrap_or_default();
            (s.clone(), percent_of(&n))
        })
        .collect()
}

/// An `ottl_condition` policy's span conditions as a list of Weir conditions.
fn ottl(cx: &mut Cx, path: &str, settings: &Yaml) -> Option<Value> {
    if !yaml::strings(settings, "spanevent").is_empty() {
        cx.lost(
            &format!("{path}.spanevent"),
            "span event conditions do not convert",
        );
        return None;
    }
    let mut when = Vec::new();
    for (i, c) in yaml::strings(settings, "span").iter().enumerate() {
        match crate::filter::condition(c, "") {
            Ok(rule) => when.push(Value::Table(rule)),
            Err(why) => {
                cx.lost(&format!("{path}.span[{i}]"), format!("`{c}`: {why}"));
                return None;
            }
        }
    }
    (!when.is_empty()).then_some(Value::Array(when))
}
