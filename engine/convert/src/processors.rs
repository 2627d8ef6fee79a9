//! Processors: `batch` becomes the pipeline's `batch`, `memory_limiter` `[service]`
//! settings, `attributes`/`resource` `builtin:enrich`, `probabilistic_sampler`
//! `builtin:head-sample`, `redaction` `builtin:redact`, simple `transform` statements
//! `builtin:enrich`; `filter` and `tail_sampling` have their own modules.

use toml::Value;
use yaml_rust2::Yaml;

use crate::out::{Item, Table};
use crate::yaml::{self, get, string};
use crate::{Became, Cx, Section, header};

/// Converts processor `id` of type `kind`.
pub(crate) fn convert(cx: &mut Cx, id: &str, kind: &str, node: &Yaml) -> Became {
    let path = format!("processors.{id}");
    match kind {
        "batch" => batch(cx, &path, node),
        "memory_limiter" => memory_limiter(cx, &path, node),
        "attributes" | "resource" => {
            let level = if kind == "resource" {
                "resource"
            } else {
                "item"
            };
            enrich(cx, id, node, level)
        }
        "probabilistic_sampler" => head_sample(cx, id, node),
        "redaction" => redaction(cx, id, node),
        "filter" => crate::filter::convert(cx, id, node),
        "tail_sampling" => crate::sampling::convert(cx, id, node),
        "transform" => crate::filter::transform(cx, id, node),
        _ => {
            let line = cx.lost(
                &path,
                format!(
                    "Weir has no `{kind}` processor; a processor plugin can do it (docs/plugins)"
                ),
            );
            cx.kept(Section::Processors, line, id, node);
            Became::Nothing
        }
    }
}

/// The batch processor's sizes and timeout, for the pipeline's `batch`.
fn batch(cx: &mut Cx, path: &str, node: &Yaml) -> Became {
    let mut t = toml::Table::new();
    t.insert(
        "send_batch_size".into(),
        Value::Integer(yaml::int(node, "send_batch_size").unwrap_or(8192)),
    );
    t.insert(
        "timeout".into(),
        Value::String(yaml::duration(node, "timeout").unwrap_or_else(|| "200ms".into())),
    );
    for k in yaml::keys(node) {
        match k.as_str() {
            "send_batch_size" | "timeout" => {}
            "send_batch_max_size" => {
                cx.lost(
                    &format!("{path}.send_batch_max_size"),
                    "Weir does not split requests larger than send_batch_size",
                );
            }
            "metadata_keys" | "metadata_cardinality_limit" => {
                cx.lost(
                    &format!("{path}.{k}"),
                    "Weir batches per pipeline, not per client metadata; route tenants to named pipelines",
                );
            }
            _ => {
                cx.lost(
                    &format!("{path}.{k}"),
                    "Weir's pipeline batch has no such setting",
                );
            }
        }
    }
    Became::Batch(Value::Table(t))
}

/// The memory limiter: Weir's limiter is process-wide, in `[service]`.
fn memory_limiter(cx: &mut Cx, path: &str, node: &Yaml) -> Became {
    if cx.service.iter().any(|(k, _, _)| k == "memory_limit") {
        cx.lost(
            path,
            "Weir has one process-wide memory limit: the first memory_limiter's is kept",
        );
        return Became::Service;
    }
    match yaml::int(node, "limit_mib") {
        Some(mib) => {
            cx.service.push((
                "memory_limit".into(),
                Value::String(format!("{mib}MiB")),
                vec![format!(
                    "from {path}: receivers refuse (retryably) above the soft limit"
                )],
            ));
            if let Some(spike) = yaml::int(node, "spike_limit_mib") {
                cx.service.push((
                    "memory_spike".into(),
                    Value::String(format!("{spike}MiB")),
                    Vec::new(),
                ));
            }
        }
        None => {
            cx.lost(
                path,
                "Weir's memory_limit is an absolute size ([service] memory_limit = \"512MiB\"); \
                 limit_percentage has no equivalent",
            );
        }
    }
    let absolute = yaml::int(node, "limit_mib").is_some();
    for k in yaml::keys(node) {
        // Weir checks every 50 ms whatever check_interval says; a percentage beside limit_mib
        // is not carried out (nor without it: said above).
        let taken = match k.as_str() {
            "limit_mib" | "spike_limit_mib" | "check_interval" => true,
            "limit_percentage" => !absolute,
            _ => false,
        };
        if !taken {
            cx.lost(
                &format!("{path}.{k}"),
                "Weir's memory limiter has no such setting",
            );
        }
    }
    Became::Service
}

/// `attributes` / `resource` actions as `builtin:enrich` actions at `level`.
fn enrich(cx: &mut Cx, id: &str, node: &Yaml, level: &str) -> Became {
    let path = format!("processors.{id}");
    if get(node, "include").is_some() || get(node, "exclude").is_some() {
        let line = cx.lost(
            &path,
            "include/exclude match blocks are not converted: give each action a `when` condition \
             (docs/processors/enrich.md), then add the processor to its pipelines",
        );
        cx.kept(Section::Processors, line, id, node);
        return Became::Nothing;
    }
    let mut t = Table::new(header("processors", id));
    t.set("plugin", "builtin:enrich");
    let mut actions = Vec::new();
    let list = match get(node, "actions") {
        Some(Yaml::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    for (i, a) in list.iter().enumerate() {
        let at = format!("{path}.actions[{i}]");
        match action(cx, &at, a, level) {
            Some(v) => actions.push(v),
            None => {
                t.note(format!("{at} not converted, see the NOT CONVERTED line"));
            }
        }
    }
    if actions.is_empty() {
        let line = cx.lost(&path, "no action could be converted");
        cx.kept(Section::Processors, line, id, node);
        return Became::Nothing;
    }
    let mut config = toml::Table::new();
    config.insert("actions".into(), Value::Array(actions));
    t.set("config", Value::Table(config));
    cx.processors.push(Item::Table(t));
    Became::Components(vec![id.to_string()])
}

/// One attributes-processor action as an enrich action.
fn action(cx: &mut Cx, at: &str, a: &Yaml, level: &str) -> Option<Value> {
    let mut out = toml::Table::new();
    let kind = string(a, "action").unwrap_or_default();
    let Some(key) = string(a, "key") else {
        cx.lost(
            at,
            "only actions on a named `key` convert (`pattern` over keys does not)",
        );
        return None;
    };
    if !matches!(
        kind.as_str(),
        "insert" | "update" | "upsert" | "delete" | "hash" | "extract" | "convert"
    ) {
        cx.lost(&format!("{at}.action"), format!("unknown action `{kind}`"));
        return None;
    }
    out.insert("action".into(), Value::String(kind.clone()));
    out.insert("key".into(), Value::String(key));
    if level != "item" {
        out.insert("level".into(), Value::String(level.into()));
    }
    if let Some(v) = get(a, "value") {
        out.insert("value".into(), yaml::to_toml(v));
    }
    if let Some(from) = string(a, "from_attribute") {
        out.insert("from_attribute".into(), Value::String(from));
    }
    let sets = matches!(kind.as_str(), "insert" | "update" | "upsert");
    if sets && !out.contains_key("value") && !out.contains_key("from_attribute") {
        let why = match string(a, "from_context") {
            Some(c) => {
                format!("from_context `{c}`: Weir's processors do not see client metadata or auth")
            }
            None => "needs `value` or `from_attribute`".into(),
        };
        cx.lost(at, why);
        return None;
    }
    if kind == "hash" {
        out.insert(
            "hash_key".into(),
            Value::String("${ENRICH_HASH_KEY}".into()),
        );
        cx.lost(
            &format!("{at}.action"),
            "Weir's hash is keyed (HMAC-SHA256, `hmac:` + 16 letters), so hashed values differ \
             from the Collector's SHA-256; set ENRICH_HASH_KEY to a secret of at least 16 bytes",
        );
    }
    if let Some(p) = string(a, "pattern").filter(|_| kind == "extract") {
        out.insert("pattern".into(), Value::String(p));
    }
    if let Some(t) = string(a, "converted_type") {
        out.insert("converted_type".into(), Value::String(t));
    }
    for k in yaml::keys(a) {
        if !matches!(
            k.as_str(),
            "action"
                | "key"
                | "value"
                | "from_attribute"
                | "pattern"
                | "converted_type"
                | "from_context"
        ) {
            cx.lost(&format!("{at}.{k}"), "enrich has no such action setting");
        }
    }
    Some(Value::Table(out))
}

/// `probabilistic_sampler` as `builtin:head-sample` (traces, and logs by their trace id).
fn head_sample(cx: &mut Cx, id: &str, node: &Yaml) -> Became {
    let path = format!("processors.{id}");
    let mut t = Table::new(header("processors", id));
    t.set("plugin", "builtin:head-sample");
    let mut config = toml::Table::new();
    config.insert("mode".into(), Value::String("probabilistic".into()));
    config.insert(
        "percent".into(),
        Value::Float(yaml::float(node, "sampling_percentage").unwrap_or(0.0)),
    );
    if let Some(p) = yaml::int(node, "sampling_precision") {
        config.insert("sampling_precision".into(), Value::Integer(p));
    }
    for k in yaml::keys(node) {
        match k.as_str() {
            "sampling_percentage" | "sampling_precision" => {}
            "hash_seed" | "mode" => {
                cx.lost(
                    &format!("{path}.{k}"),
                    "Weir samples on the trace id's randomness (W3C / OTEP 235, as the \
                     Collector's `proportional` mode), not a seeded hash",
                );
            }
            _ => {
                cx.lost(&format!("{path}.{k}"), "head-sample has no such setting");
            }
        }
    }
    t.set("config", Value::Table(config));
    cx.processors.push(Item::Table(t));
    Became::Components(vec![id.to_string()])
}

/// `redaction` as `builtin:redact`, without Weir's own detectors (the Collector has none).
fn redaction(cx: &mut Cx, id: &str, node: &Yaml) -> Became {
    let path = format!("processors.{id}");
    let mut t = Table::new(header("processors", id));
    t.set("plugin", "builtin:redact");
    let mut config = toml::Table::new();
    let strs = |v: Vec<String>| Value::Array(v.into_iter().map(Value::String).collect());
    config.insert("detectors".into(), Value::Array(Vec::new()));
    t.note("Weir's detectors (credit-card, email, jwt, ...) are off, as the Collector has none;");
    t.note("list them in `detectors` to have them: see docs/processors/redact.md.");
    if yaml::boolean(node, "allow_all_keys") != Some(true) {
        config.insert(
            "allowed_keys".into(),
            strs(yaml::strings(node, "allowed_keys")),
        );
    }
    let blocked: Vec<Value> = yaml::strings(node, "blocked_values")
        .into_iter()
        .enumerate()
        .map(|(i, regex)| {
            let mut p = toml::Table::new();
            p.insert(
                "name".into(),
                Value::String(format!("blocked-value-{}", i + 1)),
            );
            p.insert("regex".into(), Value::String(regex));
            Value::Table(p)
        })
        .collect();
    if !blocked.is_empty() {
        config.insert("custom_patterns".into(), Value::Array(blocked));
    }
    for (from, to) in [
        ("blocked_key_patterns", "blocked_key_patterns"),
        ("ignored_keys", "ignored_keys"),
    ] {
        let v = yaml::strings(node, from);
        if !v.is_empty() {
            config.insert(to.into(), strs(v));
        }
    }
    if let Some(h) = string(node, "hash_function") {
        config.insert("action".into(), Value::String("hash".into()));
        config.insert(
            "hash_key".into(),
            Value::String("${REDACT_HASH_KEY}".into()),
        );
        cx.lost(
            &format!("{path}.hash_function"),
            format!(
                "Weir hashes with a keyed HMAC-SHA256 instead of {h}; set REDACT_HASH_KEY to a \
                 secret of at least 16 bytes"
            ),
        );
    }
    for k in yaml::keys(node) {
        match k.as_str() {
            "allow_all_keys"
            | "allowed_keys"
            | "blocked_values"
            | "blocked_key_patterns"
            | "ignored_keys"
            | "hash_function" => {}
            "summary" => {
                cx.lost(
                    &format!("{path}.summary"),
                    "Weir counts redactions in weir_plugin_counter_total{counter=\"redactions\"}, not in span attributes",
                );
            }
            _ => {
                cx.lost(&format!("{path}.{k}"), "redact has no such setting");
            }
        }
    }
    t.set("config", Value::Table(config));
    cx.processors.push(Item::Table(t));
    Became::Components(vec![id.to_string()])
}
