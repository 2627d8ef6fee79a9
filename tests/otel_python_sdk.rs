//! The real OpenTelemetry Python SDK sends traces, metrics and logs to Weir over OTLP/gRPC and
//! OTLP/HTTP; Weir exports them over OTLP/gRPC and OTLP/HTTP to a recording backend. Every span,
//! data point and log record must arrive exactly once per exporter, with ids, attributes,
//! resource and scope intact.

#![allow(
    clippy::unwrap_used,
    reason = "in tests and the load harness a failed unwrap is the failure report"
)]

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use serde_json::Value as Json;
use weir_core::Batch;
use weir_tests::fixtures::hex;
use weir_tests::{Backend, Gateway, Transport, eventually, python};

fn attrs(kvs: &[KeyValue]) -> HashMap<String, Option<Value>> {
    kvs.iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().and_then(|v| v.value.clone()),
            )
        })
        .collect()
}

/// The expected attribute value as the SDK would encode it.
fn expected(v: &Json) -> Value {
    match v {
        Json::Bool(b) => Value::BoolValue(*b),
        Json::Number(n) if n.is_i64() => Value::IntValue(n.as_i64().unwrap()),
        Json::Number(n) => Value::DoubleValue(n.as_f64().unwrap()),
        Json::String(s) => Value::StringValue(s.clone()),
        Json::Array(items) => {
            Value::ArrayValue(opentelemetry_proto::tonic::common::v1::ArrayValue {
                values: items
                    .iter()
                    .map(|i| AnyValue {
                        value: Some(expected(i)),
                    })
                    .collect(),
            })
        }
        other => panic!("unexpected attribute {other}"),
    }
}

fn run_id(resource: Option<&opentelemetry_proto::tonic::resource::v1::Resource>) -> String {
    let a = attrs(&resource.expect("resource kept").attributes);
    assert_eq!(
        a["service.name"],
        Some(Value::StringValue("weir-e2e".into()))
    );
    match &a["run.id"] {
        Some(Value::StringValue(s)) => s.clone(),
        other => panic!("run.id lost: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_item_arrives_once_with_everything_intact() {
    let backend = Backend::start().await;
    let config = format!(
        r#"
[receivers.otlp]
grpc = "127.0.0.1:0"
http = "127.0.0.1:0"

[exporters.to_grpc]
type = "otlp-grpc"
endpoint = "{}"

[exporters.to_http]
type = "otlp-http"
endpoint = "{}"
compression = "zstd"

[pipelines.traces]
receivers = ["otlp"]
exporters = ["to_grpc", "to_http"]
batch = {{ send_batch_size = 50, timeout = "50ms" }}

[pipelines.metrics]
receivers = ["otlp"]
exporters = ["to_grpc", "to_http"]

[pipelines.logs]
receivers = ["otlp"]
exporters = ["to_grpc", "to_http"]
"#,
        backend.grpc_url(),
        backend.http_url()
    );
    let gw = Gateway::start(&config).await;

    let mut runs = HashMap::new();
    for (run, protocol, endpoint) in [
        ("via-grpc", "grpc", gw.url("otlp", "grpc")),
        ("via-http", "http", gw.url("otlp", "http")),
    ] {
        let out = python::emit(protocol, &endpoint, run).await;
        runs.insert(run.to_string(), out);
    }

    let want: usize = runs.values().map(python::emitted_items).sum();
    let all_there = eventually(Duration::from_secs(60), || {
        let b = &backend;
        async move {
            [Transport::Grpc, Transport::Http]
                .iter()
                .all(|t| b.delivered_items(*t) >= want)
        }
    })
    .await;
    assert!(
        all_there,
        "not everything arrived; gateway logs:\n{}",
        gw.log_text()
    );

    for transport in [Transport::Grpc, Transport::Http] {
        let batches = backend.delivered(transport);
        let items: usize = batches.iter().map(Batch::item_count).sum();
        assert_eq!(items, want, "{transport:?}: duplicates or extras arrived");
        check_spans(&batches, &runs, transport);
        check_metrics(&batches, transport);
        check_logs(&batches, &runs, transport);
    }
}

fn check_spans(batches: &[Batch], runs: &HashMap<String, Json>, t: Transport) {
    let mut got = HashMap::new();
    for b in batches {
        let Batch::Traces(r) = b else { continue };
        for rs in &r.resource_spans {
            let run = run_id(rs.resource.as_ref());
            for ss in &rs.scope_spans {
                let scope = ss.scope.as_ref().expect("scope kept");
                assert_eq!(
                    (scope.name.as_str(), scope.version.as_str()),
                    ("weir.e2e.tracer", "1.2.3")
                );
                for s in &ss.spans {
                    let prev = got.insert((run.clone(), hex(&s.span_id)), s.clone());
                    assert!(
                        prev.is_none(),
                        "{t:?}: span {} arrived twice",
                        hex(&s.span_id)
                    );
                }
            }
        }
    }
    for (run, out) in runs {
        for want in out["spans"].as_array().unwrap() {
            let id = want["span_id"].as_str().unwrap().to_string();
            let s = got
                .get(&(run.clone(), id.clone()))
                .unwrap_or_else(|| panic!("{t:?}: span {id} of {run} missing"));
            assert_eq!(hex(&s.trace_id), want["trace_id"].as_str().unwrap());
            assert_eq!(s.name, want["name"].as_str().unwrap());
            assert_eq!(s.events.len() as u64, want["events"].as_u64().unwrap());
            assert_eq!(s.links.len() as u64, want["links"].as_u64().unwrap());
            let a = attrs(&s.attributes);
            for (k, v) in want["attributes"].as_object().unwrap() {
                assert_eq!(
                    a.get(k),
                    Some(&Some(expected(v))),
                    "{t:?}: span {id} attribute {k}"
                );
            }
        }
    }
}

fn check_metrics(batches: &[Batch], t: Transport) {
    let mut points: HashMap<(String, String), usize> = HashMap::new();
    for b in batches {
        let Batch::Metrics(r) = b else { continue };
        for rm in &r.resource_metrics {
            let run = run_id(rm.resource.as_ref());
            for sm in &rm.scope_metrics {
                assert_eq!(
                    sm.scope.as_ref().map(|s| s.name.as_str()),
                    Some("weir.e2e.meter")
                );
                for m in &sm.metrics {
                    let n = match &m.data {
                        Some(Data::Sum(s)) => {
                            for p in &s.data_points {
                                assert_eq!(p.value, Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(3)));
                            }
                            s.data_points.len()
                        }
                        Some(Data::Histogram(h)) => {
                            assert!(
                                h.data_points
                                    .iter()
                                    .all(|p| p.count == 1 && p.sum == Some(12.5))
                            );
                            h.data_points.len()
                        }
                        other => panic!("{t:?}: unexpected metric data {other:?}"),
                    };
                    *points.entry((run.clone(), m.name.clone())).or_default() += n;
                }
            }
        }
    }
    for run in ["via-grpc", "via-http"] {
        for name in ["e2e.requests", "e2e.latency"] {
            assert_eq!(
                points.get(&(run.to_string(), name.to_string())),
                Some(&3),
                "{t:?}: {run} {name}"
            );
        }
    }
}

fn check_logs(batches: &[Batch], runs: &HashMap<String, Json>, t: Transport) {
    let mut got: HashMap<(String, String), usize> = HashMap::new();
    for b in batches {
        let Batch::Logs(r) = b else { continue };
        for rl in &r.resource_logs {
            let run = run_id(rl.resource.as_ref());
            let want_trace = runs[&run]["log_trace_id"].as_str().unwrap();
            for sl in &rl.scope_logs {
                assert_eq!(
                    sl.scope.as_ref().map(|s| s.name.as_str()),
                    Some("weir.e2e.logger")
                );
                for l in &sl.log_records {
                    let Some(Value::StringValue(body)) =
                        l.body.as_ref().and_then(|b| b.value.clone())
                    else {
                        panic!("{t:?}: log body lost");
                    };
                    assert_eq!(hex(&l.trace_id), want_trace, "{t:?}: log trace id");
                    assert_eq!(l.severity_text, "WARN");
                    assert!(
                        attrs(&l.attributes).contains_key("log.i"),
                        "{t:?}: log attribute lost"
                    );
                    *got.entry((run.clone(), body)).or_default() += 1;
                }
            }
        }
    }
    for (run, out) in runs {
        for body in out["logs"].as_array().unwrap() {
            let key = (run.clone(), body.as_str().unwrap().to_string());
            assert_eq!(got.get(&key), Some(&1), "{t:?}: log {key:?}");
        }
    }
}
