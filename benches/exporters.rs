//! Exporter plugins against the native path for the same data, each sending one batch per
//! iteration to a local HTTP sink that answers 200 (so the numbers are the exporter's cost, not
//! a backend's):
//! - `builtin:otlp-http` (protobuf, gzip) on 1,000 spans, beside the native equivalent: encode
//!   the batch, gzip it and POST it with reqwest, as Weir's native `otlp-http` exporter does;
//! - `builtin:prometheus-remote-write` on 1,000 gauge data points (convert, encode, snappy,
//!   POST);
//! - `builtin:clickhouse` and `builtin:elasticsearch` on the 1,000 spans (rows / bulk NDJSON).
//!
//! With `WEIR_BENCH_PROMETHEUS=http://…:9090` (remote-write receiver on) and
//! `WEIR_BENCH_CLICKHOUSE=http://…:8123`, the same plugins also run against those real servers.
//!
//! `cargo bench -p weir-benches --bench exporters`; items per second = 1,000 / reported time.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap is the benchmark's failure report"
)]
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::io::Write;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use prost::Message;
use weir_core::Batch;
use weir_tests::fixtures::{kv, traces};
use weir_wasm::{AllowList, EngineSettings, ExporterPlugin, PluginSettings, WasmEngine};

/// The allocator the `weir` binary uses, so host-side costs match the gateway's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ITEMS: usize = 1000;

/// 1,000 gauge points over 100 label sets of one metric.
fn metrics() -> Batch {
    let points = (0..ITEMS)
        .map(|i| NumberDataPoint {
            attributes: vec![kv("route", &format!("/r{}", i % 100)), kv("host", "h1")],
            time_unix_nano: 1_700_000_000_000_000_000 + (i as u64 / 100) * 1_000_000_000,
            value: Some(number_data_point::Value::AsDouble(i as f64)),
            ..Default::default()
        })
        .collect();
    Batch::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(opentelemetry_proto::tonic::resource::v1::Resource {
                attributes: vec![kv("service.name", "bench")] as Vec<KeyValue>,
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "queue.depth".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: points,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

/// Moves every point of a metrics batch to now, `round` milliseconds apart from other rounds.
fn shift(batch: &mut Batch, round: u64) {
    let Batch::Metrics(r) = batch else { return };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let metrics = r
        .resource_metrics
        .iter_mut()
        .flat_map(|r| &mut r.scope_metrics)
        .flat_map(|s| &mut s.metrics);
    for m in metrics {
        if let Some(metric::Data::Gauge(g)) = &mut m.data {
            for p in &mut g.data_points {
                p.time_unix_nano = now + round * 1_000_000;
            }
        }
    }
}

/// A sink on 127.0.0.1 that answers 200 to every POST; its address.
fn sink(rt: &tokio::runtime::Runtime) -> std::net::SocketAddr {
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // `{"errors":false}` is also a complete bulk response for the elasticsearch plugin.
        let app =
            axum::Router::new().fallback(|_: axum::body::Bytes| async { r#"{"errors":false}"# });
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    })
}

fn plugin(engine: &WasmEngine, name: &str, config: String, host: String) -> ExporterPlugin {
    let wasm = weir_builtins::exporter(name).unwrap();
    let settings = PluginSettings {
        timeout: std::time::Duration::from_secs(10),
        ..Default::default()
    };
    ExporterPlugin::from_bytes(
        engine,
        name,
        name,
        wasm,
        config,
        settings,
        AllowList::new(name, [host]),
    )
    .unwrap()
}

fn exporters(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = sink(&rt);
    let engine = WasmEngine::new(&EngineSettings::default()).unwrap();
    let spans = traces(ITEMS, 10);
    let points = metrics();

    let mut g = c.benchmark_group("exporters");
    g.throughput(Throughput::Elements(ITEMS as u64));
    let otlp = plugin(
        &engine,
        "otlp-http",
        format!(r#"{{"endpoint":"http://{addr}"}}"#),
        addr.to_string(),
    );
    g.bench_function("otlp-http plugin, 1000 spans, protobuf+gzip", |b| {
        b.iter(|| {
            assert!(matches!(
                otlp.send(spans.clone()),
                weir_wasm::SendOutcome::Sent { .. }
            ))
        })
    });
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/v1/traces");
    g.bench_function("native otlp-http, 1000 spans, protobuf+gzip", |b| {
        b.iter(|| {
            let Batch::Traces(r) = &spans else {
                unreachable!()
            };
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&r.encode_to_vec()).unwrap();
            let body = gz.finish().unwrap();
            let status = rt.block_on(
                client
                    .post(&url)
                    .header("content-type", "application/x-protobuf")
                    .header("content-encoding", "gzip")
                    .body(body)
                    .send(),
            );
            assert!(status.unwrap().status().is_success());
        })
    });
    let prw = plugin(
        &engine,
        "prometheus-remote-write",
        format!(r#"{{"endpoint":"http://{addr}/api/v1/write"}}"#),
        addr.to_string(),
    );
    g.bench_function("prometheus-remote-write plugin, 1000 points", |b| {
        b.iter(|| {
            assert!(matches!(
                prw.send(points.clone()),
                weir_wasm::SendOutcome::Sent { .. }
            ))
        })
    });
    for (name, config) in [
        (
            "clickhouse",
            format!(r#"{{"endpoint":"http://{addr}","create_schema":false}}"#),
        ),
        (
            "elasticsearch",
            format!(r#"{{"endpoint":"http://{addr}"}}"#),
        ),
    ] {
        let p = plugin(&engine, name, config, addr.to_string());
        g.bench_function(format!("{name} plugin, 1000 spans"), |b| {
            b.iter(|| {
                assert!(matches!(
                    p.send(spans.clone()),
                    weir_wasm::SendOutcome::Sent { .. }
                ))
            })
        });
    }
    // Against real servers, when given.
    let host = |url: &str| {
        url.split("://")
            .nth(1)
            .unwrap_or(url)
            .trim_end_matches('/')
            .to_string()
    };
    if let Ok(url) = std::env::var("WEIR_BENCH_PROMETHEUS") {
        let p = plugin(
            &engine,
            "prometheus-remote-write",
            format!(r#"{{"endpoint":"{url}/api/v1/write"}}"#),
            host(&url),
        );
        // Each iteration writes newer samples (Prometheus refuses out-of-order ones).
        let mut round = 0u64;
        g.bench_function(
            "prometheus-remote-write plugin, 1000 points, real Prometheus",
            |b| {
                b.iter(|| {
                    round += 1;
                    let mut batch = points.clone();
                    shift(&mut batch, round);
                    let outcome = p.send(batch);
                    assert!(
                        matches!(outcome, weir_wasm::SendOutcome::Sent { .. }),
                        "{outcome:?}"
                    );
                })
            },
        );
    }
    if let Ok(url) = std::env::var("WEIR_BENCH_CLICKHOUSE") {
        let p = plugin(
            &engine,
            "clickhouse",
            format!(r#"{{"endpoint":"{url}"}}"#),
            host(&url),
        );
        g.bench_function("clickhouse plugin, 1000 spans, real ClickHouse", |b| {
            b.iter(|| {
                assert!(matches!(
                    p.send(spans.clone()),
                    weir_wasm::SendOutcome::Sent { .. }
                ))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, exporters);
criterion_main!(benches);
