//! `builtin:redact` leaks nothing: secrets planted by the OpenTelemetry Python SDK in every place
//! OTLP data can hide (resource, scope, span name, span/event/link attributes, status message,
//! log bodies as string, map and array, log event names, metric data points) never reach the
//! exporter, while look-alikes that are not secrets (16-digit order ids failing the Luhn check)
//! do. Keyed hashing gives the same output across restarts and across instances.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
use std::path::Path;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use weir_tests::fixtures::kv;
use weir_tests::{Gateway, eventually, python};

/// Counts (spans, log records, metric data point lines) in a file exporter's output.
fn written(path: &Path) -> (usize, usize, usize) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let (mut spans, mut logs, mut metrics) = (0, 0, 0);
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let count = |outer: &str, mid: &str, inner: &str| -> usize {
            v[outer].as_array().map_or(0, |rs| {
                rs.iter()
                    .flat_map(|r| r[mid].as_array().cloned().unwrap_or_default())
                    .map(|s| s[inner].as_array().map_or(0, Vec::len))
                    .sum()
            })
        };
        spans += count("resourceSpans", "scopeSpans", "spans");
        logs += count("resourceLogs", "scopeLogs", "logRecords");
        metrics += count("resourceMetrics", "scopeMetrics", "metrics");
    }
    (spans, logs, metrics)
}

fn config(out: &Path, redact: &str) -> String {
    format!(
        r#"
[receivers.otlp]
grpc = "127.0.0.1:0"
http = "127.0.0.1:0"

[processors.scrub]
plugin = "builtin:redact"
on_error = "refuse"
config = {redact}

[exporters.out]
type = "file"
path = "{}"

[pipelines.traces]
receivers = ["otlp"]
processors = ["scrub"]
exporters = ["out"]
batch = {{ timeout = "50ms" }}

[pipelines.metrics]
receivers = ["otlp"]
processors = ["scrub"]
exporters = ["out"]
batch = {{ timeout = "50ms" }}

[pipelines.logs]
receivers = ["otlp"]
processors = ["scrub"]
exporters = ["out"]
batch = {{ timeout = "50ms" }}
"#,
        out.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_planted_secret_reaches_the_exporter() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let every_detector = r#"{ detectors = ["credit-card", "email", "ipv4", "ipv6", "jwt", "bearer-token", "aws-access-key", "us-ssn"] }"#;
    let gw = Gateway::start(&config(&out, every_detector)).await;
    let endpoint = gw.url("otlp", "grpc");
    let sent = python::run_json(
        "leak_corpus.py",
        &["--protocol", "grpc", "--endpoint", &endpoint],
    )
    .await;
    assert_eq!(sent["ok"], true, "the SDK reported a failed flush: {sent}");
    let spans = usize::try_from(sent["spans"].as_u64().unwrap()).unwrap();
    let logs = usize::try_from(sent["logs"].as_u64().unwrap()).unwrap();
    let arrived = eventually(Duration::from_secs(30), || async {
        let (s, l, m) = written(&out);
        s == spans && l == logs && m >= 1
    })
    .await;
    assert!(arrived, "not everything arrived: {:?}", written(&out));

    let text = std::fs::read_to_string(&out).unwrap();
    for secret in sent["secrets"].as_array().unwrap() {
        let secret = secret.as_str().unwrap();
        let digits: String = secret.chars().filter(char::is_ascii_digit).collect();
        assert!(!text.contains(secret), "{secret:?} leaked:\n{text}");
        if digits.len() >= 13 && !secret.contains(':') && !secret.contains('.') {
            assert!(
                !text.contains(&digits),
                "{secret:?} leaked as {digits}:\n{text}"
            );
        }
    }
    for decoy in sent["decoys"].as_array().unwrap() {
        let decoy = decoy.as_str().unwrap();
        assert!(
            text.contains(decoy),
            "{decoy:?} should not have been redacted:\n{text}"
        );
    }
    assert!(
        text.contains("billing-service-python"),
        "ordinary data survives"
    );

    // Counted per key, never with the value.
    let metrics = gw.metrics().await;
    let redactions = |label: &str| {
        weir_tests::gateway::expect_sample(
            &metrics,
            "weir_plugin_counter_total",
            &[
                ("processor", "scrub"),
                ("counter", "redactions"),
                ("label", label),
            ],
        )
    };
    assert_eq!(redactions("enduser.email"), 1.0, "{metrics}");
    assert_eq!(redactions("payment.card_int"), 1.0, "{metrics}");
    assert!(redactions("span.name") >= 2.0, "{metrics}");
    assert!(redactions("log.body") >= 5.0, "{metrics}");
    assert!(!metrics.contains("example.com"), "a value reached /metrics");
}

/// One span with a card number and an email, as protobuf.
fn span_request() -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![7; 16],
                    span_id: vec![8; 8],
                    name: "charge".into(),
                    attributes: vec![
                        kv("card", "4111 1111 1111 1111"),
                        kv("email", "ada@example.com"),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// Runs a gateway hashing with `key`, sends the span, and returns the (card, email) it wrote.
async fn hashed(dir: &Path, run: &str, key: &str) -> (String, String) {
    let out = dir.join(format!("{run}.jsonl"));
    let redact = format!(r#"{{ action = "hash", hash_key = "{key}" }}"#);
    let gw = Gateway::start(&config(&out, &redact)).await;
    let response = gw.post_otlp("traces", span_request()).await.unwrap();
    assert!(response.status().is_success(), "{response:?}");
    assert!(
        eventually(Duration::from_secs(30), || async { written(&out).0 == 1 }).await,
        "the span did not arrive"
    );
    let v: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let attrs = &v["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"];
    let get = |k: &str| {
        attrs
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == k)
            .map(|a| a["value"]["stringValue"].as_str().unwrap().to_string())
            .unwrap()
    };
    (get("card"), get("email"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_hashes_are_stable_across_restarts_and_instances() {
    let dir = tempfile::tempdir().unwrap();
    let key = "a-key-of-at-least-16-bytes";
    let (first, second, other_key) = tokio::join!(
        hashed(dir.path(), "first", key),
        hashed(dir.path(), "second-instance", key),
        hashed(dir.path(), "other-key", "another-key-of-16-bytes"),
    );
    let restarted = hashed(dir.path(), "restarted", key).await;
    assert!(
        first.0.starts_with("hmac:") && first.1.starts_with("hmac:"),
        "{first:?}"
    );
    assert_ne!(first.0, first.1);
    assert_eq!(first, second, "two instances with one key agree");
    assert_eq!(first, restarted, "a restart does not change the hashes");
    assert_ne!(first.0, other_key.0, "the hash is keyed");
}
