//! Reading the Collector's YAML: typed getters over `yaml_rust2::Yaml` that accept what the
//! Collector's own decoder accepts (`100_000`, `"10"` for numbers, empty values as "on with
//! defaults").

use yaml_rust2::{Yaml, YamlEmitter};

/// `node[key]` if `node` is a mapping holding `key` (and the value is not null).
pub(crate) fn get<'a>(node: &'a Yaml, key: &str) -> Option<&'a Yaml> {
    match node {
        Yaml::Hash(h) => h
            .get(&Yaml::String(key.to_string()))
            .filter(|v| !v.is_null()),
        _ => None,
    }
}

/// Whether `node` is a mapping with `key` present, even with an empty value (`grpc:`).
pub(crate) fn has(node: &Yaml, key: &str) -> bool {
    matches!(node, Yaml::Hash(h) if h.contains_key(&Yaml::String(key.to_string())))
}

/// The keys of a mapping as strings, in file order.
pub(crate) fn keys(node: &Yaml) -> Vec<String> {
    match node {
        Yaml::Hash(h) => h.keys().map(scalar).collect(),
        _ => Vec::new(),
    }
}

/// A scalar as text (`10`, `true`, `abc`); empty for anything else.
pub(crate) fn scalar(node: &Yaml) -> String {
    match node {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        _ => String::new(),
    }
}

/// A string value (numbers and booleans as their text).
pub(crate) fn string(node: &Yaml, key: &str) -> Option<String> {
    get(node, key).map(scalar).filter(|s| !s.is_empty())
}

/// An integer value: `16`, `"16"`, `100_000`.
pub(crate) fn int(node: &Yaml, key: &str) -> Option<i64> {
    match get(node, key)? {
        Yaml::Integer(i) => Some(*i),
        Yaml::String(s) | Yaml::Real(s) => {
            let t = s.replace('_', "");
            t.parse::<i64>()
                .ok()
                .or_else(|| t.parse::<f64>().ok().map(|f| f as i64))
        }
        _ => None,
    }
}

/// A number value as a float.
pub(crate) fn float(node: &Yaml, key: &str) -> Option<f64> {
    match get(node, key)? {
        Yaml::Integer(i) => Some(*i as f64),
        Yaml::String(s) | Yaml::Real(s) => s.replace('_', "").parse().ok(),
        _ => None,
    }
}

/// A boolean value (`true`, `"true"`).
pub(crate) fn boolean(node: &Yaml, key: &str) -> Option<bool> {
    match get(node, key)? {
        Yaml::Boolean(b) => Some(*b),
        Yaml::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A list of scalars as strings (a single scalar is a list of one).
pub(crate) fn strings(node: &Yaml, key: &str) -> Vec<String> {
    match get(node, key) {
        Some(Yaml::Array(a)) => a.iter().map(scalar).filter(|s| !s.is_empty()).collect(),
        Some(v) => vec![scalar(v)]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect(),
        None => Vec::new(),
    }
}

/// A Go duration as Weir writes it: strings pass through (`"10s"`, `"1m30s"`), a bare number is
/// nanoseconds as in the Collector's decoder.
pub(crate) fn duration(node: &Yaml, key: &str) -> Option<String> {
    match get(node, key)? {
        Yaml::Integer(ns) => Some(format!("{ns}ns")),
        other => Some(scalar(other)).filter(|s| !s.is_empty()),
    }
}

/// A YAML value as the TOML value of the same shape and type (lists and maps included).
pub(crate) fn to_toml(v: &Yaml) -> toml::Value {
    use toml::Value;
    match v {
        Yaml::Integer(i) => Value::Integer(*i),
        Yaml::Boolean(b) => Value::Boolean(*b),
        Yaml::Real(r) => r.parse().map_or(Value::String(r.clone()), Value::Float),
        Yaml::Array(a) => Value::Array(a.iter().map(to_toml).collect()),
        Yaml::Hash(h) => Value::Table(h.iter().map(|(k, v)| (scalar(k), to_toml(v))).collect()),
        other => Value::String(scalar(other)),
    }
}

/// A mapping with every value as a string (headers); `None` for anything else.
pub(crate) fn string_map(node: &Yaml) -> Option<toml::Table> {
    match node {
        Yaml::Hash(h) => Some(
            h.iter()
                .map(|(k, v)| (scalar(k), toml::Value::String(scalar(v))))
                .collect(),
        ),
        _ => None,
    }
}

/// `node` as YAML text, each line prefixed for a TOML comment, to keep what was not converted.
pub(crate) fn quote(key: &str, node: &Yaml) -> Vec<String> {
    let mut wrapper = yaml_rust2::yaml::Hash::new();
    wrapper.insert(Yaml::String(key.to_string()), node.clone());
    let mut text = String::new();
    let mut emitter = YamlEmitter::new(&mut text);
    if emitter.dump(&Yaml::Hash(wrapper)).is_err() {
        return vec![format!("#   {key}: (not representable)")];
    }
    text.lines()
        .filter(|l| *l != "---")
        .map(|l| format!("#   {l}"))
        .collect()
}
