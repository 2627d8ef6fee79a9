//! Traces and logs from the real OpenTelemetry Python SDK go through Weir's
//! `builtin:clickhouse` exporter plugin into a real ClickHouse (Debian's `clickhouse-server`):
//! the tables are created, and every span and log record is a row with its ids, times, status,
//! service and attributes.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::collections::BTreeSet;
use std::time::Duration;

use weir_tests::clickhouse::ClickHouse;
use weir_tests::{Gateway, eventually, python};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_traces_and_logs_become_rows() {
    let ch = ClickHouse::start().await;
    let gw = Gateway::start(&format!(
        r#"
[receivers.otlp]
http = "127.0.0.1:0"

[exporters.clickhouse]
type = "plugin"
plugin = "builtin:clickhouse"
config = {{ endpoint = "{}" }}

[exporters.rest]
type = "debug"

[pipelines.traces]
receivers = ["otlp"]
exporters = ["clickhouse"]

[pipelines.logs]
receivers = ["otlp"]
exporters = ["clickhouse"]

[pipelines.metrics]
receivers = ["otlp"]
exporters = ["rest"]
"#,
        ch.url
    ))
    .await;
    let out = python::emit("http", &gw.url("otlp", "http"), "ch-1").await;
    let run = "visitParamExtractString(ResourceAttributes, 'run.id') = 'ch-1'";
    let count = |table: &str| format!("SELECT count() FROM default.{table} WHERE {run}");
    // The tables appear with the first rows (the exporter creates them).
    let all = eventually(Duration::from_secs(30), || async {
        ch.count(&count("otel_traces")).await == Some(21)
            && ch.count(&count("otel_logs")).await == Some(10)
    });
    assert!(all.await, "{}\n{}", gw.log_text(), ch.log());

    // Every span the SDK reported, by id, with its service and name.
    let rows = ch
        .rows(&format!("SELECT SpanId, SpanName, ServiceName, StatusCode, StatusMessage, DurationNanos FROM default.otel_traces WHERE {run}"))
        .await;
    let ids: BTreeSet<String> = rows
        .iter()
        .map(|r| r["SpanId"].as_str().unwrap().to_string())
        .collect();
    let sent: BTreeSet<String> = out["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["span_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, sent);
    assert!(rows.iter().all(|r| r["ServiceName"] == "weir-e2e"));
    let errors = rows
        .iter()
        .filter(|r| r["StatusCode"] == "ERROR" && r["StatusMessage"] == "boom")
        .count();
    assert_eq!(errors, 4, "child-0, 5, 10 and 15 set an error");
    // Attributes are JSON: the int attribute `i` of child-7 is 7.
    let seven = ch
        .rows(&format!("SELECT visitParamExtractInt(SpanAttributes, 'i') AS i FROM default.otel_traces WHERE {run} AND SpanName = 'child-7'"))
        .await;
    assert_eq!(seven[0]["i"], "7");

    // Log records: body, severity and the trace they were written in.
    let logs = ch
        .rows(&format!("SELECT Body, SeverityNumber, TraceId FROM default.otel_logs WHERE {run} ORDER BY TimestampNanos"))
        .await;
    let bodies: Vec<&str> = logs.iter().map(|r| r["Body"].as_str().unwrap()).collect();
    let want: Vec<String> = (0..10).map(|i| format!("log line {i}")).collect();
    assert_eq!(bodies, want);
    assert!(
        logs.iter()
            .all(|r| r["SeverityNumber"] == 13 && r["TraceId"] == out["log_trace_id"]),
        "{logs:?}"
    );
}
