//! The tables and their rows: OTLP/JSON spans and log records as `JSONEachRow` lines.

use serde_json::{Map, Value, json};
use weir_plugin::otlp_json::{any_value, attributes, u64_of};

/// `CREATE TABLE` of the traces table.
pub(crate) fn traces_schema(db: &str, table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {db}.{table} (\
         Timestamp DateTime, TimestampNanos UInt64, TraceId String, SpanId String, \
         ParentSpanId String, TraceState String, SpanName String, SpanKind String, \
         ServiceName String, ResourceAttributes String, ScopeName String, SpanAttributes String, \
         DurationNanos UInt64, StatusCode String, StatusMessage String, Events UInt32, Links UInt32\
         ) ENGINE = MergeTree() PARTITION BY toDate(Timestamp) \
         ORDER BY (ServiceName, SpanName, Timestamp)"
    )
}

/// `CREATE TABLE` of the logs table.
pub(crate) fn logs_schema(db: &str, table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {db}.{table} (\
         Timestamp DateTime, TimestampNanos UInt64, TraceId String, SpanId String, \
         SeverityText String, SeverityNumber Int32, ServiceName String, Body String, \
         ResourceAttributes String, ScopeName String, LogAttributes String\
         ) ENGINE = MergeTree() PARTITION BY toDate(Timestamp) \
         ORDER BY (ServiceName, Timestamp)"
    )
}

fn service(resource: &Map<String, Value>) -> String {
    resource
        .get("service.name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

const KINDS: [&str; 6] = [
    "UNSPECIFIED",
    "INTERNAL",
    "SERVER",
    "CLIENT",
    "PRODUCER",
    "CONSUMER",
];
const CODES: [&str; 3] = ["UNSET", "OK", "ERROR"];

/// One line per span.
pub(crate) fn spans(req: &Value) -> String {
    let mut out = String::new();
    let empty = Vec::new();
    for rs in req["resourceSpans"].as_array().unwrap_or(&empty) {
        let resource = attributes(&rs["resource"]["attributes"]);
        let (svc, res) = (service(&resource), Value::Object(resource).to_string());
        for ss in rs["scopeSpans"].as_array().unwrap_or(&empty) {
            let scope = text(&ss["scope"]["name"]);
            for s in ss["spans"].as_array().unwrap_or(&empty) {
                let start = u64_of(&s["startTimeUnixNano"]);
                let end = u64_of(&s["endTimeUnixNano"]);
                let kind = usize::try_from(u64_of(&s["kind"])).unwrap_or(0);
                let code = usize::try_from(u64_of(&s["status"]["code"])).unwrap_or(0);
                let row = json!({
                    "Timestamp": start / 1_000_000_000,
                    "TimestampNanos": start,
                    "TraceId": text(&s["traceId"]),
                    "SpanId": text(&s["spanId"]),
                    "ParentSpanId": text(&s["parentSpanId"]),
                    "TraceState": text(&s["traceState"]),
                    "SpanName": text(&s["name"]),
                    "SpanKind": KINDS.get(kind).copied().unwrap_or("UNSPECIFIED"),
                    "ServiceName": svc,
                    "ResourceAttributes": res,
                    "ScopeName": scope,
                    "SpanAttributes": Value::Object(attributes(&s["attributes"])).to_string(),
                    "DurationNanos": end.saturating_sub(start),
                    "StatusCode": CODES.get(code).copied().unwrap_or("UNSET"),
                    "StatusMessage": text(&s["status"]["message"]),
                    "Events": s["events"].as_array().map_or(0, Vec::len),
                    "Links": s["links"].as_array().map_or(0, Vec::len),
                });
                out.push_str(&row.to_string());
                out.push('\n');
            }
        }
    }
    out
}

/// One line per log record.
pub(crate) fn logs(req: &Value) -> String {
    let mut out = String::new();
    let empty = Vec::new();
    for rl in req["resourceLogs"].as_array().unwrap_or(&empty) {
        let resource = attributes(&rl["resource"]["attributes"]);
        let (svc, res) = (service(&resource), Value::Object(resource).to_string());
        for sl in rl["scopeLogs"].as_array().unwrap_or(&empty) {
            let scope = text(&sl["scope"]["name"]);
            for r in sl["logRecords"].as_array().unwrap_or(&empty) {
                let mut t = u64_of(&r["timeUnixNano"]);
                if t == 0 {
                    t = u64_of(&r["observedTimeUnixNano"]);
                }
                let body = match any_value(&r["body"]) {
                    Value::String(s) => s,
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                let row = json!({
                    "Timestamp": t / 1_000_000_000,
                    "TimestampNanos": t,
                    "TraceId": text(&r["traceId"]),
                    "SpanId": text(&r["spanId"]),
                    "SeverityText": text(&r["severityText"]),
                    "SeverityNumber": u64_of(&r["severityNumber"]),
                    "ServiceName": svc,
                    "Body": body,
                    "ResourceAttributes": res,
                    "ScopeName": scope,
                    "LogAttributes": Value::Object(attributes(&r["attributes"])).to_string(),
                });
                out.push_str(&row.to_string());
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_become_rows() {
        let req: Value = serde_json::from_str(r#"{"resourceSpans":[{"resource":{"attributes":[
            {"key":"service.name","value":{"stringValue":"shop"}}]},
          "scopeSpans":[{"scope":{"name":"s"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c",
            "spanId":"eee19b7ec3c1b174","name":"GET","kind":2,"startTimeUnixNano":"1700000000000000001",
            "endTimeUnixNano":"1700000000250000001","status":{"code":2,"message":"boom"},
            "attributes":[{"key":"n","value":{"intValue":"7"}},{"key":"t","value":{"arrayValue":{"values":[{"stringValue":"a"}]}}}]}]}]}]}"#).unwrap();
        let line = spans(&req);
        let row: Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(row["Timestamp"], 1_700_000_000);
        assert_eq!(row["DurationNanos"], 250_000_000);
        assert_eq!(row["SpanKind"], "SERVER");
        assert_eq!(row["StatusCode"], "ERROR");
        assert_eq!(row["ServiceName"], "shop");
        assert_eq!(row["SpanAttributes"], r#"{"n":7,"t":["a"]}"#);
    }
}
