//! `builtin:elasticsearch` in a gateway against a stand-in for Elasticsearch's `_bulk` endpoint
//! (Elasticsearch is not installable on the test machines): the request is the documented
//! NDJSON with templated index names, and a recorded partial failure is handled per item: the
//! mapping error is dropped and counted as rejected, the item refused for load is sent again
//! alone, the rest counts as sent.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use prost::Message;
use serde_json::{Value, json};
use weir_core::otlp::collector::logs::v1::ExportLogsServiceRequest;
use weir_core::otlp::common::v1::AnyValue;
use weir_core::otlp::common::v1::any_value;
use weir_core::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use weir_core::otlp::resource::v1::Resource;
use weir_tests::fixtures::kv;
use weir_tests::{Gateway, eventually};

/// What the stand-in saw and what it answers: for each request, the statuses of its items
/// (missing: all 201).
#[derive(Default)]
struct Fake {
    bodies: Mutex<Vec<String>>,
    script: Mutex<VecDeque<Vec<u16>>>,
}

/// A bulk response with these item statuses, shaped like Elasticsearch 8's.
fn response(statuses: &[u16]) -> Value {
    let items: Vec<Value> = statuses
        .iter()
        .map(|&s| match s {
            201 => json!({"create": {"_index": "x", "_id": "a", "_version": 1, "result": "created", "status": 201}}),
            429 => json!({"create": {"_index": "x", "status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "rejected execution of coordinating operation"}}}),
            _ => json!({"create": {"_index": "x", "status": s, "error": {"type": "document_parsing_exception", "reason": "failed to parse field [severity_number]"}}}),
        })
        .collect();
    json!({"took": 5, "errors": statuses.iter().any(|&s| s != 201), "items": items})
}

async fn start(fake: Arc<Fake>) -> String {
    let app = Router::new().route(
        "/_bulk",
        post(move |body: String| {
            let fake = fake.clone();
            async move {
                let n = body.lines().count() / 2;
                fake.bodies.lock().unwrap().push(body);
                let statuses = fake
                    .script
                    .lock()
                    .unwrap()
                    .pop_front()
                    .unwrap_or_else(|| vec![201; n]);
                (
                    [("content-type", "application/json")],
                    response(&statuses).to_string(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn logs() -> Vec<u8> {
    let records = (0..3)
        .map(|i| LogRecord {
            time_unix_nano: 1_700_000_000_000_000_000 + i,
            severity_text: "WARN".into(),
            severity_number: 13,
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(format!("line {i}"))),
            }),
            attributes: vec![kv("n", &i.to_string())],
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "Shop")],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_bulk_failure_is_handled_item_by_item() {
    let fake = Arc::new(Fake::default());
    // The first request: created, a mapping error, refused for load; the retry: created.
    fake.script.lock().unwrap().push_back(vec![201, 400, 429]);
    let url = start(fake.clone()).await;
    let gw = Gateway::start(&format!(
        r#"
[receivers.otlp]
http = "127.0.0.1:0"

[exporters.es]
type = "plugin"
plugin = "builtin:elasticsearch"
config = {{ endpoint = "{url}" }}

[pipelines.logs]
receivers = ["otlp"]
exporters = ["es"]
"#
    ))
    .await;
    assert_eq!(gw.post_otlp("logs", logs()).await.unwrap().status(), 200);
    let counted = || async {
        gw.metric("weir_exporter_sent_items_total", &[("exporter", "es")])
            .await
            == 2.0
            && gw
                .metric(
                    "weir_exporter_dropped_items_total",
                    &[("exporter", "es"), ("reason", "rejected")],
                )
                .await
                == 1.0
    };
    assert!(
        eventually(Duration::from_secs(30), counted).await,
        "{}",
        gw.log_text()
    );

    let bodies = fake.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    // The documented format: action and document lines, each JSON, every line ended.
    let first: Vec<Value> = bodies[0]
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(bodies[0].ends_with('\n'));
    assert_eq!(first.len(), 6);
    for (i, pair) in first.chunks(2).enumerate() {
        assert_eq!(pair[0]["create"]["_index"], "logs-shop-2023.11.14");
        // An id derived from the content, so a document sent again is not indexed twice.
        assert_eq!(pair[0]["create"]["_id"].as_str().map(str::len), Some(32));
        let doc = &pair[1];
        assert_eq!(doc["message"], format!("line {i}"));
        assert_eq!(doc["@timestamp"], "2023-11-14T22:13:20.000Z");
        assert_eq!(doc["log.level"], "WARN");
        assert_eq!(doc["severity_number"], 13);
        assert_eq!(doc["service.name"], "Shop");
        assert_eq!(doc["attributes"]["n"], i.to_string());
    }
    // The retry carries only the item refused for load.
    let second: Vec<Value> = bodies[1]
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(second.len(), 2);
    assert_eq!(second[1]["message"], "line 2");
    assert!(gw.log_text().contains("document_parsing_exception"));
}
