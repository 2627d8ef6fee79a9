//! The `file` exporter writes one OTLP JSON export request per line, and reading the lines back
//! gives exactly the requests that were sent; the debug exporter prints one summary line per
//! batch on stdout.

#![allow(
    clippy::unwrap_used,
    reason = "in tests a failed unwrap is the failure report"
)]

use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use weir_tests::{Gateway, eventually};

/// Request `i`: `i + 1` realistic log records (structured bodies, doubles, trace ids …), each
/// also carrying an integer near `i64::MAX` (OTLP/JSON writes 64-bit integers as strings).
fn request(i: u8) -> ExportLogsServiceRequest {
    let mut r = weir_synth::Generator::new(u64::from(i)).logs(usize::from(i) + 1);
    let records = r
        .resource_logs
        .iter_mut()
        .flat_map(|rl| &mut rl.scope_logs)
        .flat_map(|sl| &mut sl.log_records);
    for (j, record) in (0i64..).zip(records) {
        record.attributes.push(KeyValue {
            key: "big".into(),
            value: Some(AnyValue {
                value: Some(Value::IntValue(i64::MAX - j)),
            }),
            ..Default::default()
        });
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_lines_read_back_as_the_requests_sent_and_debug_prints_summaries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs.jsonl");
    let gw = Gateway::start(&format!(
        r#"
[receivers.otlp]
grpc = "127.0.0.1:0"

[exporters.recording]
type = "file"
path = "{}"

[exporters.console]
type = "debug"

[pipelines.logs]
receivers = ["otlp"]
exporters = ["recording", "console"]
batch = {{ send_batch_size = 0 }}
"#,
        path.display()
    ))
    .await;
    let mut client = LogsServiceClient::connect(gw.url("otlp", "grpc"))
        .await
        .unwrap();
    let sent: Vec<_> = (0..3).map(request).collect();
    for r in &sent {
        client.export(r.clone()).await.unwrap();
    }
    let written = eventually(Duration::from_secs(30), || {
        let p = path.clone();
        async move { std::fs::read_to_string(p).is_ok_and(|t| t.lines().count() == 3) }
    })
    .await;
    assert!(
        written,
        "three lines expected in {}:\n{}",
        path.display(),
        gw.log_text()
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let back: Vec<ExportLogsServiceRequest> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        back, sent,
        "the JSON lines decode to exactly the requests sent"
    );
    // OTLP/JSON: hex ids and 64-bit integers as strings.
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let record = &sent[0].resource_logs[0].scope_logs[0].log_records[0];
    let rec = &first["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
    let hex = weir_tests::fixtures::hex(&record.trace_id);
    if hex.is_empty() {
        assert!(rec.get("traceId").is_none_or(|t| t == ""), "{rec}");
    } else {
        assert_eq!(rec["traceId"], hex.as_str());
    }
    let big = rec["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "big")
        .unwrap();
    assert_eq!(big["value"]["intValue"], i64::MAX.to_string());

    let printed = eventually(Duration::from_secs(30), || async {
        gw.stdout.lock().unwrap().len() >= 3
    })
    .await;
    assert!(printed);
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let summaries: Vec<String> = sent
        .iter()
        .map(|r| {
            let records = r
                .resource_logs
                .iter()
                .flat_map(|rl| &rl.scope_logs)
                .map(|sl| sl.log_records.len())
                .sum();
            format!(
                "console: logs: {}, {}",
                plural(r.resource_logs.len(), "resource"),
                plural(records, "log record")
            )
        })
        .collect();
    assert_eq!(gw.stdout.lock().unwrap().clone(), summaries);
}
