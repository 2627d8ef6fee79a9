//! OTLP/JSON logs and spans as Elasticsearch documents, each with the index it goes to.

use serde_json::{Map, Value, json};
use weir_plugin::otlp_json::{any_value, attributes, u64_of};

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's civil_from_days).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `2024-05-01T12:30:00.123Z` for nanoseconds since the epoch.
pub(crate) fn timestamp(nanos: u64) -> String {
    let secs = (nanos / 1_000_000_000) as i64;
    let (y, m, d) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60,
        nanos % 1_000_000_000 / 1_000_000
    )
}

/// Fills an index template: `{yyyy.MM.dd}`, `{yyyy-MM-dd}`, `{yyyy.MM}` and `{<resource
/// attribute>}` (e.g. `{service.name}`; missing ones become `unknown`). The result is made a
/// valid index name: lower case, with `\ / * ? " < > | , # :` and spaces as `-`.
pub(crate) fn index(template: &str, nanos: u64, resource: &Map<String, Value>) -> String {
    let (y, m, d) = civil(((nanos / 1_000_000_000) as i64).div_euclid(86_400));
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let key = &rest[open + 1..open + close];
        let value = match key {
            "yyyy.MM.dd" => format!("{y:04}.{m:02}.{d:02}"),
            "yyyy-MM-dd" => format!("{y:04}-{m:02}-{d:02}"),
            "yyyy.MM" => format!("{y:04}.{m:02}"),
            attr => match resource.get(attr) {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => "unknown".into(),
            },
        };
        out.push_str(&value);
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out.chars()
        .map(|c| match c {
            '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ',' | '#' | ':' | ' ' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect::<String>()
        .trim_start_matches(['-', '_', '+'])
        .to_string()
}

fn text(v: &Value) -> Value {
    match v.as_str() {
        Some(s) if !s.is_empty() => Value::String(s.to_string()),
        _ => Value::Null,
    }
}

/// Drops null fields, so documents carry only what the item has.
fn compact(mut doc: Value) -> Value {
    if let Some(o) = doc.as_object_mut() {
        o.retain(|_, v| !v.is_null());
    }
    doc
}

const KINDS: [&str; 6] = [
    "unspecified",
    "internal",
    "server",
    "client",
    "producer",
    "consumer",
];
const CODES: [&str; 3] = ["unset", "ok", "error"];

/// Every log record of an OTLP/JSON logs request: (index, document).
pub(crate) fn logs(req: &Value, template: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let empty = Vec::new();
    for rl in req["resourceLogs"].as_array().unwrap_or(&empty) {
        let resource = attributes(&rl["resource"]["attributes"]);
        for sl in rl["scopeLogs"].as_array().unwrap_or(&empty) {
            for r in sl["logRecords"].as_array().unwrap_or(&empty) {
                let mut t = u64_of(&r["timeUnixNano"]);
                if t == 0 {
                    t = u64_of(&r["observedTimeUnixNano"]);
                }
                let doc = json!({
                    "@timestamp": timestamp(t),
                    "message": any_value(&r["body"]),
                    "log.level": text(&r["severityText"]),
                    "severity_number": u64_of(&r["severityNumber"]),
                    "trace.id": text(&r["traceId"]),
                    "span.id": text(&r["spanId"]),
                    "service.name": resource.get("service.name").cloned(),
                    "scope.name": text(&sl["scope"]["name"]),
                    "resource": Value::Object(resource.clone()),
                    "attributes": Value::Object(attributes(&r["attributes"])),
                });
                out.push((index(template, t, &resource), compact(doc)));
            }
        }
    }
    out
}

/// Every span of an OTLP/JSON traces request: (index, document).
pub(crate) fn spans(req: &Value, template: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let empty = Vec::new();
    for rs in req["resourceSpans"].as_array().unwrap_or(&empty) {
        let resource = attributes(&rs["resource"]["attributes"]);
        for ss in rs["scopeSpans"].as_array().unwrap_or(&empty) {
            for s in ss["spans"].as_array().unwrap_or(&empty) {
                let (start, end) = (
                    u64_of(&s["startTimeUnixNano"]),
                    u64_of(&s["endTimeUnixNano"]),
                );
                let kind = usize::try_from(u64_of(&s["kind"])).unwrap_or(0);
                let code = usize::try_from(u64_of(&s["status"]["code"])).unwrap_or(0);
                let doc = json!({
                    "@timestamp": timestamp(start),
                    "name": text(&s["name"]),
                    "kind": KINDS.get(kind).copied().unwrap_or("unspecified"),
                    "trace.id": text(&s["traceId"]),
                    "span.id": text(&s["spanId"]),
                    "parent.id": text(&s["parentSpanId"]),
                    "duration_ns": end.saturating_sub(start),
                    "status.code": CODES.get(code).copied().unwrap_or("unset"),
                    "status.message": text(&s["status"]["message"]),
                    "service.name": resource.get("service.name").cloned(),
                    "scope.name": text(&ss["scope"]["name"]),
                    "resource": Value::Object(resource.clone()),
                    "attributes": Value::Object(attributes(&s["attributes"])),
                });
                out.push((index(template, start, &resource), compact(doc)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_index_names() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            timestamp(1_700_000_000_123_456_789),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(
            timestamp(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000Z"
        );
        let mut r = Map::new();
        r.insert("service.name".into(), Value::String("Check Out".into()));
        assert_eq!(
            index(
                "logs-{service.name}-{yyyy.MM.dd}",
                1_700_000_000_000_000_000,
                &r
            ),
            "logs-check-out-2023.11.14"
        );
        assert_eq!(index("{team}-x", 0, &r), "unknown-x");
        assert_eq!(index("_weird:name", 0, &r), "weird-name");
    }
}
