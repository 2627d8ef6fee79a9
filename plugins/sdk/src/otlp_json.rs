//! Reading OTLP/JSON ([`crate::Batch::otlp_json`]) with `serde_json`: the encodings OTLP/JSON
//! uses for 64-bit integers (strings) and attribute values (`{"stringValue": …}` …), turned into
//! plain JSON, as exporters that write JSON documents or rows need them.

use serde_json::{Map, Value};

/// An unsigned OTLP/JSON number, written as a number or (64-bit integers) a string; 0 if
/// missing.
pub fn u64_of(v: &Value) -> u64 {
    match v {
        Value::Number(n) => n.as_u64().unwrap_or(0),
        Value::String(s) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

/// An `AnyValue` as plain JSON: strings, booleans, numbers (ints as numbers), arrays and maps as
/// themselves, bytes as their base64 text; `null` if empty.
pub fn any_value(v: &Value) -> Value {
    let Some(o) = v.as_object() else {
        return Value::Null;
    };
    for key in ["stringValue", "boolValue", "doubleValue", "bytesValue"] {
        if let Some(x) = o.get(key) {
            return x.clone();
        }
    }
    if let Some(i) = o.get("intValue") {
        return match i {
            Value::String(s) => s.parse::<i64>().map_or_else(|_| i.clone(), Value::from),
            other => other.clone(),
        };
    }
    if let Some(a) = o.get("arrayValue") {
        return Value::Array(
            a["values"]
                .as_array()
                .map(|v| v.iter().map(any_value).collect())
                .unwrap_or_default(),
        );
    }
    if let Some(m) = o.get("kvlistValue") {
        return Value::Object(attributes(&m["values"]));
    }
    Value::Null
}

/// An attribute list (`[{"key": …, "value": AnyValue}]`) as a JSON object.
pub fn attributes(v: &Value) -> Map<String, Value> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|kv| Some((kv["key"].as_str()?.to_string(), any_value(&kv["value"]))))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_values_become_plain_json() {
        let v: Value = serde_json::from_str(
            r#"[{"key":"s","value":{"stringValue":"x"}},{"key":"i","value":{"intValue":"7"}},
                {"key":"a","value":{"arrayValue":{"values":[{"boolValue":true}]}}},
                {"key":"m","value":{"kvlistValue":{"values":[{"key":"k","value":{"doubleValue":0.5}}]}}}]"#,
        )
        .unwrap();
        assert_eq!(
            Value::Object(attributes(&v)).to_string(),
            r#"{"a":[true],"i":7,"m":{"k":0.5},"s":"x"}"#
        );
        assert_eq!(u64_of(&Value::String("12".into())), 12);
    }
}
