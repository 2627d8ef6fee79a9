//! The OTTL that has a Weir form: `filter` conditions become `builtin:filter` drop rules, and
//! `transform`'s `set` / `delete_key` statements (with an optional `where`) become
//! `builtin:enrich` actions. Conditions are `and`-chains of comparisons of attributes, resource
//! attributes, names, span kinds, statuses and severities; anything else (`or`, functions
//! other than `IsMatch`, span events) is not converted and says so.

use toml::Value;
use yaml_rust2::Yaml;

use crate::out::{Item, Table};
use crate::yaml::{self, get};
use crate::{Became, Cx, Section, header};

/// Converts a `filter` processor.
pub(crate) fn convert(cx: &mut Cx, id: &str, node: &Yaml) -> Became {
    let path = format!("processors.{id}");
    let mut rules = Vec::new();
    let mut lost = 0;
    for (signal, contexts) in [
        ("traces", &["span", "spanevent"][..]),
        ("metrics", &["metric", "datapoint"][..]),
        ("logs", &["log_record"][..]),
    ] {
        let Some(s) = get(node, signal) else { continue };
        for k in yaml::keys(s) {
            if !contexts.contains(&k.as_str()) {
                let line = cx.lost(
                    &format!("{path}.{signal}.{k}"),
                    "only OTTL conditions (span, metric, datapoint, log_record) convert; the \
                     older include/exclude form does not: rewrite it as builtin:filter rules",
                );
                let quoted = get(s, &k).unwrap_or(&Yaml::Null);
                cx.kept(
                    Section::Processors,
                    line,
                    &format!("{id}.{signal}.{k}"),
                    quoted,
                );
                lost += 1;
            }
        }
        for context in contexts {
            for (i, cond) in yaml::strings(s, context).iter().enumerate() {
                let at = format!("{path}.{signal}.{context}[{i}]");
                if *context == "spanevent" {
                    cx.lost(&at, "Weir's filter drops whole spans, not span events");
                    lost += 1;
                    continue;
                }
                match condition(cond, "") {
                    Ok(mut rule) => {
                        rule.insert(
                            "signals".into(),
                            Value::Array(vec![Value::String(signal.into())]),
                        );
                        rules.push(Value::Table(rule));
                    }
                    Err(why) => {
                        cx.lost(&at, format!("`{cond}`: {why}"));
                        lost += 1;
                    }
                }
            }
        }
    }
    for k in yaml::keys(node) {
        if !matches!(k.as_str(), "traces" | "metrics" | "logs" | "error_mode") {
            cx.lost(&format!("{path}.{k}"), "builtin:filter has no such setting");
            lost += 1;
        }
    }
    if rules.is_empty() {
        let line = cx.lost(&path, "no condition could be converted");
        cx.kept(Section::Processors, line, id, node);
        return Became::Nothing;
    }
    let mut t = Table::new(header("processors", id));
    if lost > 0 {
        t.note(format!(
            "{lost} condition(s) of `{id}` not converted: see the NOT CONVERTED lines."
        ));
    }
    t.set("plugin", "builtin:filter");
    let mut config = toml::Table::new();
    config.insert("drop".into(), Value::Array(rules));
    t.set("config", Value::Table(config));
    cx.processors.push(Item::Table(t));
    Became::Components(vec![id.to_string()])
}

/// Converts a `transform` processor's `set` and `delete_key` statements.
pub(crate) fn transform(cx: &mut Cx, id: &str, node: &Yaml) -> Became {
    let path = format!("processors.{id}");
    let mut actions = Vec::new();
    let mut lost = 0;
    for (key, signal) in [
        ("trace_statements", "traces"),
        ("metric_statements", "metrics"),
        ("log_statements", "logs"),
    ] {
        let Some(Yaml::Array(groups)) = get(node, key) else {
            continue;
        };
        for (g, group) in groups.iter().enumerate() {
            // Either a flat statement, or a group with a context and statements.
            let (context, statements) = match group {
                Yaml::String(s) => (String::new(), vec![s.clone()]),
                other => (
                    yaml::string(other, "context").unwrap_or_default(),
                    yaml::strings(other, "statements"),
                ),
            };
            if yaml::get(group, "conditions").is_some() {
                cx.lost(
                    &format!("{path}.{key}[{g}].conditions"),
                    "group conditions are not converted",
                );
                lost += 1;
                continue;
            }
            // Enrich acts on items and resources; other contexts have no Weir form.
            if !matches!(
                context.as_str(),
                "" | "span" | "log" | "datapoint" | "resource"
            ) {
                cx.lost(
                    &format!("{path}.{key}[{g}]"),
                    format!("statements in context `{context}` do not convert"),
                );
                lost += statements.len();
                continue;
            }
            for (i, st) in statements.iter().enumerate() {
                match statement(st, &context, signal) {
                    Ok(a) => actions.push(Value::Table(a)),
                    Err(why) => {
                        cx.lost(&format!("{path}.{key}[{g}][{i}]"), format!("`{st}`: {why}"));
                        lost += 1;
                    }
                }
            }
        }
    }
    for k in yaml::keys(node) {
        if !matches!(
            k.as_str(),
            "trace_statements" | "metric_statements" | "log_statements" | "error_mode"
        ) {
            cx.lost(&format!("{path}.{k}"), "not converted");
            lost += 1;
        }
    }
    if actions.is_empty() {
        let line = cx.lost(
            &path,
            "Weir has no OTTL: only set(...) and delete_key(...) on attributes convert (to \
             builtin:enrich); write a processor plugin for the rest (docs/plugins)",
        );
        cx.kept(Section::Processors, line, id, node);
        return Became::Nothing;
    }
    let mut t = Table::new(header("processors", id));
    t.note(format!(
        "The Collector's transform processor `{id}`, as enrich actions."
    ));
    if lost > 0 {
        t.note(format!(
            "{lost} statement(s) not converted: see the NOT CONVERTED lines."
        ));
    }
    t.set("plugin", "builtin:enrich");
    let mut config = toml::Table::new();
    config.insert("actions".into(), Value::Array(actions));
    t.set("config", Value::Table(config));
    cx.processors.push(Item::Table(t));
    Became::Components(vec![id.to_string()])
}

/// One `set(target, value)` / `delete_key(map, "key")` statement of `signal`'s statements,
/// with an optional `where`; the action is limited to that signal, as in the Collector.
fn statement(st: &str, context: &str, signal: &str) -> Result<toml::Table, String> {
    let (call, cond) = match split_outside_quotes(st, " where ") {
        Some((c, w)) => (c.trim(), Some(w.trim())),
        None => (st.trim(), None),
    };
    let mut a = toml::Table::new();
    if let Some(args) = call.strip_prefix("set(").and_then(|s| s.strip_suffix(')')) {
        let (target, value) =
            split_outside_quotes(args, ",").ok_or("set() needs a target and a value")?;
        let (level, key) = attribute_path(target.trim(), context)?;
        a.insert("action".into(), Value::String("upsert".into()));
        a.insert("key".into(), Value::String(key));
        level_of(&mut a, &level);
        let value = value.trim();
        match literal(value) {
            Some(v) => {
                a.insert("value".into(), v);
            }
            None => {
                let (from_level, from) = attribute_path(value, context).map_err(|_| {
                    "only literals and attributes of the same owner can be set".to_string()
                })?;
                if from_level != level {
                    return Err("the source attribute must be at the target's level".into());
                }
                a.insert("from_attribute".into(), Value::String(from));
            }
        }
    } else if let Some(args) = call
        .strip_prefix("delete_key(")
        .and_then(|s| s.strip_suffix(')'))
    {
        let (map, key) =
            split_outside_quotes(args, ",").ok_or("delete_key() needs a map and a key")?;
        let level = match strip_context(map.trim(), context).as_str() {
            "attributes" => "item",
            "resource.attributes" => "resource",
            other => return Err(format!("cannot delete from `{other}`")),
        };
        let Some(Value::String(key)) = literal(key.trim()) else {
            return Err("the key must be a string literal".into());
        };
        a.insert("action".into(), Value::String("delete".into()));
        a.insert("key".into(), Value::String(key));
        level_of(&mut a, level);
    } else {
        return Err("only set(...) and delete_key(...) convert".into());
    }
    let mut when = match cond {
        Some(w) => condition(w, context)?,
        None => toml::Table::new(),
    };
    when.insert(
        "signals".into(),
        Value::Array(vec![Value::String(signal.into())]),
    );
    a.insert("when".into(), Value::Table(when));
    Ok(a)
}

fn level_of(a: &mut toml::Table, level: &str) {
    if level == "resource" {
        a.insert("level".into(), Value::String("resource".into()));
    }
}

/// `attributes["k"]` (item) or `resource.attributes["k"]` (resource), after dropping the
/// statement's context prefix (`span.`, `log.`, `datapoint.`).
fn attribute_path(p: &str, context: &str) -> Result<(String, String), String> {
    let p = strip_context(p, context);
    let (level, rest) = if let Some(r) = p.strip_prefix("resource.attributes[") {
        ("resource", r)
    } else if let Some(r) = p.strip_prefix("attributes[") {
        (
            if context == "resource" {
                "resource"
            } else {
                "item"
            },
            r,
        )
    } else {
        return Err(format!("`{p}` is not an attribute"));
    };
    let inner = rest
        .strip_suffix(']')
        .ok_or(format!("`{p}`: nested paths do not convert"))?;
    match literal(inner) {
        Some(Value::String(k)) => Ok((level.to_string(), k)),
        _ => Err(format!("`{p}`: the key must be a string literal")),
    }
}

fn strip_context(p: &str, context: &str) -> String {
    for prefix in ["span.", "log.", "datapoint.", "metric.", "spanevent."] {
        if let Some(rest) = p.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    if context == "resource"
        && let Some(rest) = p.strip_prefix("resource.")
    {
        return rest.to_string();
    }
    p.to_string()
}

/// An OTTL condition as one Weir condition table (an `and`-chain, each part setting other keys).
pub(crate) fn condition(cond: &str, context: &str) -> Result<toml::Table, String> {
    if split_outside_quotes(cond, " or ").is_some() || cond.trim_start().starts_with("not ") {
        return Err("`or` and `not` do not convert: write one rule per alternative".into());
    }
    let mut rule = toml::Table::new();
    let mut rest = cond.trim().to_string();
    loop {
        let (part, more) = match split_outside_quotes(&rest, " and ") {
            Some((a, b)) => (a.trim().to_string(), Some(b.trim().to_string())),
            None => (rest.trim().to_string(), None),
        };
        for (k, v) in comparison(&part, context)? {
            if rule.contains_key(&k) || (k == "equals" && rule.contains_key("regex")) {
                return Err(format!("more than one test of `{k}` in one rule"));
            }
            rule.insert(k, v);
        }
        let attribute_tests = ["attribute", "resource_attribute"]
            .iter()
            .filter(|k| rule.contains_key(**k))
            .count();
        if attribute_tests > 1 {
            return Err("an attribute and a resource attribute in one rule do not convert".into());
        }
        match more {
            Some(m) => rest = m,
            None => return Ok(rule),
        }
    }
}

/// One comparison as condition keys.
fn comparison(part: &str, context: &str) -> Result<Vec<(String, Value)>, String> {
    let kv = |k: &str, v: Value| (k.to_string(), v);
    if let Some(args) = part
        .strip_prefix("IsMatch(")
        .and_then(|s| s.strip_suffix(')'))
    {
        let (target, re) = split_outside_quotes(args, ",").ok_or("IsMatch needs two arguments")?;
        let Some(re) = literal(re.trim()) else {
            return Err("IsMatch's pattern must be a string literal".into());
        };
        return Ok(match target.trim() {
            "name" => vec![kv("name_regex", re)],
            t => {
                let (level, key) = attribute_path(t, context)?;
                let which = if level == "resource" {
                    "resource_attribute"
                } else {
                    "attribute"
                };
                vec![kv(which, Value::String(key)), kv("regex", re)]
            }
        });
    }
    let (lhs, op, rhs) = ["==", "!=", ">=", "<=", "<", ">"]
        .iter()
        .find_map(|op| {
            split_outside_quotes(part, &format!(" {op} ")).map(|(l, r)| (l.trim(), *op, r.trim()))
        })
        .ok_or(format!("`{part}` is not a comparison Weir can express"))?;
    match (lhs, op) {
        ("name", "==") => Ok(vec![kv("name", literal(rhs).ok_or("expected a literal")?)]),
        ("kind", "==") => {
            let k = rhs
                .strip_prefix("SPAN_KIND_")
                .ok_or("expected SPAN_KIND_…")?;
            Ok(vec![kv(
                "span_kind",
                Value::Array(vec![Value::String(k.to_ascii_lowercase())]),
            )])
        }
        ("status.code", "==") => {
            let s = rhs
                .strip_prefix("STATUS_CODE_")
                .ok_or("expected STATUS_CODE_…")?;
            Ok(vec![kv(
                "status",
                Value::Array(vec![Value::String(s.to_ascii_lowercase())]),
            )])
        }
        ("severity_number", "<" | ">=") => {
            let level = rhs
                .strip_prefix("SEVERITY_NUMBER_")
                .ok_or("expected SEVERITY_NUMBER_…")?;
            // WARN2..WARN4 sit between Weir's levels: no threshold says the same.
            if level.ends_with(|c: char| c.is_ascii_digit()) {
                return Err(format!(
                    "{rhs}: Weir's severity thresholds are whole levels"
                ));
            }
            let level = level.to_ascii_lowercase();
            let key = if op == "<" {
                "severity_below"
            } else {
                "severity_at_least"
            };
            Ok(vec![kv(key, Value::String(level))])
        }
        (attr, "==" | "!=") => {
            let (level, key) = attribute_path(attr, context)?;
            let which = if level == "resource" {
                "resource_attribute"
            } else {
                "attribute"
            };
            if rhs == "nil" {
                return Ok(vec![
                    kv(which, Value::String(key)),
                    kv("exists", Value::Boolean(op == "!=")),
                ]);
            }
            if op == "!=" {
                return Err("`!=` a value does not convert".into());
            }
            let v = literal(rhs).ok_or("expected a literal")?;
            Ok(vec![kv(which, Value::String(key)), kv("equals", v)])
        }
        _ => Err(format!("`{part}` is not a comparison Weir can express")),
    }
}

/// A string, integer, float or boolean literal.
fn literal(s: &str) -> Option<Value> {
    if let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        return Some(Value::String(
            inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        ));
    }
    match s {
        "true" => return Some(Value::Boolean(true)),
        "false" => return Some(Value::Boolean(false)),
        _ => {}
    }
    s.parse::<i64>()
        .map(Value::Integer)
        .ok()
        .or_else(|| s.parse::<f64>().ok().map(Value::Float))
}

/// Splits `s` at the first `sep` that is not inside a string literal or parentheses.
fn split_outside_quotes<'a>(s: &'a str, sep: &str) -> Option<(&'a str, &'a str)> {
    let (mut quoted, mut escaped, mut depth) = (false, false, 0i32);
    for (i, c) in s.char_indices() {
        if quoted {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => quoted = false,
                _ => escaped = false,
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            _ if depth == 0 && s[i..].starts_with(sep) => {
                return Some((&s[..i], &s[i + sep.len()..]));
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn and_chains_of_simple_comparisons_convert() {
        let r = condition(
            r#"attributes["http.route"] == "/healthz" and kind == SPAN_KIND_SERVER"#,
            "",
        )
        .unwrap();
        assert_eq!(
            r.to_string().trim(),
            "attribute = \"http.route\"\nequals = \"/healthz\"\nspan_kind = [\"server\"]"
        );
        let r = condition(
            r#"IsMatch(resource.attributes["service.name"], "^billing-")"#,
            "",
        )
        .unwrap();
        assert_eq!(r["resource_attribute"].as_str(), Some("service.name"));
        let r = condition("severity_number < SEVERITY_NUMBER_WARN", "").unwrap();
        assert_eq!(r["severity_below"].as_str(), Some("warn"));
        assert!(condition(r#"name == "a" or name == "b""#, "").is_err());
        // WARN2 lies between Weir's whole levels.
        assert!(condition("severity_number < SEVERITY_NUMBER_WARN2", "").is_err());
        // In a resource context, `attributes` are the resource's.
        let r = condition(r#"attributes["host.name"] != nil"#, "resource").unwrap();
        assert_eq!(r["resource_attribute"].as_str(), Some("host.name"));
        assert_eq!(r["exists"].as_bool(), Some(true));
        assert!(condition(r#"attributes["a"] == "x" and attributes["b"] == "y""#, "").is_err());
    }

    #[test]
    fn set_and_delete_statements_become_enrich_actions() {
        let a = statement(
            r#"set(attributes["env"], "prod") where name == "GET""#,
            "span",
            "traces",
        )
        .unwrap();
        assert_eq!(a["action"].as_str(), Some("upsert"));
        assert_eq!(a["value"].as_str(), Some("prod"));
        // Limited to the signal whose statements it came from, as in the Collector.
        assert_eq!(a["when"]["name"].as_str(), Some("GET"));
        assert_eq!(a["when"]["signals"][0].as_str(), Some("traces"));
        let a = statement(r#"delete_key(resource.attributes, "host.ip")"#, "", "logs").unwrap();
        assert_eq!(a["level"].as_str(), Some("resource"));
        assert!(
            statement(
                r#"replace_pattern(attributes["x"], "a", "b")"#,
                "span",
                "traces"
            )
            .is_err()
        );
    }
}
