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
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use weir_tests::{Gateway, eventually};

fn request(i: u8) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: (0..=i)
                    .map(|j| LogRecord {
                        time_unix_nano: 1_700_000_000_000_000_000 + u64::from(j),
                        trace_id: vec![i + 1; 16],
                        span_id: vec![j + 1; 8],
                        severity_number: 9,
                        body: Some(AnyValue {
                            value: Some(Value::StringValue(format!("line {i}.{j}"))),
                        }),
                        attributes: vec![KeyValue {
                            key: "big".into(),
                            value: Some(AnyValue {
                                value: Some(Value::IntValue(i64::MAX - i64::from(j))),
                            }),
                            ..Default::default()
                        }],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
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
    let rec = &first["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
    assert_eq!(rec["traceId"], "01010101010101010101010101010101");
    assert_eq!(
        rec["attributes"][0]["value"]["intValue"],
        i64::MAX.to_string()
    );

    let printed = eventually(Duration::from_secs(30), || async {
        gw.stdout.lock().unwrap().len() >= 3
    })
    .await;
    assert!(printed);
    assert_eq!(
        gw.stdout.lock().unwrap().clone(),
        [
            "console: logs: 1 resource, 1 log record",
            "console: logs: 1 resource, 2 log records",
            "console: logs: 1 resource, 3 log records"
        ]
    );
}
